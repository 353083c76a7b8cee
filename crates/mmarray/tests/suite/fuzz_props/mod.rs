//! The properties the fuzz targets check (`fuzz/fuzz_targets/*.rs`), shared
//! with `tests/suite/fuzz_corpus.rs`, which replays the committed corpora and
//! regression inputs through them on stable Rust. Each `check_*` takes the
//! fuzzer's raw bytes and panics when a property fails.
//!
//! The fuzz crate includes this file with `#[path]`, so it may use only
//! `mmarray` and `std`.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::PathBuf;

use mmarray::ndarray::{ArrayD, IxDyn, ShapeBuilder};
use mmarray::npy::{NpyHeader, MAX_HEADER_SIZE};
use mmarray::{with_scalar_type, DType, ErrorKind, IndexItem, Mode, MmapArray, Order, Selection};

/// The `.npy` header literal parser, a private module of the core crate,
/// compiled here from its source so it can be fuzzed on its own.
#[path = "../../../src/npy/literal.rs"]
#[allow(dead_code, unreachable_pub)]
mod literal;

use literal::Value;

// ---------------------------------------------------------------- npy_header

/// `NpyHeader::decode` on arbitrary bytes: never panics; an accepted header
/// stays inside the input and the size limit, and re-encoding it (in its own
/// version and in the one NumPy would choose) decodes to the same header.
/// Accepted headers are also opened as a whole file with
/// `MmapArray::open_npy`, which must agree with the header.
pub fn check_npy_header(data: &[u8]) {
    let Ok(parsed) = NpyHeader::decode(data) else { return };
    let end = usize::try_from(parsed.data_offset).unwrap();
    assert!(end <= data.len(), "data offset {end} past the input ({} bytes)", data.len());
    assert!(end <= 12 + MAX_HEADER_SIZE, "data offset {end} past the header limit");
    for version in [Some(parsed.version), None] {
        let (bytes, v) = parsed.header.encode(version).unwrap_or_else(|e| panic!("{parsed:?} does not re-encode: {e}"));
        let again = NpyHeader::decode(&bytes).unwrap_or_else(|e| panic!("re-encoded {parsed:?} does not decode: {e}"));
        assert_eq!(again.header, parsed.header, "round trip through version {v}");
        assert_eq!(again.version, v);
        assert_eq!(again.data_offset, bytes.len() as u64);
        assert_eq!(bytes.len() % 64, 0, "re-encoded header is not 64-byte aligned");
    }
    check_open_npy(data, &parsed.header, parsed.data_offset);
}

/// A per-process scratch file for [`check_open_npy`] (in `/dev/shm` when it
/// exists, so fuzzing does not write to disk).
fn scratch_path() -> PathBuf {
    let dir = PathBuf::from("/dev/shm");
    let dir = if dir.is_dir() { dir } else { std::env::temp_dir() };
    let name = format!("mmarray-fuzz-{}-{:?}.npy", std::process::id(), std::thread::current().id());
    dir.join(name.replace(['(', ')'], ""))
}

fn check_open_npy(data: &[u8], header: &NpyHeader, offset: u64) {
    let path = scratch_path();
    std::fs::write(&path, data).unwrap();
    // SAFETY: the scratch file is private to this process and thread (its
    // name has both ids); nothing else writes it while `a` is mapped.
    let opened = unsafe { MmapArray::open_npy(&path, Mode::ReadOnly) };
    let _ = std::fs::remove_file(&path);
    // The documented limit: the element count, then the byte count, must
    // not overflow, and the bytes must fit an isize.
    let nbytes = header
        .shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .and_then(|n| n.checked_mul(header.dtype.itemsize()))
        .filter(|&n| isize::try_from(n).is_ok());
    let a = match (opened, nbytes) {
        (Ok(a), Some(n)) => {
            assert!(offset + n as u64 <= data.len() as u64, "opened although the data is truncated");
            a
        }
        (Ok(_), None) => panic!("opened a header whose size overflows: {header:?}"),
        (Err(e), None) => {
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
            return;
        }
        (Err(e), Some(n)) => {
            assert!(offset + n as u64 > data.len() as u64, "valid file refused: {e}");
            assert_eq!(e.kind(), ErrorKind::FileTooSmall, "{e}");
            return;
        }
    };
    assert_eq!(a.dtype(), header.dtype);
    assert_eq!(a.shape(), header.shape.as_slice());
    assert_eq!(a.offset(), offset);
    assert_eq!(a.order(), if header.fortran_order { Order::F } else { Order::C });
    let start = usize::try_from(offset).unwrap();
    assert_eq!(a.as_bytes(), &data[start..start + a.nbytes()]);
    // Every element reads back; the array view agrees with the shape.
    with_scalar_type!(a.dtype().kind(), |T| {
        if let Ok(arr) = a.to_array::<T>() {
            assert_eq!(arr.shape(), a.shape());
        } else {
            // ndarray refuses shapes whose non-zero axes overflow isize even
            // when another axis is 0; that is the only failure allowed here.
            assert!(a.shape().contains(&0), "to_array failed for {header:?}");
        }
    });
}

// --------------------------------------------------------------- npy_literal

/// Writes `v` as a Python literal (the inverse of `literal::parse`).
fn write_literal(v: &Value, out: &mut String) {
    let seq = |items: &mut dyn Iterator<Item = &Value>, out: &mut String| {
        for (i, item) in items.enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            write_literal(item, out);
        }
    };
    match v {
        Value::Str(s) => {
            out.push('\'');
            for c in s.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\'' => out.push_str("\\'"),
                    '\n' => out.push_str("\\n"),
                    c => out.push(c),
                }
            }
            out.push('\'');
        }
        Value::Int(n) => write!(out, "{n}").unwrap(),
        Value::Bool(b) => out.push_str(if *b { "True" } else { "False" }),
        Value::Tuple(items) => {
            out.push('(');
            seq(&mut items.iter(), out);
            if items.len() == 1 {
                out.push(',');
            }
            out.push(')');
        }
        Value::List(items) => {
            out.push('[');
            seq(&mut items.iter(), out);
            out.push(']');
        }
        Value::Dict(pairs) => {
            out.push('{');
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_literal(k, out);
                out.push_str(": ");
                write_literal(v, out);
            }
            out.push('}');
        }
    }
}

/// The header literal parser on arbitrary text (read as latin-1, as 1.0/2.0
/// headers are, and as UTF-8 when valid, as 3.0 headers are): never panics
/// or overflows the stack; whatever parses without Python 2 longs parses the
/// same with them; accepted values round-trip through [`write_literal`], and
/// `(x)` is `x`, as in Python.
pub fn check_npy_literal(data: &[u8]) {
    let latin1: String = data.iter().map(|&b| char::from(b)).collect();
    let utf8 = std::str::from_utf8(data).ok();
    for text in std::iter::once(latin1.as_str()).chain(utf8) {
        let strict = literal::parse(text, false);
        let long = literal::parse(text, true);
        if let Ok(v) = &strict {
            assert_eq!(long.as_ref().ok(), Some(v), "allow_long changed the value of {text:?}");
        }
        let Ok(v) = long else { continue };
        let mut written = String::new();
        write_literal(&v, &mut written);
        let back = literal::parse(&written, false).unwrap_or_else(|e| panic!("{written:?} (from {text:?}) fails: {e}"));
        assert_eq!(back, v, "{text:?} written as {written:?}");
        match literal::parse(&format!("({written})"), false) {
            Ok(paren) => assert_eq!(paren, v, "({written}) is not {written}"),
            Err(e) => assert!(e.contains("nested deeper"), "({written}) fails: {e}"),
        }
    }
}

// ----------------------------------------------------------------- selection

/// Python's `slice(start, stop, step).indices(len)` then `range(...)`,
/// computed in `i128` so no `isize` value overflows.
fn python_slice(len: usize, start: Option<isize>, stop: Option<isize>, step: Option<isize>) -> Vec<usize> {
    let len = len as i128;
    let step = step.map_or(1, |s| s as i128);
    assert_ne!(step, 0);
    let (lower, upper) = if step > 0 { (0, len) } else { (-1, len - 1) };
    let bound = |v: Option<isize>, default: i128| match v {
        None => default,
        Some(v) if v < 0 => (v as i128 + len).max(lower),
        Some(v) => (v as i128).min(upper),
    };
    let start = bound(start, if step > 0 { lower } else { upper });
    let stop = bound(stop, if step > 0 { upper } else { lower });
    let mut out = Vec::new();
    let mut i = start;
    while (step > 0 && i < stop) || (step < 0 && i > stop) {
        out.push(usize::try_from(i).unwrap());
        i += step;
    }
    out
}

/// NumPy's basic indexing of a C-order array of `shape` by `items`: the
/// result's shape and, in its C order, the flat C index of each element;
/// `None` where NumPy raises an `IndexError`.
fn reference_select(shape: &[usize], items: &[IndexItem]) -> Option<(Vec<usize>, Vec<usize>)> {
    let consuming = items.iter().filter(|i| matches!(i, IndexItem::Index(_) | IndexItem::Slice { .. })).count();
    let free = shape.len().checked_sub(consuming)?;
    let full = IndexItem::Slice { start: None, stop: None, step: None };
    let mut expanded = Vec::new();
    for item in items {
        if *item == IndexItem::Ellipsis {
            expanded.extend(std::iter::repeat_n(full, free));
        } else {
            expanded.push(*item);
        }
    }
    if !items.contains(&IndexItem::Ellipsis) {
        expanded.extend(std::iter::repeat_n(full, free));
    }
    let stride = |axis: usize| shape[axis + 1..].iter().product::<usize>();
    let (mut base, mut axis, mut out_axes) = (0usize, 0usize, Vec::<Vec<usize>>::new());
    for item in expanded {
        match item {
            IndexItem::Index(i) => {
                let len = shape[axis] as i128;
                let i = i as i128;
                if i < -len || i >= len {
                    return None;
                }
                base += usize::try_from(if i < 0 { i + len } else { i }).unwrap() * stride(axis);
                axis += 1;
            }
            IndexItem::Slice { start, stop, step } => {
                let s = stride(axis);
                out_axes.push(python_slice(shape[axis], start, stop, step).into_iter().map(|p| p * s).collect());
                axis += 1;
            }
            IndexItem::NewAxis => out_axes.push(vec![0]),
            IndexItem::Ellipsis => unreachable!(),
        }
    }
    let out_shape: Vec<usize> = out_axes.iter().map(Vec::len).collect();
    let mut flat = vec![base];
    for positions in &out_axes {
        flat = flat.iter().flat_map(|&f| positions.iter().map(move |&p| f + p)).collect();
    }
    Some((out_shape, flat))
}

/// Writes parsed items back as an index expression.
fn selection_text(items: &[IndexItem]) -> String {
    let opt = |v: Option<isize>| v.map(|v| v.to_string()).unwrap_or_default();
    let parts: Vec<String> = items
        .iter()
        .map(|item| match *item {
            IndexItem::Index(i) => i.to_string(),
            IndexItem::Slice { start, stop, step } => format!("{}:{}:{}", opt(start), opt(stop), opt(step)),
            IndexItem::Ellipsis => "...".into(),
            IndexItem::NewAxis => "None".into(),
        })
        .collect();
    parts.join(", ")
}

/// `Selection::parse` on arbitrary text, then `apply` and `apply_mut` to an
/// array whose shape (0 to 4 axes of 0 to 5) and memory order come from the
/// first bytes; the result must be exactly what NumPy selects
/// ([`reference_select`]). Parsed selections also survive being written
/// back as text.
///
/// Input: byte 0 = ndim (mod 5) and order (bit 7), then one byte per axis
/// (length mod 6), then the expression.
pub fn check_selection(data: &[u8]) {
    let Some((&b0, rest)) = data.split_first() else { return };
    let ndim = usize::from(b0 % 5);
    let fortran = b0 & 0x80 != 0;
    if rest.len() < ndim {
        return;
    }
    let shape: Vec<usize> = rest[..ndim].iter().map(|&b| usize::from(b % 6)).collect();
    let expr = String::from_utf8_lossy(&rest[ndim..]);
    let Ok(sel) = Selection::parse(&expr) else { return };
    let text = selection_text(sel.items());
    let again = Selection::parse(&text).unwrap_or_else(|e| panic!("{expr:?} written as {text:?} fails: {e}"));
    assert_eq!(again, sel, "{expr:?} written as {text:?}");

    // Each element holds its flat C index, whatever the memory order.
    let c_index = |idx: IxDyn| (0..ndim).fold(0usize, |acc, k| acc * shape[k] + idx[k]);
    let dims = IxDyn(&shape);
    let mut a: ArrayD<usize> =
        if fortran { ArrayD::from_shape_fn(dims.f(), c_index) } else { ArrayD::from_shape_fn(dims, c_index) };
    let expected = reference_select(&shape, sel.items());
    let got = sel.apply(a.view());
    match (&expected, &got) {
        (Some((eshape, eflat)), Ok(v)) => {
            assert_eq!(v.shape(), eshape.as_slice(), "a{shape:?}[{expr}]");
            assert_eq!(v.iter().copied().collect::<Vec<_>>(), *eflat, "a{shape:?}[{expr}]");
        }
        (None, Err(e)) => assert_eq!(e.kind(), ErrorKind::IndexOutOfBounds, "{e}"),
        (Some(_), Err(e)) => panic!("a{shape:?}[{expr}] fails: {e}, NumPy gives {expected:?}"),
        (None, Ok(v)) => panic!("a{shape:?}[{expr}] gives shape {:?}, NumPy raises IndexError", v.shape()),
    }
    let got_mut = sel.apply_mut(a.view_mut()).map(|v| (v.shape().to_vec(), v.iter().copied().collect::<Vec<_>>()));
    assert_eq!(got_mut.ok(), expected, "apply_mut differs: a{shape:?}[{expr}]");
}

// --------------------------------------------------------------------- dtype

/// `DType::parse` on arbitrary text: never panics, refuses with
/// `UnsupportedDtype`, and an accepted dtype's descr (its `Display`) parses
/// back to the same dtype, as does its name for native byte order.
pub fn check_dtype(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match DType::parse(&text) {
        Ok(d) => {
            let descr = d.to_string();
            assert_eq!(descr, d.descr());
            assert_eq!(DType::parse(&descr).ok(), Some(d), "{text:?} -> {descr:?}");
            assert_eq!(d.descr().len(), 3 + usize::from(d.itemsize() > 9));
            if d.is_native() {
                assert_eq!(DType::parse(d.kind().name()).ok(), Some(d), "{text:?} -> {}", d.kind().name());
            }
        }
        Err(e) => assert_eq!(e.kind(), ErrorKind::UnsupportedDtype, "{text:?}: {e}"),
    }
}

/// Runs the check of the target named `target` on `data`.
pub fn check(target: &str, data: &[u8]) {
    match target {
        "npy_header" => check_npy_header(data),
        "npy_literal" => check_npy_literal(data),
        "selection" => check_selection(data),
        "dtype" => check_dtype(data),
        _ => panic!("unknown fuzz target {target}"),
    }
}
