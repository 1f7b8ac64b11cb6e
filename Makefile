# Two commands on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 5000
TEST_WORKERS ?= 2

.PHONY: run test install assets db demo worker lint bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

assets: node_modules/.installed
	$(BIN)/python -m webui.assets

node_modules/.installed: package.json
	npm install --no-audit --no-fund --silent
	touch node_modules/.installed

db: install
	$(BIN)/qaflow migrate
	$(BIN)/qaflow deploy processes/ --note "Deployed by make run" --actor make

demo: db
	$(BIN)/qaflow seed-demo

run: install assets demo
	QAFLOW_DEMO=1 $(BIN)/qaflow serve --host $(HOST) --port $(PORT) --with-worker

worker: install
	$(BIN)/qaflow worker

test: install assets
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS)

lint: install
	$(BIN)/ruff check engine webui tests features bench securitytests conftest.py
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/engine_overhead.py
	$(BIN)/python bench/web_pages.py
	$(BIN)/python bench/reports.py
	$(BIN)/python bench/web_load.py
	$(BIN)/python bench/timers.py
	$(BIN)/python bench/scale.py

clean:
	rm -rf $(VENV) node_modules webui/static/vendor instance
