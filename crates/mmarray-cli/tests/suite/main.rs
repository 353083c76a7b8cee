//! The CLI's integration tests, one test binary (each file a module): one
//! link instead of six keeps the test build short.

#[path = "../../../mmarray/tests/suite/common/mod.rs"]
mod common;

// The CLI's parsers, compiled from source (the crate is binary-only), for
// the fuzz corpus replay and its properties (`fuzz_props`, shared with the
// fuzz crate, wants them at the crate root).
#[path = "../../src/args.rs"]
#[allow(dead_code)]
mod args;
#[path = "../../src/input.rs"]
#[allow(dead_code)]
mod input;
#[path = "../../src/output.rs"]
#[allow(dead_code)]
mod output;

mod fuzz_props;

mod cli;
mod cli_append;
mod cli_compute;
mod cli_faults;
mod cli_hostile;
mod cli_plot;
mod fuzz_corpus;
