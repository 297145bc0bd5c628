# withdrawguard: `make demo` runs it, `make test` checks it. `make help` lists the rest.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LOCAL := .local

.PHONY: help venv lock audit up down status topics worker demo demo-stop lint format check-monitoring browser test test-unit test-integration test-faults cluster-up cluster-down cluster-status dashboard-snapshot bench-deps bench-throughput bench-latency bench-notify-soak clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "withdrawguard needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -c requirements.lock -e . --group dev
	@touch $@

venv: $(STAMP) ## create .venv and install the package with its test and lint tools (versions from requirements.lock)

lock: $(STAMP) ## rewrite requirements.lock from .venv (after upgrading a dependency there)
	@{ echo "# Every package of .venv (runtime, test, lint, audit), pinned. make lock writes it;"; \
	   echo "# make venv installs these versions; make audit checks them (docs/security.md)."; \
	   $(VENV)/bin/pip freeze --exclude-editable; } > requirements.lock
	@echo "requirements.lock: $$(grep -c '==' requirements.lock) packages"

audit: $(STAMP) ## pip-audit: known vulnerabilities in requirements.lock; every package must be checked (needs PyPI's JSON API)
	$(PY) scripts/audit.py $(AUDIT_FLAGS)

up: $(STAMP) ## start Kafka and Redis (Docker if it works, else local jars + redis-server)
	@scripts/stack.sh up

down: ## stop the services `make up` started, and the demo worker
	@scripts/worker.sh stop
	@scripts/stack.sh down

status: $(STAMP) ## say whether each service is up or down
	@scripts/stack.sh status; scripts/worker.sh status

topics: up ## create every topic (idempotent)
	@$(VENV)/bin/withdrawguard topics create

worker: topics ## run the worker in the foreground
	$(VENV)/bin/withdrawguard worker

demo: topics ## the main job: start the stack and the worker, simulate customers and every attack playbook, show what was held
	@$(PY) scripts/demo.py

lint: $(STAMP) ## ruff (lint and format check) and mypy --strict on src/
	$(VENV)/bin/ruff check src tests scripts bench
	$(VENV)/bin/ruff format --check src tests scripts bench
	$(VENV)/bin/mypy

format: $(STAMP) ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix src tests scripts bench
	$(VENV)/bin/ruff format src tests scripts bench

check-monitoring: ## promtool: the Prometheus config and alert rules load, and the rules' own tests pass
	@scripts/ensure-deb.sh prometheus promtool
	promtool check config deploy/prometheus/prometheus.yml
	promtool check config deploy/prometheus/prometheus.compose.yml
	promtool check rules deploy/prometheus/alerts.yml
	promtool test rules deploy/prometheus/alerts.test.yml

browser: $(STAMP) ## Debian's chromium for the browser test (Playwright drives it; nothing downloaded)
	@scripts/ensure-deb.sh chromium chromium

test-unit: $(STAMP) ## unit and agent tests only (no services needed; seconds)
	$(VENV)/bin/pytest tests/unit tests/agents -q

test-integration: up ## integration tests against the real Kafka and Redis
	$(VENV)/bin/pytest tests/integration -q

cluster-up: $(STAMP) ## start a local three-node Kafka cluster (KRaft, RF 3, min.insync 2) and a Redis on ports 29092-29094, 29192-29194, 29379
	@scripts/kafka-cluster.sh up

cluster-down: ## stop the three-node cluster and remove its data (.local/cluster)
	@scripts/kafka-cluster.sh down

cluster-status: $(STAMP) ## say whether each node of the cluster is up, and whether any partition is under-replicated
	@scripts/kafka-cluster.sh status

test-faults: up cluster-up ## the fault suite at full size, 100,000 events a fault, the three-broker faults included (over an hour on 2 cores); figures in .local/faults
	WG_FAULT_EVENTS=$${WG_FAULT_EVENTS:-100000} $(VENV)/bin/pytest tests/faults -q -s
	$(PY) -m tests.faults.report

test: lint check-monitoring browser up ## lint, types, promtool, unit, agent, browser, integration tests and eight fault tests at 6,000 events (all faults: make test-faults)
	$(VENV)/bin/pytest -q -m "not faults or fault_smoke" --durations=30

dashboard-snapshot: up ## redraw docs/img/dashboard.png from a worker's /metrics (installs matplotlib, the docs group)
	$(VENV)/bin/pip install -q --group docs
	$(PY) bench/dashboard_snapshot.py

bench-deps: $(STAMP) ## install the benchmarks' own group (quixstreams, the peer; pyinstrument, py-spy)
	$(VENV)/bin/pip install -q --group bench

bench-throughput: bench-deps up ## events/s: raw consumer ceiling, quixstreams peer, 1 and 2 workers (bench/throughput.py)
	$(PY) bench/throughput.py

bench-latency: bench-deps up ## decision latency and worker RSS at 50% and 80% of the maximum (bench/latency.py)
	$(PY) bench/latency.py

bench-notify-soak: bench-deps up ## worker RSS while its webhooks fail for 10 minutes of alerts, then every alert delivered once (bench/notify_soak.py)
	$(PY) bench/notify_soak.py

clean: down cluster-down ## stop everything and remove .local (data, jars, logs) and .venv
	rm -rf $(LOCAL) $(VENV)
