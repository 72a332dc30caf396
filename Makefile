# wildcert — everything a developer or CI runs goes through these targets (`make help`).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SAM := $(VENV)/bin/sam
# ?=: a process that runs in this venv already (the docs' test) names a stamp of its own.
STAMP ?= $(VENV)/.installed
# samconfig.toml environment for build and deploy: default (production) or staging.
SAM_ENV ?= default

.PHONY: all help deps stack-deps system-deps python-deps demo test test-fast lint bench build deploy \
	fuzz clean stack-start stack-stop iam-sim invoke outcomes team-resources

all: test

help: ## list the targets
	@awk 'BEGIN {FS = ":[^#]*## "} /^[a-zA-Z_-]+:[^#]*## / {printf "  make %-12s %s\n", $$1, $$2}' \
	  $(MAKEFILE_LIST)

# Debian packages make needs, installed with apt-get when missing (scripts/system-deps):
# python3-venv and python3-pip for the venv and the layer's build, pebble for the local stack.
python-deps: ## install python3-venv and python3-pip if missing (Debian/Ubuntu)
	@PYTHON=$(PYTHON) scripts/system-deps python

# After python-deps: two apt-get runs at once would fight over dpkg's lock (make deps runs -j).
system-deps: python-deps ## install python3-venv, python3-pip and Debian's pebble (the local stack's CA) if missing
	@PYTHON=$(PYTHON) scripts/system-deps pebble

# uv (pinned in requirements/installer.txt) installs every venv from the same pinned files pip
# would, several times faster; pip puts it into the project venv first. UV_STAMP ?= as STAMP.
UV := $(VENV)/bin/uv
UV_STAMP ?= $(UV)
$(UV_STAMP): requirements/installer.txt | python-deps
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements/installer.txt
	touch $(UV_STAMP)

$(STAMP): requirements/dev.txt layers/wildcert/requirements.txt pyproject.toml puller/pyproject.toml \
	  | $(UV_STAMP)
	$(UV) pip install -q --python $(PY) --upgrade-package pip pip -r requirements/dev.txt
	$(UV) pip install -q --python $(PY) --no-deps -e . -e ./puller
	touch $(STAMP)

# sam and checkov pin boto3 against the project and each other: each gets a venv of its own.
# Only the infrastructure tests and the build use them. They need uv, not the project's
# packages: they install while those do.
TOOLS_STAMP ?= $(VENV)/tools/.installed
$(TOOLS_STAMP): tests/infra/tools/sam.txt tests/infra/tools/checkov.txt tests/infra/tools/aws.txt \
	  tests/infra/tools/install.sh | $(UV_STAMP)
	UV=$(UV) PYTHON=$(PYTHON) tests/infra/tools/install.sh
	touch $(TOOLS_STAMP)

stack-deps: system-deps $(STAMP) ## what the local stack needs: pebble and the project venv

# npm's @cloud-copilot/iam-simulate evaluates template.yaml's IAM in the infrastructure tests
# (tests/infra/iam_sim.py). Test-only: AGPL-licensed, never part of what is deployed.
IAM_SIM := tests/infra/iam
IAM_SIM_STAMP := $(IAM_SIM)/node_modules/.installed
$(IAM_SIM_STAMP): $(IAM_SIM)/package.json $(IAM_SIM)/package-lock.json
	npm ci --prefix $(IAM_SIM) --prefer-offline --no-audit --no-fund --loglevel=error
	touch $(IAM_SIM_STAMP)

iam-sim: $(IAM_SIM_STAMP) ## the IAM policy simulator the infrastructure tests use (npm ci)

# The installs are mostly downloads and wait on nothing but uv: side by side (-j). `make test`
# runs lint with them, since it needs the project venv only.
INSTALLS := stack-deps $(TOOLS_STAMP) $(IAM_SIM_STAMP)

deps: ## everything: pebble, the venv, sam, checkov, the IAM simulator (side by side)
	@$(MAKE) --no-print-directory -j 4 $(INSTALLS)

# The local stack `make demo KEEP=1`, `make stack-start` and `make invoke` share.
STACK_DIR ?= .local-stack

demo: stack-deps ## two teams on the local stack (KEEP=1 leaves it running, for make invoke)
	WILDCERT_STACK_DIR=$(STACK_DIR) $(PY) scripts/demo.py $(if $(KEEP),--keep)

# make invoke FN=issuer EVENT=events/issue-wildcard.json
# make invoke FN=issuer TEAM=alpha REQUEST='{"domains": ["*.alpha.example.com"]}'
# make invoke FN=issuer OPERATORS=1 EVENT=events/issue-wildcard.json
# make invoke FN=renewal_sweep EVENT=events/sweep-scheduled.json; make invoke FN=issuer RENEWALS=1
# REQUEST reaches the tool through the environment: its JSON needs no quoting for the shell.
invoke: ## a function's handler on the running local stack: FN=, EVENT= / REQUEST= [TEAM=|OPERATORS=1|REQUESTS=1|RENEWALS=1]
	@test -n "$(FN)" || { echo "make invoke: FN= is issuer, renewal_sweep or watch" >&2; exit 2; }
	@WILDCERT_STACK_DIR=$(STACK_DIR) $(PY) -m local_stack invoke $(FN) $(EVENT) \
	  $(if $(TEAM),--team $(TEAM)) $(if $(OPERATORS),--operators) \
	  $(if $(REQUESTS),--requests) $(if $(RENEWALS),--renewals) \
	  $(if $(REQUEST),--request "$$REQUEST")

outcomes: ## every outcome event on the running local stack so far
	@WILDCERT_STACK_DIR=$(STACK_DIR) $(PY) -m local_stack outcomes

lint: $(STAMP) ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: ## install and lint, then every test (unit, end-to-end, stack, infrastructure)
	@$(MAKE) --no-print-directory -j 4 $(INSTALLS) lint
	$(VENV)/bin/pytest -q -p no:cacheprovider -n 2 --dist loadgroup

# The seconds tier: no local stack, no outside tool (sam, checkov, cfn-lint, the IAM simulator),
# the property tests at a quarter of their examples, on both cores. `make test` runs everything.
test-fast: $(STAMP) ## the tests that need neither the local stack nor an outside tool (seconds)
	WILDCERT_FUZZ_SCALE=0.25 $(VENV)/bin/pytest -q -m "not stack and not tools" -p no:cacheprovider -n 2

bench: stack-deps ## wildcert against certbot on the local stack; writes bench/RESULTS.md
	$(PY) bench/run.py

# Generated requests and Lambda events through the issuer's handler on a local stack of its own
# (port base 26000), each rejected one checked to have written nothing; writes docs/FUZZ.md.
# Minutes, not seconds: not part of `make test`, which runs a couple of hundred such cases.
FUZZ_CASES ?= 10000
fuzz: stack-deps ## 10,000 generated events through the issuer's handler; writes docs/FUZZ.md
	$(PY) -m tests.fuzz --cases $(FUZZ_CASES)

# template.yaml holds resources generated from layers/wildcert/teams.toml (each team's reader
# role and bus permission): a build refuses a template out of step with the file.
team-resources: $(STAMP) ## regenerate template.yaml's teams' sections from teams.toml
	$(PY) scripts/team_resources.py

build: $(STAMP) $(TOOLS_STAMP) ## sam build (the layer and the functions, arm64, no Docker)
	$(PY) scripts/team_resources.py --check
	$(SAM) build --config-env $(SAM_ENV)

# GUIDED=1 asks for the parameters and saves them in samconfig.toml (the first deployment);
# DEPLOY_ARGS passes more to sam deploy, e.g. DEPLOY_ARGS='--parameter-overrides AcmeCa=staging'.
deploy: build ## sam build + sam deploy with samconfig.toml (SAM_ENV=staging first; GUIDED=1 asks)
	$(SAM) deploy --config-file samconfig.toml --config-env $(SAM_ENV) $(if $(GUIDED),--guided) \
	  $(DEPLOY_ARGS)

stack-start: stack-deps ## start the local stack in .local-stack (port base 14000)
	WILDCERT_STACK_DIR=$(STACK_DIR) scripts/local-stack start

stack-stop: ## stop the local stack
	WILDCERT_STACK_DIR=$(STACK_DIR) scripts/local-stack stop

clean: ## remove the venv, build output and caches
	rm -rf $(VENV) .aws-sam build .pytest_cache .ruff_cache .hypothesis $(IAM_SIM)/node_modules
