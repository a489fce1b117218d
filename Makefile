# The project's interface. Every target sets up what it needs on a fresh machine:
# a virtual environment in .venv with the packages pinned in requirements.lock.
#   make serve   build the site and serve it with the submission server
#   make test    the house style (make lint), then every test
#   make lint    ruff: lint and format check of the whole tree (make format fixes what it can);
#                import-linter: the package's layers and no import circles (pyproject.toml)
#   make build   strict build into site/, the languages side by side
#   make dev     live-reload preview for writers (drafts shown; one language, DEV_LANG=nl)
#   make bench   build, preview and search side by side with Material and Hugo (BENCH_SIZES)
#   make audit   Lighthouse, axe, the Nu Html Checker and page weight against audit/budgets.json

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
export HOST PORT

.PHONY: setup build serve dev test lint format bench bench-receiver audit clean

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

# the languages side by side, one mkdocs build --strict each (kennisbank/build.py);
# SERIAL=1 builds them one after the other in one mkdocs build --strict
build: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/python -m kennisbank.build $(if $(SERIAL),--serial)

serve: build
	$(BIN)/kennisbank serve

# One language (DEV_LANG, the default language nl unless told), rebuilding only what a save
# changed (--dirty, made safe for the hooks: kennisbank/languages.py); DEV_LANG=all builds
# every language, everything on every save. Not DEV_LANG=LANG: LANG is the shell's locale.
DEV_LANG ?= nl
dev: $(STAMP)
	NO_MKDOCS_2_WARNING=1 KENNISBANK_DRAFTS=1 $(if $(filter all,$(DEV_LANG)),,KENNISBANK_LANGUAGE=$(DEV_LANG)) \
		$(BIN)/mkdocs serve $(if $(filter all,$(DEV_LANG)),,--dirty) --dev-addr $(HOST):$(PORT)

# The Nu Html Checker (vnu-jar) comes pinned with Lighthouse from audit/package.json.
AUDIT_NODE := audit/node_modules/.package-lock.json

test: lint $(AUDIT_NODE)
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

$(AUDIT_NODE): audit/package.json audit/package-lock.json
	cd audit && npm ci --ignore-scripts --no-audit --no-fund

audit: $(STAMP) $(AUDIT_NODE) build
	$(BIN)/python audit/run.py

bench: $(STAMP)
	$(BIN)/python bench/build.py $(BENCH_SIZES)

bench-receiver: build
	$(BIN)/python bench/receiver.py
	$(BIN)/python bench/peers.py

clean:
	rm -rf site var reports .pytest_cache
