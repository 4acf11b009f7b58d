# Two commands on a fresh Debian or Ubuntu machine: `make demo` and `make test`.
# Both install what is missing: Debian packages (with sudo when not root) and .venv.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The Debian packages `system-deps` installs when their commands are missing.
APT_PACKAGES := mosquitto mosquitto-clients influxdb python3-venv poppler-utils postgresql \
	chromium nats-server
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

MQTT_PORT ?= 1883
INFLUX_PORT ?= 8086
ALERTS_PORT ?= 8000
METRICS_PORT ?= 9108
MAIL_PORT ?= 1025
export MQTT_PORT INFLUX_PORT ALERTS_PORT METRICS_PORT MAIL_PORT

.PHONY: demo cluster-demo test test-lint-and-unit test-unit test-integration test-e2e test-faults test-cluster test-faults-and-cluster bench-smoke lint lock schemas \
	dashboards screenshots examples system-deps clean-demo bench

demo: system-deps $(VENV)/.installed
	$(BIN)/coldchain-demo configure
	$(BIN)/coldchain-demo banner
	$(BIN)/honcho --procfile Procfile --env /dev/null start

# The same hub on the cluster of compose.cluster.yaml: three NATS nodes, two ingest
# workers, two alerts services (ALERTS_PORT and the next) on PostgreSQL; fresh each time.
cluster-demo: system-deps $(VENV)/.installed
	$(BIN)/coldchain-demo cluster

# The test layers of STYLE.md, in turn; each runs alone too (`make test-unit`) and says
# how long it took. Above the unit layer, workers take one test file each at a time:
# most tests wait for real servers, so three share two cores well in the integration
# and e2e layers (459 s against 609 s with two, on the same loaded machine); the
# faults layer, which kills and restarts processes on deadlines, keeps two (CI's budget
# is 15 minutes).
LAYERS := lint-and-unit integration e2e faults-and-cluster
test: system-deps $(VENV)/.installed $(addprefix test-,$(LAYERS))

test-unit: $(VENV)/.installed
	@start=$$(date +%s); $(BIN)/pytest tests/unit; status=$$?; 	echo "test-unit: $$(( $$(date +%s) - start )) s"; exit $$status

# The linters beside the unit layer: mypy and pytest each keep one core busy.
test-lint-and-unit: system-deps $(VENV)/.installed
	@$(MAKE) --no-print-directory --jobs 2 --output-sync=target lint test-unit

WORKERS_integration := 3
WORKERS_e2e := 3
WORKERS_faults := 2
test-integration test-e2e test-faults: test-%: system-deps $(VENV)/.installed
	@start=$$(date +%s); $(BIN)/pytest --numprocesses $(WORKERS_$*) --dist loadfile tests/$*; 	status=$$?; echo "test-$*: $$(( $$(date +%s) - start )) s"; exit $$status

# The NATS cluster (docs/scaling.md). Its tests mostly wait for leases, takeovers and
# timeouts (about a fifth of two cores), so two workers share it, the long fault test
# first (tests/cluster/conftest.py): 138 s alone against 268 s with one worker (18
# tests; 20 now take 170 to 185 s).
test-cluster: system-deps $(VENV)/.installed
	@start=$$(date +%s); $(BIN)/pytest --numprocesses 2 --dist loadfile --no-loadscope-reorder \
		tests/cluster; status=$$?; echo "test-cluster: $$(( $$(date +%s) - start )) s"; exit $$status

# The faults and cluster layers side by side, each one's output printed whole when it
# ends: about 195 to 210 s for both, against 340 s one after the other.
test-faults-and-cluster: system-deps $(VENV)/.installed
	@$(MAKE) --no-print-directory --jobs 2 --output-sync=target test-faults test-cluster

# A small run of the benchmark suite: its machinery works and loses nothing.
bench-smoke: system-deps $(VENV)/.installed
	$(BIN)/pytest bench/test_smoke.py

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

schemas: $(VENV)/.installed
	$(BIN)/coldchain-contract-schemas docs/contract

# The benchmark suite against the peers; rewrites docs/performance.md (about 20 minutes).
# BENCH_ARGS passes options to bench.run, e.g. BENCH_ARGS="--rounds 1 --skip compliance".
NODE_RED := bench/peers/node-red
bench: system-deps $(VENV)/.installed $(NODE_RED)/node_modules/.installed
	$(BIN)/pip install -q -r bench/requirements.txt
	$(BIN)/python -m bench.run $(BENCH_ARGS)

$(NODE_RED)/node_modules/.installed: $(NODE_RED)/package.json $(NODE_RED)/package-lock.json
	command -v npm >/dev/null || ($(SUDO) apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q nodejs npm)
	cd $(NODE_RED) && npm ci --no-audit --no-fund
	touch $@

# The German screenshots of the alerts pages that docs/alerts.md shows, taken by a browser test.
screenshots: system-deps $(VENV)/.installed
	COLDCHAIN_SCREENSHOTS=docs/images $(BIN)/pytest -q \
		tests/e2e/test_alerts_browser_inbox.py::test_screenshots_for_the_docs

# The German example report and certificate of docs/compliance.md, made again through the
# real pipeline (the clock-change weekend replayed, one reading a minute; under a minute).
examples: system-deps $(VENV)/.installed
	$(BIN)/coldchain-demo examples docs/examples

# Grafana dashboards as code: regenerate dashboards/{de,en}/*.json (the hub's) and
# dashboards/sites/{site}/{de,en}/*.json from the fleet file, and Grafana's providers.
FLEET ?= fleet/dortmund-hub.yaml
dashboards: $(VENV)/.installed
	$(BIN)/coldchain-dashboards build --per-site --out dashboards --fleet $(FLEET) \
		--provisioning deploy/grafana/provisioning/dashboards/coldchain.yaml

system-deps:
	@missing=""; \
	command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || missing="$$missing mosquitto"; \
	command -v mosquitto_pub >/dev/null || missing="$$missing mosquitto-clients"; \
	command -v influxd >/dev/null || missing="$$missing influxdb"; \
	command -v pdftotext >/dev/null || missing="$$missing poppler-utils"; \
	ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || missing="$$missing nats-server"; \
	$(PYTHON) -c 'import ensurepip' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing (of $(APT_PACKAGES))"; \
		$(SUDO) apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	fi

# Installs exactly the versions of requirements-dev.lock, which `make lock` resolves from
# requirements-dev.txt and our parts' pyproject.toml (uv pip compile); constraints.txt
# is the same without our own parts, for the images the Dockerfile builds.
$(VENV)/.installed: requirements-dev.lock */pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.lock
	touch $@

lock: $(VENV)/.installed
	$(BIN)/pip install -q uv
	$(BIN)/uv pip compile --quiet --python-version 3.11 requirements-dev.txt \
		-o requirements-dev.lock
	grep -v '^-e ' requirements-dev.lock > constraints.txt

clean-demo:
	rm -rf var
