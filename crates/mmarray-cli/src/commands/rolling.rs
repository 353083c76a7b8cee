//! `mmarray rolling`: rolling-window statistics into a new `.npy` file.

use mmarray::compute::{rolling_along, rolling_into, Real, RollingStat};
use mmarray::{DType, MmapArray, Mode, NpyOptions, ScalarKind, Selection};
use ndarray::{s, Ix1};

use crate::args::RollingArgs;
use crate::input::open_input;
use crate::output::{create_output, keep_output, not_the_input, print, CliError};

fn run_typed<T: Real>(input: &MmapArray, args: &RollingArgs, stat: RollingStat) -> Result<usize, CliError> {
    let sel = Selection::parse(args.slice.as_deref().unwrap_or(""))?;
    let data = input.view_or_copy::<T>()?; // (a copy only for non-native byte order)
    let view = sel.apply(data.view())?;
    let create = |shape: &[usize]| {
        let opts = NpyOptions::new(DType::native(ScalarKind::F64), shape);
        create_output(&args.output, args.force, |at| opts.create_pending(at))
    };
    if let Some(axis) = args.axis.filter(|_| view.ndim() != 1) {
        if args.pad {
            return Err("--pad is for 1-D data".into());
        }
        let ax = mmarray::normalize_axis(axis, view.ndim())?;
        let r = rolling_along(view, ax, args.window, stat, args.ddof)?;
        let mut out = create(r.shape())?;
        out.view_mut::<f64>()?.assign(&r);
        crate::test_panic("rolling");
        keep_output(out, args.force)?;
        return Ok(r.len());
    }
    if view.ndim() == 0 {
        return Err("0-d data (a single value) has no axis to roll along".into());
    }
    let x = view.into_dimensionality::<Ix1>().map_err(|_| {
        "N-d data needs --axis (or a 1-D --slice such as '0, :')".to_string()
    })?;
    let n = x.len();
    if args.window == 0 || args.window > n {
        return Err(format!("--window {} must be between 1 and the length {n}", args.window).into());
    }
    let m = n - args.window + 1;
    let len = if args.pad { n } else { m };
    let mut out = create(&[len])?;
    {
        let mut o = out.view_mut::<f64>()?.into_dimensionality::<Ix1>()?;
        let pad = len - m;
        o.slice_mut(s![..pad]).fill(f64::NAN);
        rolling_into(x, args.window, stat, args.ddof, o.slice_mut(s![pad..]))?;
    }
    crate::test_panic("rolling");
    keep_output(out, args.force)?;
    Ok(len)
}

pub fn run(args: &RollingArgs) -> Result<(), CliError> {
    let stat = RollingStat::parse(&args.stat)?;
    let input = open_input(&args.file, &args.raw, Mode::ReadOnly)?;
    not_the_input(&args.file, &args.output)?;
    let what = format!("rolling {} over {}", args.stat, input.path().display());
    let len = crate::progress::engine(input.nbytes() as u64, &what, || {
        mmarray::with_scalar_type!(input.dtype().kind(), |T| run_typed::<T>(&input, args, stat), complex => {
            Err(format!("{}: rolling statistics of complex data are not supported", input.path().display()).into())
        })
    });
    let len = len?;
    print(&format!(
        "wrote {}: rolling {} over windows of {}, {len} values (float64)\n",
        args.output.display(),
        args.stat,
        args.window
    ))
}
