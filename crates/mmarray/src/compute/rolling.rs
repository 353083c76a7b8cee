//! Rolling-window statistics in O(n): running shifted sums, re-anchored
//! exactly at intervals so rounding cannot drift, and monotonic deques for
//! min and max; parallel over segments of the output.

use std::collections::VecDeque;

use ndarray::{Array1, ArrayD, ArrayView1, ArrayViewD, ArrayViewMut1, Axis, Zip};
use multiversion::multiversion;
use rayon::prelude::*;

use super::moments::{no_dof_variance, NanPolicy};
use super::real::Real;
use crate::dtype::ScalarKind;
use crate::error::{Error, ErrorKind, Result};

/// A rolling statistic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RollingStat {
    /// Sum of each window.
    Sum,
    /// Mean of each window.
    Mean,
    /// Variance of each window (with `ddof`).
    Var,
    /// Standard deviation of each window (with `ddof`).
    Std,
    /// Minimum of each window.
    Min,
    /// Maximum of each window.
    Max,
}

impl RollingStat {
    /// Parses `sum`, `mean`, `var`, `std`, `min` or `max`.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] naming the string.
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "sum" => Self::Sum,
            "mean" => Self::Mean,
            "var" => Self::Var,
            "std" => Self::Std,
            "min" => Self::Min,
            "max" => Self::Max,
            _ => {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!("unknown rolling statistic {s:?}; expected sum, mean, var, std, min or max"),
                ))
            }
        })
    }
}

/// The element type of rolling statistics of `input` data, as NumPy's
/// `sliding_window_view(a, w).var(axis=-1)` has for floats: `float16` and
/// `float32` data keep their type (computed in `f64` inside, rounded once),
/// everything else gives `float64`.
///
/// NumPy gives integer and bool data `int64` sums and min/max of their own
/// type; here they are `float64` (exact up to 2^53) like the other
/// statistics.
///
/// ```
/// use mmarray::compute::rolling_dtype;
/// use mmarray::ScalarKind;
/// assert_eq!(rolling_dtype(ScalarKind::F32), ScalarKind::F32);
/// assert_eq!(rolling_dtype(ScalarKind::I16), ScalarKind::F64);
/// ```
#[must_use]
pub fn rolling_dtype(input: ScalarKind) -> ScalarKind {
    match input {
        ScalarKind::F16 | ScalarKind::F32 => input,
        _ => ScalarKind::F64,
    }
}

/// Outputs computed per parallel task (and the minimum between exact
/// re-anchorings of the running sums).
const SEGMENT: usize = 1 << 15;

fn check(n: usize, window: usize) -> Result<usize> {
    if window == 0 {
        return Err(Error::new(ErrorKind::InvalidArgument, "window must be at least 1"));
    }
    if window > n {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("window shape cannot be larger than input array shape: window {window}, length {n}"),
        ));
    }
    Ok(n - window + 1)
}

/// One value per full window, `n - window + 1` in all, as NumPy's
/// `sliding_window_view(x, window).<stat>(axis=-1)` (computed in `f64`).
///
/// ```
/// use mmarray::compute::{rolling, RollingStat};
/// let x = ndarray::array![1.0f32, 2.0, 4.0, 8.0];
/// assert_eq!(rolling(x.view(), 2, RollingStat::Mean, 0.0)?.to_vec(), vec![1.5, 3.0, 6.0]);
/// # Ok::<(), mmarray::Error>(())
/// ```
///
/// # Errors
/// [`ErrorKind::InvalidArgument`] for a window of 0 or longer than `x`.
pub fn rolling<T: Real>(x: ArrayView1<'_, T>, window: usize, stat: RollingStat, ddof: f64) -> Result<Array1<f64>> {
    let m = check(x.len(), window)?;
    let mut out = Array1::<f64>::zeros(m);
    rolling_into(x, window, stat, ddof, out.view_mut())?;
    Ok(out)
}

/// As [`rolling`], writing into `out` (of length `n - window + 1`), which
/// may be a mapped file for outputs larger than RAM. Each value is computed
/// in `f64` and rounded once to `U`, the output's float type (`f64`, or the
/// input's own for `f32` and `f16` data: [`rolling_dtype`]).
///
/// ```
/// use mmarray::compute::{rolling_into, RollingStat};
/// let x = ndarray::array![1.0f32, 2.0, 4.0, 8.0];
/// let mut out = ndarray::Array1::<f32>::zeros(3);
/// rolling_into(x.view(), 2, RollingStat::Var, 0.0, out.view_mut())?;
/// assert_eq!(out.to_vec(), vec![0.25, 1.0, 4.0]);
/// # Ok::<(), mmarray::Error>(())
/// ```
///
/// # Errors
/// As [`rolling`], and [`ErrorKind::InvalidArgument`] if `out` has the wrong
/// length.
pub fn rolling_into<T: Real, U: Real>(
    x: ArrayView1<'_, T>,
    window: usize,
    stat: RollingStat,
    ddof: f64,
    mut out: ArrayViewMut1<'_, U>,
) -> Result<()> {
    let m = check(x.len(), window)?;
    if out.len() != m {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("output has length {}, expected {m} (= {} - {window} + 1)", out.len(), x.len()),
        ));
    }
    // Each task computes a segment of outputs long enough that its warm-up
    // (one window) is cheap next to it.
    let segment = SEGMENT.max(8 * window);
    let progress = super::hints::progress();
    let compute = |k: usize, mut seg: ArrayViewMut1<'_, U>| {
        let start = k * segment;
        super::hints::report(progress.as_ref(), seg.len() * std::mem::size_of::<T>());
        match stat {
            RollingStat::Min | RollingStat::Max => extremes(&x, start, window, stat == RollingStat::Max, &mut seg),
            _ => moments(&x, start, window, stat, ddof, &mut seg),
        }
    };
    let segments = m.div_ceil(segment);
    // Contiguous input and output (a series in a file, and a new file):
    // segments window by window over both when they are larger than RAM.
    // (in order: a reversed view's windows would run backwards in memory)
    let contiguous = x.as_slice().is_some() && out.as_slice().is_some();
    let mut regions = Vec::new();
    if let (Some(xs), true) = (x.as_slice(), contiguous) {
        regions.push(super::hints::Region::read(xs, segment * std::mem::size_of::<T>()));
    }
    if let (Some(ys), true) = (out.as_slice_mut(), contiguous) {
        regions.push(super::hints::Region::write(ys, segment * std::mem::size_of::<U>()));
    }
    super::hints::in_windows(&regions, segments, |ks| {
        let mut part = out.slice_mut(ndarray::s![ks.start * segment..(ks.end * segment).min(m)]);
        part.axis_chunks_iter_mut(Axis(0), segment).into_par_iter().enumerate().for_each(|(i, seg)| compute(ks.start + i, seg));
    });
    Ok(())
}

/// [`rolling`] along `axis` of an N-d array: every lane along the axis is
/// rolled independently (in parallel), and the output has `n - window + 1`
/// along that axis, as `sliding_window_view(a, window, axis=axis).var(axis=-1)`.
/// The output's element type `U` is as for [`rolling_into`].
///
/// ```
/// use mmarray::compute::{rolling_along, RollingStat};
/// let a = ndarray::array![[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]].into_dyn();
/// let r = rolling_along::<f64, f64>(a.view(), 1, 2, RollingStat::Sum, 0.0)?;
/// assert_eq!(r, ndarray::array![[3.0, 5.0], [30.0, 50.0]].into_dyn());
/// # Ok::<(), mmarray::Error>(())
/// ```
///
/// # Errors
/// [`ErrorKind::InvalidArgument`] for an axis out of range, a window of 0
/// or longer than the axis.
pub fn rolling_along<T: Real, U: Real>(a: ArrayViewD<'_, T>, axis: usize, window: usize, stat: RollingStat, ddof: f64) -> Result<ArrayD<U>> {
    crate::check_axes(&[axis], a.ndim())?;
    let m = check(a.len_of(Axis(axis)), window)?;
    let mut shape = a.shape().to_vec();
    shape[axis] = m;
    let mut out = ArrayD::<U>::from_elem(shape, U::from_f64(0.0));
    let mut failure = None;
    let failed = std::sync::Mutex::new(&mut failure);
    Zip::from(out.lanes_mut(Axis(axis))).and(a.lanes(Axis(axis))).par_for_each(|o, x| {
        if let Err(e) = rolling_into(x, window, stat, ddof, o) {
            if let Ok(mut f) = failed.lock() {
                **f = Some(e);
            }
        }
    });
    match failure {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// The scale of the error bounds `Window::e1` and `Window::a1` (sums of
/// magnitudes): 2⁻¹¹, so they stay finite for thousands of values near
/// `f64::MAX` (only values below 2⁻¹⁰⁶³, whose sums are exact, vanish from
/// them).
const BOUND_SCALE: f64 = 1.0 / 2048.0;

/// Running sums of one window, shifted by `k` (a recent mean) so the
/// variance `S2 - S1²/n` does not cancel; non-finite values are counted
/// apart so they leave the window cleanly.
///
/// A value much larger than the rest leaves rounding error behind in the
/// sums when it leaves (`[1e17, 1, 2]`, window 2: `1e17 + 1 - 1e17 = 0`).
/// `e1` and `e2` bound that error (every `|d|` and `d²` added or removed
/// since the sums were last computed exactly), and `a1` is `Σ|x|` of the
/// window, the scale of the error NumPy's own sum makes (at most about
/// `n·ε·Σ|x|` for `n` values); when the bound outgrows that, the window is
/// recomputed exactly ([`Window::lost_precision`]: past `2n` times
/// `ε·Σ|x|`, at most 64 times, so a window of one value is recomputed when
/// a far larger one left it: `[3, 0.05]`, window 1, gave
/// `0.04999999999999982`). On ordinary data that happens once per
/// ~30 windows of steps, so the pass stays O(n); a compensated sum would
/// not help, because `d = x - k` itself rounds when `k` is stale.
struct Window {
    k: f64,
    s1: f64,
    s2: f64,
    e1: f64,
    e2: f64,
    a1: f64,
    nan: usize,
    pos_inf: usize,
    neg_inf: usize,
}

impl Window {
    /// Exact sums of `xs` around their own mean.
    fn exact<T: Real>(xs: impl Iterator<Item = T> + Clone) -> Self {
        let (mut sum, mut n) = (0.0, 0usize);
        for v in xs.clone() {
            let f = v.to_f64();
            if f.is_finite() {
                sum += f;
                n += 1;
            }
        }
        let k = if n > 0 { sum / n as f64 } else { 0.0 };
        let mut w = Self { k, s1: 0.0, s2: 0.0, e1: 0.0, e2: 0.0, a1: 0.0, nan: 0, pos_inf: 0, neg_inf: 0 };
        for v in xs {
            w.add(v.to_f64());
        }
        w
    }

    /// Whether the sums' rounding error (at most ε·`e1`, ε·`e2`) has grown
    /// past what NumPy's computation of this window may make (`f.limit`
    /// times ε·`Σ|x|` for sums, ε·`m2` for the variance): then recompute.
    /// A bound that overflowed (values near `f64::MAX`: `[-MAX, MAX, 4e16,
    /// 1]`, window 2, gave 0.5 for the last window instead of 2e16) says
    /// nothing: recompute too. (`e1` and `a1` are kept scaled by
    /// [`BOUND_SCALE`], so a window of values near `f64::MAX` has room.)
    #[inline]
    fn lost_precision(&self, f: &Finish) -> bool {
        if !self.e1.is_finite() || !self.a1.is_finite() || self.e1 > f.limit * self.a1 {
            return true;
        }
        f.variance && (!self.e2.is_finite() || self.e2 > f.limit * (self.s2 - self.s1 * self.s1 * f.inv_n).max(0.0))
    }

    #[inline]
    fn add(&mut self, f: f64) {
        if f.is_finite() {
            let d = f - self.k;
            self.s1 += d;
            self.s2 += d * d;
            self.e1 += d.abs() * BOUND_SCALE;
            self.e2 += d * d;
            self.a1 += f.abs() * BOUND_SCALE;
        } else if f.is_nan() {
            self.nan += 1;
        } else if f > 0.0 {
            self.pos_inf += 1;
        } else {
            self.neg_inf += 1;
        }
    }

    /// `old` leaves the window and `new` enters it: the same sums as
    /// `remove(old)` then `add(new)`, with one branch for the usual case of
    /// two finite values.
    #[inline]
    fn slide(&mut self, old: f64, new: f64) {
        if old.is_finite() && new.is_finite() {
            let (d_old, d_new) = (old - self.k, new - self.k);
            self.s1 = self.s1 - d_old + d_new;
            self.s2 = self.s2 - d_old * d_old + d_new * d_new;
            self.e1 += (d_old.abs() + d_new.abs()) * BOUND_SCALE;
            self.e2 += d_old * d_old + d_new * d_new;
            self.a1 = self.a1 - old.abs() * BOUND_SCALE + new.abs() * BOUND_SCALE;
        } else {
            self.remove(old);
            self.add(new);
        }
    }

    #[inline]
    fn remove(&mut self, f: f64) {
        if f.is_finite() {
            let d = f - self.k;
            self.s1 -= d;
            self.s2 -= d * d;
            self.e1 += d.abs() * BOUND_SCALE;
            self.e2 += d * d;
            self.a1 -= f.abs() * BOUND_SCALE;
        } else if f.is_nan() {
            self.nan -= 1;
        } else if f > 0.0 {
            self.pos_inf -= 1;
        } else {
            self.neg_inf -= 1;
        }
    }

    #[inline]
    fn value(&self, f: &Finish) -> f64 {
        let infinite = self.pos_inf + self.neg_inf > 0;
        if self.nan > 0 || (self.pos_inf > 0 && self.neg_inf > 0) {
            return f64::NAN;
        }
        match f.stat {
            RollingStat::Sum | RollingStat::Mean if infinite => {
                if self.pos_inf > 0 { f64::INFINITY } else { f64::NEG_INFINITY }
            }
            _ if infinite => f64::NAN,
            _ => f.of_sums(self.k, self.s1, self.s2),
        }
    }

    /// Whether the window holds a NaN or an infinity.
    fn holds_non_finite(&self) -> bool {
        self.nan + self.pos_inf + self.neg_inf > 0
    }
}

/// What turns a window's sums into the statistic, computed once per pass:
/// the divisions become multiplications (they had been half the time of a
/// rolling variance).
struct Finish {
    stat: RollingStat,
    n: f64,
    inv_n: f64,
    /// `1 / (n - ddof)`.
    inv_dof: f64,
    /// `n - ddof <= 0`: NumPy divides by zero.
    no_dof: bool,
    /// How far the running sums' error bound may grow, in multiples of
    /// the window's `ε·Σ|x|` (`ε·m2`), before the window is recomputed:
    /// `2n`, within NumPy's own bound for `n` values, capped at 64 so large
    /// windows stay close to exact (and recomputed about once per 25
    /// windows of steps on ordinary data).
    limit: f64,
    /// The statistic needs the second moment (var, std).
    variance: bool,
    /// Re-anchor (recompute exactly) every this many outputs: O(w) work
    /// per at least w outputs keeps the whole pass O(n).
    anchor: usize,
}

impl Finish {
    fn new(w: usize, stat: RollingStat, ddof: f64) -> Self {
        let n = w as f64;
        let dof = n - ddof;
        let variance = matches!(stat, RollingStat::Var | RollingStat::Std);
        Self { stat, n, inv_n: 1.0 / n, inv_dof: 1.0 / dof, no_dof: dof <= 0.0, limit: (2.0 * n).min(64.0), variance, anchor: SEGMENT.max(w) }
    }

    /// The statistic of a window of finite values from its sums shifted by
    /// `k` (`s1 = Σ(x - k)`, `s2 = Σ(x - k)²`).
    #[inline(always)]
    fn of_sums(&self, k: f64, s1: f64, s2: f64) -> f64 {
        self.of_sums_as(self.stat, k, s1, s2)
    }

    /// [`Finish::of_sums`] for `stat` (a constant where the caller wants
    /// the choice made once, outside a loop).
    #[inline(always)]
    fn of_sums_as(&self, stat: RollingStat, k: f64, s1: f64, s2: f64) -> f64 {
        match stat {
            RollingStat::Sum => k * self.n + s1,
            RollingStat::Mean => k + s1 * self.inv_n,
            RollingStat::Var | RollingStat::Std => {
                // (clamped at 0, but a NaN from overflowed sums stays NaN,
                // so the caller recomputes: f64::max would make it 0)
                let m2 = s2 - s1 * s1 * self.inv_n;
                let m2 = if m2 < 0.0 { 0.0 } else { m2 };
                let var = if self.no_dof { no_dof_variance(m2, NanPolicy::Propagate) } else { m2 * self.inv_dof };
                if stat == RollingStat::Std { var.sqrt() } else { var }
            }
            RollingStat::Min | RollingStat::Max => unreachable!("handled by extremes"),
        }
    }
}

fn moments<T: Real, U: Real>(x: &ArrayView1<'_, T>, start: usize, w: usize, stat: RollingStat, ddof: f64, out: &mut ArrayViewMut1<'_, U>) {
    // The inputs this segment reads, as one slice: a strided view's are
    // copied (one segment plus one window, bounded), so the loops below
    // index a slice (an ndarray index costs a stride multiply and a bounds
    // check per value).
    let span = x.slice(ndarray::s![start..start + out.len() + w - 1]);
    let copy: Vec<T>;
    let xs: &[T] = if let Some(s) = span.as_slice() {
        s
    } else {
        copy = span.to_vec();
        &copy
    };
    let finish = Finish::new(w, stat, ddof);
    if let Some(ys) = out.as_slice_mut() {
        windows(xs, w, &finish, ys);
    } else {
        let mut ys = vec![U::from_f64(0.0); out.len()];
        windows(xs, w, &finish, &mut ys);
        out.assign(&ArrayView1::from(&ys[..]));
    }
}

/// Independent runs of windows stepped together, one per SIMD lane (four
/// `f64` in an AVX2 register): one run's steps form a chain of dependent
/// additions; four runs side by side keep the core busy and vectorize.
const LANES: usize = 4;

/// `ys[j]` = the statistic of `xs[j..j + w]`, for every `j`: in [`LANES`]
/// runs stepped together when each is long enough that its exact start
/// (O(w)) is cheap, else in one.
fn windows<T: Real, U: Real>(xs: &[T], w: usize, f: &Finish, ys: &mut [U]) {
    let run = ys.len() / LANES;
    if run >= 2 * w && run >= 64 {
        // One copy of the lane loop per statistic, so that the choice is
        // made here and not per step (a branch in the loop kept it scalar).
        let of = |stat| move |k, s1, s2| f.of_sums_as(stat, k, s1, s2);
        match f.stat {
            RollingStat::Sum => in_lanes(xs, w, f, ys, run, of(RollingStat::Sum)),
            RollingStat::Mean => in_lanes(xs, w, f, ys, run, of(RollingStat::Mean)),
            RollingStat::Var => in_lanes(xs, w, f, ys, run, of(RollingStat::Var)),
            _ => in_lanes(xs, w, f, ys, run, of(RollingStat::Std)),
        }
        let done = LANES * run;
        one_run(&xs[done..], w, f, &mut ys[done..]);
    } else {
        one_run(xs, w, f, ys);
    }
}

/// [`windows`] as one run: each window's sums from the last one's.
fn one_run<T: Real, U: Real>(xs: &[T], w: usize, f: &Finish, ys: &mut [U]) {
    if ys.is_empty() {
        return;
    }
    let anchor = f.anchor;
    let mut win = Window::exact(xs[..w].iter().copied());
    ys[0] = U::from_f64(settle(&win, xs, 0, w, f));
    // (a countdown: `j % anchor` was an integer division per value)
    let mut until_anchor = anchor;
    for (j, y) in ys.iter_mut().enumerate().skip(1) {
        until_anchor -= 1;
        let value = if until_anchor == 0 {
            until_anchor = anchor;
            win = Window::exact(xs[j..j + w].iter().copied());
            settle(&win, xs, j, w, f)
        } else {
            step(&mut win, xs, j, w, f)
        };
        *y = U::from_f64(value); // (rounded once, from the f64 result)
    }
}

/// Moves `win` from the window at `j - 1` to the one at `j` and gives its
/// statistic, recomputing the sums exactly if their error bound has grown
/// too large.
#[inline]
fn step<T: Real>(win: &mut Window, xs: &[T], j: usize, w: usize, f: &Finish) -> f64 {
    win.slide(xs[j - 1].to_f64(), xs[j + w - 1].to_f64());
    if win.lost_precision(f) {
        *win = Window::exact(xs[j..j + w].iter().copied());
    }
    settle(win, xs, j, w, f)
}

/// The statistic of the window `xs[j..j + w]` whose sums are `win`.
#[inline]
fn settle<T: Real>(win: &Window, xs: &[T], j: usize, w: usize, f: &Finish) -> f64 {
    let value = win.value(f);
    if (!value.is_finite() || win.a1 > f64::MAX * BOUND_SCALE) && !win.holds_non_finite() {
        // Finite data whose magnitudes add up past f64::MAX: whether a sum
        // overflows depends on its order (`[1e308, 1e308, -1e308]` is inf
        // for NumPy), and the shifted sums' `k·n` may round past it.
        // Compute this window as NumPy's formulation does, so it is finite
        // exactly where NumPy's is.
        return direct(ArrayView1::from(&xs[j..j + w]), f);
    }
    value
}

/// [`windows`] for the first `LANES * run` outputs: lane `l` computes
/// outputs `l·run..(l+1)·run` exactly as [`one_run`] would on its own (the
/// same operations in the same order), [`LANES`] at a time. A step that
/// every lane takes the ordinary way (finite values in and out, error
/// bounds within their limits, a finite result) runs on all lanes at once;
/// any other step runs lane by lane through [`step`].
#[cfg_attr(not(debug_assertions), multiversion(targets = "simd"))]
#[cfg_attr(debug_assertions, multiversion(targets("x86_64+avx+avx2+fma")))]
fn in_lanes<T: Real, U: Real, V: Fn(f64, f64, f64) -> f64>(xs: &[T], w: usize, f: &Finish, ys: &mut [U], run: usize, value_of: V) {
    let anchor = f.anchor;
    let base: [usize; LANES] = std::array::from_fn(|l| l * run);
    let mut wins: [Window; LANES] = std::array::from_fn(|l| Window::exact(xs[base[l]..base[l] + w].iter().copied()));
    for l in 0..LANES {
        ys[base[l]] = U::from_f64(settle(&wins[l], xs, base[l], w, f));
    }
    let mut sums = Lanes::from(&wins);
    let mut clean = wins.iter().all(|v| !v.holds_non_finite());
    let mut until_anchor = anchor;
    for j in 1..run {
        until_anchor -= 1;
        let old: [f64; LANES] = std::array::from_fn(|l| xs[base[l] + j - 1].to_f64());
        let new: [f64; LANES] = std::array::from_fn(|l| xs[base[l] + j + w - 1].to_f64());
        let mut values = [0.0; LANES];
        if !(clean && until_anchor != 0 && sums.slide(old, new, f, &value_of, &mut values)) {
            sums.store(&mut wins);
            for l in 0..LANES {
                let (win, i) = (&mut wins[l], base[l] + j);
                values[l] = if until_anchor == 0 {
                    *win = Window::exact(xs[i..i + w].iter().copied());
                    settle(win, xs, i, w, f)
                } else {
                    step(win, xs, i, w, f)
                };
            }
            if until_anchor == 0 {
                until_anchor = anchor;
            }
            sums = Lanes::from(&wins);
            clean = wins.iter().all(|v| !v.holds_non_finite());
        }
        for l in 0..LANES {
            ys[base[l] + j] = U::from_f64(values[l]);
        }
    }
}

/// The finite part of [`LANES`] windows' sums, one array per field (so
/// each operation is one vector instruction).
#[derive(Clone, Copy)]
struct Lanes {
    k: [f64; LANES],
    s1: [f64; LANES],
    s2: [f64; LANES],
    e1: [f64; LANES],
    e2: [f64; LANES],
    a1: [f64; LANES],
}

impl Lanes {
    fn from(wins: &[Window; LANES]) -> Self {
        Self {
            k: wins.each_ref().map(|v| v.k),
            s1: wins.each_ref().map(|v| v.s1),
            s2: wins.each_ref().map(|v| v.s2),
            e1: wins.each_ref().map(|v| v.e1),
            e2: wins.each_ref().map(|v| v.e2),
            a1: wins.each_ref().map(|v| v.a1),
        }
    }

    fn store(&self, wins: &mut [Window; LANES]) {
        for (l, v) in wins.iter_mut().enumerate() {
            (v.k, v.s1, v.s2, v.e1, v.e2, v.a1) = (self.k[l], self.s1[l], self.s2[l], self.e1[l], self.e2[l], self.a1[l]);
        }
    }

    /// [`Window::slide`] on every lane, for windows holding only finite
    /// values, with the checks of [`step`] and [`settle`] (and the same
    /// arithmetic): when every lane passes, the new sums and `values` are
    /// stored and the result is true; otherwise the sums are unchanged.
    #[inline(always)]
    fn slide(&mut self, old: [f64; LANES], new: [f64; LANES], f: &Finish, value_of: &impl Fn(f64, f64, f64) -> f64, values: &mut [f64; LANES]) -> bool {
        // (one short loop per quantity, so each becomes vector
        // instructions; one loop over whole lanes stayed scalar)
        let d_old: [f64; LANES] = std::array::from_fn(|l| old[l] - self.k[l]);
        let d_new: [f64; LANES] = std::array::from_fn(|l| new[l] - self.k[l]);
        let s1: [f64; LANES] = std::array::from_fn(|l| self.s1[l] - d_old[l] + d_new[l]);
        let s2: [f64; LANES] = std::array::from_fn(|l| self.s2[l] - d_old[l] * d_old[l] + d_new[l] * d_new[l]);
        let e1: [f64; LANES] = std::array::from_fn(|l| self.e1[l] + (d_old[l].abs() + d_new[l].abs()) * BOUND_SCALE);
        let e2: [f64; LANES] = std::array::from_fn(|l| self.e2[l] + (d_old[l] * d_old[l] + d_new[l] * d_new[l]));
        let a1: [f64; LANES] = std::array::from_fn(|l| self.a1[l] - old[l].abs() * BOUND_SCALE + new[l].abs() * BOUND_SCALE);
        *values = std::array::from_fn(|l| value_of(self.k[l], s1[l], s2[l]));
        // (the negations of Window::lost_precision and of settle's test; a
        // NaN anywhere fails a `<=`)
        let mut ordinary = true;
        for l in 0..LANES {
            let m2 = s2[l] - s1[l] * s1[l] * f.inv_n;
            let finite = (old[l].abs() <= f64::MAX) & (new[l].abs() <= f64::MAX) & (values[l].abs() <= f64::MAX);
            let bounded = (e1[l] <= f.limit * a1[l]) & (e1[l] <= f64::MAX) & (a1[l] <= f64::MAX * BOUND_SCALE);
            let bounded = bounded & (!f.variance | ((e2[l] <= f64::MAX) & (e2[l] <= f.limit * m2.max(0.0))));
            ordinary &= finite & bounded;
        }
        if ordinary {
            (self.s1, self.s2, self.e1, self.e2, self.a1) = (s1, s2, e1, e2, a1);
        }
        ordinary
    }
}

/// One window's statistic the plain way: a float64 sum, its mean, the
/// squared deviations from that mean (NumPy's `np.var`), O(w).
fn direct<T: Real>(xs: ArrayView1<'_, T>, f: &Finish) -> f64 {
    let sum: f64 = xs.iter().map(|v| v.to_f64()).sum();
    let mean = sum / f.n;
    match f.stat {
        RollingStat::Sum => sum,
        RollingStat::Mean => mean,
        _ => {
            let m2: f64 = xs.iter().map(|v| (v.to_f64() - mean) * (v.to_f64() - mean)).sum();
            let var = if f.no_dof { no_dof_variance(m2, NanPolicy::Propagate) } else { m2 * f.inv_dof };
            if f.stat == RollingStat::Std { var.sqrt() } else { var }
        }
    }
}

/// Sliding min or max with a monotonic deque of indices; NaNs are counted
/// apart (a window holding one gives NaN, as `np.max` does).
fn extremes<T: Real, U: Real>(x: &ArrayView1<'_, T>, start: usize, w: usize, max: bool, out: &mut ArrayViewMut1<'_, U>) {
    let better = |a: f64, b: f64| if max { a >= b } else { a <= b };
    let mut dq: VecDeque<usize> = VecDeque::with_capacity(w.min(1 << 16));
    let mut nan = 0usize;
    let end = start + out.len() + w - 1;
    for i in start..end {
        let f = x[i].to_f64();
        if f.is_nan() {
            nan += 1;
        } else {
            while dq.back().is_some_and(|&b| better(f, x[b].to_f64())) {
                dq.pop_back();
            }
            dq.push_back(i);
        }
        if i + 1 >= start + w {
            let lo = i + 1 - w; // the window is x[lo..=i]
            while dq.front().is_some_and(|&f| f < lo) {
                dq.pop_front();
            }
            out[lo - start] = U::from_f64(if nan > 0 { f64::NAN } else { dq.front().map_or(f64::NAN, |&b| x[b].to_f64()) });
            if x[lo].to_f64().is_nan() {
                nan -= 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the long differential profile: `[-f64::MAX, 1, 2, ...]`,
    /// window 3, summed to -inf (the shifted sums' `k·n` rounded past
    /// f64::MAX) where NumPy's window sum is -f64::MAX + 3.
    #[test]
    fn windows_near_the_float_limit_stay_finite_where_numpy_is() {
        let x = ndarray::array![1.0, -f64::MAX, 1.0, 2.0, 1e308, 1e308, -1e308, 3.0, f64::MAX, -f64::MAX];
        for stat in [RollingStat::Sum, RollingStat::Mean, RollingStat::Var, RollingStat::Std] {
            let got = rolling(x.view(), 3, stat, 0.0).unwrap();
            for (i, g) in got.iter().enumerate() {
                let w = x.slice(ndarray::s![i..i + 3]);
                let sum: f64 = w.sum();
                let mean = sum / 3.0;
                let var = w.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / 3.0;
                let want = match stat {
                    RollingStat::Sum => sum,
                    RollingStat::Mean => mean,
                    RollingStat::Var => var,
                    _ => var.sqrt(),
                };
                assert!(want.is_finite() == g.is_finite(), "{stat:?} window {i}: {g} vs NumPy's {want}");
                if want.is_finite() && !matches!(stat, RollingStat::Var | RollingStat::Std) {
                    assert!((g - want).abs() <= 1e-12 * w.iter().map(|v| v.abs()).sum::<f64>(), "{stat:?} window {i}: {g} vs {want}");
                }
            }
        }
    }

    /// Found by the long differential profile: after `[-MAX, MAX]` the
    /// error bounds (sums of magnitudes) overflowed to inf, `inf > inf` never
    /// asked for a recomputation, and the window `[4.47e16, 1]` came out as
    /// 0.5. Values near the limit among ordinary ones, every window size:
    /// each finite window whose values are ordinary is within 1e-12 of its
    /// plain sum.
    #[test]
    fn ordinary_windows_after_values_near_the_limit_are_exact() {
        let x = ndarray::array![-f64::MAX, f64::MAX, 4.466_221_372_844_762e16, 1.0, 5.0, 7.0];
        assert_eq!(rolling(x.view(), 2, RollingStat::Sum, 0.0).unwrap().to_vec(), vec![0.0, f64::MAX, 4.466_221_372_844_762e16 + 1.0, 6.0, 12.0]);
        assert_eq!(rolling(x.view(), 2, RollingStat::Mean, 0.0).unwrap().to_vec()[2..], [2.233_110_686_422_381e16 + 0.5, 3.0, 6.0]);
        let big = [f64::MAX, -f64::MAX, 1e308, -1.7e308];
        let z: Vec<f64> = (0..4000u64)
            .map(|i| {
                let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
                if h % 23 == 0 { big[(h / 23 % 4) as usize] } else { (h % 1000) as f64 * 1e13 - 5e15 }
            })
            .collect();
        let z = ndarray::Array1::from(z);
        for w in [1, 2, 3, 7, 30, 300] {
            for stat in [RollingStat::Sum, RollingStat::Mean, RollingStat::Var, RollingStat::Std] {
                let got = rolling(z.view(), w, stat, 0.0).unwrap();
                let at: Vec<usize> = (0..got.len()).collect();
                let want = naive(z.as_slice().unwrap(), w, stat, &at);
                for (i, (g, r)) in got.iter().zip(&want).enumerate() {
                    let win = &z.as_slice().unwrap()[i..i + w];
                    if win.iter().any(|v| v.abs() > 1e300) {
                        continue; // (the order of a sum near the limit decides what overflows)
                    }
                    let scale = match stat {
                        RollingStat::Var => win.iter().map(|v| v * v).sum::<f64>() / w as f64,
                        RollingStat::Std => (win.iter().map(|v| v * v).sum::<f64>() / w as f64).sqrt(),
                        _ => win.iter().map(|v| v.abs()).sum::<f64>(),
                    };
                    assert!((g - r).abs() <= 1e-12 * scale, "{stat:?} w={w} at {i}: {g} vs {r}");
                }
            }
        }
    }

    /// The lanes compute each run exactly as one run alone does (the same
    /// operations, so the same bits), whatever the data: NaN, infinities,
    /// spikes that force recomputations, values near the float limit; runs
    /// long enough for the lanes and for re-anchoring.
    #[test]
    fn lanes_give_the_bits_of_one_run_each() {
        let n = 25_000;
        let specials = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e300, -f64::MAX, 1e17, 1e-300];
        let x: Vec<f64> = (0..n as u64)
            .map(|i| {
                let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 33;
                if h % 997 == 0 { specials[(h / 997 % 7) as usize] } else { 1e4 + (h % 10_000) as f64 * 0.37 }
            })
            .collect();
        for w in [1, 2, 7, 200, 2000] {
            for stat in [RollingStat::Sum, RollingStat::Mean, RollingStat::Var, RollingStat::Std] {
                // (ddof = w makes every window a direct O(w) one)
                for ddof in [0.0, 1.0, if w < 10 { w as f64 } else { 0.5 }] {
                    // (anchored every 2100 outputs here, so runs see it)
                    let f = Finish { anchor: 2100.max(w), ..Finish::new(w, stat, ddof) };
                    let m = n - w + 1;
                    let mut lanes = vec![0.0f64; m];
                    windows(&x, w, &f, &mut lanes);
                    let run = m / LANES;
                    assert!(run >= 2 * w, "the lanes must be used");
                    let mut want = vec![0.0f64; m];
                    for l in 0..=LANES {
                        // (each lane, then the few left over as a run of their own)
                        let hi = if l == LANES { m } else { (l + 1) * run };
                        one_run(&x[l * run..], w, &f, &mut want[l * run..hi]);
                    }
                    for (i, (g, e)) in lanes.iter().zip(&want).enumerate() {
                        assert!(g.to_bits() == e.to_bits() || (g.is_nan() && e.is_nan()), "w={w} {stat:?} ddof={ddof} at {i}: {g} vs {e}");
                    }
                }
            }
        }
    }

    /// The statistic of the window starting at each of `at`, computed plainly.
    fn naive(x: &[f64], w: usize, stat: RollingStat, at: &[usize]) -> Vec<f64> {
        at.iter()
            .map(|&i| {
                let win = &x[i..i + w];
                let n = win.len() as f64;
                let mean = win.iter().sum::<f64>() / n;
                match stat {
                    RollingStat::Sum => win.iter().sum(),
                    RollingStat::Mean => mean,
                    RollingStat::Var => win.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n,
                    RollingStat::Std => (win.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt(),
                    RollingStat::Min => win.iter().copied().fold(f64::INFINITY, f64::min),
                    RollingStat::Max => win.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                }
            })
            .collect()
    }

    #[test]
    fn no_degrees_of_freedom_gives_numpys_inf_or_nan() {
        // np.var(w, ddof=len(w)) divides by zero: inf for spread values,
        // NaN (0/0) for equal ones; ddof past the length likewise.
        let x = ndarray::array![1.0f64, 2.0, 4.0, 4.0, 4.0, 7.0];
        for ddof in [3.0, 4.0] {
            let v = rolling(x.view(), 3, RollingStat::Var, ddof).unwrap();
            assert_eq!(v[0], f64::INFINITY);
            assert!(v[2].is_nan(), "{v}");
            assert_eq!(v[3], f64::INFINITY);
            let s = rolling(x.view(), 3, RollingStat::Std, ddof).unwrap();
            assert_eq!((s[0], s[2].is_nan()), (f64::INFINITY, true));
        }
        // one degree left: the ordinary sample variance
        let v = rolling(x.view(), 3, RollingStat::Var, 2.0).unwrap();
        assert!((v[0] - 4.666_666_666_666_667).abs() < 1e-12 && v[2] == 0.0, "{v}");
    }

    #[test]
    fn matches_the_naive_windows_across_segments_and_anchors() {
        let n = 3 * SEGMENT + 123;
        let x: Vec<f64> = (0..n).map(|i| 1e6 + ((i * 7919) % 1013) as f64 * 0.5 + (i as f64) * 1e-3).collect();
        let a = Array1::from(x.clone());
        for w in [1, 2, 7, 200, 5000] {
            for stat in [RollingStat::Sum, RollingStat::Mean, RollingStat::Var, RollingStat::Std, RollingStat::Min, RollingStat::Max] {
                let got = rolling(a.view(), w, stat, 0.0).unwrap();
                assert_eq!(got.len(), n - w + 1);
                // every 97th window, and those around segment boundaries
                let mut at: Vec<usize> = (0..got.len()).step_by(97).collect();
                for b in [SEGMENT, 2 * SEGMENT, 4 * w, 8 * w] {
                    at.extend((b.saturating_sub(2)..b + 2).filter(|&i| i < got.len()));
                }
                at.push(got.len() - 1);
                let want = naive(&x, w, stat, &at);
                for (&i, e) in at.iter().zip(&want) {
                    let g = &got[i];
                    let tol = if matches!(stat, RollingStat::Var | RollingStat::Std) { 1e-6 * e.abs().max(1.0) } else { 1e-9 * e.abs().max(1.0) };
                    assert!((g - e).abs() <= tol, "w={w} {stat:?} at {i}: {g} vs {e}");
                }
            }
        }
    }

    #[test]
    fn non_finite_values_enter_and_leave_cleanly() {
        let x = Array1::from(vec![1.0, f64::NAN, 2.0, 3.0, f64::INFINITY, 4.0, 5.0, 6.0]);
        let mean = rolling(x.view(), 2, RollingStat::Mean, 0.0).unwrap().to_vec();
        assert!(mean[0].is_nan() && mean[1].is_nan());
        assert_eq!(mean[2], 2.5);
        assert_eq!((mean[3], mean[4]), (f64::INFINITY, f64::INFINITY));
        assert_eq!((mean[5], mean[6]), (4.5, 5.5));
        let var = rolling(x.view(), 2, RollingStat::Var, 0.0).unwrap().to_vec();
        assert!(var[3].is_nan() && var[4].is_nan());
        assert_eq!(var[6], 0.25);
        let max = rolling(x.view(), 3, RollingStat::Max, 0.0).unwrap().to_vec();
        assert!(max[0].is_nan() && max[1].is_nan());
        assert_eq!(&max[2..], &[f64::INFINITY, f64::INFINITY, f64::INFINITY, 6.0]);
        assert!(rolling(x.view(), 9, RollingStat::Sum, 0.0).unwrap_err().to_string().contains("cannot be larger"));
        assert!(rolling(x.view(), 0, RollingStat::Sum, 0.0).is_err());
    }

    #[test]
    fn a_large_value_leaving_leaves_no_error_behind() {
        // was [5e16, 0, 0] for the mean and 0 for the std (the 1 and 2 were
        // lost in 1e17 + 1 - 1e17)
        let x = ndarray::array![1e17, 1.0, 2.0, 3.0];
        assert_eq!(rolling(x.view(), 2, RollingStat::Mean, 0.0).unwrap().to_vec(), vec![5e16, 1.5, 2.5]);
        assert_eq!(rolling(x.view(), 2, RollingStat::Std, 0.0).unwrap().to_vec()[1..], [0.5, 0.5]);
        let y = ndarray::array![-3.36e74, 3.0, 4.0];
        assert_eq!(rolling(y.view(), 1, RollingStat::Mean, 0.0).unwrap().to_vec(), vec![-3.36e74, 3.0, 4.0]);
        // a window of one value after a larger one (found by the differential
        // harness: 0.04999999999999982, 4 ulps of 0.05 where NumPy's bound
        // for one value is exact)
        let t = ndarray::array![3.0, 0.05, 1.5, 0.05];
        assert_eq!(rolling(t.view(), 1, RollingStat::Mean, 0.0).unwrap().to_vec(), vec![3.0, 0.05, 1.5, 0.05]);
        assert_eq!(rolling(t.view(), 1, RollingStat::Sum, 0.0).unwrap().to_vec(), vec![3.0, 0.05, 1.5, 0.05]);
        // small windows within 4·n·ε·Σ|x| of the window (the harness's bound)
        let u: Vec<f64> = (0..2000).map(|i| if i % 7 == 0 { 1e3 * ((i % 5) as f64 + 1.0) } else { 0.01 * (i % 11) as f64 + 0.05 }).collect();
        let u = ndarray::Array1::from(u);
        for w in [1, 2, 3, 8] {
            let got = rolling(u.view(), w, RollingStat::Mean, 0.0).unwrap();
            for (i, g) in got.iter().enumerate() {
                let win = &u.as_slice().unwrap()[i..i + w];
                let exact = win.iter().sum::<f64>() / w as f64;
                let bound = 4.0 * w as f64 * f64::EPSILON * win.iter().map(|v| v.abs()).sum::<f64>() / w as f64;
                assert!((g - exact).abs() <= bound, "w={w} at {i}: {g} vs {exact}");
            }
        }
        // spikes of every size between ordinary values, all windows
        let z: Vec<f64> = (0..3000).map(|i| if i % 97 == 0 { 10f64.powi(i % 300 - 150) } else { (i % 13) as f64 - 6.0 }).collect();
        let z = ndarray::Array1::from(z);
        for w in [1, 2, 5, 40, 200] {
            for stat in [RollingStat::Sum, RollingStat::Mean, RollingStat::Var] {
                let got = rolling(z.view(), w, stat, 0.0).unwrap();
                let at: Vec<usize> = (0..got.len()).collect();
                let want = naive(z.as_slice().unwrap(), w, stat, &at);
                for (i, (g, r)) in got.iter().zip(&want).enumerate() {
                    let win = &z.as_slice().unwrap()[i..i + w];
                    let scale = match stat {
                        RollingStat::Var => win.iter().map(|v| v * v).sum::<f64>() / w as f64,
                        _ => win.iter().map(|v| v.abs()).sum::<f64>(),
                    };
                    assert!((g - r).abs() <= 1e-12 * scale.max(f64::MIN_POSITIVE), "{stat:?} w={w} at {i}: {g} vs {r}");
                }
            }
        }
    }
}
