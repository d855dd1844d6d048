# Conveyor: `make run` starts the whole platform on this machine, `make test` runs the suite.
# Both create the virtualenv first (and reinstall when requirements.txt changed).
#
#   make run                         web :8000, worker, beat, Flower :5555 (embedded defaults)
#   make test PYTEST_ARGS="-x -k sleep"
#   make lint                        ruff and mypy, as .ci/run and the pre-commit hooks run them
#   make run VENV=/elsewhere/venv PYTHON=python3.12

PYTHON ?= python3
VENV ?= .venv
PYTEST_ARGS ?=

VENV_PYTHON := $(VENV)/bin/python
# Touched after every successful install: newer than requirements.txt means up to date.
STAMP := $(VENV)/.requirements.stamp

# `make worker`: one more worker on this host, for the queues you name.
QUEUE ?= default,system
comma := ,
CONCURRENCY ?= 2
POOL ?= prefork

.DEFAULT_GOAL := help
.PHONY: help venv run test test-fast lint bench soak worker workers-dossiers workers-seed003

help:
	@echo "make run    start web, worker, beat and Flower (Ctrl-C stops all)"
	@echo "make test   run the test suite (PYTEST_ARGS=... passes arguments to pytest)"
	@echo "make test-fast   the unit tier only: no database, no broker, in seconds"
	@echo "make lint   ruff check and mypy (configured in pyproject.toml)"
	@echo "make venv   create $(VENV) and install requirements.txt"
	@echo "make bench  the benchmark against DATABASE_URL/REDIS_URL (BENCH_ARGS=--embedded for the defaults)"
	@echo "make soak   faults under load on a PostgreSQL and Redis of its own (SOAK_ARGS=--small for the CI size)"
	@echo "make worker QUEUE=attachments CONCURRENCY=1   a worker for some queues"
	@echo "make workers-dossiers  the worked example: one worker per queue of the dossier pipeline"

venv: $(STAMP)

$(STAMP): requirements.txt
	@if [ ! -x "$(VENV_PYTHON)" ]; then \
	  if ! $(PYTHON) -c "import sys; sys.exit(sys.version_info < (3, 11))" 2>/dev/null; then \
	    echo "Conveyor needs Python 3.11 or newer, but $(PYTHON) is: $$(command -v $(PYTHON) >/dev/null && $(PYTHON) --version 2>&1 || echo "not found")." >&2; \
	    echo "Install one and name it, e.g.: make run PYTHON=python3.12" >&2; \
	    exit 1; \
	  fi; \
	  echo "creating the virtualenv $(VENV) with $(PYTHON)"; \
	  $(PYTHON) -m venv "$(VENV)"; \
	fi
	"$(VENV_PYTHON)" -m pip install --disable-pip-version-check -r requirements.txt
	@touch "$@"

run: venv
	"$(VENV_PYTHON)" -m config.launcher

test: venv
	"$(VENV_PYTHON)" -m pytest $(PYTEST_ARGS)

# tests/unit needs neither a database nor a broker; tests/integration and tests/acceptance do
test-fast: venv
	"$(VENV_PYTHON)" -m pytest tests/unit $(PYTEST_ARGS)

# Both tools always run, so that one report shows everything; the target fails if either does.
lint: venv
	@status=0; \
	echo "== ruff check"; "$(VENV)/bin/ruff" check . || status=1; \
	echo "== mypy"; "$(VENV)/bin/mypy" . || status=1; \
	exit $$status

bench: venv
	"$(VENV_PYTHON)" -m bench $(BENCH_ARGS)

soak: venv
	"$(VENV_PYTHON)" -m soak $(SOAK_ARGS)

# A worker for the queues in QUEUE with CONCURRENCY processes; start as many as you need, on
# any host that reaches the same database and Redis.
worker: venv
	"$(VENV_PYTHON)" -m celery -A config worker -Q "$(QUEUE)" -c "$(CONCURRENCY)" -P "$(POOL)" \
	  -n "$(firstword $(subst $(comma), ,$(QUEUE)))-$$$$@%h" -l INFO

# The dossier pipeline's topology: attachments one at a time, dossiers four at a time,
# everything else one at a time. The handlers' own concurrency limits hold across hosts
# whatever runs here; the process counts only decide how much each host takes on.
workers-dossiers: venv
	PATH="$(abspath $(VENV))/bin:$$PATH" "$(VENV_PYTHON)" -m honcho start -f deploy/Procfile.dossiers

# the target's earlier name, kept for scripts that use it
workers-seed003: workers-dossiers
