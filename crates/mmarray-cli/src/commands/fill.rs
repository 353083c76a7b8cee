//! Filling a new array: `--fill arange` and `--fill random`, for every dtype,
//! a chunk at a time on every engine thread ([`MmapArray::fill_chunks`]).
//!
//! `--fill random` is one ChaCha12 stream for the seed (rand's `StdRng`,
//! `seed_from_u64`), drawn in memory order, whatever the thread count: each
//! chunk seeks the stream to its first element's word (each dtype draws a
//! fixed number of 32-bit words per element), so threads make the same
//! bytes as one thread drawing in order does.

use mmarray::{f16, Complex32, Complex64, Element, MmapArray};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;

/// `StdRng` (rand 0.9), with the stream positioning it does not expose.
type StdRng = ChaCha12Rng;

use crate::args::Fill;
use crate::output::CliError;

/// A dtype's values for `arange` (NumPy's `np.arange(n).astype(dtype)`) and
/// `random`.
pub(crate) trait FillValue: Element + Default {
    /// The 32-bit words of the stream one `random` draws.
    const WORDS: u128 = 1;
    fn arange(i: usize) -> Self;
    fn random<R: Rng>(rng: &mut R) -> Self;
}

macro_rules! int_fill {
    ($($t:ty),*) => {$(
        impl FillValue for $t {
            const WORDS: u128 = if std::mem::size_of::<$t>() == 8 { 2 } else { 1 };
            #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
            fn arange(i: usize) -> Self { i as $t } // wraps, as astype does
            fn random<R: Rng>(rng: &mut R) -> Self { rng.random() }
        }
    )*};
}
int_fill!(i8, i16, i32, i64, u8, u16, u32, u64);

impl FillValue for bool {
    fn arange(i: usize) -> Self {
        i != 0
    }
    fn random<R: Rng>(rng: &mut R) -> Self {
        rng.random()
    }
}

impl FillValue for f16 {
    fn arange(i: usize) -> Self {
        f16::from_f64(i as f64)
    }
    fn random<R: Rng>(rng: &mut R) -> Self {
        f16::from_f32(rng.random::<f32>())
    }
}

impl FillValue for f32 {
    fn arange(i: usize) -> Self {
        i as f32
    }
    fn random<R: Rng>(rng: &mut R) -> Self {
        rng.random()
    }
}

impl FillValue for f64 {
    const WORDS: u128 = 2;
    fn arange(i: usize) -> Self {
        i as f64
    }
    fn random<R: Rng>(rng: &mut R) -> Self {
        rng.random()
    }
}

impl FillValue for Complex32 {
    const WORDS: u128 = 2;
    fn arange(i: usize) -> Self {
        Complex32::new(i as f32, 0.0)
    }
    fn random<R: Rng>(rng: &mut R) -> Self {
        Complex32::new(rng.random(), rng.random())
    }
}

impl FillValue for Complex64 {
    const WORDS: u128 = 4;
    fn arange(i: usize) -> Self {
        Complex64::new(i as f64, 0.0)
    }
    fn random<R: Rng>(rng: &mut R) -> Self {
        Complex64::new(rng.random(), rng.random())
    }
}

/// The seed's stream `rng` positioned at element `start` of a `T` array:
/// what one generator drawing from element 0 in order draws there (each
/// element takes `T::WORDS` 32-bit words), so any chunk can be filled on
/// its own.
fn stream_at<T: FillValue>(rng: &StdRng, start: usize) -> StdRng {
    let mut rng = rng.clone();
    rng.set_word_pos(start as u128 * T::WORDS);
    rng
}

fn fill_typed<T: FillValue>(a: &mut MmapArray, fill: Fill, seed: u64) -> Result<(), CliError> {
    if fill == Fill::Zeros {
        return Ok(());
    }
    let size = a.dtype().itemsize() as u64;
    let bar = crate::progress::bytes(a.nbytes() as u64, &format!("filling {}", a.path().display()));
    let (shape, order) = (a.shape().to_vec(), a.order());
    let fortran = order == mmarray::Order::F && shape.len() > 1;
    let rng = StdRng::seed_from_u64(seed);
    a.fill_chunks(|start, chunk: &mut [T]| {
        match fill {
            Fill::Zeros => {}
            Fill::Arange if fortran => {
                for (x, i) in chunk.iter_mut().zip(mmarray::logical_indices(&shape, order, start)) {
                    *x = T::arange(i);
                }
            }
            Fill::Arange => chunk.iter_mut().enumerate().for_each(|(k, x)| *x = T::arange(start + k)),
            Fill::Random => {
                let mut rng = stream_at::<T>(&rng, start);
                chunk.iter_mut().for_each(|x| *x = T::random(&mut rng));
            }
        }
        bar.inc(chunk.len() as u64 * size);
    })?;
    bar.finish_and_clear();
    Ok(())
}

/// Fills `a` (of type `T`) with `f(i, draw)` for each element `i` in memory
/// order, `draw` being the seed's stream at `i` (as `--fill random` draws
/// it): the same bytes on any number of threads. The demo's data.
pub(crate) fn random_with<T: FillValue>(a: &mut MmapArray, seed: u64, f: impl Fn(usize, T) -> T + Sync) -> mmarray::Result<()> {
    let rng = StdRng::seed_from_u64(seed);
    a.fill_chunks(|start, chunk: &mut [T]| {
        let mut rng = stream_at::<T>(&rng, start);
        for (k, x) in chunk.iter_mut().enumerate() {
            *x = f(start + k, T::random(&mut rng));
        }
    })
}

/// Fills `a` (freshly created, so all zeros) as `fill` says.
pub fn fill(a: &mut MmapArray, fill: Fill, seed: u64) -> Result<(), CliError> {
    mmarray::with_scalar_type!(a.dtype().kind(), |T| fill_typed::<T>(a, fill, seed))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stream positions: a chunk that seeks with `stream_at` draws
    /// what one generator drawing from the start in order draws there.
    fn seeks_as_drawn<T: FillValue>() {
        let mut seq = rand::rngs::StdRng::seed_from_u64(7);
        let drawn: Vec<T> = (0..1000).map(|_| T::random(&mut seq)).collect();
        for start in [0, 1, 2, 3, 511, 998] {
            let mut rng = stream_at::<T>(&StdRng::seed_from_u64(7), start);
            let got: Vec<T> = (start..1000).map(|_| T::random(&mut rng)).collect();
            assert_eq!(got, drawn[start..], "{:?} from {start}", T::KIND);
        }
    }

    #[test]
    fn every_dtype_seeks_to_its_place_in_the_stream() {
        seeks_as_drawn::<bool>();
        seeks_as_drawn::<i8>();
        seeks_as_drawn::<u16>();
        seeks_as_drawn::<i32>();
        seeks_as_drawn::<u64>();
        seeks_as_drawn::<i64>();
        seeks_as_drawn::<f16>();
        seeks_as_drawn::<f32>();
        seeks_as_drawn::<f64>();
        seeks_as_drawn::<Complex32>();
        seeks_as_drawn::<Complex64>();
    }
}
