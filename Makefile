# Every target builds its own virtualenv from pyproject.toml first, so a fresh machine with only
# Python 3.11 needs nothing else: `make demo`, `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench soak clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# The main job: the paper-venue demo (no network, no credentials, under a minute).
demo: $(STAMP)
	$(BIN)/exitguard demo --out demo-output

# The status page's browser tests drive Debian's Chromium: scripts/ensure-browser installs it when
# missing and root (CI), or says why those tests will be skipped.
test: $(STAMP)
	scripts/ensure-browser
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

bench: $(STAMP)
	for b in bench/bench_*.py; do $(BIN)/python $$b || exit 1; done

# Chaos soak (src/exitguard/soak): the venue and `exitguard run` as subprocesses under a seeded
# scenario of prices, positions, faults and kill -9; prints the invariant report (JSON, stdout;
# progress on stderr) and fails when an invariant broke. Ten minutes by default.
SOAK_SECONDS ?= 600
SOAK_SEED ?= 1
soak: $(STAMP)
	$(BIN)/python -m exitguard.soak --seconds $(SOAK_SECONDS) --seed $(SOAK_SEED)

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
