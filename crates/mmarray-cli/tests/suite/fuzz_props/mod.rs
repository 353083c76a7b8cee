//! The properties the `cli_args` fuzz target checks, shared with
//! `tests/suite/fuzz_corpus.rs`. The CLI is a binary crate, so its parsers are
//! compiled from source: the including crate's root must declare
//! `args`, `output` and `input` from `src/` with `#[path]` (the fuzz crate
//! and `tests/suite/main.rs` do).
#![allow(dead_code)]

use crate::input::{parse_axes, parse_shape, parse_size};

/// `parse_shape`, `parse_size` and `parse_axes` on arbitrary text, chosen by
/// byte 0 (`parse_axes` takes ndim from byte 1): never panic, and
/// - a parsed shape is the list of the text's integers, and written back
///   (`3,4` and Python's `(3, 4)`) parses to the same shape;
/// - a parsed size written back as an integer parses to the same size;
/// - parsed axes are the text's integers normalised against ndim,
///   distinct and sorted.
pub fn check_cli_args(data: &[u8]) {
    let Some((&b0, rest)) = data.split_first() else { return };
    match b0 % 3 {
        0 => {
            let text = String::from_utf8_lossy(rest);
            let Ok(shape) = parse_shape(&text) else { return };
            let plain: Vec<String> = shape.iter().map(ToString::to_string).collect();
            assert_eq!(parse_shape(&plain.join(",")).ok().as_ref(), Some(&shape), "{text:?}");
            assert_eq!(parse_shape(&mmarray::shape_repr(&shape)).ok().as_ref(), Some(&shape), "{text:?}");
        }
        1 => {
            let text = String::from_utf8_lossy(rest);
            let Ok(size) = parse_size(&text) else { return };
            // parse_size goes through f64, exact up to 2^53 bytes.
            if size <= 1 << 53 {
                assert_eq!(parse_size(&size.to_string()).ok(), Some(size), "{text:?}");
            }
        }
        _ => {
            let Some((&b1, rest)) = rest.split_first() else { return };
            let ndim = usize::from(b1 % 8);
            let text = String::from_utf8_lossy(rest);
            let Ok(axes) = parse_axes(&text, ndim) else { return };
            let raw: Vec<i128> = text.split(',').map(|t| t.trim().parse::<i128>().unwrap()).collect();
            assert_eq!(axes.len(), raw.len(), "{text:?}");
            // Normalised (negative counts from the end), distinct, sorted.
            let n = ndim as i128;
            for &r in &raw {
                assert!((-n..n).contains(&r), "{text:?}: axis {r} accepted for ndim {ndim}");
            }
            let mut expected: Vec<usize> =
                raw.iter().map(|&r| usize::try_from(if r < 0 { r + n } else { r }).unwrap()).collect();
            expected.sort_unstable();
            expected.dedup();
            assert_eq!(axes, expected, "{text:?}: axes not normalised or a repeated axis accepted");
        }
    }
}
