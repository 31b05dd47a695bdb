# The two set-up commands: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
export RUNTIME__DLTHUB_TELEMETRY := false

.PHONY: demo test bench docs lint clean web-assets

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/driftsync demo

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest

bench: $(VENV)/.installed
	$(BIN)/python bench/sync.py

docs: $(VENV)/.installed
	$(BIN)/driftsync tables --markdown > docs/tables.md

# The web app's htmx and Pico CSS, from the npm registry into src/driftsync/web/static/vendor
# (committed, so installing driftsync needs no npm). Run after changing their versions.
web-assets:
	sh src/driftsync/web/assets/vendor.sh

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench

clean:
	rm -rf $(VENV) .driftsync demo.duckdb .pytest_cache
