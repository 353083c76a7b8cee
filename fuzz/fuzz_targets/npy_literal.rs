#![no_main]
//! See `mmarray_fuzz::props::check_npy_literal` for the properties checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| mmarray_fuzz::props::check_npy_literal(data));
