//! `mmarray rolling`: rolling-window statistics into a new `.npy` file.

use mmarray::compute::{rolling_along, rolling_dtype, rolling_into, Real, RollingStat};
use mmarray::{DType, MmapArray, Mode, NpyOptions, ScalarKind, Selection};
use ndarray::{s, Ix1};

use crate::args::RollingArgs;
use crate::input::open_input;
use crate::output::{create_output, keep_output, not_the_input, print, CliError};

/// Rolls `T` data into a new file of `U` (the output's float type).
fn run_typed<T: Real, U: Real>(input: &MmapArray, args: &RollingArgs, stat: RollingStat, out_kind: ScalarKind) -> Result<usize, CliError> {
    let sel = Selection::parse(args.slice.as_deref().unwrap_or(""))?;
    let data = input.view_or_copy::<T>()?; // (a copy only for non-native byte order)
    let view = sel.apply(data.view())?;
    let create = |shape: &[usize]| {
        let opts = NpyOptions::new(DType::native(out_kind), shape);
        create_output(&args.output, args.force, |at| opts.create_pending(at))
    };
    if let Some(axis) = args.axis.filter(|_| view.ndim() != 1) {
        if args.pad {
            return Err("--pad is for 1-D data".into());
        }
        let ax = mmarray::normalize_axis(axis, view.ndim())?;
        let r = rolling_along::<T, U>(view, ax, args.window, stat, args.ddof)?;
        let mut out = create(r.shape())?;
        out.view_mut::<U>()?.assign(&r);
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
        let mut o = out.view_mut::<U>()?.into_dimensionality::<Ix1>()?;
        let pad = len - m;
        o.slice_mut(s![..pad]).fill(U::from_f64(f64::NAN));
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
    let kind = input.dtype().kind();
    let out_kind = if args.float64 { ScalarKind::F64 } else { rolling_dtype(kind) };
    let len = crate::progress::engine(input.nbytes() as u64, &what, || {
        mmarray::with_scalar_type!(kind, |T| match out_kind {
            ScalarKind::F16 => run_typed::<T, mmarray::f16>(&input, args, stat, out_kind),
            ScalarKind::F32 => run_typed::<T, f32>(&input, args, stat, out_kind),
            _ => run_typed::<T, f64>(&input, args, stat, out_kind),
        }, complex => {
            Err(format!("{}: rolling statistics of complex data are not supported", input.path().display()).into())
        })
    });
    let len = len?;
    print(&format!(
        "wrote {}: rolling {} over windows of {}, {len} values ({})\n",
        args.output.display(),
        args.stat,
        args.window,
        out_kind.name()
    ))
}
