//! `mmarray apply`: in-place steps on a region, in command-line order.

use clap::ArgMatches;
use mmarray::compute::{apply, FpEvent, Real, Scalar, Step};
use mmarray::{shape_repr, MmapArray, Mode, ScalarKind, Selection};

use crate::args::ApplyArgs;
use crate::input::open_input;
use crate::output::{print, CliError};

/// A step's number, read as Python reads a literal (`2` is an integer, `2.0`
/// a float: on integer data they differ, as in NumPy), naming the flag on
/// error.
fn parse_literal(flag: &str, text: &str) -> Result<Scalar, CliError> {
    Scalar::parse(text).map_err(|e| format!("--{flag} {e}").into())
}

/// The steps in the order their flags appear on the command line.
fn ordered_steps(args: &ApplyArgs, m: &ArgMatches) -> Result<Vec<Step>, CliError> {
    let mut steps: Vec<(usize, Step)> = Vec::new();
    for (name, values, make) in [
        ("add", &args.add, Step::Add as fn(Scalar) -> Step),
        ("sub", &args.sub, Step::Sub),
        ("mul", &args.mul, Step::Mul),
        ("div", &args.div, Step::Div),
    ] {
        for (idx, v) in m.indices_of(name).into_iter().flatten().zip(values) {
            steps.push((idx, make(parse_literal(name, v)?)));
        }
    }
    for (idx, v) in m.indices_of("clip").into_iter().flatten().zip(&args.clip) {
        let (lo, hi) = v.split_once(',').ok_or_else(|| format!("invalid --clip {v:?}: expected LO,HI"))?;
        steps.push((idx, Step::Clip(parse_literal("clip", lo)?, parse_literal("clip", hi)?)));
    }
    for idx in m.indices_of("normalize").into_iter().flatten() {
        steps.push((idx, Step::Normalize));
    }
    steps.sort_by_key(|s| s.0);
    if steps.is_empty() {
        return Err("nothing to do: give at least one of --add, --sub, --mul, --div, --clip, --normalize".into());
    }
    Ok(steps.into_iter().map(|s| s.1).collect())
}

fn run_typed<T: Real>(a: &mut MmapArray, sel: &Selection, steps: &[Step]) -> Result<(Vec<usize>, Vec<FpEvent>), CliError> {
    if a.dtype().is_native() {
        let view = sel.apply_mut(a.view_mut::<T>()?)?;
        let shape = view.shape().to_vec();
        let events = apply(view, steps)?;
        return Ok((shape, events));
    }
    // Non-native byte order: compute on a native copy (memory for the whole
    // array), then write it all back byte-swapped.
    let mut data = a.to_array::<T>()?;
    let view = sel.apply_mut(data.view_mut())?;
    let shape = view.shape().to_vec();
    let events = apply(view, steps)?;
    let flat: Vec<T> = data.iter().copied().collect(); // logical (C) order
    a.fill_with(|i| flat[i])?;
    Ok((shape, events))
}

pub fn run(args: &ApplyArgs, matches: &ArgMatches) -> Result<(), CliError> {
    let steps = ordered_steps(args, matches)?;
    let sel = Selection::parse(args.slice.as_deref().unwrap_or(""))?;
    let mut a = open_input(&args.file, &args.raw, Mode::ReadWrite)?;
    // One writer at a time: two read-modify-write passes over the same
    // region at once would lose updates (`--add 1` twice adding 1).
    let _lock = match a.try_lock_exclusive()? {
        Some(lock) => lock,
        None if args.no_wait => {
            return Err(format!(
                "{}: another writer holds the file's lock (an mmarray apply, or a program that took \
                 lock_exclusive): retry later, or leave out --no-wait to wait for it",
                a.path().display()
            )
            .into())
        }
        None => {
            crate::progress::note(&format!("waiting for another writer of {} to finish (--no-wait to fail instead)", a.path().display()));
            a.lock_exclusive()?
        }
    };
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
    let (shape, events) = crate::progress::engine(total, &what, || {
        crate::test_panic("apply");
        mmarray::with_scalar_type!(kind, |T| run_typed::<T>(&mut a, &sel, &steps), complex => Err(unsupported().into()))
    })?;
    a.close()?;
    // NumPy's floating-point warnings under its default np.errstate (which
    // ignores underflow), as its RuntimeWarnings ("invalid value encountered
    // in multiply"): the data is written all the same
    for e in events.iter().filter(|e| e.error != mmarray::compute::FpError::Underflow) {
        crate::progress::warn(&format!("{}: {e}", args.file.display()));
    }
    print(&format!("{}: applied {} step(s) to a region of shape {}\n", args.file.display(), steps.len(), shape_repr(&shape)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_as_python_reads_them() {
        assert_eq!(parse_literal("add", "2").unwrap(), Scalar::Int(2));
        assert_eq!(parse_literal("add", "-7").unwrap(), Scalar::Int(-7));
        assert_eq!(parse_literal("add", "9223372036854775808").unwrap(), Scalar::Int(1 << 63));
        assert_eq!(parse_literal("add", "18446744073709551616").unwrap(), Scalar::Int(1 << 64));
        assert_eq!(parse_literal("add", "2.0").unwrap(), Scalar::Float(2.0));
        assert_eq!(parse_literal("add", "1e3").unwrap(), Scalar::Float(1000.0));
        assert!(matches!(parse_literal("clip", "nan").unwrap(), Scalar::Float(f) if f.is_nan()));
        let e = parse_literal("add", "1000000000000000000000000000000000000000").unwrap_err().to_string();
        assert!(e.contains("--add 1000000000000000000000000000000000000000: integer literal out of range"), "{e}");
        assert!(parse_literal("mul", "x").unwrap_err().to_string().contains("--mul \"x\": not a number"));
        assert!(parse_literal("mul", "").is_err());
        assert!(parse_literal("mul", "-").is_err());
    }
}
