# Two commands set up everything on a fresh machine: `make synth` and `make test`.
# Nothing here needs an AWS account, credentials or a network lookup, except `make integ`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# jsii warns on every synth that Node 20 is end-of-life; the value names the major version.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export JSII_DEPRECATED := quiet
export AWS_EC2_METADATA_DISABLED := true

.PHONY: all bootstrap bootstrap-synth chromium synth test lint bench docs integ integ-update clean

all: synth

# Two install sets, one stamp each: `make synth` installs only what synthesis needs
# (requirements.txt, the CDK CLI); `make test` adds the test tools (requirements-dev.txt,
# the diagram checker's Node packages). constraints.txt pins every package of both.
$(VENV)/.installed-synth: requirements.txt constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "refarch needs Python 3.11 or later: run make with PYTHON=python3.11 (or newer)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -c constraints.txt
	touch $@

$(VENV)/.installed: $(VENV)/.installed-synth requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	touch $@

# Where the test tools were installed before, reinstall them too: a synth never removes them.
node_modules/.installed-cli: package.json package-lock.json
	if [ -e node_modules/.installed ]; then \
		npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed; \
	else npm ci --omit=dev --no-audit --no-fund --loglevel=error; fi
	touch $@

node_modules/.installed: node_modules/.installed-cli
	npm ci --no-audit --no-fund --loglevel=error
	touch $@ node_modules/.installed-cli

bootstrap-synth: $(VENV)/.installed-synth node_modules/.installed-cli

bootstrap: $(VENV)/.installed node_modules/.installed chromium

## Debian's Chromium for the web app's browser tests (Playwright drives it; it downloads no browser
## of its own). Skipped when present; installing needs root, as CI has.
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }

## Synthesize every stack in both profiles, run cdk-nag and cfn-lint, print a summary.
synth: bootstrap-synth
	$(PY) -m tools.synth_all

## Lint, then every test, on $(TEST_WORKERS) workers (pytest-xdist; TEST_WORKERS=0 runs serially).
TEST_WORKERS ?= auto
test: bootstrap lint
	$(PY) -m pytest -n $(TEST_WORKERS)

lint: bootstrap
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy patterns stacks integ
	$(PY) -m tools.typecheck_runtime

## Benchmarks: ratios measured side by side in one run (never timed tests).
bench: bootstrap
	$(PY) -m tools.bench

## Diagrams: synthesize the sandbox profile, then write each stack's diagram into its page;
## then each construct's props and attributes tables and the example apps (tools/props_tables.py).
docs: bootstrap
	$(PY) -m tools.diagrams --synth --write
	$(PY) -m tools.props_tables --write

## Integration tests IN A REAL ACCOUNT (the one in the environment; costs money, see
## integ/estimates.md): deploy, assert, destroy, check nothing is left. STACK=<Stack>, or all.
integ: bootstrap
	$(PY) -m integ.run $(STACK)

## Rewrite the committed integ snapshots (offline): STACK=<Stack>, or all.
integ-update: bootstrap
	$(PY) -m integ.snapshots $(STACK)

clean:
	rm -rf cdk.out cdk.out.* .pytest_cache .mypy_cache .ruff_cache
