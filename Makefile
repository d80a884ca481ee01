# Every task has one entry point; run.sh holds the setup logic shared with CI.
SHELL := /bin/bash
export PATH := $(CURDIR)/.tools/bin:$(PATH)
export BENTOML_HOME ?= $(CURDIR)/.state/bentoml
export BENTOML_DO_NOT_TRACK := true
PY := .venv/bin/python

.PHONY: setup serve test lint bento container container-load loadtest loadtest-smoke compare bench fuzz soak requirements

setup:
	./run.sh setup

serve:
	./run.sh serve

test:
	./run.sh test

lint:
	./run.sh lint

# Python packages of the Bento, pinned from uv.lock (tests check they stay in sync).
requirements: setup
	.tools/bin/uv export --frozen --no-dev --no-hashes --no-emit-project --no-header -q \
		> requirements/bento.txt

# Offline: lock_packages is off and uv comes from .tools/, so nothing is resolved remotely.
bento: setup
	.venv/bin/firstpitch up
	.venv/bin/bentoml build --output tag

# The image of the Bento, built offline (deploy/container/README.md): Docker is installed and
# started when missing; CONTAINER_BASE=local is a Debian base made here with debootstrap, or
# name an image to start from (python:3.11-slim is BentoML's usual one). Prints size and time.
CONTAINER_BASE ?= local
IMAGE ?= firstpitch:latest
container: bento
	FIRSTPITCH_CONTAINER_BASE=$(CONTAINER_BASE) deploy/container/build.sh firstpitch:latest $(IMAGE)

# Locust (thresholds.yaml) through the compose stack's Bento container next to the host's run,
# then faults under load: Redis stopped/started, Postgres restarted, the Bento SIGTERMed.
# Figures: reports/container/summary.json (README, "Containers under load").
container-load: container
	$(PY) loadtests/container_runs.py

loadtest: setup
	$(PY) loadtests/run_loadtest.py

loadtest-smoke: setup
	$(PY) loadtests/run_loadtest.py --smoke

compare: setup
	$(PY) loadtests/compare/run_compare.py

# Long schemathesis run against a running service, e.g. `./run.sh serve`; the key (both
# scopes, a high rate limit) comes from $FIRSTPITCH_FUZZ_API_KEY. Summary: reports/fuzz/.
FUZZ_URL ?= http://127.0.0.1:3000
FUZZ_EXAMPLES ?= 500
fuzz: setup
	$(PY) loadtests/fuzz_api.py --url $(FUZZ_URL) --max-examples $(FUZZ_EXAMPLES)

# The fault scenarios of tests/faults with every phase stretched (reports/soak/summary.json).
SOAK_SCALE ?= 10
soak: setup
	$(PY) loadtests/soak_faults.py --scale $(SOAK_SCALE)

bench: setup
	$(PY) loadtests/bench_service.py
	$(PY) loadtests/feature_store_bench.py
	$(PY) loadtests/bench_feature_miss.py
	$(PY) loadtests/bench_prediction_log.py
	$(PY) loadtests/bench_log_overhead.py
	$(PY) loadtests/bench_background_floor.py
	$(PY) loadtests/bench_model_stats.py
	$(PY) loadtests/bench_stream.py
	$(PY) loadtests/bench_shadow.py
	$(PY) loadtests/bench_workers.py
	$(PY) loadtests/bench_per_game.py
