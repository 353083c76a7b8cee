//! Order statistics against simple references on exact values: argmin and
//! argmax of `i64`/`u64` near their extremes (distinct values that share
//! one `f64`), and quantiles of data holding both signed zeros, compared
//! with a sort. The references never call the engine.

use mmarray::compute::{quantile, reduce, NanPolicy, QuantileDtype, ReduceOptions, Stat};
use ndarray::{Array2, ArrayView2, Axis, ShapeBuilder};
use proptest::prelude::*;

/// NumPy's argmin/argmax: the first (C-order) position of the extreme.
fn first_position<T: Copy + Ord>(xs: &[T], max: bool) -> usize {
    let best = if max { *xs.iter().max().unwrap() } else { *xs.iter().min().unwrap() };
    xs.iter().position(|&x| x == best).unwrap()
}

/// argmin/argmax of `v` over everything and along each axis, by the engine
/// and by the reference.
fn check_args<T: mmarray::compute::Real + Ord>(v: ArrayView2<'_, T>) -> Result<(), TestCaseError> {
    for (stat, max) in [(Stat::ArgMin, false), (Stat::ArgMax, true)] {
        let flat: Vec<T> = v.iter().copied().collect();
        let got = reduce(&v, stat, &ReduceOptions { axes: None, keepdims: false, ddof: 0.0, nan: NanPolicy::Propagate }).unwrap();
        prop_assert_eq!(got.iter().next().copied(), Some(first_position(&flat, max) as f64), "{:?} of {:?}", stat, v);
        for axis in 0..2 {
            let got = reduce(&v, stat, &ReduceOptions::along(&[axis])).unwrap();
            let want: Vec<f64> = v.lanes(Axis(axis)).into_iter().map(|l| first_position(&l.to_vec(), max) as f64).collect();
            prop_assert_eq!(got.iter().copied().collect::<Vec<_>>(), want, "{:?} along {} of {:?}", stat, axis, v);
        }
    }
    Ok(())
}

fn near_i64_extremes() -> impl Strategy<Value = i64> {
    prop_oneof![(0i64..8).prop_map(|d| i64::MAX - d), (0i64..8).prop_map(|d| i64::MIN + d), -3i64..3, any::<i64>()]
}

/// `vals` repeated into a `rows x cols` matrix, in C or Fortran order.
fn matrix_of(vals: &[i64], cols: usize, fortran: bool) -> Array2<i64> {
    let rows = vals.len().div_ceil(cols);
    let data: Vec<i64> = (0..rows * cols).map(|i| vals[i % vals.len()]).collect();
    Array2::from_shape_vec((rows, cols).set_f(fortran), data).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Was: values compared as f64, so `[2**63-2, 2**63-1]` gave argmax 0.
    #[test]
    fn argmin_argmax_of_wide_integers_are_exact(
        vals in proptest::collection::vec(near_i64_extremes(), 1..120),
        cols in 1usize..7,
        fortran in any::<bool>(),
        flip in any::<bool>(),
    ) {
        let a = matrix_of(&vals, cols, fortran);
        let v = if flip { a.slice(ndarray::s![..;-1, ..]) } else { a.view() };
        check_args(v)?;
        let u = a.mapv(|x| (x as u64).wrapping_add(1 << 63));
        let uv = if flip { u.slice(ndarray::s![.., ..;-1]) } else { u.view() };
        check_args(uv)?;
    }

    /// `Moments::int_extremes` (what `mmarray stats` prints for integer
    /// data) is the exact min and max, whichever kernel path ran: the
    /// one-pass summary, strided lanes, reductions along an axis.
    #[test]
    fn summaries_of_wide_integers_have_exact_extremes(
        vals in proptest::collection::vec(near_i64_extremes(), 1..5000),
        cols in 1usize..7,
        fortran in any::<bool>(),
        flip in any::<bool>(),
    ) {
        use mmarray::compute::{summary, summary_along};
        let a = matrix_of(&vals, cols, fortran);
        let v = if flip { a.slice(ndarray::s![..;-1, ..]) } else { a.view() };
        let exact = |it: &mut dyn Iterator<Item = i64>| {
            let xs: Vec<i64> = it.collect();
            (i128::from(*xs.iter().min().unwrap()), i128::from(*xs.iter().max().unwrap()))
        };
        let m = summary(&v, NanPolicy::Propagate);
        prop_assert_eq!(m.int_extremes::<i64>(), Some(exact(&mut v.iter().copied())));
        for axis in 0..2 {
            let along = summary_along(&v, &[axis], NanPolicy::Omit).unwrap();
            for (k, m) in along.iter().enumerate() {
                prop_assert_eq!(m.int_extremes::<i64>(), Some(exact(&mut v.index_axis(Axis(1 - axis), k).iter().copied())));
            }
        }
        let u = a.mapv(|x| (x as u64).wrapping_add(1 << 63));
        let um = summary(&u.view(), NanPolicy::Propagate);
        let (lo, hi) = (u.iter().min().unwrap(), u.iter().max().unwrap());
        prop_assert_eq!(um.int_extremes::<u64>(), Some((i128::from(*lo), i128::from(*hi))));
    }

    /// Quantiles of data holding -0.0, 0.0, infinities and repeats are the
    /// sorted data's values interpolated as NumPy does (`total_cmp` order
    /// equals NumPy's here: its sort leaves -0.0 and 0.0 in either order,
    /// and they compare equal).
    #[test]
    fn quantiles_with_signed_zeros_match_a_sort(
        vals in proptest::collection::vec(prop_oneof![Just(0.0f64), Just(-0.0), Just(1.0), Just(-1.0), Just(f64::INFINITY), -5.0f64..5.0], 1..200),
        q in 0.0f64..=1.0,
    ) {
        let a = ndarray::Array1::from(vals.clone());
        let mut sorted = vals.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let virt = (n - 1) as f64 * q;
        let (lo, t) = if virt >= (n - 1) as f64 { (n - 1, virt - (n - 1) as f64) } else { (virt.floor() as usize, virt - virt.floor()) };
        let (x, y) = (sorted[lo], sorted[(lo + 1).min(n - 1)]);
        let d = y - x;
        let want = if t >= 0.5 { y - d * (1.0 - t) } else { x + d * t };
        let got = quantile(&a.view(), &[q], NanPolicy::Propagate, QuantileDtype::Float64).unwrap()[0];
        prop_assert!(got == want || (got.is_nan() && want.is_nan()), "q={} of {:?}: {} vs {}", q, vals, got, want);
    }
}

#[test]
fn argmax_across_blocks_of_wide_integers() {
    // The f64-equal maximum sits in a later block than an f64-equal smaller
    // value (blocks are mmarray::compute::CHUNK elements).
    let n = 3 * mmarray::compute::CHUNK + 5;
    let mut v = vec![0i64; n];
    v[10] = i64::MAX - 1;
    v[n - 2] = i64::MAX;
    v[20] = i64::MIN + 1;
    v[n - 3] = i64::MIN;
    let a = ndarray::Array1::from(v);
    let opts = ReduceOptions { axes: None, keepdims: false, ddof: 0.0, nan: NanPolicy::Propagate };
    assert_eq!(reduce(&a.view(), Stat::ArgMax, &opts).unwrap().into_raw_vec_and_offset().0, vec![(n - 2) as f64]);
    assert_eq!(reduce(&a.view(), Stat::ArgMin, &opts).unwrap().into_raw_vec_and_offset().0, vec![(n - 3) as f64]);
}
