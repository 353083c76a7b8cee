#!/usr/bin/env bash
# The differential harness's long profile (issue 10): test_differential.py
# with 100,000 random Hypothesis examples per test (over 1,000,000 cases in
# all: every engine-routed NumPy function, in-place operator, clip(out=),
# rolling_*, stats, the CLI), shrinking each failure to a minimal case.
# Expects the setup of scripts/test.sh (./.venv, the extension built, and
# target/debug/mmarray for the CLI tests: cargo build -p mmarray-cli).
#
#   bash scripts/test-long.sh                    # all of it (hours on 2 cores)
#   MMARRAY_HYPOTHESIS_EXAMPLES=20000 bash scripts/test-long.sh -k reductions
#
# Extra arguments go to pytest. The case counts per test are printed at the
# end and written to ./differential-counts.json. Set MMARRAY_DIFF_LOG=FILE to
# record every mismatch as a JSON line and keep going (a survey) instead of
# stopping each test at its first failures.
set -euo pipefail
cd "$(dirname "$0")/.."
export MMARRAY_HYPOTHESIS_PROFILE=long
export MMARRAY_DIFF_COUNTS="${MMARRAY_DIFF_COUNTS:-$PWD/differential-counts.json}"
exec nice -n 10 .venv/bin/python -m pytest python/tests/test_differential.py -q -p no:cacheprovider "$@"
