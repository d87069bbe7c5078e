# The README's two commands, `make test` and `make demo`, each set everything up on their own:
# Debian packages, a Release build (Ninja, ccache, precompiled headers), the .venv with the package
# installed, and its Jupyter kernel.
SHELL := /bin/bash
.DEFAULT_GOAL := test

VENV := .venv
PY := $(VENV)/bin/python
BUILD := build/release
STAMP := $(VENV)/.cotnpot-installed
SOURCES := $(shell find cpp bindings python cmake -type f -not -name '*.pyc' 2>/dev/null) \
           CMakeLists.txt setup.py pyproject.toml VERSION tests/cpp/CMakeLists.txt \
           $(wildcard tests/cpp/*.cpp)

.PHONY: deps install test test-cpp test-python demo bench clean

deps:
	@bash scripts/install-deps.sh

$(PY): | deps
	/usr/bin/python3 -m venv --system-site-packages $(VENV)

# pip builds through setup.py, which drives CMake in $(BUILD); an up-to-date build makes this a relink at most.
$(STAMP): $(SOURCES) | $(PY)
	$(PY) -m pip install --no-build-isolation --no-deps --disable-pip-version-check -q .
	$(PY) -Xfrozen_modules=off -m ipykernel install --prefix $(VENV) --name cotnpot --display-name "Python (cotnpot)" >/dev/null
	@touch $@

install: deps $(STAMP)

test: install test-cpp test-python

test-cpp: install
	ctest --test-dir $(BUILD) --output-on-failure

test-python: install
	$(PY) -m pytest

# The main job: `cotnpot eval` on every bundled candidate file (reports in runs/demo/), then the summary.
demo: install
	$(PY) examples/demo_eval.py --out runs/demo

bench: install
	$(PY) benchmarks/bench_logprob.py
	$(PY) benchmarks/bench_grader.py
	$(PY) benchmarks/bench_executor.py
	$(PY) benchmarks/bench_eval.py

clean:
	rm -rf build $(VENV) python/*.egg-info runs
