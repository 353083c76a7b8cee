//! NumPy index expressions as text (`"500:700, ::2"`, `"-1, ..., 3"`),
//! applied to views with NumPy's semantics: negative indices count from the
//! end, slice bounds are clamped, negative steps walk backwards.

use ndarray::{ArrayBase, ArrayViewD, ArrayViewMutD, Axis, Data, IxDyn, Slice};

use crate::error::{Error, ErrorKind, Result};

/// One item of an index expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexItem {
    /// A single index (removes the axis); negative counts from the end.
    Index(isize),
    /// `start:stop:step`, each part optional.
    Slice {
        /// First index (default: the start in the step's direction).
        start: Option<isize>,
        /// One past the last index (default: the end).
        stop: Option<isize>,
        /// Step, non-zero (default 1).
        step: Option<isize>,
    },
    /// `...`: as many full slices as needed.
    Ellipsis,
    /// `None` / `np.newaxis`: a new length-1 axis.
    NewAxis,
}

/// A parsed NumPy basic-indexing expression.
///
/// ```
/// use mmarray::Selection;
/// use ndarray::ArrayD;
/// let a = ArrayD::from_shape_vec(vec![4, 5], (0..20).collect::<Vec<i32>>())?;
/// let v = Selection::parse("1:3, ::-2")?.apply(a.view())?;
/// assert_eq!(v.shape(), &[2, 3]);
/// assert_eq!(v[[0, 0]], 9); // a[1:3, ::-2][0, 0] == a[1, 4]
/// assert_eq!(Selection::parse("-1")?.apply(a.view())?.shape(), &[5]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selection {
    items: Vec<IndexItem>,
}

fn bad(expr: &str, why: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::InvalidArgument, format!("invalid index expression {expr:?}: {why}"))
}

fn parse_int(expr: &str, part: &str) -> Result<Option<isize>> {
    let part = part.trim();
    if part.is_empty() {
        return Ok(None);
    }
    part.parse::<isize>().map(Some).map_err(|_| bad(expr, format_args!("{part:?} is not an integer")))
}

impl Selection {
    /// Parses a comma-separated list of indices, slices, `...` and `None`;
    /// surrounding brackets are optional (`"[1:5, 0]"`). An empty string
    /// selects everything.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] naming the expression and the bad part
    /// (not an integer, a zero step, two ellipses, too many colons).
    pub fn parse(expr: &str) -> Result<Self> {
        let inner = expr.trim().trim_start_matches('[').trim_end_matches(']').trim();
        if inner.is_empty() {
            return Ok(Self::default());
        }
        let mut items = Vec::new();
        for raw in inner.split(',') {
            let t = raw.trim();
            let item = match t {
                "" => continue, // a trailing comma, as in `a[3,]`
                "..." => IndexItem::Ellipsis,
                "None" | "np.newaxis" | "numpy.newaxis" | "newaxis" => IndexItem::NewAxis,
                _ if t.contains(':') => {
                    let parts: Vec<&str> = t.split(':').collect();
                    if parts.len() > 3 {
                        return Err(bad(expr, format_args!("{t:?} has more than two colons")));
                    }
                    let step = parse_int(expr, parts.get(2).copied().unwrap_or(""))?;
                    if step == Some(0) {
                        return Err(bad(expr, "slice step cannot be zero"));
                    }
                    IndexItem::Slice { start: parse_int(expr, parts[0])?, stop: parse_int(expr, parts[1])?, step }
                }
                _ => IndexItem::Index(parse_int(expr, t)?.unwrap_or(0)),
            };
            items.push(item);
        }
        if items.iter().filter(|i| **i == IndexItem::Ellipsis).count() > 1 {
            return Err(bad(expr, "an index can only have a single ellipsis ('...')"));
        }
        Ok(Self { items })
    }

    /// The parsed items.
    #[must_use]
    pub fn items(&self) -> &[IndexItem] {
        &self.items
    }

    /// Applies the selection to `view`, as `view[expr]` in NumPy.
    ///
    /// # Errors
    /// [`ErrorKind::IndexOutOfBounds`] for an index outside its axis or more
    /// indices than dimensions, with NumPy's messages.
    pub fn apply<'a, T>(&self, view: ArrayViewD<'a, T>) -> Result<ArrayViewD<'a, T>> {
        self.apply_to(view)
    }

    /// [`apply`](Self::apply) for a writable view: the result is the
    /// writable region.
    ///
    /// # Errors
    /// As [`apply`](Self::apply).
    pub fn apply_mut<'a, T>(&self, view: ArrayViewMutD<'a, T>) -> Result<ArrayViewMutD<'a, T>> {
        self.apply_to(view)
    }

    fn apply_to<S: Data>(&self, mut view: ArrayBase<S, IxDyn>) -> Result<ArrayBase<S, IxDyn>> {
        let consuming = self.items.iter().filter(|i| matches!(i, IndexItem::Index(_) | IndexItem::Slice { .. })).count();
        let ndim = view.ndim();
        if consuming > ndim {
            return Err(Error::new(
                ErrorKind::IndexOutOfBounds,
                format!("too many indices for array: array is {ndim}-dimensional, but {consuming} were indexed"),
            ));
        }
        let full = IndexItem::Slice { start: None, stop: None, step: None };
        let mut expanded = Vec::with_capacity(ndim + self.items.len());
        for item in &self.items {
            if *item == IndexItem::Ellipsis {
                expanded.extend(std::iter::repeat_n(full, ndim - consuming));
            } else {
                expanded.push(*item);
            }
        }
        if !self.items.contains(&IndexItem::Ellipsis) {
            expanded.extend(std::iter::repeat_n(full, ndim - consuming));
        }
        let (mut ax, mut input_axis) = (0usize, 0usize);
        for item in expanded {
            match item {
                IndexItem::Index(i) => {
                    let len = view.len_of(Axis(ax));
                    let idx = if i < 0 { i + len as isize } else { i };
                    if idx < 0 || idx >= len as isize {
                        return Err(Error::new(
                            ErrorKind::IndexOutOfBounds,
                            format!("index {i} is out of bounds for axis {input_axis} with size {len}"),
                        ));
                    }
                    view.index_axis_inplace(Axis(ax), idx.unsigned_abs());
                    input_axis += 1;
                }
                IndexItem::Slice { start, stop, step } => {
                    let len = view.len_of(Axis(ax));
                    view.slice_axis_inplace(Axis(ax), numpy_slice(len, start, stop, step.unwrap_or(1)));
                    ax += 1;
                    input_axis += 1;
                }
                IndexItem::NewAxis => {
                    view.insert_axis_inplace(Axis(ax));
                    ax += 1;
                }
                IndexItem::Ellipsis => {}
            }
        }
        Ok(view)
    }
}

/// Python's `slice(start, stop, step).indices(len)`, as an ndarray [`Slice`]
/// selecting the same elements in the same order. Computed in `i128`:
/// `stop - start + step` and `-step` overflow `isize` for extreme steps
/// (found by the `selection` fuzz target).
fn numpy_slice(len: usize, start: Option<isize>, stop: Option<isize>, step: isize) -> Slice {
    let (len, step) = (len as i128, step as i128);
    let norm = |v: isize| if v < 0 { v as i128 + len } else { v as i128 };
    let (start, stop) = if step > 0 {
        (start.map_or(0, |s| norm(s).clamp(0, len)), stop.map_or(len, |s| norm(s).clamp(0, len)))
    } else {
        (start.map_or(len - 1, |s| norm(s).clamp(-1, len - 1)), stop.map_or(-1, |s| norm(s).clamp(-1, len - 1)))
    };
    let n = if step > 0 {
        if stop > start { (stop - start + step - 1) / step } else { 0 }
    } else if start > stop {
        (start - stop - step - 1) / -step
    } else {
        0
    };
    if n == 0 {
        return Slice::new(0, Some(0), 1);
    }
    // The bounds are now within -1..=len and the step is the caller's, so
    // they fit `isize` again.
    let (last, start, step) = ((start + (n - 1) * step) as isize, start as isize, step as isize);
    if step > 0 {
        Slice::new(start, Some(last + 1), step)
    } else {
        // ndarray walks [last, start] backwards from its end for a negative step.
        Slice::new(last, Some(start + 1), step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::ArrayD;

    fn pick(expr: &str, len: usize) -> Vec<usize> {
        let a = ArrayD::from_shape_vec(vec![len], (0..len).collect()).unwrap();
        Selection::parse(expr).unwrap().apply(a.view()).unwrap().iter().copied().collect()
    }

    #[test]
    fn python_slice_semantics() {
        // Each expected list is what Python's list(range(10))[expr] gives.
        assert_eq!(pick("2:5", 10), vec![2, 3, 4]);
        assert_eq!(pick("::3", 10), vec![0, 3, 6, 9]);
        assert_eq!(pick("::-1", 4), vec![3, 2, 1, 0]);
        assert_eq!(pick("7:2:-2", 10), vec![7, 5, 3]);
        assert_eq!(pick("-3:", 10), vec![7, 8, 9]);
        assert_eq!(pick(":-7:-1", 10), vec![9, 8, 7, 6, 5, 4]);
        assert_eq!(pick("5:100", 10), vec![5, 6, 7, 8, 9]);
        assert_eq!(pick("-100:2", 10), vec![0, 1]);
        assert_eq!(pick("8:2", 10), Vec::<usize>::new());
        assert_eq!(pick("100::-3", 10), vec![9, 6, 3, 0]);
        assert_eq!(pick("", 3), vec![0, 1, 2]);
    }

    #[test]
    fn indices_ellipsis_newaxis_and_errors() {
        let a = ArrayD::<u8>::zeros(vec![2, 3, 4]);
        let shape = |e: &str| Selection::parse(e).unwrap().apply(a.view()).map(|v| v.shape().to_vec());
        assert_eq!(shape("..., 1").unwrap(), vec![2, 3]);
        assert_eq!(shape("-1, ...").unwrap(), vec![3, 4]);
        assert_eq!(shape("None, 0").unwrap(), vec![1, 3, 4]);
        assert_eq!(shape("[1, 1:, ::2]").unwrap(), vec![2, 2]);
        assert_eq!(shape("1,").unwrap(), vec![3, 4]);
        let e = shape("0, 3").unwrap_err();
        assert!(e.to_string().contains("index 3 is out of bounds for axis 1 with size 3"), "{e}");
        let e = shape("0, 0, 0, 0").unwrap_err();
        assert!(e.to_string().contains("too many indices for array: array is 3-dimensional, but 4 were indexed"), "{e}");
        assert!(Selection::parse("1:2:0").unwrap_err().to_string().contains("step cannot be zero"));
        assert!(Selection::parse("a").unwrap_err().to_string().contains("\"a\" is not an integer"));
        assert!(Selection::parse("..., ...").is_err());
        assert!(Selection::parse("1:2:3:4").is_err());
    }
}
