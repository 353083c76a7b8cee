//! Exact quantiles and medians without loading the array: a few parallel
//! passes that narrow a histogram of the values' ordered bit patterns down
//! to the wanted ranks, then NumPy's interpolation.

use multiversion::multiversion;
use ndarray::{ArrayD, ArrayView, Axis, Dimension, IxDyn};
use rayon::prelude::*;

use super::fpe::{self, FpEvent};
use super::moments::NanPolicy;
use super::real::Real;
#[cfg(test)]
use super::real::f64_key;
use super::reduce::{fold_blocks_unordered, unravel};
use crate::dtype::ScalarKind;
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
/// many (32 MiB of keys, per range), then the wanted ranks selected among
/// them in linear time.
const COLLECT: u64 = 1 << 22;
/// Bins per narrowing pass, as a power of two (65,536 bins, 512 KiB of
/// counts): each pass takes the next 16 bits of the keys below the range's
/// common prefix (a radix step: a shift, no division), so a 64-bit key
/// needs at most four passes; most ranges are collected sooner.
const BIN_BITS: u32 = 16;

/// A range of keys `[lo, hi]` known to hold the values of ranks
/// `below..below + count` (0-based, among non-NaN values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    lo: u64,
    hi: u64,
    below: u64,
    count: u64,
}

impl Range {
    /// The shift that maps `k - lo` to one of at most 2^[`BIN_BITS`] bins.
    fn shift(&self) -> u32 {
        (64 - (self.hi - self.lo).leading_zeros()).saturating_sub(BIN_BITS)
    }

    /// The keys of bin `b` (clipped to the range).
    fn bin_keys(&self, b: usize, shift: u32) -> (u64, u64) {
        let lo = self.lo + ((b as u64) << shift);
        let width = (1u64 << shift) - 1; // (shift <= 48)
        (lo, lo.saturating_add(width).min(self.hi))
    }
}

/// What one pass gathers for one range.
enum Gather {
    /// The order keys of the values themselves (few enough).
    Values(Vec<u64>),
    /// Counts per bin, and the least and greatest key in the whole range
    /// (per bin they would cost two more scattered writes per value).
    Bins { counts: Vec<u64>, min: u64, max: u64 },
}

fn gather_init(ranges: &[Range]) -> Vec<Gather> {
    ranges
        .iter()
        .map(|r| {
            if r.count <= COLLECT {
                Gather::Values(Vec::new())
            } else {
                let bins = ((r.hi - r.lo) >> r.shift()) as usize + 1;
                Gather::Bins { counts: vec![0; bins], min: u64::MAX, max: 0 }
            }
        })
        .collect()
}

fn gather_merge(mut a: Vec<Gather>, b: Vec<Gather>) -> Vec<Gather> {
    for (x, y) in a.iter_mut().zip(b) {
        match (x, y) {
            (Gather::Values(v), Gather::Values(w)) => v.extend(w),
            (Gather::Bins { counts, min, max }, Gather::Bins { counts: c2, min: m2, max: x2 }) => {
                counts.iter_mut().zip(&c2).for_each(|(x, y)| *x += y);
                *min = (*min).min(m2);
                *max = (*max).max(x2);
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

/// Arrays of at least this many values have their first pass guided by a
/// sample (smaller ones are a few milliseconds' work either way).
const SAMPLE_FROM: usize = 1 << 24;
/// The sample: this many runs of [`SAMPLE_RUN`] values, evenly spread
/// over the data (a run is one page of float32, so a cold file is read at
/// few places).
const SAMPLE_RUNS: usize = 256;
const SAMPLE_RUN: usize = 1024;

/// The first pass, over every value: the number of NaNs, and counts of
/// the values in disjoint ranges of first keys ([`first_key`]) that cover
/// every non-NaN value, in order ([`Part`]). Only counts (no per-bin
/// min/max): this pass touches every value.
struct FirstPass {
    nan: u64,
    /// A NaN of the data (as `f64`, sign and payload kept), if it holds any.
    nan_value: Option<u64>,
    parts: Vec<Part>,
}

/// A range of first keys with the ranks of its values (`below`, `count`),
/// and for a bracket, counts per bin (of `range.shift()`).
struct Part {
    range: Range,
    bins: Option<Vec<u64>>,
}

/// The first pass's key of a value, its [`Real::narrow_key`]: float32 in
/// its own 32 bits (whose top 16 bits hold 7 bits of mantissa, against 4
/// in a float64's: 128 bins per octave, so a bin holds 8 times fewer
/// values for the next pass), float16 in 16 (a bin per value: one pass is
/// exact), every other type its [`Real::order_key`].
#[inline(always)]
fn first_key<T: Real>(v: T) -> u64 {
    v.narrow_key()
}

/// The [`Real::order_key`] of the value whose [`first_key`] is `k`.
fn order_key_of_first<T: Real>(k: u64) -> u64 {
    T::order_key_of_narrow(k)
}

/// The first keys of the type's values: from its least to its greatest,
/// `-inf` to `+inf` for floats (NaNs' keys lie outside, both signs).
fn whole_keys<T: Real>() -> Range {
    let (lo, hi) = match T::INT_RANGE {
        Some((lo, hi)) => (T::wrap_i128(lo).order_key(), T::wrap_i128(hi).order_key()),
        None => (first_key(T::from_f64(f64::NEG_INFINITY)), first_key(T::from_f64(f64::INFINITY))),
    };
    Range { lo, hi, below: 0, count: 0 }
}

#[inline(always)]
fn is_nan<T: Real>(v: T) -> bool {
    #[allow(clippy::eq_op)]
    let nan = T::IS_FLOAT && v != v;
    nan
}

/// The ranges of first keys the first pass bins finely (sorted, disjoint):
/// around where a sample of the data puts each of `qs`, or the whole range
/// for data shorter than `sample_from` values.
/// A sample's guess only decides where the counting is fine; a rank that
/// falls outside every bracket is in a counted gap, which the later passes
/// narrow like any range (exact either way, one or two passes more).
fn brackets<T: Real, D: Dimension>(a: &ArrayView<'_, T, D>, qs: &[f64], sample_from: usize) -> Vec<Range> {
    let whole = whole_keys::<T>();
    // (a type with at most 2^BIN_BITS values, float16 and the integers of
    // 16 bits or fewer, gets a bin per value over the whole range: the
    // first pass then finds every rank exactly, where a sample's brackets
    // would leave gaps for more passes)
    if a.len() < sample_from.max(SAMPLE_RUNS * SAMPLE_RUN) || whole.hi - whole.lo < 1 << BIN_BITS {
        return vec![whole];
    }
    // (runs in memory order where the data is contiguous, else in logical
    // order: the order does not matter to quantiles)
    let step = a.len() / SAMPLE_RUNS;
    let starts = (0..SAMPLE_RUNS).map(|i| i * step);
    let sample: Vec<T> = match a.as_slice_memory_order() {
        Some(xs) => starts.flat_map(|s| &xs[s..s + SAMPLE_RUN]).copied().collect(),
        None => {
            let (a, shape) = (a.view().into_dyn(), a.shape().to_vec());
            starts.flat_map(|s| s..s + SAMPLE_RUN).map(|flat| a[IxDyn(&unravel(flat, &shape))]).collect()
        }
    };
    let mut keys: Vec<u64> = sample.into_iter().filter(|&v| !is_nan(v)).map(first_key).collect();
    if keys.is_empty() || qs.is_empty() {
        return vec![whole];
    }
    keys.sort_unstable();
    let last = (keys.len() - 1) as f64;
    let mut qs = qs.to_vec();
    qs.sort_by(f64::total_cmp);
    let mut out: Vec<Range> = Vec::new();
    for q in qs {
        // The rank in the sample, give or take eight standard deviations of
        // a sample quantile (the runs are not independent values) and 256.
        let at = q * last;
        let margin = 8.0 * (last * q * (1.0 - q)).sqrt() + 256.0;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let lo = if at - margin <= 0.0 { whole.lo } else { keys[(at - margin) as usize] };
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let hi = if at + margin >= last { whole.hi } else { keys[(at + margin).ceil() as usize] };
        match out.last_mut() {
            Some(prev) if lo <= prev.hi.saturating_add(1) => prev.hi = prev.hi.max(hi),
            _ => out.push(Range { lo, hi, below: 0, count: 0 }),
        }
    }
    out
}

/// What the first pass gathers: NaNs, and per bracket the number of values
/// below it and bins of those within.
struct Tally {
    nan: u64,
    /// The bits (as `f64`) of a NaN seen, the greatest where NaNs differ.
    nan_value: Option<u64>,
    below: Vec<u64>,
    bins: Vec<Vec<u64>>,
}

/// [`first_pass`]'s work on one block of values.
#[cfg_attr(not(debug_assertions), multiversion(targets = "simd"))]
#[cfg_attr(debug_assertions, multiversion(targets("x86_64+avx+avx2+fma")))]
fn tally_block<T: Real>(xs: &[T], brackets: &[Range], shifts: &[u32], t: &mut Tally) {
    // The keys of a run of values first (a loop without branches that the
    // compiler vectorises; a NaN's is u64::MAX, past every bracket), the
    // counts below each bracket (vectorised too), then the scattered adds
    // to the bins of the keys within: all of them for the whole range (the
    // adds to 512 KiB of counts in L2 are then most of the pass), a few
    // percent with a sample's brackets.
    const RUN: usize = 1024;
    let whole = whole_keys::<T>();
    let mut keys = [0u64; RUN];
    for run in xs.chunks(RUN) {
        let keys = &mut keys[..run.len()];
        for (k, &v) in keys.iter_mut().zip(run) {
            *k = if is_nan(v) { u64::MAX } else { first_key(v) };
        }
        if T::IS_FLOAT {
            let nans = keys.iter().map(|&k| u64::from(k == u64::MAX)).sum::<u64>();
            t.nan += nans;
            if nans > 0 {
                let seen = run.iter().filter(|&&v| is_nan(v)).map(|v| v.to_f64().to_bits()).max();
                t.nan_value = t.nan_value.max(seen);
            }
        }
        for (b, (r, &shift)) in brackets.iter().zip(shifts).enumerate() {
            let (lo, span) = (r.lo, r.hi - r.lo);
            t.below[b] += keys.iter().map(|&k| u64::from(k < lo)).sum::<u64>();
            // The keys within, found 32 at a time as a bit mask (a
            // vectorised compare; a branch per key cost twice the rest of
            // the pass), then one add per set bit: with a sample's
            // brackets most masks are empty.
            let bins = &mut t.bins[b];
            if span == whole.hi - whole.lo {
                // (the whole range: every key but a NaN's is within; an
                // integer's may be u64::MAX)
                for &k in keys.iter().filter(|&&k| !T::IS_FLOAT || k != u64::MAX) {
                    bins[((k - lo) >> shift) as usize] += 1;
                }
                continue;
            }
            for (g, group) in keys.chunks(32).enumerate() {
                let mut mask = group.iter().enumerate().fold(0u32, |m, (i, &k)| m | (u32::from(k.wrapping_sub(lo) <= span) << i));
                while mask != 0 {
                    let i = mask.trailing_zeros() as usize;
                    bins[((keys[g * 32 + i] - lo) >> shift) as usize] += 1;
                    mask &= mask - 1;
                }
            }
        }
    }
}

fn first_pass<T: Real, D: Dimension>(a: &ArrayView<'_, T, D>, qs: &[f64], sample_from: usize) -> Result<FirstPass> {
    let brackets = brackets(a, qs, sample_from);
    let shifts: Vec<u32> = brackets.iter().map(Range::shift).collect();
    let init = || Tally {
        nan: 0,
        nan_value: None,
        below: vec![0; brackets.len()],
        bins: brackets.iter().zip(&shifts).map(|(r, &s)| vec![0; ((r.hi - r.lo) >> s) as usize + 1]).collect(),
    };
    let tally = fold_blocks_unordered(
        a.view().into_dyn(),
        0,
        init,
        |t: &mut Tally, xs: &[T]| tally_block(xs, &brackets, &shifts, t),
        |mut x: Tally, y: Tally| {
            x.nan += y.nan;
            x.nan_value = x.nan_value.max(y.nan_value);
            x.below.iter_mut().zip(&y.below).for_each(|(a, b)| *a += b);
            for (a, b) in x.bins.iter_mut().zip(&y.bins) {
                a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
            }
            x
        },
    );
    // The parts in key order: the gap before each bracket, the bracket,
    // and the gap after the last.
    let whole = whole_keys::<T>();
    let valid = a.len() as u64 - tally.nan;
    let mut parts = Vec::with_capacity(2 * brackets.len() + 1);
    let (mut next_key, mut below) = (Some(whole.lo), 0u64);
    for (b, (r, bins)) in brackets.iter().zip(tally.bins).enumerate() {
        let gap = tally.below[b].checked_sub(below).ok_or_else(changed)?;
        if let Some(lo) = next_key.filter(|&lo| lo < r.lo) {
            parts.push(Part { range: Range { lo, hi: r.lo - 1, below, count: gap }, bins: None });
        } else if gap > 0 {
            return Err(changed());
        }
        below += gap;
        let count = bins.iter().sum::<u64>();
        parts.push(Part { range: Range { lo: r.lo, hi: r.hi, below, count }, bins: Some(bins) });
        below += count;
        next_key = r.hi.checked_add(1).filter(|&k| k <= whole.hi);
    }
    let rest = valid.checked_sub(below).ok_or_else(changed)?;
    if let Some(lo) = next_key {
        parts.push(Part { range: Range { lo, hi: whole.hi, below, count: rest }, bins: None });
    } else if rest > 0 {
        return Err(changed());
    }
    Ok(FirstPass { nan: tally.nan, nan_value: tally.nan_value, parts })
}

impl FirstPass {
    /// The NaN a quantile or median of data holding NaN is, where
    /// `theirs`: one of the data's, sign and payload kept, as NumPy's is
    /// (the last value of its partition, a NaN: `np.median([1, -nan])` is
    /// `-nan`, and x86's arithmetic makes NaNs negative); the greatest by
    /// its bits where the data's NaNs differ, where NumPy's depends on its
    /// partition. Else NumPy's `np.nan` (`nanquantile` of an all-NaN
    /// slice; `nanmedian`'s is the data's).
    fn nan_answer(&self, theirs: bool) -> f64 {
        match self.nan_value {
            Some(bits) if theirs => f64::from_bits(bits),
            _ => f64::NAN,
        }
    }

    /// The range of order keys (with its ranks) holding each of `ranks`
    /// (sorted): its bin for a bracket, else the whole gap. A rank no part
    /// holds (data that changed) gets an empty range, which [`select`]
    /// reports.
    fn ranges<T: Real>(&self, ranks: &[u64]) -> Vec<Range> {
        ranks
            .iter()
            .map(|&rank| {
                let part = self.parts.iter().find(|p| rank >= p.range.below && rank - p.range.below < p.range.count);
                let Some(Part { range: r, bins }) = part else {
                    return Range { lo: 0, hi: 0, below: rank, count: 0 };
                };
                let (lo, hi, below, count) = match bins {
                    None => (r.lo, r.hi, r.below, r.count),
                    Some(bins) => {
                        let shift = r.shift();
                        let (mut b, mut below) = (0usize, r.below);
                        while b + 1 < bins.len() && below + bins[b] <= rank {
                            below += bins[b];
                            b += 1;
                        }
                        let (lo, hi) = r.bin_keys(b, shift);
                        (lo, hi, below, bins[b])
                    }
                };
                // (for float32, ranges of its own keys become ranges of
                // order keys: both orders are the values')
                Range { lo: order_key_of_first::<T>(lo), hi: order_key_of_first::<T>(hi), below, count }
            })
            .collect()
    }
}

/// Appends to `out` the order keys of the non-NaN values of `xs` within
/// `lo..=lo + span`. The scan every narrowing pass makes over all the data
/// (most values are outside): a function of its own, with the bounds in
/// registers, so the loop is a few instructions per value.
/// Groups of 32 values are first tested as a whole (a loop without
/// branches, which the compiler vectorises), and only groups holding a key
/// in range are looked at value by value.
/// Float32 groups are tested in float32 against bounds one step wider than
/// the range (no conversion to a 64-bit key: twice the values per vector
/// instruction); the exact test, on the key, is the value-by-value one.
#[inline(never)]
fn keys_within<T: Real>(xs: &[T], lo: u64, span: u64, out: &mut Vec<u64>) {
    const GROUP: usize = 32;
    let f32_bounds = (T::KIND == ScalarKind::F32).then(|| f32_bounds(lo, lo + span));
    for group in xs.chunks(GROUP) {
        // (a NaN's key may fall in range: skipped below)
        let any = match f32_bounds {
            #[allow(clippy::cast_possible_truncation)]
            Some((flo, fhi)) => group.iter().fold(false, |any, &v| {
                let x = v.to_f64() as f32; // (exact, and folded away for f32)
                any | ((x >= flo) & (x <= fhi))
            }),
            None => group.iter().fold(false, |any, &v| any | (v.order_key().wrapping_sub(lo) <= span)),
        };
        if !any {
            continue;
        }
        for &v in group {
            let k = v.order_key();
            if k.wrapping_sub(lo) <= span && !is_nan(v) {
                out.push(k);
            }
        }
    }
}

/// Float32 bounds that hold every float32 whose order key is in
/// `lo..=hi` (and maybe a neighbour more on each side): the keys' values
/// rounded to nearest (already a superset: no float32 lies between a value
/// and its nearest float32; the zeros compare equal) and stepped outwards
/// as a margin; a NaN key (past either infinity) leaves that side
/// unbounded.
#[allow(clippy::cast_possible_truncation)]
fn f32_bounds(lo: u64, hi: u64) -> (f32, f32) {
    let (a, b) = (f64::from_order_key(lo), f64::from_order_key(hi));
    let flo = if a.is_nan() { f32::NEG_INFINITY } else { (a as f32).next_down() };
    let fhi = if b.is_nan() { f32::INFINITY } else { (b as f32).next_up() };
    (flo, fhi)
}

/// The exact values of the (0-based, sorted, non-NaN) `ranks` among the
/// non-NaN values of `a`, each known to lie in its range in `start`,
/// narrowed by order keys: every value, `-0.0` and `+0.0` apart, and
/// integers beyond 2^53 exactly.
fn select<T: Real, D: Dimension>(a: &ArrayView<'_, T, D>, ranks: &[u64], start: &[Range]) -> Result<Vec<T>> {
    let mut answers: Vec<Option<u64>> = vec![None; ranks.len()];
    let mut range_of: Vec<Range> = start.to_vec();
    // Each pass narrows every open range to one of its bins (16 more bits
    // of the key), or collects it, so 64 bits need at most 4 passes; more
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
        if ranges.iter().any(|r| r.count == 0) {
            return Err(changed());
        }
        let shifts: Vec<u32> = ranges.iter().map(Range::shift).collect();
        let gathered = fold_blocks_unordered(
            a.view().into_dyn(),
            0,
            || gather_init(&ranges),
            |acc: &mut Vec<Gather>, xs: &[T]| {
                // one scan of the block (in cache) per range: ranges far
                // apart (the 1st and 99th percentiles) would let most values
                // through one scan of their union
                let mut inside = Vec::new();
                for ((g, r), &shift) in acc.iter_mut().zip(&ranges).zip(&shifts) {
                    inside.clear();
                    keys_within(xs, r.lo, r.hi - r.lo, &mut inside);
                    for &k in &inside {
                        match g {
                            Gather::Values(keys) => keys.push(k),
                            Gather::Bins { counts, min, max } => {
                                counts[((k - r.lo) >> shift) as usize] += 1;
                                *min = (*min).min(k);
                                *max = (*max).max(k);
                            }
                        }
                    }
                }
            },
            gather_merge,
        );
        for (mut g, r) in gathered.into_iter().zip(&ranges) {
            let found = match &g {
                Gather::Values(keys) => keys.len() as u64,
                Gather::Bins { counts, .. } => counts.iter().sum(),
            };
            if found != r.count {
                return Err(changed());
            }
            for ((ans, cur), &rank) in answers.iter_mut().zip(range_of.iter_mut()).zip(ranks) {
                if ans.is_some() || cur != r {
                    continue;
                }
                // below <= rank < below + count, by construction
                let local = rank - r.below;
                match &mut g {
                    Gather::Values(keys) => {
                        // (each rank of this range partitions the keys
                        // further: selection, not a sort)
                        if (local as usize) < keys.len() {
                            *ans = Some(*keys.select_nth_unstable(local as usize).1);
                        }
                    }
                    Gather::Bins { counts, min, max } => {
                        let shift = r.shift();
                        let mut before = 0u64;
                        for (b, &count) in counts.iter().enumerate() {
                            if local < before + count {
                                // the bin's keys, within the range's least
                                // and greatest (one value: done)
                                let (lo, hi) = r.bin_keys(b, shift);
                                *cur = Range { lo: lo.max(*min), hi: hi.min(*max), below: r.below + before, count };
                                break;
                            }
                            before += count;
                        }
                    }
                }
            }
        }
    }
    Err(changed())
}

/// The names of NumPy's operations in `_lerp(a, b, t)`, in its order:
/// `diff = b - a`, `diff * t`, `a + diff * t`, `diff * (1 - t)` and `b -
/// diff * (1 - t)` (the last where `t >= 0.5`). A Python-float `q`
/// (`ElementType`) interpolates with NumPy scalars, so the subtraction and
/// the products are "scalar" operations and `t`, `1 - t` are first cast
/// to the data's type; an array of `q`s computes on arrays.
const SCALAR_OPS: [&str; 7] = ["scalar subtract", "cast", "scalar multiply", "add", "cast", "scalar multiply", "subtract"];
const ARRAY_OPS: [&str; 7] = ["subtract", "", "multiply", "add", "", "multiply", "subtract"];

/// One interpolation as NumPy's `_lerp(a, b, t)` computes it: `a + (b-a)·t`,
/// or `b - (b-a)·(1-t)` for `t >= 0.5`, with `b - a` in the data's type
/// (wrapping for integers, as NumPy's does) and the rest in `T` for a
/// scalar `q` (float64 for integer data), float64 for an array of `q`s.
/// The value, and the floating-point flags ([`fpe`]) of each of
/// [`SCALAR_OPS`]' operations.
fn lerp<T: Real>(a: T, b: T, t: f64, dtype: QuantileDtype) -> (f64, [u8; 7]) {
    let mut flags = [0u8; 7];
    let in_t = dtype == QuantileDtype::ElementType && T::IS_FLOAT;
    let r = |x: f64| if in_t { T::from_f64(x).to_f64() } else { x };
    let (af, bf) = (a.to_f64(), b.to_f64());
    let diff = if T::IS_FLOAT {
        let d = T::from_f64(bf - af).to_f64();
        flags[0] = fpe::add(bf, -af, d);
        d
    } else {
        let exact = b.to_i128() - a.to_i128();
        let wrapped = T::wrap_i128(exact).to_i128();
        // (NumPy checks integer overflow in scalar operations only)
        flags[0] = if dtype == QuantileDtype::ElementType && wrapped != exact { fpe::OVERFLOW } else { 0 };
        wrapped as f64
    };
    // a product in T (scalar q) or float64, with its flags
    let product = |x: f64, s: f64| -> (f64, u8) {
        let p = x * s;
        if in_t {
            let rounded = r(p);
            (rounded, fpe::settle::<T>(fpe::mul::<T>(x, s, p, rounded), x, s, false))
        } else {
            (p, fpe::settle::<f64>(fpe::mul::<f64>(x, s, p, p), x, s, false))
        }
    };
    let (t_cast, one_minus_t) = (r(t), r(1.0 - t));
    if in_t {
        flags[1] = fpe::cast::<T>(t);
        flags[4] = fpe::cast::<T>(1.0 - t);
    }
    let (p1, f) = product(diff, t_cast);
    flags[2] = f;
    let low = r(af + p1);
    flags[3] = fpe::add(af, p1, low);
    let (p2, f) = product(diff, one_minus_t);
    flags[5] = f;
    if t >= 0.5 {
        let high = r(bf - p2);
        flags[6] = fpe::add(bf, -p2, high);
        (high, flags)
    } else {
        (low, flags)
    }
}

/// The first pass over `a`, which must not be empty.
fn first_pass_of<T: Real, D: Dimension>(a: &ArrayView<'_, T, D>, qs: &[f64]) -> Result<FirstPass> {
    if a.is_empty() {
        return Err(Error::new(ErrorKind::InvalidArgument, "cannot take a quantile of an empty array"));
    }
    first_pass(a, qs, SAMPLE_FROM)
}

/// The number of non-NaN values and the first pass's counts, or the early
/// answer NumPy gives (NaN: all values NaN, or any under
/// [`NanPolicy::Propagate`]).
fn prepare<T: Real, D: Dimension>(a: &ArrayView<'_, T, D>, nan: NanPolicy) -> Result<std::result::Result<(u64, FirstPass), f64>> {
    let first = first_pass_of(a, &[0.5])?;
    let n = a.len() as u64 - first.nan;
    if n == 0 || (nan == NanPolicy::Propagate && first.nan > 0) {
        return Ok(Err(first.nan_answer(true)));
    }
    Ok(Ok((n, first)))
}

/// The values of `ranks` (sorted, deduplicated), from the first pass on.
fn values_at<T: Real, D: Dimension>(a: &ArrayView<'_, T, D>, first: &FirstPass, ranks: &[u64]) -> Result<Vec<T>> {
    select(a, ranks, &first.ranges::<T>(ranks))
}

/// Exact quantiles `qs` (each in `[0, 1]`) of all elements of `a`, equal to
/// `np.quantile(a, q)` (method `'linear'`), or `np.nanquantile` with
/// [`NanPolicy::Omit`]. A few passes over the data; memory is bounded
/// (about 8 MiB per distinct rank range at the last pass).
///
/// Values are ordered with `-0.0` before `0.0`. NumPy's partition treats
/// the two as equal, so where a quantile interpolates between tied zeros
/// of both signs the sign of NumPy's zero depends on where its partition
/// put each; this one may differ from it in sign, never in value.
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
    quantiles(a, qs, nan, dtype, false).map(|q| q.values)
}

/// Quantiles and the floating-point errors NumPy raises computing them.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantiles {
    /// The quantiles, one per `q`.
    pub values: Vec<f64>,
    /// NumPy's floating-point errors of its interpolation `_lerp`, in its
    /// order: for example "invalid value encountered in scalar subtract"
    /// for the quantile of `[inf, inf]` (`inf - inf`), or "overflow
    /// encountered in subtract" for `[-3e38, 3e38]` in float32. With
    /// [`QuantileDtype::ElementType`] each `q` is one NumPy call and has
    /// its own events; with [`QuantileDtype::Float64`] the `q`s are one
    /// array and each operation reports once for all of them.
    pub events: Vec<FpEvent>,
}

/// [`quantile`], with the floating-point errors NumPy's `np.quantile`
/// raises for the same data and `q`s (a Python float `q` with
/// [`QuantileDtype::ElementType`], an array with [`QuantileDtype::Float64`]).
/// Under [`NanPolicy::Propagate`] NumPy interpolates even for data holding
/// NaN (whose answer is NaN), between neighbours counted with the NaNs
/// sorted last, and so does this: a few more passes than [`quantile`]
/// makes for such data, for these errors only.
///
/// ```
/// use mmarray::compute::{quantile_with_events, NanPolicy, QuantileDtype};
/// let a = ndarray::array![1.0, f64::INFINITY];
/// let q = quantile_with_events(&a.view(), &[0.75], NanPolicy::Propagate, QuantileDtype::ElementType)?;
/// assert!(q.values[0].is_nan());
/// assert_eq!(q.events[0].to_string(), "invalid value encountered in subtract");
/// # Ok::<(), mmarray::Error>(())
/// ```
///
/// # Errors
/// As [`quantile`].
pub fn quantile_with_events<T: Real, D: Dimension>(a: &ArrayView<'_, T, D>, qs: &[f64], nan: NanPolicy, dtype: QuantileDtype) -> Result<Quantiles> {
    quantiles(a, qs, nan, dtype, true)
}

/// [`quantile_with_events`]; with `!report`, no events and no
/// interpolation for data holding NaN under [`NanPolicy::Propagate`].
fn quantiles<T: Real, D: Dimension>(a: &ArrayView<'_, T, D>, qs: &[f64], nan: NanPolicy, dtype: QuantileDtype, report: bool) -> Result<Quantiles> {
    if let Some(q) = qs.iter().find(|q| !(0.0..=1.0).contains(*q)) {
        return Err(Error::new(ErrorKind::InvalidArgument, format!("Quantiles must be in the range [0, 1], got {q}")));
    }
    let first = first_pass_of(a, qs)?;
    let valid = a.len() as u64 - first.nan;
    let theirs = nan == NanPolicy::Propagate;
    let nan_answer = Quantiles { values: vec![first.nan_answer(theirs); qs.len()], events: Vec::new() };
    let propagated = theirs && first.nan > 0;
    if valid == 0 || (propagated && !report) {
        // (all NaN: NumPy's neighbours are NaN, which raise nothing)
        return Ok(nan_answer);
    }
    // NumPy's linear method: virtual index (n-1)·q, its floor and next,
    // with gamma = virtual - floor; at or past the last index both
    // neighbours are the last value and gamma is virtual + 1 (NumPy sets
    // the floor to -1 there). Under Propagate, n counts the NaNs, which
    // sort last: ranks from `valid` on are NaN.
    let n = if nan == NanPolicy::Propagate { a.len() as u64 } else { valid };
    let plan: Vec<(u64, u64, f64)> = qs
        .iter()
        .map(|&q| {
            let virt = (n - 1) as f64 * q;
            if virt >= (n - 1) as f64 {
                (n - 1, n - 1, virt + 1.0)
            } else {
                let prev = virt.floor();
                (prev as u64, prev as u64 + 1, virt - prev)
            }
        })
        .collect();
    let mut ranks: Vec<u64> = plan.iter().flat_map(|&(p, x, _)| [p, x]).filter(|&r| r < valid).collect();
    ranks.sort_unstable();
    ranks.dedup();
    let values = values_at(a, &first, &ranks)?;
    let at = |r: u64| if r < valid { values[ranks.binary_search(&r).unwrap_or(0)] } else { T::from_f64(f64::NAN) };
    let (ops, per_q) = match dtype {
        QuantileDtype::ElementType => (SCALAR_OPS, true),
        QuantileDtype::Float64 => (ARRAY_OPS, false),
    };
    let mut out = Quantiles { values: Vec::with_capacity(qs.len()), events: Vec::new() };
    let mut together = [0u8; 7];
    for (qi, &(p, x, t)) in plan.iter().enumerate() {
        let (value, flags) = lerp::<T>(at(p), at(x), t, dtype);
        out.values.push(if propagated { first.nan_answer(theirs) } else { value });
        if per_q {
            let calls = qi * ops.len()..;
            out.events.extend(ops.iter().zip(flags).zip(calls).flat_map(|((op, f), call)| fpe::events(f, op, call)));
        } else {
            together.iter_mut().zip(flags).for_each(|(all, f)| *all |= f);
        }
    }
    if !per_q {
        out.events.extend(ops.iter().zip(together).enumerate().flat_map(|(call, (op, f))| fpe::events(f, op, call)));
    }
    if !report {
        out.events.clear();
    }
    Ok(out)
}

/// The median, equal to `np.median(a)` (or `np.nanmedian` with
/// [`NanPolicy::Omit`]): the middle value, or the mean of the two middle
/// values computed as NumPy's `mean` does (in the data's float type;
/// float64 for integer data).
///
/// # Errors
/// [`ErrorKind::InvalidArgument`] for an empty array.
pub fn median<T: Real, D: Dimension>(a: &ArrayView<'_, T, D>, nan: NanPolicy) -> Result<f64> {
    median_with_events(a, nan).map(|(value, _)| value)
}

/// [`median`], with the floating-point error NumPy's mean of the middle
/// values raises in rounding: "underflow encountered in cast" where the
/// float32 mean of two float16 values is tiny and loses bits in NumPy's
/// cast back to float16 (`np.median(np.array([6e-8, 0], 'f2'))`). (The
/// errors of its sum, an "invalid value encountered in reduce" for -inf
/// and +inf, depend only on the values: the caller sees those.)
///
/// # Errors
/// As [`median`].
pub fn median_with_events<T: Real, D: Dimension>(a: &ArrayView<'_, T, D>, nan: NanPolicy) -> Result<(f64, Vec<FpEvent>)> {
    let (n, first) = match prepare(a, nan)? {
        Ok(facts) => facts,
        Err(early) => return Ok((early, Vec::new())),
    };
    let mid = n / 2;
    // np.median is np.mean of the middle value(s), a sum that starts from
    // +0.0: so the median of [-0.0] is +0.0 (hence the `0.0 +`).
    if n % 2 == 1 {
        return Ok((0.0 + values_at(a, &first, &[mid])?[0].to_f64(), Vec::new()));
    }
    let v: Vec<f64> = values_at(a, &first, &[mid - 1, mid])?.into_iter().map(|x| 0.0 + x.to_f64()).collect();
    // np.mean: float16 sums in float32, float32 in float32, ints in float64.
    let in_f32 = || f64::from((v[0] as f32 + v[1] as f32) / 2.0);
    Ok(match T::KIND {
        crate::ScalarKind::F32 => (in_f32(), Vec::new()),
        crate::ScalarKind::F16 => {
            let mean = in_f32();
            (T::from_f64(mean).to_f64(), fpe::events(fpe::cast_rounding::<T>(mean), "cast", 0).collect())
        }
        _ => ((v[0] + v[1]) / 2.0, Vec::new()),
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

    /// keys_within's float32 shortcut finds exactly the keys the plain
    /// test finds, for ranges whose ends are float32 keys, arbitrary f64
    /// keys between them, the zeros' keys, infinities and NaN keys.
    #[test]
    fn float32_groups_find_exactly_the_keys_in_range() {
        let specials = [0.0f32, -0.0, 1.0, -1.0, f32::MIN_POSITIVE, -f32::MIN_POSITIVE, 1e-45, -1e-45, f32::MAX, f32::MIN, f32::INFINITY, f32::NEG_INFINITY, f32::NAN, -f32::NAN, 0.5, 0.49999997, 0.50000006];
        let mut xs: Vec<f32> = specials.to_vec();
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..5000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            #[allow(clippy::cast_possible_truncation)]
            xs.push(f32::from_bits(state as u32));
        }
        let mut ends: Vec<u64> = xs.iter().filter(|v| !v.is_nan()).map(|v| v.order_key()).collect();
        ends.extend([0, 1, u64::MAX, u64::MAX - 1, f64_key(0.5) + 1, f64_key(0.5) - 1, f64_key(-0.0), f64_key(0.0), f64_key(f64::INFINITY) + 5, f64_key(f64::NEG_INFINITY) - 5]);
        ends.extend(xs.iter().filter(|v| !v.is_nan()).take(200).map(|v| f64_key(f64::from(*v) * (1.0 + 1e-12))));
        ends.sort_unstable();
        ends.dedup();
        let step = (ends.len() / 60).max(1);
        for &lo in ends.iter().step_by(step) {
            for &hi in ends.iter().step_by(step).filter(|&&h| h >= lo) {
                let mut got = Vec::new();
                keys_within(&xs, lo, hi - lo, &mut got);
                let want: Vec<u64> = xs.iter().filter(|v| !v.is_nan()).map(|v| v.order_key()).filter(|k| (lo..=hi).contains(k)).collect();
                assert_eq!(got, want, "range {lo:#x}..={hi:#x}");
            }
        }
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
        let got = select(&a.view(), &ranks, &[full(n as u64); 4]).unwrap();
        for (r, g) in ranks.iter().zip(got) {
            assert_eq!(g, sorted[*r as usize], "rank {r}");
        }
    }

    #[test]
    fn float16_narrow_keys_order_every_value() {
        // every non-NaN float16 bit pattern, in numeric order (-0 before +0)
        let mut xs: Vec<half::f16> = (0..=u16::MAX).map(half::f16::from_bits).filter(|v| !v.is_nan()).collect();
        xs.sort_by(|a, b| a.to_f64().total_cmp(&b.to_f64()));
        for w in xs.windows(2) {
            assert!(w[0].narrow_key() < w[1].narrow_key(), "{w:?}");
        }
        for &x in &xs {
            assert_eq!(half::f16::order_key_of_narrow(x.narrow_key()), x.order_key(), "{x}");
        }
        let whole = whole_keys::<half::f16>();
        assert!(whole.hi - whole.lo < 1 << BIN_BITS);
    }

    /// Ranks' ranges after a first pass over `data` asked for the median
    /// (with the sampled brackets of large data): for a type of at most
    /// 2^16 values each is one value, the right one, whether or not the
    /// sample's bracket holds it, so no further pass is needed.
    fn first_pass_is_exact<T: Real>(data: Vec<T>) {
        let a = ndarray::Array1::from(data.clone());
        let mut sorted: Vec<T> = data.into_iter().filter(|&v| !is_nan(v)).collect();
        sorted.sort_by_key(|v| v.order_key());
        let m = sorted.len() as u64;
        let ranks = [0, 1, m / 100, m / 2, m * 99 / 100, m - 1];
        // (a sample's bracket around the median only: the other ranks lie
        // in the gaps beside it)
        let first = first_pass(&a.view(), &[0.5], 0).unwrap();
        for (range, &r) in first.ranges::<T>(&ranks).iter().zip(&ranks) {
            assert_eq!((range.lo, range.hi), (sorted[r as usize].order_key(), sorted[r as usize].order_key()), "rank {r} of {m}");
        }
    }

    #[test]
    fn float16_and_16_bit_integers_are_exact_after_the_first_pass() {
        // A sample's brackets used to leave ranks in counted gaps (and
        // float16 keyed in 64 bits needed more passes in any case).
        let n = SAMPLE_RUNS * SAMPLE_RUN * 3;
        #[allow(clippy::cast_possible_truncation)]
        let bits = |i: usize| ((i * 40_503) ^ (i >> 7)) as u16;
        first_pass_is_exact((0..n).map(|i| half::f16::from_bits(bits(i))).collect());
        first_pass_is_exact((0..n).map(|i| half::f16::from_f64(((i % 10_007) as f64 - 5000.0) * 1e-3)).collect());
        #[allow(clippy::cast_possible_wrap)]
        first_pass_is_exact((0..n).map(|i| bits(i) as i16).collect());
        first_pass_is_exact((0..n).map(|i| (bits(i) % 251) as u8).collect());
    }

    #[test]
    fn float32_first_pass_keys_match_a_sort_whatever_the_values() {
        // float32 is binned by its own 32-bit keys in the first pass and by
        // float64 order keys after: NaNs of both signs and any payload,
        // infinities, both zeros, subnormals and the extremes, in a bin
        // crowded past COLLECT (so later passes narrow it) and ranks far
        // apart (the 1st and 99th percentile share passes).
        let specials = [
            f32::NAN, -f32::NAN, f32::from_bits(0x7f80_0001), f32::from_bits(0xff80_0001), f32::INFINITY, f32::NEG_INFINITY,
            0.0, -0.0, f32::MIN_POSITIVE, -f32::MIN_POSITIVE, 1e-45, -1e-45, f32::MAX, f32::MIN, 1.0, 1.0 + f32::EPSILON,
        ];
        let n = COLLECT as usize * 2 + 7;
        let data: Vec<f32> = (0..n)
            .map(|i| match i % 7 {
                0 => specials[(i / 7) % specials.len()],
                1..=4 => 1.0 + ((i * 7919) % 1000) as f32 * f32::EPSILON, // one crowded bin
                _ => ((i * 104_729) % 1_000_003) as f32 * 1e-3 - 500.0,
            })
            .collect();
        let a = ndarray::Array1::from(data.clone());
        let mut sorted: Vec<f32> = data.iter().copied().filter(|v| !v.is_nan()).collect();
        sorted.sort_by(f32::total_cmp);
        let m = sorted.len() as u64;
        let ranks = [0, 1, m / 100, m / 3, m / 2, m / 2 + 1, m * 99 / 100, m - 2, m - 1];
        // binned over the whole range, and in brackets a sample guessed
        for sample_from in [usize::MAX, 0] {
            let first = first_pass(&a.view(), &[0.01, 0.5, 0.99], sample_from).unwrap();
            assert_eq!(first.parts.iter().map(|p| p.range.count).sum::<u64>(), m);
            assert_eq!(first.parts.len() > 1, sample_from == 0);
            let got = values_at(&a.view(), &first, &ranks).unwrap();
            for (r, g) in ranks.iter().zip(got) {
                assert_eq!(g.to_bits(), sorted[*r as usize].to_bits(), "rank {r}, sample from {sample_from}");
            }
        }
        let q = quantile(&a.view(), &[0.0, 0.01, 0.5, 0.99, 1.0], NanPolicy::Omit, QuantileDtype::Float64).unwrap();
        // (NumPy's too: -inf + (x - -inf)·0 is NaN, as np.quantile([-inf, 1, inf], 0) is)
        assert!(q[0].is_nan() && q[4].is_nan());
        let mid = (f64::from(sorted[(m / 2 - 1) as usize]), f64::from(sorted[(m / 2) as usize]));
        assert!(q[2] >= mid.0 && q[2] <= mid.1, "{q:?}");
        assert!(quantile(&a.view(), &[0.5], NanPolicy::Propagate, QuantileDtype::Float64).unwrap()[0].is_nan());
    }

    /// The sample only guides the binning: wherever it puts the brackets
    /// (here its runs hold values unlike the rest, so every wanted rank
    /// falls in a gap or at a bracket's edge), every rank is exact, for
    /// floats with NaNs, signed zeros and infinities, and for integers at
    /// their extremes.
    #[test]
    fn a_misleading_sample_still_gives_exact_ranks() {
        fn check<T: Real + std::fmt::Debug>(data: &[T]) {
            let a = ndarray::Array1::from(data.to_vec());
            let mut sorted: Vec<T> = data.iter().copied().filter(|&v| !is_nan(v)).collect();
            sorted.sort_by_key(|v| v.order_key());
            let m = sorted.len() as u64;
            let ranks = [0, 1, m / 100, m / 4, m / 2 - 1, m / 2, m * 3 / 4, m * 99 / 100, m - 1];
            // (and the same values every other element of a larger array:
            // a view not contiguous in memory, sampled in logical order)
            let wide = ndarray::Array1::from_shape_fn(2 * data.len(), |i| if i % 2 == 0 { data[i / 2] } else { T::from_f64(3.0) });
            for view in [a.view(), wide.slice(ndarray::s![..;2])] {
                for qs in [&[0.5][..], &[0.01, 0.5, 0.99], &[0.0, 1.0]] {
                    let first = first_pass(&view, qs, 0).unwrap();
                    // (brackets at both ends of a one-value sample cover all)
                    assert!(first.parts.len() > 1 || qs == [0.0, 1.0], "a sample's brackets");
                    assert_eq!(first.parts.iter().map(|p| p.range.count).sum::<u64>(), m);
                    let got = values_at(&view, &first, &ranks).unwrap();
                    for (r, g) in ranks.iter().zip(got) {
                        assert_eq!(g.order_key(), sorted[*r as usize].order_key(), "rank {r} of {m}, qs {qs:?}");
                    }
                }
            }
        }
        let n = SAMPLE_RUNS * SAMPLE_RUN * 4;
        let step = n / SAMPLE_RUNS;
        let sampled = |i: usize| i % step < SAMPLE_RUN;
        let floats: Vec<f64> = (0..n)
            .map(|i| match i % 11 {
                _ if sampled(i) => 0.0, // the sample sees only +0.0
                0 => [f64::NAN, -0.0, f64::INFINITY, f64::NEG_INFINITY, -f64::NAN][i / 11 % 5],
                _ => ((i * 7919) % 100_003) as f64 - 50_000.0,
            })
            .collect();
        check(&floats);
        check(&floats.iter().map(|&v| v as f32).collect::<Vec<_>>());
        let ints: Vec<i64> = (0..n)
            .map(|i| match i % 13 {
                _ if sampled(i) => 7,
                0 => [i64::MIN, i64::MAX, 0][i / 13 % 3],
                _ => ((i * 7919) % 100_003) as i64 - 50_000,
            })
            .collect();
        check(&ints);
        // ordinary data: the sample's brackets hold the ranks
        let uniform: Vec<f32> = (0..n).map(|i| ((i * 104_729) % 1_000_003) as f32 / 1e6).collect();
        check(&uniform);
        let first = first_pass(&ndarray::ArrayView1::from(&uniform[..]), &[0.5], 0).unwrap();
        let mid = first.parts.iter().find(|p| p.range.below <= n as u64 / 2 && n as u64 / 2 - p.range.below < p.range.count).unwrap();
        assert!(mid.bins.is_some() && mid.range.count < n as u64 / 20, "the median in a narrow bracket: {:?}", mid.range);
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
        let r = select(&a.view(), &[0, 1, 3, 4], &[full(5); 4]).unwrap();
        assert_eq!(r, vec![i64::MIN, i64::MIN + 1, i64::MAX - 1, i64::MAX]);
        let u = ndarray::Array1::from_shape_fn(COLLECT as usize * 2 + 1, |i| u64::MAX - (i as u64 % 7));
        let r = select(&u.view(), &[0, COLLECT * 2], &[full(COLLECT * 2 + 1); 2]).unwrap();
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
        let e = select(&a.view(), &[5], &[full(COLLECT + 11); 1]).unwrap_err();
        assert!(e.to_string().contains("changed while"), "{e}");
        let small = ndarray::array![1.0, 2.0];
        assert!(select(&small.view(), &[2], &[full(3); 1]).is_err());
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

    /// The messages of quantile_with_events, for one dtype's data.
    fn messages<T: Real>(data: &[T], qs: &[f64], nan: NanPolicy, dtype: QuantileDtype) -> (Vec<f64>, Vec<String>) {
        let a = ndarray::Array1::from(data.to_vec());
        let q = quantile_with_events(&a.view(), qs, nan, dtype).unwrap();
        (q.values, q.events.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn interpolation_errors_are_numpys() {
        // (each expectation is NumPy 2.4's np.quantile under errstate(all='warn'))
        let inf = f64::INFINITY;
        let el = QuantileDtype::ElementType;
        let arr = QuantileDtype::Float64;
        let p = NanPolicy::Propagate;
        assert_eq!(messages(&[inf, inf], &[0.25], p, el).1, ["invalid value encountered in scalar subtract"]);
        assert_eq!(messages(&[-inf, inf], &[0.75], p, el).1, ["invalid value encountered in add", "invalid value encountered in subtract"]);
        assert_eq!(messages(&[-inf, inf], &[0.0], p, el).1, ["invalid value encountered in scalar multiply"]);
        assert_eq!(messages(&[1.0, inf], &[0.25], p, el), (vec![inf], vec![]));
        assert_eq!(messages(&[-inf, inf], &[0.25, 0.75], p, arr).1, ["invalid value encountered in add", "invalid value encountered in subtract"]);
        assert_eq!(messages(&[-3e38f32, 3e38], &[0.25], p, el), (vec![inf], vec!["overflow encountered in scalar subtract".into()]));
        assert_eq!(messages(&[-3e38f32, 3e38], &[0.25, 0.75], p, arr).1, ["overflow encountered in subtract"]);
        assert_eq!(messages(&[1e-40f32, 3e-40], &[0.25], p, el).1, ["underflow encountered in scalar multiply"; 2]);
        assert!(messages(&[1e-40f32, 3e-40], &[0.25, 0.75], p, arr).1.is_empty(), "float64 products of float32 data");
        assert_eq!(messages(&[1e-310, 3e-310], &[0.25, 0.75], p, arr).1, ["underflow encountered in multiply"; 2]);
        // integers: a wrapping b - a is reported in scalar arithmetic only
        assert_eq!(messages(&[i8::MIN, i8::MAX], &[0.25], p, el), (vec![-128.25], vec!["overflow encountered in scalar subtract".into()]));
        assert_eq!(messages(&[i8::MIN, i8::MAX], &[0.25], p, arr), (vec![-128.25], vec![]));
        // NaN sorts last among the neighbours: [inf, inf, nan] at 0.25
        // interpolates between the infinities, at 0.75 next to the NaN
        let (v, m) = messages(&[inf, inf, f64::NAN], &[0.25], p, el);
        assert!(v[0].is_nan());
        assert_eq!(m, ["invalid value encountered in scalar subtract"]);
        assert!(messages(&[inf, inf, f64::NAN], &[0.75], p, el).1.is_empty());
        assert_eq!(messages(&[inf, inf, f64::NAN], &[0.75], NanPolicy::Omit, el).1, ["invalid value encountered in scalar subtract"]);
        // `quantile` itself reports nothing and answers NaN in one pass
        assert!(quantile(&ndarray::array![inf, inf, f64::NAN].view(), &[0.25], p, el).unwrap()[0].is_nan());
    }

    #[test]
    fn float16_median_underflows_in_numpys_cast() {
        let f = |x: f64| half::f16::from_f64(x);
        let one = |xs: &[f64]| {
            let a = ndarray::Array1::from(xs.iter().map(|&x| f(x)).collect::<Vec<_>>());
            let (v, e) = median_with_events(&a.view(), NanPolicy::Omit).unwrap();
            (v, e.iter().map(ToString::to_string).collect::<Vec<_>>())
        };
        // (6e-8 + 0) / 2 = 2^-25: tiny, and rounded to 0 or 2^-24
        assert_eq!(one(&[6e-8, 0.0]).1, ["underflow encountered in cast"]);
        assert_eq!(one(&[6e-8, 6e-8]), (f(6e-8).to_f64(), vec![]), "exact");
        assert_eq!(one(&[6e-8, 0.0, f64::NAN]).1, ["underflow encountered in cast"], "nanmedian");
        assert!(one(&[1.0, 2.0]).1.is_empty());
    }

    #[test]
    fn float16_gamma_past_its_range_is_numpys_nan() {
        // q = 1 on 70,000 values: gamma 70,000 overflows float16 in the cast
        let ones = vec![half::f16::ONE; 70_000];
        let (v, m) = messages(&ones, &[1.0], NanPolicy::Propagate, QuantileDtype::ElementType);
        assert!(v[0].is_nan());
        assert_eq!(m, ["overflow encountered in cast", "invalid value encountered in scalar multiply", "overflow encountered in cast", "invalid value encountered in scalar multiply"]);
        assert_eq!(messages(&ones, &[1.0], NanPolicy::Propagate, QuantileDtype::Float64), (vec![1.0], vec![]));
    }
}
