//! Issue 10: hostile input never makes the `mmarray` binary panic, hang,
//! give a wrong answer or leave a damaged file. Each test names the bug it
//! guards against; every run has a timeout, so a hang fails instead of
//! blocking the suite.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use assert_cmd::Command;

fn mmarray() -> Command {
    let mut c = Command::cargo_bin("mmarray").unwrap();
    c.timeout(Duration::from_secs(60)).env_remove("RUST_BACKTRACE").env_remove("MMARRAY_TEST_PANIC");
    c
}

fn run(args: &[&str], dir: &Path) -> Output {
    mmarray().current_dir(dir).args(args).output().unwrap()
}

/// Runs the binary in `dir`; expects exit `code` and, for exit 1 or 70, a
/// last stderr line `error: ...` containing `needle` (exit 1: the only line).
fn fails(dir: &Path, args: &[&str], code: i32, needle: &str) -> String {
    let out = run(args, dir);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: expected {needle:?} in {err}");
    let last = err.trim_end().lines().last().unwrap_or("");
    if code != 2 {
        // (clap's usage errors end with a hint to try --help)
        assert!(last.starts_with("error: "), "{args:?}: last line {last:?}");
    }
    if code == 1 {
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    }
    err
}

/// Runs the binary in `dir`, expects success and returns stdout.
fn ok(dir: &Path, args: &[&str]) -> String {
    let out = run(args, dir);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// A directory with `s.npy` = `np.arange(1000.)` and `a.npy` = the same as 10x100.
fn fixture() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    ok(&d, &["create", "s.npy", "--dtype", "f8", "--shape", "1000", "--fill", "arange"]);
    ok(&d, &["create", "a.npy", "--dtype", "f8", "--shape", "10,100", "--fill", "arange"]);
    (dir, d)
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

/// Issue 10.1: a panic under `progress::engine` hung forever (the bar
/// thread was never told to stop); now any panic is one error line, exit 70.
#[cfg(debug_assertions)]
#[test]
fn panic_in_a_command_with_a_progress_thread_is_exit_70_not_a_hang() {
    let (_t, d) = fixture();
    for cmd in [&["stats", "s.npy"][..], &["apply", "s.npy", "--add", "1"]] {
        let out = mmarray().current_dir(&d).env("MMARRAY_TEST_PANIC", cmd[0]).args(cmd).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(70), "{err}");
        let last = err.trim_end().lines().last().unwrap();
        assert!(last.starts_with(&format!("error: internal error in {}: forced by MMARRAY_TEST_PANIC", cmd[0])), "{err}");
    }
}

/// Issue 10.1: a command that fails or panics removes the output it was
/// creating (no empty or partial file is left behind).
#[cfg(debug_assertions)]
#[test]
fn panic_while_writing_an_output_leaves_no_file() {
    let (_t, d) = fixture();
    let before = files(&d);
    let cases: &[&[&str]] = &[
        &["create", "new.npy", "--dtype", "f8", "--shape", "100", "--fill", "arange"],
        &["create", "new.raw", "--dtype", "f8", "--shape", "100"],
        &["rolling", "s.npy", "--window", "3", "--stat", "mean", "-o", "r.npy"],
        &["rolling", "a.npy", "--window", "3", "--stat", "mean", "--axis", "1", "-o", "r.npy"],
        &["convert", "s.npy", "s.raw"],
    ];
    for args in cases {
        let out = mmarray().current_dir(&d).env("MMARRAY_TEST_PANIC", args[0]).args(*args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(70), "{args:?}: {err}");
        assert!(err.trim_end().lines().last().unwrap().starts_with("error: internal error in "), "{err}");
        assert_eq!(files(&d), before, "{args:?} left a file behind");
    }
}

/// `show --precision` rounded the mantissa alone: 9.96 at precision 0
/// printed as 1.e+00 (and 10.e+00 at precision 1), and positional 10 at
/// precision 0 as 1. Expected strings are NumPy 2.4's `np.array2string(a,
/// precision=p)`.
#[test]
fn show_rounds_like_numpy_at_any_precision() {
    let (_t, d) = fixture();
    for (values, p, want) in [
        (vec![9.96, 1e-5], "0", "[1.e+01 1.e-05]"),
        (vec![9.96, 1e-5], "1", "[1.e+01 1.e-05]"),
        (vec![0.0999, 1e5], "0", "[1.e-01 1.e+05]"),
        (vec![0.4, -0.4, 2.5], "0", "[ 0. -0.  2.]"),
        (vec![10.0, 20.0, 0.04], "0", "[10. 20.  0.]"),
        (vec![99.96, 1e-5], "2", "[1.e+02 1.e-05]"),
    ] {
        let path = d.join("p.npy");
        let _ = std::fs::remove_file(&path);
        let mut a = mmarray::NpyOptions::new(mmarray::DType::native(mmarray::ScalarKind::F64), &[values.len()]).create_pending(&path).unwrap();
        a.view_mut::<f64>().unwrap().iter_mut().zip(&values).for_each(|(x, v)| *x = *v);
        a.persist(false).unwrap();
        assert_eq!(ok(&d, &["show", "p.npy", "--precision", p]).trim_end(), want, "{values:?} at precision {p}");
    }
}

/// With --force, a failure must not cost the user the file they had: the new
/// output is made beside it and renamed over it only on success (it was
/// truncated in place, then removed by the failure's cleanup). Exit 1 and
/// stderr that cannot be written must not turn into a panic (exit 101).
#[test]
fn a_failed_forced_overwrite_keeps_the_old_file() {
    let (_t, d) = fixture();
    let keep = b"the user's data".to_vec();
    for (target, args) in [
        ("k.npy", vec!["convert", "s.npy", "k.npy", "--force"]),
        ("k.raw", vec!["create", "k.raw", "--dtype", "f8", "--shape", "10", "--force"]),
        ("k.npy", vec!["rolling", "s.npy", "--window", "3", "--stat", "mean", "-o", "k.npy", "--force"]),
    ] {
        std::fs::write(d.join(target), &keep).unwrap();
        let before = files(&d);
        let out = mmarray().current_dir(&d).env("MMARRAY_TEST_PANIC", args[0]).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(70), "{args:?}");
        assert_eq!(std::fs::read(d.join(target)).unwrap(), keep, "{args:?} damaged the existing file");
        assert_eq!(files(&d), before, "{args:?} left a temporary file");
        // and on success the file is replaced
        let out = mmarray().current_dir(&d).args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert_ne!(std::fs::read(d.join(target)).unwrap(), keep);
        assert_eq!(files(&d), before, "{args:?} left a temporary file");
        std::fs::remove_file(d.join(target)).unwrap();
    }
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("mmarray"))
        .current_dir(&d)
        .args(["info", "missing.npy"])
        .stderr(full)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "an unwritable stderr must not become a panic");
}

/// Issue 10.2: `::9223372036854775000` overflowed in `numpy_slice` (a panic,
/// or exit 101 in `show`), and `::9223372036854775807` selected nothing
/// where NumPy's `a[::9223372036854775807]` is `[0.]`.
#[test]
fn huge_slice_steps_select_as_numpy() {
    let (_t, d) = fixture();
    for step in ["9223372036854775000", "9223372036854775807", "99999999999999999999999"] {
        let slice = format!("::{step}");
        assert_eq!(ok(&d, &["show", "s.npy", "--slice", &slice]), "[0.]\n", "{slice}");
        let stats = ok(&d, &["stats", "s.npy", "--slice", &slice, "--json"]);
        assert!(stats.contains("\"count\":1"), "{stats}");
        ok(&d, &["plot", "a.npy", "--slice", &slice, "-o", "p.png"]);
        ok(&d, &["apply", "s.npy", "--slice", &slice, "--add", "0"]);
        fails(&d, &["rolling", "s.npy", "--slice", &slice, "--window", "2", "--stat", "sum", "-o", "r.npy"], 1, "--window 2");
    }
    let back = ok(&d, &["show", "s.npy", "--slice", "::-9223372036854775808"]);
    assert_eq!(back, "[999.]\n");
}

/// Issue 10.3: `[1,2]` was read as `a[1,2]`; NumPy reads `a[[1,2]]`
/// (fancy indexing, rows 1 and 2). `1,2` stays `a[1,2]`; empty items are
/// Python syntax errors.
#[test]
fn lists_and_empty_items_are_refused() {
    let (_t, d) = fixture();
    for slice in ["[1,2]", "[1]", "0, [1, 2]", "[]"] {
        fails(&d, &["show", "a.npy", "--slice", slice], 1, "fancy (list) indexing is not supported; use a slice such as '1:3'");
    }
    assert!(ok(&d, &["show", "a.npy", "--slice", "1,2"]).starts_with("102."));
    assert_eq!(ok(&d, &["show", "a.npy", "--slice", "[1:3, 0]"]), "[100. 200.]\n");
    for slice in [",", "1,,2", ",1"] {
        fails(&d, &["show", "a.npy", "--slice", slice], 1, "empty index");
    }
    for shape in [",,", ",", "3,,4", ""] {
        fails(&d, &["create", "x.npy", "--dtype", "f8", "--shape", shape], 1, "invalid shape");
    }
    assert!(!d.join("x.npy").exists());
}

/// Issue 10.4: `create` wrote files NumPy cannot load (more than 64
/// dimensions; a size overflowing intp beside a zero dimension), and the
/// header reader accepted them.
#[test]
fn shapes_numpy_cannot_make_are_refused_everywhere() {
    let (_t, d) = fixture();
    let dims65 = vec!["1"; 65].join(",");
    fails(&d, &["create", "x.npy", "--dtype", "f8", "--shape", &dims65], 1, "maximum supported dimension for an ndarray is currently 64, found 65");
    fails(&d, &["create", "x.npy", "--dtype", "f8", "--shape", "1,0,4611686018427387904"], 1, "array is too big");
    fails(&d, &["create", "x.raw", "--dtype", "f8", "--shape", "1,0,4611686018427387904"], 1, "array is too big");
    assert!(!d.join("x.npy").exists() && !d.join("x.raw").exists());
    // 64 dimensions and a big zero-size shape are fine, as in NumPy
    ok(&d, &["create", "x64.npy", "--dtype", "u1", "--shape", &vec!["1"; 64].join(",")]);
    ok(&d, &["create", "z.npy", "--dtype", "u1", "--shape", "4611686018427387904,0"]);
    // a header claiming them
    for (name, shape) in [("h65.npy", format!("({})", "1, ".repeat(65))), ("hbig.npy", "(1, 0, 4611686018427387904)".to_string())] {
        let dict = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}");
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        let len = u16::try_from(dict.len() + 1).unwrap();
        bytes.extend_from_slice(&len.to_le_bytes());
        bytes.extend_from_slice(dict.as_bytes());
        bytes.push(b'\n');
        std::fs::write(d.join(name), bytes).unwrap();
        fails(&d, &["info", name], 1, "invalid shape in header");
    }
    // raw shapes given on the command line follow the same rule
    fails(&d, &["info", "s.npy", "--dtype", "u1", "--shape", &dims65], 1, "found 65");
}

/// Issue 10.4: outputs are created exclusively (no `exists()` check then
/// create): an existing file is refused and left exactly as it was.
#[test]
fn existing_outputs_are_never_touched_without_force() {
    let (_t, d) = fixture();
    std::fs::write(d.join("keep.npy"), b"precious").unwrap();
    fails(&d, &["rolling", "s.npy", "--window", "3", "--stat", "mean", "-o", "keep.npy"], 1, "keep.npy: already exists; pass --force to overwrite it");
    fails(&d, &["convert", "s.npy", "keep.npy"], 1, "already exists; pass --force");
    fails(&d, &["create", "keep.npy", "--dtype", "f8", "--shape", "3"], 1, "already exists; pass --force");
    assert_eq!(std::fs::read(d.join("keep.npy")).unwrap(), b"precious");
    // output == input, even with --force
    fails(&d, &["rolling", "s.npy", "--window", "3", "--stat", "mean", "-o", "s.npy", "--force"], 1, "s.npy: input and output are the same file");
    fails(&d, &["convert", "s.npy", "./s.npy", "--force"], 1, "input and output are the same file");
    assert!(ok(&d, &["stats", "s.npy"]).contains("max    999"));
}

/// Issue 10.7: a FIFO as input or output hung (opening it waits for the
/// other end); directories as input or output.
#[test]
fn fifos_and_directories_are_refused_without_hanging() {
    let (_t, d) = fixture();
    rustix::fs::mknodat(rustix::fs::CWD, d.join("fifo"), rustix::fs::FileType::Fifo, rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR, 0)
        .unwrap();
    std::fs::create_dir(d.join("dir")).unwrap();
    for input in ["fifo", "dir"] {
        fails(&d, &["info", input], 1, input);
        fails(&d, &["stats", input, "--dtype", "f8"], 1, input);
        fails(&d, &["apply", input, "--dtype", "f8", "--add", "1"], 1, input);
    }
    for output in ["fifo", "dir"] {
        fails(&d, &["convert", "s.npy", output, "--force"], 1, output);
        fails(&d, &["create", output, "--dtype", "f8", "--shape", "3", "--force"], 1, output);
        fails(&d, &["rolling", "s.npy", "--window", "3", "--stat", "mean", "-o", output], 1, "already exists");
    }
    assert!(d.join("fifo").exists() && d.join("dir").is_dir());
}

/// Issue 10.5: `plot` panicked on NaN/infinite/equal colour limits (the
/// colour map's unwrap), hung on `--vmin -1e308 --vmax 1e308`, divided by
/// zero on `--max-size 0`, panicked then hung on `--height 0`, and tried a
/// 40 GB bitmap for `--width 100000 --height 100000`. A failed plot leaves
/// no partial picture.
#[test]
fn plot_refuses_bad_limits_and_sizes_and_leaves_no_partial_picture() {
    let (_t, d) = fixture();
    let before = files(&d);
    let bad: &[(&[&str], i32, &str)] = &[
        (&["--vmin", "nan"], 1, "--vmin NaN: expected a finite number"),
        (&["--vmax", "nan"], 1, "--vmax NaN: expected a finite number"),
        (&["--vmin", "inf"], 1, "--vmin inf: expected a finite number"),
        (&["--vmin", "-1e308", "--vmax", "1e308"], 1, "too wide to draw"),
        (&["--vmin", "5", "--vmax", "1"], 1, "minvalue must be less than or equal to maxvalue"),
        (&["--max-size", "0"], 2, "--max-size"),
        (&["--height", "0"], 2, "--height"),
        (&["--width", "100000", "--height", "100000"], 2, "16384"),
    ];
    for (extra, code, needle) in bad {
        for out in ["p.png", "p.svg"] {
            let mut args = vec!["plot", "a.npy", "-o", out];
            args.extend_from_slice(extra);
            fails(&d, &args, *code, needle);
            assert_eq!(files(&d), before, "{args:?} left a file behind");
        }
    }
    // vmin == vmax draws a flat picture, as Matplotlib's imshow
    ok(&d, &["plot", "a.npy", "-o", "flat.png", "--vmin", "1", "--vmax", "1"]);
    ok(&d, &["plot", "a.npy", "-o", "flat2.png", "--vmin", "1e300", "--vmax", "1e300"]);
    // a picture of the input's own name would destroy it
    std::fs::copy(d.join("s.npy"), d.join("s.png")).unwrap();
    fails(&d, &["plot", "s.png", "-o", "s.png"], 1, "input and output are the same file");
}

/// Issue 10.1 and 10.5: a plot that panics while drawing leaves neither the
/// picture nor its temporary file.
#[cfg(debug_assertions)]
#[test]
fn panic_while_plotting_leaves_no_file() {
    let (_t, d) = fixture();
    let before = files(&d);
    for out in ["p.png", "p.svg"] {
        let o = mmarray().current_dir(&d).env("MMARRAY_TEST_PANIC", "plot").args(["plot", "a.npy", "-o", out]).output().unwrap();
        assert_eq!(o.status.code(), Some(70), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(files(&d), before);
    }
}

/// Issue 10.6: integer literals past the dtype's range saturated silently
/// (they were read as floats); NumPy raises OverflowError, or, for uint64
/// and 2**63, computes in uint64. Needs the engine's `Scalar::Int(i128)`.
#[test]
fn apply_integer_literals_as_numpy() {
    let (_t, d) = fixture();
    ok(&d, &["create", "i.npy", "--dtype", "i8", "--shape", "3", "--fill", "arange"]);
    ok(&d, &["create", "u.npy", "--dtype", "u8", "--shape", "3", "--fill", "arange"]);
    fails(&d, &["apply", "i.npy", "--add", "9223372036854775808"], 1, "Python integer 9223372036854775808 out of bounds for int64");
    fails(&d, &["apply", "u.npy", "--add", "18446744073709551616"], 1, "Python integer 18446744073709551616 out of bounds for uint64");
    assert_eq!(ok(&d, &["show", "i.npy"]), "[0 1 2]\n");
    assert_eq!(ok(&d, &["show", "u.npy"]), "[0 1 2]\n");
    ok(&d, &["apply", "u.npy", "--add", "9223372036854775808"]);
    assert_eq!(ok(&d, &["show", "u.npy"]), "[9223372036854775808 9223372036854775809 9223372036854775810]\n");
}

/// Issue 10.6: `np.clip(x, np.nan, 1)` is all NaN in NumPy 2 (NaN bounds
/// propagate); the engine ignored a NaN bound. Needs the engine change.
#[test]
fn apply_clip_with_nan_bounds_as_numpy() {
    let (_t, d) = fixture();
    for clip in ["nan,1", "0,nan"] {
        ok(&d, &["create", "f.npy", "--dtype", "f8", "--shape", "3", "--fill", "arange", "--force"]);
        ok(&d, &["apply", "f.npy", "--clip", clip]);
        assert_eq!(ok(&d, &["show", "f.npy"]), "[nan nan nan]\n", "{clip}");
    }
}

/// `apply` reports NumPy's floating-point errors on standard error, as
/// NumPy's RuntimeWarnings (`x / 0` on `arange`: 0/0 is invalid, 1/0 a
/// division by zero; a scalar past float32 overflows in the cast), and
/// still writes the values and exits 0, as NumPy does.
#[test]
fn apply_warns_of_floating_point_errors_as_numpy() {
    let (_t, d) = fixture();
    let out = run(&["apply", "s.npy", "--div", "0"], &d);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let warnings: Vec<&str> = err.lines().filter(|l| l.starts_with("warning: ")).collect();
    assert_eq!(
        warnings,
        ["warning: s.npy: divide by zero encountered in divide", "warning: s.npy: invalid value encountered in divide"],
        "{err}"
    );
    assert_eq!(ok(&d, &["show", "s.npy", "--slice", ":3"]), "[nan inf inf]\n");
    ok(&d, &["create", "f.npy", "--dtype", "f4", "--shape", "2", "--fill", "arange"]);
    let out = run(&["apply", "f.npy", "--mul", "1e300", "--add", "1"], &d);
    let err = String::from_utf8_lossy(&out.stderr);
    let warnings: Vec<&str> = err.lines().filter(|l| l.starts_with("warning: ")).collect();
    assert_eq!(
        warnings,
        ["warning: f.npy: overflow encountered in cast", "warning: f.npy: invalid value encountered in multiply"],
        "{err}"
    );
    // no error, no warning; an underflow neither (NumPy's default ignores it)
    let out = run(&["apply", "a.npy", "--mul", "2"], &d);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"));
    let out = run(&["apply", "a.npy", "--mul", "1e-300", "--mul", "1e-300"], &d);
    assert!(out.status.success() && !String::from_utf8_lossy(&out.stderr).contains("warning"), "{out:?}");
}

/// Issue 10.6: literals are read as Python reads them (integers up to 128
/// bits, floats); anything else names the flag and the text.
#[test]
fn apply_literals_are_checked() {
    let (_t, d) = fixture();
    fails(&d, &["apply", "s.npy", "--add", "1000000000000000000000000000000000000000"], 1, "--add 1000000000000000000000000000000000000000: integer literal out of range");
    fails(&d, &["apply", "s.npy", "--mul", "1.5x"], 1, "--mul \"1.5x\": not a number");
    fails(&d, &["apply", "s.npy", "--clip", "1"], 1, "expected LO,HI");
    fails(&d, &["apply", "s.npy", "--clip", "0,1,2"], 1, "--clip \"1,2\": not a number");
    assert!(ok(&d, &["stats", "s.npy"]).contains("max    999"));
    // float data takes integers of any size, as NumPy (float64 + 2**63)
    ok(&d, &["apply", "s.npy", "--slice", ":1", "--add", "9223372036854775808", "--sub", "9223372036854775808"]);
}

/// Issue 10.7: `--ddof -1` and `--quantiles -0.1` were usage errors (read
/// as flags); NumPy takes any ddof (`np.var(np.arange(1000.), ddof=-1)` is
/// 83250.0) and refuses quantiles outside [0, 1] by name.
#[test]
fn negative_numbers_reach_numpys_rules() {
    let (_t, d) = fixture();
    assert!(ok(&d, &["stats", "s.npy", "--ddof", "-1"]).contains("var    83250\n"));
    assert!(ok(&d, &["stats", "s.npy", "--ddof", "inf"]).contains("var    inf\n"));
    let r = ok(&d, &["rolling", "s.npy", "--window", "3", "--stat", "var", "--ddof", "-1", "-o", "r.npy"]);
    assert!(r.contains("998 values"), "{r}");
    for q in ["-0.1", "nan", "1.5", "0.5,-0.5"] {
        fails(&d, &["stats", "s.npy", "--quantiles", q], 1, "Quantiles must be in the range [0, 1]");
    }
}

/// Issue 10.7: with --axis, the text output dropped the quantiles asked for
/// (only --json had them).
#[test]
fn stats_text_along_an_axis_shows_its_quantiles() {
    let (_t, d) = fixture();
    let text = ok(&d, &["stats", "a.npy", "--axis", "1", "--quantiles", "0.5,0.25"]);
    let mut lines = text.lines();
    assert!(lines.next().unwrap().ends_with("q0.5           q0.25"), "{text}");
    // np.quantile(a, [0.5, 0.25], axis=1)[:, 1] == [149.5, 124.75]
    assert!(lines.nth(1).unwrap().ends_with("149.50000000    124.75000000"), "{text}");
}

/// Issue 10.7: file names that are not UTF-8 work in and out, and a
/// picture in a missing directory is a plain error naming it.
#[test]
fn odd_paths() {
    use std::os::unix::ffi::OsStrExt;
    let (_t, d) = fixture();
    let name = std::ffi::OsStr::from_bytes(b"n\xff.npy");
    std::fs::copy(d.join("s.npy"), d.join(name)).unwrap();
    let out = mmarray().current_dir(&d).arg("stats").arg(name).output().unwrap();
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("max    999"));
    let out = mmarray().current_dir(&d).args(["rolling", "s.npy", "--window", "2", "--stat", "max", "-o"]).arg(std::ffi::OsStr::from_bytes(b"o\xfe.npy")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    fails(&d, &["plot", "s.npy", "-o", "nodir/x.png"], 1, "nodir/x.png: cannot write the picture: No such file or directory");
    std::fs::create_dir(d.join("d.png")).unwrap();
    fails(&d, &["plot", "s.npy", "-o", "d.png"], 1, "d.png: is a directory; plot replaces only regular files");
    assert!(!files(&d).iter().any(|f| f.starts_with('.')), "{:?}", files(&d));
}

/// Issue 10.7: a 0-d result printed in the array format (`102.`, `1.e+20`,
/// `0.33333333`); NumPy prints a 0-d array as its scalar.
#[test]
fn show_prints_a_single_value_as_numpy() {
    let (_t, d) = fixture();
    assert_eq!(ok(&d, &["show", "a.npy", "--slice", "1,2"]), "102.0\n");
    ok(&d, &["create", "f.npy", "--dtype", "f8", "--shape", "3", "--fill", "arange"]);
    ok(&d, &["apply", "f.npy", "--div", "3"]);
    assert_eq!(ok(&d, &["show", "f.npy", "--slice", "1"]), "0.3333333333333333\n");
    ok(&d, &["create", "e.npy", "--dtype", "f8", "--shape", "3", "--fill", "arange"]);
    ok(&d, &["apply", "e.npy", "--mul", "1e20"]);
    assert_eq!(ok(&d, &["show", "e.npy", "--slice", "1"]), "1e+20\n");
    ok(&d, &["create", "g.npy", "--dtype", "f4", "--shape", "3", "--fill", "arange"]);
    ok(&d, &["apply", "g.npy", "--mul", "1000000"]);
    assert_eq!(ok(&d, &["show", "g.npy", "--slice", "1"]), "1e+06\n");
    ok(&d, &["create", "c.npy", "--dtype", "c16", "--shape", "3", "--fill", "arange"]);
    assert_eq!(ok(&d, &["show", "c.npy", "--slice", "0"]), "0j\n");
    assert_eq!(ok(&d, &["show", "c.npy", "--slice", "1"]), "(1+0j)\n");
}

/// Issue 10.7: empty and 0-d data get errors that name the problem.
#[test]
fn empty_and_zero_d_data() {
    let (_t, d) = fixture();
    ok(&d, &["create", "z.npy", "--dtype", "f8", "--shape", "()", "--fill", "arange"]);
    fails(&d, &["rolling", "z.npy", "--window", "1", "--stat", "mean", "-o", "r.npy"], 1, "0-d data (a single value) has no axis to roll along");
    fails(&d, &["rolling", "z.npy", "--axis", "0", "--window", "1", "--stat", "mean", "-o", "r.npy"], 1, "axis 0 is out of bounds for array of dimension 0");
    fails(&d, &["stats", "s.npy", "--slice", "5:5"], 1, "zero-size array to reduction operation minimum which has no identity");
    fails(&d, &["plot", "s.npy", "--slice", "5:5", "-o", "p.png"], 1, "nothing to draw: the data is empty");
    fails(&d, &["apply", "s.npy", "--slice", "5:5", "--normalize"], 1, "cannot normalize an empty region");
    assert_eq!(ok(&d, &["show", "s.npy", "--slice", "5:5"]), "[]\n");
    assert!(!d.join("r.npy").exists() && !d.join("p.png").exists());
}

/// Issue 10: integer minima and maxima are printed exactly (they were
/// rounded to float64: -9.22337204e18), bool ones as booleans; and a
/// complex number's imaginary -0.0 and infinities print as NumPy's do.
#[test]
fn stats_and_show_print_integers_and_signs_exactly() {
    let (_t, d) = fixture();
    let npy = |name: &str, descr: &str, bytes: &[u8], n: usize| {
        let header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({n},), }}");
        let pad = 64 - (10 + header.len() + 1) % 64;
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&((header.len() + pad + 1) as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend(std::iter::repeat_n(b' ', pad));
        out.push(b'\n');
        out.extend_from_slice(bytes);
        std::fs::write(d.join(name), out).unwrap();
    };
    let ints: Vec<u8> = [i64::MIN, 5, i64::MAX - 1].iter().flat_map(|x| x.to_le_bytes()).collect();
    npy("i.npy", "<i8", &ints, 3);
    let json = ok(&d, &["stats", "i.npy", "--json"]);
    assert!(json.contains("\"min\":-9223372036854775808") && json.contains("\"max\":9223372036854775806"), "{json}");
    let text = ok(&d, &["stats", "i.npy"]);
    assert!(text.contains("min    -9223372036854775808\n") && text.contains("max    9223372036854775806\n"), "{text}");
    let big: Vec<u8> = [u64::MAX, 3].iter().flat_map(|x| x.to_le_bytes()).collect();
    npy("u.npy", "<u8", &big, 2);
    assert!(ok(&d, &["stats", "u.npy", "--json"]).contains("\"max\":18446744073709551615"));
    npy("b.npy", "|b1", &[1, 1], 2);
    let json = ok(&d, &["stats", "b.npy", "--json"]);
    assert!(json.contains("\"min\":true") && json.contains("\"max\":true"), "{json}");
    assert_eq!(ok(&d, &["show", "b.npy"]), "[ True  True]\n");
    let c: Vec<u8> = [1.0f64, -0.0, 1.5, f64::INFINITY].iter().flat_map(|x| x.to_le_bytes()).collect();
    npy("c.npy", "<c16", &c, 2);
    assert_eq!(ok(&d, &["show", "c.npy"]), "[1.  -0.j 1.5+infj]\n"); // NumPy's own spacing
    // NaN and the infinities are told apart in JSON (strings; null said
    // NaN for all three)
    let f: Vec<u8> = [f64::NEG_INFINITY, 1.0, f64::INFINITY].iter().flat_map(|x| x.to_le_bytes()).collect();
    npy("f.npy", "<f8", &f, 3);
    let v: serde_json::Value = serde_json::from_str(&ok(&d, &["stats", "f.npy", "--json"])).unwrap();
    assert_eq!((&v["min"], &v["max"], &v["mean"], &v["std"]), (&"-inf".into(), &"inf".into(), &"nan".into(), &"nan".into()), "{v}");
}
