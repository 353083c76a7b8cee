#![no_main]
//! See `mmarray_fuzz::cli_props::check_cli_args` for the properties checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| mmarray_fuzz::cli_props::check_cli_args(data));
