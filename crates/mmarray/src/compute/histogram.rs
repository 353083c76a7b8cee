//! Histograms in one parallel pass, with NumPy's binning rules.

use ndarray::{ArrayView, Dimension};

use super::moments::NanPolicy;
use super::real::Real;
use super::reduce::fold_blocks_unordered;
use super::{summary, Stat};
use crate::error::{Error, ErrorKind, Result};

/// Counts per bin and the bins' edges, as `np.histogram` returns them.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// Number of values in each bin.
    pub counts: Vec<u64>,
    /// `bins + 1` edges; bin `i` is `[edges[i], edges[i+1])`, the last one
    /// closed on the right.
    pub edges: Vec<f64>,
}

/// NumPy's `linspace(first, last, n + 1)` in float64.
fn edges(first: f64, last: f64, bins: usize) -> Vec<f64> {
    let step = (last - first) / bins as f64;
    let mut e: Vec<f64> = (0..=bins).map(|i| i as f64 * step + first).collect();
    if let Some(end) = e.last_mut() {
        *end = last;
    }
    e
}

/// The bin of `x` (known to be within `[first, last]`), as NumPy finds it:
/// scaled index, then corrected against the actual edges.
#[inline]
fn bin_of(x: f64, first: f64, denom: f64, edges: &[f64]) -> usize {
    let bins = edges.len() - 1;
    let mut i = (((x - first) / denom) * bins as f64) as usize;
    if i >= bins {
        i = bins - 1;
    }
    if x < edges[i] {
        i = i.saturating_sub(1);
    } else if i + 1 < bins && x >= edges[i + 1] {
        i += 1;
    }
    i
}

/// `np.histogram(a, bins, range)`: `bins` equal-width bins over `range`, or
/// over `[min, max]` of the data when `range` is `None` (one extra pass).
/// Values outside the range, and NaNs, are not counted. Counts are exact;
/// bin edges and bin choice are computed in float64 (for float16/float32
/// data NumPy computes them in the data's precision, so a value within
/// rounding of an edge may fall in the neighbouring bin).
///
/// ```
/// use mmarray::compute::histogram;
/// let a = ndarray::array![0.0, 0.5, 1.0, 1.5, 2.0, 9.0];
/// let h = histogram(&a.view(), 2, Some((0.0, 2.0)))?;
/// assert_eq!(h.counts, vec![2, 3]);
/// assert_eq!(h.edges, vec![0.0, 1.0, 2.0]);
/// # Ok::<(), mmarray::Error>(())
/// ```
///
/// # Errors
/// [`ErrorKind::InvalidArgument`], with NumPy's messages: `bins` of 0, a
/// range whose max is below its min or that is not finite, or data whose
/// own range is not finite (NaN or infinity without a `range`).
pub fn histogram<T: Real, D: Dimension>(a: &ArrayView<'_, T, D>, bins: usize, range: Option<(f64, f64)>) -> Result<Histogram> {
    let invalid = |msg: String| Error::new(ErrorKind::InvalidArgument, msg);
    if bins == 0 {
        return Err(invalid("`bins` must be positive, when an integer".into()));
    }
    let (mut first, mut last) = match range {
        Some((lo, hi)) => {
            if lo > hi {
                return Err(invalid("max must be larger than min in range parameter.".into()));
            }
            if !(lo.is_finite() && hi.is_finite()) {
                return Err(invalid(format!("supplied range of [{lo}, {hi}] is not finite")));
            }
            (lo, hi)
        }
        None if a.is_empty() => (0.0, 1.0),
        None => {
            let m = summary(a, NanPolicy::Propagate);
            let (lo, hi) = (Stat::Min.of(&m, 0.0)?, Stat::Max.of(&m, 0.0)?);
            if !(lo.is_finite() && hi.is_finite()) {
                return Err(invalid(format!("autodetected range of [{lo}, {hi}] is not finite")));
            }
            (lo, hi)
        }
    };
    if first == last {
        first -= 0.5;
        last += 0.5;
    }
    let e = edges(first, last, bins);
    if e.windows(2).any(|w| w[0] >= w[1]) {
        return Err(invalid(format!(
            "Too many bins for data range. Cannot create {bins} finite-sized bins."
        )));
    }
    let denom = last - first;
    let counts = fold_blocks_unordered(
        a.view().into_dyn(),
        || vec![0u64; bins],
        |c: &mut Vec<u64>, xs: &[T]| {
            for x in xs {
                let x = x.to_f64();
                if x >= first && x <= last {
                    c[bin_of(x, first, denom, &e)] += 1;
                }
            }
        },
        |mut a, b| {
            a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
            a
        },
    );
    Ok(Histogram { counts, edges: e })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numpy_edge_rules() {
        // the right edge is in the last bin; values outside are dropped
        let a = ndarray::array![0.0f32, 1.0, 2.0, 3.0, 3.0, -1.0, 4.0, f32::NAN];
        let h = histogram(&a.view(), 3, Some((0.0, 3.0))).unwrap();
        assert_eq!(h.counts, vec![1, 1, 3]);
        // auto range from the data; equal min and max widen by 0.5
        let b = ndarray::array![5i32, 5, 5];
        let h = histogram(&b.view(), 2, None).unwrap();
        assert_eq!((h.counts, h.edges), (vec![0, 3], vec![4.5, 5.0, 5.5]));
        let e = histogram(&a.view(), 3, None).unwrap_err();
        assert!(e.to_string().contains("autodetected range of [NaN, NaN] is not finite"), "{e}");
        assert!(histogram(&a.view(), 3, Some((2.0, 1.0))).is_err());
        assert!(histogram(&a.view(), 0, Some((0.0, 1.0))).is_err());
        let empty = ndarray::Array1::<f64>::zeros(0);
        assert_eq!(histogram(&empty.view(), 4, None).unwrap().counts, vec![0; 4]);
    }
}
