# Portcullis developer commands. `make run` and `make test` do all set-up themselves.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 8000
DEMO_PORT ?= 8001

.PHONY: run test test-pg e2e bench bench-smoke lint fmt migrations-check check-deploy install install-dev worker beat clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml tests/rp/package-lock.json | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e ".[dev]"
	@# Real JavaScript RP library for the conformance tests (skipped when npm is missing).
	@if command -v npm >/dev/null 2>&1; then \
	  cd tests/rp && npm ci --no-audit --no-fund --silent; \
	else echo "npm not found: the openid-client tests will be skipped"; fi
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## run: serve Portcullis on http://$(HOST):$(PORT) (SQLite, no Redis, tasks run eagerly) and
## the demo relying party on http://127.0.0.1:$(DEMO_PORT)
run: install
	@export DEBUG=1 IDP_ISSUER=$${IDP_ISSUER:-http://$(HOST):$(PORT)} DEMO_RP_PORT=$(DEMO_PORT); \
	$(PY) manage.py bootstrap && \
	$(PY) examples/demo_rp/register.py && \
	echo "" && \
	echo "  Portcullis:  $$IDP_ISSUER/login   (admin: $$IDP_ISSUER/admin/)" && \
	echo "  Demo app:    http://127.0.0.1:$(DEMO_PORT)/   (click 'Sign in with Portcullis')" && \
	echo "" && \
	{ $(PY) examples/demo_rp/app.py & demo=$$!; \
	  trap 'kill $$demo 2>/dev/null' EXIT INT TERM; \
	  $(PY) manage.py runserver --noreload $(HOST):$(PORT); }

## test: the whole suite (SQLite unless DATABASE_URL is set; Redis if REDIS_URL is set)
test: install-dev
	$(PY) -m pytest $(PYTEST_ARGS)

## test-pg: the whole suite on the local PostgreSQL and Redis
test-pg: install-dev
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/portcullis} \
	REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/0} $(PY) -m pytest $(PYTEST_ARGS)

## bench: the benchmark in the production configuration (PostgreSQL, Redis, DEBUG off), about
## 10 minutes; table and JSON in bench/results/ (see docs/performance.md). BENCH_ARGS adds options.
bench: install-dev
	$(PY) bench/run.py $(BENCH_ARGS)

## bench-smoke: every scenario for 2 s each, errors fail it, no speed thresholds (CI)
bench-smoke: install-dev
	$(PY) bench/run.py --smoke $(BENCH_ARGS)

e2e: install-dev
	$(PY) -m pytest -m e2e $(PYTEST_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: install-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

migrations-check: install-dev
	DEBUG=1 $(PY) manage.py makemigrations --check --dry-run

check-deploy: install
	DEBUG=0 SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))') \
	$(PY) manage.py check --deploy --fail-level WARNING

worker: install
	$(VENV)/bin/celery -A idp worker --loglevel=INFO

beat: install
	$(VENV)/bin/celery -A idp beat --loglevel=INFO

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .ruff_cache
