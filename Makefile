# slmesh: `make run` answers the article's prompts; `make test` is the whole test suite (CI runs it).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
DATA ?= ../shared/data
PIP := $(BIN)/python -m pip
export PIP_DISABLE_PIP_VERSION_CHECK := 1

STAGE := $(BIN)/python infra/local/stage.py

.PHONY: install install-dev install-training run serve test lint typecheck unit contract integration train bench clean \
	lock localstack-lock contexts images sam-build sam-local

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

install: $(BIN)/python
	$(PIP) install -q -e ".[serve]"

install-dev: $(BIN)/python
	$(PIP) install -q -e ".[dev,serve,lambda,training,bench,ann]"
	# aws-sam-cli pins click==8.1.8 while huggingface-hub asks for click>=8.4.2 (only for its own CLI, which
	# nothing here runs): one resolve cannot hold both, so the SAM tooling goes in a second step.
	$(PIP) install -q -e ".[cloud-test]"

# The article's prompts answered from the demo knowledge base (examples/kb), with no context sent.
run: install
	$(BIN)/slmesh kb ingest examples/kb --kb build/kb/demo --quiet
	$(BIN)/slmesh demo --kb build/kb/demo

serve: install
	$(BIN)/slmesh serve

lint: install-dev
	$(BIN)/ruff check src tests functions training infra
	$(BIN)/ruff format --check src tests functions training infra

typecheck: install-dev
	$(BIN)/mypy

test: install-dev lint typecheck
	$(BIN)/python -m pytest

bench: install
	$(BIN)/slmesh bench

train: install-dev
	bash training/train_all.sh

# functions/requirements.lock: the images' runtime requirements (pyproject: dependencies + lambda), pinned with
# hashes for Lambda's Python 3.12 on x86_64.
lock: install-dev
	mkdir -p build
	$(STAGE) requirements > build/requirements.in
	$(BIN)/uv pip compile build/requirements.in --quiet --python-version 3.12 --python-platform x86_64-manylinux_2_28 \
		--generate-hashes --custom-compile-command "make lock" -o functions/requirements.lock

# infra/local/localstack/requirements.txt: LocalStack's runtime for the integration tier, pinned with hashes for its
# Python 3.13 (plugin versions released after the runtime's own break it: hence the date).
localstack-lock: install-dev
	$(BIN)/uv pip compile infra/local/localstack/requirements.in --quiet --python-version 3.13 \
		--exclude-newer 2026-03-24 --generate-hashes --custom-compile-command "make localstack-lock" \
		-o infra/local/localstack/requirements.txt

# build/contexts/<skill>: each image's build context, holding only what its image copies (template.yaml reads them).
contexts: install-dev
	$(STAGE) contexts

# Every model function image in the engine (DOCKER_HOST's, else our own, offline), with sizes and timings.
images: install-dev
	$(BIN)/python -m slmesh.bench.images build --cold

# `sam build` with your own Docker (with internet: the images build on AWS's base from PyPI).
sam-build: contexts
	$(BIN)/sam build

# `sam build`, then `sam local invoke` of every function with each of its events/ payloads (the engine as for tests).
sam-local: install-dev
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/container/test_sam_local.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache runs results build .aws-sam
	rm -rf .cache  # the engine's data root and the wheel cache (root-owned image layers)
