//! [`Moments`]: the one-pass accumulator behind every reduction (count,
//! sum, mean, second central moment, min, max and where they are), its
//! numerically stable merge, and the SIMD block kernels that fill it.

use multiversion::multiversion;

use super::real::Real;

/// How NaN values are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NanPolicy {
    /// As NumPy's `sum`, `mean`, `min`...: any NaN makes the result NaN
    /// (and `argmin`/`argmax` the index of the first NaN).
    #[default]
    Propagate,
    /// As NumPy's `nansum`, `nanmean`, `nanmin`...: NaNs are skipped.
    Omit,
}

/// Where no index has been seen yet.
const NONE: u64 = u64::MAX;

/// Partial statistics of a set of values, mergeable in any order.
///
/// NaNs are always counted apart (`nan_count`) and kept out of the other
/// fields; the [`NanPolicy`] decides at the end whether they poison the
/// result. Means and second moments are merged with Chan et al.'s pairwise
/// formula, in `f64`, so a billion `f32` values give a variance as accurate
/// as a two-pass float64 computation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moments {
    count: u64,
    nan_count: u64,
    sum: f64,
    mean: f64,
    m2: f64,
    min: f64,
    max: f64,
    argmin: u64,
    argmax: u64,
    /// Order keys ([`Real::order_key`]) of the exact min and max, for
    /// `i64`/`u64` data whose distinct values can share one `f64` (0
    /// otherwise): ties in `f64` are settled by them before the index.
    kmin: u64,
    kmax: u64,
    first_nan: u64,
    /// The NaN at `first_nan` (quiet, as arithmetic leaves it): the NaN a
    /// sum, mean or variance of NaN-holding data is, as NumPy's carry the
    /// data's NaN through (`-nan` from `inf - inf` stays `-nan`).
    nan: f64,
    policy: NanPolicy,
    positions: bool,
}

/// Whether values of `T` can differ while their `f64`s are equal.
#[inline]
pub(crate) fn wide<T: Real>() -> bool {
    matches!(T::KIND, crate::ScalarKind::I64 | crate::ScalarKind::U64)
}

impl Moments {
    /// No values yet; positions of the min and max are tracked.
    #[must_use]
    pub fn empty(policy: NanPolicy) -> Self {
        Self::empty_tracking(policy, true)
    }

    /// No values yet; `positions` says whether the positions of the min and
    /// max will be tracked (a summary pass skips them for speed).
    #[must_use]
    pub fn empty_tracking(policy: NanPolicy, positions: bool) -> Self {
        Self {
            count: 0,
            nan_count: 0,
            sum: 0.0,
            mean: 0.0,
            m2: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            argmin: NONE,
            argmax: NONE,
            kmin: 0,
            kmax: 0,
            first_nan: NONE,
            nan: f64::NAN,
            policy,
            positions,
        }
    }

    /// Adds one value whose logical index is `index`.
    #[inline]
    pub fn push(&mut self, x: f64, index: u64) {
        self.push_keyed(x, 0, index);
    }

    /// [`push`](Self::push) with the value's order key (see `kmin`), for
    /// data of a [`wide`] type; 0 otherwise.
    #[inline]
    pub(crate) fn push_keyed(&mut self, x: f64, key: u64, index: u64) {
        if x.is_nan() {
            if self.nan_count == 0 || index < self.first_nan {
                self.nan = x;
            }
            self.nan_count += 1;
            self.first_nan = self.first_nan.min(index);
            return;
        }
        self.count += 1;
        self.sum += x;
        let d = x - self.mean;
        self.mean += d / self.count as f64;
        self.m2 += d * (x - self.mean);
        if x < self.min || (x == self.min && (key < self.kmin || (key == self.kmin && index < self.argmin))) {
            self.min = x;
            self.kmin = key;
            self.argmin = index;
        }
        if x > self.max || (x == self.max && (key > self.kmax || (key == self.kmax && index < self.argmax))) {
            self.max = x;
            self.kmax = key;
            self.argmax = index;
        }
    }

    /// Merges `other` into `self` (Chan, Golub and LeVeque's update); ties in
    /// min/max go to the smaller logical index, as NumPy's first occurrence.
    #[inline]
    pub fn merge(&mut self, other: &Self) {
        if other.count > 0 {
            if self.count == 0 {
                self.count = other.count;
                self.sum = other.sum;
                self.mean = other.mean;
                self.m2 = other.m2;
            } else {
                let (na, nb) = (self.count as f64, other.count as f64);
                let n = na + nb;
                let d = other.mean - self.mean;
                self.mean += d * (nb / n);
                self.m2 += other.m2 + d * d * (na * nb / n);
                self.sum += other.sum;
                self.count += other.count;
            }
            if other.min < self.min
                || (other.min == self.min && (other.kmin < self.kmin || (other.kmin == self.kmin && other.argmin < self.argmin)))
            {
                self.min = other.min;
                self.kmin = other.kmin;
                self.argmin = other.argmin;
            }
            if other.max > self.max
                || (other.max == self.max && (other.kmax > self.kmax || (other.kmax == self.kmax && other.argmax < self.argmax)))
            {
                self.max = other.max;
                self.kmax = other.kmax;
                self.argmax = other.argmax;
            }
        }
        if other.nan_count > 0 && (self.nan_count == 0 || other.first_nan < self.first_nan) {
            self.nan = other.nan;
        }
        self.nan_count += other.nan_count;
        self.first_nan = self.first_nan.min(other.first_nan);
        self.positions &= other.positions;
    }

    /// Merged copy (for `reduce`).
    #[must_use]
    pub fn merged(mut self, other: Self) -> Self {
        self.merge(&other);
        self
    }

    fn poisoned(&self) -> bool {
        self.policy == NanPolicy::Propagate && self.nan_count > 0
    }

    /// Number of values counted: all of them with [`NanPolicy::Propagate`],
    /// the non-NaN ones with [`NanPolicy::Omit`].
    #[must_use]
    pub fn count(&self) -> u64 {
        match self.policy {
            NanPolicy::Propagate => self.count + self.nan_count,
            NanPolicy::Omit => self.count,
        }
    }

    /// Number of NaN values seen.
    #[must_use]
    pub fn nan_count(&self) -> u64 {
        self.nan_count
    }

    /// The sum (0 for no values).
    #[must_use]
    pub fn sum(&self) -> f64 {
        if self.poisoned() { self.nan } else { self.sum }
    }

    /// The mean (NaN for no values, as NumPy).
    #[must_use]
    pub fn mean(&self) -> f64 {
        if self.poisoned() {
            self.nan
        } else if self.count == 0 {
            f64::NAN
        } else if self.mean.is_finite() {
            self.mean
        } else {
            // With infinities the merged running mean can be inf - inf =
            // NaN where NumPy's sum / n is inf; the sum is right.
            self.sum / self.count as f64
        }
    }

    /// The variance with `ddof` delta degrees of freedom: NaN with no values;
    /// with no degrees of freedom left (`count <= ddof`) NumPy's division by
    /// zero, inf (NaN for equal values, and always NaN from `np.nanvar`).
    #[must_use]
    pub fn var(&self, ddof: f64) -> f64 {
        // With no degrees of freedom left, np.var divides by max(n - ddof, 0):
        // inf for spread values, NaN (0/0) for equal ones; np.nanvar gives
        // NaN either way.
        // (not `f64::max`, which would turn a NaN ddof's NaN into 0: NumPy's
        // variance with ddof=nan is NaN)
        let dof = self.count as f64 - ddof;
        let dof = if dof < 0.0 { 0.0 } else { dof };
        // Rounding can leave M2 a hair below zero; NaN (from infinities:
        // inf - inf) must stay NaN, which `f64::max` would turn into 0.
        let m2 = if self.m2 < 0.0 { 0.0 } else { self.m2 };
        if self.poisoned() {
            self.nan
        } else if dof == 0.0 {
            no_dof_variance(m2, self.policy)
        } else {
            m2 / dof
        }
    }

    /// The standard deviation with `ddof` delta degrees of freedom.
    #[must_use]
    pub fn std(&self, ddof: f64) -> f64 {
        self.var(ddof).sqrt()
    }

    /// Sum of squares, `Σx²` (= M2 + n·mean², all terms non-negative).
    #[must_use]
    pub fn sum_sq(&self) -> f64 {
        if self.poisoned() {
            return self.nan;
        }
        let s = self.m2 + self.count as f64 * self.mean * self.mean;
        // A sum of squares of non-NaN values is finite or +inf; a NaN here is
        // inf - inf inside the decomposition, i.e. squares that overflowed
        // (np.sum(x**2) is inf then).
        if s.is_nan() { f64::INFINITY } else { s }
    }

    /// Mean of squares, `Σx²/n` (`0.5 * mean_sq` is the kinetic-energy case).
    #[must_use]
    pub fn mean_sq(&self) -> f64 {
        if self.count == 0 { f64::NAN } else { self.sum_sq() / self.count as f64 }
    }

    /// `v` (the min or max) as reported: NaN when NaNs poison the result,
    /// `None` for no values.
    fn extreme(&self, v: f64) -> Option<f64> {
        if self.poisoned() {
            Some(f64::NAN)
        } else {
            (self.count > 0).then_some(v)
        }
    }

    /// The minimum, or `None` if there are no values (NumPy raises).
    #[must_use]
    pub fn min(&self) -> Option<f64> {
        self.extreme(self.min)
    }

    /// The maximum, or `None` if there are no values.
    #[must_use]
    pub fn max(&self) -> Option<f64> {
        self.extreme(self.max)
    }

    /// The exact minimum and maximum of integer data of type `T` (`i64`
    /// and `u64` values beyond 2^53 included, which [`min`](Self::min) and
    /// [`max`](Self::max) round to `f64`), or `None` for float data or no
    /// values. `T` must be the type the moments were computed from.
    ///
    /// ```
    /// use mmarray::compute::{summary, NanPolicy};
    /// let a = ndarray::array![i64::MIN, 5, i64::MAX - 1];
    /// let m = summary(&a.view(), NanPolicy::Propagate);
    /// assert_eq!(m.int_extremes::<i64>(), Some((i64::MIN as i128, (i64::MAX - 1) as i128)));
    /// assert_eq!(m.max(), Some(9.223372036854775807e18)); // rounded
    /// ```
    #[must_use]
    pub fn int_extremes<T: Real>(&self) -> Option<(i128, i128)> {
        if T::IS_FLOAT || self.count == 0 {
            return None;
        }
        let exact = |x: f64, key: u64| if wide::<T>() && x.abs() >= WIDE_EXACT { T::from_order_key(key).to_i128() } else { x as i128 };
        Some((exact(self.min, self.kmin), exact(self.max, self.kmax)))
    }

    /// `max - min` (NumPy's `ptp`), or `None` if there are no values.
    #[must_use]
    pub fn ptp(&self) -> Option<f64> {
        Some(self.max()? - self.min()?)
    }

    /// The position `at` (of the min or max) as reported: the first NaN's
    /// when NaNs poison the result, `None` for no values or untracked
    /// positions.
    fn position(&self, at: u64) -> Option<u64> {
        if !self.positions {
            None
        } else if self.poisoned() {
            Some(self.first_nan)
        } else {
            (self.count > 0).then_some(at)
        }
    }

    /// Logical index of the first minimum (of the first NaN, when NaNs
    /// propagate; skipping NaNs, a NaN counts as +inf, as in NumPy's
    /// `nanargmin`), or `None` if there are no values or positions were not
    /// tracked (see [`summary`](super::summary)).
    #[must_use]
    pub fn argmin(&self) -> Option<u64> {
        // NumPy's nanargmin reads a NaN as +inf: where the minimum is +inf,
        // a NaN before the first +inf is the first minimum
        // (`nanargmin([nan, inf])` is 0)
        if self.policy == NanPolicy::Omit && self.min == f64::INFINITY {
            return self.position(self.argmin.min(self.first_nan));
        }
        self.position(self.argmin)
    }

    /// Logical index of the first maximum (or first NaN), or `None`.
    /// Skipping NaNs, a NaN counts as -inf, as in NumPy's `nanargmax`.
    #[must_use]
    pub fn argmax(&self) -> Option<u64> {
        if self.policy == NanPolicy::Omit && self.max == f64::NEG_INFINITY {
            return self.position(self.argmax.min(self.first_nan));
        }
        self.position(self.argmax)
    }

    /// The NaN policy this accumulator reports with.
    #[must_use]
    pub fn policy(&self) -> NanPolicy {
        self.policy
    }
}

/// A variance with no degrees of freedom left (`n - ddof <= 0`), as NumPy
/// gives it for a second moment `m2` (non-negative or NaN): `np.var`
/// divides by zero, inf for spread values and NaN (0/0) for equal ones;
/// `np.nanvar` gives NaN either way.
pub(crate) fn no_dof_variance(m2: f64, policy: NanPolicy) -> f64 {
    if m2 > 0.0 && policy == NanPolicy::Propagate { f64::INFINITY } else { f64::NAN }
}

/// What a block pass must compute besides count, sum, min and max.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Want {
    /// The second central moment (variance).
    pub m2: bool,
    /// Where the min and max are.
    pub arg: bool,
    /// Only the min and max (and count) are needed: skip the sums.
    pub extrema_only: bool,
    /// The min and max are needed. When false, a variance pass skips them
    /// (a fifth of its instructions) and the result's min and max are
    /// meaningless; `arg` and `extrema_only` imply true.
    pub extrema: bool,
}

const LANES: usize = 16;

/// Sum, min and max of `xs`, assuming no NaN: the fast path. A NaN makes
/// the sum NaN, which sends the block to [`block_basic`]. Thirty-two `f64`
/// lanes keep four vector accumulators busy.
#[cfg_attr(not(debug_assertions), multiversion(targets = "simd"))]
#[cfg_attr(debug_assertions, multiversion(targets("x86_64+avx+avx2+fma")))]
fn block_fast<T: Real>(xs: &[T]) -> (f64, f64, f64) {
    const W: usize = 2 * LANES;
    let Some(&first) = xs.first() else { return (0.0, f64::INFINITY, f64::NEG_INFINITY) };
    let mut s = [0.0f64; W];
    // Extremes are tracked in the element type itself (16 f32 per AVX-512
    // register instead of 8 f64; f16 as f32), from the first element.
    let first = first.to_cmp();
    let mut lo = [first; W];
    let mut hi = [first; W];
    let chunks = xs.chunks_exact(W);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..W {
            let v = c[i].to_cmp();
            s[i] += v.to_f64();
            lo[i] = if v < lo[i] { v } else { lo[i] };
            hi[i] = if v > hi[i] { v } else { hi[i] };
        }
    }
    for (i, v) in rest.iter().enumerate() {
        let v = v.to_cmp();
        s[i] += v.to_f64();
        lo[i] = if v < lo[i] { v } else { lo[i] };
        hi[i] = if v > hi[i] { v } else { hi[i] };
    }
    let mut width = W;
    while width > 1 {
        width /= 2;
        for i in 0..width {
            s[i] += s[i + width];
        }
    }
    let lo = lo.iter().map(|v| v.to_f64()).fold(f64::INFINITY, f64::min);
    let hi = hi.iter().map(|v| v.to_f64()).fold(f64::NEG_INFINITY, f64::max);
    (s[0], lo, hi)
}

/// Min and max of `xs` in the element type, and whether it holds a NaN
/// (then the careful path takes the block).
#[cfg_attr(not(debug_assertions), multiversion(targets = "simd"))]
#[cfg_attr(debug_assertions, multiversion(targets("x86_64+avx+avx2+fma")))]
fn block_extrema<T: Real>(xs: &[T]) -> Option<(f64, f64)> {
    const W: usize = 4 * LANES;
    let first = xs.first()?.to_cmp();
    let mut lo = [first; W];
    let mut hi = [first; W];
    // v != v is true only for NaN; folded per lane, it vectorizes.
    let mut nan = [0u32; W];
    let chunks = xs.chunks_exact(W);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..W {
            let v = c[i].to_cmp();
            lo[i] = if v < lo[i] { v } else { lo[i] };
            hi[i] = if v > hi[i] { v } else { hi[i] };
            #[allow(clippy::eq_op)]
            {
                nan[i] |= u32::from(v != v);
            }
        }
    }
    for (i, v) in rest.iter().enumerate() {
        let v = v.to_cmp();
        lo[i] = if v < lo[i] { v } else { lo[i] };
        hi[i] = if v > hi[i] { v } else { hi[i] };
        #[allow(clippy::eq_op)]
        {
            nan[i] |= u32::from(v != v);
        }
    }
    if nan.iter().any(|&b| b != 0) {
        return None;
    }
    let lo = lo.iter().map(|v| v.to_f64()).fold(f64::INFINITY, f64::min);
    let hi = hi.iter().map(|v| v.to_f64()).fold(f64::NEG_INFINITY, f64::max);
    Some((lo, hi))
}

/// One pass for a block without NaN: `Σ(x-k)`, `Σ(x-k)²`, min and max,
/// with `k` a guess of the block's mean. Then `M2 = Σ(x-k)² - (Σ(x-k))²/n`;
/// the caller checks that the guess was close enough for that difference
/// to be accurate and redoes the block in two passes when it was not.
/// Without `EXTREMA`, min and max are not tracked (returned as the first
/// element).
#[cfg_attr(not(debug_assertions), multiversion(targets = "simd"))]
#[cfg_attr(debug_assertions, multiversion(targets("x86_64+avx+avx2+fma")))]
fn block_shifted<T: Real, const EXTREMA: bool>(xs: &[T], k: f64) -> (f64, f64, f64, f64) {
    const W: usize = 2 * LANES;
    let Some(&first) = xs.first() else { return (0.0, 0.0, f64::INFINITY, f64::NEG_INFINITY) };
    let mut s1 = [0.0f64; W];
    let mut s2 = [0.0f64; W];
    let first = first.to_cmp();
    let mut lo = [first; W];
    let mut hi = [first; W];
    // Fused multiply-add where this clone's CPU has it (a constant per
    // clone): one instruction instead of two for the squares, which with
    // the conversions to f64 make this the engine's most compute-heavy pass.
    let fma = multiversion::target::target_cfg_f!(target_feature = "fma");
    let mut step = |i: usize, v: T| {
        let v = v.to_cmp();
        let d = v.to_f64() - k;
        s1[i] += d;
        s2[i] = if fma { d.mul_add(d, s2[i]) } else { s2[i] + d * d };
        if EXTREMA {
            lo[i] = if v < lo[i] { v } else { lo[i] };
            hi[i] = if v > hi[i] { v } else { hi[i] };
        }
    };
    let chunks = xs.chunks_exact(W);
    let rest = chunks.remainder();
    for c in chunks {
        // every chunk is W long; as an array, the loop has a fixed count
        let c: &[T; W] = c.try_into().unwrap_or_else(|_| unreachable!());
        for (i, &v) in c.iter().enumerate() {
            step(i, v);
        }
    }
    for (i, &v) in rest.iter().enumerate() {
        step(i, v);
    }
    let lo = lo.iter().map(|v| v.to_f64()).fold(f64::INFINITY, f64::min);
    let hi = hi.iter().map(|v| v.to_f64()).fold(f64::NEG_INFINITY, f64::max);
    (s1.iter().sum(), s2.iter().sum(), lo, hi)
}

/// `Σ (x - mean)²` for a block without NaN.
#[cfg_attr(not(debug_assertions), multiversion(targets = "simd"))]
#[cfg_attr(debug_assertions, multiversion(targets("x86_64+avx+avx2+fma")))]
fn block_m2_fast<T: Real>(xs: &[T], mean: f64) -> f64 {
    const W: usize = 2 * LANES;
    let mut s = [0.0f64; W];
    let chunks = xs.chunks_exact(W);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..W {
            let d = c[i].to_f64() - mean;
            s[i] += d * d;
        }
    }
    for (i, v) in rest.iter().enumerate() {
        let d = v.to_f64() - mean;
        s[i] += d * d;
    }
    s.iter().sum()
}

/// Sum, NaN count, min and max of the non-NaN values of `xs`, in `f64`
/// lanes the compiler vectorizes. Like every kernel here it is compiled for
/// multiversion's "simd" target set (x86-64-v4 with AVX-512, v3 with AVX2,
/// older SSE levels, NEON...) and the best one is chosen at run time.
#[cfg_attr(not(debug_assertions), multiversion(targets = "simd"))]
#[cfg_attr(debug_assertions, multiversion(targets("x86_64+avx+avx2+fma")))]
fn block_basic<T: Real>(xs: &[T]) -> (f64, u64, f64, f64) {
    let mut s = [0.0f64; LANES];
    let mut nan = [0u64; LANES];
    let mut lo = [f64::INFINITY; LANES];
    let mut hi = [f64::NEG_INFINITY; LANES];
    let chunks = xs.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            let x = c[i].to_f64();
            if T::IS_FLOAT {
                let ok = !x.is_nan();
                s[i] += if ok { x } else { 0.0 };
                nan[i] += u64::from(!ok);
            } else {
                s[i] += x;
            }
            lo[i] = if x < lo[i] { x } else { lo[i] };
            hi[i] = if x > hi[i] { x } else { hi[i] };
        }
    }
    for (i, v) in rest.iter().enumerate() {
        let x = v.to_f64();
        if x.is_nan() {
            nan[i] += 1;
        } else {
            s[i] += x;
        }
        lo[i] = if x < lo[i] { x } else { lo[i] };
        hi[i] = if x > hi[i] { x } else { hi[i] };
    }
    // Pairwise sum of the lanes keeps rounding low.
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for i in 0..width {
            s[i] += s[i + width];
        }
    }
    let lo = lo.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = hi.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (s[0], nan.iter().sum(), lo, hi)
}

/// `Σ (x - mean)²` over the non-NaN values of `xs`.
#[cfg_attr(not(debug_assertions), multiversion(targets = "simd"))]
#[cfg_attr(debug_assertions, multiversion(targets("x86_64+avx+avx2+fma")))]
fn block_m2<T: Real>(xs: &[T], mean: f64) -> f64 {
    let mut s = [0.0f64; LANES];
    let chunks = xs.chunks_exact(LANES);
    let rest = chunks.remainder();
    // Skip the NaN inputs only: an infinity's inf - inf must stay NaN
    // (NumPy's nanvar of [inf, 4] is NaN).
    for c in chunks {
        for i in 0..LANES {
            let x = c[i].to_f64();
            let d = x - mean;
            s[i] += if T::IS_FLOAT && x.is_nan() { 0.0 } else { d * d };
        }
    }
    for (i, v) in rest.iter().enumerate() {
        let x = v.to_f64();
        if !x.is_nan() {
            let d = x - mean;
            s[i] += d * d;
        }
    }
    s.iter().sum()
}

/// Position of the first (or, `backwards`, the last) element equal to
/// `target` (NaN matches NaN). Whole lane groups are tested at once and only
/// the group holding a match is scanned.
#[cfg_attr(not(debug_assertions), multiversion(targets = "simd"))]
#[cfg_attr(debug_assertions, multiversion(targets("x86_64+avx+avx2+fma")))]
fn find<T: Real>(xs: &[T], target: f64, backwards: bool) -> Option<usize> {
    let want_nan = target.is_nan();
    let hit = |v: &T| {
        let x = v.to_f64();
        if want_nan { x.is_nan() } else { x == target }
    };
    let group_hit = |c: &[T]| c.iter().fold(false, |acc, v| acc | hit(v));
    let n_groups = xs.len().div_ceil(LANES);
    let group = |g: usize| &xs[g * LANES..((g + 1) * LANES).min(xs.len())];
    if backwards {
        let g = (0..n_groups).rev().find(|&g| group_hit(group(g)))?;
        group(g).iter().rposition(hit).map(|j| g * LANES + j)
    } else {
        let g = (0..n_groups).find(|&g| group_hit(group(g)))?;
        group(g).iter().position(hit).map(|j| g * LANES + j)
    }
}

/// From this magnitude on an `f64` may stand for several `i64`/`u64` values.
const WIDE_EXACT: f64 = 9_007_199_254_740_992.0; // 2^53

/// Elements per kernel call: small enough (16 KiB of f64) that the second
/// pass of the variance reads the block back from the L1 cache.
const SUB: usize = 2048;

/// Statistics of one contiguous block whose element `j` has logical index
/// `base + j * step` (`step` is negative for axes walked backwards).
pub(crate) fn block_moments<T: Real>(xs: &[T], base: i64, step: i64, want: Want, policy: NanPolicy) -> Moments {
    let mut total = Moments::empty_tracking(policy, want.arg);
    // The guess of each sub-block's mean for the one-pass variance: the mean
    // of the previous sub-block, or of the first few values.
    let head = &xs[..xs.len().min(16)];
    let mut guess = head.iter().map(|v| v.to_f64()).sum::<f64>() / head.len().max(1) as f64;
    for (k, part) in xs.chunks(SUB).enumerate() {
        let part_base = base + (k * SUB) as i64 * step;
        let mut m = sub_block_moments(part, part_base, step, want, policy, guess);
        if wide::<T>() && !want.arg && m.count > 0 && (m.min.abs() >= WIDE_EXACT || m.max.abs() >= WIDE_EXACT) {
            // i64/u64 extremes that f64 cannot hold exactly: their order
            // keys, for `int_extremes` (the arg path finds them itself; a
            // block of smaller values costs nothing here)
            (m.kmin, _) = exact_extreme(part, m.min, false, |k, best| k < best);
            (m.kmax, _) = exact_extreme(part, m.max, false, |k, best| k > best);
        }
        if m.count > 0 && m.mean.is_finite() {
            guess = m.mean;
        }
        total.merge(&m);
    }
    total
}

/// One-pass moments of a NaN-free block around `guess`; `None` if the block
/// holds a NaN or infinity (the careful path takes it).
fn shifted_moments<T: Real>(xs: &[T], guess: f64, extrema: bool) -> Option<(f64, f64, f64, f64, f64)> {
    let guess = if guess.is_finite() { guess } else { 0.0 };
    let (s1, s2, lo, hi) = if extrema { block_shifted::<T, true>(xs, guess) } else { block_shifted::<T, false>(xs, guess) };
    if !s2.is_finite() {
        return None;
    }
    let n = xs.len() as f64;
    let mean = guess + s1 / n;
    let offset = s1 * s1 / n;
    // With the guess within about one spread of the mean, the subtraction
    // loses at most one bit; otherwise redo the block in two passes.
    let m2 = if offset <= 0.5 * s2 { s2 - offset } else { block_m2_fast(xs, mean) };
    Some((guess * n + s1, mean, m2, lo, hi))
}

fn sub_block_moments<T: Real>(xs: &[T], base: i64, step: i64, want: Want, policy: NanPolicy, guess: f64) -> Moments {
    let mut m = Moments::empty_tracking(policy, want.arg);
    if xs.is_empty() {
        return m;
    }
    if want.extrema_only && !want.arg {
        if let Some((lo, hi)) = block_extrema(xs) {
            m.count = xs.len() as u64;
            m.min = lo;
            m.max = hi;
            return m;
        }
    }
    if want.m2 && !want.arg {
        if let Some((sum, mean, m2, lo, hi)) = shifted_moments(xs, guess, want.extrema) {
            m.count = xs.len() as u64;
            m.sum = sum;
            m.mean = mean;
            m.m2 = m2;
            m.min = lo;
            m.max = hi;
            return m;
        }
    }
    // Fast path first; a NaN anywhere makes its sum NaN (so does inf - inf,
    // which the careful path then gets right too).
    let (fast_sum, fast_lo, fast_hi) = block_fast(xs);
    let clean = !T::IS_FLOAT || !fast_sum.is_nan();
    let (sum, nan_count, lo, hi) = if clean { (fast_sum, 0, fast_lo, fast_hi) } else { block_basic(xs) };
    let n = xs.len() as u64 - nan_count;
    m.nan_count = nan_count;
    let logical = |j: Option<usize>| j.map_or(NONE, |j| (base + j as i64 * step) as u64);
    // The smallest logical index: the first position walking forwards, the
    // last walking backwards.
    let backwards = step < 0;
    if nan_count > 0 && (want.arg || policy == NanPolicy::Propagate) {
        let j = find(xs, f64::NAN, backwards);
        m.first_nan = logical(j);
        m.nan = j.map_or(f64::NAN, |j| xs[j].to_f64());
    }
    if n == 0 {
        return m;
    }
    m.count = n;
    m.sum = sum;
    m.mean = sum / n as f64;
    m.min = lo;
    m.max = hi;
    if want.m2 {
        m.m2 = if nan_count == 0 { block_m2_fast(xs, m.mean) } else { block_m2(xs, m.mean) };
    }
    if want.arg && wide::<T>() {
        // Distinct i64/u64 values can share the f64 extreme: settle among
        // those by their exact order.
        let (kmin, jmin) = exact_extreme(xs, lo, backwards, |k, best| k < best);
        let (kmax, jmax) = exact_extreme(xs, hi, backwards, |k, best| k > best);
        (m.kmin, m.argmin, m.kmax, m.argmax) = (kmin, logical(jmin), kmax, logical(jmax));
    } else if want.arg {
        m.argmin = logical(find(xs, lo, backwards));
        m.argmax = logical(find(xs, hi, backwards));
    }
    m
}

/// Among the elements of `xs` whose `f64` is `target`, the order key that
/// `better` prefers and its position (the first walking forwards, the last
/// walking backwards: the smallest logical index either way).
fn exact_extreme<T: Real>(xs: &[T], target: f64, backwards: bool, better: impl Fn(u64, u64) -> bool) -> (u64, Option<usize>) {
    let mut best: Option<(u64, usize)> = None;
    for (j, v) in xs.iter().enumerate() {
        if v.to_f64() != target {
            continue;
        }
        let k = v.order_key();
        match best {
            Some((bk, _)) if !(better(k, bk) || (k == bk && backwards)) => {}
            _ => best = Some((k, j)),
        }
    }
    (best.map_or(0, |b| b.0), best.map(|b| b.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(xs: &[f64]) -> Moments {
        let mut m = Moments::empty(NanPolicy::Omit);
        for (i, &x) in xs.iter().enumerate() {
            m.push(x, i as u64);
        }
        m
    }

    #[test]
    fn squares_that_overflow_sum_to_inf() {
        // np.sum(x**2) and np.mean(x**2) are inf here (were NaN: inf - inf)
        for xs in [vec![1e200, -1e200], vec![1e200, 1.0, 3.0], vec![f64::INFINITY, 1.0], vec![f64::NEG_INFINITY, f64::INFINITY]] {
            let a = ndarray::Array1::from(xs.clone());
            let m = crate::compute::summary(&a.view(), NanPolicy::Propagate);
            assert_eq!(m.sum_sq(), f64::INFINITY, "{xs:?}");
            assert_eq!(m.mean_sq(), f64::INFINITY, "{xs:?}");
        }
        let m = crate::compute::summary(&ndarray::array![f64::NAN, 1.0].view(), NanPolicy::Propagate);
        assert!(m.sum_sq().is_nan());
    }

    #[test]
    fn variance_without_degrees_of_freedom_is_numpys() {
        // NumPy divides by max(n - ddof, 0): inf for spread values, NaN for
        // equal ones.
        let with = |policy, xs: &[f64]| {
            let mut m = Moments::empty(policy);
            xs.iter().enumerate().for_each(|(i, &x)| m.push(x, i as u64));
            m
        };
        let spread = with(NanPolicy::Propagate, &[1.0, 2.0, 4.0]);
        assert_eq!((spread.var(3.0), spread.var(5.0), spread.std(3.0)), (f64::INFINITY, f64::INFINITY, f64::INFINITY));
        assert!((spread.var(2.0) - 14.0 / 3.0).abs() < 1e-12);
        let equal = with(NanPolicy::Propagate, &[4.0, 4.0, 4.0]);
        assert!(equal.var(3.0).is_nan() && equal.var(0.0) == 0.0);
        assert!(with(NanPolicy::Propagate, &[]).var(0.0).is_nan());
        // infinities: the mean is the sum's (a merged running mean would
        // give inf - inf = NaN)
        let mut a = with(NanPolicy::Omit, &[1.0, f64::NAN, f64::INFINITY]);
        a.merge(&with(NanPolicy::Omit, &[2.0, 3.0]));
        assert_eq!((a.mean(), a.sum()), (f64::INFINITY, f64::INFINITY));
        let mut b = with(NanPolicy::Propagate, &[1.0, f64::NEG_INFINITY]);
        b.merge(&with(NanPolicy::Propagate, &[f64::INFINITY]));
        assert!(b.mean().is_nan());
        // infinities: NumPy's inf - inf is NaN, never a variance of 0
        for policy in [NanPolicy::Propagate, NanPolicy::Omit] {
            assert!(with(policy, &[1.0, f64::INFINITY, 4.0]).var(0.0).is_nan());
            assert!(with(policy, &[1.0, f64::INFINITY, f64::NEG_INFINITY]).std(1.0).is_nan());
        }
        // np.nanvar: NaN whenever no degree of freedom is left
        assert!(with(NanPolicy::Omit, &[1.0, f64::NAN, 2.0, 4.0]).var(3.0).is_nan());
        assert!((with(NanPolicy::Omit, &[1.0, f64::NAN, 2.0, 4.0]).var(2.0) - 14.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn block_agrees_with_push_and_merge_is_exact_enough() {
        let xs: Vec<f64> = (0..1000).map(|i| ((i * 7919) % 1000) as f64 * 0.37 + 1e6).collect();
        let want = Want { m2: true, arg: true, extrema_only: false, extrema: true };
        let b = block_moments(&xs, 0, 1, want, NanPolicy::Omit);
        let r = reference(&xs);
        assert_eq!(b.count(), r.count());
        assert!((b.mean() - r.mean()).abs() < 1e-9);
        assert!((b.var(0.0) - r.var(0.0)).abs() / r.var(0.0) < 1e-12);
        assert_eq!((b.min(), b.argmin()), (r.min(), r.argmin()));
        assert_eq!((b.max(), b.argmax()), (r.max(), r.argmax()));
        // split anywhere and merge
        for cut in [1, 17, 500, 999] {
            let mut a = block_moments(&xs[..cut], 0, 1, want, NanPolicy::Omit);
            a.merge(&block_moments(&xs[cut..], cut as i64, 1, want, NanPolicy::Omit));
            assert!((a.var(1.0) - r.var(1.0)).abs() / r.var(1.0) < 1e-12);
            assert_eq!(a.argmin(), r.argmin());
        }
    }

    #[test]
    fn nan_policies() {
        let xs = [1.0, f64::NAN, 3.0, f64::NAN];
        let want = Want { m2: true, arg: true, extrema_only: false, extrema: true };
        let p = block_moments(&xs, 0, 1, want, NanPolicy::Propagate);
        assert!(p.mean().is_nan() && p.min().unwrap().is_nan() && p.sum().is_nan());
        assert_eq!(p.argmin(), Some(1));
        assert_eq!(p.count(), 4);
        let o = block_moments(&xs, 0, 1, want, NanPolicy::Omit);
        assert_eq!((o.mean(), o.min(), o.max(), o.count()), (2.0, Some(1.0), Some(3.0), 2));
        assert_eq!(o.argmax(), Some(2));
        let all_nan = block_moments(&[f64::NAN; 3], 0, 1, want, NanPolicy::Omit);
        assert!(all_nan.mean().is_nan());
        assert_eq!(all_nan.min(), None);
        // skipping NaNs, NumPy's nanargmin/nanargmax read a NaN as +inf/-inf:
        // a NaN before the first infinite extreme is the first extreme
        // (found by the differential harness: nanargmin([nan, inf, inf]) is 0)
        let (inf, nan) = (f64::INFINITY, f64::NAN);
        let omit = |xs: &[f64]| block_moments(xs, 0, 1, want, NanPolicy::Omit);
        assert_eq!(omit(&[nan, inf, inf]).argmin(), Some(0));
        assert_eq!(omit(&[inf, nan]).argmin(), Some(0));
        assert_eq!(omit(&[1.0, nan, inf]).argmin(), Some(0));
        assert_eq!(omit(&[nan, -inf]).argmax(), Some(0));
        assert_eq!(omit(&[2.0, nan, -inf]).argmax(), Some(0));
        assert_eq!(omit(&[-inf, nan, -inf]).argmax(), Some(0));
        assert_eq!((omit(&[nan, inf]).argmax(), omit(&[nan, -inf]).argmin()), (Some(1), Some(1)));
        // across blocks: an all-NaN block before a block of +inf
        let mut m = omit(&[nan, nan]);
        m.merge(&block_moments(&[inf, 3.0 * inf], 2, 1, want, NanPolicy::Omit));
        assert_eq!(m.argmin(), Some(0));
        let mut m = omit(&[5.0, inf]);
        m.merge(&block_moments(&[nan, inf], 2, 1, want, NanPolicy::Omit));
        assert_eq!(m.argmin(), Some(0));
        let mut m = omit(&[inf, inf]);
        m.merge(&block_moments(&[nan, inf], 2, 1, want, NanPolicy::Omit));
        assert_eq!(m.argmin(), Some(0));
        let mut m = omit(&[nan, inf]);
        m.merge(&block_moments(&[inf], 2, 1, want, NanPolicy::Omit));
        assert_eq!(m.argmin(), Some(0));
    }

    #[test]
    fn ties_go_to_the_first_logical_index_even_walking_backwards() {
        let xs = [5.0, 1.0, 1.0, 5.0];
        let want = Want { m2: false, arg: true, extrema_only: false, extrema: true };
        let fwd = block_moments(&xs, 0, 1, want, NanPolicy::Propagate);
        assert_eq!((fwd.argmin(), fwd.argmax()), (Some(1), Some(0)));
        // the same memory walked as logical indices 3, 2, 1, 0
        let back = block_moments(&xs, 3, -1, want, NanPolicy::Propagate);
        assert_eq!((back.argmin(), back.argmax()), (Some(1), Some(0)));
    }
}
