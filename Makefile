# slmesh: `make run` answers the article's prompts; `make test` is the whole test suite (CI runs it).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
DATA ?= ../shared/data
PIP := $(BIN)/python -m pip
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install install-dev install-training run serve test lint typecheck unit contract integration train bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

install: $(BIN)/python
	$(PIP) install -q -e ".[serve]"

install-dev: $(BIN)/python
	$(PIP) install -q -e ".[dev,serve,lambda,training,bench]"
	# aws-sam-cli pins click==8.1.8 while huggingface-hub asks for click>=8.4.2 (only for its own CLI, which
	# nothing here runs): one resolve cannot hold both, so the SAM tooling goes in a second step.
	$(PIP) install -q -e ".[cloud-test]"

run: install
	$(BIN)/slmesh demo

serve: install
	$(BIN)/slmesh serve

lint: install-dev
	$(BIN)/ruff check src tests functions training
	$(BIN)/ruff format --check src tests functions training

typecheck: install-dev
	$(BIN)/mypy

test: install-dev lint typecheck
	$(BIN)/python -m pytest

bench: install
	$(BIN)/slmesh bench

train: install-dev
	bash training/train_all.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache runs results
