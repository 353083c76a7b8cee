//! Parsing shapes and sizes, and opening an input array (raw or `.npy`).

use std::io::Read;
use std::path::Path;

use mmarray::{DType, Mode, MmapArray, NpyOptions, RawOptions};

use crate::args::RawArgs;
use crate::output::CliError;

/// Parses a shape: `5000,5000`, `(3, 4)`, `[3, 4]`, `7`, `(7,)`, or `()`
/// for a 0-d array. Empty items (`,,`, `3,,4`, an empty string) are
/// refused, as Python refuses `(3,,4)`; a single trailing comma is fine.
pub fn parse_shape(s: &str) -> Result<Vec<usize>, CliError> {
    let t = s.trim();
    let inner = match (t.strip_prefix('('), t.strip_prefix('[')) {
        (Some(rest), _) => rest.strip_suffix(')'),
        (_, Some(rest)) => rest.strip_suffix(']'),
        _ => Some(t),
    }
    .ok_or_else(|| format!("invalid shape {s:?}: unbalanced brackets"))?
    .trim();
    if inner.is_empty() {
        if t.is_empty() {
            return Err(format!("invalid shape {s:?}: expected dimensions such as 3,4 (or () for a 0-d array)").into());
        }
        return Ok(Vec::new());
    }
    let items: Vec<&str> = inner.split(',').map(str::trim).collect();
    let items = match items.split_last() {
        Some((&"", rest)) if !rest.is_empty() => rest, // `(7,)`
        _ => &items[..],
    };
    items
        .iter()
        .map(|&d| match d.parse::<i128>() {
            _ if d.is_empty() => Err(format!("invalid shape {s:?}: empty dimension (two commas in a row?)").into()),
            Ok(n) if n < 0 => Err(format!("invalid shape {s:?}: negative dimension {n}").into()),
            Ok(n) => usize::try_from(n)
                .map_err(|_| format!("invalid shape {s:?}: dimension {n} is too large").into()),
            Err(_) => Err(format!("invalid shape {s:?}: {d:?} is not a whole number").into()),
        })
        .collect()
}

/// Parses `0`, `-1`, `0,2` against `ndim` (negative axes count from the end).
pub fn parse_axes(spec: &str, ndim: usize) -> Result<Vec<usize>, CliError> {
    spec.split(',')
        .map(|t| {
            let t = t.trim();
            t.parse::<isize>().map_err(|_| format!("invalid --axis {spec:?}: {t:?} is not an integer").into())
        })
        .collect::<Result<Vec<isize>, CliError>>()
        .and_then(|axes| Ok(mmarray::normalize_axes(&axes, ndim)?))
}

/// Parses a byte size with an optional unit: `128`, `4KiB`, `1.5MB`, `2G`.
pub fn parse_size(s: &str) -> Result<u64, CliError> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        "t" | "tb" => 1_000_000_000_000,
        "tib" => 1 << 40,
        _ => return Err(format!("invalid size {s:?}: unknown unit {unit:?} (use B, KiB, MiB, GiB, KB, MB, GB)").into()),
    };
    let out_of_range = || format!("invalid size {s:?}: not a whole number of bytes from 0 to {}", u64::MAX);
    if !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit()) {
        // whole numbers exactly (a float64 would round those above 2**53)
        let n: u128 = num.parse().map_err(|_| out_of_range())?;
        return n.checked_mul(u128::from(mult)).and_then(|b| u64::try_from(b).ok()).ok_or_else(|| out_of_range().into());
    }
    let value: f64 = num.parse().map_err(|_| format!("invalid size {s:?}: expected a non-negative number"))?;
    let bytes = value * mult as f64;
    // below 2**53, where every whole number is exact
    if !(0.0..9_007_199_254_740_992.0).contains(&bytes) || bytes.fract() != 0.0 {
        return Err(out_of_range().into());
    }
    Ok(bytes as u64)
}

/// Whether the file starts with the `.npy` magic string; `None` if it cannot
/// be read (then opening it reports the real problem).
fn starts_with_npy_magic(path: &Path) -> Option<bool> {
    let mut file = std::fs::File::open(path).ok()?;
    let mut magic = [0u8; 6];
    Some(file.read_exact(&mut magic).is_ok() && &magic == mmarray::npy::MAGIC)
}

/// How [`map_file`] maps a file.
pub enum MapAs<'a> {
    /// An existing `.npy` file ([`MmapArray::open_npy`]).
    Npy(Mode),
    /// A raw file ([`RawOptions::open`]).
    Raw(&'a RawOptions),
    /// A new `.npy` file, overwriting any other ([`NpyOptions::create`]).
    NewNpy(&'a NpyOptions),
}

/// Maps the named file `path`: every mapping of a named file the CLI makes
/// goes through here (the `unsafe` constructors of the crate's mapping
/// contract), except the demo's workers, which map disjoint ranges.
pub fn map_file(path: &Path, how: MapAs<'_>) -> mmarray::Result<MmapArray> {
    // SAFETY: the command's documented contract (README, "Reliability"): the
    // files a command reads or writes must not be modified by other programs
    // while it runs (a truncation is detected and reported, not undefined
    // behaviour). Within a command, no handle of a file writes while a view
    // borrowed from another handle of it is alive.
    unsafe {
        match how {
            MapAs::Npy(mode) => MmapArray::open_npy(path, mode),
            MapAs::Raw(opts) => opts.open(path),
            MapAs::NewNpy(opts) => opts.create(path),
        }
    }
}

/// Opens the input: raw when `--dtype` is given, `.npy` otherwise.
pub fn open_input(path: &Path, raw: &RawArgs, mode: Mode) -> Result<MmapArray, CliError> {
    if let Some(dtype) = &raw.dtype {
        let mut opts = RawOptions::new(DType::parse(dtype)?).mode(mode);
        if let Some(shape) = &raw.shape {
            opts = opts.shape(&parse_shape(shape)?);
        }
        if let Some(offset) = &raw.offset {
            opts = opts.offset(parse_size(offset)?);
        }
        if let Some(order) = raw.order {
            opts = opts.order(order.into());
        }
        return Ok(map_file(path, MapAs::Raw(&opts))?);
    }
    if raw.shape.is_some() || raw.offset.is_some() || raw.order.is_some() {
        return Err("--shape, --offset and --order describe a raw file and need --dtype as well".into());
    }
    if path.is_file() && starts_with_npy_magic(path) == Some(false) {
        return Err(format!(
            "{}: not a .npy file (no \\x93NUMPY magic); for a raw file give --dtype (and --shape, --offset, --order)",
            path.display()
        )
        .into());
    }
    Ok(map_file(path, MapAs::Npy(mode))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(parse_shape("5000,5000").unwrap(), vec![5000, 5000]);
        assert_eq!(parse_shape("(3, 4)").unwrap(), vec![3, 4]);
        assert_eq!(parse_shape("7").unwrap(), vec![7]);
        assert_eq!(parse_shape("()").unwrap(), Vec::<usize>::new());
        assert!(parse_shape("3,-1").unwrap_err().to_string().contains("negative dimension -1"));
        assert!(parse_shape("3,x").is_err());
        // issue 10: empty items are not dimensions
        assert_eq!(parse_shape("(7,)").unwrap(), vec![7]);
        assert_eq!(parse_shape("[3, 4]").unwrap(), vec![3, 4]);
        for bad in [",,", ",", "3,,4", ",3", "", "  ", "(3", "3)", "((3))", "(3,),"] {
            assert!(parse_shape(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("128").unwrap(), 128);
        assert_eq!(parse_size("4KiB").unwrap(), 4096);
        assert_eq!(parse_size("1.5MB").unwrap(), 1_500_000);
        assert_eq!(parse_size("2 GiB").unwrap(), 2 << 30);
        assert!(parse_size("-1").is_err());
        assert!(parse_size("3 parsecs").is_err());
        assert!(parse_size("0.5").is_err());
        // issue 10: exact beyond 2**53, errors beyond u64, nan and inf refused
        assert_eq!(parse_size("9007199254740993").unwrap(), 9_007_199_254_740_993);
        assert_eq!(parse_size("18446744073709551615").unwrap(), u64::MAX);
        for bad in ["18446744073709551616", "16EiB", "20000000TiB", "nan", "inf", "1e3", "", "KiB", "1..5"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }
}
