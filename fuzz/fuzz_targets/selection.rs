#![no_main]
//! See `mmarray_fuzz::props::check_selection` for the properties checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| mmarray_fuzz::props::check_selection(data));
