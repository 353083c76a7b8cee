//! The crate's integration tests, one test binary (each file a module):
//! one link instead of eleven keeps the test build short.

mod common;
mod fuzz_props;

mod bad_input;
mod compute_exact;
mod compute_more;
mod compute_reduce;
mod disk_full;
mod fill;
mod fuzz_corpus;
mod lifecycle;
mod modes;
mod npy_format;
mod page_cache;
mod numpy_compat;
mod properties;
mod threads;
