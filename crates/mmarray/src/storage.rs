//! Reserving disk space for real, so a full disk is an error at creation
//! instead of a `SIGBUS` on some later write through the mapping.
//!
//! `ftruncate` alone (what `numpy.memmap` does by seeking and writing one
//! byte) leaves a sparse file: the blocks are only allocated when a page is
//! first written back, and if the disk is full then, the writing process is
//! killed by `SIGBUS`. We call `fallocate(2)` instead, which allocates the
//! blocks or fails with `ENOSPC` at once. On file systems that cannot
//! allocate (`EOPNOTSUPP`, e.g. some network file systems) we fall back to
//! extending the file with `ftruncate`, which is sparse; [`Preallocation`]
//! reports which happened.

use std::fs::File;
use std::path::{Path, PathBuf};

use rustix::fs::{FallocateFlags, FlockOperation};
use rustix::io::Errno;

use crate::error::{Error, ErrorKind, Result};

/// Whether the space of a created or grown file was really reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preallocation {
    /// Nothing had to be allocated (the file was already long enough).
    NotNeeded,
    /// The blocks were allocated with `fallocate(2)`.
    Reserved,
    /// The file system cannot allocate; the file was extended sparsely.
    Sparse,
}

/// Extends `file` to at least `len` bytes, allocating every block from its
/// current end. The file's existing bytes are never changed.
///
/// # Errors
/// [`ErrorKind::NoSpace`] ("not enough space on PATH: need N bytes ...") if
/// the disk or the process's file-size limit cannot hold `len` bytes; the
/// file keeps its old length.
pub(crate) fn reserve(file: &File, path: &Path, len: u64) -> Result<Preallocation> {
    let current = file.metadata().map_err(|e| Error::io(path, "cannot stat", e))?.len();
    if current >= len {
        return Ok(Preallocation::NotNeeded);
    }
    check_fsize_limit(path, len)?;
    loop {
        match rustix::fs::fallocate(file, FallocateFlags::empty(), current, len - current) {
            Ok(()) => return Ok(Preallocation::Reserved),
            Err(Errno::INTR) => {}
            Err(Errno::NOSPC | Errno::FBIG | Errno::DQUOT) => {
                // A failed fallocate may leave blocks allocated past the end
                // of the file; give them back.
                let _ = file.set_len(current);
                return Err(no_space(path, len, available_bytes(file)));
            }
            Err(Errno::OPNOTSUPP | Errno::NOSYS) => {
                file.set_len(len).map_err(|e| Error::io(path, "cannot extend the file", e))?;
                return Ok(Preallocation::Sparse);
            }
            Err(e) => {
                return Err(Error::io(path, "cannot reserve space", std::io::Error::from(e)));
            }
        }
    }
}

/// Fails early if a file of `len` bytes cannot fit in what the file system
/// has free plus what `file` already occupies, before anything is changed.
///
/// # Errors
/// [`ErrorKind::NoSpace`] naming the path and both sizes.
pub(crate) fn check_space(file: &File, path: &Path, len: u64) -> Result<()> {
    check_fsize_limit(path, len)?;
    let occupied = rustix::fs::fstat(file).map_or(0, |st| u64::try_from(st.st_blocks).unwrap_or(0) * 512);
    if let Some(free) = available_bytes(file) {
        if len > free.saturating_add(occupied) {
            return Err(no_space(path, len, Some(free.saturating_add(occupied))));
        }
    }
    Ok(())
}

fn check_fsize_limit(path: &Path, len: u64) -> Result<()> {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Fsize);
    match limit.current {
        Some(max) if len > max => Err(Error::at(
            ErrorKind::NoSpace,
            path,
            format_args!("not enough space: need {len} bytes, the process's file size limit (RLIMIT_FSIZE) is {max} bytes"),
        )),
        _ => Ok(()),
    }
}

/// The bytes available to this process on the file system holding `file`.
pub(crate) fn available_bytes(file: impl std::os::fd::AsFd) -> Option<u64> {
    rustix::fs::fstatvfs(file).ok().map(|s| s.f_bavail.saturating_mul(s.f_frsize))
}

fn no_space(path: &Path, len: u64, free: Option<u64>) -> Error {
    let free = free.map_or_else(String::new, |f| format!(", {f} available"));
    Error::new(ErrorKind::NoSpace, format!("not enough space on {}: need {len} bytes{free}", path.display()))
        .with_path(path)
}

/// Creates the file at `path` (or, unless `exclusive`, overwrites it) with
/// exactly `len` bytes of reserved, zeroed space. An existing file is only
/// truncated once the space check has passed; a file this call created is
/// removed again if it fails, so no half-made file is left behind.
///
/// # Errors
/// [`ErrorKind::NoSpace`] if the space cannot be had; the I/O error kinds if
/// the file cannot be created (missing directory, permissions, a directory
/// at `path`, or, when `exclusive`, an existing file).
pub(crate) fn create_sized(path: &Path, len: u64, exclusive: bool) -> Result<(File, Preallocation)> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    // O_NONBLOCK: opening a FIFO for writing would wait for a reader
    // forever; it fails at once instead (and the check below refuses it).
    opts.read(true).write(true).custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
    let (file, created) = match opts.clone().create_new(true).open(path) {
        Ok(f) => (f, true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && !exclusive => {
            if path.is_dir() {
                // as open(2) for writing reports it (Python: IsADirectoryError)
                let eisdir = std::io::Error::from_raw_os_error(Errno::ISDIR.raw_os_error());
                return Err(Error::io(path, "is a directory, not a file", eisdir));
            }
            let file = opts.open(path).map_err(|e| Error::io(path, "cannot open for writing", e))?;
            if !file.metadata().is_ok_and(|m| m.is_file()) {
                return Err(Error::at(ErrorKind::NotAFile, path, "is not a regular file"));
            }
            (file, false)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(Error::at(ErrorKind::AlreadyExists, path, "already exists (refusing to overwrite it)"))
        }
        Err(e) => return Err(Error::io(path, "cannot create", e)),
    };
    let result = lock_exclusive(&file, path)
        .and_then(|()| check_space(&file, path, len))
        .and_then(|()| file.set_len(0).map_err(|e| Error::io(path, "cannot truncate", e)))
        .and_then(|()| reserve(&file, path, len));
    let result = result.and_then(|p| blocking(&file, path).map(|()| p));
    match result {
        Ok(p) => {
            lock_shared(&file);
            Ok((file, p))
        }
        Err(e) => {
            if created {
                drop(file);
                let _ = std::fs::remove_file(path);
            }
            Err(e)
        }
    }
}

/// Clears the `O_NONBLOCK` a file was opened with (so that opening a FIFO
/// could not hang); regular files ignore it, but it should not linger.
///
/// # Errors
/// [`ErrorKind::Io`] if the flags cannot be read or set.
pub(crate) fn blocking(file: &File, path: &Path) -> Result<()> {
    let flags = rustix::fs::fcntl_getfl(file).map_err(|e| Error::io(path, "cannot read the file flags", e.into()))?;
    rustix::fs::fcntl_setfl(file, flags - rustix::fs::OFlags::NONBLOCK)
        .map_err(|e| Error::io(path, "cannot set the file flags", e.into()))
}

/// Takes a shared advisory lock (`flock`) on a file being mapped. Every
/// mmarray mapping holds one, so an overwrite (which needs the exclusive
/// lock) cannot truncate a file that some mmarray array still maps, which
/// would kill that process with `SIGBUS` on its next access. Other programs
/// (NumPy included) do not take these locks; the protection is between
/// mmarray users only. File systems without `flock` are not protected.
pub(crate) fn lock_shared(file: &File) {
    let _ = rustix::fs::flock(file, FlockOperation::NonBlockingLockShared);
}

/// Takes the exclusive lock before truncating `file`.
///
/// # Errors
/// [`ErrorKind::InUse`] if another mmarray array maps the file.
pub(crate) fn lock_exclusive(file: &File, path: &Path) -> Result<()> {
    match rustix::fs::flock(file, FlockOperation::NonBlockingLockExclusive) {
        Err(Errno::WOULDBLOCK) => Err(Error::at(
            ErrorKind::InUse,
            path,
            "is mapped by another array (in this or another process); overwriting it now would \
             crash that process on its next access: close it first",
        )),
        _ => Ok(()),
    }
}

/// A new file made for `target` that has no name there yet: an unnamed
/// `O_TMPFILE` in the target's directory, or (where the file system has no
/// `O_TMPFILE`) a hidden temporary name beside it, removed on drop. Either
/// way nothing appears at `target` until [`Unnamed::publish`], so a failure
/// or a kill leaves no partial output and never touches an existing file of
/// that name.
#[derive(Debug)]
pub(crate) struct Unnamed {
    target: PathBuf,
    /// The hidden temporary name, where `O_TMPFILE` was not available.
    hidden: Option<PathBuf>,
}

fn parent_dir(target: &Path) -> &Path {
    match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A fresh hidden name beside `target`: `.NAME.mmarray-PID-N.tmp`.
fn hidden_name(target: &Path) -> PathBuf {
    temporary_name(target, "")
}

/// A hidden name beside `target` for a file being made to replace it or
/// take its name, `.NAME.mmarray-PID-N-WHERE.tmp` followed by `suffix` (say
/// `".png"`, for writers that pick a format by the extension): unique in
/// this process, and removed by the next [`remove_stale_temporaries`] for
/// `target` if this process dies before renaming it. `WHERE` tells which
/// machine and PID namespace the PID belongs to (a container sharing the
/// directory numbers its processes itself).
///
/// ```
/// let t = mmarray::temporary_name(std::path::Path::new("out/plot.png"), ".png");
/// let name = t.file_name().unwrap().to_str().unwrap();
/// assert!(t.starts_with("out") && name.starts_with(".plot.png.mmarray-") && name.ends_with(".tmp.png"));
/// ```
pub fn temporary_name(target: &Path, suffix: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = target.file_name().map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    parent_dir(target).join(format!(".{name}.mmarray-{}-{n}-{:08x}.tmp{suffix}", std::process::id(), pid_space()))
}

/// A tag of this machine and PID namespace (FNV-1a of the host name and
/// the namespace's identity): PIDs of temporaries are only compared within it.
fn pid_space() -> u32 {
    let host = std::fs::read("/proc/sys/kernel/hostname").unwrap_or_default();
    let ns = std::fs::read_link("/proc/self/ns/pid").map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
    let mut h: u32 = 0x811c_9dc5;
    for b in host.iter().chain(b"/").chain(ns.as_bytes()) {
        h = (h ^ u32::from(*b)).wrapping_mul(0x0100_0193);
    }
    h
}

/// Removes the hidden temporary files for `target` ([`temporary_name`]:
/// `.NAME.mmarray-PID-N-WHERE.tmp`, with or without one more extension) left by
/// processes that died before renaming them (in the two-system-call window
/// between naming a replacement and renaming it, where the file system has
/// no `O_TMPFILE` while making it, or while drawing a picture): only those
/// whose process, on this machine and in this PID namespace, is gone;
/// never another live writer's, nor those of other machines or containers.
pub fn remove_stale_temporaries(target: &Path) {
    let Some(name) = target.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return;
    };
    let prefix = format!(".{name}.mmarray-");
    let Ok(entries) = std::fs::read_dir(parent_dir(target)) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some((id, tail)) = file.strip_prefix(&prefix).and_then(|r| r.split_once(".tmp")) else {
            continue;
        };
        if !(tail.is_empty() || tail.starts_with('.') && !tail[1..].contains('.')) {
            continue;
        }
        // PID-N-WHERE: only this machine's and PID namespace's PIDs mean
        // anything here (another's live writer is left alone)
        let mut parts = id.split('-');
        let (pid, _, place) = (parts.next(), parts.next(), parts.next());
        if place.and_then(|w| u32::from_str_radix(w, 16).ok()) != Some(pid_space()) || parts.next().is_some() {
            continue;
        }
        let pid = pid.and_then(|p| p.parse::<i32>().ok()).and_then(rustix::process::Pid::from_raw);
        // (kill(pid, 0) fails with ESRCH when no such process exists)
        if let Some(pid) = pid {
            if rustix::process::test_kill_process(pid) == Err(Errno::SRCH) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// Creates a file of exactly `len` reserved, zeroed bytes for `target`
/// without giving it that name (see [`Unnamed`]).
///
/// # Errors
/// [`ErrorKind::NoSpace`] if the space cannot be had; the I/O kinds if the
/// directory cannot hold a new file (missing, not writable).
pub(crate) fn create_unnamed(target: &Path, len: u64) -> Result<(File, Preallocation, Unnamed)> {
    use rustix::fs::{Mode, OFlags};
    let dir = parent_dir(target);
    remove_stale_temporaries(target);
    let unnamed = rustix::fs::open(dir, OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC, Mode::from_raw_mode(0o666));
    let (file, hidden) = match unnamed {
        Ok(fd) => (File::from(fd), None),
        // no O_TMPFILE on this file system (or kernel): a hidden name
        Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL | Errno::NOSYS) => {
            let h = hidden_name(target);
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&h)
                .map_err(|e| Error::io(target, "cannot create a temporary file beside it", e))?;
            (f, Some(h))
        }
        Err(e) => return Err(Error::io(target, "cannot create", e.into())),
    };
    let made = Unnamed { target: target.to_path_buf(), hidden };
    // (on error, `made` drops and removes a hidden file)
    let pre = check_space(&file, target, len).and_then(|()| reserve(&file, target, len))?;
    lock_shared(&file);
    Ok((file, pre, made))
}

impl Unnamed {
    /// Makes the data durable (`fsync`), then gives the file its name: with
    /// `replace`, atomically in place of any existing file (`rename`);
    /// without, only if the name is free (`link`, which fails rather than
    /// overwrite). Then syncs the directory, so the name survives a power
    /// cut too.
    ///
    /// # Errors
    /// [`ErrorKind::AlreadyExists`] without `replace` if `target` exists
    /// (left as it was); the I/O kinds if a step fails (the new file is
    /// then dropped, and `target` is untouched).
    pub(crate) fn publish(&mut self, file: &File, replace: bool) -> Result<()> {
        use std::os::fd::AsFd;
        let target = self.target.clone();
        file.sync_all().map_err(|e| Error::io(&target, "fsync failed", e))?;
        let exists = |e: std::io::Error| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Error::at(ErrorKind::AlreadyExists, &target, "already exists (refusing to overwrite it)")
            } else {
                Error::io(&target, "cannot give the new file its name", e)
            }
        };
        // An unnamed file first gets a name: the target itself (`link`
        // fails if it exists), or a hidden one to rename over it.
        if self.hidden.is_none() {
            let name = if replace { hidden_name(&target) } else { target.clone() };
            let cwd = rustix::fs::CWD;
            let linked = rustix::fs::linkat(file.as_fd(), "", cwd, &name, rustix::fs::AtFlags::EMPTY_PATH).or_else(|_| {
                // AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; /proc does not
                let proc = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(file));
                rustix::fs::linkat(cwd, proc.as_str(), cwd, &name, rustix::fs::AtFlags::SYMLINK_FOLLOW)
            });
            linked.map_err(|e| exists(e.into()))?;
            if !replace {
                return sync_dir(&target);
            }
            self.hidden = Some(name);
        }
        let hidden = self.hidden.clone().unwrap_or_default();
        if replace {
            // the replacement keeps the old file's permissions (a new inode
            // would otherwise take the process's default mode)
            if let Ok(old) = std::fs::metadata(&target) {
                let _ = file.set_permissions(old.permissions());
            }
            std::fs::rename(&hidden, &target).map_err(|e| Error::io(&target, "cannot replace it", e))?;
        } else {
            std::fs::hard_link(&hidden, &target).map_err(exists)?;
            let _ = std::fs::remove_file(&hidden);
        }
        self.hidden = None;
        sync_dir(&target)
    }
}

/// Makes a new file at `target` whole or not at all: `len` bytes of
/// reserved zeros that begin with `head`, made durable, then named (in
/// place of an existing regular file with `replace`, atomically; else only
/// if the name is free). What [`NpyOptions::create_pending`](crate::NpyOptions::create_pending)
/// and [`MmapArray::persist`](crate::MmapArray::persist) do for arrays, for files whose layout the
/// crate does not describe (a `.npy` header NumPy wrote, for a dtype the
/// crate cannot view): a kill at any instant leaves the old file or the
/// whole new one, never a file of zeros without its header.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let p = dir.path().join("a.bin");
/// mmarray::create_file(&p, 4096, b"HEAD", false)?;
/// let bytes = std::fs::read(&p)?;
/// assert_eq!((bytes.len(), &bytes[..4], bytes[4]), (4096, &b"HEAD"[..], 0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`ErrorKind::InvalidArgument`] if `head` is longer than `len`;
/// [`ErrorKind::NotAFile`] if `target` is a directory, a link or another
/// non-regular file; [`ErrorKind::AlreadyExists`] without `replace`;
/// [`ErrorKind::NoSpace`] and the I/O kinds as [`NpyOptions::create_pending`](crate::NpyOptions::create_pending).
pub fn create_file(target: &Path, len: u64, head: &[u8], replace: bool) -> Result<()> {
    let (file, mut unnamed) = unnamed_with_head(target, len, head)?;
    unnamed.publish(&file, replace)
}

/// [`create_file`]'s file before it is named: `len` reserved bytes that
/// begin with `head`, not yet durable, which the caller publishes (after
/// taking a lock on it, say, that nobody can then take first).
///
/// # Errors
/// As [`create_file`], but for [`ErrorKind::AlreadyExists`].
pub(crate) fn unnamed_with_head(target: &Path, len: u64, head: &[u8]) -> Result<(File, Unnamed)> {
    use std::os::unix::fs::FileExt;
    if head.len() as u64 > len {
        return Err(Error::at(ErrorKind::InvalidArgument, target, format_args!("a head of {} bytes does not fit in {len} bytes", head.len())));
    }
    refuse_non_regular(target)?;
    let (file, _, unnamed) = create_unnamed(target, len)?;
    file.write_all_at(head, 0).map_err(|e| Error::io(target, "cannot write", e))?;
    Ok((file, unnamed))
}

/// Gives a file made under a [`temporary_name`] of `target` its final name,
/// whole or not at all: makes it durable (`fsync`), then renames it (with
/// `replace`, atomically in place of an existing regular file, keeping that
/// file's permissions; without, only if the name is free) and syncs the
/// directory. For files that other processes fill between their creation
/// ([`create_file`] under the temporary name) and their naming: a dask
/// store writing one `.npy` from many workers.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let p = dir.path().join("a.bin");
/// let t = mmarray::temporary_name(&p, "");
/// mmarray::create_file(&t, 8, b"DATA", false)?;
/// mmarray::publish_file(&t, &p, false)?;
/// assert_eq!(std::fs::read(&p)?, b"DATA\0\0\0\0");
/// assert!(!t.exists());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`ErrorKind::NotAFile`] if `temporary` is not a regular file, or if
/// `target` is a directory, a link or another non-regular file;
/// [`ErrorKind::AlreadyExists`] without `replace` if `target` exists; the
/// I/O kinds if a step fails. On every error `temporary` is removed and
/// `target` is left as it was.
pub fn publish_file(temporary: &Path, target: &Path, replace: bool) -> Result<()> {
    // (dropped on error: removes the temporary)
    let mut made = Unnamed { target: target.to_path_buf(), hidden: Some(temporary.to_path_buf()) };
    match std::fs::symlink_metadata(temporary) {
        Ok(meta) if meta.is_file() => {}
        Ok(_) => {
            made.hidden = None; // (not ours to remove)
            return Err(Error::at(ErrorKind::NotAFile, temporary, "is not a regular file"));
        }
        Err(e) => return Err(Error::io(temporary, "cannot stat", e)),
    }
    refuse_non_regular(target)?;
    let file = File::open(temporary).map_err(|e| Error::io(temporary, "cannot open", e))?;
    made.publish(&file, replace)
}

/// [`ErrorKind::NotAFile`] if `target` exists and is not a regular file:
/// a directory, link or device is never replaced by a new file.
fn refuse_non_regular(target: &Path) -> Result<()> {
    match std::fs::symlink_metadata(target) {
        Ok(meta) if !meta.is_file() => {
            Err(Error::at(ErrorKind::NotAFile, target, "is not a regular file (a directory, link or device is never replaced)"))
        }
        _ => Ok(()),
    }
}

impl Drop for Unnamed {
    fn drop(&mut self) {
        if let Some(h) = self.hidden.take() {
            let _ = std::fs::remove_file(h);
        }
    }
}

/// `fsync` of the directory holding `target`, so a new name in it is durable.
fn sync_dir(target: &Path) -> Result<()> {
    let dir = File::open(parent_dir(target)).map_err(|e| Error::io(target, "cannot open its directory", e))?;
    dir.sync_all().map_err(|e| Error::io(target, "fsync of its directory failed", e))
}

/// An exclusive advisory lock on a whole file, for writers that coordinate
/// (see [`MmapArray::lock_exclusive`](crate::MmapArray::lock_exclusive)):
/// an open-file-description lock (`fcntl(F_OFD_SETLKW)`), which every other
/// handle conflicts with, in this process or another, and which does not
/// interfere with the shared `flock` every mapping holds. Released when
/// dropped (or when the process ends, however it ends).
#[derive(Debug)]
pub struct WriteLock {
    /// A new open file description of the array's file, its own for each
    /// lock: OFD locks conflict between descriptions, so two locks taken
    /// through one array (by two threads, or a parent and its `fork`ed
    /// child) exclude each other as locks of two arrays do. (A `dup` of the
    /// array's descriptor would share its description, and a description
    /// never conflicts with itself.)
    fd: std::os::fd::OwnedFd,
}

fn ofd_lock(fd: std::os::fd::BorrowedFd<'_>, kind: libc::c_short, wait: bool) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: a zeroed flock is valid; l_start = l_len = 0 is the whole file.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    let cmd = if wait { libc::F_OFD_SETLKW } else { libc::F_OFD_SETLK };
    loop {
        // SAFETY: fcntl with a valid descriptor and a pointer to a live flock.
        if unsafe { libc::fcntl(fd.as_raw_fd(), cmd, &mut fl) } == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Takes the [`WriteLock`] of `file`, waiting for it if `wait`; `None` if
/// another handle holds it and not `wait`.
pub(crate) fn lock_write(file: &File, path: &Path, wait: bool) -> Result<Option<WriteLock>> {
    use std::os::fd::{AsFd, AsRawFd};
    // Reopened through /proc/self/fd: the same file even if its name has
    // been replaced or removed meanwhile, with the array's access (a write
    // lock needs a description open for writing).
    let writable = rustix::fs::fcntl_getfl(file).is_ok_and(|f| f.contains(rustix::fs::OFlags::RDWR) || f.contains(rustix::fs::OFlags::WRONLY));
    let proc_path = format!("/proc/self/fd/{}", file.as_raw_fd());
    let fd: std::os::fd::OwnedFd = match std::fs::OpenOptions::new().read(true).write(writable).open(&proc_path) {
        Ok(f) => f.into(),
        // no /proc: a duplicate (locks through one array then share it)
        Err(_) => file.as_fd().try_clone_to_owned().map_err(|e| Error::io(path, "cannot duplicate the descriptor", e))?,
    };
    match ofd_lock(fd.as_fd(), libc::F_WRLCK as libc::c_short, wait) {
        Ok(()) => Ok(Some(WriteLock { fd })),
        Err(e) if !wait && matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EACCES)) => Ok(None),
        Err(e) => Err(Error::io(path, "cannot lock", e)),
    }
}

/// The processes holding a lock on `file` that keeps a [`WriteLock`] out
/// (an open-file-description or POSIX lock, read or write), as `/proc`
/// shows them, each with whether its lock is a write lock. An
/// open-file-description lock has no owner pid (`/proc/locks` says `-1`),
/// so each process's `fdinfo` is searched for the lock: a read of every
/// descriptor's entry of every process. Empty where `/proc` is missing or
/// the holder's entries are not readable (another user's process). For
/// error messages only: the answer may be stale by the time it is read.
fn lock_holders(file: &File) -> Vec<(u32, bool)> {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = file.metadata() else { return Vec::new() };
    let dev = meta.dev();
    // /proc/locks's "MAJOR:MINOR:INODE" (fs/locks.c: "%02x:%02x:%lu")
    let id = format!(" {:02x}:{:02x}:{} ", libc::major(dev), libc::minor(dev), meta.ino());
    let mut holders = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else { return holders };
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(fds) = std::fs::read_dir(p.path().join("fdinfo")) else { continue };
        // (fs/locks.c: "lock:\t1: OFDLCK  ADVISORY  WRITE -1 08:01:1234 0 EOF";
        // FLOCK locks do not conflict with these)
        let mut kind = None;
        for fd in fds.flatten() {
            let Ok(info) = std::fs::read_to_string(fd.path()) else { continue };
            for l in info.lines().filter(|l| l.starts_with("lock:") && l.contains(&id) && !l.contains(" FLOCK ")) {
                let write = l.contains(" WRITE ");
                if write || l.contains(" READ ") {
                    kind = Some(kind.unwrap_or(false) | write);
                }
            }
        }
        if let Some(write) = kind {
            holders.push((pid, write));
        }
    }
    holders
}

/// The file's [`WriteLock`], taken without waiting, or [`ErrorKind::InUse`]
/// naming its holder (for appenders and `recover`: one writer at a time).
///
/// The holder is looked up after the attempt failed, so it may have let go
/// meanwhile: then the lock is tried again (and taken, if free) rather than
/// the error naming nobody. A holder that `/proc` does not show (another
/// user's process) is "another handle" after [`HOLDER_TRIES`] lookups, or
/// after [`HOLDER_BUDGET`] where a lookup is slow.
pub(crate) fn lock_write_or_in_use(file: &File, path: &Path) -> Result<WriteLock> {
    let began = std::time::Instant::now();
    for _ in 0..HOLDER_TRIES {
        if let Some(lock) = lock_write(file, path, false)? {
            return Ok(lock);
        }
        let who = lock_holders(file);
        if !who.is_empty() {
            return Err(in_use(path, &who));
        }
        if began.elapsed() > HOLDER_BUDGET {
            break;
        }
    }
    Err(in_use(path, &[]))
}

/// How many times [`lock_write_or_in_use`] looks for a holder it cannot
/// see before it calls it "another handle": a holder that lets go and
/// takes the lock again at once (an appender opened and closed in a loop)
/// is seen by one of them. Each look reads every process's descriptors in
/// `/proc`, about 0.6 ms on an idle machine.
const HOLDER_TRIES: usize = 20;

/// The time [`lock_write_or_in_use`] spends on [`HOLDER_TRIES`] at most
/// (after which it stops at the end of a look): where processes hold many
/// descriptors one look takes a second or more (1.5 s with 200,000 open,
/// measured), and a refusal must not wait 20 of them.
const HOLDER_BUDGET: std::time::Duration = std::time::Duration::from_millis(50);

/// The [`ErrorKind::InUse`] error of a file whose lock `holders` have
/// (none: a holder `/proc` does not show).
fn in_use(path: &Path, holders: &[(u32, bool)]) -> Error {
    // (the writers if there are any, else the readers)
    let writers = holders.iter().any(|h| h.1);
    let pids: Vec<String> = holders.iter().filter(|h| h.1 == writers).map(|h| h.0.to_string()).collect();
    let who = match pids.as_slice() {
        [] => "another handle holds".to_string(),
        [one] => format!("process {one} holds"),
        many => format!("processes {} hold", many.join(", ")),
    };
    let message = if writers || pids.is_empty() {
        format!("is being written: {who} its write lock (one writer at a time; readers need no lock)")
    } else {
        format!("is locked: {who} a read lock on it, which keeps writers out")
    };
    Error::at(ErrorKind::InUse, path, message)
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        use std::os::fd::AsFd;
        let _ = ofd_lock(self.fd.as_fd(), libc::F_UNLCK as libc::c_short, false);
    }
}
