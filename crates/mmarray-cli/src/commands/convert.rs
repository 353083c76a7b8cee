//! `mmarray convert`: raw to `.npy` and `.npy` to raw, streaming the bytes.

use mmarray::{shape_repr, Mode, NpyOptions, RawOptions};

use super::create::is_npy_name;
use crate::args::ConvertArgs;
use crate::input::open_input;
use crate::output::{create_output, keep_output, not_the_input, print, CliError};

pub fn run(args: &ConvertArgs) -> Result<(), CliError> {
    let input = open_input(&args.input, &args.raw, Mode::ReadOnly)?;
    not_the_input(&args.input, &args.output)?;
    let (dtype, shape, order) = (input.dtype(), input.shape().to_vec(), input.order());
    let npy = is_npy_name(&args.output);
    let mut out = create_output(&args.output, args.force, |at| {
        if npy {
            let opts = NpyOptions::new(dtype, &shape).order(order);
            opts.create_pending(at)
        } else {
            let opts = RawOptions::new(dtype).mode(Mode::Write).shape(&shape).order(order);
            opts.create_pending(at)
        }
    })?;
    let src = input.as_bytes();
    let bar = crate::progress::bytes(src.len() as u64, &format!("converting {}", args.input.display()));
    out.fill_bytes(|start, chunk| {
        chunk.copy_from_slice(&src[start..start + chunk.len()]);
        bar.inc(chunk.len() as u64);
    })?;
    bar.finish_and_clear();
    crate::test_panic("convert");
    keep_output(out, args.force)?;
    let how = if npy {
        String::new()
    } else {
        format!(
            "; read it with --dtype '{}' --shape {} --order {}",
            dtype.descr(),
            shape.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
            order
        )
    };
    print(&format!(
        "wrote {} ({}): {} {} {} order{how}\n",
        args.output.display(),
        if npy { "npy" } else { "raw" },
        dtype.descr(),
        shape_repr(&shape),
        order
    ))
}
