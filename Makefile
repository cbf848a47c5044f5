# Every target builds its own virtualenv from pyproject.toml first, so a fresh machine with only
# Python 3.11 needs nothing else: `make demo`, `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# What each target needs, installed once per change of pyproject.toml: the demo the runtime only
# (no test, bench or Ray libraries); the tests their extras; the benchmarks the peer libraries.
RUNTIME := $(VENV)/.runtime
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench

.PHONY: demo test docs lint bench soak clean

$(RUNTIME): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUNTIME)

$(STAMP): $(RUNTIME)
	$(BIN)/python -m pip install --quiet -e ".[test,lint,ray,docs]"
	touch $(STAMP)

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	touch $(BENCH_STAMP)

# The main job: the paper-venue demo (no network, no credentials, under a minute).
demo: $(RUNTIME)
	$(BIN)/exitguard demo --out demo-output

# The status page's browser tests drive Debian's Chromium: scripts/ensure-browser installs it when
# missing and root (CI), or says why those tests will be skipped.
test: $(STAMP) docs
	scripts/ensure-browser
	$(BIN)/python -m pytest

# The documentation site into site/ (git-ignored). --strict turns every warning (a broken link, a
# page missing from the nav) into a failure; the theme fetches nothing at build time (no fonts from
# a CDN: theme.font is false). The generated reference pages are checked by tests/test_docs.py;
# `$(BIN)/python scripts/gen_docs.py` rewrites them. Not --quiet: it hides the warnings that
# --strict counts, and the build then passes with broken links (mkdocs 1.6).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

bench: $(BENCH_STAMP)
	for b in bench/bench_*.py; do $(BIN)/python $$b || exit 1; done

# Chaos soak (src/exitguard/soak): the venue and `exitguard run` as subprocesses under a seeded
# scenario of prices, positions, faults and kill -9; prints the invariant report (JSON, stdout;
# progress on stderr) and fails when an invariant broke. Ten minutes by default.
SOAK_SECONDS ?= 600
SOAK_SEED ?= 1
soak: $(STAMP)
	$(BIN)/python -m exitguard.soak --seconds $(SOAK_SECONDS) --seed $(SOAK_SEED)

clean:
	rm -rf $(VENV) build dist site src/*.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
