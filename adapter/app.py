"""App factory: the FastAPI app around a runtime built once at start-up (adapter/runtime.py)."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from adapter import __version__
from adapter.api import admin, cases, dashboard, errors, fhir, health, metrics, search, tidbok, validate
from adapter.api.boundary import RefuseControlCharacters
from adapter.config import Settings
from adapter.guide import routes as guide
from adapter.logging import configure_logging
from adapter.runtime import Runtime, build_runtime


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    settings = settings or (runtime.settings if runtime else Settings())
    configure_logging(settings.log_level, json=settings.log_json)
    rt = runtime or build_runtime(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        thread = None
        if settings.worker:
            worker = app.state.delivery_worker = rt.delivery_worker()
            thread = threading.Thread(
                target=worker.run_forever, args=(stop, settings.worker_poll_seconds), daemon=True
            )
            thread.start()
        yield
        stop.set()
        if thread is not None:
            thread.join(timeout=30)

    app = FastAPI(
        title="LUS adapter",
        version=__version__,
        description="FHIR R4 adapter for Swedish discharge planning (lag 2017:612).",
        lifespan=lifespan,
    )
    app.state.runtime = rt
    app.add_middleware(RefuseControlCharacters)
    errors.install(app)
    app.include_router(fhir.router)
    app.include_router(health.router)
    app.include_router(admin.router)
    app.include_router(search.router)
    app.include_router(tidbok.router)
    app.include_router(cases.router)
    app.include_router(dashboard.router)
    app.include_router(metrics.router)
    app.include_router(validate.router)
    app.include_router(guide.router)
    return app
