//! Replays the `cli_args` fuzz corpus and its regression inputs
//! (`fuzz/corpus/cli_args`, `fuzz/regressions/cli_args`) through the
//! target's property checks on stable Rust (issue 10). `scripts/fuzz.sh`
//! runs the fuzzer itself.

use crate::{fuzz_props, input};

use std::path::Path;

#[test]
fn cli_args_corpus_and_regressions_hold() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut n = 0;
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz.join(dir).join("cli_args")) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let r = std::panic::catch_unwind(|| fuzz_props::check_cli_args(&data));
            assert!(r.is_ok(), "{} fails its property check", path.display());
            n += 1;
        }
    }
    assert!(n > 0, "no cli_args corpus under {}", fuzz.display());
}

/// Found by reading `parse_size` for the `cli_args` target, not fixed here
/// (the CLI is being edited on another branch): sizes go through `f64`, so
/// integers above 2^53 are rounded and decimal fractions with a unit can miss
/// a whole number of bytes. Remove the `ignore` once `parse_size` computes
/// in integers.
#[test]
fn parse_size_is_exact() {
    assert_eq!(input::parse_size("9007199254740993").unwrap(), 9_007_199_254_740_993);
    assert_eq!(input::parse_size("1.1KB").unwrap(), 1100);
}
