//! `mmarray info`: describe an array file.

use mmarray::{shape_repr, Format, MmapArray, Mode};
use serde_json::json;

use crate::args::InfoArgs;
use crate::input::open_input;
use crate::output::{print, CliError};

pub fn run(args: &InfoArgs) -> Result<(), CliError> {
    let a = open_input(&args.file, &args.raw, Mode::ReadOnly)?;
    if args.json {
        print(&format!("{}\n", describe_json(&a)))
    } else {
        print(&describe_text(&a))
    }
}

fn describe_json(a: &MmapArray) -> serde_json::Value {
    let (format, version) = match a.format() {
        Format::Raw => ("raw", None),
        Format::Npy(v) => ("npy", Some(v.to_string())),
    };
    let trailing = a.trailing();
    json!({
        "path": a.path().display().to_string(),
        "format": format,
        "version": version,
        "dtype": a.dtype().descr(),
        "dtype_name": a.dtype().kind().name(),
        "itemsize": a.dtype().itemsize(),
        "shape": a.shape(),
        "order": a.order().as_str(),
        "fortran_order": a.order() == mmarray::Order::F,
        "offset": a.offset(),
        "nbytes": a.nbytes(),
        "size": a.len(),
        "strides": a.strides(),
        // bytes past the header's shape (an interrupted append) and the
        // whole rows among them
        "trailing_bytes": trailing.map_or(0, |t| t.bytes),
        "trailing_rows": trailing.and_then(|t| t.whole_rows()).unwrap_or(0),
    })
}

fn describe_text(a: &MmapArray) -> String {
    let strides: Vec<usize> = a.strides().iter().map(|s| s.unsigned_abs()).collect();
    format!(
        "file:    {}\nformat:  {}\ndtype:   {} ({})\nshape:   {}\norder:   {}\noffset:  {} bytes\nnbytes:  {} ({})\nstrides: {}\n",
        a.path().display(),
        a.format(),
        a.dtype().descr(),
        a.dtype().kind().name(),
        shape_repr(a.shape()),
        a.order(),
        a.offset(),
        a.nbytes(),
        human_bytes(a.nbytes() as u64),
        shape_repr(&strides),
    ) + &a.trailing().map(trailing_text).unwrap_or_default()
}

/// The `trailing:` line for bytes past the header's shape.
fn trailing_text(t: mmarray::Trailing) -> String {
    let rows = match (t.whole_rows(), t.row_bytes) {
        (Some(n), Some(r)) => format!(": {n} whole row{} of {r} bytes and {} bytes more", if n == 1 { "" } else { "s" }, t.partial_bytes()),
        _ => String::new(),
    };
    format!(
        "trailing: {} bytes past the data the header describes{rows} (an interrupted append leaves them; readers ignore them; `mmarray repair --adopt` or `--trim` keeps or cuts them)\n",
        t.bytes
    )
}

/// `1.5 GiB`-style sizes for people.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{n} B") } else { format!("{v:.1} {}", UNITS[u]) }
}
