//! NumPy's axis rules, in one place: negative axes count from the end, an
//! axis outside the array is an [`ErrorKind::AxisOutOfBounds`] with NumPy's
//! own message, and an axis named twice is refused. The compute engine, the
//! command line and the Python bindings all normalise axes here.

use crate::error::{Error, ErrorKind, Result};

/// `axis` (negative counts from the end) as an index into `ndim` axes, as
/// NumPy's `normalize_axis_index`.
///
/// ```
/// assert_eq!(mmarray::normalize_axis(-1, 3)?, 2);
/// let e = mmarray::normalize_axis(-4, 3).unwrap_err();
/// assert_eq!(e.to_string(), "axis -4 is out of bounds for array of dimension 3");
/// # Ok::<(), mmarray::Error>(())
/// ```
///
/// # Errors
/// [`ErrorKind::AxisOutOfBounds`] when `axis` is not in `-ndim..ndim`.
pub fn normalize_axis(axis: isize, ndim: usize) -> Result<usize> {
    let n = isize::try_from(ndim).unwrap_or(isize::MAX);
    let a = if axis < 0 { axis.checked_add(n) } else { Some(axis) };
    match a {
        Some(a) if (0..n).contains(&a) => Ok(a.unsigned_abs()),
        _ => Err(axis_error(axis, ndim)),
    }
}

/// Several axes (each as [`normalize_axis`]), sorted; as NumPy's
/// `normalize_axis_tuple`.
///
/// ```
/// assert_eq!(mmarray::normalize_axes(&[-1, 0], 3)?, vec![0, 2]);
/// assert!(mmarray::normalize_axes(&[1, -2], 3).unwrap_err().to_string().contains("duplicate value in 'axis'"));
/// # Ok::<(), mmarray::Error>(())
/// ```
///
/// # Errors
/// [`ErrorKind::AxisOutOfBounds`] for an axis outside the array,
/// [`ErrorKind::InvalidArgument`] for an axis given twice.
pub fn normalize_axes(axes: &[isize], ndim: usize) -> Result<Vec<usize>> {
    let mut out = axes.iter().map(|&a| normalize_axis(a, ndim)).collect::<Result<Vec<usize>>>()?;
    out.sort_unstable();
    if out.windows(2).any(|w| w[0] == w[1]) {
        return Err(Error::new(ErrorKind::InvalidArgument, "duplicate value in 'axis'".to_string()));
    }
    Ok(out)
}

/// [`normalize_axes`] for axes already non-negative (the engine's `usize`
/// axes): in range and distinct, sorted.
///
/// # Errors
/// As [`normalize_axes`].
pub fn check_axes(axes: &[usize], ndim: usize) -> Result<Vec<usize>> {
    let signed: Vec<isize> = axes.iter().map(|&a| isize::try_from(a).unwrap_or(isize::MAX)).collect();
    normalize_axes(&signed, ndim)
}

/// NumPy's `AxisError` message.
fn axis_error(axis: isize, ndim: usize) -> Error {
    Error::new(ErrorKind::AxisOutOfBounds, format!("axis {axis} is out of bounds for array of dimension {ndim}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numpy_rules() {
        assert_eq!(normalize_axis(0, 1).unwrap(), 0);
        assert_eq!(normalize_axis(-3, 3).unwrap(), 0);
        for (axis, ndim) in [(3, 3), (-4, 3), (0, 0), (-1, 0), (isize::MIN, 2), (isize::MAX, 2)] {
            let e = normalize_axis(axis, ndim).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::AxisOutOfBounds);
            assert_eq!(e.to_string(), format!("axis {axis} is out of bounds for array of dimension {ndim}"));
        }
        assert_eq!(normalize_axes(&[2, -3], 3).unwrap(), vec![0, 2]);
        assert_eq!(normalize_axes(&[0, -2], 2).unwrap_err().kind(), ErrorKind::InvalidArgument);
        assert_eq!(check_axes(&[1, 0], 2).unwrap(), vec![0, 1]);
        assert_eq!(check_axes(&[2], 2).unwrap_err().kind(), ErrorKind::AxisOutOfBounds);
        assert_eq!(check_axes(&[1, 1], 2).unwrap_err().kind(), ErrorKind::InvalidArgument);
    }
}
