//! Matrix-vector products with a (mapped) matrix, parallel over row
//! blocks: the building block of iterative solvers (CG, GMRES) for
//! matrices larger than RAM.

use multiversion::multiversion;
use ndarray::{Array1, ArrayView1, ArrayView2, Axis};
use rayon::prelude::*;

use super::real::Real;
use crate::error::{Error, ErrorKind, Result};

/// Rows per parallel task in the accumulate-rows product.
const ROWS: usize = 256;

/// `Σ a[j]·x[j]` in `f64`, in vector lanes.
#[cfg_attr(not(debug_assertions), multiversion(targets = "simd"))]
#[cfg_attr(debug_assertions, multiversion(targets("x86_64+avx+avx2+fma")))]
fn dot<T: Real>(a: &[T], x: &[f64]) -> f64 {
    const L: usize = 32;
    let mut s = [0.0f64; L];
    let (ac, xc) = (a.chunks_exact(L), x.chunks_exact(L));
    let (ar, xr) = (ac.remainder(), xc.remainder());
    // Fused multiply-add where this clone's CPU has it (a constant per
    // clone); elsewhere mul_add would be a slow library call.
    let fma = multiversion::target::target_cfg_f!(target_feature = "fma");
    for (p, q) in ac.zip(xc) {
        for i in 0..L {
            s[i] = if fma { p[i].to_f64().mul_add(q[i], s[i]) } else { s[i] + p[i].to_f64() * q[i] };
        }
    }
    for (p, q) in ar.iter().zip(xr) {
        s[0] += p.to_f64() * q;
    }
    s.iter().sum()
}

/// Rows per group in [`dot_rows`].
const GROUP: usize = 4;

/// `Σ a[j]·x[j]` for [`GROUP`] rows at once: each load of `x` serves every
/// row, so the vector is read from cache once per group instead of once
/// per row (with `x` in `f64`, reading it costs twice the row's own bytes).
#[cfg_attr(not(debug_assertions), multiversion(targets = "simd"))]
#[cfg_attr(debug_assertions, multiversion(targets("x86_64+avx+avx2+fma")))]
fn dot_rows<T: Real>(rows: [&[T]; GROUP], x: &[f64]) -> [f64; GROUP] {
    const L: usize = 16;
    let (mut s0, mut s1, mut s2, mut s3) = ([0.0f64; L], [0.0f64; L], [0.0f64; L], [0.0f64; L]);
    let fma = multiversion::target::target_cfg_f!(target_feature = "fma");
    let madd = |a: T, b: f64, c: f64| if fma { a.to_f64().mul_add(b, c) } else { c + a.to_f64() * b };
    let full = x.len() / L * L;
    let [r0, r1, r2, r3] = rows.map(|r| r[..full].chunks_exact(L));
    for ((((q, a0), a1), a2), a3) in x[..full].chunks_exact(L).zip(r0).zip(r1).zip(r2).zip(r3) {
        for i in 0..L {
            s0[i] = madd(a0[i], q[i], s0[i]);
            s1[i] = madd(a1[i], q[i], s1[i]);
            s2[i] = madd(a2[i], q[i], s2[i]);
            s3[i] = madd(a3[i], q[i], s3[i]);
        }
    }
    let s = [s0, s1, s2, s3];
    let mut out = [0.0; GROUP];
    for ((o, acc), row) in out.iter_mut().zip(&s).zip(rows) {
        *o = acc.iter().sum::<f64>() + row[full..].iter().zip(&x[full..]).map(|(a, b)| a.to_f64() * b).sum::<f64>();
    }
    out
}

/// `y += Σ w[k] · rows[k]` for [`GROUP`] rows: `y` is read and written
/// once per group instead of once per row.
#[cfg_attr(not(debug_assertions), multiversion(targets = "simd"))]
#[cfg_attr(debug_assertions, multiversion(targets("x86_64+avx+avx2+fma")))]
fn axpy_rows<T: Real>(y: &mut [f64], w: [f64; GROUP], rows: [&[T]; GROUP]) {
    let [r0, r1, r2, r3] = rows;
    let [w0, w1, w2, w3] = w;
    for ((((yi, a0), a1), a2), a3) in y.iter_mut().zip(r0).zip(r1).zip(r2).zip(r3) {
        *yi += w0 * a0.to_f64() + w1 * a1.to_f64() + w2 * a2.to_f64() + w3 * a3.to_f64();
    }
}

/// `y += w · a` for one row `a`.
#[cfg_attr(not(debug_assertions), multiversion(targets = "simd"))]
#[cfg_attr(debug_assertions, multiversion(targets("x86_64+avx+avx2+fma")))]
fn axpy<T: Real>(y: &mut [f64], w: f64, a: &[T]) {
    for (yi, ai) in y.iter_mut().zip(a) {
        *yi += w * ai.to_f64();
    }
}

/// Rows `i0..i0 + GROUP` of `m` as slices, when all of them exist and are
/// contiguous (the grouped kernels' input); otherwise `None`, and the rows
/// go one at a time.
fn group_rows<'a, T>(m: &ArrayView2<'a, T>, i0: usize) -> Option<[&'a [T]; GROUP]> {
    if i0 + GROUP > m.nrows() {
        return None;
    }
    let row = |k: usize| (*m).index_axis_move(Axis(0), i0 + k).to_slice();
    Some([row(0)?, row(1)?, row(2)?, row(3)?])
}

/// `m @ x` for `m` with contiguous rows: dot products, [`GROUP`] rows at a
/// time.
fn rows_dot<T: Real>(m: &ArrayView2<'_, T>, x: &[f64]) -> Array1<f64> {
    let mut y = vec![0.0; m.nrows()];
    let one = |i: usize| {
        let row = m.row(i);
        match row.as_slice() {
            Some(r) => dot(r, x),
            None => row.iter().zip(x).map(|(a, b)| a.to_f64() * b).sum(),
        }
    };
    y.par_chunks_mut(GROUP).enumerate().with_min_len(4).for_each(|(g, out)| {
        let i0 = g * GROUP;
        match group_rows(m, i0) {
            Some(rows) => out.copy_from_slice(&dot_rows(rows, x)),
            None => out.iter_mut().enumerate().for_each(|(k, o)| *o = one(i0 + k)),
        }
    });
    Array1::from(y)
}

/// `m.T @ x` for `m` with contiguous rows: rows scaled and accumulated,
/// one partial sum per block of rows.
fn rows_axpy<T: Real>(m: &ArrayView2<'_, T>, x: &[f64]) -> Array1<f64> {
    let ncols = m.ncols();
    let parts: Vec<Vec<f64>> = m
        .axis_chunks_iter(Axis(0), ROWS)
        .into_par_iter()
        .enumerate()
        .fold(
            || vec![0.0; ncols],
            |mut acc, (b, block)| {
                let base = b * ROWS;
                for k in (0..block.nrows()).step_by(GROUP) {
                    if let Some(rows) = group_rows(&block, k) {
                        axpy_rows(&mut acc, std::array::from_fn(|j| x[base + k + j]), rows);
                        continue;
                    }
                    for j in k..(k + GROUP).min(block.nrows()) {
                        let (w, row) = (x[base + j], block.row(j));
                        match row.as_slice() {
                            Some(r) => axpy(&mut acc, w, r),
                            None => acc.iter_mut().zip(row.iter()).for_each(|(y, a)| *y += w * a.to_f64()),
                        }
                    }
                }
                acc
            },
        )
        .collect();
    let mut y = vec![0.0; ncols];
    for p in parts {
        y.iter_mut().zip(&p).for_each(|(a, b)| *a += b);
    }
    Array1::from(y)
}

fn check_len(what: &str, a: &[usize], x: usize, need: usize) -> Result<()> {
    if x == need {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::InvalidArgument,
        format!("{what}: matrix of shape ({}, {}) and vector of length {x}: need length {need}", a[0], a[1]),
    ))
}

/// `A @ x` in `f64`, parallel; walks `A` in its memory order (row dot
/// products for C order, accumulated scaled columns for Fortran order).
///
/// ```
/// use mmarray::compute::{matvec, rmatvec};
/// let a = ndarray::array![[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]];
/// assert_eq!(matvec(a.view(), ndarray::array![1.0, 1.0].view())?.to_vec(), vec![3.0, 7.0, 11.0]);
/// assert_eq!(rmatvec(a.view(), ndarray::array![1.0, 0.0, 1.0].view())?.to_vec(), vec![6.0, 8.0]);
/// # Ok::<(), mmarray::Error>(())
/// ```
///
/// # Errors
/// [`ErrorKind::InvalidArgument`] if `x.len()` is not `A`'s column count.
pub fn matvec<T: Real>(a: ArrayView2<'_, T>, x: ArrayView1<'_, f64>) -> Result<Array1<f64>> {
    check_len("matvec", a.shape(), x.len(), a.ncols())?;
    let x = x.to_vec();
    Ok(if a.strides()[0] == 1 && a.ncols() > 1 { rows_axpy(&a.t(), &x) } else { rows_dot(&a, &x) })
}

/// `A.T @ x` in `f64`, parallel, walking `A` in its memory order.
///
/// # Errors
/// [`ErrorKind::InvalidArgument`] if `x.len()` is not `A`'s row count.
pub fn rmatvec<T: Real>(a: ArrayView2<'_, T>, x: ArrayView1<'_, f64>) -> Result<Array1<f64>> {
    check_len("rmatvec", a.shape(), x.len(), a.nrows())?;
    let x = x.to_vec();
    Ok(if a.strides()[0] == 1 && a.ncols() > 1 { rows_dot(&a.t(), &x) } else { rows_axpy(&a, &x) })
}
