//! Histograms in one parallel pass, with NumPy's binning rules.

use ndarray::{ArrayView, Dimension};

use multiversion::multiversion;

use super::moments::NanPolicy;
use super::real::{f16_to_f32, f32_to_f16, f64_to_f16, Real};
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

/// The most bins a histogram may have: 2^30 (8 GiB of counts).
const MAX_BINS: u32 = 1 << 30;

/// A float type NumPy computes bins in, with its rounding: `f64`, `f32`,
/// or float16 ([`Half`]). NumPy bins float16/float32 data in their own
/// type (`bin_type`, `np.result_type` of the range and the data), integer
/// data in float64.
trait BinFloat: Copy + PartialOrd + Send + Sync {
    /// `x` rounded to the type.
    fn of(x: f64) -> Self;
    /// `i` as NumPy's `arange(n, dtype=...)` holds it.
    fn of_index(i: u32) -> Self;
    /// The value as `f64` (exact).
    fn to_f64(self) -> f64;
    /// `self - o`, `self * o`, `self / o`, `self + o`, each rounded to the
    /// type.
    fn sub(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    fn div(self, o: Self) -> Self;
    fn add(self, o: Self) -> Self;
    /// `astype(np.intp)` (truncation) of a bin index computed in the type,
    /// at least 0 and at most [`MAX_BINS`] (NaN as 0; those are not
    /// counted). (Without the clamp, Rust's saturating `as` is done one
    /// lane at a time: it made binning five times slower.)
    fn index(self) -> i32;
    /// A value of the data, which `F` holds exactly (float16 data are
    /// binned as [`Half`], float32 as `f32`; integers are rounded to
    /// `f64`, as NumPy's `astype(float64)` does).
    #[inline(always)]
    fn of_real<T: Real>(x: T) -> Self {
        Self::of(x.to_f64())
    }
    /// The unit roundoff of the type's arithmetic, for the fast pass
    /// ([`Fast`]); `None` for float16, binned the exact way.
    const EPS: Option<f64>;
    /// The value truncated toward zero.
    fn trunc(self) -> Self;
}

/// [`BinFloat`] for a native float type: its own arithmetic.
macro_rules! native_bin_float {
    ($($t:ty),*) => {$(
        #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss, clippy::unnecessary_cast, trivial_numeric_casts)]
        impl BinFloat for $t {
            const EPS: Option<f64> = Some(<$t>::EPSILON as f64 / 2.0);
            #[inline(always)]
            fn trunc(self) -> Self {
                self.trunc()
            }
            #[inline(always)]
            fn of(x: f64) -> Self {
                x as $t
            }
            #[inline(always)]
            fn of_index(i: u32) -> Self {
                i as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn sub(self, o: Self) -> Self {
                self - o
            }
            #[inline(always)]
            fn mul(self, o: Self) -> Self {
                self * o
            }
            #[inline(always)]
            fn div(self, o: Self) -> Self {
                self / o
            }
            #[inline(always)]
            fn add(self, o: Self) -> Self {
                self + o
            }
            #[inline(always)]
            fn index(self) -> i32 {
                let f = self.max(0.0).min(MAX_BINS as $t);
                // SAFETY: f is finite, in [0, MAX_BINS] (max and min return
                // the other operand for NaN), so i32 holds its truncation.
                unsafe { f.to_int_unchecked() }
            }
        }
    )*};
}
native_bin_float!(f64, f32);

/// A float16 value held in an `f32`, computed on as NumPy's float16 loops
/// do: in float32, each result rounded to float16 (exact for `+ - * /`,
/// float32 having more than twice float16's precision).
#[derive(Clone, Copy, PartialEq, PartialOrd)]
struct Half(f32);

impl Half {
    #[inline(always)]
    fn round(x: f32) -> Self {
        Self(f16_to_f32(f32_to_f16(x)))
    }
}

#[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
impl BinFloat for Half {
    const EPS: Option<f64> = None;
    #[inline(always)]
    fn trunc(self) -> Self {
        Self(self.0.trunc())
    }
    fn of(x: f64) -> Self {
        Self(f16_to_f32(f64_to_f16(x)))
    }
    #[inline(always)]
    fn of_real<T: Real>(x: T) -> Self {
        // exact: only float16 data are binned as Half
        Self(x.to_f64() as f32)
    }
    #[inline(always)]
    fn of_index(i: u32) -> Self {
        // NumPy's float16 arange: the index as float32, then rounded
        Self::round(i as f32)
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self.0)
    }
    #[inline(always)]
    fn sub(self, o: Self) -> Self {
        Self::round(self.0 - o.0)
    }
    #[inline(always)]
    fn mul(self, o: Self) -> Self {
        Self::round(self.0 * o.0)
    }
    #[inline(always)]
    fn div(self, o: Self) -> Self {
        Self::round(self.0 / o.0)
    }
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        Self::round(self.0 + o.0)
    }
    #[inline(always)]
    fn index(self) -> i32 {
        self.0.index()
    }
}

/// NumPy's binning of one histogram: what `np.histogram` computes before
/// its counting loop, in the type `F` it computes in.
struct Bins<F> {
    /// Number of bins.
    n: u32,
    /// Values outside `[lo, hi]` (and NaN) are not counted.
    lo: F,
    hi: F,
    /// The edges (`n + 1`), NumPy's `linspace` in its type.
    edges: Vec<F>,
    /// Each edge as NumPy's `linspace` computes it, without the table:
    /// `i * step + lo` in `F` (data range) or in `f64` (a given range).
    step: F,
    step64: f64,
    lo64: f64,
    /// The index's scale: `(x - lo) / denom * n`, in `F` for a range from
    /// the data, in `f64` for a given range (NumPy's `norm_denom` is then a
    /// float64 or uint64 scalar).
    denom: F,
    denom64: f64,
    /// `n` in `F` and in `f64`.
    nf: F,
    n64: f64,
    /// Whether the range was given (the `f64` formulas above apply).
    given: bool,
    /// Whether the edges follow the formula above; `false` for a step of
    /// zero (a subnormal span: NumPy's `linspace` then divides first),
    /// whose edges are looked up in `edges`.
    formula: bool,
    /// The fast pass's constants, where it applies.
    fast: Option<Fast<F>>,
}

impl<F: BinFloat> Bins<F> {
    /// NumPy's `linspace(lo, hi, n + 1)` and scale. `given` ranges arrive
    /// as `f64` (Python floats: the edges are computed in float64 and
    /// rounded to `F`); others are the data's min and max (computed in
    /// `F`). `denom64` is NumPy's `norm_denom` for a given range, or for
    /// integer data its exact `max - min`.
    fn new(n: u32, lo64: f64, hi64: f64, given: bool, denom64: f64) -> Self {
        let (lo, hi) = (F::of(lo64), F::of(hi64));
        let div = F::of_index(n);
        let (delta, delta64) = (hi.sub(lo), hi64 - lo64);
        let (step, step64) = (delta.div(div), delta64 / f64::from(n));
        let zero_step = if given { step64 == 0.0 } else { step.to_f64() == 0.0 };
        let mut b = Self { n, lo, hi, edges: Vec::new(), step, step64, lo64, denom: delta, denom64, nf: div, n64: f64::from(n), given, formula: !zero_step, fast: None };
        b.edges = (0..=n)
            .map(|i| match (given, zero_step) {
                (false, false) => b.edge::<false, true>(i),
                (true, false) => b.edge::<true, true>(i),
                (false, true) => F::of_index(i).div(div).mul(delta).add(lo),
                (true, true) => F::of(f64::from(i) / f64::from(n) * delta64 + lo64),
            })
            .collect();
        if let Some(end) = b.edges.last_mut() {
            *end = hi;
        }
        b.fast = Fast::new(&b, lo64, hi64);
        b
    }

    /// The bin of a value counted, exactly as NumPy computes it: its index
    /// `(x - lo) / denom * n` truncated (`n` moved to the last bin), then
    /// moved by one where the edges say otherwise (NumPy's correction
    /// "within ~1 ULP of the bin edges"). Inlined into [`bin_values`]'s
    /// vectorized loop.
    #[inline(always)]
    fn bin_of<const GIVEN: bool, const FORMULA: bool>(&self, x: F) -> u32 {
        let last = self.n - 1;
        let d = x.sub(self.lo);
        let i = if GIVEN { (d.to_f64() / self.denom64 * self.n64).index() } else { d.div(self.denom).mul(self.nf).index() };
        #[allow(clippy::cast_sign_loss)] // index() is at least 0
        let i = (i as u32).min(last);
        let i = if x < self.edge::<GIVEN, FORMULA>(i) { i.saturating_sub(1) } else { i };
        if i != last && x >= self.edge::<GIVEN, FORMULA>(i + 1) {
            i + 1
        } else {
            i
        }
    }

    /// [`bin_of`](Self::bin_of) for one value, edges from the table (the
    /// fast pass's values near a boundary).
    fn exact_bin(&self, x: F) -> u32 {
        if self.given { self.bin_of::<true, false>(x) } else { self.bin_of::<false, false>(x) }
    }

    /// The bin of each value of `xs` into `out` ([`bin_values`]).
    fn bin_all<T: Real>(&self, xs: &[T], out: &mut [u32]) {
        match (self.given, self.formula) {
            (false, false) => bin_values::<T, F, false, false>(self, xs, out),
            (false, true) => bin_values::<T, F, false, true>(self, xs, out),
            (true, false) => bin_values::<T, F, true, false>(self, xs, out),
            (true, true) => bin_values::<T, F, true, true>(self, xs, out),
        }
    }

    /// Edge `i` (at most `n`; edge `n` by the formula is not `hi`, and
    /// only compared with for bins below the last), by the formula where
    /// it holds, else from the table.
    #[inline(always)]
    fn edge<const GIVEN: bool, const FORMULA: bool>(&self, i: u32) -> F {
        if !FORMULA {
            self.edges[i as usize]
        } else if GIVEN {
            F::of(f64::from(i) * self.step64 + self.lo64)
        } else {
            F::of_index(i).mul(self.step).add(self.lo)
        }
    }
}

/// Values binned per kernel call: their bins fit in the L1 cache.
const SUB: usize = 1024;

/// The bin of each value of `xs` into `out` (`b.n` for a value not
/// counted), [`Bins::bin_of`] in lanes the compiler vectorizes. (NumPy
/// gathers the edges from its table; the formula gives the same values
/// without a gather.) An index past the last bin cannot occur
/// ([`histogram`] refuses the ranges that would give one, where NumPy's
/// correction fails with an `IndexError`).
#[cfg_attr(not(debug_assertions), multiversion(targets = "simd"))]
#[cfg_attr(debug_assertions, multiversion(targets("x86_64+avx+avx2+fma")))]
fn bin_values<T: Real, F: BinFloat, const GIVEN: bool, const FORMULA: bool>(b: &Bins<F>, xs: &[T], out: &mut [u32]) {
    for (&x, o) in xs.iter().zip(out.iter_mut()) {
        let x = F::of_real(x);
        let keep = x >= b.lo && x <= b.hi;
        let i = b.bin_of::<GIVEN, FORMULA>(x);
        *o = if keep { i } else { b.n };
    }
}

/// The fast pass's constants: [`bin_fast`].
#[derive(Clone, Copy)]
struct Fast<F> {
    /// `n / denom`, in `F`.
    scale: F,
    /// How far from a bin boundary a scaled value must be, in bins, for
    /// its bin to be NumPy's without the exact computation.
    tol: F,
    /// `1 - tol`, and `n - tol` (values near the top go the exact way).
    upper: F,
    top: F,
}

impl<F: BinFloat> Fast<F> {
    /// The fast pass for `b`, if its tolerance is small (float32 and
    /// float64 data, bins not so many that rounding spans a good part of
    /// one).
    ///
    /// The bound, in bins, on how far `(x - lo) * (n / denom)` (in `F`)
    /// can be from both NumPy's index `(x - lo) / denom * n` and from
    /// where NumPy's rounded edges put `x`: the edges, `lo` and the
    /// difference `x - lo` are each within an ulp or two of `M`, the
    /// largest bound in magnitude (`2 ulp(M) <= 4 eps M`), which is
    /// `M / (hi - lo) * n` ulps in bins; the scaling and NumPy's own
    /// division and product, and the edges' `i * step`, are within a few
    /// `eps` of each index (at most `n + 1`). With `eps` the unit
    /// roundoff of `F`, the sum is under `8 eps (n + 1) (M / (hi - lo) +
    /// 1)`; twice that is used.
    fn new(b: &Bins<F>, lo: f64, hi: f64) -> Option<Self> {
        let eps = F::EPS?;
        let span = hi - lo;
        let m = lo.abs().max(hi.abs());
        let tol = 16.0 * eps * (b.n64 + 1.0) * (m / span + 1.0);
        // (NaN, from a span of 0 or an infinite bound, too)
        if tol.is_nan() || tol >= 1e-3 || b.n64 >= 1.0 / eps / 16.0 {
            return None;
        }
        let denom = if b.given { b.denom64 } else { b.denom.to_f64() };
        Some(Self { scale: F::of(b.n64 / denom), tol: F::of(tol), upper: F::of(1.0 - tol), top: F::of(b.n64 - tol) })
    }
}

/// The fast pass: the bin of each value of `xs` into `out` from `(x -
/// lo) * (n / denom)` alone, where that is further than `fast.tol` from a
/// bin boundary (then NumPy's index is the same, and its edges agree),
/// else `n + 1`, for the exact computation ([`Bins::exact_bin`]); `n` for
/// a value not counted. Returns how many values are `n + 1`. (NumPy's
/// division and the edges' arithmetic took most of the time: binning 64
/// Mi float32 values took 90 ms that way.)
#[cfg_attr(not(debug_assertions), multiversion(targets = "simd"))]
#[cfg_attr(debug_assertions, multiversion(targets("x86_64+avx+avx2+fma")))]
fn bin_fast<T: Real, F: BinFloat>(b: &Bins<F>, fast: &Fast<F>, xs: &[T], out: &mut [u32]) -> u32 {
    let mut nears = 0;
    for (&x, o) in xs.iter().zip(out.iter_mut()) {
        let x = F::of_real(x);
        let keep = x >= b.lo && x <= b.hi;
        let f = x.sub(b.lo).mul(fast.scale);
        let t = f.trunc();
        let frac = f.sub(t);
        let near = frac < fast.tol || frac > fast.upper || f >= fast.top;
        #[allow(clippy::cast_sign_loss)] // index() is at least 0
        let i = t.index() as u32;
        *o = if !keep {
            b.n
        } else if near {
            b.n + 1
        } else {
            i
        };
        nears += u32::from(keep && near);
    }
    nears
}

/// Adds the bins of `xs` to `counts`: `copies` tables of `n + 1` counts
/// (the last for values not counted), consecutive values going to
/// different tables so that runs of one bin do not wait on one counter.
fn count<T: Real, F: BinFloat>(b: &Bins<F>, xs: &[T], counts: &mut [u64], copies: usize) {
    let near = b.n + 1;
    let mut bins = [0u32; SUB];
    for (part, next) in parts(xs) {
        let bins = &mut bins[..part.len()];
        let exact = |bins: &mut [u32]| b.bin_all(part, bins);
        match b.fast {
            None => exact(bins),
            Some(fast) => match bin_fast(b, &fast, part, bins) as usize {
                0 => {}
                // a few values near boundaries: one at a time
                nears if nears < part.len() / 32 => {
                    for (i, &x) in bins.iter_mut().zip(part) {
                        if *i == near {
                            *i = b.exact_bin(F::of_real(x));
                        }
                    }
                }
                // many (values on the edges, as integers on integer
                // edges): the whole part the exact way, in lanes
                _ => exact(bins),
            },
        }
        tally(bins, counts, b.n as usize + 1, copies, next);
    }
}

/// `xs` in parts of [`SUB`] values, each with the part after it (empty
/// for the last), whose cache lines [`tally`] asks for.
fn parts<T>(xs: &[T]) -> impl Iterator<Item = (&[T], &[T])> {
    let mut ahead = xs.chunks(SUB).skip(1);
    xs.chunks(SUB).map(move |part| (part, ahead.next().unwrap_or(&[])))
}

/// Adds one to `counts[t * stride + bin]` for each bin, `t` going round
/// the `copies` tables (1 or 4), while asking the CPU for the cache lines
/// of `next`, the values binned next. (Counting issues no loads of the
/// data, so without it the hardware prefetcher sat idle while it ran, and
/// binning the next part waited on memory: 64 Mi float32 values in
/// memory, one thread, 91 ms before, 50 ms with it; two threads, 46 ms
/// and 26-33 ms.)
///
/// The increments are scalar: no SIMD instruction counts faster here.
/// Counting pairs of values in a table of pairs of bins (one increment
/// for two values, for up to 100 bins) was faster alone (14.4 against
/// 20.9 ms for 64 Mi values from the L1 cache) but slower in the pass
/// (60 against 53 ms, one thread): the pairs' table crowds the data out
/// of the L1 cache.
#[inline(always)]
fn tally<T>(bins: &[u32], counts: &mut [u64], stride: usize, copies: usize, next: &[T]) {
    // values whose cache lines are asked for per 16 bins counted
    const GROUP: usize = 16;
    let per_line = (64 / std::mem::size_of::<T>()).max(1);
    let mut lines = next.iter().step_by(per_line);
    let step = (GROUP / per_line).max(1);
    let groups = bins.chunks_exact(GROUP);
    for &i in groups.remainder() {
        counts[i as usize] += 1;
    }
    for g in groups {
        lines.by_ref().take(step).for_each(prefetch);
        if copies == 4 {
            for q in g.chunks_exact(4) {
                counts[q[0] as usize] += 1;
                counts[stride + q[1] as usize] += 1;
                counts[2 * stride + q[2] as usize] += 1;
                counts[3 * stride + q[3] as usize] += 1;
            }
        } else {
            for &i in g {
                counts[i as usize] += 1;
            }
        }
    }
}

/// Asks the CPU to bring the cache line of `x` into its caches: a hint,
/// which loads nothing into a register and never faults (a page not in
/// memory is not read in).
#[inline(always)]
fn prefetch<T>(x: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE is part of every x86-64 CPU; a prefetch reads no memory
    // the program sees and cannot fault, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(std::ptr::from_ref(x).cast());
    }
}

/// Counts per bin of `a`, binned by `b`.
fn counts_of<T: Real, F: BinFloat, D: Dimension>(a: &ArrayView<'_, T, D>, b: &Bins<F>) -> Vec<u64> {
    let stride = b.n as usize + 1;
    let copies = tables(stride);
    let total = fold_blocks_unordered(
        a.view().into_dyn(),
        copies * stride * 8,
        || vec![0u64; copies * stride],
        |c: &mut Vec<u64>, xs: &[T]| count(b, xs, c, copies),
        add_counts,
    );
    (0..b.n as usize).map(|i| (0..copies).map(|k| total[k * stride + i]).sum()).collect()
}

/// How many tables of `entries` counts [`tally`] goes round: four while
/// they fit in the L2 cache (256 KiB), else one (a histogram of many bins;
/// 2^16 float16 keys).
fn tables(entries: usize) -> usize {
    if entries <= 8192 { 4 } else { 1 }
}

/// `a + b`, entry by entry.
fn add_counts(mut a: Vec<u64>, b: Vec<u64>) -> Vec<u64> {
    a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
    a
}

/// For a type of at most 2^16 values, each bit pattern one of them
/// (float16, integers of 8 bits; not bool): the smallest
/// [`Real::narrow_key`] and the number of keys (a float16 NaN has its own
/// key too).
fn key_span<T: Real>() -> Option<(u64, usize)> {
    if std::mem::size_of::<T>() > 2 {
        return None;
    }
    let span = 1usize << (8 * std::mem::size_of::<T>());
    if T::IS_FLOAT {
        return Some((0, span));
    }
    // (integers of 16 bits are not: the per-value pass bins them about as
    // fast, and much faster where a given range keeps few of them)
    let (lo, hi) = T::INT_RANGE?;
    (span <= 256 && usize::try_from(hi - lo + 1) == Ok(span)).then(|| (T::wrap_i128(lo).narrow_key(), span))
}

/// The data's min and max, and the integers' exact ones.
type Extremes = (f64, f64, Option<(i128, i128)>);

/// The data's values counted per key, for a type of few values
/// ([`key_span`]): each key's value is then binned once, and the range
/// from the data is read from the table, without a pass of its own.
/// (float16 data took NumPy's exact arithmetic per value, each step
/// rounded to float16: 64 Mi values into 100 bins took 846 ms with a
/// given range, 265 ms from the data's range; now 20 and 60 ms.)
struct ValueCounts<T> {
    /// The smallest key, and the number of keys.
    base: u64,
    span: usize,
    /// `copies` tables of `span` counts.
    table: Vec<u64>,
    copies: usize,
    values: std::marker::PhantomData<T>,
}

impl<T: Real> ValueCounts<T> {
    /// Counts the values of `a` per key.
    fn count<D: Dimension>(a: &ArrayView<'_, T, D>, base: u64, span: usize) -> Self {
        let copies = tables(span);
        let table = fold_blocks_unordered(
            a.view().into_dyn(),
            copies * span * 8,
            || vec![0u64; copies * span],
            |c: &mut Vec<u64>, xs: &[T]| {
                let mut keys = [0u32; SUB];
                for (part, next) in parts(xs) {
                    let keys = &mut keys[..part.len()];
                    keys_of(part, base, keys);
                    tally(keys, c, span, copies, next);
                }
            },
            add_counts,
        );
        Self { base, span, table, copies, values: std::marker::PhantomData }
    }

    /// The value of key `k` (some NaN for a NaN's key).
    fn value(&self, k: usize) -> T {
        T::from_order_key(T::order_key_of_narrow(self.base + k as u64))
    }

    /// How many values have key `k`.
    fn of(&self, k: usize) -> u64 {
        (0..self.copies).map(|c| self.table[c * self.span + k]).sum()
    }

    /// The data's min and max (NaN and NaN if it holds a NaN), and the
    /// integers' own; `None` if there are no values. (Where the data holds
    /// both zeros, the min is `-0.0` and the max `0.0`; NumPy's sign of
    /// such a zero depends on the values' order.)
    fn extremes(&self) -> Option<Extremes> {
        let mut held = (0..self.span).filter(|&k| self.of(k) > 0).map(|k| self.value(k));
        let lo = held.next()?;
        let mut hi = lo;
        for v in std::iter::once(lo).chain(held) {
            if v.to_f64().is_nan() {
                return Some((f64::NAN, f64::NAN, None));
            }
            hi = v;
        }
        let ints = (!T::IS_FLOAT).then(|| (lo.to_i128(), hi.to_i128()));
        Some((lo.to_f64(), hi.to_f64(), ints))
    }

    /// Counts per bin: each key's value binned by `b` as every value is
    /// (NaNs and values outside the range are not counted).
    fn binned<F: BinFloat>(&self, b: &Bins<F>) -> Vec<u64> {
        let (held, times): (Vec<T>, Vec<u64>) = (0..self.span).map(|k| (self.value(k), self.of(k))).filter(|&(_, c)| c > 0).unzip();
        let mut bins = vec![0u32; held.len()];
        b.bin_all(&held, &mut bins);
        let mut counts = vec![0u64; b.n as usize + 1];
        for (&bin, &c) in bins.iter().zip(&times) {
            counts[bin as usize] += c;
        }
        counts.truncate(b.n as usize);
        counts
    }
}

/// Each value's [`Real::narrow_key`] less `base`, into `out`.
#[cfg_attr(not(debug_assertions), multiversion(targets = "simd"))]
#[cfg_attr(debug_assertions, multiversion(targets("x86_64+avx+avx2+fma")))]
fn keys_of<T: Real>(xs: &[T], base: u64, out: &mut [u32]) {
    for (o, &x) in out.iter_mut().zip(xs) {
        #[allow(clippy::cast_possible_truncation)] // a key_span type's keys
        let k = x.narrow_key().wrapping_sub(base) as u32;
        *o = k;
    }
}

/// `np.histogram(a, bins, range)`: `bins` equal-width bins over `range`, or
/// over `[min, max]` of the data when `range` is `None` (one extra pass).
/// Values outside the range, and NaNs, are not counted. Counts, edges and
/// the bin of every value are NumPy's: computed in the data's own float
/// type for float16 and float32 data (each step rounded to it, as NumPy
/// computes them), in float64 for float64 and integer data; a given range
/// is taken as NumPy takes Python floats (its edges computed in float64,
/// then rounded to the data's type). The edges are returned as `f64`,
/// exactly (`np.histogram` returns them in the data's float type).
///
/// One pass over the data, and one more for a range from the data; for
/// float16 and 8-bit integers (at least twice as many values as the type
/// has), one in all: the values are counted per value (at most
/// 65,536 of them), each value held binned once, and the data's range read
/// from those counts.
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
/// [`ErrorKind::InvalidArgument`], with NumPy's messages: `bins` of 0 (or
/// over 2^30), a range whose max is below its min or that is not
/// finite (in the data's type), or data whose own range is not finite
/// (NaN or infinity without a `range`), or edges that do not increase
/// (too many bins for the range).
pub fn histogram<T: Real, D: Dimension>(a: &ArrayView<'_, T, D>, bins: usize, range: Option<(f64, f64)>) -> Result<Histogram> {
    if T::IS_FLOAT && std::mem::size_of::<T>() == 2 {
        histogram_in::<T, Half, D>(a, bins, range)
    } else if T::IS_FLOAT && std::mem::size_of::<T>() == 4 {
        histogram_in::<T, f32, D>(a, bins, range)
    } else {
        histogram_in::<T, f64, D>(a, bins, range)
    }
}

/// [`histogram`] computed in `F`.
fn histogram_in<T: Real, F: BinFloat, D: Dimension>(a: &ArrayView<'_, T, D>, bins: usize, range: Option<(f64, f64)>) -> Result<Histogram> {
    let invalid = |msg: String| Error::new(ErrorKind::InvalidArgument, msg);
    if bins == 0 {
        return Err(invalid("`bins` must be positive, when an integer".into()));
    }
    let n = u32::try_from(bins).ok().filter(|&n| n <= MAX_BINS).ok_or_else(|| invalid(format!("too many bins: {bins} (at most {MAX_BINS})")))?;
    let half = F::of(0.5);
    // a type of few values is counted per value, once, when first needed,
    // where the data outnumber them (a table of 2^16 counts took 1-2 ms to
    // make and read: 100 times a float16 histogram of 64 values)
    let table = std::cell::OnceCell::new();
    let few = key_span::<T>().filter(|&(_, span)| a.len() >= 2 * span);
    let by_value = || table.get_or_init(|| few.map(|(base, span)| ValueCounts::count(a, base, span))).as_ref();
    let b = match range {
        Some((lo, hi)) => {
            if lo > hi {
                return Err(invalid("max must be larger than min in range parameter.".into()));
            }
            if !(lo.is_finite() && hi.is_finite()) {
                return Err(invalid(format!("supplied range of [{lo}, {hi}] is not finite")));
            }
            // Python floats: widened in float64
            let (lo, hi) = if lo == hi { (lo - 0.5, hi + 0.5) } else { (lo, hi) };
            let (flo, fhi) = (F::of(lo), F::of(hi));
            if !(flo.to_f64().is_finite() && fhi.to_f64().is_finite()) {
                return Err(invalid(format!("supplied range of [{lo}, {hi}] is not finite in the data's type")));
            }
            // The largest value counted, F(hi), is binned from F(hi) -
            // F(lo) over the float64 hi - lo: where rounding to F moved
            // the bounds apart by more than a bin, its index is past the
            // last bin (NumPy's own correction then fails, IndexError)
            #[allow(clippy::cast_possible_truncation)]
            let top = (fhi.sub(flo).to_f64() / (hi - lo) * f64::from(n)) as i64;
            if top > i64::from(n) {
                let (flo, fhi) = (flo.to_f64(), fhi.to_f64());
                return Err(invalid(format!(
                    "range [{lo}, {hi}] rounds to [{flo}, {fhi}] in the data's type, too far apart for {bins} bins of the range: value {fhi} would fall in bin {top}"
                )));
            }
            Bins::<F>::new(n, lo, hi, true, hi - lo)
        }
        None if a.is_empty() => Bins::<F>::new(n, 0.0, 1.0, true, 1.0),
        None => {
            let (lo, hi, ints) = match by_value().and_then(ValueCounts::extremes) {
                Some(extremes) => extremes,
                None => {
                    let m = summary(a, NanPolicy::Propagate);
                    (Stat::Min.of(&m, 0.0)?, Stat::Max.of(&m, 0.0)?, m.int_extremes::<T>())
                }
            };
            if !(lo.is_finite() && hi.is_finite()) {
                return Err(invalid(format!("autodetected range of [{lo}, {hi}] is not finite")));
            }
            match ints {
                // integers: NumPy's norm_denom is max - min exactly (as
                // uint64), and its edges float64; equal ones widen in float64
                Some((ilo, ihi)) if ilo != ihi => {
                    #[allow(clippy::cast_precision_loss)]
                    let denom = (ihi - ilo) as f64;
                    Bins::<F>::new(n, lo, hi, true, denom)
                }
                Some(_) => Bins::<F>::new(n, lo - 0.5, hi + 0.5, true, 1.0),
                // floats: in their own type, the widening too
                None if lo == hi => Bins::<F>::new(n, F::of(lo).sub(half).to_f64(), F::of(hi).add(half).to_f64(), false, 0.0),
                None => Bins::<F>::new(n, lo, hi, false, 0.0),
            }
        }
    };
    let edges: Vec<f64> = b.edges.iter().map(|e| e.to_f64()).collect();
    // (as NumPy's test: NaN edges, from a span that overflows the type,
    // pass it when there is one bin)
    if edges.windows(2).any(|w| w[0] >= w[1]) {
        return Err(invalid(format!(
            "Too many bins for data range. Cannot create {bins} finite-sized bins."
        )));
    }
    let counts = match by_value() {
        Some(table) => table.binned(&b),
        None => counts_of(a, &b),
    };
    Ok(Histogram { counts, edges })
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

    #[test]
    fn a_range_that_rounds_far_apart_in_the_data_type_is_refused() {
        // float32 steps by 8 around 1e8: the range's bounds round 3.9
        // apart to 8 apart, and 1e8 + 8 has index 3 of 2 bins in NumPy's
        // arithmetic (its IndexError); refused here, by name
        let a = ndarray::array![1e8f32 - 8.0, 1e8 + 8.0];
        let e = histogram(&a.view(), 2, Some((1e8 - 4.1, 1e8 + 4.1))).unwrap_err();
        assert!(e.to_string().contains("too far apart for 2 bins"), "{e}");
        // with one bin, index 1 is the last bin's, as NumPy has it
        let h = histogram(&a.view(), 1, Some((1e8 - 4.1, 1e8 + 4.1))).unwrap();
        assert_eq!((h.counts, h.edges), (vec![2], vec![1e8 - 8.0, 1e8 + 8.0]));
    }

    #[test]
    fn counting_per_value_bins_as_counting_each_value() {
        // every float16 bit pattern, twice, plus runs: the table of counts
        // per key, each key's value binned once, against binning each value
        let every: Vec<half::f16> = (0..=u16::MAX).map(half::f16::from_bits).collect();
        let mut xs = every.clone();
        xs.extend(&every);
        xs.extend(std::iter::repeat_n(half::f16::from_f32(1.5), 5000));
        let a = ndarray::Array1::from(xs);
        let (base, span) = key_span::<half::f16>().unwrap();
        assert_eq!((base, span), (0, 1 << 16));
        let table = ValueCounts::count(&a.view(), base, span);
        assert_eq!(table.extremes().map(|e| e.0.is_nan()), Some(true));
        for (n, lo, hi, given) in [(7, -3.5, 1e4, true), (100, -30000.0, 30000.0, true), (64, -1.0, 1.0, false), (1, 2.0, 2.5, false)] {
            let b = Bins::<Half>::new(n, lo, hi, given, hi - lo);
            assert_eq!(table.binned(&b), counts_of(&a.view(), &b), "{n} bins over [{lo}, {hi}]");
        }
        // integers: the whole int8 range, and the extremes read from the table
        let ints = ndarray::Array1::from((-128..=127).chain([5, 5, -128]).map(|i: i32| i as i8).collect::<Vec<_>>());
        let (base, span) = key_span::<i8>().unwrap();
        let table = ValueCounts::count(&ints.view(), base, span);
        assert_eq!(table.extremes(), Some((-128.0, 127.0, Some((-128, 127)))));
        let b = Bins::<f64>::new(10, -128.0, 127.0, true, 255.0);
        assert_eq!(table.binned(&b), counts_of(&ints.view(), &b));
        assert_eq!(table.binned(&b).iter().sum::<u64>(), 259);
        // both zeros: -0.0 is the min, 0.0 the max
        let zeros = ndarray::array![half::f16::ZERO, half::f16::NEG_ZERO];
        let (lo, hi, ints) = ValueCounts::count(&zeros.view(), 0, 1 << 16).extremes().unwrap();
        assert_eq!((lo.to_bits(), hi.to_bits(), ints), ((-0.0f64).to_bits(), 0, None));
        assert!(ValueCounts::count(&ndarray::Array1::<i8>::zeros(0).view(), 0, 256).extremes().is_none());
        assert!(key_span::<f32>().is_none() && key_span::<i32>().is_none() && key_span::<bool>().is_none());
        assert_eq!((key_span::<u16>(), key_span::<u8>(), key_span::<half::f16>()), (None, Some((0, 256)), Some((0, 1 << 16))));
    }
}
