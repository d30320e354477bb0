# The two commands of the README: `make demo` and `make test`. Each sets up .venv itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# AWS SAM CLI pins conflict with ours, so it lives in its own venv; tests/infra runs it from there.
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
SAM_STAMP := $(SAM_VENV)/.installed
# SAM CLI sends usage telemetry unless told not to; it must reach nothing but PyPI.
export SAM_CLI_TELEMETRY := 0
SAM_ENV ?= default

.PHONY: demo test browser lint typecheck unit bench clean sam-build sam-validate sam-deploy

$(STAMP): requirements.txt src/requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

# Scan the bundled sample events offline. Exit 1 only means findings were found (the samples have some).
demo: $(STAMP)
	$(BIN)/ecsguard scan events/; status=$$?; test $$status -le 1

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest --numprocesses auto

# The HTML report's tests open it in headless Chromium; a fresh Debian machine (CI runs as root) lacks it.
browser:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y --no-install-recommends chromium)

test: $(SAM_STAMP) browser lint typecheck unit

bench: $(STAMP)
	$(BIN)/python bench/throughput.py

$(SAM_STAMP): requirements-sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-sam.txt
	touch $(SAM_STAMP)

# Build, check and deploy with SAM; SAM_ENV picks a samconfig.toml environment (default, dev, prod).
sam-build: $(SAM_STAMP)
	$(SAM) build --config-env $(SAM_ENV)

sam-validate: $(SAM_STAMP)
	$(SAM) validate --lint --config-env $(SAM_ENV)

sam-deploy: sam-build
	$(SAM) deploy --config-env $(SAM_ENV)

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam .mypy_cache .ruff_cache .pytest_cache
