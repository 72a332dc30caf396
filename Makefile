# wildcert — everything a developer or CI runs goes through these targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: all deps system-deps demo test test-fast lint bench fuzz build clean stack-start \
	stack-stop oldest-sdk

all: test

# Debian packages the local stack needs (Pebble, Let's Encrypt's ACME test server).
system-deps:
	@command -v pebble >/dev/null 2>&1 || { \
	  echo "installing Debian package pebble"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq pebble >/dev/null; }

$(STAMP): requirements/dev.txt layers/wildcert/requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -r requirements/dev.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

# sam and checkov pin boto3 against the project and each other: each gets a venv of its own.
TOOLS_STAMP := $(VENV)/tools/.installed
$(TOOLS_STAMP): $(STAMP) tests/infra/tools/sam.txt tests/infra/tools/checkov.txt tests/infra/tools/install.sh
	tests/infra/tools/install.sh
	touch $(TOOLS_STAMP)

deps: system-deps $(STAMP) $(TOOLS_STAMP)

# The oldest AWS SDK the functions declare (wildcert/sdk_floor.py) with the layer's
# requirements: tests/e2e/test_oldest_sdk.py issues a certificate with it.
OLDEST_SDK := $(VENV)/oldest-sdk
OLDEST_SDK_STAMP := $(OLDEST_SDK)/.installed
OLDEST_SDK_PINS := boto3==1.35.69 botocore==1.35.69
# Kept cheap (about 20 s): no pip of its own (the main venv's pip installs into it) and no
# bytecode compiled up front (Python writes it for what the test imports).
$(OLDEST_SDK_STAMP): layers/wildcert/requirements.txt requirements/dev.txt Makefile | $(STAMP)
	rm -rf $(OLDEST_SDK)
	$(PYTHON) -m venv --without-pip $(OLDEST_SDK)
	$(PY) -m pip --python $(OLDEST_SDK)/bin/python install -q --disable-pip-version-check \
	  --no-compile $(OLDEST_SDK_PINS) $$(grep -E '^pytest==' requirements/dev.txt) \
	  -r layers/wildcert/requirements.txt
	touch $(OLDEST_SDK_STAMP)

oldest-sdk: $(OLDEST_SDK_STAMP)

# Issue a real wildcard certificate against the local stack and show it.
demo: deps
	$(PY) scripts/demo.py

lint: deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: deps lint oldest-sdk
	$(VENV)/bin/pytest -q -p no:cacheprovider -n 2

test-fast: deps
	$(VENV)/bin/pytest -q -m "not stack" -p no:cacheprovider

bench: deps
	$(PY) bench/run.py

# Generated requests and Lambda events through the issuer's handler on a local stack of its own
# (port base 26000), each rejected one checked to have written nothing; writes docs/FUZZ.md.
# Minutes, not seconds: not part of `make test`, which runs a couple of hundred such cases.
FUZZ_CASES ?= 10000
fuzz: deps
	$(PY) -m tests.fuzz --cases $(FUZZ_CASES)

build: deps
	$(VENV)/bin/sam build

stack-start: deps
	scripts/local-stack start

stack-stop:
	scripts/local-stack stop

clean:
	rm -rf $(VENV) .aws-sam build .pytest_cache .ruff_cache .hypothesis
