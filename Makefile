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

.PHONY: env help venv venv-dl lock lint format typecheck test test-fast check-pythons demo up down status logs bench bench-quick clean docs docs-serve app app-screenshots app-screenshot-repairs

help:  ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{n[NR] = $$1; d[NR] = $$2; if (length($$1) > w) w = length($$1)} END {for (i = 1; i <= NR; i++) printf "  make %-" w "s %s\n", n[i], d[i]}'

$(BIN)/python:
	@test -n "$(PYTHON)" && scripts/find_python.sh --only "$(PYTHON)" $(SUPPORTED_PYTHONS) >/dev/null
	@echo "make: creating $(VENV) with $(PYTHON) ($$($(PYTHON) -V 2>&1)), then installing uv into it"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# On a terminal uv draws its progress bars (resolving, preparing, installing N/362); elsewhere
# (CI, a pipe) it is quiet, as its list of installed packages is hundreds of lines. Compiling
# every package to bytecode draws nothing (1-3 minutes), so it is said first and done by a second
# sync, which installs nothing and compiles the whole environment.
$(VENV)/.synced: requirements-dev.lock pyproject.toml | $(BIN)/python
	@echo "make: installing the packages of requirements-dev.lock into $(VENV) (about 2.5 GB; 2-4 minutes the first time)"
	@$(BIN)/uv pip sync $$([ -t 2 ] || echo --quiet) --python $(BIN)/python requirements-dev.lock
	@echo "make: compiling the installed packages to bytecode (1-3 minutes the first time; every later start is seconds faster)"
	@$(BIN)/uv pip sync --quiet --compile-bytecode --python $(BIN)/python requirements-dev.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@touch $@

# The CSS/JS/fonts Great Expectations' Data Docs load from CDNs, vendored from the npm registry
# (versions and integrity hashes in scripts/data_docs_assets.lock.json) so Data Docs render
# offline. A failed download leaves Data Docs on their CDN links (a warning) and is tried again.
DATA_DOCS_ASSETS := $(VENV)/share/harvest/data-docs-assets
$(DATA_DOCS_ASSETS)/manifest.json: scripts/data_docs_assets.lock.json scripts/vendor_data_docs.py | $(VENV)/.synced
	-$(BIN)/python scripts/vendor_data_docs.py --dest $(DATA_DOCS_ASSETS)

venv: $(VENV)/.synced $(DATA_DOCS_ASSETS)/manifest.json  ## create or update the virtual environment from the lock

# The optional deep-learning extra (`dl`: Keras 3 + tensorflow-cpu, ~1.4 GB; Linux x86_64 only):
# the network challenger of harvest.training. Without it training skips that candidate with a
# warning. `uv pip sync` of the main lock removes it again, hence its own stamp after .synced.
$(VENV)/.synced-dl: requirements-dl.lock $(VENV)/.synced
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements-dl.lock
	@touch $@

venv-dl: venv $(VENV)/.synced-dl  ## add the optional deep-learning extra (Keras 3 + TensorFlow CPU) to the environment

# --universal: one lock with environment markers for every Python from 3.11 up and every platform,
# so the same file installs on 3.11, 3.12 and 3.13 (`make check-pythons` proves it).
lock:  ## re-resolve requirements.lock and requirements-dev.lock from the pinned requirements
	$(BIN)/uv pip compile --quiet --no-header --universal --python-version 3.11 requirements.txt -o requirements.lock
	$(BIN)/uv pip compile --quiet --no-header --universal --python-version 3.11 requirements-dev.txt -c requirements.lock -o requirements-dev.lock
	$(BIN)/uv pip compile --quiet --no-header --universal --python-version 3.11 requirements-dl.txt -c requirements-dev.lock -o requirements-dl.lock

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

# Every benchmark's --quick run (tests/benchmarks, marker bench) goes on in a second pytest
# process beside the suite, so that it adds little to CI's wall time; its output is kept in
# BENCH_LOG and its tail printed at the end. BENCH_QUICK=0 leaves it out.
BENCH_QUICK ?= 1
BENCH_LOG ?= $(HARVEST_HOME)/logs/bench-quick.log
# The slowest tests and benchmarks are listed at the end of make test, to keep CI within its budget.
TEST_DURATIONS ?= --durations=30 --durations-min=20

test: venv lint docs  ## lint, type check, build the docs (strict), run every test (unit, integration, DAG, end-to-end) and every benchmark's --quick run
ifeq ($(BENCH_QUICK),1)
	@mkdir -p $(dir $(BENCH_LOG))
	@echo "make test: benchmarks/bench_*.py --quick run beside the suite (log: $(BENCH_LOG))"
	@$(BIN)/pytest -m bench -p no:cacheprovider $(TEST_DURATIONS) tests/benchmarks > $(BENCH_LOG) 2>&1 & quick=$$!; \
	$(BIN)/pytest -m "not bench" $(TEST_DURATIONS) $(PYTEST_ARGS); suite=$$?; \
	wait $$quick; bench=$$?; \
	echo "== benchmarks --quick (full log: $(BENCH_LOG))"; tail -n 65 $(BENCH_LOG); \
	exit $$(( suite || bench ))
else
	$(BIN)/pytest -m "not bench" $(TEST_DURATIONS) $(PYTEST_ARGS)
endif

bench-quick: venv  ## run every benchmark's --quick form (what make test runs beside the suite)
	$(BIN)/pytest -m bench tests/benchmarks $(PYTEST_ARGS)

test-fast: venv  ## unit and DAG tests only
	$(BIN)/pytest tests/unit tests/dags $(PYTEST_ARGS)

# The documentation site (mkdocs.yml, docs/): --strict turns every warning (a broken link or
# anchor, a page not in the nav, an undocumented spec key, a docstring mkdocstrings cannot read)
# into a failure. NO_MKDOCS_2_WARNING silences Material's banner about its successor.
docs: venv  ## build the documentation site into site/ (strict: any warning fails)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

docs-serve: venv  ## serve the documentation site on http://127.0.0.1:8001, rebuilt as you edit docs/
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --dev-addr 127.0.0.1:8001

check-pythons: venv  ## install the lock on the other supported Pythons (3.12, 3.13) found here, import and test
	$(BIN)/python scripts/check_python_versions.py $(CHECK_PYTHONS_ARGS)

demo: venv  ## run a source (SOURCE=demo by default) for one date through Airflow on embedded defaults; the demo source then trains a champion
	$(BIN)/python scripts/demo.py --source $(or $(SOURCE),demo) $(DEMO_ARGS) $(if $(filter demo,$(or $(SOURCE),demo)),--train $(DEMO_TRAINING_ARGS))

# The Harvest app (include/harvest/app): Streamlit on 127.0.0.1:$(APP_PORT), reading the warehouse
# and MLflow store of the settings (the embedded ones under .harvest after `make demo`) read-only.
# No request leaves the machine: usage statistics off (here and in .streamlit/config.toml).
APP_PORT ?= 8501
app: venv  ## the Harvest app on http://127.0.0.1:8501 (APP_PORT): crawl health, data quality, history, models
	STREAMLIT_BROWSER_GATHER_USAGE_STATS=false $(BIN)/streamlit run include/harvest/app/main.py \
		--server.address 127.0.0.1 --server.port $(APP_PORT) --server.headless true \
		--browser.gatherUsageStats false

# Every page of the app in headless Chromium (after `make demo`): a screenshot each in
# docs/images/app/, and a failure when a page shows an exception or a request leaves 127.0.0.1.
# The Repairs page has a target of its own: `make demo` stores no repair proposal.
app-screenshots: venv  ## screenshots of every app page but Repairs (docs/images/app), checked for errors and outside requests
	$(BIN)/python scripts/app_screenshots.py --out docs/images/app \
		--pages sources partition trends catalogue models browse

# The Repairs page showing a real proposal: two demo nights, the second on the re-templated site
# (scripts/repair_demo.py), in a home of their own (.harvest-repairs), then its screenshot.
REPAIRS_HOME := $(CURDIR)/.harvest-repairs
app-screenshot-repairs: venv  ## the Repairs page's screenshot (docs/images/app/repairs.png) after a redesigned demo night
	rm -rf $(REPAIRS_HOME)
	HARVEST_HOME=$(REPAIRS_HOME) $(BIN)/python scripts/repair_demo.py
	HARVEST_HOME=$(REPAIRS_HOME) HARVEST_SOURCES_DIR=$(REPAIRS_HOME)/sources \
		$(BIN)/python scripts/app_screenshots.py --out docs/images/app --pages repairs

up: venv  ## the local platform: Airflow on :8080 (api-server first, then scheduler, dag-processor, triggerer, each waited for) and the demo site on :8000
	$(BIN)/python scripts/up.py

down:  ## stop what `make up` started
	-$(BIN)/python scripts/up.py --stop

status:  ## what `make up` runs: each process, Airflow's health, the latest run of each DAG
	@$(BIN)/python scripts/up.py --status

logs:  ## the end of each log of `make up` (demo site, api-server, scheduler, dag-processor, triggerer)
	@$(BIN)/python scripts/up.py --logs

env: venv  ## print the environment (paths, shared keys) airflow commands need, for `export`
	@$(BIN)/python -m harvest_local env

bench: venv  ## run the benchmarks at full size (each prints its ratios with rounds and spread)
	@uptime
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:  ## remove local data (.harvest) and caches, keep the virtual environment
	rm -rf .harvest .pytest_cache .mypy_cache .ruff_cache site
