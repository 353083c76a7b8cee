//! The engine's entry points instantiated once, here, for every element
//! type on dynamic-dimensional views (the views the CLI and the Python
//! extension pass).
//!
//! Why: the engine is generic over the element type, so every crate that
//! calls it compiles its own copy of each kernel for each dtype. The CLI,
//! the Python extension and the test suites did so separately, and that
//! was most of the test command's build time (the CLI binary alone took
//! 109 s of a 426 s build on 2 cores). In unoptimized and `opt-level = 1`
//! builds (the dev profile) rustc shares generic instances between crates,
//! so they link these instead (CLI binary: 42 s). Release builds, which do
//! not share generics, are unaffected.

use half::f16;
use ndarray::{ArrayD, ArrayView, ArrayViewMutD, IxDyn};

use super::*;

/// Instantiates the entry points for the element type of `kind` (never
/// called: being public and non-generic, it is compiled with this crate,
/// and with it every instance it names).
#[doc(hidden)]
pub fn instantiate(kind: crate::ScalarKind) {
    fn all<T: Real>(v: ArrayView<'_, T, IxDyn>, mut m: ArrayViewMutD<'_, T>) {
        let nan = NanPolicy::Omit;
        let _ = reduce(&v, Stat::Sum, &ReduceOptions::default());
        let _ = summary(&v, nan);
        let _ = moments(&v, nan);
        let _ = summary_along(&v, &[0], nan);
        let _ = moments_along(&v, &[0], nan);
        let _ = quantile(&v, &[0.5], nan, QuantileDtype::Float64);
        let _ = quantile_with_events(&v, &[0.5], nan, QuantileDtype::ElementType);
        let _ = median_with_events(&v, nan);
        let _ = median(&v, nan);
        let _ = quantile_along(&v, &[0], &[0.5], nan, QuantileDtype::Float64);
        let _ = histogram(&v, 10, None);
        if let Ok(one) = v.view().into_dimensionality::<ndarray::Ix1>() {
            let _ = rolling(one.view(), 2, RollingStat::Mean, 0.0);
            let _ = downsample(one, 2);
        }
        let _ = rolling_along::<T, f64>(v.view(), 0, 2, RollingStat::Mean, 0.0);
        let _ = rolling_along::<T, f32>(v.view(), 0, 2, RollingStat::Mean, 0.0);
        let _ = rolling_along::<T, f16>(v.view(), 0, 2, RollingStat::Mean, 0.0);
        let _ = scalar_events::<T>(&[]);
        let _ = apply(m.view_mut(), &[]);
    }
    crate::with_scalar_type!(kind, |T| {
        let mut x = ArrayD::<T>::from_elem(IxDyn(&[1]), T::from_f64(0.0));
        let y = x.clone();
        all::<T>(y.view(), x.view_mut());
    }, complex => {})
}
