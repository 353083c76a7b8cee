//! `mmarray apply`: in-place steps on a region, in command-line order.

use clap::ArgMatches;
use mmarray::compute::{apply, Real, Scalar, Step};
use mmarray::{shape_repr, MmapArray, Mode, ScalarKind, Selection};

use crate::args::ApplyArgs;
use crate::input::open_input;
use crate::output::{print, CliError};

/// The steps in the order their flags appear on the command line.
fn ordered_steps(args: &ApplyArgs, m: &ArgMatches) -> Result<Vec<Step>, CliError> {
    let mut steps: Vec<(usize, Step)> = Vec::new();
    let scalar = |s: &String| Scalar::parse(s).map_err(|e| format!("invalid step value: {e}"));
    for (name, values, make) in [
        ("add", &args.add, Step::Add as fn(Scalar) -> Step),
        ("sub", &args.sub, Step::Sub),
        ("mul", &args.mul, Step::Mul),
        ("div", &args.div, Step::Div),
    ] {
        for (idx, v) in m.indices_of(name).into_iter().flatten().zip(values) {
            steps.push((idx, make(scalar(v)?)));
        }
    }
    for (idx, v) in m.indices_of("clip").into_iter().flatten().zip(&args.clip) {
        let (lo, hi) = v.split_once(',').ok_or_else(|| format!("invalid --clip {v:?}: expected LO,HI"))?;
        steps.push((idx, Step::Clip(scalar(&lo.to_string())?, scalar(&hi.to_string())?)));
    }
    if args.normalize > 0 {
        // (a count flag has a default, so only look when it was given)
        for idx in m.indices_of("normalize").into_iter().flatten() {
            steps.push((idx, Step::Normalize));
        }
    }
    steps.sort_by_key(|s| s.0);
    if steps.is_empty() {
        return Err("nothing to do: give at least one of --add, --sub, --mul, --div, --clip, --normalize".into());
    }
    Ok(steps.into_iter().map(|s| s.1).collect())
}

fn run_typed<T: Real>(a: &mut MmapArray, sel: &Selection, steps: &[Step]) -> Result<Vec<usize>, CliError> {
    let view = sel.apply_mut(a.view_mut::<T>()?)?;
    let shape = view.shape().to_vec();
    apply(view, steps)?;
    Ok(shape)
}

pub fn run(args: &ApplyArgs, matches: &ArgMatches) -> Result<(), CliError> {
    let steps = ordered_steps(args, matches)?;
    let sel = Selection::parse(args.slice.as_deref().unwrap_or(""))?;
    let mut a = open_input(&args.file, &args.raw, Mode::ReadWrite)?;
    let unsupported_msg = format!("{}: apply does not support '{}' data", a.path().display(), a.dtype());
    let unsupported = || unsupported_msg.clone();
    if a.dtype().kind() == ScalarKind::Bool {
        return Err(unsupported().into());
    }
    // each Normalize adds a read pass before the writing one
    let passes = 1 + steps.iter().filter(|s| **s == Step::Normalize).count() as u64;
    let what = format!("applying {} step(s) to {}", steps.len(), args.file.display());
    let total = a.nbytes() as u64 * passes;
    let kind = a.dtype().kind();
    let shape = crate::progress::engine(total, &what, || {
        crate::test_panic("apply");
        mmarray::with_scalar_type!(kind, |T| run_typed::<T>(&mut a, &sel, &steps), complex => Err(unsupported().into()))
    })?;
    a.close()?;
    print(&format!("{}: applied {} step(s) to a region of shape {}\n", args.file.display(), steps.len(), shape_repr(&shape)))
}
