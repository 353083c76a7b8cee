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

/// An integer of any size: `Ok(Err(sign))` when it does not fit an `i128`.
fn parse_big(expr: &str, part: &str) -> Result<std::result::Result<i128, i128>> {
    let digits = part.strip_prefix(['-', '+']).unwrap_or(part);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(expr, format_args!("{part:?} is not an integer")));
    }
    Ok(part.parse::<i128>().map_err(|_| if part.starts_with('-') { -1 } else { 1 }))
}

/// A slice bound or step: beyond `isize` it is clamped, as Python clamps
/// slice indices (`a[:2**70]` is `a[:]`, `a[::2**70]` is `a[:1]`).
fn parse_slice_part(expr: &str, part: &str) -> Result<Option<isize>> {
    let part = part.trim();
    if part.is_empty() {
        return Ok(None);
    }
    let clamp = |v: i128| isize::try_from(v).unwrap_or(if v < 0 { isize::MIN } else { isize::MAX });
    Ok(Some(match parse_big(expr, part)? {
        Ok(v) => clamp(v),
        Err(sign) => clamp(sign.saturating_mul(i128::MAX)),
    }))
}

/// A single index: beyond `isize` it is an error (NumPy's IndexError).
fn parse_index(expr: &str, part: &str) -> Result<isize> {
    match parse_big(expr, part)? {
        Ok(v) => isize::try_from(v).map_err(|_| {
            Error::new(ErrorKind::IndexOutOfBounds, format!("index {part} does not fit in an index-sized integer"))
        }),
        Err(_) => {
            Err(Error::new(ErrorKind::IndexOutOfBounds, format!("index {part} does not fit in an index-sized integer")))
        }
    }
}

const FANCY: &str = "fancy (list) indexing is not supported; use a slice such as '1:3'";

/// The expression without the optional brackets around all of it. They are
/// only accepted where NumPy could not read the text as a list index:
/// `[1:5, 0]` (a slice cannot be in a list) is `a[1:5, 0]`, but `[1, 2]`
/// would be `a[[1, 2]]` (rows 1 and 2) to NumPy, so it is refused, as is
/// any inner list.
fn strip_brackets(expr: &str) -> Result<&str> {
    let t = expr.trim();
    let inner = match t.strip_prefix('[') {
        Some(rest) => {
            let inner = rest.strip_suffix(']').ok_or_else(|| bad(expr, "unbalanced brackets"))?;
            if !inner.contains(':') && !inner.contains(['[', ']']) {
                return Err(bad(expr, FANCY));
            }
            inner
        }
        None => t,
    };
    if inner.contains('[') {
        return Err(bad(expr, FANCY));
    }
    if inner.contains(']') {
        return Err(bad(expr, "unbalanced brackets"));
    }
    Ok(inner.trim())
}

impl Selection {
    /// Parses a comma-separated list of indices, slices, `...` and `None`,
    /// as Python reads what is inside `a[...]`. An empty string selects
    /// everything. Brackets around it all are accepted when NumPy could not
    /// read them as a list index (`"[1:5, 0]"` is `a[1:5, 0]`); a list
    /// (`"[1, 2]"`, `"0, [1, 2]"`) is fancy indexing, which is refused.
    /// Slice bounds beyond `isize` are clamped, as Python does.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] naming the expression and the bad part
    /// (not an integer, an empty item, a zero step, two ellipses, too many
    /// colons, a list); [`ErrorKind::IndexOutOfBounds`] for an index beyond
    /// `isize`.
    pub fn parse(expr: &str) -> Result<Self> {
        let inner = strip_brackets(expr)?;
        if inner.is_empty() {
            return Ok(Self::default());
        }
        let mut items = Vec::new();
        let parts: Vec<&str> = inner.split(',').collect();
        for (k, raw) in parts.iter().enumerate() {
            let t = raw.trim();
            let item = match t {
                // a trailing comma after an item, as in `a[3,]`
                "" if k + 1 == parts.len() && k > 0 => continue,
                "" => return Err(bad(expr, "empty index before or between commas (Python: invalid syntax)")),
                "..." => IndexItem::Ellipsis,
                "None" | "np.newaxis" | "numpy.newaxis" | "newaxis" => IndexItem::NewAxis,
                _ if t.contains(':') => {
                    let parts: Vec<&str> = t.split(':').collect();
                    if parts.len() > 3 {
                        return Err(bad(expr, format_args!("{t:?} has more than two colons")));
                    }
                    let step = parse_slice_part(expr, parts.get(2).copied().unwrap_or(""))?;
                    if step == Some(0) {
                        return Err(bad(expr, "slice step cannot be zero"));
                    }
                    IndexItem::Slice { start: parse_slice_part(expr, parts[0])?, stop: parse_slice_part(expr, parts[1])?, step }
                }
                _ => IndexItem::Index(parse_index(expr, t)?),
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
        let new_axes = self.items.iter().filter(|i| **i == IndexItem::NewAxis).count();
        let result_ndim = ndim - self.items.iter().filter(|i| matches!(i, IndexItem::Index(_))).count() + new_axes;
        if result_ndim > crate::MAX_DIMS {
            return Err(Error::new(
                ErrorKind::IndexOutOfBounds,
                format!(
                    "number of dimensions must be within [0, {}], indexing result would have {result_ndim}",
                    crate::MAX_DIMS
                ),
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

/// Python's `slice(start, stop, step).indices(len)` and the number of
/// elements it selects, computed in `i128`, where no `isize` bound or step
/// can overflow (`stop - start + step - 1` did, in `isize`).
fn slice_indices(len: usize, start: Option<isize>, stop: Option<isize>, step: isize) -> (i128, i128, i128) {
    let len = len as i128;
    let step = step as i128;
    let norm = |v: isize| {
        let v = v as i128;
        if v < 0 { v + len } else { v }
    };
    let (start, stop) = if step > 0 {
        (start.map_or(0, |s| norm(s).clamp(0, len)), stop.map_or(len, |s| norm(s).clamp(0, len)))
    } else {
        (start.map_or(len - 1, |s| norm(s).clamp(-1, len - 1)), stop.map_or(-1, |s| norm(s).clamp(-1, len - 1)))
    };
    let n = if step > 0 && stop > start {
        (stop - start + step - 1) / step
    } else if step < 0 && start > stop {
        (start - stop - step - 1) / -step
    } else {
        0
    };
    (start, step, n)
}

/// [`slice_indices`] as an ndarray [`Slice`] selecting the same elements in
/// the same order.
fn numpy_slice(len: usize, start: Option<isize>, stop: Option<isize>, step: isize) -> Slice {
    let (start, step, n) = slice_indices(len, start, stop, step);
    // Every value below is an index in 0..len, or a step with |step| < len
    // when two or more elements are selected, so it fits an isize (which
    // `len`, the length of an ndarray axis, does).
    let ix = |v: i128| isize::try_from(v).unwrap_or(isize::MAX);
    match n {
        0 => Slice::new(0, Some(0), 1),
        // one element: whatever the step (it may be isize::MIN, which
        // ndarray could not negate)
        1 => Slice::new(ix(start), Some(ix(start + 1)), 1),
        _ => {
            let last = start + (n - 1) * step;
            if step > 0 {
                Slice::new(ix(start), Some(ix(last + 1)), ix(step))
            } else {
                // ndarray walks [last, start] backwards from its end for a negative step.
                Slice::new(ix(last), Some(ix(start + 1)), ix(step))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::ArrayD;
    use proptest::prelude::*;

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

    /// Issue 10: outer brackets only where NumPy could not read a list.
    #[test]
    fn lists_and_empty_items_are_refused() {
        let a = ArrayD::<u8>::zeros(vec![10, 100]);
        let shape = |e: &str| Selection::parse(e).and_then(|s| s.apply(a.view())).map(|v| v.shape().to_vec());
        assert_eq!(shape("1,2").unwrap(), Vec::<usize>::new());
        assert_eq!(shape("[1:5, 0]").unwrap(), vec![4]);
        assert_eq!(shape("[::2]").unwrap(), vec![5, 100]);
        for e in ["[1,2]", "[1]", "[]", "[...]", "0, [1, 2]", "[[1, 2]]", "[1:2, [3]]"] {
            let err = Selection::parse(e).unwrap_err().to_string();
            assert!(err.contains("fancy (list) indexing is not supported; use a slice such as '1:3'"), "{e}: {err}");
        }
        for e in [",", "1,,2", ",1", " , ", "[1:2", "1:2]", "[1:2]]"] {
            assert!(Selection::parse(e).is_err(), "{e}");
        }
        // beyond isize: slice bounds clamp (as Python), indices are errors
        assert_eq!(shape(":99999999999999999999999999999999999999999999").unwrap(), vec![10, 100]);
        assert_eq!(pick("::99999999999999999999999999999999999999999999", 5), vec![0]);
        assert_eq!(pick("-99999999999999999999999999999999999999999999::-99999999999999999999", 5), Vec::<usize>::new());
        let e = Selection::parse("9223372036854775808").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::IndexOutOfBounds, "{e}");
        // NumPy's limit of 64 dimensions holds for new axes too
        let nones = |n: usize| vec!["None"; n].join(",");
        assert_eq!(shape(&nones(62)).unwrap().len(), 64);
        let e = shape(&nones(63)).unwrap_err().to_string();
        assert!(e.contains("number of dimensions must be within [0, 64], indexing result would have 65"), "{e}");
    }

    /// Issue 10: `::9223372036854775807` selected nothing, and larger
    /// `stop - start + step` sums overflowed (a panic in debug builds).
    #[test]
    fn extreme_slices() {
        let a = ArrayD::from_shape_vec(vec![1000], (0..1000).collect::<Vec<usize>>()).unwrap();
        let sel = |e: &str| Selection::parse(e).unwrap().apply(a.view()).unwrap().iter().copied().collect::<Vec<_>>();
        assert_eq!(sel("::9223372036854775807"), vec![0]); // NumPy: [0.]
        assert_eq!(sel("::9223372036854775000"), vec![0]);
        assert_eq!(sel("::-9223372036854775808"), vec![999]);
        assert_eq!(sel("-9223372036854775808:9223372036854775807:-9223372036854775808"), Vec::<usize>::new());
        assert_eq!(sel("9223372036854775807:-9223372036854775808:-9223372036854775807"), vec![999]);
    }

    /// CPython's `range(len)[start:stop:step]`, transcribed in i128 from
    /// `PySlice_AdjustIndices`, walked element by element.
    fn python_range_slice(len: usize, start: Option<isize>, stop: Option<isize>, step: isize) -> Vec<usize> {
        let (len, step) = (len as i128, step as i128);
        let adjust = |v: Option<isize>, default: i128| -> i128 {
            let Some(v) = v else { return default };
            let mut v = v as i128;
            if v < 0 {
                v += len;
                if v < 0 {
                    v = if step < 0 { -1 } else { 0 };
                }
            } else if v >= len {
                v = if step < 0 { len - 1 } else { len };
            }
            v
        };
        let (mut i, stop) = if step > 0 { (adjust(start, 0), adjust(stop, len)) } else { (adjust(start, len - 1), adjust(stop, -1)) };
        let mut out = Vec::new();
        while (step > 0 && i < stop) || (step < 0 && i > stop) {
            out.push(usize::try_from(i).unwrap());
            i += step;
        }
        out
    }

    fn extreme() -> impl Strategy<Value = isize> {
        prop_oneof![
            Just(isize::MIN),
            Just(isize::MIN + 1),
            Just(isize::MAX),
            Just(isize::MAX - 1),
            -25isize..25,
            any::<isize>(),
        ]
    }

    proptest! {
        #[test]
        fn slices_match_python_for_every_isize(
            len in 0usize..20,
            start in proptest::option::of(extreme()),
            stop in proptest::option::of(extreme()),
            step in extreme().prop_filter("non-zero", |s| *s != 0),
        ) {
            let a = ArrayD::from_shape_vec(vec![len], (0..len).collect::<Vec<usize>>()).unwrap();
            let item = IndexItem::Slice { start, stop, step: Some(step) };
            let got: Vec<usize> = Selection { items: vec![item] }.apply(a.view()).unwrap().iter().copied().collect();
            prop_assert_eq!(got, python_range_slice(len, start, stop, step));
        }
    }
}
