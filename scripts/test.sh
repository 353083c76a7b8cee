#!/usr/bin/env bash
# Runs every test of the workspace: lints, Rust unit/integration/doc tests,
# the round trips against the real NumPy, and the Python package's pytest
# suite (numpy's own memmap tests included). Python packages are pinned and
# installed into ./.venv.
set -euo pipefail
cd "$(dirname "$0")/.."

PINS=(numpy==2.4.6 scipy==1.16.3 "dask[distributed]==2026.8.0" joblib==1.6.0 matplotlib==3.11.2 maturin==1.16.0 pytest==9.2.0 hypothesis==6.170.17)
if ! .venv/bin/python -c "import numpy, scipy, dask, distributed, joblib, matplotlib, maturin, pytest, hypothesis, sys; sys.exit(numpy.__version__ != '2.4.6')" 2>/dev/null; then
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check "${PINS[@]}"
fi
export MMARRAY_TEST_PYTHON="$PWD/.venv/bin/python"

# (each phase's start is stamped on stderr, to see where the time goes)
stamp() { echo "== $SECONDS s: $*" >&2; }
stamp clippy
cargo clippy --workspace --all-targets --locked -- -D warnings
# (the Python extension's crate has no Rust tests: pytest tests it below,
# and clippy above lints it; building it here too cost a minute)
stamp cargo test
cargo test --workspace --exclude mmarray-python --locked

# The Python package: build the extension into the venv, then pytest.
# (the dev profile reuses what cargo test just compiled)
stamp maturin develop
(cd python && VIRTUAL_ENV="$PWD/../.venv" ../.venv/bin/maturin develop --quiet --locked)
# (the differential harness, test_differential.py, runs its derandomized
# "ci" Hypothesis profile here; scripts/test-long.sh runs the long one)
stamp pytest
.venv/bin/python -m pytest python/tests -q
stamp done
