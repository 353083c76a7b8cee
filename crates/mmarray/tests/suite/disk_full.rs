//! A full disk is a clear error at creation, never a SIGBUS later, and
//! leaves no half-made file behind.

use crate::common;

use common::{file_hash, NpyPrivate, RawPrivate};
use std::path::{Path, PathBuf};
use std::process::Command;

use mmarray::{DType, ErrorKind, Mode, NpyOptions, RawOptions, ScalarKind};

fn f64s() -> DType {
    DType::native(ScalarKind::F64)
}

/// A 1 MiB tmpfs, unmounted on drop. `None` where mounting is not allowed.
struct SmallFs {
    dir: tempfile::TempDir,
}

impl SmallFs {
    fn mount() -> Option<Self> {
        let dir = tempfile::tempdir().ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(dir.path())
            .output()
            .is_ok_and(|o| o.status.success());
        ok.then_some(Self { dir })
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn assert_no_space(e: &mmarray::Error, path: &Path) {
    assert_eq!(e.kind(), ErrorKind::NoSpace, "{e}");
    let msg = e.to_string();
    assert!(msg.contains(&format!("not enough space on {}: need ", path.display())), "{msg}");
}

#[test]
fn full_disk_fails_at_creation_and_leaves_nothing() {
    let Some(fs) = SmallFs::mount() else {
        assert!(!rustix::process::geteuid().is_root(), "root could not mount a tmpfs");
        eprintln!("skipped: mounting a small tmpfs needs root; file_size_limit covers the same path");
        return;
    };
    // .npy creation: 8 MB on a 1 MiB file system.
    let p = fs.path("big.npy");
    let e = NpyOptions::new(f64s(), &[1_000_000]).create_private(&p).unwrap_err();
    assert_no_space(&e, &p);
    assert!(e.to_string().contains("need 8000128 bytes"), "{e}");
    assert!(!p.exists(), "a half-made file was left behind");

    // raw w+ creation
    let p = fs.path("big.f8");
    let e = RawOptions::new(f64s()).mode(Mode::Write).shape(&[1_000_000]).open_private(&p).unwrap_err();
    assert_no_space(&e, &p);
    assert!(!p.exists());

    // w+ over an existing file: refused before it is truncated
    let keep = fs.path("keep.f8");
    std::fs::write(&keep, vec![7u8; 4096]).unwrap();
    let before = file_hash(&keep);
    let e = RawOptions::new(f64s()).mode(Mode::Write).shape(&[1_000_000]).open_private(&keep).unwrap_err();
    assert_no_space(&e, &keep);
    assert_eq!(file_hash(&keep), before, "the existing file was damaged");

    // r+ growth past the free space: fallocate's ENOSPC, file unchanged
    let e = RawOptions::new(f64s()).mode(Mode::ReadWrite).shape(&[1_000_000]).open_private(&keep).unwrap_err();
    assert_no_space(&e, &keep);
    assert_eq!(file_hash(&keep), before, "the failed growth changed the file");

    // What fits, works, and is really allocated (not sparse).
    let ok = fs.path("ok.npy");
    let mut a = NpyOptions::new(f64s(), &[60_000]).create_private(&ok).unwrap();
    assert_eq!(a.preallocation(), mmarray::Preallocation::Reserved);
    a.view_mut::<f64>().unwrap().fill(1.0);
    a.close().unwrap();
    // The space is taken: a second file of the same size no longer fits.
    let e = NpyOptions::new(f64s(), &[80_000]).create_private(fs.path("second.npy")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NoSpace);
}

const CHILD: &str = "MMARRAY_FSIZE_CHILD_DIR";

/// Runs in a child process whose file-size limit is 1 MiB (see
/// `file_size_limit`); does nothing when run directly.
#[test]
fn fsize_child() {
    let Some(dir) = std::env::var_os(CHILD) else { return };
    let p = Path::new(&dir).join("big.npy");
    let e = NpyOptions::new(f64s(), &[1_000_000]).create_private(&p).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NoSpace, "{e}");
    assert!(e.to_string().contains("file size limit"), "{e}");
    assert!(!p.exists());
    let small = Path::new(&dir).join("small.npy");
    NpyOptions::new(f64s(), &[1000]).create_private(&small).unwrap().close().unwrap();
    println!("CHILD-OK");
}

#[test]
fn file_size_limit() {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "disk_full::fsize_child", "--nocapture", "--test-threads=1"]).env(CHILD, dir.path());
    // SAFETY: the closure runs in the forked child before exec and only
    // calls setrlimit, a single async-signal-safe system call.
    unsafe {
        cmd.pre_exec(|| {
            let lim = rustix::process::Rlimit { current: Some(1 << 20), maximum: Some(1 << 20) };
            rustix::process::setrlimit(rustix::process::Resource::Fsize, lim).map_err(std::io::Error::from)
        });
    }
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && text.contains("CHILD-OK"), "{text}");
    assert!(dir.path().join("small.npy").exists());
    assert!(!dir.path().join("big.npy").exists());
}
