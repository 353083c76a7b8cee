#!/usr/bin/env bash
# Runs every test of the workspace: lints, Rust unit/integration/doc tests,
# and the round trips against the real NumPy (pinned, in ./.venv).
set -euo pipefail
cd "$(dirname "$0")/.."

NUMPY_VERSION=2.4.6
if ! .venv/bin/python -c "import numpy, sys; sys.exit(numpy.__version__ != '$NUMPY_VERSION')" 2>/dev/null; then
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check "numpy==$NUMPY_VERSION"
fi
export MMARRAY_TEST_PYTHON="$PWD/.venv/bin/python"

cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
