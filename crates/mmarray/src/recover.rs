//! Repairing a `.npy` file an interrupted append left behind: rows written
//! past the shape its header gives (a writer killed, or the power lost,
//! before it rewrote the header). Readers ignore such bytes, as NumPy does
//! ([`MmapArray::trailing`](crate::MmapArray::trailing) reports them);
//! [`recover`] either makes the whole rows part of the array or cuts the
//! bytes off, as the caller chooses. Nothing is cut without being asked.

use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::array::{growth_axis, growth_row_bytes, Layout};
use crate::error::{Error, ErrorKind, Result};
use crate::mode::Mode;
use crate::npy::{self, NpyHeader};
use crate::shape_repr;

/// What [`recover`] does with the bytes past a `.npy` header's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Recovery {
    /// The whole rows become part of the array: the header's shape grows by
    /// them along the growth axis (the first for C order, the last for
    /// Fortran order), rewritten in place once the rows are durable; the
    /// bytes of an incomplete last row are cut off.
    Adopt,
    /// Every byte past the header's shape is cut off the file.
    Trim,
}

/// What [`recover`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// The shape the header gives now.
    pub shape: Vec<usize>,
    /// Rows made part of the array ([`Recovery::Adopt`]).
    pub rows_adopted: u64,
    /// Bytes cut off the end of the file.
    pub bytes_trimmed: u64,
    /// Set when adopting rows needed a shape that the file's header (written
    /// without NumPy's growth padding) has no room for: the file was
    /// rewritten with a padded header and its data moved, as this says.
    pub header_rewritten: Option<String>,
}

/// Repairs the `.npy` file at `path` after an interrupted append: the bytes
/// past the data its header describes are adopted as whole rows or trimmed
/// (see [`Recovery`]); a file without such bytes is left as it is. The
/// order of the writes keeps the file valid at every instant, so a crash
/// during the repair leaves either the old shape or the new one: the
/// adopted rows are made durable (`fdatasync`) before the header names
/// them, and the header is rewritten in place; only a header written
/// without NumPy's growth padding, with no room for the new shape even
/// spelled compactly, makes the file be rewritten once, into a copy with a
/// padded header that atomically replaces it ([`Recovered::header_rewritten`]
/// says so). Takes the file's [`WriteLock`](crate::WriteLock), so it never races a
/// writer that holds it.
///
/// ```
/// use mmarray::{recover, DType, NpyOptions, Recovery, ScalarKind};
/// use std::io::Write;
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("a.npy");
/// // SAFETY: the file is private to this example.
/// drop(unsafe { NpyOptions::new(DType::native(ScalarKind::F32), &[4, 3]).create(&path)? });
/// // two whole rows and half of a third, past the header's shape
/// std::fs::OpenOptions::new().append(true).open(&path)?.write_all(&[0u8; 30])?;
/// let r = recover(&path, Recovery::Adopt)?;
/// assert_eq!((r.shape, r.rows_adopted, r.bytes_trimmed), (vec![6, 3], 2, 6));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// - [`ErrorKind::InUse`] if another handle holds the file's write lock.
/// - [`ErrorKind::FileTooSmall`] if the file is shorter than its header's
///   shape needs (data is missing: nothing past the shape to recover).
/// - [`ErrorKind::InvalidArgument`] to adopt rows of a 0-d array (no axis
///   to grow): the file is then left as it was, and [`Recovery::Trim`]
///   still works.
/// - [`ErrorKind::NoSpace`] if the copy a header without room needs does
///   not fit on the disk: the file is left as it was.
/// - [`ErrorKind::InvalidHeader`], [`ErrorKind::UnsupportedDtype`] and the
///   I/O kinds as [`MmapArray::open_npy`](crate::MmapArray::open_npy).
pub fn recover(path: impl AsRef<Path>, how: Recovery) -> Result<Recovered> {
    let path = path.as_ref();
    let file = crate::open::open_existing(path, Mode::ReadWrite)?;
    let _lock = crate::storage::lock_write_or_in_use(&file, path)?;
    // (the copy a repair or writer killed while moving the data left beside it)
    crate::storage::remove_stale_temporaries(path);
    let parsed = npy::read_header(&file, path)?;
    let layout = Layout::of_npy(&parsed.header, parsed.data_offset);
    let (header, order) = (parsed.header, layout.order);
    let end = layout.checked_end(path)?;
    let len = file.metadata().map_err(|e| Error::io(path, "cannot stat", e))?.len();
    let Some(extra) = len.checked_sub(end) else {
        return Err(Error::at(
            ErrorKind::FileTooSmall,
            path,
            format_args!("holds {len} bytes, and its header's shape {} needs {end}: data is missing, there is nothing past the shape to recover", shape_repr(&header.shape)),
        ));
    };
    let mut done = Recovered { shape: header.shape.clone(), rows_adopted: 0, bytes_trimmed: 0, header_rewritten: None };
    if extra == 0 {
        return Ok(done);
    }
    let mut keep = end;
    if how == Recovery::Adopt {
        let (Some(axis), Some(row)) = (growth_axis(header.shape.len(), order), growth_row_bytes(&header.shape, order, header.dtype)) else {
            return Err(Error::at(ErrorKind::InvalidArgument, path, format_args!("has {extra} bytes past its shape {}, which has no rows to adopt them as", shape_repr(&header.shape))));
        };
        let rows = extra / row;
        if rows > 0 {
            let mut shape = header.shape.clone();
            shape[axis] = usize::try_from(rows).ok().and_then(|r| shape[axis].checked_add(r)).ok_or_else(|| {
                Error::at(ErrorKind::InvalidArgument, path, format_args!("{rows} rows past its shape {} overflow its length", shape_repr(&header.shape)))
            })?;
            Layout::checked_nbytes(path, header.dtype, &shape)?;
            let grown = NpyHeader { shape: shape.clone(), ..header };
            let offset = usize::try_from(parsed.data_offset).unwrap_or(usize::MAX);
            if let Some(bytes) = grown.encode_in(parsed.version, offset) {
                // the rows reach the disk before the header names them
                file.sync_data().map_err(|e| Error::io(path, "cannot sync", e))?;
                file.write_all_at(&bytes, 0).map_err(|e| Error::io(path, "cannot rewrite the header of", e))?;
            } else {
                // (the copy is synced before it replaces the file)
                let data = end - parsed.data_offset + rows * row;
                let moved = crate::append::move_under_padded_header(path, &file, parsed.data_offset, data, &grown)?;
                done.header_rewritten = Some(moved.note);
                done.shape = shape;
                done.rows_adopted = rows;
                done.bytes_trimmed = len - end - rows * row;
                return Ok(done);
            }
            keep = end + rows * row;
            done.shape = shape;
            done.rows_adopted = rows;
        }
    }
    if len > keep {
        file.set_len(keep).map_err(|e| Error::io(path, "cannot trim", e))?;
        done.bytes_trimmed = len - keep;
    }
    file.sync_data().map_err(|e| Error::io(path, "cannot sync", e))?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::{DType, ScalarKind};
    use crate::mode::Order;
    use crate::NpyOptions;

    /// A new `.npy` of `shape` (C or Fortran order) with `extra` bytes
    /// (0, 1, 2, ...) past its data; its path and header length.
    fn with_tail(dir: &Path, shape: &[usize], fortran: bool, extra: usize) -> (std::path::PathBuf, u64) {
        let path = dir.join(format!("t{}{}.npy", shape.len(), extra));
        let order = if fortran { Order::F } else { Order::C };
        // SAFETY: the file is private to the test.
        let a = unsafe { NpyOptions::new(DType::native(ScalarKind::I16), shape).order(order).create(&path).unwrap() };
        let offset = a.offset();
        drop(a);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend((0..extra).map(|i| i as u8));
        std::fs::write(&path, bytes).unwrap();
        (path, offset)
    }

    fn shape_of(path: &Path) -> (Vec<usize>, u64) {
        let file = std::fs::File::open(path).unwrap();
        (npy::read_header(&file, path).unwrap().header.shape, file.metadata().unwrap().len())
    }

    #[test]
    fn adopts_whole_rows_of_the_growth_axis_and_trims_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        // C order grows axis 0 (rows of 3 int16 = 6 bytes), Fortran the last
        // (rows of 4 int16 = 8 bytes)
        for (shape, fortran, extra, grown, rows) in
            [(&[4usize, 3][..], false, 20, vec![7, 3], 3), (&[4, 3][..], true, 17, vec![4, 5], 2), (&[5][..], false, 4, vec![7], 2), (&[0, 3][..], false, 6, vec![1, 3], 1)]
        {
            let (path, offset) = with_tail(dir.path(), shape, fortran, extra);
            let r = recover(&path, Recovery::Adopt).unwrap();
            let row = (extra as u64) / rows;
            assert_eq!((r.shape.clone(), r.rows_adopted, r.bytes_trimmed), (grown.clone(), rows, extra as u64 % row), "{shape:?}");
            let (s, len) = shape_of(&path);
            assert_eq!(s, grown);
            assert_eq!(len, offset + grown.iter().product::<usize>() as u64 * 2, "the file ends at the new shape");
            // the same again: nothing left to do
            assert_eq!(recover(&path, Recovery::Adopt).unwrap(), Recovered { shape: grown, rows_adopted: 0, bytes_trimmed: 0, header_rewritten: None });
        }
    }

    #[test]
    fn trims_every_byte_past_the_shape() {
        let dir = tempfile::tempdir().unwrap();
        let (path, offset) = with_tail(dir.path(), &[4, 3], false, 20);
        let r = recover(&path, Recovery::Trim).unwrap();
        assert_eq!((r.shape, r.rows_adopted, r.bytes_trimmed), (vec![4, 3], 0, 20));
        assert_eq!(shape_of(&path), (vec![4, 3], offset + 24));
    }

    #[test]
    fn refuses_what_it_cannot_repair_and_leaves_the_file_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        // a 0-d array has no rows to adopt
        let (path, _) = with_tail(dir.path(), &[], false, 4);
        let before = std::fs::read(&path).unwrap();
        let e = recover(&path, Recovery::Adopt).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e.to_string().contains("4 bytes past its shape ()"), "{e}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
        // data missing: the header claims more than the file holds
        let (short, offset) = with_tail(dir.path(), &[4, 3], false, 0);
        std::fs::OpenOptions::new().write(true).open(&short).unwrap().set_len(offset + 10).unwrap();
        let e = recover(&short, Recovery::Trim).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::FileTooSmall);
        assert!(e.to_string().contains(&format!("holds {} bytes, and its header's shape (4, 3) needs {}", offset + 10, offset + 24)), "{e}");
        // a header without growth room (written by hand at the tightest
        // length: no spaces to grow in) cannot name more rows in its own
        // bytes: the file is rewritten with a padded header, the data moved
        let tight = dir.path().join("tight.npy");
        let h = NpyHeader { dtype: DType::native(ScalarKind::I16), fortran_order: false, shape: vec![4, 3] };
        let len = (0..).find(|&len| h.encode_in(npy::NpyVersion::V1, len).is_some()).unwrap();
        let mut bytes = h.encode_in(npy::NpyVersion::V1, len).unwrap();
        let data: Vec<u8> = (0..24 + 600).map(|i| (i % 251) as u8).collect();
        bytes.extend(&data);
        bytes.extend([7u8; 5]); // (and part of a row)
        std::fs::write(&tight, &bytes).unwrap();
        std::fs::copy(&tight, dir.path().join("tight2.npy")).unwrap();
        // (a copy a killed repair left, of a process that no longer exists)
        let name = crate::storage::temporary_name(&tight, "").file_name().unwrap().to_str().unwrap().to_string();
        let stale = dir.path().join(name.replace(&format!("-{}-", std::process::id()), "-2147483000-"));
        std::fs::write(&stale, b"partial copy").unwrap();
        let r = recover(&tight, Recovery::Adopt).unwrap();
        assert_eq!((r.shape.clone(), r.rows_adopted, r.bytes_trimmed), (vec![104, 3], 100, 5));
        let note = r.header_rewritten.unwrap();
        assert!(note.contains(&format!("its {len}-byte header had no room for the shape (104, 3): rewritten with NumPy's growth padding (128 bytes), the 624 bytes of data moved")), "{note}");
        assert_eq!(shape_of(&tight), (vec![104, 3], 128 + 624));
        assert_eq!(std::fs::read(&tight).unwrap()[128..], data[..]);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 4, "no copy left behind");
        assert!(!stale.exists());
        // trimming never moves it
        let r = recover(dir.path().join("tight2.npy"), Recovery::Trim).unwrap();
        assert_eq!((r.bytes_trimmed, r.header_rewritten), (605, None));
        // another writer holds the lock
        let (locked, _) = with_tail(dir.path(), &[4, 3], false, 6);
        // SAFETY: the file is private to the test.
        let a = unsafe { crate::MmapArray::open_npy(&locked, Mode::ReadWrite).unwrap() };
        let lock = a.lock_exclusive().unwrap();
        assert_eq!(recover(&locked, Recovery::Adopt).unwrap_err().kind(), ErrorKind::InUse);
        drop(lock);
        assert_eq!(recover(&locked, Recovery::Adopt).unwrap().rows_adopted, 1);
    }
}
