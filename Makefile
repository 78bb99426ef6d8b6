# Every target creates the project's venv and installs '.[dev]' and the local
# stack (local/, its own distribution) first when needed, so a fresh clone needs
# nothing installed by hand.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Held while installing: `make demo` started while `make run` still installs
# waits instead of running a second pip over the same venv. If an install was
# killed with SIGKILL, remove it by hand.
LOCK := .venv.lock
PYTEST_ARGS ?=

.PHONY: install test lint format template run demo bench bench-fleet image deploy clean

install: $(STAMP)

$(STAMP): pyproject.toml local/pyproject.toml
	@if ! mkdir $(LOCK) 2>/dev/null; then \
	  echo "another make is installing $(VENV); waiting for it" >&2; \
	  until mkdir $(LOCK) 2>/dev/null; do sleep 1; done; \
	fi; \
	trap 'rmdir $(LOCK)' EXIT; \
	if [ -f $(STAMP) ] && [ $(STAMP) -nt pyproject.toml ] && [ $(STAMP) -nt local/pyproject.toml ]; then \
	  exit 0; \
	fi; \
	set -e; \
	$(PYTHON) -m venv $(VENV); \
	$(BIN)/python -m pip install --quiet --upgrade pip; \
	$(BIN)/python -m pip install --quiet -e '.[dev]' -e ./local; \
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Install (or update only if it changed) the Kapacitor template, from the same
# environment settings as the functions (KAPACITOR_URL, KAPACITOR_TEMPLATE_ID, ...).
template: $(STAMP)
	$(BIN)/deadmanctl install-template

# Benchmarks (a few minutes on 2 cores): bench/results.json, bench/results.md.
bench: $(STAMP)
	$(BIN)/python bench/run.py

# A fleet of thousands of tasks on the real servers (about 32 minutes, up to ~15 GiB
# of Kapacitor memory): bench/results.json ("fleet"), bench/results-fleet.md.
bench-fleet: $(STAMP)
	$(BIN)/python bench/fleet.py

IMAGE ?= quay.io/example/deadman-functions:0.1.0
CONTAINER_ENGINE ?= $(shell command -v podman 2>/dev/null || command -v docker 2>/dev/null)

# One image for every function; FUNCTION_TARGET picks the function at run time.
image:
	@test -n "$(CONTAINER_ENGINE)" || { echo "image: podman or docker is needed" >&2; exit 1; }
	$(CONTAINER_ENGINE) build -f Containerfile -t $(IMAGE) .

# The installer Job is deleted first so that every deploy re-runs it (it is idempotent).
deploy:
	kubectl -n deadman delete job deadman-install-template --ignore-not-found
	kubectl apply -k knative
	kubectl apply -k kafka-sources

clean:
	rm -rf $(VENV) $(LOCK) .pytest_cache .mypy_cache .ruff_cache .hypothesis

# The whole loop on this machine (Ctrl-C stops it); `make demo` in another terminal.
run: $(STAMP)
	$(BIN)/deadman-local run

demo: $(STAMP)
	$(BIN)/deadman-local demo
