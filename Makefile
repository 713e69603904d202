# The README's two commands: `make run` and `make test`. Everything else here serves them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
HOST ?= 127.0.0.1
PORT ?= 5000
DEMO_PORT ?= 5001
# The Host names Signet answers (and builds links from) when run here; any other Host gets a 400
# (docs/DEPLOY.md). Serving on another name or address: make run SIGNET_TRUSTED_HOSTS=name,…
SIGNET_TRUSTED_HOSTS ?= $(HOST),localhost,127.0.0.1
PYTEST_ARGS ?=

.PHONY: run test install install-dev system-deps migrate demo serve-only clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall only when a requirements file changed.
$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

# The Node libraries the dashboard's signing samples use (tests/test_samples.py runs them).
SAMPLES := tests/samples
$(SAMPLES)/node_modules/.package-lock.json: $(SAMPLES)/package.json $(SAMPLES)/package-lock.json
	npm ci --prefix $(SAMPLES) --no-audit --no-fund --loglevel=error

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev $(SAMPLES)/node_modules/.package-lock.json

# Debian's Chromium (browser tests), the PostgreSQL and Redis servers, openssl (test keys), Node.js
# and npm, Ruby with ruby-jwt and rbnacl (the signing samples tests/test_samples.py runs), when missing and root.
system-deps:
	@missing=""; \
	command -v node >/dev/null 2>&1 || missing="$$missing nodejs"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	ruby -e 'require "jwt"; require "rbnacl"' >/dev/null 2>&1 || missing="$$missing ruby ruby-jwt ruby-rbnacl"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	command -v openssl >/dev/null 2>&1 || missing="$$missing openssl"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "please install:$$missing (apt-get install$$missing)"; exit 1; fi; \
	fi

migrate: install
	$(FLASK) db upgrade

demo: migrate
	@$(FLASK) signet demo --if-missing --quiet --base-url http://$(HOST):$(PORT) \
	  --site-url http://localhost:$(DEMO_PORT) >/dev/null

# Requests are read whole on the worker's event loop before a thread takes them, so slow clients
# cannot pin the threads (webapp/infra/serving.py; tests/test_slow_clients.py).
WORKER = --worker-class webapp.infra.serving.BufferingWorker

# The two servers and the outbox worker (webhooks, staff mails) under one supervisor
# (webapp/infra/devserve.py): Ctrl-C stops all three and frees both ports. Each command follows a `--`; NAME=value words before the program are its environment.
SERVE = $(BIN)/python -m webapp.infra.devserve \
	-- SIGNET_DEMO_SIGNET_URL=http://$(HOST):$(PORT) $(BIN)/gunicorn --bind localhost:$(DEMO_PORT) --workers 1 \
	  --threads 4 $(WORKER) --log-level warning --no-control-socket demo.app:app \
	-- SIGNET_TRUSTED_HOSTS=$(SIGNET_TRUSTED_HOSTS) $(BIN)/gunicorn --bind $(HOST):$(PORT) --workers 1 --threads 8 $(WORKER) \
	  --no-control-socket --access-logfile - wsgi:app \
	-- SIGNET_PUBLIC_URL=http://$(HOST):$(PORT) $(FLASK) signet worker

# Signet on $(HOST):$(PORT) and the demo customer site on another origin (localhost:$(DEMO_PORT)).
# Other ports: make run PORT=8000 DEMO_PORT=8001
run: demo
	@echo ""
	@echo "Signet is starting on http://$(HOST):$(PORT)"
	@$(BIN)/python -m webapp.devinfo http://$(HOST):$(PORT) http://localhost:$(DEMO_PORT)
	@$(SERVE)

# The servers alone, exactly as `make run` starts them, with no install or migration
# (tests/test_make_run.py interrupts this the way a terminal's Ctrl-C does).
serve-only:
	@$(SERVE)

# The whole suite, skipping nothing: without SIGNET_TEST_POSTGRES_URL, tests/pg_cluster.py runs it
# against a throwaway PostgreSQL cluster of its own (a temporary folder, removed afterwards).
test: system-deps install-dev
	@$(BIN)/python tests/pg_cluster.py -- $(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: that is a failure here"; exit 1; fi; \
	exit $$status

clean:
	rm -rf $(VENV) .pytest_cache
