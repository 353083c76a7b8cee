//! Replays the committed fuzz corpora and the inputs of fixed fuzzer
//! findings (`fuzz/corpus/<target>`, `fuzz/regressions/<target>`) through
//! the targets' property checks on stable Rust (issue 10). `scripts/fuzz.sh`
//! runs the fuzzer itself.

use crate::fuzz_props;

use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<PathBuf> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut out = Vec::new();
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz.join(dir).join(target)) else { continue };
        out.extend(entries.map(|e| e.unwrap().path()));
    }
    out.sort();
    assert!(!out.is_empty(), "no {target} corpus under {}", fuzz.display());
    out
}

fn replay(target: &str) {
    for path in inputs(target) {
        let data = std::fs::read(&path).unwrap();
        let r = std::panic::catch_unwind(|| fuzz_props::check(target, &data));
        assert!(r.is_ok(), "{} fails its property check", path.display());
    }
}

#[test]
fn npy_header_corpus_holds() {
    replay("npy_header");
}

#[test]
fn npy_literal_corpus_holds() {
    replay("npy_literal");
}

#[test]
fn selection_corpus_holds() {
    replay("selection");
}

#[test]
fn dtype_corpus_holds() {
    replay("dtype");
}
