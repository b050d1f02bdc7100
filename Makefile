# TimeBase: the two commands are `make run` and `make test`; everything else is for developers.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BUF := .tools/node_modules/.bin/buf
PYTEST_WORKERS ?= 2
# TimescaleDB builds for the embedded PostgreSQL (see its README); `make test` installs them.
TIMESCALEDB_DIR ?= ../shared/timescaledb

.PHONY: help run test test-order faults fuzz lint typecheck pytest proto buf clean distclean base-image wheelhouse test-docker bench bench-smoke mutate timescaledb

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "TimeBase needs Python >= 3.11 (set PYTHON=...)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[server,yahoo,ccxt,dev]'
	@touch $@

run: $(STAMP) ## Start TimeBase in the foreground (embedded PostgreSQL unless TIMEBASE_DATABASE_URL is set)
	$(BIN)/timebase serve

# A private temporary directory per run: pytest's shared one is pruned by other concurrent runs.
# The fault suite (tests/faults/, marker `faults`: databases and providers killed under load) runs
# after the rest, on its own, one test at a time (about 2 minutes; timing on 2 cores).
test: $(STAMP) lint timescaledb ## Lint, type-check and run the whole test suite (on PostgreSQL and TimescaleDB)
	@tmp=$$(mktemp -d "$${TMPDIR:-/tmp}/timebase-test.XXXXXX"); trap 'rm -rf "$$tmp"' EXIT; \
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --basetemp="$$tmp/pytest" --cov --cov-report= \
		-m "not faults" $(PYTEST_ARGS); \
	$(BIN)/python -m pytest --basetemp="$$tmp/faults" --cov --cov-append \
		--cov-report=term:skip-covered -m faults tests/faults

faults: $(STAMP) ## Run only the fault suite (tests/faults/), one test at a time
	@tmp=$$(mktemp -d "$${TMPDIR:-/tmp}/timebase-faults.XXXXXX"); trap 'rm -rf "$$tmp"' EXIT; \
	$(BIN)/python -m pytest --basetemp="$$tmp/pytest" -m faults -s tests/faults $(PYTEST_ARGS)

# Tests run in a random order (pytest-randomly; the seed is printed as "Using --randomly-seed=N").
# test-order runs the suite without the Docker and fault tests once more, in another order (.ci/run
# calls it after `make test`): SEED=N repeats an order; by default a new random seed, printed.
test-order: $(STAMP) ## Run the suite without Docker tests in another random order (SEED=N to repeat one)
	@tmp=$$(mktemp -d "$${TMPDIR:-/tmp}/timebase-test.XXXXXX"); trap 'rm -rf "$$tmp"' EXIT; \
	seed=$${SEED:-$$($(BIN)/python -c 'import random; print(random.randrange(1, 2**32))')}; \
	echo "test-order: another random order, --randomly-seed=$$seed (repeat: make test-order SEED=$$seed)"; \
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --basetemp="$$tmp/pytest" -q -m "not docker and not faults" \
		-p randomly --randomly-seed="$$seed" $(PYTEST_ARGS)

# The fuzzers (tests/fuzz: schemathesis over REST, hypothesis over gRPC and Flight) run in `make
# test` at scale 1 (about a minute); `make fuzz` runs ten times as many cases (TIMEBASE_FUZZ_SCALE=N
# for another factor). Every run is derandomized: the same cases each time (docs/CONTRIBUTING.md).
fuzz: $(STAMP) ## Run only the fuzzers, with ten times the cases of `make test` (TIMEBASE_FUZZ_SCALE=N)
	@tmp=$$(mktemp -d "$${TMPDIR:-/tmp}/timebase-test.XXXXXX"); trap 'rm -rf "$$tmp"' EXIT; \
	TIMEBASE_FUZZ_SCALE=$${TIMEBASE_FUZZ_SCALE:-10} $(BIN)/python -m pytest -n $(PYTEST_WORKERS) \
		--basetemp="$$tmp/pytest" -p no:randomly tests/fuzz $(PYTEST_ARGS)

# The embedded server preloads TimescaleDB whenever its files are installed (database.embedded_timescaledb:
# auto), so `make run` after this never lands in "installed but not preloaded". Without the builds the
# TimescaleDB test runs skip with one reason (.ci/run sets TIMEBASE_TEST_REQUIRE_TIMESCALEDB: they fail).
timescaledb: $(STAMP) ## Install TimescaleDB into the venv's embedded PostgreSQL (from TIMESCALEDB_DIR, when present)
	@if [ -x $(TIMESCALEDB_DIR)/install.sh ]; then $(TIMESCALEDB_DIR)/install.sh; \
	elif [ -n "$${TIMEBASE_TEST_REQUIRE_TIMESCALEDB:-}" ] && [ -z "$${TIMEBASE_TEST_TIMESCALE_URL:-}" ]; then \
		echo "timescaledb: $(TIMESCALEDB_DIR)/install.sh not found, TIMEBASE_TEST_TIMESCALE_URL unset and TIMEBASE_TEST_REQUIRE_TIMESCALEDB set" >&2; exit 1; \
	else echo "timescaledb: $(TIMESCALEDB_DIR) not found; the TimescaleDB tests need TIMEBASE_TEST_TIMESCALE_URL"; fi

pytest: $(STAMP) ## Run only the test suite (PYTEST_ARGS=... to select)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP) buf ## ruff, mypy and buf lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy gateway sdk flight proto tests
	@# Each provider add-on is its own script folder (src/main.py + siblings): one mypy run each.
	@for src in providers/*/src docs/examples/*/src; do echo "mypy $$src"; MYPYPATH=$$src $(BIN)/mypy $$src; done

# -- benchmarks (benchmarks/, docs/benchmarks.md) ---------------------------------------------
# `make test` runs the smoke sizes too (tests/benchmarks/test_smoke.py), so the scripts never rot.

bench: $(STAMP) ## Run the benchmarks against their baselines (minutes) and write docs/benchmarks.md
	$(BIN)/python benchmarks/run.py --write docs/benchmarks.md

bench-smoke: $(STAMP) ## Run the benchmark scripts at tiny sizes (no side venvs; checks they run)
	$(BIN)/python benchmarks/run.py --smoke

# -- containers (docs/containers.md) -------------------------------------------------------------
# The container tests need a Docker API (DOCKER_HOST or the default socket), the base image and
# the wheelhouse; .ci/run provides all three in CI. Both are cached between runs.

base-image: ## Build a local python:3.11-slim stand-in when the engine lacks it (debootstrap; cached)
	bash .ci/base-image.sh

wheelhouse: $(STAMP) ## Fetch the Python packages the images install into a host-side wheelhouse (cached)
	$(BIN)/python .ci/wheelhouse.py

test-docker: $(STAMP) base-image wheelhouse ## Run only the Docker tests (provider, gateway and compose containers)
	$(BIN)/python -m pytest -m docker $(PYTEST_ARGS)

proto: $(STAMP) ## Regenerate the committed gRPC/protobuf stubs from proto/
	$(BIN)/python proto/generate.py

# buf comes from the npm registry; without npm the proto lint is skipped (the stub test still runs).
buf:
	@if [ -x $(BUF) ] || { command -v npm >/dev/null && npm install --silent --no-audit --no-fund --prefix .tools @bufbuild/buf@1 >/dev/null 2>&1; }; then \
		$(BUF) lint && echo "buf lint: ok"; \
	else echo "buf lint: skipped (npm or the @bufbuild/buf package is not available)"; fi

clean: ## Remove caches and build output (keeps .venv and the data directory)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .coverage .coverage.* build dist

distclean: clean ## Also remove .venv and .tools
	rm -rf $(VENV) .tools

# -- mutation testing (docs/mutation.md) ---------------------------------------------------------

mutate: $(STAMP) ## Mutation-test the gateway core with mutmut (one worker, minutes) and report survivors
	$(BIN)/python tests/mutation/run.py $(MUTATE_ARGS)
