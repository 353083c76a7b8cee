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
#[multiversion(targets = "simd")]
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

/// `y += w · a` for one row `a`.
#[multiversion(targets = "simd")]
fn axpy<T: Real>(y: &mut [f64], w: f64, a: &[T]) {
    for (yi, ai) in y.iter_mut().zip(a) {
        *yi += w * ai.to_f64();
    }
}

/// `m @ x` for `m` with contiguous rows: one dot product per row.
fn rows_dot<T: Real>(m: &ArrayView2<'_, T>, x: &[f64]) -> Array1<f64> {
    let y: Vec<f64> = (0..m.nrows())
        .into_par_iter()
        .with_min_len(16)
        .map(|i| {
            let row = m.row(i);
            match row.as_slice() {
                Some(r) => dot(r, x),
                None => row.iter().zip(x).map(|(a, b)| a.to_f64() * b).sum(),
            }
        })
        .collect();
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
                for (k, row) in block.rows().into_iter().enumerate() {
                    let w = x[b * ROWS + k];
                    match row.as_slice() {
                        Some(r) => axpy(&mut acc, w, r),
                        None => acc.iter_mut().zip(row.iter()).for_each(|(y, a)| *y += w * a.to_f64()),
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
