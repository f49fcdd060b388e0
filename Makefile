# GLI — `make help` lists the targets.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
FT_VENV ?= .venv-ft
FT_PYTHON ?=
# pyo3's build script must see the venv's interpreter (clippy, cargo check).
export PYO3_PYTHON := $(abspath $(BIN)/python)

.PHONY: help venv develop demo lint typecheck fmt cargo-test loom miri pytest nx-tests test test-ft bench clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-11s %s\n", $$1, $$2}'

# The stamp makes a second `make venv` a no-op; editing pyproject.toml or this
# Makefile reinstalls (pip skips what is already satisfied). scipy: nx.pagerank needs it.
$(VENV)/.stamp: pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q maturin pytest pytest-xdist pytest-timeout hypothesis numpy scipy networkx rustworkx mypy
	touch $@

venv: $(VENV)/.stamp ## create .venv with the build, test and benchmark dependencies

develop: venv ## build the release extension into .venv
	VIRTUAL_ENV=$(abspath $(VENV)) PATH=$(abspath $(BIN)):$$PATH $(BIN)/maturin develop --release -q

demo: develop ## build, then run examples/quickstart.py (1M nodes, 2M edges)
	$(BIN)/python examples/quickstart.py

# The loom-tests tree is captured first so that a failing `cargo tree` fails the
# check instead of passing it as "no pyo3"; --target all also sees cfg(loom) deps.
lint: venv ## cargo fmt --check, clippy on both feature sets, the engine free of pyo3
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --all-targets --no-default-features -- -D warnings
	cargo check --no-default-features
	@if grep -rn "pyo3" src/engine src/sync.rs src/error.rs; then echo "the engine must not name pyo3"; exit 1; fi
	@if grep -rnE "(std::sync|parking_lot|arc_swap|dashmap)::" src --include=*.rs | grep -v "^src/sync.rs:"; then \
		echo "name locks, atomics and shared pointers through src/sync.rs (crate::sync), not directly"; exit 1; fi
	@tree="$$(cargo tree -p loom-tests -e normal --target all)" || { echo "cargo tree -p loom-tests failed"; exit 1; }; \
	if printf '%s\n' "$$tree" | grep -q pyo3; then echo "loom-tests must not depend on pyo3:"; printf '%s\n' "$$tree" | grep pyo3; exit 1; fi

# stubtest compares the hand-written _core.pyi with the built module.
typecheck: develop ## stubtest of gli._core, mypy --strict on the package and examples/
	$(BIN)/python -m mypy.stubtest gli._core
	$(BIN)/python -m mypy --strict python/gli examples

fmt: ## cargo fmt
	cargo fmt --all

# Every #[cfg(test)] module is in src/engine, so the no-pyo3 build runs all the
# Rust unit tests without linking libpython; src/python is exercised by pytest.
cargo-test: ## the engine's Rust unit tests (built without pyo3)
	cargo test --no-default-features

loom: ## the loom models of the shard and snapshot protocols
	RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom LOOM_MAX_PREEMPTIONS=3 cargo test -p loom-tests --release

# Not part of `make test`: Miri needs the nightly toolchain with its miri
# component (`rustup component add --toolchain nightly miri`).
miri: ## the id, key-map text and attribute-storage code under Miri (nightly)
	cargo +nightly miri test --no-default-features --lib engine::id
	cargo +nightly miri test --no-default-features --lib engine::value

pytest: develop ## the pytest suite, in parallel
	$(BIN)/python -m pytest -n auto -q

# NetworkX's own test modules for the algorithms GLI dispatches, run with GLI
# as the backend (fallback on: functions GLI lacks, such as generators, run on
# NetworkX). Run from /tmp so that pytest picks up networkx's conftest only.
NX_MODULES := networkx.algorithms.link_analysis.tests.test_pagerank \
	networkx.algorithms.shortest_paths.tests.test_unweighted \
	networkx.algorithms.shortest_paths.tests.test_weighted \
	networkx.algorithms.shortest_paths.tests.test_generic \
	networkx.algorithms.components
nx-tests: develop ## NetworkX's own tests of the dispatched algorithms, with backend "gli"
	cd /tmp && NETWORKX_TEST_BACKEND=gli NETWORKX_FALLBACK_TO_NX=True $(abspath $(BIN))/python -m pytest -q -p no:cacheprovider -n auto --pyargs $(NX_MODULES)

# make runs these prerequisites left to right, each once (develop is also pytest's prerequisite).
test: venv lint develop typecheck cargo-test loom pytest nx-tests ## everything, from a fresh clone; also the free-threaded lane when FT_PYTHON is set
ifneq ($(strip $(FT_PYTHON)),)
	$(MAKE) test-ft FT_PYTHON=$(FT_PYTHON)
endif

test-ft: ## free-threaded lane: make test-ft FT_PYTHON=/path/to/python3.13t (indicative, see README)
	@test -n "$(FT_PYTHON)" || { echo "set FT_PYTHON (../shared/tools/free-threaded-python prints one)"; exit 2; }
	test -x $(FT_VENV)/bin/python || $(FT_PYTHON) -m venv $(FT_VENV)
	# numpy 2.3 ships cp313t wheels; newer hypothesis embeds PyO3 0.30, which refuses 3.13t.
	$(FT_VENV)/bin/pip install -q --only-binary=numpy "numpy<2.4" maturin pytest pytest-timeout networkx
	VIRTUAL_ENV=$(abspath $(FT_VENV)) PATH=$(abspath $(FT_VENV)/bin):$$PATH UNSAFE_PYO3_SKIP_VERSION_CHECK=1 \
		CARGO_TARGET_DIR=target/ft PYO3_PYTHON=$(abspath $(FT_VENV)/bin/python) $(FT_VENV)/bin/maturin develop --release -q
	$(FT_VENV)/bin/python -W error::RuntimeWarning -c "import sys, gli; assert not sys._is_gil_enabled(), 'importing gli re-enabled the GIL'; print('free-threaded', sys.version.split()[0] + ': GIL still disabled after import gli')"
	$(FT_VENV)/bin/python -W error::RuntimeWarning -m pytest -q -p no:cacheprovider tests/test_concurrency.py tests/test_filter.py tests/test_gc.py -k "not backends_agree"

bench: develop ## python -m gli.bench (release build)
	$(BIN)/python -m gli.bench

clean: ## remove build outputs and virtualenvs
	cargo clean
	rm -rf $(VENV) $(FT_VENV) python/gli/*.so
