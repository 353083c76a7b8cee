#!/usr/bin/env bash
# The differential harness's long profile (issue 10): test_differential.py
# with random Hypothesis examples, over 1,000,000 cases in all: 100,000 per
# engine test (every engine-routed NumPy function, in-place operators,
# clip(out=), rolling_*, stats) and 20,000 per CLI test (stats, show, apply,
# rolling against NumPy on the same file), each failure shrunk to a minimal
# case. Two workers (one per core of the 2-core machine) take the tests from
# one queue, longest first, so both finish together: about 2 hours there
# with release builds. The files live in /dev/shm when it exists.
# Expects the setup of scripts/test.sh (./.venv, the extension built, and
# the CLI built: target/debug/mmarray, or $MMARRAY_CLI). A release build of
# both runs the cases about twice as fast:
#   (cd python && ../.venv/bin/maturin develop --release) && cargo build --release -p mmarray-cli
#   MMARRAY_CLI=$PWD/target/release/mmarray bash scripts/test-long.sh
#
#   bash scripts/test-long.sh                    # all of it
#   MMARRAY_HYPOTHESIS_EXAMPLES=20000 MMARRAY_CLI_EXAMPLES=2000 bash scripts/test-long.sh
#   MMARRAY_LONG_WORKERS=1 bash scripts/test-long.sh -x   # extra arguments go to pytest
#
# The case counts per test are printed at the end and written to
# ./differential-counts.json (each test's part to differential-counts.json.
# <test>, updated every 1,000 cases while it runs, so a stopped run keeps its
# counts; its output to the same name + .log). Set MMARRAY_DIFF_LOG=FILE to
# record every mismatch as a JSON line and keep going (a survey) instead of
# stopping each test at its first failures.
set -euo pipefail
cd "$(dirname "$0")/.."
export MMARRAY_HYPOTHESIS_PROFILE=long
[ -d /dev/shm ] && [ -w /dev/shm ] && export TMPDIR=/dev/shm
counts="${MMARRAY_DIFF_COUNTS:-$PWD/differential-counts.json}"
engine_n="${MMARRAY_HYPOTHESIS_EXAMPLES:-100000}"
cli_n="${MMARRAY_CLI_EXAMPLES:-20000}"
workers="${MMARRAY_LONG_WORKERS:-2}"
# The queue, longest first (measured minutes per 100,000 engine cases or
# 20,000 CLI cases with release builds: order_statistics 29, cli_apply 26,
# reductions 21, cli_stats 21, arg_reductions 20, histogram 17,
# cli_rolling 16, rolling 13, stats_and_squares 12, methods_reject 10,
# inplace_operators 10, clip_out 10, asarray_and_pickle 8, cli_show 5).
queue=(test_order_statistics test_cli_apply test_reductions test_cli_stats test_arg_reductions test_histogram
       test_cli_rolling test_rolling test_stats_and_squares test_methods_reject_what_numpy_rejects
       test_inplace_operators test_clip_out test_asarray_and_pickle_of_views test_cli_show)
next="$(mktemp)"
echo 0 >"$next"
rm -f "$counts".test_*
worker() { # takes the next test from the queue until it is empty; fails if any test failed
    local status=0 i t n
    while :; do
        i=$(flock "$next" bash -c 'i=$(cat "$1"); echo $((i + 1)) >"$1"; echo "$i"' _ "$next")
        [ "$i" -lt "${#queue[@]}" ] || return "$status"
        t="${queue[$i]}"
        n="$engine_n"; [[ "$t" == test_cli_* ]] && n="$cli_n"
        echo "$(date +%T) worker $1: $t, $n cases"
        # (exit status 5: the extra arguments deselected this test)
        MMARRAY_HYPOTHESIS_EXAMPLES="$n" MMARRAY_DIFF_COUNTS="$counts.$t" nice -n 10 .venv/bin/python -m pytest \
            "python/tests/test_differential.py::$t" -q -p no:cacheprovider "${@:2}" >"$counts.$t.log" 2>&1 \
            || { [ $? -eq 5 ] || { status=1; echo "$(date +%T) $t FAILED: $counts.$t.log"; }; }
    done
}
pids=()
for w in $(seq "$workers"); do worker "$w" "$@" & pids+=($!); done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
rm -f "$next"
for t in "${queue[@]}"; do [ -f "$counts.$t.log" ] && tail -n 3 "$counts.$t.log"; done
.venv/bin/python - "$counts" "${queue[@]}" <<'PY'
import json, sys
out = {"profile": "long", "examples": {}, "comparisons": {}}
for t in sys.argv[2:]:
    try:
        d = json.load(open(f"{sys.argv[1]}.{t}"))
    except FileNotFoundError:
        continue
    for key in ("examples", "comparisons"):
        for name, n in d[key].items():
            out[key][name] = out[key].get(name, 0) + n
json.dump(out, open(sys.argv[1], "w"), indent=1, sort_keys=True)
print(f"differential harness, long profile: {sum(out['examples'].values())} cases, "
      f"{sum(out['comparisons'].values())} calls compared (per test: {sys.argv[1]})")
PY
exit "$status"
