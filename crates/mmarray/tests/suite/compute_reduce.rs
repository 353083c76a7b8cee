//! Reductions against a plain two-pass reference written in Rust, over
//! random shapes, dtypes, strides (steps, reversed axes, transposes), axes,
//! NaN policies and ddof.

use mmarray::compute::{moments, reduce, NanPolicy, Real, ReduceOptions, Stat};
use mmarray::f16;
use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn, Slice};
use proptest::prelude::*;

/// The values of each output cell, in C order over the reduced axes.
fn cells(v: &ArrayViewD<'_, f64>, axes: &[usize]) -> (Vec<usize>, Vec<Vec<f64>>) {
    let kept: Vec<usize> = (0..v.ndim()).filter(|a| !axes.contains(a)).collect();
    let out_shape: Vec<usize> = kept.iter().map(|&a| v.shape()[a]).collect();
    let n: usize = out_shape.iter().product();
    let mut vals = vec![Vec::new(); n];
    for (idx, &x) in v.indexed_iter() {
        let mut cell = 0;
        for &a in &kept {
            cell = cell * v.shape()[a] + idx[a];
        }
        vals[cell].push(x);
    }
    (out_shape, vals)
}

/// Two-pass reference for one cell; `None` where NumPy raises.
fn reference(xs: &[f64], stat: Stat, nan: NanPolicy, ddof: f64) -> Option<f64> {
    let has_nan = xs.iter().any(|x| x.is_nan());
    let first_nan = xs.iter().position(|x| x.is_nan());
    let vals: Vec<(usize, f64)> = xs.iter().copied().enumerate().filter(|(_, x)| !x.is_nan()).collect();
    let poisoned = nan == NanPolicy::Propagate && has_nan;
    let n = vals.len() as f64;
    let sum: f64 = vals.iter().map(|v| v.1).sum();
    let mean = sum / n;
    let m2: f64 = vals.iter().map(|v| (v.1 - mean) * (v.1 - mean)).sum();
    let min = vals.iter().map(|v| v.1).fold(f64::INFINITY, f64::min);
    let max = vals.iter().map(|v| v.1).fold(f64::NEG_INFINITY, f64::max);
    let arg = |t: f64| vals.iter().find(|v| v.1 == t).map(|v| v.0 as f64);
    let empty_extreme = vals.is_empty() && !(nan == NanPolicy::Omit && has_nan);
    Some(match stat {
        Stat::Count => if nan == NanPolicy::Omit { n } else { xs.len() as f64 },
        _ if poisoned && matches!(stat, Stat::ArgMin | Stat::ArgMax) => first_nan? as f64,
        _ if poisoned && stat != Stat::MeanSq => f64::NAN,
        Stat::Sum => sum,
        Stat::Mean => if vals.is_empty() { f64::NAN } else { mean },
        // NumPy divides by max(n - ddof, 0): m2 / 0 is inf for spread
        // values and NaN for equal ones; the nan-variants give NaN.
        Stat::Var | Stat::Std => {
            let dof = (n - ddof).max(0.0);
            let var = if dof == 0.0 && nan == NanPolicy::Omit { f64::NAN } else { m2 / dof };
            if stat == Stat::Std { var.sqrt() } else { var }
        }
        Stat::SumSq => vals.iter().map(|v| v.1 * v.1).sum(),
        Stat::MeanSq => if vals.is_empty() || poisoned { f64::NAN } else { vals.iter().map(|v| v.1 * v.1).sum::<f64>() / n },
        Stat::Min | Stat::Max | Stat::Ptp if empty_extreme => return None,
        Stat::Min => if vals.is_empty() { f64::NAN } else { min },
        Stat::Max => if vals.is_empty() { f64::NAN } else { max },
        Stat::Ptp => if vals.is_empty() { f64::NAN } else { max - min },
        Stat::ArgMin | Stat::ArgMax if vals.is_empty() => return None,
        Stat::ArgMin => arg(min)?,
        Stat::ArgMax => arg(max)?,
    })
}

fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// Builds a view of `base` with the given slicing and axis order.
fn shaped<'a, T>(base: &'a ArrayD<T>, steps: &[isize], starts: &[usize], reverse_axes: bool) -> ArrayViewD<'a, T> {
    let mut v = base.view();
    for ax in 0..v.ndim() {
        let len = v.len_of(Axis(ax));
        let start = starts[ax].min(len);
        v.slice_axis_inplace(Axis(ax), Slice::new(start as isize, None, steps[ax]));
    }
    if reverse_axes {
        v = v.reversed_axes();
    }
    v
}

/// One random test case.
#[derive(Debug, Clone)]
struct Case {
    shape: Vec<usize>,
    data: Vec<f64>,
    steps: Vec<isize>,
    starts: Vec<usize>,
    reverse_axes: bool,
    axes: Option<Vec<usize>>,
    nan: NanPolicy,
    ddof: f64,
}

fn check<T: Real>(case: &Case, conv: impl Fn(f64) -> T) -> Result<(), String> {
    let Case { shape, data, steps, starts, reverse_axes, axes, nan, ddof } = case.clone();
    let base = ArrayD::from_shape_vec(IxDyn(&shape), data.iter().map(|&x| conv(x)).collect()).unwrap();
    let v = shaped(&base, &steps, &starts, reverse_axes);
    let as_f64 = v.mapv(|x| x.to_f64());
    let all: Vec<usize> = (0..v.ndim()).collect();
    let red = axes.clone().unwrap_or(all);
    let (out_shape, vals) = cells(&as_f64.view(), &red);
    for stat in Stat::ALL {
        if axes.as_ref().is_some_and(|a| a.len() > 1) && matches!(stat, Stat::ArgMin | Stat::ArgMax) {
            continue;
        }
        let opts = ReduceOptions { axes: axes.clone(), keepdims: false, ddof, nan };
        let got = reduce(&v, stat, &opts);
        let expected: Option<Vec<f64>> = vals.iter().map(|c| reference(c, stat, nan, ddof)).collect();
        match (got, expected) {
            (Ok(g), Some(e)) => {
                let expect_shape = if axes.is_none() { vec![] } else { out_shape.clone() };
                if g.shape() != expect_shape.as_slice() {
                    return Err(format!("{stat:?}: shape {:?} != {:?}", g.shape(), expect_shape));
                }
                for (i, (a, b)) in g.iter().zip(&e).enumerate() {
                    if !close(*a, *b) {
                        return Err(format!("{stat:?} cell {i}: got {a}, expected {b} (values {:?})", vals[i]));
                    }
                }
            }
            (Err(_), None) => {}
            (g, e) => return Err(format!("{stat:?}: got {g:?}, expected {e:?}")),
        }
    }
    Ok(())
}

fn strategy() -> impl Strategy<Value = Case> {
    prop::collection::vec(1usize..7, 1..5).prop_flat_map(|shape| {
        let n: usize = shape.iter().product();
        let nd = shape.len();
        (
            Just(shape),
            prop::collection::vec(prop_oneof![8 => -100.0f64..100.0, 1 => Just(f64::NAN), 1 => Just(3.0)], n),
            prop::collection::vec(prop_oneof![3 => Just(1isize), 1 => Just(2), 1 => Just(-1), 1 => Just(-2)], nd),
            prop::collection::vec(0usize..2, nd),
            any::<bool>(),
            prop::option::of(prop::sample::subsequence((0..nd).collect::<Vec<_>>(), 0..=nd)),
            any::<bool>(),
            // ddof past the cell sizes too (NumPy's inf / NaN cases)
            prop_oneof![3 => Just(0.0), 2 => Just(1.0), 2 => (2u8..40).prop_map(f64::from)],
        )
            .prop_map(|(shape, data, steps, starts, reverse_axes, axes, omit, ddof)| Case {
                shape,
                data,
                steps,
                starts,
                reverse_axes,
                axes,
                nan: if omit { NanPolicy::Omit } else { NanPolicy::Propagate },
                ddof,
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn reductions_match_the_reference(case in strategy()) {
        let round = |x: f64| if x.is_nan() { x } else { x.round() };
        prop_assert_eq!(check(&case, |x| x), Ok(()), "f64");
        prop_assert_eq!(check(&case, |x| x as f32), Ok(()), "f32");
        prop_assert_eq!(check(&case, f16::from_f64), Ok(()), "f16");
        prop_assert_eq!(check(&case, |x| round(x) as i16), Ok(()), "i16");
        prop_assert_eq!(check(&case, |x| round(x).abs() as u8), Ok(()), "u8");
        prop_assert_eq!(check(&case, |x| x > 0.0), Ok(()), "bool");
    }
}

#[test]
fn large_arrays_cross_many_blocks_and_stay_accurate() {
    // 3 million f32 around 1e4 with small spread: a naive f32 sum of
    // squares would lose most digits; the engine matches an f64 two-pass.
    let n: usize = 3_000_017;
    let data: Vec<f32> = (0..n).map(|i| 1e4 + ((i * 7919) % 1000) as f32 * 1e-3).collect();
    let a = ndarray::Array1::from(data.clone());
    let m = moments(&a.view(), NanPolicy::Propagate);
    let mean = data.iter().map(|&x| f64::from(x)).sum::<f64>() / n as f64;
    let var = data.iter().map(|&x| (f64::from(x) - mean).powi(2)).sum::<f64>() / n as f64;
    assert!((m.mean() - mean).abs() / mean < 1e-12, "{} vs {mean}", m.mean());
    assert!((m.var(0.0) - var).abs() / var < 1e-9, "{} vs {var}", m.var(0.0));
    // column statistics of a C-order matrix (innermost axis kept) and of its
    // transpose (innermost axis reduced) agree
    let mat = ndarray::Array2::from_shape_fn((3000, 1000), |(i, j)| ((i * 31 + j * 17) % 97) as f64);
    let cols = reduce(&mat.view(), Stat::Var, &ReduceOptions::along(&[0])).unwrap();
    let t = mat.t();
    let rows_of_t = reduce(&t, Stat::Var, &ReduceOptions::along(&[1])).unwrap();
    for (a, b) in cols.iter().zip(rows_of_t.iter()) {
        assert!(close(*a, *b));
    }
    let j = 123;
    let col: Vec<f64> = mat.column(j).to_vec();
    let cm = col.iter().sum::<f64>() / 3000.0;
    let cv = col.iter().map(|x| (x - cm).powi(2)).sum::<f64>() / 3000.0;
    assert!(close(cols[[j]], cv));
}

#[test]
fn errors_as_numpy() {
    let a = ndarray::Array2::<f64>::zeros((0, 3));
    let e = reduce(&a.view(), Stat::Min, &ReduceOptions::default()).unwrap_err();
    assert!(e.to_string().contains("zero-size array to reduction operation minimum which has no identity"), "{e}");
    assert!(reduce(&a.view(), Stat::Mean, &ReduceOptions::default()).unwrap()[[]].is_nan());
    assert_eq!(reduce(&a.view(), Stat::Sum, &ReduceOptions::along(&[0])).unwrap().shape(), &[3]);
    let b = ndarray::Array2::<f64>::zeros((2, 3));
    let e = reduce(&b.view(), Stat::Sum, &ReduceOptions::along(&[2])).unwrap_err();
    assert!(e.to_string().contains("axis 2 is out of bounds for array of dimension 2"), "{e}");
    let e = reduce(&b.view(), Stat::ArgMin, &ReduceOptions::along(&[0, 1])).unwrap_err();
    assert!(e.to_string().contains("argmin takes one axis"), "{e}");
    let e = reduce(&b.view(), Stat::Sum, &ReduceOptions::along(&[1, 1])).unwrap_err();
    assert!(e.to_string().contains("duplicate value in 'axis'"), "{e}"); // NumPy's ValueError
    let nan = ndarray::array![f64::NAN, f64::NAN];
    let omit = ReduceOptions { nan: NanPolicy::Omit, ..Default::default() };
    assert!(reduce(&nan.view(), Stat::ArgMin, &omit).unwrap_err().to_string().contains("All-NaN slice"));
    assert!(reduce(&nan.view(), Stat::Min, &omit).unwrap()[[]].is_nan(), "nanmin of all-NaN is NaN, as NumPy");
    let kd = reduce(&b.view(), Stat::Mean, &ReduceOptions { axes: Some(vec![1]), keepdims: true, ..Default::default() }).unwrap();
    assert_eq!(kd.shape(), &[2, 1]);
    let kd = reduce(&b.view(), Stat::Mean, &ReduceOptions { keepdims: true, ..Default::default() }).unwrap();
    assert_eq!(kd.shape(), &[1, 1]);
}

#[test]
fn one_pass_variance_stays_accurate_across_jumps_and_offsets() {
    // Sub-blocks whose mean jumps far from the previous one (the one-pass
    // guess) must fall back to two passes; a large common offset must not
    // cost digits either.
    let n = 5 * 2048 + 77;
    for (offset, jump) in [(0.0, 1e12), (1e9, 0.0), (-3e7, 5e3), (0.0, 0.0)] {
        let data: Vec<f64> = (0..n)
            .map(|i| offset + if (i / 2048) % 2 == 1 { jump } else { 0.0 } + ((i * 7919) % 1013) as f64 * 0.01)
            .collect();
        let a = ndarray::Array1::from(data.clone());
        let got = reduce(&a.view(), Stat::Var, &ReduceOptions::default()).unwrap()[[]];
        let mean = data.iter().sum::<f64>() / n as f64;
        let var = data.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!((got - var).abs() <= 1e-9 * var, "offset {offset} jump {jump}: {got} vs {var}");
        let sum = reduce(&a.view(), Stat::Sum, &ReduceOptions::default()).unwrap()[[]];
        assert!((sum - data.iter().sum::<f64>()).abs() <= 1e-12 * sum.abs().max(1.0));
    }
}
