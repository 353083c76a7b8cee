//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use mmarray::{f16, Complex32, Complex64, Element, MmapArray, Mode, NpyOptions, RawOptions, ScalarKind};

// The mapping constructors are `unsafe` (the crate's mapping contract); the
// tests call them through these wrappers, each with the same justification:
// the files are the test's own, in temporary directories, and a test that
// opens two handles of one file never writes through one while a view of
// the other is alive.

/// [`MmapArray::open_npy`] on a test's own file.
pub fn open_npy(path: impl AsRef<Path>, mode: Mode) -> mmarray::Result<MmapArray> {
    // SAFETY: test files are private to the test (temp dirs); no other process or handle writes them while views live
    unsafe { MmapArray::open_npy(path, mode) }
}

/// [`RawOptions::open`] and [`RawOptions::create_new`] on a test's own files.
pub trait RawPrivate {
    fn open_private(&self, path: impl AsRef<Path>) -> mmarray::Result<MmapArray>;
    fn create_new_private(&self, path: impl AsRef<Path>) -> mmarray::Result<MmapArray>;
}

impl RawPrivate for RawOptions {
    fn open_private(&self, path: impl AsRef<Path>) -> mmarray::Result<MmapArray> {
        // SAFETY: test files are private to the test (temp dirs); no other process or handle writes them while views live
        unsafe { self.open(path) }
    }
    fn create_new_private(&self, path: impl AsRef<Path>) -> mmarray::Result<MmapArray> {
        // SAFETY: test files are private to the test (temp dirs); no other process or handle writes them while views live
        unsafe { self.create_new(path) }
    }
}

/// [`NpyOptions::create`] and [`NpyOptions::create_new`] on a test's own files.
pub trait NpyPrivate {
    fn create_private(&self, path: impl AsRef<Path>) -> mmarray::Result<MmapArray>;
    fn create_new_private(&self, path: impl AsRef<Path>) -> mmarray::Result<MmapArray>;
}

impl NpyPrivate for NpyOptions {
    fn create_private(&self, path: impl AsRef<Path>) -> mmarray::Result<MmapArray> {
        // SAFETY: test files are private to the test (temp dirs); no other process or handle writes them while views live
        unsafe { self.create(path) }
    }
    fn create_new_private(&self, path: impl AsRef<Path>) -> mmarray::Result<MmapArray> {
        // SAFETY: test files are private to the test (temp dirs); no other process or handle writes them while views live
        unsafe { self.create_new(path) }
    }
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// A Python interpreter with NumPy: `$MMARRAY_TEST_PYTHON`, else the
/// workspace's `.venv` (made by `scripts/test.sh`). Panics with directions if
/// neither has NumPy: these tests must not silently pass without it.
pub fn python() -> PathBuf {
    let candidates: Vec<PathBuf> = std::env::var_os("MMARRAY_TEST_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain([workspace().join(".venv/bin/python")])
        .collect();
    for p in &candidates {
        let ok = Command::new(p).args(["-c", "import numpy"]).status().is_ok_and(|s| s.success());
        if ok {
            return p.clone();
        }
    }
    panic!("no Python with NumPy found (tried {candidates:?}): run `bash scripts/test.sh`, which makes .venv, or set MMARRAY_TEST_PYTHON");
}

/// Runs `numpy_helper.py CMD DIR` and panics with its output if it fails.
pub fn numpy_helper(cmd: &str, dir: &Path) -> String {
    let script = workspace().join("tests/numpy/numpy_helper.py");
    let out = Command::new(python()).arg(script).arg(cmd).arg(dir).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "numpy_helper.py {cmd} failed:\n{text}");
    text
}

/// Test values, identical to `formula` in numpy_helper.py: the element with
/// C-order flat index `i`.
pub trait Formula: Element {
    fn formula(i: usize) -> Self;
    /// The value's bytes in native order (for bit-exact comparisons).
    fn ne_bytes(&self) -> Vec<u8>;
}

macro_rules! formula_int {
    ($signed:expr; $($t:ty),*) => {$(
        impl Formula for $t {
            #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
            fn formula(i: usize) -> Self {
                let i = i as i64;
                (if $signed { (i * 37) % 200 - 100 } else { (i * 37) % 251 }) as $t
            }
            fn ne_bytes(&self) -> Vec<u8> { self.to_ne_bytes().to_vec() }
        }
    )*};
}
formula_int!(true; i8, i16, i32, i64);
formula_int!(false; u8, u16, u32, u64);

impl Formula for bool {
    fn formula(i: usize) -> Self {
        i % 3 == 0
    }
    fn ne_bytes(&self) -> Vec<u8> {
        vec![u8::from(*self)]
    }
}
impl Formula for f16 {
    fn formula(i: usize) -> Self {
        f16::from_f64(i as f64 * 0.25 - 3.0)
    }
    fn ne_bytes(&self) -> Vec<u8> {
        self.to_ne_bytes().to_vec()
    }
}
impl Formula for f32 {
    fn formula(i: usize) -> Self {
        i as f32 * 0.25 - 3.0
    }
    fn ne_bytes(&self) -> Vec<u8> {
        self.to_ne_bytes().to_vec()
    }
}
impl Formula for f64 {
    fn formula(i: usize) -> Self {
        i as f64 * 0.25 - 3.0
    }
    fn ne_bytes(&self) -> Vec<u8> {
        self.to_ne_bytes().to_vec()
    }
}
impl Formula for Complex32 {
    fn formula(i: usize) -> Self {
        Complex32::new(i as f32 * 0.5, 0.0 - i as f32)
    }
    fn ne_bytes(&self) -> Vec<u8> {
        [self.re.to_ne_bytes(), self.im.to_ne_bytes()].concat()
    }
}
impl Formula for Complex64 {
    fn formula(i: usize) -> Self {
        Complex64::new(i as f64 * 0.5, 0.0 - i as f64)
    }
    fn ne_bytes(&self) -> Vec<u8> {
        [self.re.to_ne_bytes(), self.im.to_ne_bytes()].concat()
    }
}

/// Whether `a` holds `formula` at every logical index, checked through
/// `to_array` (swapping, unaligned) and, where possible, the zero-copy view
/// and `get`. Returns a description of the first difference.
pub fn check_formula<T: Formula>(a: &MmapArray) -> Result<(), String> {
    let owned = a.to_array::<T>().map_err(|e| e.to_string())?;
    for (i, v) in owned.iter().enumerate() {
        if v.ne_bytes() != T::formula(i).ne_bytes() {
            return Err(format!("to_array element {i}: {v:?} != {:?}", T::formula(i)));
        }
    }
    // The zero-copy view, checked against the formula itself (not against
    // to_array, which is built from the same view for native data).
    if let Ok(view) = a.view::<T>() {
        if view.shape() != a.shape() {
            return Err(format!("view shape {:?}", view.shape()));
        }
        for (i, v) in view.iter().enumerate() {
            if v.ne_bytes() != T::formula(i).ne_bytes() {
                return Err(format!("view element {i}: {v:?} != {:?}", T::formula(i)));
            }
        }
    }
    check_file_bytes::<T>(a, 0)?;
    if !a.is_empty() {
        let last: Vec<usize> = a.shape().iter().map(|d| d - 1).collect();
        let got: T = a.get(&last).map_err(|e| e.to_string())?;
        if got.ne_bytes() != T::formula(a.len() - 1).ne_bytes() {
            return Err(format!("get(last) = {got:?}"));
        }
    }
    Ok(())
}

/// The element of C-order flat index `i` as stored in a file: `formula(i)`'s
/// native bytes, each component reversed when the file's byte order is not
/// native (complex numbers swap their real and imaginary parts apart).
pub fn stored_bytes<T: Formula>(i: usize, native: bool) -> Vec<u8> {
    let mut b = T::formula(i).ne_bytes();
    if !native {
        let parts = if matches!(T::KIND, ScalarKind::C64 | ScalarKind::C128) { 2 } else { 1 };
        let w = b.len() / parts;
        b.chunks_mut(w).for_each(<[u8]>::reverse);
    }
    b
}

/// Reads the file behind `a` with `std::fs::read` (no mmarray code) and
/// checks each element's bytes (`formula(i + shift)`) where its offset,
/// order and byte order say: the independent reference for what mmarray
/// wrote.
pub fn check_file_bytes<T: Formula>(a: &MmapArray, shift: usize) -> Result<(), String> {
    let bytes = std::fs::read(a.path()).map_err(|e| e.to_string())?;
    let shape = a.shape().to_vec();
    let size = std::mem::size_of::<T>();
    let native = a.dtype().is_native();
    let fortran = a.order() == mmarray::Order::F;
    let n: usize = shape.iter().product();
    for i in 0..n {
        // C-order flat index i -> multi-index -> position in the file's order
        let mut rem = i;
        let mut idx = vec![0usize; shape.len()];
        for d in (0..shape.len()).rev() {
            idx[d] = rem % shape[d];
            rem /= shape[d];
        }
        let pos = if fortran {
            idx.iter().zip(&shape).rev().fold(0, |acc, (&x, &len)| acc * len + x)
        } else {
            idx.iter().zip(&shape).fold(0, |acc, (&x, &len)| acc * len + x)
        };
        let at = usize::try_from(a.offset()).map_err(|e| e.to_string())? + pos * size;
        let got = bytes.get(at..at + size).ok_or_else(|| format!("file too short for element {i} at byte {at}"))?;
        if got != stored_bytes::<T>(i + shift, native).as_slice() {
            return Err(format!("file bytes of element {i} at {at}: {got:?}"));
        }
    }
    Ok(())
}

/// Fills `a` with `formula`.
pub fn fill_formula<T: Formula>(a: &mut MmapArray) {
    a.fill_with(T::formula).unwrap();
}

/// Every kind, for loops.
pub const KINDS: [ScalarKind; 14] = ScalarKind::ALL;

/// A cheap content hash of a file (FNV-1a), to prove it was not changed.
pub fn file_hash(path: &Path) -> (u64, u64) {
    let bytes = std::fs::read(path).unwrap();
    let h = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    (bytes.len() as u64, h)
}
