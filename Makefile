# eventlens — the two commands a newcomer needs: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-unit test-oldest-sdk lint typecheck bench kafka-start kafka-stop clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip>=25.1"
	$(BIN)/python -m pip install -q -e ".[all]" --group test --group lint
	touch $(STAMP)

venv: $(STAMP)

## The whole suite: unit and integration tiers, real Kafka, PostgreSQL and Chromium (started by the run).
test: $(STAMP)
	./scripts/system-deps
	$(BIN)/python -m eventlens.local_kafka resolve
	./scripts/import-contracts
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Only the tests that need no service.
test-unit: $(STAMP)
	$(BIN)/python -m pytest -m "not kafka and not postgres and not browser" $(PYTEST_ARGS)

## The instrumentation tests on the oldest OpenTelemetry pyproject.toml admits (a second venv, .venv-oldsdk).
test-oldest-sdk: $(STAMP)
	$(BIN)/python -m eventlens.local_kafka resolve
	./scripts/sdk-matrix $(PYTEST_ARGS)

## Broker, demo services, collector on SQLite and dashboard; Ctrl-C stops everything.
demo: $(STAMP)
	./scripts/system-deps --no-browser
	$(BIN)/eventlens demo $(DEMO_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	./scripts/typecheck
	./scripts/import-contracts
	$(BIN)/vulture

bench: $(STAMP)
	./scripts/system-deps --no-browser
	$(BIN)/python -m bench $(BENCH_ARGS)

kafka-start: $(STAMP)
	./scripts/kafka start
kafka-stop: $(STAMP)
	./scripts/kafka stop

clean:
	rm -rf $(VENV) .venv-oldsdk build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache .typecheck test-artifacts
