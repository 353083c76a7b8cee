//! `mmarray repair`: adopt or trim what an interrupted append left past a
//! `.npy` header's shape (the core's `recover`).

use mmarray::{recover, shape_repr, Recovery};

use crate::args::RepairArgs;
use crate::output::{print, CliError};

pub fn run(args: &RepairArgs) -> Result<(), CliError> {
    let how = if args.adopt { Recovery::Adopt } else { Recovery::Trim };
    let r = recover(&args.file, how)?;
    let name = args.file.display();
    let text = if r.rows_adopted == 0 && r.bytes_trimmed == 0 {
        format!("{name}: nothing past the header's shape {}; unchanged\n", shape_repr(&r.shape))
    } else {
        format!(
            "repaired {name}: {} row{} adopted, {} byte{} trimmed; shape {}\n",
            r.rows_adopted,
            if r.rows_adopted == 1 { "" } else { "s" },
            r.bytes_trimmed,
            if r.bytes_trimmed == 1 { "" } else { "s" },
            shape_repr(&r.shape)
        )
    };
    let note = r.header_rewritten.map(|n| format!("{name}: {n}\n")).unwrap_or_default();
    print(&(text + &note))
}
