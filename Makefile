# Project Unify: the two commands a newcomer needs are `make demo` and `make test` (README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
# Re-install when the dependency pins change (the stamp's name carries their hash).
DEPS_HASH := $(shell cat pyproject.toml constraints.txt | sha1sum | cut -c1-12)
RUNTIME_STAMP := $(VENV)/.installed-runtime-$(DEPS_HASH)
TEST_STAMP    := $(VENV)/.installed-test-$(DEPS_HASH)
# pip's output goes to this log, not the terminal; when pip fails, make prints the log in full.
PIP_LOG       := $(VENV)/pip.log
quiet_pip = $(BIN)/python -m pip $(1) >$(PIP_LOG) 2>&1 || { cat $(PIP_LOG); echo "pip failed; its log: $(PIP_LOG)" >&2; exit 1; }

.PHONY: help demo test lint check bench install install-test chromium profile warehouse-start warehouse-stop clean lock

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

# The demo starts the warehouse itself (one line of output instead of `unify warehouse start`'s status).
demo: install profile ## the main job end to end on the local warehouse
	$(BIN)/unify demo

# `check` and `lint` run on the whole project first, side by side (each is one single-threaded process
# with its own dbt target folder; --output-sync keeps their outputs apart); pytest then deselects its own
# copies of those two project-wide runs (marker project_gates: `pytest -m project_gates` runs them alone).
# pytest runs on PYTEST_WORKERS processes (pytest-xdist), one folder of tests per worker at a time
# (pytests/conftest.py: a folder whose tests share a warehouse built once, else a file); PYTEST_WORKERS=0 runs
# everything in one process.
PYTEST_WORKERS ?= 2
test: install-test profile warehouse-start ## every test: Redshift gate, SQL lint, pytest (dbt build inside)
	@$(MAKE) --no-print-directory -j2 --output-sync=target check lint
	$(BIN)/pytest -m "not project_gates" --durations=15 -n $(PYTEST_WORKERS) --dist loadscope --no-loadscope-reorder

lint: install-test profile warehouse-start ## SQL style: sqlfluff (redshift dialect, dbt templater) on models, snapshots, analyses, tests
	$(BIN)/unify check lint

check: install ## Redshift gate: compile everything for Redshift offline, reject PostgreSQL-only SQL
	$(BIN)/unify check redshift

bench: install profile warehouse-start ## benchmark ladder tiny..xlarge on the local warehouse, ~45 min (README "Benchmarks")
	$(BIN)/unify bench

install: $(RUNTIME_STAMP) ## create .venv and install the project (pinned by constraints.txt)

install-test: $(TEST_STAMP) chromium ## install what the tests need too (Python packages, Chromium)

# The catalog's browser test drives headless Chromium (Debian's package; no Python driver needed).
# As root (CI, containers) a missing Chromium is installed; otherwise make says how, and the test fails.
chromium: ## Chromium for the catalog browser test (installed with apt-get when missing and root)
	@if command -v chromium >/dev/null 2>&1 || test -n "$$UNIFY_CHROMIUM"; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Chromium (Debian package 'chromium') for the catalog browser test"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 || \
	  { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; } || exit 1; \
	else \
	  echo "WARNING: Chromium is missing; the catalog browser test (pytests/catalog) will fail." >&2; \
	  echo "  Install it: sudo apt-get install -y chromium   (or set UNIFY_CHROMIUM to a Chrome/Chromium binary)" >&2; \
	fi

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version.split()[0]'
	@echo "creating $(VENV) with $$($(PYTHON) --version)"
	@$(PYTHON) -m venv $(VENV)
	@$(call quiet_pip,install --upgrade "pip>=24")

$(RUNTIME_STAMP): $(BIN)/python pyproject.toml constraints.txt
	@echo "installing the project and its pinned dependencies into $(VENV) (log: $(PIP_LOG))"
	@$(call quiet_pip,install --progress-bar off -c constraints.txt -e .)
	@rm -f $(VENV)/.installed-runtime-* && touch $@

$(TEST_STAMP): $(RUNTIME_STAMP)
	@echo "installing the test dependencies into $(VENV) (log: $(PIP_LOG))"
	@$(call quiet_pip,install --progress-bar off -c constraints.txt -e '.[test]')
	@rm -f $(VENV)/.installed-test-* && touch $@

profile: ## create ./profiles.yml from profiles.yml.example if missing (git-ignored)
	@test -f profiles.yml || { cp profiles.yml.example profiles.yml && echo "created ./profiles.yml from profiles.yml.example"; }

warehouse-start: install ## start the local warehouse (idempotent)
	$(BIN)/unify warehouse start

warehouse-stop: ## stop the local warehouse (the data stays)
	@test -x $(BIN)/unify && $(BIN)/unify warehouse stop || true

clean: warehouse-stop ## stop the warehouse and delete .venv, .unify (warehouse data, landing zone) and dbt output
	rm -rf $(VENV) .unify target logs

lock: ## re-resolve pyproject.toml's ranges in a scratch venv and rewrite constraints.txt
	rm -rf .unify/lock-venv && $(PYTHON) -m venv .unify/lock-venv
	.unify/lock-venv/bin/pip install --quiet -e '.[test]'
	{ printf '# Exact versions installed by `make install` / `make install-test` (pip -c constraints.txt).\n# The reviewed ranges live in pyproject.toml; regenerate this file with `make lock` after changing them.\n'; \
	  .unify/lock-venv/bin/pip freeze --exclude-editable | grep -v '^-e'; } > constraints.txt
	rm -rf .unify/lock-venv
