#!/usr/bin/env bash
# The differential harness's long profile (issue 10): test_differential.py
# with random Hypothesis examples, over 1,000,000 cases in all: 100,000 per
# engine test (every engine-routed NumPy function, in-place operators,
# clip(out=), rolling_*, stats) and 25,000 per CLI test (stats, show, apply,
# rolling against NumPy on the same file), each failure shrunk to a minimal
# case. Two pytest processes share the work (one per core of the 2-core
# machine: about 2 hours there); the files live in /dev/shm when it exists.
# Expects the setup of scripts/test.sh (./.venv, the extension built, and
# the CLI built: target/debug/mmarray, or $MMARRAY_CLI). A release build of
# both runs the cases about twice as fast:
#   (cd python && ../.venv/bin/maturin develop --release) && cargo build --release -p mmarray-cli
#   MMARRAY_CLI=$PWD/target/release/mmarray bash scripts/test-long.sh
#
#   bash scripts/test-long.sh                    # all of it
#   MMARRAY_HYPOTHESIS_EXAMPLES=20000 MMARRAY_CLI_EXAMPLES=2000 bash scripts/test-long.sh
#   bash scripts/test-long.sh -k reductions      # extra arguments go to pytest
#
# The case counts per test are printed at the end and written to
# ./differential-counts.json (updated every 1,000 cases while it runs, so a
# stopped run keeps its counts). Set MMARRAY_DIFF_LOG=FILE to record every
# mismatch as a JSON line and keep going (a survey) instead of stopping each
# test at its first failures.
set -euo pipefail
cd "$(dirname "$0")/.."
export MMARRAY_HYPOTHESIS_PROFILE=long
[ -d /dev/shm ] && [ -w /dev/shm ] && export TMPDIR=/dev/shm
counts="${MMARRAY_DIFF_COUNTS:-$PWD/differential-counts.json}"
engine_n="${MMARRAY_HYPOTHESIS_EXAMPLES:-100000}"
cli_n="${MMARRAY_CLI_EXAMPLES:-25000}"
run() { # examples, counts file, log, -k expression, extra pytest arguments...
    local n="$1" file="$2" log="$3" expr="$4"
    shift 4
    MMARRAY_HYPOTHESIS_EXAMPLES="$n" MMARRAY_DIFF_COUNTS="$file" nice -n 10 .venv/bin/python -m pytest \
        python/tests/test_differential.py -q -p no:cacheprovider -k "$expr" "$@" >"$log" 2>&1
}
heavy="test_reductions or test_arg_reductions or test_methods_reject or test_order_statistics or test_histogram or test_inplace or test_clip_out"
run "$engine_n" "$counts.a" "$counts.a.log" "$heavy" "$@" &
a=$!
# (the other core: the lighter engine tests, then the CLI's)
{ s=0; run "$engine_n" "$counts.b" "$counts.b.log" "not ($heavy) and not test_cli_" "$@" || s=1
  run "$cli_n" "$counts.c" "$counts.c.log" "test_cli_" "$@" || s=1; exit $s; } &
b=$!
status=0
wait "$a" || status=1
wait "$b" || status=1
tail -n 25 "$counts.a.log" "$counts.b.log" "$counts.c.log"
.venv/bin/python - "$counts" <<'EOF'
import json, sys
out = {"profile": "long", "examples": {}, "comparisons": {}}
for part in "abc":
    try:
        d = json.load(open(f"{sys.argv[1]}.{part}"))
    except FileNotFoundError:
        continue
    for key in ("examples", "comparisons"):
        for name, n in d[key].items():
            out[key][name] = out[key].get(name, 0) + n
json.dump(out, open(sys.argv[1], "w"), indent=1, sort_keys=True)
print(f"differential harness, long profile: {sum(out['examples'].values())} cases, "
      f"{sum(out['comparisons'].values())} calls compared (per test: {sys.argv[1]})")
EOF
exit "$status"
