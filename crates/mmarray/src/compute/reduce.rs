//! The reduction drivers: walk any strided view in memory order, in
//! parallel, block by block, never holding more than a block per thread.

use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn, Slice};
use rayon::prelude::*;

use super::moments::{block_moments, Moments, NanPolicy, Want};
use super::hints::Region;
use super::real::Real;

/// Elements per work item of a reduction: 16 Ki elements (64 KiB of f32)
/// stay in the L2 cache while a block is summarised.
pub const CHUNK: usize = 1 << 14;
/// Output columns per work item when the innermost axis is kept.
const COLS: usize = 1 << 12;

/// C-order strides (in elements) of `shape`: the logical flat index.
pub(crate) fn c_strides(shape: &[usize]) -> Vec<i64> {
    let mut s = vec![0i64; shape.len()];
    let mut acc = 1i64;
    for i in (0..shape.len()).rev() {
        s[i] = acc;
        acc *= shape[i].max(1) as i64;
    }
    s
}

/// A view rearranged for a walk in memory order, with the logical index of
/// its elements: element at index `i` has logical index `base + Σ i·lstride`.
struct Walk<'a, T> {
    view: ArrayViewD<'a, T>,
    lstrides: Vec<i64>,
    base: i64,
}

/// Flips negative strides, drops length-1 axes, orders the axes by
/// decreasing stride and merges neighbours that are contiguous both in
/// memory and in logical index, so a contiguous array becomes one long run.
fn normalize<'a, T>(mut view: ArrayViewD<'a, T>, mut lstrides: Vec<i64>) -> Walk<'a, T> {
    let mut base = 0i64;
    for (ax, ls) in lstrides.iter_mut().enumerate() {
        if view.strides()[ax] < 0 {
            let len = view.len_of(Axis(ax)) as i64;
            view.invert_axis(Axis(ax));
            base += (len - 1) * *ls;
            *ls = -*ls;
        }
    }
    // Drop length-1 axes (they add nothing to any index).
    for ax in (0..view.ndim()).rev() {
        if view.len_of(Axis(ax)) == 1 && view.ndim() > 1 {
            view.index_axis_inplace(Axis(ax), 0);
            lstrides.remove(ax);
        }
    }
    let mut order: Vec<usize> = (0..view.ndim()).collect();
    order.sort_by_key(|&a| std::cmp::Reverse(view.strides()[a]));
    let mut view = view.permuted_axes(IxDyn(&order));
    let mut lstrides: Vec<i64> = order.iter().map(|&a| lstrides[a]).collect();
    // Merge axis i+1 into axis i when both strides line up.
    let mut i = 0;
    while i + 1 < view.ndim() {
        let (len_in, s_out, s_in) = (view.len_of(Axis(i + 1)), view.strides()[i], view.strides()[i + 1]);
        let memory_ok = s_out == s_in * len_in as isize;
        let logical_ok = lstrides[i] == lstrides[i + 1] * len_in as i64;
        if memory_ok && logical_ok && view.merge_axes(Axis(i), Axis(i + 1)) {
            view.index_axis_inplace(Axis(i), 0);
            lstrides.remove(i);
        } else {
            i += 1;
        }
    }
    Walk { view, lstrides, base }
}

/// A view prepared for a walk in memory order, cut into work items of at
/// most [`CHUNK`] contiguous elements.
struct Blocks<'a, T> {
    walk: Walk<'a, T>,
    lane_len: usize,
    chunks: usize,
    items: usize,
}

impl<'a, T: Real> Blocks<'a, T> {
    fn new(view: ArrayViewD<'a, T>, lstrides: Vec<i64>) -> Self {
        let mut walk = normalize(view, lstrides);
        if walk.view.ndim() == 0 {
            walk.view.insert_axis_inplace(Axis(0));
            walk.lstrides.push(1);
        }
        let inner = walk.view.ndim() - 1;
        let lane_len = walk.view.len_of(Axis(inner));
        let chunks = lane_len.div_ceil(CHUNK).max(1);
        let items = walk.view.len().checked_div(lane_len).map_or(0, |lanes| lanes * chunks);
        Self { walk, lane_len, chunks, items }
    }

    /// The whole walk as one slice, when it is a single contiguous run
    /// (then item `i` is elements `i*CHUNK..`).
    fn contiguous(&self) -> Option<&'a [T]> {
        let w = &self.walk.view;
        if w.ndim() == 1 { w.to_slice() } else { None }
    }

    /// Calls `f(block, base, step)` for work item `it`: a contiguous block
    /// whose element `j` has logical index `base + j·step` (strided lanes
    /// are copied into a buffer of at most one block).
    fn visit<R>(&self, it: usize, f: impl FnOnce(&[T], i64, i64) -> R) -> R {
        let w = &self.walk.view;
        let inner = w.ndim() - 1;
        let (mut p, c) = (it / self.chunks, it % self.chunks);
        let mut lane = w.view();
        let mut base = self.walk.base;
        for ax in (0..inner).rev() {
            let len = w.len_of(Axis(ax));
            let idx = p % len;
            p /= len;
            base += idx as i64 * self.walk.lstrides[ax];
            lane.index_axis_inplace(Axis(ax), idx);
        }
        let lo = c * CHUNK;
        let hi = (lo + CHUNK).min(self.lane_len);
        lane.slice_axis_inplace(Axis(0), Slice::from(lo..hi));
        let step = self.walk.lstrides[inner];
        base += lo as i64 * step;
        match lane.as_slice() {
            Some(xs) => f(xs, base, step),
            None => {
                // (as a 1-D view, copied by `to_vec`, whose internal fold
                // steps a pointer by the stride: the dynamic-dimension
                // iterator cost 6x NumPy's strided sum, and `collect`
                // (one `next()` per element) 2.6x)
                let buf: Vec<T> = match lane.view().into_dimensionality::<ndarray::Ix1>() {
                    Ok(one) => one.to_vec(),
                    Err(_) => lane.iter().copied().collect(), // (a lane is one axis)
                };
                f(&buf, base, step)
            }
        }
    }
}

/// The region a walk reads, `unit` elements per work unit, when it is one
/// contiguous run (else none: the pass is left to the kernel).
fn regions<T: Real>(blocks: &Blocks<'_, T>, unit: usize) -> Vec<Region> {
    blocks.contiguous().map(|all| Region::read(all, unit * std::mem::size_of::<T>())).into_iter().collect()
}

/// Folds every element of `view` block by block, in memory order: `block`
/// summarises one contiguous block (its element `j` has logical index
/// `base + j·step`, with logical index `Σ i·lstrides` for the element at
/// index `i`), and `merge` combines summaries. In parallel over blocks when
/// `parallel`; fixed groups of blocks are merged in file order, so the
/// result does not depend on how the thread pool split the work. For small
/// summaries (one is kept per group of blocks of a window).
pub(crate) fn fold_blocks<T: Real, A: Send + Sync + Clone>(
    view: ArrayViewD<'_, T>,
    lstrides: Vec<i64>,
    empty: A,
    block: impl Fn(&[T], i64, i64) -> A + Sync,
    merge: impl Fn(A, A) -> A + Sync,
    parallel: bool,
) -> A {
    if view.is_empty() {
        return empty;
    }
    let blocks = Blocks::new(view, lstrides);
    let items = blocks.items;
    let progress = super::hints::progress();
    let fold_range = |r: std::ops::Range<usize>| {
        r.map(|it| {
            blocks.visit(it, |xs, base, step| {
                super::hints::report(progress.as_ref(), std::mem::size_of_val(xs));
                block(xs, base, step)
            })
        })
        .fold(empty.clone(), &merge)
    };
    if parallel && items > 1 {
        // Fixed groups of blocks, merged in file order whether the pass
        // runs whole or window by window (windows hold whole groups).
        const GROUP: usize = 16;
        let group = |g: usize| fold_range(g * GROUP..((g + 1) * GROUP).min(items));
        // (each window's groups are merged in as it ends: the same left
        // fold in file order as merging them all at the end)
        let mut total = Some(empty.clone());
        super::hints::in_windows(&regions(&blocks, GROUP * CHUNK), items.div_ceil(GROUP), |gs| {
            let partials = gs.into_par_iter().map(group).collect::<Vec<A>>();
            total = total.take().map(|t| partials.into_iter().fold(t, &merge));
        });
        total.unwrap_or(empty)
    } else {
        fold_range(0..items)
    }
}

/// Like [`fold_blocks`] for large accumulators (histogram counts, value
/// collections): each thread folds blocks into accumulators made by `init`,
/// which are merged in no fixed order, so only a few exist at a time.
pub(crate) fn fold_blocks_unordered<T: Real, A: Send>(
    view: ArrayViewD<'_, T>,
    acc_bytes: usize,
    init: impl Fn() -> A + Sync + Send,
    fold: impl Fn(&mut A, &[T]) + Sync + Send,
    merge: impl Fn(A, A) -> A + Sync + Send,
) -> A {
    if view.is_empty() {
        return init();
    }
    let lstrides = vec![0; view.ndim()];
    let blocks = Blocks::new(view, lstrides);
    let progress = super::hints::progress();
    // Each rayon job that folds makes an accumulator (and merging costs one
    // more pass over it): a few jobs per thread, not one per split, keeps
    // large accumulators (512 KiB of histogram counts) few. (Measured: no
    // change in time for a quantile pass over 1 GiB; it bounds their number.)
    // Accumulators of `acc_bytes` each (0 if small or unknown): up to four
    // jobs per thread, fewer where their accumulators would pass 64 MiB
    // (a histogram of 2e7 bins: 160 MB each, 1.39 GB at the peak with
    // four per thread, where NumPy's took 0.80 GB).
    let per_thread = ((64 << 20) / acc_bytes.max(1)).clamp(1, 4);
    let fold_items = |r: std::ops::Range<usize>| {
        let per_job = r.len().div_ceil(per_thread * rayon::current_num_threads()).max(1);
        r.into_par_iter()
            .with_min_len(per_job)
            .fold(&init, |mut acc, it| {
                blocks.visit(it, |xs, _, _| {
                    super::hints::report(progress.as_ref(), std::mem::size_of_val(xs));
                    fold(&mut acc, xs);
                });
                acc
            })
            // (reduce_with: reduce's identity would make one more
            // accumulator per split, zeroed for nothing)
            .reduce_with(&merge)
            .unwrap_or_else(&init)
    };
    // Each window's accumulator is merged in as the window ends: a pass
    // window by window over a file larger than RAM keeps two, not one per
    // window (it kept 448 of 1.5 MiB of counts for a quantile's pass over
    // 28 GiB: 498 MiB of anonymous memory).
    let mut total: Option<A> = None;
    super::hints::in_windows(&regions(&blocks, CHUNK), blocks.items, |r| {
        let part = fold_items(r);
        total = Some(match total.take() {
            Some(t) => merge(t, part),
            None => part,
        });
    });
    total.unwrap_or_else(init)
}

/// Statistics of every element of `view` (see [`fold_blocks`] for the
/// logical indices).
pub(crate) fn reduce_all<T: Real>(
    view: ArrayViewD<'_, T>,
    lstrides: Vec<i64>,
    want: Want,
    policy: NanPolicy,
    parallel: bool,
) -> Moments {
    fold_blocks(
        view,
        lstrides,
        Moments::empty_tracking(policy, want.arg),
        |xs, base, step| block_moments(xs, base, step, want, policy),
        Moments::merged,
        parallel,
    )
}

/// Statistics along `axes` (sorted, distinct, in range): one [`Moments`]
/// per element of the output, whose shape is the input's without `axes`.
/// Logical indices (for argmin/argmax) are C-order flat indices within the
/// reduced axes.
pub(crate) fn reduce_axes<T: Real>(view: ArrayViewD<'_, T>, axes: &[usize], want: Want, policy: NanPolicy) -> ArrayD<Moments> {
    let shape = view.shape().to_vec();
    let kept: Vec<usize> = (0..shape.len()).filter(|a| !axes.contains(a)).collect();
    let out_shape: Vec<usize> = kept.iter().map(|&a| shape[a]).collect();
    let red_shape: Vec<usize> = axes.iter().map(|&a| shape[a]).collect();
    // Logical strides: C order over the reduced axes, 0 on kept ones.
    let mut lstrides = vec![0i64; shape.len()];
    for (&a, s) in axes.iter().zip(c_strides(&red_shape)) {
        lstrides[a] = s;
    }
    let innermost = (0..shape.len())
        .filter(|&a| shape[a] > 1)
        .min_by_key(|&a| view.strides()[a].unsigned_abs());
    match innermost {
        Some(k) if kept.contains(&k) => reduce_kept_inner(view, &kept, k, &out_shape, &lstrides, want, policy),
        _ => reduce_cells(view, &kept, &out_shape, &lstrides, want, policy),
    }
}

/// Unravels flat C-order `pos` over `shape`.
pub(crate) fn unravel(mut pos: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for i in (0..shape.len()).rev() {
        idx[i] = pos % shape[i];
        pos /= shape[i];
    }
    idx
}

/// Fixes the `kept` axes of `view` at `idx` (each becomes length 1).
fn cell_view<'a, T>(view: &ArrayViewD<'a, T>, kept: &[usize], idx: &[usize]) -> ArrayViewD<'a, T> {
    let mut sub = view.clone();
    for (&a, &i) in kept.iter().zip(idx) {
        sub.collapse_axis(Axis(a), i);
    }
    sub
}

/// Case: the innermost memory axis is reduced. Each output cell reduces its
/// own region, which is walked in memory order.
fn reduce_cells<T: Real>(
    view: ArrayViewD<'_, T>,
    kept: &[usize],
    out_shape: &[usize],
    lstrides: &[i64],
    want: Want,
    policy: NanPolicy,
) -> ArrayD<Moments> {
    let cells: usize = out_shape.iter().product();
    // Fast path: the reduced axes form contiguous rows after the kept ones.
    let reduced: Vec<usize> = (0..view.ndim()).filter(|a| !kept.contains(a)).collect();
    let row_len: usize = reduced.iter().map(|&a| view.len_of(Axis(a))).product();
    let perm: Vec<usize> = kept.iter().chain(&reduced).copied().collect();
    let rows = view.clone().permuted_axes(IxDyn(&perm)).into_shape_with_order(IxDyn(&[cells, row_len]));
    if let Ok(rows) = rows {
        if rows.strides()[1] == 1 || row_len <= 1 {
            let data: Vec<Moments> = (0..cells)
                .into_par_iter()
                .with_min_len((CHUNK / row_len.max(1)).max(1))
                .map(|r| {
                    let row = rows.index_axis(Axis(0), r);
                    match row.as_slice() {
                        Some(xs) => block_moments(xs, 0, 1, want, policy),
                        None => reduce_all(row.into_dyn(), vec![1], want, policy, false),
                    }
                })
                .collect();
            return ArrayD::from_shape_vec(IxDyn(out_shape), data).unwrap_or_else(|_| unreachable!());
        }
    }
    let threads = rayon::current_num_threads();
    let one = |pos: usize, parallel: bool| {
        let sub = cell_view(&view, kept, &unravel(pos, out_shape));
        reduce_all(sub, lstrides.to_vec(), want, policy, parallel)
    };
    let data: Vec<Moments> = if cells >= 2 * threads {
        (0..cells).into_par_iter().map(|p| one(p, false)).collect()
    } else {
        (0..cells).map(|p| one(p, true)).collect()
    };
    ArrayD::from_shape_vec(IxDyn(out_shape), data).unwrap_or_else(|_| unreachable!())
}

/// Case: the innermost memory axis `k` is kept (e.g. column statistics of a
/// C-order matrix). Rows are walked in memory order and each updates a
/// strip of accumulators, so every page is read once.
fn reduce_kept_inner<T: Real>(
    view: ArrayViewD<'_, T>,
    kept: &[usize],
    k: usize,
    out_shape: &[usize],
    lstrides: &[i64],
    want: Want,
    policy: NanPolicy,
) -> ArrayD<Moments> {
    let groups: Vec<usize> = kept.iter().copied().filter(|&a| a != k).collect();
    let group_shape: Vec<usize> = groups.iter().map(|&a| view.len_of(Axis(a))).collect();
    let n_groups: usize = group_shape.iter().product();
    let reduced: Vec<usize> = (0..view.ndim()).filter(|a| !kept.contains(a)).collect();
    let mut red_order = reduced.clone();
    red_order.sort_by_key(|&a| std::cmp::Reverse(view.strides()[a].unsigned_abs()));
    let width = view.len_of(Axis(k));
    let strips = width.div_ceil(COLS);
    let threads = rayon::current_num_threads();
    // Row blocks along the outermost reduced axis, for parallelism when
    // there are few (group, strip) pairs.
    let outer_len = red_order.first().map_or(1, |&a| view.len_of(Axis(a)));
    let blocks = if n_groups * strips >= 2 * threads { 1 } else { (4 * threads).min(outer_len).max(1) };

    let strip = |g: usize, s: usize, b: usize| -> Vec<Moments> {
        let gidx = unravel(g, &group_shape);
        let mut sub = cell_view(&view, &groups, &gidx);
        let c0 = s * COLS;
        let c1 = (c0 + COLS).min(width);
        sub.slice_axis_inplace(Axis(k), Slice::from(c0..c1));
        if let Some(&a) = red_order.first() {
            let len = sub.len_of(Axis(a));
            let (r0, r1) = (b * len / blocks, (b + 1) * len / blocks);
            sub.slice_axis_inplace(Axis(a), Slice::from(r0..r1));
        }
        let r0 = red_order.first().map_or(0, |&a| b * view.len_of(Axis(a)) / blocks);
        // Axes: the (length-1) group axes, the reduced ones in memory order,
        // then k; rows are the lanes along k.
        let perm: Vec<usize> = groups.iter().chain(&red_order).copied().chain([k]).collect();
        let sub = sub.permuted_axes(IxDyn(&perm));
        let row_dims: Vec<usize> = sub.shape()[..perm.len() - 1].to_vec();
        let row_l: Vec<i64> = perm[..perm.len() - 1].iter().map(|&a| lstrides[a]).collect();
        let mut acc = vec![Moments::empty_tracking(policy, want.arg); c1 - c0];
        let mut idx = vec![0usize; row_dims.len()];
        let block_base = red_order.first().map_or(0, |&a| r0 as i64 * lstrides[a]);
        let wide = super::moments::wide::<T>();
        for lane in sub.lanes(Axis(perm.len() - 1)) {
            let logical: i64 = block_base + idx.iter().zip(&row_l).map(|(&i, &l)| i as i64 * l).sum::<i64>();
            for (m, &v) in acc.iter_mut().zip(lane.iter()) {
                m.push_keyed(v.to_f64(), if wide { v.order_key() } else { 0 }, logical as u64);
            }
            for d in (0..idx.len()).rev() {
                idx[d] += 1;
                if idx[d] < row_dims[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        acc
    };

    let pairs: Vec<Vec<Moments>> = (0..n_groups * strips)
        .into_par_iter()
        .map(|gs| {
            let (g, s) = (gs / strips, gs % strips);
            (0..blocks).into_par_iter().map(|b| strip(g, s, b)).reduce_with(|mut a, b| {
                a.iter_mut().zip(&b).for_each(|(x, y)| x.merge(y));
                a
            })
            .unwrap_or_default()
        })
        .collect();
    // Scatter strips into the output (kept axes in original order).
    let mut out = ArrayD::from_elem(IxDyn(out_shape), Moments::empty_tracking(policy, want.arg));
    let kpos = kept.iter().position(|&a| a == k).unwrap_or(0);
    for (gs, accs) in pairs.into_iter().enumerate() {
        let (g, s) = (gs / strips, gs % strips);
        let gidx = unravel(g, &group_shape);
        let mut cell = vec![0usize; out_shape.len()];
        let mut gi = gidx.iter();
        for (pos, &a) in kept.iter().enumerate() {
            if a != k {
                cell[pos] = *gi.next().unwrap_or(&0);
            }
        }
        for (j, m) in accs.into_iter().enumerate() {
            cell[kpos] = s * COLS + j;
            out[IxDyn(&cell)] = m;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::{with_hints, Behind, StreamHints};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// An accumulator that counts how many of its kind are alive.
    struct Counted<'a> {
        sum: f64,
        live: &'a AtomicUsize,
    }

    impl<'a> Counted<'a> {
        fn new(live: &'a AtomicUsize, most: &'a AtomicUsize) -> Self {
            let now = live.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            Self { sum: 0.0, live }
        }
    }

    impl Drop for Counted<'_> {
        fn drop(&mut self) {
            self.live.fetch_sub(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_pass_window_by_window_keeps_few_large_accumulators() {
        // 32 MiB in 64 KiB windows: 512 windows, as a pass over a file
        // larger than RAM has hundreds
        let a = ndarray::Array1::from_iter((0..1u32 << 23).map(|i| (i % 1000) as f32));
        let (live, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let hints = StreamHints { window: 64 << 10, ahead: 1, behind: Behind::Keep };
        let total = with_hints(hints, || {
            fold_blocks_unordered(
                a.view().into_dyn(),
                0,
                || Counted::new(&live, &most),
                |acc: &mut Counted<'_>, xs: &[f32]| acc.sum += xs.iter().map(|&x| f64::from(x)).sum::<f64>(),
                |mut x: Counted<'_>, y: Counted<'_>| {
                    x.sum += y.sum;
                    x
                },
            )
        });
        assert_eq!(total.sum, 8388.0 * 499_500.0 + (0..(1 << 23) % 1000).sum::<u32>() as f64);
        drop(total);
        assert_eq!(live.load(Ordering::SeqCst), 0);
        // a window's jobs (4 per thread), their merge, and the running total
        let bound = 4 * rayon::current_num_threads() + 3;
        assert!(most.load(Ordering::SeqCst) <= bound, "{} accumulators alive at once (at most {bound} expected)", most.load(Ordering::SeqCst));
    }

    #[test]
    fn large_accumulators_are_one_per_thread() {
        // accumulators said to be 64 MiB each (a histogram of 8 Mi bins):
        // one job per thread, not four, so at most a thread's worth are
        // made (1.39 GB at the peak for 2e7 bins, where NumPy took 0.80)
        let a = ndarray::Array1::from_iter((0..1u32 << 23).map(|i| (i % 1000) as f32));
        let run = |acc_bytes: usize| {
            let (live, most, made) = (AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0));
            let hints = StreamHints { window: 64 << 20, ahead: 1, behind: Behind::Keep };
            let total = with_hints(hints, || {
                fold_blocks_unordered(
                    a.view().into_dyn(),
                    acc_bytes,
                    || {
                        made.fetch_add(1, Ordering::SeqCst);
                        Counted::new(&live, &most)
                    },
                    |acc: &mut Counted<'_>, xs: &[f32]| acc.sum += xs.iter().map(|&x| f64::from(x)).sum::<f64>(),
                    |mut x: Counted<'_>, y: Counted<'_>| {
                        x.sum += y.sum;
                        x
                    },
                )
            });
            assert_eq!(total.sum, 8388.0 * 499_500.0 + (0..(1 << 23) % 1000).sum::<u32>() as f64);
            made.load(Ordering::SeqCst)
        };
        let threads = rayon::current_num_threads();
        let made = run(64 << 20);
        assert!(made <= threads + 1, "{made} accumulators of 64 MiB made on {threads} threads");
        assert!(run(0) >= made);
    }
}
