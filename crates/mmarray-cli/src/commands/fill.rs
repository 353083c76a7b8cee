//! Filling a new array: `--fill arange` and `--fill random`, for every dtype.

use mmarray::{f16, Complex32, Complex64, Element, MmapArray};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::args::Fill;
use crate::output::CliError;

/// A dtype's values for `arange` (NumPy's `np.arange(n).astype(dtype)`) and
/// `random`.
trait FillValue: Element {
    fn arange(i: usize) -> Self;
    fn random(rng: &mut StdRng) -> Self;
}

macro_rules! int_fill {
    ($($t:ty),*) => {$(
        impl FillValue for $t {
            #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
            fn arange(i: usize) -> Self { i as $t } // wraps, as astype does
            fn random(rng: &mut StdRng) -> Self { rng.random() }
        }
    )*};
}
int_fill!(i8, i16, i32, i64, u8, u16, u32, u64);

impl FillValue for bool {
    fn arange(i: usize) -> Self {
        i != 0
    }
    fn random(rng: &mut StdRng) -> Self {
        rng.random()
    }
}

impl FillValue for f16 {
    fn arange(i: usize) -> Self {
        f16::from_f64(i as f64)
    }
    fn random(rng: &mut StdRng) -> Self {
        f16::from_f32(rng.random::<f32>())
    }
}

impl FillValue for f32 {
    fn arange(i: usize) -> Self {
        i as f32
    }
    fn random(rng: &mut StdRng) -> Self {
        rng.random()
    }
}

impl FillValue for f64 {
    fn arange(i: usize) -> Self {
        i as f64
    }
    fn random(rng: &mut StdRng) -> Self {
        rng.random()
    }
}

impl FillValue for Complex32 {
    fn arange(i: usize) -> Self {
        Complex32::new(i as f32, 0.0)
    }
    fn random(rng: &mut StdRng) -> Self {
        Complex32::new(rng.random(), rng.random())
    }
}

impl FillValue for Complex64 {
    fn arange(i: usize) -> Self {
        Complex64::new(i as f64, 0.0)
    }
    fn random(rng: &mut StdRng) -> Self {
        Complex64::new(rng.random(), rng.random())
    }
}

fn fill_typed<T: FillValue>(a: &mut MmapArray, fill: Fill, seed: u64) -> Result<(), CliError> {
    if fill == Fill::Zeros {
        return Ok(());
    }
    let size = a.dtype().itemsize() as u64;
    let bar = crate::progress::bytes(a.nbytes() as u64, &format!("filling {}", a.path().display()));
    // Report every 1 Mi elements: cheap next to the fill itself.
    let tick = |i: usize| {
        if i % (1 << 20) == 0 {
            bar.set_position(i as u64 * size);
        }
    };
    match fill {
        Fill::Zeros => {}
        Fill::Arange => a.fill_with(|i| {
            tick(i);
            T::arange(i)
        })?,
        Fill::Random => {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut n = 0usize;
            a.fill_with(|_| {
                tick(n);
                n += 1;
                T::random(&mut rng)
            })?;
        }
    }
    bar.finish_and_clear();
    Ok(())
}

/// Fills `a` (freshly created, so all zeros) as `fill` says.
pub fn fill(a: &mut MmapArray, fill: Fill, seed: u64) -> Result<(), CliError> {
    mmarray::with_scalar_type!(a.dtype().kind(), |T| fill_typed::<T>(a, fill, seed))
}
