//! The out-of-core compute engine: parallel, memory-bounded reductions over
//! any array view, mapped or not.
//!
//! Every reduction is one pass over the data in memory order (whatever the
//! view's strides), split into blocks of [`CHUNK`] elements that the rayon
//! thread pool reduces in parallel; each block is summarised by SIMD kernels
//! (chosen at run time for the CPU) into a [`Moments`] accumulator, and
//! accumulators merge with a numerically stable pairwise formula in `f64`.
//! Extra memory is a few blocks per thread, independent of the array's size;
//! no full-size temporary is ever made (NumPy's `std` makes one as large as
//! the array, numpy issue 13199).
//!
//! ```
//! use mmarray::compute::{reduce, moments, NanPolicy, ReduceOptions, Stat};
//! use ndarray::array;
//!
//! let a = array![[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]];
//! let m = moments(&a.view(), NanPolicy::Propagate);
//! assert_eq!((m.mean(), m.min(), m.argmax()), (3.5, Some(1.0), Some(5)));
//! let col_means = reduce(&a.view(), Stat::Mean, &ReduceOptions::along(&[0]))?;
//! assert_eq!(col_means.into_raw_vec_and_offset().0, vec![2.5, 3.5, 4.5]);
//! # Ok::<(), mmarray::Error>(())
//! ```
//!
//! The SIMD kernels are compiled by `multiversion` for its "simd" target
//! set (AVX-512, AVX2+FMA, SSE levels, NEON...) in release builds. Debug
//! builds (`debug_assertions`: the test profile) compile AVX2+FMA and the
//! baseline only: each clone is the same Rust code, and the full set made
//! this crate's test build 40 s (of 93 s) slower on the 2-core machine.
//!
//! The parallel loops run on rayon's pool; [`set_threads`] and [`install`]
//! bound them (`MMARRAY_THREADS`, the CLI's `--threads`).
//!
//! Results are `f64` (rolling statistics of `f32` and `f16` data: their own
//! type, [`rolling_dtype`]). Integer sums are therefore exact up to 2^53 and never
//! wrap, where NumPy's integer `sum` accumulates in `int64` and wraps on
//! overflow.

mod downsample;
mod elementwise;
mod fpe;
mod histogram;
mod hints;
mod instances;
mod linalg;
mod moments;
mod quantile;
mod real;
mod reduce;
mod rolling;
mod threads;

use ndarray::{ArrayD, ArrayView, Dimension, IxDyn};

pub use elementwise::{apply, fill, map_inplace, scalar_events, zip_inplace, Scalar, Step};
pub use fpe::{FpError, FpEvent};
pub use downsample::{downsample, Envelope};
pub use histogram::{histogram, Histogram};
#[doc(hidden)]
pub use instances::instantiate as __instantiate;
pub use hints::{larger_than_ram, with_hints, with_progress, Behind, StreamHints};
pub(crate) use hints::releases_behind;
pub use linalg::{matvec, rmatvec};
pub use moments::{Moments, NanPolicy};
pub use quantile::{median, median_with_events, quantile, quantile_along, quantile_with_events, QuantileDtype, Quantiles};
pub use real::Real;
pub use reduce::CHUNK;
pub use rolling::{rolling, rolling_along, rolling_dtype, rolling_into, RollingStat};
pub use threads::{install, parse_threads, set_threads, thread_count, threads, THREADS_ENV};

use crate::error::{Error, ErrorKind, Result};
use moments::Want;

/// A statistic that [`reduce`] computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stat {
    /// Number of elements (non-NaN ones under [`NanPolicy::Omit`]).
    Count,
    /// Sum (`np.sum`, `np.nansum`).
    Sum,
    /// Arithmetic mean.
    Mean,
    /// Variance with [`ReduceOptions::ddof`].
    Var,
    /// Standard deviation with [`ReduceOptions::ddof`].
    Std,
    /// Minimum.
    Min,
    /// Maximum.
    Max,
    /// `max - min`.
    Ptp,
    /// Index of the first minimum: flat C-order index with no axis, the
    /// index along the axis with one.
    ArgMin,
    /// Index of the first maximum.
    ArgMax,
    /// Sum of squares `Σx²`.
    SumSq,
    /// Mean of squares `Σx²/n`.
    MeanSq,
}

impl Stat {
    /// Every statistic, in declaration order.
    pub const ALL: [Stat; 12] = [
        Stat::Count,
        Stat::Sum,
        Stat::Mean,
        Stat::Var,
        Stat::Std,
        Stat::Min,
        Stat::Max,
        Stat::Ptp,
        Stat::ArgMin,
        Stat::ArgMax,
        Stat::SumSq,
        Stat::MeanSq,
    ];

    /// NumPy's name for the statistic (`"mean"`, `"argmin"`, ...).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Count => "count",
            Self::Sum => "sum",
            Self::Mean => "mean",
            Self::Var => "var",
            Self::Std => "std",
            Self::Min => "min",
            Self::Max => "max",
            Self::Ptp => "ptp",
            Self::ArgMin => "argmin",
            Self::ArgMax => "argmax",
            Self::SumSq => "sumsq",
            Self::MeanSq => "meansq",
        }
    }

    /// Parses a name as given by [`Stat::name`].
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] naming the string.
    pub fn parse(s: &str) -> Result<Self> {
        Self::ALL.into_iter().find(|st| st.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|st| st.name()).collect();
            Error::new(ErrorKind::InvalidArgument, format!("unknown statistic {s:?}; expected one of {}", names.join(", ")))
        })
    }

    fn want(self) -> Want {
        // the second-moment statistics are also the ones that need no extrema
        let m2 = matches!(self, Self::Var | Self::Std | Self::SumSq | Self::MeanSq);
        Want {
            m2,
            arg: matches!(self, Self::ArgMin | Self::ArgMax),
            extrema_only: matches!(self, Self::Min | Self::Max | Self::Ptp),
            extrema: !m2,
        }
    }

    /// The statistic's value from an accumulator, with NumPy's errors for
    /// empty reductions.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] for min, max, ptp, argmin and argmax of
    /// no values (NumPy raises `ValueError`), and for argmin/argmax of an
    /// all-NaN slice under [`NanPolicy::Omit`].
    pub fn of(self, m: &Moments, ddof: f64) -> Result<f64> {
        let none = |what: &str| {
            Error::new(
                ErrorKind::InvalidArgument,
                if m.nan_count() > 0 && m.policy() == NanPolicy::Omit {
                    "All-NaN slice encountered".to_string()
                } else {
                    format!("zero-size array to reduction operation {what} which has no identity")
                },
            )
        };
        Ok(match self {
            Self::Count => m.count() as f64,
            Self::Sum => m.sum(),
            Self::Mean => m.mean(),
            Self::Var => m.var(ddof),
            Self::Std => m.std(ddof),
            Self::SumSq => m.sum_sq(),
            Self::MeanSq => m.mean_sq(),
            Self::Min => m.min().or_else(|| (m.policy() == NanPolicy::Omit && m.nan_count() > 0).then_some(f64::NAN)).ok_or_else(|| none("minimum"))?,
            Self::Max => m.max().or_else(|| (m.policy() == NanPolicy::Omit && m.nan_count() > 0).then_some(f64::NAN)).ok_or_else(|| none("maximum"))?,
            Self::Ptp => Self::Max.of(m, ddof)? - Self::Min.of(m, ddof)?,
            Self::ArgMin => m.argmin().ok_or_else(|| none("argmin"))? as f64,
            Self::ArgMax => m.argmax().ok_or_else(|| none("argmax"))? as f64,
        })
    }
}

/// Options of a reduction, as NumPy's keyword arguments.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReduceOptions {
    /// Axes to reduce; `None` reduces every element (NumPy's `axis=None`).
    pub axes: Option<Vec<usize>>,
    /// Keep reduced axes as length-1 dimensions.
    pub keepdims: bool,
    /// Delta degrees of freedom for var and std.
    pub ddof: f64,
    /// How NaNs are treated.
    pub nan: NanPolicy,
}

impl ReduceOptions {
    /// Options reducing `axes`.
    #[must_use]
    pub fn along(axes: &[usize]) -> Self {
        Self { axes: Some(axes.to_vec()), ..Self::default() }
    }
}

/// Every statistic of every element of `a`, in one parallel pass,
/// including where the min and max are.
#[must_use]
pub fn moments<T: Real, D: Dimension>(a: &ArrayView<'_, T, D>, nan: NanPolicy) -> Moments {
    let v = a.view().into_dyn();
    let lstrides = reduce::c_strides(v.shape());
    reduce::reduce_all(v, lstrides, Want { m2: true, arg: true, extrema_only: false, extrema: true }, nan, true)
}

/// The fused summary pass: count, sum, mean, variance, min and max of every
/// element of `a`, as [`moments`] but without locating the min and max
/// (their [`Moments::argmin`]/[`Moments::argmax`] are `None`), which makes
/// it the fastest full pass.
#[must_use]
pub fn summary<T: Real, D: Dimension>(a: &ArrayView<'_, T, D>, nan: NanPolicy) -> Moments {
    let v = a.view().into_dyn();
    let lstrides = reduce::c_strides(v.shape());
    reduce::reduce_all(v, lstrides, Want { m2: true, arg: false, extrema_only: false, extrema: true }, nan, true)
}

/// [`summary`] along `axes`: one accumulator per output element.
///
/// # Errors
/// [`ErrorKind::InvalidArgument`] for an axis out of range or repeated.
pub fn summary_along<T: Real, D: Dimension>(a: &ArrayView<'_, T, D>, axes: &[usize], nan: NanPolicy) -> Result<ArrayD<Moments>> {
    let axes = crate::check_axes(axes, a.ndim())?;
    Ok(reduce::reduce_axes(a.view().into_dyn(), &axes, Want { m2: true, arg: false, extrema_only: false, extrema: true }, nan))
}

/// Per-element statistics along `axes`: one [`Moments`] per output element
/// (the input's shape without `axes`), each computing every statistic.
///
/// # Errors
/// [`ErrorKind::InvalidArgument`] for an axis out of range or repeated.
pub fn moments_along<T: Real, D: Dimension>(a: &ArrayView<'_, T, D>, axes: &[usize], nan: NanPolicy) -> Result<ArrayD<Moments>> {
    let axes = crate::check_axes(axes, a.ndim())?;
    Ok(reduce::reduce_axes(a.view().into_dyn(), &axes, Want { m2: true, arg: axes.len() <= 1, extrema_only: false, extrema: true }, nan))
}

/// Computes `stat` over `a` as NumPy's function of the same name would, in
/// parallel and with bounded memory. The result is a 0-d array for
/// `axes: None` (or the input's rank with `keepdims`).
///
/// # Errors
/// [`ErrorKind::InvalidArgument`]: an axis out of range or repeated,
/// argmin/argmax over more than one axis, min/max/ptp/argmin/argmax of an
/// empty reduction (NumPy's `ValueError`).
pub fn reduce<T: Real, D: Dimension>(a: &ArrayView<'_, T, D>, stat: Stat, opts: &ReduceOptions) -> Result<ArrayD<f64>> {
    let v = a.view().into_dyn();
    let ndim = v.ndim();
    let want = stat.want();
    let (mut out, axes): (ArrayD<f64>, Vec<usize>) = match &opts.axes {
        None => {
            let lstrides = reduce::c_strides(v.shape());
            let m = reduce::reduce_all(v, lstrides, want, opts.nan, true);
            (ArrayD::from_elem(IxDyn(&[]), stat.of(&m, opts.ddof)?), (0..ndim).collect())
        }
        Some(axes) => {
            let axes = crate::check_axes(axes, ndim)?;
            if want.arg && axes.len() > 1 {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!("{} takes one axis or none, not {axes:?}", stat.name()),
                ));
            }
            let ms = reduce::reduce_axes(v, &axes, want, opts.nan);
            let vals = ms.iter().map(|m| stat.of(m, opts.ddof)).collect::<Result<Vec<f64>>>()?;
            (ArrayD::from_shape_vec(ms.raw_dim(), vals).unwrap_or_else(|_| unreachable!()), axes)
        }
    };
    if opts.keepdims {
        let mut shape = a.shape().to_vec();
        for &ax in &axes {
            shape[ax] = 1;
        }
        out = out.into_shape_with_order(IxDyn(&shape)).unwrap_or_else(|_| unreachable!());
    }
    Ok(out)
}
