# Two commands matter: `make run` and `make test`. Each installs what is missing first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# The first Python 3.11+ on PATH; override with `make PYTHON=python3.13 ...`.
PYTHON ?= $(shell for p in python3 python3.14 python3.13 python3.12 python3.11; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# jsii (the CDK's Node.js bridge) prints a banner for every Node process it starts, one per
# test worker and synth: DEPRECATED covers a Node release near its end of life, END_OF_LIFE
# (a list of major versions) one past it, as Node 20 is since 2026-10-30. Node 22 and 24
# need neither; see docs/deploy.md.
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 18,20
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help install test lint unit run synth bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements.txt pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is needed on PATH" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)  ## create .venv and install the pinned dependencies

lint: install  ## ruff and mypy over the project's code
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

unit: install  ## the tests alone, without lint
	$(BIN)/pytest -n 2

test: lint unit  ## lint, then the whole test suite

run: install  ## the whole system on this machine (no AWS account)
	$(BIN)/fleet run $(ARGS)

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

synth: install node_modules/.installed  ## cdk synth with no AWS account and no Docker
	PATH="$(abspath $(BIN)):$$PATH" npx --no-install cdk synth --quiet

bench: install  ## benchmarks: prints a table, writes bench/results/ and a plot
	$(BIN)/python -m bench $(ARGS)

clean:  ## remove the venv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis cdk.out node_modules
