#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser (issue 10): runs each cargo-fuzz
# target under fuzz/ for SECONDS (default 600) on the nightly toolchain, one
# process at a time and at low priority, then minimises its corpus in place
# (fuzz/corpus/<target>, committed and replayed by `cargo test`).
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]
#
# A crash stops that target's run (the input is in fuzz/artifacts/<target>);
# once fixed, add the input to fuzz/regressions/<target>/. Prints each
# target's executions and exits non-zero if any target crashed.
set -euo pipefail
secs=${1:-600}
shift || true
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/fuzz"
cargo +nightly fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked
if [ $# -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(cargo +nightly fuzz list); fi
if [ ! -d corpus ]; then
    # Real .npy headers need NumPy: the workspace's .venv (scripts/test.sh).
    "${MMARRAY_TEST_PYTHON:-$root/.venv/bin/python}" "$root/scripts/fuzz_seeds.py" "$root/fuzz"
fi
nice -n 15 cargo +nightly fuzz build
mkdir -p artifacts
failed=0 total=0
for t in "${targets[@]}"; do
    dict=()
    [ -f "dicts/$t.dict" ] && dict=("-dict=dicts/$t.dict")
    mkdir -p "corpus/$t" "artifacts/$t"
    log="artifacts/$t/run.log"
    # -jobs=1 runs the fuzzer in one child process, logging to fuzz-0.log.
    status=0
    (cd "artifacts/$t" && rm -f fuzz-0.log && nice -n 15 cargo +nightly fuzz run --fuzz-dir "$root/fuzz" "$t" \
        "$root/fuzz/corpus/$t" -- -max_total_time="$secs" -max_len=12000 -jobs=1 -workers=1 \
        -print_final_stats=1 "${dict[@]/#-dict=/-dict=$root/fuzz/}" >/dev/null 2>&1) || status=$?
    cp "artifacts/$t/fuzz-0.log" "$log" 2>/dev/null || true
    execs=$(grep -ho 'number_of_executed_units: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || echo 0)
    total=$((total + execs))
    if [ "$status" -ne 0 ] || grep -q 'ERROR: libFuzzer\|panicked' "$log"; then
        echo "$t: CRASHED after $execs executions, see $log and fuzz/artifacts/$t"
        failed=1
        continue
    fi
    # Minimise on edge coverage only (-use_counters=0): a few hundred files
    # per target instead of ~800 with hit counts.
    nice -n 15 cargo +nightly fuzz cmin "$t" "corpus/$t" -- -max_len=12000 -use_counters=0 >/dev/null 2>&1
    echo "$t: ${secs} s, $execs executions, corpus $(find "corpus/$t" -type f | wc -l) files, $(du -sk --apparent-size "corpus/$t" | cut -f1) KiB"
done
echo "all targets: $total executions"
exit $failed
