//! Exact quantiles and medians without loading the array: a few parallel
//! passes that narrow a histogram of the values' ordered bit patterns down
//! to the wanted ranks, then NumPy's interpolation.

use ndarray::{ArrayD, ArrayView, Axis, Dimension, IxDyn};
use rayon::prelude::*;

use super::moments::NanPolicy;
use super::real::{f64_key, Real};
use super::reduce::fold_blocks_unordered;
use super::summary;
use crate::error::{Error, ErrorKind, Result};

/// The precision NumPy interpolates in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QuantileDtype {
    /// The data's float type (float16/32/64; float64 for integer data):
    /// what `np.quantile(a, 0.5)` does with a Python scalar `q`.
    #[default]
    ElementType,
    /// Float64: what `np.quantile(a, [0.5])` does with an array `q`.
    Float64,
}

/// Values in a narrowing range are collected once there are at most this
/// many (8 MiB of f64).
const COLLECT: u64 = 1 << 20;
/// Bins per narrowing pass: each pass divides the key range by this.
const BINS: usize = 4096;

/// A range of keys `[lo, hi]` known to hold the values of ranks
/// `below..below + count` (0-based, among non-NaN values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    lo: u64,
    hi: u64,
    below: u64,
    count: u64,
}

/// What one pass gathers for one range.
enum Gather {
    /// The order keys of the values themselves (few enough).
    Values(Vec<u64>),
    /// Counts and min/max key per bin.
    Bins { counts: Vec<u64>, min: Vec<u64>, max: Vec<u64> },
}

fn gather_init(ranges: &[Range]) -> Vec<Gather> {
    ranges
        .iter()
        .map(|r| {
            if r.count <= COLLECT {
                Gather::Values(Vec::new())
            } else {
                Gather::Bins { counts: vec![0; BINS], min: vec![u64::MAX; BINS], max: vec![0; BINS] }
            }
        })
        .collect()
}

#[inline]
fn bin(k: u64, r: &Range) -> usize {
    (u128::from(k - r.lo) * BINS as u128 / (u128::from(r.hi - r.lo) + 1)) as usize
}

fn gather_merge(mut a: Vec<Gather>, b: Vec<Gather>) -> Vec<Gather> {
    for (x, y) in a.iter_mut().zip(b) {
        match (x, y) {
            (Gather::Values(v), Gather::Values(w)) => v.extend(w),
            (Gather::Bins { counts, min, max }, Gather::Bins { counts: c2, min: m2, max: x2 }) => {
                for i in 0..BINS {
                    counts[i] += c2[i];
                    min[i] = min[i].min(m2[i]);
                    max[i] = max[i].max(x2[i]);
                }
            }
            _ => unreachable!("accumulators are made alike"),
        }
    }
    a
}

/// The error for data that changed between two passes (another process or
/// handle writing the mapped file): the counts no longer add up.
fn changed() -> Error {
    Error::new(
        ErrorKind::Io,
        "the data changed while its quantile was being computed (another writer?): counts between passes disagree",
    )
}

/// The exact values of the (0-based, sorted, non-NaN) `ranks` among the
/// non-NaN values of `a`, all of whose order keys lie in `start`, narrowed
/// by order keys: every value, `-0.0` and `+0.0` apart, and integers beyond
/// 2^53 exactly.
fn select<T: Real, D: Dimension>(a: &ArrayView<'_, T, D>, ranks: &[u64], start: Range) -> Result<Vec<T>> {
    let mut answers: Vec<Option<u64>> = vec![None; ranks.len()];
    let mut range_of: Vec<Range> = vec![start; ranks.len()];
    // Each pass narrows every open range by about BINS (a bin's keys span
    // at most 1/BINS of its range), so 64 bits need at most 6 passes; more
    // means the data changed under us.
    for _pass in 0..16 {
        for (ans, r) in answers.iter_mut().zip(&range_of) {
            if ans.is_none() && r.lo == r.hi {
                *ans = Some(r.lo);
            }
        }
        let mut ranges: Vec<Range> = range_of.iter().zip(&answers).filter(|(_, a)| a.is_none()).map(|(r, _)| *r).collect();
        ranges.sort_by_key(|r| (r.lo, r.hi));
        ranges.dedup();
        if ranges.is_empty() {
            return Ok(answers.into_iter().map(|a| T::from_order_key(a.unwrap_or(0))).collect());
        }
        let gathered = fold_blocks_unordered(
            a.view().into_dyn(),
            || gather_init(&ranges),
            |acc: &mut Vec<Gather>, xs: &[T]| {
                for &v in xs {
                    if T::IS_FLOAT && v.to_f64().is_nan() {
                        continue;
                    }
                    let k = v.order_key();
                    for (g, r) in acc.iter_mut().zip(&ranges) {
                        if k < r.lo || k > r.hi {
                            continue;
                        }
                        match g {
                            Gather::Values(keys) => keys.push(k),
                            Gather::Bins { counts, min, max } => {
                                let b = bin(k, r);
                                counts[b] += 1;
                                min[b] = min[b].min(k);
                                max[b] = max[b].max(k);
                            }
                        }
                    }
                }
            },
            gather_merge,
        );
        for (g, r) in gathered.into_iter().zip(&ranges) {
            let found = match &g {
                Gather::Values(keys) => keys.len() as u64,
                Gather::Bins { counts, .. } => counts.iter().sum(),
            };
            if found != r.count {
                return Err(changed());
            }
            let mut sorted = None;
            for ((ans, cur), &rank) in answers.iter_mut().zip(range_of.iter_mut()).zip(ranks) {
                if ans.is_some() || cur != r {
                    continue;
                }
                // below <= rank < below + count, by construction
                let local = rank - r.below;
                match &g {
                    Gather::Values(keys) => {
                        let sorted = sorted.get_or_insert_with(|| {
                            let mut k = keys.clone();
                            k.sort_unstable();
                            k
                        });
                        *ans = sorted.get(local as usize).copied();
                    }
                    Gather::Bins { counts, min, max } => {
                        let mut before = 0u64;
                        for b in 0..BINS {
                            if local < before + counts[b] {
                                *cur = Range { lo: min[b], hi: max[b], below: r.below + before, count: counts[b] };
                                break;
                            }
                            before += counts[b];
                        }
                    }
                }
            }
        }
    }
    Err(changed())
}

/// Rounds to the data's float type (identity for integer data, which NumPy
/// interpolates in float64).
fn rounder<T: Real>(dtype: QuantileDtype) -> impl Fn(f64) -> f64 {
    move |x| if dtype == QuantileDtype::ElementType && T::IS_FLOAT { T::from_f64(x).to_f64() } else { x }
}

/// NumPy's `_lerp(a, b, t)`: `a + (b-a)·t`, or `b - (b-a)·(1-t)` for
/// `t >= 0.5`, with `b - a` in the data's type (wrapping for integers, as
/// NumPy's does) and the rest rounded by `r`.
fn lerp<T: Real>(a: T, b: T, t: f64, r: &impl Fn(f64) -> f64) -> f64 {
    let diff = if T::IS_FLOAT {
        T::from_f64(b.to_f64() - a.to_f64()).to_f64()
    } else {
        T::wrap_i128(b.to_i128() - a.to_i128()).to_f64()
    };
    let (a, b) = (a.to_f64(), b.to_f64());
    if t >= 0.5 {
        r(b - r(diff * r(1.0 - t)))
    } else {
        r(a + r(diff * r(t)))
    }
}

/// The number of non-NaN values and a range of order keys holding them all,
/// or the early answer NumPy gives. Integers take their type's range (no
/// pass); floats the min and max of a summary pass, widened to both zeros
/// (the summary's min and max do not tell -0.0 from 0.0).
fn prepare<T: Real, D: Dimension>(a: &ArrayView<'_, T, D>, nan: NanPolicy) -> Result<std::result::Result<(u64, Range), f64>> {
    if a.is_empty() {
        return Err(Error::new(ErrorKind::InvalidArgument, "cannot take a quantile of an empty array"));
    }
    if let Some((lo, hi)) = T::INT_RANGE {
        let n = a.len() as u64;
        let range = Range { lo: T::wrap_i128(lo).order_key(), hi: T::wrap_i128(hi).order_key(), below: 0, count: n };
        return Ok(Ok((n, range)));
    }
    let m = summary(a, NanPolicy::Omit);
    let n = m.count();
    if n == 0 || (nan == NanPolicy::Propagate && m.nan_count() > 0) {
        return Ok(Err(f64::NAN));
    }
    let (min, max) = (m.min().unwrap_or(f64::NEG_INFINITY), m.max().unwrap_or(f64::INFINITY));
    let lo = f64_key(if min == 0.0 { -0.0 } else { min });
    let hi = f64_key(if max == 0.0 { 0.0 } else { max });
    Ok(Ok((n, Range { lo, hi, below: 0, count: n })))
}

/// Exact quantiles `qs` (each in `[0, 1]`) of all elements of `a`, equal to
/// `np.quantile(a, q)` (method `'linear'`), or `np.nanquantile` with
/// [`NanPolicy::Omit`]. A few passes over the data; memory is bounded
/// (about 8 MiB per distinct rank range at the last pass).
///
/// ```
/// use mmarray::compute::{quantile, NanPolicy, QuantileDtype};
/// let a = ndarray::array![[3.0, 1.0], [4.0, 2.0]];
/// let q = quantile(&a.view(), &[0.0, 0.5, 0.9], NanPolicy::Propagate, QuantileDtype::Float64)?;
/// assert_eq!(q, vec![1.0, 2.5, 3.7]);
/// # Ok::<(), mmarray::Error>(())
/// ```
///
/// # Errors
/// [`ErrorKind::InvalidArgument`] for a `q` outside `[0, 1]` or an empty
/// array.
pub fn quantile<T: Real, D: Dimension>(a: &ArrayView<'_, T, D>, qs: &[f64], nan: NanPolicy, dtype: QuantileDtype) -> Result<Vec<f64>> {
    if let Some(q) = qs.iter().find(|q| !(0.0..=1.0).contains(*q)) {
        return Err(Error::new(ErrorKind::InvalidArgument, format!("Quantiles must be in the range [0, 1], got {q}")));
    }
    let (n, start) = match prepare(a, nan)? {
        Ok(facts) => facts,
        Err(early) => return Ok(vec![early; qs.len()]),
    };
    // NumPy's linear method: virtual index (n-1)·q, its floor and next.
    let plan: Vec<(u64, u64, f64)> = qs
        .iter()
        .map(|&q| {
            let virt = (n - 1) as f64 * q;
            if virt >= (n - 1) as f64 {
                (n - 1, n - 1, virt - (n - 1) as f64)
            } else {
                let prev = virt.floor();
                (prev as u64, prev as u64 + 1, virt - prev)
            }
        })
        .collect();
    let mut ranks: Vec<u64> = plan.iter().flat_map(|&(p, x, _)| [p, x]).collect();
    ranks.sort_unstable();
    ranks.dedup();
    let values = select(a, &ranks, start)?;
    let at = |r: u64| values[ranks.binary_search(&r).unwrap_or(0)];
    let r = rounder::<T>(dtype);
    Ok(plan.iter().map(|&(p, x, t)| lerp::<T>(at(p), at(x), t, &r)).collect())
}

/// The median, equal to `np.median(a)` (or `np.nanmedian` with
/// [`NanPolicy::Omit`]): the middle value, or the mean of the two middle
/// values computed as NumPy's `mean` does (in the data's float type;
/// float64 for integer data).
///
/// # Errors
/// [`ErrorKind::InvalidArgument`] for an empty array.
pub fn median<T: Real, D: Dimension>(a: &ArrayView<'_, T, D>, nan: NanPolicy) -> Result<f64> {
    let (n, start) = match prepare(a, nan)? {
        Ok(facts) => facts,
        Err(early) => return Ok(early),
    };
    let mid = n / 2;
    // np.median is np.mean of the middle value(s), a sum that starts from
    // +0.0: so the median of [-0.0] is +0.0 (hence the `0.0 +`).
    if n % 2 == 1 {
        return Ok(0.0 + select(a, &[mid], start)?[0].to_f64());
    }
    let v: Vec<f64> = select(a, &[mid - 1, mid], start)?.into_iter().map(|x| 0.0 + x.to_f64()).collect();
    // np.mean: float16 sums in float32, float32 in float32, ints in float64.
    Ok(match T::KIND {
        crate::ScalarKind::F32 => f64::from((v[0] as f32 + v[1] as f32) / 2.0),
        crate::ScalarKind::F16 => T::from_f64(f64::from((v[0] as f32 + v[1] as f32) / 2.0)).to_f64(),
        _ => (v[0] + v[1]) / 2.0,
    })
}

/// [`quantile`] along `axes`: the result has shape `(len(qs), *kept)`, as
/// `np.quantile(a, qs, axis=axes)` with a list of `qs`. Each output element
/// is computed from its own region, in parallel.
///
/// # Errors
/// As [`quantile`], and [`ErrorKind::InvalidArgument`] for an axis out of
/// range or repeated.
pub fn quantile_along<T: Real, D: Dimension>(
    a: &ArrayView<'_, T, D>,
    axes: &[usize],
    qs: &[f64],
    nan: NanPolicy,
    dtype: QuantileDtype,
) -> Result<ArrayD<f64>> {
    let v = a.view().into_dyn();
    let sorted = crate::check_axes(axes, v.ndim())?;
    let kept: Vec<usize> = (0..v.ndim()).filter(|x| !sorted.contains(x)).collect();
    let kept_shape: Vec<usize> = kept.iter().map(|&x| v.len_of(Axis(x))).collect();
    let cells: usize = kept_shape.iter().product();
    let per_cell: Vec<Vec<f64>> = (0..cells)
        .into_par_iter()
        .map(|pos| {
            let mut sub = v.clone();
            let mut rem = pos;
            for (&ax, &len) in kept.iter().zip(&kept_shape).rev() {
                sub.collapse_axis(Axis(ax), rem % len);
                rem /= len;
            }
            quantile(&sub, qs, nan, dtype)
        })
        .collect::<Result<_>>()?;
    let mut shape = vec![qs.len()];
    shape.extend(&kept_shape);
    let mut out = ArrayD::<f64>::zeros(IxDyn(&shape));
    for (pos, values) in per_cell.iter().enumerate() {
        for (qi, &x) in values.iter().enumerate() {
            if let Some(slot) = out.index_axis_mut(Axis(0), qi).as_slice_mut().and_then(|s| s.get_mut(pos)) {
                *slot = x;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(count: u64) -> Range {
        Range { lo: 0, hi: u64::MAX, below: 0, count }
    }

    #[test]
    fn keys_order_like_numbers() {
        let xs = [f64::NEG_INFINITY, -1e300, -1.0, -1e-310, -0.0, 0.0, 1e-310, 1.0, 1e300, f64::INFINITY];
        for w in xs.windows(2) {
            assert!(w[0].order_key() < w[1].order_key(), "{w:?}");
            assert_eq!(f64::from_order_key(w[0].order_key()).to_bits(), w[0].to_bits());
        }
        let is = [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX];
        for w in is.windows(2) {
            assert!(w[0].order_key() < w[1].order_key(), "{w:?}");
            assert_eq!(i64::from_order_key(w[0].order_key()), w[0]);
        }
        for w in [i8::MIN, -1, 0, i8::MAX].windows(2) {
            assert!(w[0].order_key() < w[1].order_key(), "{w:?}");
            assert_eq!(i8::from_order_key(w[0].order_key()), w[0]);
        }
        assert_eq!(u64::from_order_key(u64::MAX.order_key()), u64::MAX);
    }

    #[test]
    fn selection_narrows_through_many_passes() {
        // More than COLLECT values, many repeated, spread over huge range.
        let n = (COLLECT as usize) * 3 + 17;
        let data: Vec<f64> = (0..n).map(|i| if i % 5 == 0 { 7.0 } else { ((i * 7919) % 100_003) as f64 * 1e290 - 1e295 }).collect();
        let a = ndarray::Array1::from(data.clone());
        let mut sorted = data.clone();
        sorted.sort_by(f64::total_cmp);
        let ranks = [0u64, 1, (n / 2) as u64, (n - 1) as u64];
        let got = select(&a.view(), &ranks, full(n as u64)).unwrap();
        for (r, g) in ranks.iter().zip(got) {
            assert_eq!(g, sorted[*r as usize], "rank {r}");
        }
    }

    #[test]
    fn signed_zeros_are_ordinary_values() {
        // Was 0.5 for q=0.25 and a panic for q=0.5 (the summary's min and max
        // treat -0.0 and 0.0 as one value, the key range did not).
        let a = ndarray::array![0.0, -0.0, 1.0];
        let q = quantile(&a.view(), &[0.0, 0.25, 0.5, 1.0], NanPolicy::Propagate, QuantileDtype::Float64).unwrap();
        assert_eq!(q, vec![0.0, 0.0, 0.0, 1.0]);
        assert_eq!(median(&a.view(), NanPolicy::Propagate).unwrap(), 0.0);
        // Above COLLECT values the bin search found no bin and looped forever.
        let n = COLLECT as usize + 5;
        let big = ndarray::Array1::from_shape_fn(n, |i| match i % 3 { 0 => -0.0, 1 => 0.0, _ => 1.0 });
        let q = quantile(&big.view(), &[0.1, 0.5, 0.9], NanPolicy::Propagate, QuantileDtype::Float64).unwrap();
        assert_eq!(q, vec![0.0, 0.0, 1.0]);
        let q32 = big.mapv(|x| x as f32);
        assert_eq!(median(&q32.view(), NanPolicy::Omit).unwrap(), 0.0);
    }

    #[test]
    fn integers_beyond_2_pow_53_are_exact() {
        let a = ndarray::array![i64::MAX, i64::MAX - 1, i64::MIN, i64::MIN + 1, 0];
        let r = select(&a.view(), &[0, 1, 3, 4], full(5)).unwrap();
        assert_eq!(r, vec![i64::MIN, i64::MIN + 1, i64::MAX - 1, i64::MAX]);
        let u = ndarray::Array1::from_shape_fn(COLLECT as usize * 2 + 1, |i| u64::MAX - (i as u64 % 7));
        let r = select(&u.view(), &[0, COLLECT * 2], full(COLLECT * 2 + 1)).unwrap();
        assert_eq!(r, vec![u64::MAX - 6, u64::MAX]);
        // np.quantile([2**63-2, 2**63-1], 0.5): b - a = 1 exactly, in int64.
        let b = ndarray::array![i64::MAX - 1, i64::MAX];
        let q = quantile(&b.view(), &[0.5], NanPolicy::Propagate, QuantileDtype::Float64).unwrap();
        assert_eq!(q, vec![(i64::MAX - 1) as f64 + 0.5]);
    }

    #[test]
    fn counts_that_do_not_add_up_are_an_error_not_a_hang() {
        // What a concurrent writer changing the data between passes looks
        // like to the selection: fewer values than counted before.
        let a = ndarray::Array1::from_shape_fn(COLLECT as usize + 10, |i| i as f64);
        let e = select(&a.view(), &[5], full(COLLECT + 11)).unwrap_err();
        assert!(e.to_string().contains("changed while"), "{e}");
        let small = ndarray::array![1.0, 2.0];
        assert!(select(&small.view(), &[2], full(3)).is_err());
    }

    #[test]
    fn nan_and_errors() {
        let a = ndarray::array![1.0, f64::NAN, 3.0];
        assert!(quantile(&a.view(), &[0.5], NanPolicy::Propagate, QuantileDtype::Float64).unwrap()[0].is_nan());
        assert_eq!(quantile(&a.view(), &[0.5], NanPolicy::Omit, QuantileDtype::Float64).unwrap(), vec![2.0]);
        assert!(quantile(&a.view(), &[1.5], NanPolicy::Omit, QuantileDtype::Float64).is_err());
        let empty = ndarray::Array1::<f32>::zeros(0);
        assert!(median(&empty.view(), NanPolicy::Propagate).is_err());
        assert_eq!(median(&ndarray::array![4u8, 1, 3, 2].view(), NanPolicy::Propagate).unwrap(), 2.5);
    }

    #[test]
    fn along_axes_has_numpys_shape() {
        let a = ndarray::Array3::from_shape_fn((2, 3, 4), |(i, j, k)| (i * 12 + j * 4 + k) as f64);
        let r = quantile_along(&a.view(), &[2], &[0.0, 1.0], NanPolicy::Propagate, QuantileDtype::Float64).unwrap();
        assert_eq!(r.shape(), &[2, 2, 3]);
        assert_eq!(r[[0, 1, 2]], 20.0);
        assert_eq!(r[[1, 1, 2]], 23.0);
        let r = quantile_along(&a.view(), &[0, 2], &[0.5], NanPolicy::Propagate, QuantileDtype::Float64).unwrap();
        assert_eq!(r.shape(), &[1, 3]);
        assert_eq!(r[[0, 0]], 7.5);
    }
}
