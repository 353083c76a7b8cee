//! The property checks the fuzz targets run, compiled from the test files
//! that replay the corpora on stable Rust, so both check the same things.

/// Core parsers: `.npy` header and literal, selections, dtypes.
#[path = "../../crates/mmarray/tests/suite/fuzz_props/mod.rs"]
pub mod props;

/// The CLI's argument parsers (`parse_shape`, `parse_size`, `parse_axes`).
#[path = "../../crates/mmarray-cli/tests/suite/fuzz_props/mod.rs"]
pub mod cli_props;

// The CLI is a binary crate: its parsers are compiled from source, with the
// two modules `input.rs` uses, at the crate root where it looks for them.
#[path = "../../crates/mmarray-cli/src/args.rs"]
#[allow(dead_code)]
mod args;
#[path = "../../crates/mmarray-cli/src/input.rs"]
#[allow(dead_code)]
mod input;
#[path = "../../crates/mmarray-cli/src/output.rs"]
#[allow(dead_code)]
mod output;
