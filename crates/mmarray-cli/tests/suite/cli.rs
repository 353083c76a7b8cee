//! The `mmarray` binary: info, create, convert, and their error paths.

use crate::common;

use std::io::Write;
use std::path::Path;
use std::process::Command as StdCommand;

use assert_cmd::Command;
use serde_json::Value;

fn mmarray() -> Command {
    Command::cargo_bin("mmarray").unwrap()
}

fn info_json(path: &Path, extra: &[&str]) -> Value {
    let out = mmarray().arg("info").arg("--json").arg(path).args(extra).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Runs the binary, expects failure with `code` and a single `error: ...`
/// line on stderr containing `needle`.
fn expect_failure(args: &[&str], code: i32, needle: &str) {
    let out = mmarray().args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: expected {needle:?} in {err}");
    if code == 1 {
        assert!(err.starts_with("error: ") && err.trim_end().lines().count() == 1, "{err}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn info_json_matches_numpy_for_every_dtype_order_and_version() {
    let dir = tempfile::tempdir().unwrap();
    common::numpy_helper("gen", dir.path());
    let manifest: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("manifest.json")).unwrap()).unwrap();
    let mut checked = 0;
    for e in &manifest {
        let path = dir.path().join(e["name"].as_str().unwrap());
        let order = if e["fortran"].as_bool().unwrap() { "F" } else { "C" };
        let shape: Vec<String> = e["shape"].as_array().unwrap().iter().map(ToString::to_string).collect();
        let offset = e["offset"].to_string();
        let raw_flags = ["--dtype", e["descr"].as_str().unwrap(), "--shape", &shape.join(","), "--offset", &offset, "--order", order];
        let j = if e["kind"] == "npy" { info_json(&path, &[]) } else { info_json(&path, &raw_flags) };
        assert_eq!(j["dtype"], e["descr"], "{e}");
        assert_eq!(j["shape"], e["shape"], "{e}");
        if e["shape"].as_array().unwrap().len() > 1 {
            assert_eq!(j["order"], order, "{e}");
        }
        assert_eq!(j["offset"], e["offset"], "{e}");
        assert_eq!(j["version"], e["version"], "{e}");
        checked += 1;
    }
    assert_eq!(checked, manifest.len());
}

#[test]
fn info_reports_bytes_past_the_headers_shape() {
    // What an interrupted append leaves: rows written past the shape the
    // header still gives. C order grows the first axis, Fortran order the
    // last; a raw file's rest is not the array's, so nothing is said.
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[&str], u64, u64, &str); 4] = [
        ("c.npy", &["--shape", "4,3", "--dtype", "<f4"], 29, 2, "2 whole rows of 12 bytes and 5 bytes more"),
        ("f.npy", &["--shape", "4,3", "--dtype", "<f8", "--order", "F"], 32, 1, "1 whole row of 32 bytes and 0 bytes more"),
        ("one.npy", &["--shape", "5", "--dtype", "<i2"], 3, 1, "1 whole row of 2 bytes and 1 bytes more"),
        ("clean.npy", &["--shape", "5", "--dtype", "<i2"], 0, 0, ""),
    ];
    for (name, flags, extra, rows, text) in cases {
        let path = dir.path().join(name);
        mmarray().arg("create").arg(&path).args(flags).assert().success();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend(std::iter::repeat_n(7u8, extra as usize));
        std::fs::write(&path, &bytes).unwrap();
        let j = info_json(&path, &[]);
        assert_eq!((j["trailing_bytes"].as_u64(), j["trailing_rows"].as_u64()), (Some(extra), Some(rows)), "{name}");
        let out = mmarray().arg("info").arg(&path).output().unwrap();
        let out = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.contains("trailing:"), extra > 0, "{name}: {out}");
        assert!(out.contains(text), "{name}: {out}");
        if extra > 0 {
            assert!(out.contains(&format!("trailing: {extra} bytes past the data the header describes")), "{out}");
        }
    }
    let raw = dir.path().join("r.bin");
    std::fs::write(&raw, [0u8; 40]).unwrap();
    let j = info_json(&raw, &["--dtype", "<f4", "--shape", "3"]);
    assert_eq!(j["trailing_bytes"], 0);
}

#[test]
fn repair_adopts_or_trims_what_an_interrupted_append_left() {
    let dir = tempfile::tempdir().unwrap();
    let py = |code: &str| {
        let out = StdCommand::new(common::python()).args(["-c", code]).arg(dir.path()).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    // NumPy's files (C and Fortran order), with 2.5 rows of the growth
    // axis written past the shape the header gives
    py("import numpy as np, sys, os
d = sys.argv[1]
for name, order in [('c.npy', 'C'), ('f.npy', 'F')]:
    p = os.path.join(d, name)
    np.save(p, np.asfortranarray(np.arange(12.0).reshape(4, 3)) if order == 'F' else np.arange(12.0).reshape(4, 3))
    row = 3 if order == 'C' else 4
    open(p, 'ab').write(np.arange(100.0, 100 + 2.5 * row).tobytes()[: int(2.5 * row * 8)])");
    let c = dir.path().join("c.npy");
    let f = dir.path().join("f.npy");
    // no choice, no change
    let before = std::fs::read(&c).unwrap();
    mmarray().arg("repair").arg(&c).assert().code(2);
    assert_eq!(std::fs::read(&c).unwrap(), before);
    let out = mmarray().arg("repair").arg(&c).arg("--adopt").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("repaired {}: 2 rows adopted, 12 bytes trimmed; shape (6, 3)\n", c.display()));
    mmarray().arg("repair").arg(&f).arg("--adopt").assert().success();
    assert_eq!(
        py("import numpy as np, sys, os
c = np.load(os.path.join(sys.argv[1], 'c.npy')); f = np.load(os.path.join(sys.argv[1], 'f.npy'))
print(c.shape, c[4:].ravel().tolist(), f.shape, f.flags.f_contiguous, f[:, 3:].ravel(order='F').tolist())"),
        "(6, 3) [100.0, 101.0, 102.0, 103.0, 104.0, 105.0] (4, 5) True [100.0, 101.0, 102.0, 103.0, 104.0, 105.0, 106.0, 107.0]"
    );
    assert_eq!(info_json(&c, &[])["trailing_bytes"], 0);
    // trim: back to what the header says, rows and all
    std::fs::OpenOptions::new().append(true).open(&c).unwrap().write_all(&[1u8; 30]).unwrap();
    let out = mmarray().arg("repair").arg(&c).arg("--trim").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 rows adopted, 30 bytes trimmed; shape (6, 3)"));
    assert_eq!(std::fs::read(&c).unwrap().len(), 128 + 6 * 3 * 8);
    expect_failure(&["repair", dir.path().join("missing.npy").to_str().unwrap(), "--trim"], 1, "missing.npy: cannot open");
    // a header at its tightest (no growth padding, as some writers make
    // them): adopting rewrites the file once, padded, and says so; NumPy
    // loads it
    let tight = dir.path().join("tight.npy");
    let h = mmarray::npy::NpyHeader { dtype: mmarray::DType::native(mmarray::ScalarKind::F64), fortran_order: false, shape: vec![4, 3] };
    let len = (0..).find(|&len| h.encode_in(mmarray::npy::NpyVersion::V1, len).is_some()).unwrap();
    let mut bytes = h.encode_in(mmarray::npy::NpyVersion::V1, len).unwrap();
    bytes.extend((0..12 + 300).flat_map(|i| f64::from(i).to_ne_bytes()));
    std::fs::write(&tight, &bytes).unwrap();
    let out = mmarray().arg("repair").arg(&tight).arg("--adopt").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "repaired {0}: 100 rows adopted, 0 bytes trimmed; shape (104, 3)\n{0}: its {len}-byte header had no room for the shape (104, 3): rewritten with NumPy's growth padding (128 bytes), the 2496 bytes of data moved\n",
            tight.display()
        )
    );
    assert_eq!(py("import numpy as np, sys, os\nprint(np.load(os.path.join(sys.argv[1], 'tight.npy')).ravel()[-1])"), "311.0");
}

#[test]
fn create_info_convert_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let npy = dir.path().join("a.npy");
    mmarray()
        .args(["create", "--dtype", "float32", "--shape", "30,40", "--fill", "arange", "--order", "F"])
        .arg(&npy)
        .assert()
        .success()
        .stdout(predicates::str::contains("<f4 (30, 40) F order"));
    let j = info_json(&npy, &[]);
    assert_eq!(j["dtype"], "<f4");
    assert_eq!(j["shape"], serde_json::json!([30, 40]));
    assert_eq!(j["order"], "F");
    assert_eq!(j["offset"], 128);
    assert_eq!(j["nbytes"], 4800);
    assert_eq!(j["format"], "npy");

    let text = mmarray().arg("info").arg(&npy).output().unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    for needle in ["dtype:   <f4 (float32)", "shape:   (30, 40)", "order:   F", "offset:  128 bytes", "nbytes:  4800"] {
        assert!(text.contains(needle), "{needle:?} not in\n{text}");
    }

    // .npy -> raw -> .npy keeps every byte of the data
    let raw = dir.path().join("a.bin");
    mmarray().arg("convert").arg(&npy).arg(&raw).assert().success().stdout(predicates::str::contains(
        "--dtype '<f4' --shape 30,40 --order F",
    ));
    assert_eq!(std::fs::metadata(&raw).unwrap().len(), 4800);
    let back = dir.path().join("b.npy");
    mmarray()
        .arg("convert")
        .arg(&raw)
        .arg(&back)
        .args(["--dtype", "<f4", "--shape", "30,40", "--order", "F"])
        .assert()
        .success();
    assert_eq!(std::fs::read(&npy).unwrap(), std::fs::read(&back).unwrap());

    // NumPy agrees on the values: np.arange(1200).reshape(30, 40)
    let code = format!(
        "import numpy as np; a = np.load({:?}, mmap_mode='r'); \
         assert a.flags.f_contiguous and a.dtype.str == '<f4'; \
         assert (a == np.arange(1200, dtype='<f4').reshape(30, 40)).all(); print('ok')",
        back.display().to_string()
    );
    let out = StdCommand::new(common::python()).args(["-c", &code]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn create_random_is_seeded_and_raw_files_take_an_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (dir.path().join("a.u8"), dir.path().join("b.u8"), dir.path().join("c.u8"));
    for (p, seed) in [(&a, "1"), (&b, "1"), (&c, "2")] {
        mmarray()
            .args(["create", "--dtype", "u1", "--shape", "64,64", "--fill", "random", "--offset", "1KiB", "--seed", seed])
            .arg(p)
            .assert()
            .success();
    }
    let (ba, bb, bc) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap(), std::fs::read(&c).unwrap());
    assert_eq!(ba.len(), 1024 + 4096);
    assert!(ba[..1024].iter().all(|&x| x == 0));
    assert_eq!(ba, bb, "same seed, same data");
    assert_ne!(ba, bc, "another seed, other data");
    assert!(ba[1024..].iter().filter(|&&x| x != 0).count() > 3000, "random data is not mostly zeros");
    let j = info_json(&a, &["--dtype", "u1", "--offset", "1024"]);
    assert_eq!(j["shape"], serde_json::json!([4096]));
}

#[test]
fn errors_are_one_line_with_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let missing = format!("{d}/missing.npy");
    expect_failure(&["info", &missing], 1, "missing.npy: cannot open: No such file");
    expect_failure(&["info", &d], 1, "is a directory");
    let raw = format!("{d}/x.bin");
    std::fs::write(&raw, [1u8; 20]).unwrap();
    expect_failure(&["info", &raw], 1, "not a .npy file");
    expect_failure(&["info", &raw, "--shape", "5"], 1, "need --dtype");
    expect_failure(&["info", &raw, "--dtype", "f8"], 1, "not a multiple of the itemsize 8");
    expect_failure(&["info", &raw, "--dtype", "f8", "--shape", "3"], 1, "file has 20 bytes");
    expect_failure(&["info", &raw, "--dtype", "object"], 1, "unsupported dtype");
    expect_failure(&["create", &raw, "--dtype", "f8", "--shape", "3"], 1, "already exists; pass --force");
    expect_failure(&["create", &format!("{d}/n.npy"), "--dtype", "f8", "--shape", "3,-2"], 1, "negative dimension -2");
    expect_failure(&["create", &format!("{d}/n.npy"), "--dtype", "f8", "--shape", "3", "--offset", "8"], 1, "--offset is for raw");
    expect_failure(&["convert", &raw, &raw, "--dtype", "u1"], 1, "same file");
    expect_failure(&["bogus"], 2, "unrecognized subcommand");
    expect_failure(&["create", "x.npy"], 2, "--dtype");
    assert_eq!(std::fs::read(&raw).unwrap(), vec![1u8; 20], "no failed command touched the file");
    assert!(!Path::new(&format!("{d}/n.npy")).exists());
    mmarray().arg("--version").assert().success().stdout(predicates::str::contains("mmarray"));
}

#[test]
fn permission_denied_is_reported() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("locked.npy");
    mmarray().args(["create", "--dtype", "f8", "--shape", "3"]).arg(&p).assert().success();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).unwrap();
    let mut cmd = StdCommand::new(assert_cmd::cargo::cargo_bin("mmarray"));
    cmd.arg("info").arg(&p);
    if rustix::process::geteuid().is_root() {
        // root ignores file modes: run as the unprivileged user `nobody`,
        // who can reach the file (0o711 on the directory) but not read it.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
        cmd.uid(65534).gid(65534);
    }
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("locked.npy: cannot open: Permission denied"), "{err}");
}

#[test]
fn file_size_limit_fails_cleanly_at_creation() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("big.npy");
    let out = StdCommand::new("prlimit")
        .arg("--fsize=1000000")
        .arg(assert_cmd::cargo::cargo_bin("mmarray"))
        .args(["create", "--dtype", "f8", "--shape", "1000,1000", "--fill", "arange"])
        .arg(&p)
        .output()
        .expect("prlimit (util-linux) is needed for this test");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("not enough space") && err.contains("need 8000128 bytes"), "{err}");
    assert!(!p.exists(), "a half-made file was left behind");
}

#[test]
fn progress_stays_off_pipes_and_json() {
    // Standard error is a pipe here: no bar may be drawn on it, and stdout
    // holds exactly the JSON.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p.npy");
    let out = mmarray().args(["create", "--dtype", "f4", "--shape", "3000000", "--fill", "random"]).arg(&p).output().unwrap();
    assert!(out.status.success());
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = mmarray().arg("stats").arg(&p).arg("--json").output().unwrap();
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice::<Value>(&out.stdout).unwrap();
    mmarray().args(["--quiet", "info"]).arg(&p).assert().success();
    mmarray().arg("info").arg(&p).arg("-q").assert().success();
}

/// The names of a process's threads (`/proc/PID/task/*/comm`).
fn thread_names(pid: u32) -> Vec<String> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return Vec::new() };
    tasks.filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok()).map(|s| s.trim().to_string()).collect()
}

#[test]
fn threads_flag_and_environment_bound_the_engine() {
    // `show --full` of 2M values into a pipe nobody reads blocks inside the
    // command: its threads are then counted. The engine's are named
    // mmarray-N; there must be exactly as many as asked, and no others
    // besides the main thread and at most one helper (a global rayon pool
    // would add one per core).
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.npy");
    mmarray().args(["create", "--dtype", "f8", "--shape", "2000000", "--fill", "arange"]).arg(&p).assert().success();
    for (flag, env, expect) in [(Some("3"), None, 3), (None, Some("2"), 2), (Some("1"), Some("2"), 1)] {
        let mut cmd = StdCommand::new(assert_cmd::cargo::cargo_bin("mmarray"));
        cmd.env_remove("MMARRAY_THREADS");
        if let Some(n) = flag {
            cmd.args(["--threads", n]);
        }
        if let Some(n) = env {
            cmd.env("MMARRAY_THREADS", n);
        }
        let mut child = cmd.args(["show", "--full"]).arg(&p).stdout(std::process::Stdio::piped()).spawn().unwrap();
        let mut names = Vec::new();
        for _ in 0..200 {
            std::thread::sleep(std::time::Duration::from_millis(25));
            names = thread_names(child.id());
            if names.iter().filter(|n| n.starts_with("mmarray-")).count() >= expect {
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(300)); // (blocked on the pipe by now)
        let settled = thread_names(child.id());
        child.kill().unwrap();
        child.wait().unwrap();
        let engine = settled.iter().filter(|n| n.starts_with("mmarray-")).count();
        assert_eq!(engine, expect, "--threads {flag:?}, MMARRAY_THREADS {env:?}: threads {settled:?} (first seen {names:?})");
        assert!(settled.len() <= expect + 2, "threads beyond the engine's: {settled:?}");
    }
    expect_failure(&["--threads", "-2", "info", "x.npy"], 2, "--threads=\"-2\" is not a thread count");
    let out = mmarray().env("MMARRAY_THREADS", "lots").arg("info").arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("MMARRAY_THREADS=\"lots\" is not a thread count"));
}
