# The adapter as a container: non-root, embedded SQLite under /data unless LUS_DATABASE_URL says otherwise.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    LUS_HOST=0.0.0.0 LUS_PORT=8080 LUS_DATABASE_URL=sqlite:////data/lus-adapter.db \
    LUS_PROFILES_DIR=/app/profiles LUS_MAPPINGS_DIR=/app/mappings LUS_CONFIG_DIR=/app/examples/config \
    LUS_EXAMPLES_DIR=/app/examples/bundles

WORKDIR /app
COPY pyproject.toml README.md ./
COPY adapter ./adapter
COPY profiles ./profiles
COPY mappings ./mappings
COPY examples ./examples
RUN pip install '.[postgres]' && useradd --system --uid 10001 --home /data lus && mkdir -p /data && chown lus /data

USER lus
EXPOSE 8080
VOLUME ["/data"]
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/ready', timeout=2).status == 200 else 1)"
CMD ["lus-adapter", "serve"]
