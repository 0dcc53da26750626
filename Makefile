# Two entry points for people: `make book` and `make test` (see README.md).
# Everything else here is set-up they depend on, each step idempotent.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON_BOOT ?= python3.11
VENV        := .venv
PY          := $(VENV)/bin/python
PIP_VERSION := 26.3
# The stamp is named after a hash of the pins and the package metadata: changing
# either re-runs the install, re-running with nothing changed does nothing.
REQ_HASH    := $(shell cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)
VENV_STAMP  := $(VENV)/.installed-$(REQ_HASH)

MATHJAX_VERSION := 3.2.2
MATHJAX_DIR     := _mathjax/mathjax
MATHJAX_STAMP   := $(MATHJAX_DIR)/.version-$(MATHJAX_VERSION)

BUILD_DIR  := _build
JB_FLAGS   := -W -n --keep-going --all
PYTEST_N   ?= 2

# Reproducible, quiet, single-threaded numerics in every command below.
# Matplotlib: headless everywhere, but NOT Agg: a notebook kernel started with
# MPLBACKEND=Agg displays no figure at all (the book would lose every plot).
# The inline backend is headless in plain processes too.
export MPLBACKEND            := module://matplotlib_inline.backend_inline
export PYTHONHASHSEED        := 0
export OMP_NUM_THREADS       ?= 1
export OPENBLAS_NUM_THREADS  ?= 1
export MKL_NUM_THREADS       ?= 1
export PYDEVD_DISABLE_FILE_VALIDATION := 1
export JUPYTER_PLATFORM_DIRS := 1
export SE_OFFLINE            := true
export SE_AVOID_STATS        := true
# Jupyter kernels and tools resolve to the project environment.
export VIRTUAL_ENV           := $(CURDIR)/$(VENV)
export PATH                  := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help venv mathjax browser setup book test clean distclean \
        benchmarks bench-gmm bench-bayesian-gmm bench-lda bench-dask bench-dask-bayesian-gmm bench-codegen \
        bench-engine bench-typeset bench-soundness bench-soundness-scale bench-chain-check bench-svi-engine fuzz equations

help:
	@echo "make book   build the book into $(BUILD_DIR)/html (jupyter-book -W -n)"
	@echo "make test   run every test: unit, notebooks (nbval), book build, browser"
	@echo "make venv   create/refresh $(VENV) from requirements.txt (idempotent)"
	@echo "make clean  remove $(BUILD_DIR) and caches"
	@echo "make benchmarks   every figure of benchmarks/ (long; see benchmarks/README.md), or one:"
	@echo "  bench-gmm bench-bayesian-gmm bench-lda bench-dask bench-dask-bayesian-gmm bench-codegen bench-engine"
	@echo "  bench-typeset bench-soundness (2,000 random models) bench-soundness-scale bench-chain-check bench-svi-engine"
	@echo "  fuzz (vi_impl against bad inputs) equations (before/after screenshots of five displays)"

venv: $(VENV_STAMP)

$(VENV_STAMP): requirements.txt pyproject.toml
	@if [ ! -x $(PY) ]; then \
	  echo "creating $(VENV) with $(PYTHON_BOOT)"; \
	  $(PYTHON_BOOT) -m venv $(VENV); \
	fi
	$(PY) -m pip install --quiet --disable-pip-version-check pip==$(PIP_VERSION)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(PY) -m pip check
	rm -f $(VENV)/.installed-*
	touch $@

# MathJax 3 from the npm registry, served from the build so math renders offline.
mathjax: $(MATHJAX_STAMP)

$(MATHJAX_STAMP):
	@tmp=$$(mktemp -d); \
	trap 'rm -rf "$$tmp"' EXIT; \
	npm install --prefix "$$tmp" --no-save --no-audit --no-fund --loglevel=error mathjax@$(MATHJAX_VERSION) >/dev/null; \
	test -f "$$tmp/node_modules/mathjax/es5/tex-mml-chtml.js"; \
	rm -rf $(MATHJAX_DIR); mkdir -p $(MATHJAX_DIR); \
	cp -R "$$tmp/node_modules/mathjax/es5/." $(MATHJAX_DIR)/; \
	cd $(MATHJAX_DIR) && rm -rf output/svg output/svg.js *-svg*.js tex-chtml*.js mml-chtml.js node-main.js latest.js && cd - >/dev/null; \
	touch $@; \
	echo "MathJax $(MATHJAX_VERSION) installed in $(MATHJAX_DIR)"

# Debian's chromium + chromedriver for tests/book/test_browser.py (installed when missing and root).
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing chromium and chromium-driver (Debian)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else \
	  echo "WARNING: chromium/chromedriver missing and cannot be installed here; tests/book/test_browser.py fails when CI=true"; \
	fi

setup: venv mathjax

book: setup
	$(VENV)/bin/jupyter-book build . $(JB_FLAGS) --path-output .

test: setup browser
	$(PY) -m pytest -n $(PYTEST_N) --dist loadgroup --no-loadscope-reorder --durations=15 $(PYTEST_ARGS)

# Long profiles and speed figures: never part of `make test` (timings depend on the machine).
# Each writes its results to benchmarks/results/ (see benchmarks/README.md).
BENCH := nice $(PY) benchmarks
RESULTS := benchmarks/results

benchmarks: bench-gmm bench-bayesian-gmm bench-lda bench-codegen bench-engine bench-typeset bench-soundness bench-soundness-scale bench-chain-check bench-svi-engine fuzz equations bench-dask bench-dask-bayesian-gmm

bench-gmm: setup
	$(BENCH)/bench_gmm.py --clock cpu --json $(RESULTS)/gmm.json
	$(BENCH)/bench_gmm.py --threads 2 --sizes 1e6 --no-sklearn --no-convergence \
	    --json $(RESULTS)/gmm.json --merge
bench-bayesian-gmm: setup
	$(BENCH)/bench_bayesian_gmm.py --json $(RESULTS)/bayesian_gmm.json
bench-lda: setup
	$(BENCH)/bench_lda.py --json $(RESULTS)/lda.json
bench-dask: setup
	$(BENCH)/bench_dask.py --json $(RESULTS)/dask.json
bench-dask-bayesian-gmm: setup
	$(BENCH)/bench_dask_bayesian_gmm.py --json $(RESULTS)/dask_bayesian_gmm.json
bench-codegen: setup
	$(BENCH)/bench_codegen.py
bench-engine: setup
	$(BENCH)/bench_engine.py --json $(RESULTS)/engine.json
bench-typeset: setup
	$(BENCH)/bench_typeset.py
bench-soundness: setup
	$(BENCH)/bench_soundness.py --models 2000
bench-soundness-scale: setup
	$(BENCH)/bench_soundness_scale.py --old 200 --extended 100
bench-chain-check: setup
	$(BENCH)/bench_chain_check.py --label after --random 100 --extended 100
bench-svi-engine: setup
	$(BENCH)/bench_svi_engine.py --json $(RESULTS)/svi_engine.json
equations: setup mathjax browser
	nice $(PY) tools/equation_screenshots.py
fuzz: setup
	$(BENCH)/fuzz_vi_impl.py --quiet --json $(RESULTS)/fuzz_vi_impl.json

clean:
	rm -rf $(BUILD_DIR) .pytest_cache .hypothesis

distclean: clean
	rm -rf $(VENV) _mathjax *.egg-info
