# Taskstream: the documented commands. `make dev` and `make test` are the two set-up commands.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_DIR ?= .taskstream

.PHONY: help dev test lint typecheck unit integration bench status clean install

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[embedded,test]'
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install Taskstream with the embedded stack and test tools

dev: $(STAMP) ## Start the embedded stack and all services in the foreground (Ctrl-C stops)
	$(BIN)/taskstream dev --data-dir $(DATA_DIR)

status: $(STAMP) ## Show the running embedded stack
	$(BIN)/taskstream dev status --data-dir $(DATA_DIR)

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP) ## mypy, strict on the packages
	$(BIN)/mypy

unit: $(STAMP) ## Unit tests only (no services)
	$(BIN)/pytest tests/unit -q

integration: $(STAMP) ## Integration tests on the embedded stack
	$(BIN)/pytest tests/integration -q

test: lint typecheck ## Lint, type checks and the whole test suite (starts the embedded stack itself)
	$(BIN)/pytest -q

bench: $(STAMP) ## Benchmarks on the embedded stack; figures printed and saved under bench/results/
	$(BIN)/python -m bench.spine
	$(BIN)/python -m bench.timers
	$(BIN)/python -m bench.lease
	$(BIN)/python -m bench.tails
	$(BIN)/python -m bench.cron
	$(BIN)/python -m bench.submit
	$(BIN)/python -m bench.queues
	$(BIN)/python -m bench.rebuild
	$(BIN)/python -m bench.lag
	$(BIN)/python -m bench.api_reads
	$(BIN)/python -m bench.fetch_wait

clean: ## Remove the virtual environment, caches and the embedded stack's data directory
	rm -rf $(VENV) $(DATA_DIR) .mypy_cache .ruff_cache .pytest_cache .hypothesis *.egg-info
