//! Element types: which scalar each array holds, its size, its byte order, and
//! its NumPy type descriptor (`'<f8'`, `'|u1'`, `'>c16'`, ...).

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, ErrorKind, Result};

/// The scalar types mmarray can map, one per NumPy numeric dtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScalarKind {
    /// `numpy.bool_`, one byte per element, 0 or 1.
    Bool,
    /// `numpy.int8`.
    I8,
    /// `numpy.int16`.
    I16,
    /// `numpy.int32`.
    I32,
    /// `numpy.int64`.
    I64,
    /// `numpy.uint8`.
    U8,
    /// `numpy.uint16`.
    U16,
    /// `numpy.uint32`.
    U32,
    /// `numpy.uint64`.
    U64,
    /// `numpy.float16` (IEEE half precision).
    F16,
    /// `numpy.float32`.
    F32,
    /// `numpy.float64`.
    F64,
    /// `numpy.complex64`: two `f32`, real part first.
    C64,
    /// `numpy.complex128`: two `f64`, real part first.
    C128,
}

impl ScalarKind {
    /// Every supported kind, in NumPy's usual order.
    pub const ALL: [ScalarKind; 14] = [
        Self::Bool,
        Self::I8,
        Self::I16,
        Self::I32,
        Self::I64,
        Self::U8,
        Self::U16,
        Self::U32,
        Self::U64,
        Self::F16,
        Self::F32,
        Self::F64,
        Self::C64,
        Self::C128,
    ];

    /// Size of one element in bytes.
    #[must_use]
    pub fn itemsize(self) -> usize {
        match self {
            Self::Bool | Self::I8 | Self::U8 => 1,
            Self::I16 | Self::U16 | Self::F16 => 2,
            Self::I32 | Self::U32 | Self::F32 => 4,
            Self::I64 | Self::U64 | Self::F64 | Self::C64 => 8,
            Self::C128 => 16,
        }
    }

    /// Alignment a typed view needs (complex numbers align as their parts).
    #[must_use]
    pub fn alignment(self) -> usize {
        match self {
            Self::C64 => 4,
            Self::C128 => 8,
            other => other.itemsize(),
        }
    }

    /// NumPy's type character in a descr: `b` bool, `i` signed, `u`
    /// unsigned, `f` float, `c` complex.
    fn code(self) -> char {
        match self {
            Self::Bool => 'b',
            Self::I8 | Self::I16 | Self::I32 | Self::I64 => 'i',
            Self::U8 | Self::U16 | Self::U32 | Self::U64 => 'u',
            Self::F16 | Self::F32 | Self::F64 => 'f',
            Self::C64 | Self::C128 => 'c',
        }
    }

    /// NumPy's name for the type (`"float64"`, `"bool"`, ...).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Bool => "bool",
            Self::I8 => "int8",
            Self::I16 => "int16",
            Self::I32 => "int32",
            Self::I64 => "int64",
            Self::U8 => "uint8",
            Self::U16 => "uint16",
            Self::U32 => "uint32",
            Self::U64 => "uint64",
            Self::F16 => "float16",
            Self::F32 => "float32",
            Self::F64 => "float64",
            Self::C64 => "complex64",
            Self::C128 => "complex128",
        }
    }

    /// Whether the type is a float or complex type.
    #[must_use]
    pub fn is_float(self) -> bool {
        matches!(self.code(), 'f' | 'c')
    }

    fn from_code(code: char, size: usize) -> Option<Self> {
        Some(match (code, size) {
            ('b', 1) => Self::Bool,
            ('i', 1) => Self::I8,
            ('i', 2) => Self::I16,
            ('i', 4) => Self::I32,
            ('i', 8) => Self::I64,
            ('u', 1) => Self::U8,
            ('u', 2) => Self::U16,
            ('u', 4) => Self::U32,
            ('u', 8) => Self::U64,
            ('f', 2) => Self::F16,
            ('f', 4) => Self::F32,
            ('f', 8) => Self::F64,
            ('c', 8) => Self::C64,
            ('c', 16) => Self::C128,
            _ => return None,
        })
    }

    /// NumPy's one-letter type characters (`np.dtype('d')`) and names.
    fn from_alias(s: &str) -> Option<Self> {
        Some(match s {
            "?" | "bool" | "bool_" => Self::Bool,
            "b" | "int8" | "byte" => Self::I8,
            "h" | "int16" | "short" => Self::I16,
            "i" | "int32" | "intc" => Self::I32,
            "l" | "q" | "int64" | "int" | "int_" | "long" | "longlong" | "intp" | "p" => Self::I64,
            "B" | "uint8" | "ubyte" => Self::U8,
            "H" | "uint16" | "ushort" => Self::U16,
            "I" | "uint32" | "uintc" => Self::U32,
            "L" | "Q" | "uint64" | "uint" | "ulong" | "ulonglong" | "uintp" | "P" => Self::U64,
            "e" | "float16" | "half" => Self::F16,
            "f" | "float32" | "single" => Self::F32,
            "d" | "float64" | "float" | "double" => Self::F64,
            "F" | "complex64" | "csingle" => Self::C64,
            "D" | "complex128" | "complex" | "cdouble" => Self::C128,
            _ => return None,
        })
    }
}

/// Byte order of the elements in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ByteOrder {
    /// Least significant byte first (`<`), native on x86-64 and aarch64.
    Little,
    /// Most significant byte first (`>`).
    Big,
}

impl ByteOrder {
    /// The byte order of the machine running this code.
    pub const NATIVE: ByteOrder =
        if cfg!(target_endian = "little") { ByteOrder::Little } else { ByteOrder::Big };

    /// NumPy's character for this byte order: `<` or `>`.
    #[must_use]
    pub fn symbol(self) -> char {
        match self {
            Self::Little => '<',
            Self::Big => '>',
        }
    }

    /// `"little-endian"` or `"big-endian"`, for messages.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Self::Little => "little-endian",
            Self::Big => "big-endian",
        }
    }
}

/// A NumPy dtype that mmarray can map: a [`ScalarKind`] and a [`ByteOrder`].
///
/// For one-byte types the byte order is irrelevant and always stored as
/// native; their descr uses NumPy's `|`.
///
/// ```
/// use mmarray::{DType, ScalarKind, ByteOrder};
/// let d: DType = "<f8".parse()?;
/// assert_eq!(d.kind(), ScalarKind::F64);
/// assert_eq!(d.descr(), "<f8");
/// assert_eq!("uint8".parse::<DType>()?.descr(), "|u1");
/// assert_eq!(">i4".parse::<DType>()?.byte_order(), ByteOrder::Big);
/// # Ok::<(), mmarray::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DType {
    kind: ScalarKind,
    byte_order: ByteOrder,
}

impl DType {
    /// The dtype of `kind` in the machine's native byte order.
    #[must_use]
    pub fn native(kind: ScalarKind) -> Self {
        Self { kind, byte_order: ByteOrder::NATIVE }
    }

    /// The dtype of `kind` in `byte_order` (ignored for one-byte types).
    #[must_use]
    pub fn with_byte_order(kind: ScalarKind, byte_order: ByteOrder) -> Self {
        let byte_order = if kind.itemsize() == 1 { ByteOrder::NATIVE } else { byte_order };
        Self { kind, byte_order }
    }

    /// The scalar type.
    #[must_use]
    pub fn kind(self) -> ScalarKind {
        self.kind
    }

    /// The byte order of the elements.
    #[must_use]
    pub fn byte_order(self) -> ByteOrder {
        self.byte_order
    }

    /// Whether elements are stored in the machine's byte order (so zero-copy
    /// typed views are possible).
    #[must_use]
    pub fn is_native(self) -> bool {
        self.byte_order == ByteOrder::NATIVE
    }

    /// Size of one element in bytes.
    #[must_use]
    pub fn itemsize(self) -> usize {
        self.kind.itemsize()
    }

    /// NumPy's descr string, exactly as `numpy.dtype(...).str` gives it:
    /// `'<f8'`, `'>i4'`, `'|u1'`, `'|b1'`, `'<c16'`.
    #[must_use]
    pub fn descr(self) -> String {
        let order = if self.itemsize() == 1 { '|' } else { self.byte_order.symbol() };
        format!("{order}{}{}", self.kind.code(), self.itemsize())
    }

    /// Parses a NumPy dtype spelling: a descr with or without byte order
    /// (`'<f8'`, `'>i2'`, `'=u4'`, `'|b1'`, `'f4'`), a type character
    /// (`'d'`, `'?'`, `'B'`), or a name (`'float64'`, `'uint8'`, `'bool'`).
    ///
    /// # Errors
    /// [`ErrorKind::UnsupportedDtype`] for dtypes that cannot be mapped
    /// (object, strings, datetimes, structured, `'V'`) and for unknown
    /// spellings; the message names the string.
    pub fn parse(s: &str) -> Result<Self> {
        // (no trimming: NumPy refuses ' f8' and 'f8 ')
        let t = s;
        let unsupported = |why: &str| {
            Error::new(ErrorKind::UnsupportedDtype, format!("unsupported dtype {s:?}: {why}"))
        };
        if t.is_empty() {
            return Err(unsupported("empty dtype string"));
        }
        let (order, rest) = match t.as_bytes()[0] {
            b'<' => (Some(ByteOrder::Little), &t[1..]),
            b'>' => (Some(ByteOrder::Big), &t[1..]),
            b'=' | b'|' => (Some(ByteOrder::NATIVE), &t[1..]),
            _ => (None, t),
        };
        let kind = Self::parse_kind(rest, order.is_some()).ok_or_else(|| {
            let first = rest.chars().next().unwrap_or(' ');
            match first {
                'O' => unsupported("object arrays hold Python pointers and cannot be memory-mapped"),
                'S' | 'U' | 'a' | 'V' => {
                    unsupported("string and void dtypes are not supported; numeric dtypes only")
                }
                'M' | 'm' => unsupported("datetime/timedelta dtypes are not supported"),
                _ => unsupported(
                    "expected a numeric NumPy dtype such as '<f8', 'float32', 'u1' or 'bool'",
                ),
            }
        })?;
        Ok(Self::with_byte_order(kind, order.unwrap_or(ByteOrder::NATIVE)))
    }

    /// NumPy's rules: a byte-order prefix goes with a one-letter code or a
    /// code and size ('<f8', '>?', '=d'), never with a name ('<float64',
    /// '=bool' are errors); '?' takes no size ('?1' is an error, 'b1' is
    /// bool).
    fn parse_kind(rest: &str, prefixed: bool) -> Option<ScalarKind> {
        if !prefixed || rest.chars().count() == 1 {
            if let Some(kind) = ScalarKind::from_alias(rest) {
                return Some(kind);
            }
        }
        let mut chars = rest.chars();
        let code = chars.next()?;
        let digits = chars.as_str();
        if code == '?' || digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        ScalarKind::from_code(code, digits.parse().ok()?)
    }
}

impl FromStr for DType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.descr())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What NumPy 2.4's `np.dtype(s)` says of each (checked against it):
    /// its `.str`, or `None` for a TypeError.
    #[test]
    fn accepts_what_numpy_accepts_and_nothing_else() {
        let numpy: &[(&str, Option<&str>)] = &[
            ("f8 ", None), (" f8", None), ("<float64", None), ("=bool", None), ("?1", None), (">intp", None),
            ("bool8", None), ("float_", None), ("cfloat", None), ("f+8", None), ("f 8", None), ("", None),
            ("|f8", Some("<f8")), ("<b1", Some("|b1")), ("=f8", Some("<f8")), (">i1", Some("|i1")), ("intp", Some("<i8")),
            ("uintp", Some("<u8")), ("float", Some("<f8")), ("int", Some("<i8")), ("b1", Some("|b1")), ("?", Some("|b1")),
            ("<?", Some("|b1")), (">?", Some("|b1")), ("=b1", Some("|b1")), ("i1", Some("|i1")), ("|u1", Some("|u1")),
            ("half", Some("<f2")), ("single", Some("<f4")), ("double", Some("<f8")), ("longlong", Some("<i8")),
            ("short", Some("<i2")), ("ubyte", Some("|u1")), ("intc", Some("<i4")), ("bool_", Some("|b1")),
            ("complex", Some("<c16")), ("<d", Some("<f8")), (">f4", Some(">f4")), ("<c8", Some("<c8")),
        ];
        for &(s, want) in numpy {
            let got = DType::parse(s).ok().map(|d| d.descr());
            assert_eq!(got.as_deref(), want, "{s:?}");
        }
    }

    #[test]
    fn descr_round_trips_for_every_kind_and_order() {
        for kind in ScalarKind::ALL {
            for order in [ByteOrder::Little, ByteOrder::Big] {
                let d = DType::with_byte_order(kind, order);
                let back: DType = d.descr().parse().unwrap();
                assert_eq!(back, d, "{}", d.descr());
                assert_eq!(kind.name().parse::<DType>().unwrap().kind(), kind);
            }
        }
    }

    #[test]
    fn numpy_spellings() {
        assert_eq!(DType::parse("|b1").unwrap().descr(), "|b1");
        assert_eq!(DType::parse("?").unwrap().kind(), ScalarKind::Bool);
        assert_eq!(DType::parse("i8").unwrap().kind(), ScalarKind::I64, "numpy i8 is int64");
        assert_eq!(DType::parse("u8").unwrap().kind(), ScalarKind::U64);
        assert_eq!(DType::parse(">f2").unwrap().descr(), ">f2");
        assert_eq!(DType::parse("<c8").unwrap().kind(), ScalarKind::C64);
        assert_eq!(DType::parse("d").unwrap().kind(), ScalarKind::F64);
        assert_eq!(DType::parse(">u1").unwrap().descr(), "|u1");
    }

    #[test]
    fn unsupported_dtypes_name_the_problem() {
        for (s, needle) in [
            ("|O", "object"),
            ("<U10", "string"),
            ("<M8[ns]", "datetime"),
            ("<f3", "numeric"),
            ("", "empty"),
            ("float128", "numeric"),
        ] {
            let e = DType::parse(s).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::UnsupportedDtype);
            assert!(e.to_string().contains(needle), "{s}: {e}");
        }
    }
}
