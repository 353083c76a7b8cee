//! The `.npy` format: reading and writing headers, versions 1.0, 2.0 and 3.0,
//! byte-compatible with `numpy/lib/_format_impl.py`.
//!
//! A file is the magic `\x93NUMPY`, a major and minor version byte, the
//! header length (`u16` little-endian in 1.0, `u32` in 2.0 and 3.0), the
//! header (a Python dict literal, latin-1 in 1.0/2.0 and UTF-8 in 3.0, padded
//! with spaces and a final newline so the data starts on a 64-byte boundary),
//! then the data.

mod literal;

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::dtype::DType;
use crate::error::{Error, ErrorKind, Result};
use literal::Value;

/// The six bytes every `.npy` file starts with.
pub const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// Data starts on a multiple of this many bytes (NumPy's `ARRAY_ALIGN`).
pub const ARRAY_ALIGN: usize = 64;
/// Spare header room NumPy leaves so the growing axis can reach this many
/// digits without moving the data (NumPy's `GROWTH_AXIS_MAX_DIGITS`).
pub const GROWTH_AXIS_MAX_DIGITS: usize = 21;
/// Largest header accepted when reading, in bytes (NumPy's `_MAX_HEADER_SIZE`).
pub const MAX_HEADER_SIZE: usize = 10_000;

/// A `.npy` format version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NpyVersion {
    /// 1.0: header length is a `u16` (headers up to 65535 bytes).
    V1,
    /// 2.0: header length is a `u32`.
    V2,
    /// 3.0: as 2.0, with a UTF-8 header.
    V3,
}

impl NpyVersion {
    /// `(major, minor)`, e.g. `(1, 0)`.
    #[must_use]
    pub fn as_tuple(self) -> (u8, u8) {
        match self {
            Self::V1 => (1, 0),
            Self::V2 => (2, 0),
            Self::V3 => (3, 0),
        }
    }

    /// Parses `"1"`, `"1.0"`, `"2"`, `"2.0"`, `"3"` or `"3.0"`.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] naming the string.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "1" | "1.0" => Ok(Self::V1),
            "2" | "2.0" => Ok(Self::V2),
            "3" | "3.0" => Ok(Self::V3),
            _ => Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("npy version must be 1.0, 2.0 or 3.0, got {s:?}"),
            )),
        }
    }

    fn length_bytes(self) -> usize {
        if self == Self::V1 { 2 } else { 4 }
    }
}

impl std::fmt::Display for NpyVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (a, b) = self.as_tuple();
        write!(f, "{a}.{b}")
    }
}

/// The contents of a `.npy` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpyHeader {
    /// Element type (the `descr` key).
    pub dtype: DType,
    /// Whether the data is in Fortran (column-major) order.
    pub fortran_order: bool,
    /// The array's shape.
    pub shape: Vec<usize>,
}

/// A header as read from a file: its contents, version and where data starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedHeader {
    /// The header's contents.
    pub header: NpyHeader,
    /// The format version found in the file.
    pub version: NpyVersion,
    /// Byte offset of the first data byte.
    pub data_offset: u64,
}

impl NpyHeader {
    /// The dict literal NumPy writes, before alignment: `{'descr': '<f8',
    /// 'fortran_order': False, 'shape': (3, 4), }`, then with `growth` its
    /// growth padding (spaces).
    fn dict_text(&self, growth: bool) -> String {
        let dims: Vec<String> = self.shape.iter().map(ToString::to_string).collect();
        let shape = match dims.len() {
            1 => format!("({},)", dims[0]),
            _ => format!("({})", dims.join(", ")),
        };
        let fortran = if self.fortran_order { "True" } else { "False" };
        let mut text =
            format!("{{'descr': '{}', 'fortran_order': {fortran}, 'shape': {shape}, }}", self.dtype.descr());
        let growth_axis = if self.fortran_order { dims.last() } else { dims.first() };
        if let Some(d) = growth_axis.filter(|_| growth) {
            text.push_str(&" ".repeat(GROWTH_AXIS_MAX_DIGITS.saturating_sub(d.len())));
        }
        text
    }

    /// Encodes the header exactly as NumPy's `write_array_header` does: the
    /// magic, version, length, dict, growth padding, then spaces and `\n` up
    /// to a 64-byte boundary. With `version: None` the oldest version that
    /// can hold the header is chosen (1.0, else 2.0), as NumPy does.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] if the header does not fit `version`.
    pub fn encode(&self, version: Option<NpyVersion>) -> Result<(Vec<u8>, NpyVersion)> {
        let text = self.dict_text(true);
        let wrap = |v: NpyVersion| -> Option<Vec<u8>> {
            let prefix = MAGIC.len() + 2 + v.length_bytes();
            let hlen = text.len() + 1;
            let padlen = ARRAY_ALIGN - (prefix + hlen) % ARRAY_ALIGN;
            frame(&text, v, prefix + hlen + padlen)
        };
        let chosen = match version {
            Some(v) => v,
            None if wrap(NpyVersion::V1).is_some() => NpyVersion::V1,
            None => NpyVersion::V2,
        };
        wrap(chosen).map(|bytes| (bytes, chosen)).ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!("header of {} bytes is too big for npy version {chosen}", text.len()),
            )
        })
    }

    /// Encodes the header for `version` padded to exactly `len` bytes (the
    /// magic to the last `\n`), to rewrite a file's header in place when
    /// its shape grows: the data keeps its offset. `None` if the header
    /// does not fit in `len` bytes (NumPy's growth padding lets the growth
    /// axis reach 21 digits in the length [`encode`](Self::encode) gives;
    /// a header written without that padding may still fit in its
    /// alignment spaces). Only the number of padding spaces differs from
    /// `encode`'s bytes.
    /// Where NumPy's spelling does not fit, the dict is written without
    /// its optional spaces (`{'descr':'<f8','fortran_order':False,'shape':(3,4)}`,
    /// which NumPy reads as well), as headers of other writers are: the
    /// data then keeps its offset whenever the shape fits at all.
    #[must_use]
    pub fn encode_in(&self, version: NpyVersion, len: usize) -> Option<Vec<u8>> {
        frame(&self.dict_text(false), version, len).or_else(|| {
            let dims: Vec<String> = self.shape.iter().map(ToString::to_string).collect();
            let shape = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(",")) };
            let fortran = if self.fortran_order { "True" } else { "False" };
            frame(&format!("{{'descr':'{}','fortran_order':{fortran},'shape':{shape}}}", self.dtype.descr()), version, len)
        })
    }

    /// Parses a complete header (`bytes` starts at the magic and holds at
    /// least the whole header).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidHeader`] saying what is wrong (a missing magic, a
    /// truncated or malformed header, a shape NumPy cannot make, as
    /// [`check_shape`](crate::check_shape)), or [`ErrorKind::UnsupportedDtype`];
    /// [`read_header`] adds the file's name.
    pub fn decode(bytes: &[u8]) -> Result<ParsedHeader> {
        let (version, header_len, prefix) = decode_prefix(bytes)?;
        let end = prefix + header_len;
        let raw = bytes.get(prefix..end).ok_or_else(|| {
            invalid(format!(
                "truncated header: {header_len} bytes announced, {} present",
                bytes.len().saturating_sub(prefix)
            ))
        })?;
        let text: String = match version {
            // latin-1: every byte is the code point of the same value.
            NpyVersion::V1 | NpyVersion::V2 => raw.iter().map(|&b| char::from(b)).collect(),
            NpyVersion::V3 => String::from_utf8(raw.to_vec()).map_err(|_| invalid("header is not valid UTF-8"))?,
        };
        let value = literal::parse(&text, version <= NpyVersion::V2)
            .map_err(|e| invalid(format!("cannot parse header {:?}: {e}", text.trim_end())))?;
        let header = header_from_value(value)?;
        Ok(ParsedHeader { header, version, data_offset: end as u64 })
    }
}

/// A header of exactly `len` bytes: the magic, `version`, the length
/// field, the dict `text`, spaces and `\n`; `None` if `text` does not fit
/// or the length does not fit `version`'s field.
fn frame(text: &str, version: NpyVersion, len: usize) -> Option<Vec<u8>> {
    let prefix = MAGIC.len() + 2 + version.length_bytes();
    let total = len.checked_sub(prefix)?;
    if text.len() + 1 > total {
        return None;
    }
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(MAGIC);
    let (major, minor) = version.as_tuple();
    out.extend_from_slice(&[major, minor]);
    if version == NpyVersion::V1 {
        out.extend_from_slice(&u16::try_from(total).ok()?.to_le_bytes());
    } else {
        out.extend_from_slice(&u32::try_from(total).ok()?.to_le_bytes());
    }
    out.extend_from_slice(text.as_bytes());
    out.resize(len - 1, b' ');
    out.push(b'\n');
    Some(out)
}

/// An [`ErrorKind::InvalidHeader`] error.
fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidHeader, msg)
}

/// Checks the magic and version; returns the version, the announced header
/// length and the length of the prefix before the header.
fn decode_prefix(bytes: &[u8]) -> Result<(NpyVersion, usize, usize)> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(invalid("not a .npy file: the magic string \\x93NUMPY is missing"));
    }
    let version = match bytes.get(6..8) {
        Some([1, 0]) => NpyVersion::V1,
        Some([2, 0]) => NpyVersion::V2,
        Some([3, 0]) => NpyVersion::V3,
        Some([a, b]) => return Err(invalid(format!("unsupported .npy format version {a}.{b} (1.0, 2.0, 3.0 are known)"))),
        _ => return Err(invalid("truncated header: the file ends inside the version bytes")),
    };
    let prefix = 8 + version.length_bytes();
    let len_bytes = bytes.get(8..prefix).ok_or_else(|| invalid("truncated header: the file ends inside the header length"))?;
    let header_len = if version == NpyVersion::V1 {
        usize::from(u16::from_le_bytes([len_bytes[0], len_bytes[1]]))
    } else {
        u32::from_le_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]) as usize
    };
    if header_len > MAX_HEADER_SIZE {
        return Err(invalid(format!(
            "header too large: {header_len} bytes, the limit is {MAX_HEADER_SIZE} (NumPy's max_header_size)"
        )));
    }
    Ok((version, header_len, prefix))
}

fn header_from_value(value: Value) -> Result<NpyHeader> {
    let Value::Dict(pairs) = value else {
        return Err(invalid(format!("header is a {}, not a dict", value.type_name())));
    };
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    for (k, v) in pairs {
        let Value::Str(key) = k else {
            return Err(invalid(format!("header key is a {}, not a str", k.type_name())));
        };
        let slot = match key.as_str() {
            "descr" => &mut descr,
            "fortran_order" => &mut fortran,
            "shape" => &mut shape,
            other => return Err(invalid(format!("unexpected header key {other:?} (expected descr, fortran_order, shape)"))),
        };
        if slot.replace(v).is_some() {
            return Err(invalid(format!("duplicate header key {key:?}")));
        }
    }
    let missing = |k: &str| invalid(format!("header has no {k:?} key (expected descr, fortran_order, shape)"));
    let dtype = match descr.ok_or_else(|| missing("descr"))? {
        Value::Str(s) => DType::parse(&s)?,
        Value::List(_) => return Err(invalid("structured dtypes (a list descr) are not supported")),
        other => return Err(invalid(format!("descr is a {}, not a str", other.type_name()))),
    };
    let fortran_order = match fortran.ok_or_else(|| missing("fortran_order"))? {
        Value::Bool(b) => b,
        other => return Err(invalid(format!("fortran_order is not a valid bool: a {}", other.type_name()))),
    };
    let shape = match shape.ok_or_else(|| missing("shape"))? {
        Value::Tuple(items) => items
            .into_iter()
            .map(|v| match v {
                Value::Int(n) => usize::try_from(n).map_err(|_| invalid(format!("shape has an invalid dimension {n}"))),
                other => Err(invalid(format!("shape holds a {}, not an int", other.type_name()))),
            })
            .collect::<Result<Vec<_>>>()?,
        other => return Err(invalid(format!("shape is a {}, not a tuple", other.type_name()))),
    };
    // np.load would refuse it (too many dimensions, or too big): so do we
    crate::check_shape(dtype, &shape).map_err(|e| invalid(format!("invalid shape in header: {e}")))?;
    Ok(NpyHeader { dtype, fortran_order, shape })
}

/// Reads and parses the header of the `.npy` file open as `file`.
///
/// # Errors
/// [`ErrorKind::InvalidHeader`] (or [`ErrorKind::UnsupportedDtype`]) naming
/// `path` and the problem; [`ErrorKind::Io`] if reading fails.
pub fn read_header(file: &File, path: &Path) -> Result<ParsedHeader> {
    let mut buf = vec![0u8; 12 + MAX_HEADER_SIZE];
    let mut filled = 0;
    while filled < buf.len() {
        match file.read_at(&mut buf[filled..], filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(path, "cannot read the .npy header", e)),
        }
    }
    buf.truncate(filled);
    NpyHeader::decode(&buf).map_err(|e| Error::at(e.kind(), path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::ScalarKind;

    fn header(shape: &[usize], fortran: bool) -> NpyHeader {
        NpyHeader { dtype: DType::native(ScalarKind::F64), fortran_order: fortran, shape: shape.to_vec() }
    }

    #[test]
    fn encode_matches_numpy_layout() {
        let (bytes, v) = header(&[3, 4], false).encode(None).unwrap();
        assert_eq!(v, NpyVersion::V1);
        assert_eq!(bytes.len() % ARRAY_ALIGN, 0);
        assert_eq!(*bytes.last().unwrap(), b'\n');
        let text = String::from_utf8_lossy(&bytes[10..]);
        assert!(text.starts_with("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }"), "{text}");
        // 21 - len("3") growth spaces follow the dict.
        assert!(text.contains(&format!("}}{}", " ".repeat(20))));
        let (one, _) = header(&[7], true).encode(None).unwrap();
        assert!(String::from_utf8_lossy(&one).contains("'shape': (7,), }"));
        let (zero_d, _) = header(&[], false).encode(Some(NpyVersion::V3)).unwrap();
        assert!(String::from_utf8_lossy(&zero_d).contains("'shape': (), }"));
    }

    #[test]
    fn decode_round_trips_every_version() {
        for v in [NpyVersion::V1, NpyVersion::V2, NpyVersion::V3] {
            let h = header(&[2, 0, 5], true);
            let (bytes, _) = h.encode(Some(v)).unwrap();
            let parsed = NpyHeader::decode(&bytes).unwrap();
            assert_eq!(parsed.header, h);
            assert_eq!(parsed.version, v);
            assert_eq!(parsed.data_offset, bytes.len() as u64);
        }
    }

    #[test]
    fn growth_padding_lets_the_shape_grow_in_place() {
        let small = header(&[1, 8], false).encode(None).unwrap().0;
        let huge = header(&[usize::MAX / 1000, 8], false).encode(None).unwrap().0;
        assert_eq!(small.len(), huge.len());
    }

    #[test]
    fn encode_in_rewrites_a_grown_shape_in_the_same_bytes() {
        for (fortran, grown) in [(false, [123_456_789_012, 8]), (true, [3, 999_999_999_999_999])] {
            let first = if fortran { [3, 1] } else { [1, 8] };
            let (old, v) = header(&first, fortran).encode(None).unwrap();
            let new = header(&grown, fortran).encode_in(v, old.len()).unwrap();
            assert_eq!(new.len(), old.len());
            let parsed = NpyHeader::decode(&new).unwrap();
            assert_eq!((parsed.header.shape, parsed.data_offset), (grown.to_vec(), old.len() as u64));
            assert_eq!(new, header(&grown, fortran).encode(Some(v)).unwrap().0, "NumPy's own bytes when the length is NumPy's");
        }
        // a header without growth padding (older writers: 70 bytes of magic,
        // dict and newline, aligned to 80 here) grows in its spaces while
        // the shape's text fits, then in the dict's spelling without spaces
        // (8 bytes shorter), and not past that
        let tight = header(&[1, 8], false);
        assert_eq!(tight.encode_in(NpyVersion::V1, 80).map(|h| h.len()), Some(80));
        let compact = header(&[1_000_000_000_000, 8], false).encode_in(NpyVersion::V1, 80).unwrap();
        assert!(compact.starts_with(b"\x93NUMPY\x01\x00\x46\x00{'descr':'<f8','fortran_order':False,'shape':(1000000000000,8)}"), "{}", String::from_utf8_lossy(&compact));
        assert_eq!(NpyHeader::decode(&compact).unwrap().header.shape, [1_000_000_000_000, 8]);
        assert!(header(&[10_000_000_000_000_000_000, 8], false).encode_in(NpyVersion::V1, 80).is_none());
        assert!(tight.encode_in(NpyVersion::V1, 5).is_none());
        // version 2.0/3.0 headers past 65535 bytes
        let (big, v2) = tight.encode(Some(NpyVersion::V2)).unwrap();
        assert_eq!(tight.encode_in(v2, big.len()).unwrap(), big);
        assert!(tight.encode_in(NpyVersion::V1, 70_000).is_none());
        assert_eq!(tight.encode_in(NpyVersion::V2, 70_016).map(|h| h.len()), Some(70_016));
    }

    #[test]
    fn decode_rejects_bad_headers() {
        let good = header(&[3], false).encode(None).unwrap().0;
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"hello".to_vec(), "magic"),
            (good[..7].to_vec(), "version"),
            (good[..9].to_vec(), "header length"),
            (good[..40].to_vec(), "truncated header"),
            ([&MAGIC[..], &[9, 0, 0, 0]].concat(), "version 9.0"),
            ([&MAGIC[..], &[2, 0], &(20_000u32).to_le_bytes()].concat(), "too large"),
            (with_dict("{'descr': '|O', 'fortran_order': False, 'shape': (3,), }"), "object"),
            (with_dict("{'descr': '<f8', 'fortran_order': False, }"), "\"shape\""),
            (with_dict("{'descr': '<f8', 'fortran_order': 0, 'shape': (3,), }"), "bool"),
            (with_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (-3,), }"), "-3"),
            (with_dict("{'descr': '<f8', 'fortran_order': False, 'shape': [3], }"), "list"),
            (with_dict("{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (3,), }"), "structured"),
            (with_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), 'x': 1}"), "\"x\""),
            (with_dict("['descr']"), "not a dict"),
            // np.load refuses these shapes (issue 10): NPY_MAXDIMS, and a
            // size overflowing intp even with a zero dimension
            (with_dict(&format!("{{'descr': '<f8', 'fortran_order': False, 'shape': ({}), }}", "1, ".repeat(65))), "found 65"),
            (with_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 0, 4611686018427387904), }"), "too big"),
        ];
        for (bytes, needle) in cases {
            let e = NpyHeader::decode(&bytes).unwrap_err();
            let kind = if needle == "object" { ErrorKind::UnsupportedDtype } else { ErrorKind::InvalidHeader };
            assert_eq!(e.kind(), kind, "{e}");
            assert!(e.to_string().contains(needle), "expected {needle:?} in {e:?}");
        }
    }

    fn with_dict(dict: &str) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&u16::try_from(dict.len()).unwrap().to_le_bytes());
        out.extend_from_slice(dict.as_bytes());
        out
    }
}
