# `make test` works from a clean clone: it creates .venv, installs pdgraph with its dev
# extra, lints, type-checks and runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test test-moved-clock lint unit e2e demo bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

# The suite with every process's clock moved 30, 200 and 400 days ahead (no test's premise
# may depend on today's date): tests/moved_clock/sitecustomize.py.
test-moved-clock: install
	for days in 30 200 400; do \
		echo "== clock moved $$days days"; \
		PYTHONPATH=tests/moved_clock PDGRAPH_TEST_CLOCK_SHIFT_DAYS=$$days $(BIN)/pytest -q -p no:time_machine || exit 1; \
	done

e2e: install
	$(BIN)/pytest -m e2e tests/e2e

demo: install
	$(BIN)/python -m sim.demo

bench: install
	$(BIN)/python bench/full_sync.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
