# Harvest: every command a user needs. `make help` lists them.
SHELL := /bin/bash
# Harvest runs on CPython 3.11, 3.12 and 3.13 (one universal lock). PYTHON is the interpreter
# `make venv` builds .venv from: the first usable of these, in this order (3.11 is the version CI
# runs every test on), found by scripts/find_python.sh; `make venv PYTHON=/path/to/python3.X`
# picks another. The search runs once, and only when a recipe needs PYTHON.
SUPPORTED_PYTHONS := 3.11 3.12 3.13
PYTHON ?= $(eval PYTHON := $$(shell scripts/find_python.sh $$(SUPPORTED_PYTHONS)))$(PYTHON)
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9

export HARVEST_REPO := $(CURDIR)
export HARVEST_HOME ?= $(CURDIR)/.harvest
export AIRFLOW_HOME ?= $(HARVEST_HOME)/airflow
export AIRFLOW_CONFIG ?= $(CURDIR)/airflow.cfg
export PYTHONPATH := $(CURDIR)/include:$(CURDIR)/plugins
# Compiled bytecode makes every Airflow, Great Expectations and task start seconds faster.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: env help venv lock lint format typecheck test test-fast check-pythons demo up down bench clean

help:  ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	@test -n "$(PYTHON)" && scripts/find_python.sh --only "$(PYTHON)" $(SUPPORTED_PYTHONS) >/dev/null
	@echo "make: creating $(VENV) with $(PYTHON) ($$($(PYTHON) -V 2>&1))"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: requirements-dev.lock pyproject.toml | $(BIN)/python
	$(BIN)/uv pip sync --quiet --compile-bytecode --python $(BIN)/python requirements-dev.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@touch $@

venv: $(VENV)/.synced  ## create or update the virtual environment from the lock

# --universal: one lock with environment markers for every Python from 3.11 up and every platform,
# so the same file installs on 3.11, 3.12 and 3.13 (`make check-pythons` proves it).
lock:  ## re-resolve requirements.lock and requirements-dev.lock from the pinned requirements
	$(BIN)/uv pip compile --quiet --no-header --universal --python-version 3.11 requirements.txt -o requirements.lock
	$(BIN)/uv pip compile --quiet --no-header --universal --python-version 3.11 requirements-dev.txt -c requirements.lock -o requirements-dev.lock

lint: venv  ## ruff (lint + format check), mypy, the import layers (import-linter), hadolint (Dockerfile)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	$(BIN)/hadolint Dockerfile

format: venv  ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: lint

test: venv lint  ## lint, type check and run every test (unit, integration, DAG, end-to-end)
	$(BIN)/pytest $(PYTEST_ARGS)

test-fast: venv  ## unit and DAG tests only
	$(BIN)/pytest tests/unit tests/dags $(PYTEST_ARGS)

check-pythons: venv  ## install the lock on the other supported Pythons (3.12, 3.13) found here, import and test
	$(BIN)/python scripts/check_python_versions.py $(CHECK_PYTHONS_ARGS)

demo: venv  ## run a source (SOURCE=demo by default) for one date through Airflow on embedded defaults; the demo source then trains a champion
	$(BIN)/python scripts/demo.py --source $(or $(SOURCE),demo) $(DEMO_ARGS) $(if $(filter demo,$(or $(SOURCE),demo)),--train $(DEMO_TRAINING_ARGS))

up: venv  ## the local platform: Airflow standalone on :8080 and the demo site on :8000
	$(BIN)/python scripts/up.py

down:  ## stop what `make up` started
	-$(BIN)/python scripts/up.py --stop

env: venv  ## print the environment (paths, shared keys) airflow commands need, for `export`
	@$(BIN)/python -m harvest_local env

bench: venv  ## run the benchmarks (prints ratios against their baselines)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:  ## remove local data (.harvest) and caches, keep the virtual environment
	rm -rf .harvest .pytest_cache .mypy_cache .ruff_cache
