#!/usr/bin/env bash
# The long fault-injection profile (issue 11): the fault tests of the normal
# suite with more trials. kill -9 at 50 spread instants of create, convert
# and rolling, writing a new file and replacing one (300 kills), and the
# truncation races; `mmarray append` killed at 200 random instants (issue
# 13). A few minutes on the 2-core machine. Expects the setup
# of scripts/test.sh (./.venv with the extension built).
set -euo pipefail
cd "$(dirname "$0")/.."
export MMARRAY_TEST_PYTHON="$PWD/.venv/bin/python"
MMARRAY_FAULT_TRIALS="${MMARRAY_FAULT_TRIALS:-50}" cargo test -p mmarray-cli --locked --test suite -- --nocapture cli_faults::
MMARRAY_APPEND_TRIALS="${MMARRAY_APPEND_TRIALS:-200}" cargo test -p mmarray-cli --locked --test suite -- --nocapture cli_append::
cargo test -p mmarray --locked --test suite lifecycle::truncation
for round in 1 2 3 4 5; do
    .venv/bin/python -m pytest python/tests/test_faults.py -q -p no:cacheprovider
done
