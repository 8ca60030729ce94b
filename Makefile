# Shouwen — one target per habit. Every target creates .venv and installs the project first.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST := $(BIN)/pytest

.PHONY: up test unit integration e2e faults bench lint schemas clean install system-deps

install: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH"; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Start the whole suite in the foreground (broker, PostgreSQL, migrations, topics, services).
up: $(STAMP)
	$(BIN)/shouwen up

## Debian packages some tests drive (chromium, promtool), installed when missing.
system-deps:
	@scripts/system-deps.sh

## Unit, integration and e2e tests against a real PostgreSQL and a real broker.
test: $(STAMP) system-deps
	$(PYTEST) tests/unit tests/integration tests/hostile tests/faults tests/e2e

unit: $(STAMP) system-deps
	$(PYTEST) tests/unit

integration: $(STAMP)
	$(PYTEST) tests/integration

e2e: $(STAMP) system-deps
	$(PYTEST) tests/e2e

## Fault tests: poison, a stopped PostgreSQL, killed dependencies, against real processes
## (pytest marker `fault`; docs/ARCHITECTURE.md "What happens when X dies" is backed by them).
faults: $(STAMP)
	$(PYTEST) -m fault tests

## Figures, each beside a baseline measured in the same run.
bench: $(STAMP)
	$(BIN)/python -m bench

## ruff, mypy, and the import contracts (layers, services independent: pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check services events tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo

## Regenerate events/schemas/*.json from the payload models.
schemas: $(STAMP)
	$(BIN)/shouwen schemas

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
