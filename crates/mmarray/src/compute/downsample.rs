//! Downsampling a long series for plotting without losing its peaks: the
//! M4 method keeps the min, max, first and last value of each bin.

use ndarray::{s, ArrayView1};
use rayon::prelude::*;

use super::moments::{NanPolicy, Want};
use super::real::Real;
use super::reduce::reduce_all;
use crate::error::{Error, ErrorKind, Result};

/// Per-bin summary of a series: drawing `min..max` per column (and joining
/// `last` to the next `first`) reproduces every peak of the full series.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Envelope {
    /// Index of each bin's first sample.
    pub start: Vec<usize>,
    /// Smallest non-NaN sample of each bin (NaN if it has none).
    pub min: Vec<f64>,
    /// Largest non-NaN sample of each bin.
    pub max: Vec<f64>,
    /// First sample of each bin.
    pub first: Vec<f64>,
    /// Last sample of each bin.
    pub last: Vec<f64>,
}

/// Cuts `x` into `bins` nearly equal runs (fewer if `x` is shorter) and
/// summarises each, in parallel: one pass over the data.
///
/// ```
/// use mmarray::compute::downsample;
/// let x = ndarray::Array1::from_iter((0..1000).map(|i| if i == 500 { 99.0 } else { (i % 7) as f64 }));
/// let e = downsample(x.view(), 10)?;
/// assert_eq!(e.max.len(), 10);
/// assert_eq!(e.max[5], 99.0); // the spike survives
/// # Ok::<(), mmarray::Error>(())
/// ```
///
/// # Errors
/// [`ErrorKind::InvalidArgument`] for `bins` of 0.
pub fn downsample<T: Real>(x: ArrayView1<'_, T>, bins: usize) -> Result<Envelope> {
    if bins == 0 {
        return Err(Error::new(ErrorKind::InvalidArgument, "bins must be at least 1"));
    }
    let n = x.len();
    let bins = bins.min(n);
    let want = Want { m2: false, arg: false, extrema_only: true, extrema: true };
    let progress = super::hints::progress();
    let per_bin: Vec<(usize, f64, f64, f64, f64)> = (0..bins)
        .into_par_iter()
        .map(|b| {
            let (lo, hi) = (b * n / bins, (b + 1) * n / bins);
            let seg = x.slice(s![lo..hi]);
            let m = reduce_all(seg.into_dyn(), vec![1], want, NanPolicy::Omit, false);
            super::hints::report(progress.as_ref(), (hi - lo) * std::mem::size_of::<T>());
            (lo, m.min().unwrap_or(f64::NAN), m.max().unwrap_or(f64::NAN), x[lo].to_f64(), x[hi - 1].to_f64())
        })
        .collect();
    let mut e = Envelope::default();
    for (start, min, max, first, last) in per_bin {
        e.start.push(start);
        e.min.push(min);
        e.max.push(max);
        e.first.push(first);
        e.last.push(last);
    }
    Ok(e)
}
