//! Issue 13: `mmarray append` killed at random instants (SIGKILL) leaves a
//! file NumPy loads at a committed length, every row exact; `info` reports
//! the uncommitted rows past it and `repair` adopts or trims them. Readers
//! racing the writer never see a torn row or a shape past the data; a
//! second writer is refused naming the first; a full disk (here the
//! process's file-size limit) leaves the file valid.
//!
//! `MMARRAY_APPEND_TRIALS` sets the number of kills (20 by default; the
//! long profile, `scripts/test-long.sh`, runs 200).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

use crate::common::python;

fn bin() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin("mmarray")
}

/// Rows `from..from + n` of the stream: row `k` is `[k, k + 0.25, k + 0.5]`
/// as little-endian float32 (exact below 2^22).
fn rows(from: u64, n: u64) -> Vec<u8> {
    (from..from + n).flat_map(|k| [k as f32, k as f32 + 0.25, k as f32 + 0.5]).flat_map(f32::to_le_bytes).collect()
}

/// The header's row count, checking every committed row is exact, and the
/// bytes past the shape (through the crate's reader).
fn committed(path: &Path) -> (u64, u64) {
    // SAFETY: no process writes the file while this test reads it.
    let a = unsafe { mmarray::MmapArray::open_npy(path, mmarray::Mode::ReadOnly) }.unwrap();
    assert_eq!(a.shape()[1..], [3]);
    let n = a.shape()[0] as u64;
    assert_eq!(a.as_bytes(), rows(0, n).as_slice(), "a committed row is not what was appended");
    (n, a.trailing().map_or(0, |t| t.bytes))
}

fn run(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(bin()).current_dir(dir).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

/// `mmarray append FILE --stdin` of float32 rows of 3, with `commit` (its
/// flag and value), run in `dir` with its standard input piped.
fn append_stdin(dir: &Path, file: &str, commit: [&str; 2]) -> std::process::Child {
    Command::new(bin())
        .current_dir(dir)
        .args(["append", file, "--stdin", "--dtype", "<f4", "--row-shape", "3"])
        .args(commit)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn killed_appends_leave_a_file_numpy_loads_at_a_committed_length() {
    let trials: usize = std::env::var("MMARRAY_APPEND_TRIALS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let seed: u64 = std::env::var("MMARRAY_APPEND_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| rand::rng().random());
    eprintln!("seed {seed} (MMARRAY_APPEND_SEED repeats it)");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stream.npy");
    let (mut seen_tail, mut seen_growth) = (0, 0);
    let mut last = 0;
    for trial in 0..trials {
        let every = [1u64, 7, 500, 5000][rng.random_range(0..4)].to_string();
        let mut child = append_stdin(dir.path(), "stream.npy", ["--commit-rows", &every]);
        let mut stdin = child.stdin.take().unwrap();
        let start_at = last;
        let kill_after = Duration::from_millis(rng.random_range(5..120));
        let feeder = std::thread::spawn(move || {
            // whole rows in uneven pieces, then a row cut in two
            let mut k = start_at;
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(start_at);
            loop {
                let n = rng.random_range(1..3000);
                let bytes = rows(k, n);
                let cut = rng.random_range(0..bytes.len());
                if stdin.write_all(&bytes[..cut]).is_err() || stdin.write_all(&bytes[cut..]).is_err() {
                    return;
                }
                k += n;
            }
        });
        std::thread::sleep(kill_after);
        let _ = child.kill(); // SIGKILL
        let out = child.wait_with_output().unwrap();
        feeder.join().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "trial {trial}: {stderr}");
        if !path.exists() {
            continue; // killed before it made the file
        }
        let (n, tail) = committed(&path);
        assert!(n >= last, "trial {trial}: the committed length went back from {last} to {n}");
        seen_growth += usize::from(n > last);
        let (ok, info) = run(dir.path(), &["info", "stream.npy"]);
        assert!(ok, "{info}");
        assert_eq!(info.contains("trailing:"), tail > 0, "trial {trial}: {info}");
        if tail > 0 {
            seen_tail += 1;
            assert!(info.contains(&format!("trailing: {tail} bytes")), "{info}");
            // the next append is refused until the tail is dealt with
            let (ok, text) = run(dir.path(), &["append", "stream.npy", "--from", "stream.npy"]);
            assert!(!ok && text.contains("left by an interrupted append"), "{text}");
            let how = if rng.random_bool(0.5) { "--adopt" } else { "--trim" };
            let (ok, text) = run(dir.path(), &["repair", "stream.npy", how]);
            assert!(ok, "{text}");
            let (m, tail) = committed(&path);
            assert_eq!(tail, 0);
            assert!(if how == "--adopt" { m >= n } else { m == n }, "{how}: {n} -> {m}");
            last = m;
        } else {
            last = n;
        }
    }
    // NumPy loads the survivor, every row exact
    let script = format!(
        "import numpy as np\na = np.load({:?})\nk = np.arange(len(a), dtype=np.float32)\n\
         assert a.dtype == np.float32 and a.shape == ({last}, 3), (a.dtype, a.shape)\n\
         assert (a == np.stack([k, k + 0.25, k + 0.5], axis=1)).all()\n\
         m = np.load({:?}, mmap_mode='r')\nassert m.shape == a.shape\n",
        path.to_str().unwrap(),
        path.to_str().unwrap()
    );
    let out = Command::new(python()).args(["-c", &script]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    eprintln!("{trials} kills: {seen_growth} grew the file, {seen_tail} left an uncommitted tail, {last} rows at the end");
    if trials >= 20 {
        assert!(seen_growth > 0, "no trial appended anything: the kills came too early to test anything");
    }
}

#[test]
fn readers_racing_a_writer_see_whole_committed_rows_and_a_second_writer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("race.npy");
    let mut child = append_stdin(dir.path(), "race.npy", ["--commit-rows", "1"]);
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let mut k = 0;
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(1500) {
            stdin.write_all(&rows(k, 97)).unwrap();
            k += 97;
        }
        k
    });
    let start = Instant::now();
    while !path.exists() {
        assert!(start.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(1));
    }
    // a second writer, while the first holds the lock
    let (ok, text) = run(dir.path(), &["append", "race.npy", "--stdin"]);
    assert!(!ok, "{text}");
    assert!(text.contains(&format!("process {} holds its write lock", child.id())), "{text}");
    let mut reads = 0;
    let mut last = 0;
    while start.elapsed() < Duration::from_millis(1400) {
        // a fresh open each time, as another process's reader would
        let (n, _) = committed(&path);
        assert!(n >= last);
        last = n;
        reads += 1;
    }
    let sent = feeder.join().unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(committed(&path), (sent, 0));
    assert!(reads > 10 && last > 0, "{reads} reads, {last} rows seen");
}

#[test]
fn a_full_disk_leaves_the_file_valid_at_its_last_commit() {
    let dir = tempfile::tempdir().unwrap();
    // 600 KiB of rows against a 256 KiB file-size limit (`ulimit -f` counts
    // 1024-byte blocks; SIGXFSZ ignored, so the write fails with EFBIG),
    // through a pipe, so they arrive (and are committed) in pieces
    let input = dir.path().join("rows.bin");
    std::fs::write(&input, rows(0, 50_000)).unwrap();
    let script = format!(
        "trap '' XFSZ; ulimit -f 256; cat rows.bin | {:?} append full.npy --stdin --dtype '<f4' --row-shape 3 --commit-rows 1000",
        bin()
    );
    let out = Command::new("sh").current_dir(dir.path()).args(["-c", &script]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("full.npy: the disk is full after") && stderr.contains("committed): the file is valid with its"), "{stderr}");
    let (n, tail) = committed(&dir.path().join("full.npy"));
    assert!(n > 0 && n * 12 <= 256 << 10, "{n}");
    assert_eq!(tail % 12, 0, "a partial row was left: {tail} bytes past the shape");
}

#[test]
fn stats_follow_reports_each_commit_from_the_new_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, text) = run(dir.path(), &["append", "f.npy", "--from", "/dev/null"]);
    assert!(!ok, "{text}");
    // 5 batches of rows appended while `stats --follow --json` watches
    let mut watcher = Command::new(bin());
    watcher
        .current_dir(dir.path())
        .args(["stats", "f.npy", "--follow", "--json", "--interval", "0.02", "--idle-exit", "3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    std::fs::write(dir.path().join("b.bin"), rows(0, 1000)).unwrap();
    let (ok, text) = run(dir.path(), &["append", "f.npy", "--from", "b.bin", "--dtype", "<f4", "--shape", "1000,3"]);
    assert!(ok, "{text}");
    let child = watcher.spawn().unwrap();
    let mut want = 1000;
    for k in 1..5u64 {
        std::thread::sleep(Duration::from_millis(300));
        std::fs::write(dir.path().join("b.bin"), rows(1000 * k, 1000)).unwrap();
        let (ok, text) = run(dir.path(), &["append", "f.npy", "--from", "b.bin", "--dtype", "<f4", "--shape", "1000,3"]);
        assert!(ok, "{text}");
        want += 1000;
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let counts: Vec<u64> = lines.iter().map(|v| v["rows"].as_u64().unwrap()).collect();
    assert_eq!(counts, [1000, 2000, 3000, 4000, 5000], "{lines:?}");
    let last = lines.last().unwrap();
    assert_eq!(last["count"], 3 * want);
    assert_eq!((last["min"].as_f64(), last["max"].as_f64()), (Some(0.0), Some(want as f64 - 0.5)));
    // the merged statistics are the one-pass ones, to rounding
    let once = Command::new(bin()).current_dir(dir.path()).args(["stats", "f.npy", "--json"]).output().unwrap();
    let once: serde_json::Value = serde_json::from_slice(&once.stdout).unwrap();
    for stat in ["mean", "std", "var"] {
        let (a, b) = (last[stat].as_f64().unwrap(), once[stat].as_f64().unwrap());
        assert!((a - b).abs() <= 1e-12 * b.abs(), "{stat}: {a} vs {b}");
    }
    // a raw file has no header to follow
    let (ok, text) = run(dir.path(), &["stats", "b.bin", "--dtype", "<f4", "--follow"]);
    assert!(!ok && text.contains("a raw file has none"), "{text}");
}

#[test]
fn resize_grows_with_zero_rows_and_shrinks_whole() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("b.bin"), rows(0, 10)).unwrap();
    let (ok, text) = run(dir.path(), &["append", "r.npy", "--from", "b.bin", "--dtype", "<f4", "--shape", "10,3"]);
    assert!(ok, "{text}");
    let (ok, text) = run(dir.path(), &["resize", "r.npy", "25"]);
    assert!(ok && text.contains("10 -> 25 rows, shape (25, 3)"), "{text}");
    // SAFETY: nothing writes the file while it is read here.
    let a = unsafe { mmarray::MmapArray::open_npy(dir.path().join("r.npy"), mmarray::Mode::ReadOnly) }.unwrap();
    assert_eq!(&a.as_bytes()[..120], rows(0, 10).as_slice());
    assert!(a.as_bytes()[120..].iter().all(|&b| b == 0));
    // another mmarray process maps it: no cut
    let (ok, text) = run(dir.path(), &["resize", "r.npy", "5"]);
    assert!(!ok && text.contains("is mapped by another array"), "{text}");
    drop(a);
    let (ok, text) = run(dir.path(), &["resize", "r.npy", "5"]);
    assert!(ok, "{text}");
    assert_eq!(committed(&dir.path().join("r.npy")), (5, 0));
    let (ok, text) = run(dir.path(), &["resize", "r.npy", "-1"]);
    assert!(!ok, "{text}");
}

#[test]
fn a_paused_stream_is_committed_and_ctrl_c_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.npy");
    let mut child = append_stdin(dir.path(), "p.npy", ["--commit-secs", "0.2"]);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&rows(0, 1000)).unwrap();
    // half a row more, then a pause: the whole rows are committed in it
    stdin.write_all(&rows(1000, 1)[..6]).unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(committed(&path), (1000, 0));
    stdin.write_all(&rows(1000, 1)[6..]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // SIGINT (stdin still open): the rows read are committed, exit 0
    // SAFETY: kill(2) with the child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("stopped by a signal"), "{stderr}");
    assert_eq!(committed(&path), (1001, 0));
}
