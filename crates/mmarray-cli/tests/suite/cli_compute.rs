//! `stats` and `apply` against the real NumPy on the same files.

use crate::common;

use std::path::Path;
use std::process::Command as StdCommand;

use assert_cmd::Command;

fn mmarray() -> Command {
    Command::cargo_bin("mmarray").unwrap()
}

fn python(code: &str) -> String {
    let out = StdCommand::new(common::python()).args(["-c", code]).output().unwrap();
    assert!(out.status.success(), "python failed: {}\n{code}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn create(path: &Path, dtype: &str, shape: &str, seed: u64) {
    mmarray()
        .args(["create", "--dtype", dtype, "--shape", shape, "--fill", "random", "--seed", &seed.to_string()])
        .arg(path)
        .assert()
        .success();
}

/// The NumPy expression for a list of apply flags, evaluated on `x`.
fn numpy_steps(flags: &[&str]) -> String {
    let mut code = String::from("x = np.asarray(r)\n");
    let mut it = flags.iter();
    while let Some(&flag) = it.next() {
        let line = match flag {
            "--normalize" => "x = x / x.max()".to_string(),
            "--clip" => {
                let (lo, hi) = it.next().unwrap().split_once(',').unwrap();
                format!("x = np.clip(x, {lo}, {hi})")
            }
            op => {
                let sym = match op {
                    "--add" => "+",
                    "--sub" => "-",
                    "--mul" => "*",
                    "--div" => "/",
                    _ => unreachable!(),
                };
                format!("x = x {sym} {}", it.next().unwrap())
            }
        };
        code.push_str(&line);
        code.push('\n');
    }
    code + "r[...] = x\n"
}

#[test]
fn apply_is_bit_identical_to_numpy() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, &str, &[&str])] = &[
        ("u1", "40,30,3", "5:35, 2:-2", &["--mul", "1.5", "--clip", "0,255"]),
        ("u1", "500", "::3", &["--add", "7"]),
        ("i2", "20,20", "1:-1, ::2", &["--sub", "1000", "--mul", "3"]),
        ("i4", "300", "", &["--div", "7"]),
        ("f4", "50,40", "::-1, 3:30", &["--mul", "1.1", "--add", "-0.5", "--clip", "-1,1"]),
        ("f4", "1000", "100:900", &["--normalize"]),
        ("f8", "30,30", "-10:, :", &["--div", "3", "--normalize", "--mul", "2.5"]),
        ("f2", "64", "", &["--mul", "0.3", "--add", "1"]),
        ("u2", "100", "", &["--mul", "2.0", "--clip", "0,65535"]),
        ("i8", "100", "10:20", &["--add", "-5", "--mul", "-3"]),
        // a flag given twice keeps its place on the command line (clap's
        // count action recorded one index: the --sub ran first, on uint8)
        ("u1", "60", "::2", &["--normalize", "--sub", "-1", "--normalize"]),
        ("i2", "60", "", &["--normalize", "--mul", "3", "--normalize", "--add", "1"]),
        // NumPy's clip drops a Python-integer bound beyond the type's range
        ("i4", "60", "", &["--clip", "-2147483649,7"]),
        ("u1", "60", "", &["--clip", "-1,300"]),
        ("i8", "60", "", &["--clip", "-5,18446744073709551616"]),
    ];
    for (i, (dtype, shape, slice, flags)) in cases.iter().enumerate() {
        let ours = dir.path().join(format!("ours{i}.npy"));
        let theirs = dir.path().join(format!("theirs{i}.npy"));
        create(&ours, dtype, shape, i as u64 + 10);
        std::fs::copy(&ours, &theirs).unwrap();
        mmarray().arg("apply").arg(&ours).args(["--slice", slice]).args(*flags).assert().success();
        python(&format!(
            "import numpy as np\na = np.load({:?}, mmap_mode='r+')\nr = a[{}]\n{}a.flush()\n",
            theirs.display().to_string(),
            if slice.is_empty() { "..." } else { slice },
            numpy_steps(flags)
        ));
        assert!(
            std::fs::read(&ours).unwrap() == std::fs::read(&theirs).unwrap(),
            "case {i}: {dtype} {shape} [{slice}] {flags:?} differs from NumPy"
        );
    }
}

#[test]
fn apply_refuses_what_numpy_refuses_and_read_only_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.npy");
    create(&p, "u1", "10", 1);
    let before = std::fs::read(&p).unwrap();
    mmarray()
        .arg("apply")
        .arg(&p)
        .args(["--add", "300"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("Python integer 300 out of bounds for uint8"));
    mmarray().arg("apply").arg(&p).assert().code(1).stderr(predicates::str::contains("nothing to do"));
    mmarray().arg("apply").arg(&p).args(["--slice", "20", "--add", "1"]).assert().code(1).stderr(
        predicates::str::contains("index 20 is out of bounds for axis 0 with size 10"),
    );
    assert_eq!(std::fs::read(&p).unwrap(), before);
}

#[test]
fn stats_match_numpy() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.npy");
    create(&p, "f4", "200,300", 5);
    let ps = p.display().to_string();
    for (slice, axis, np_expr, np_axis) in [
        ("", None, "a", "None"),
        ("10:150, ::-3", None, "a[10:150, ::-3]", "None"),
        ("", Some("0"), "a", "0"),
        ("5:, 7:200:2", Some("-1"), "a[5:, 7:200:2]", "-1"),
    ] {
        let mut cmd = mmarray();
        cmd.arg("stats").arg(&p).arg("--json").args(["--ddof", "1"]);
        if !slice.is_empty() {
            cmd.args(["--slice", slice]);
        }
        if let Some(ax) = axis {
            cmd.args(["--axis", ax]);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let ours: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let theirs: serde_json::Value = serde_json::from_str(&python(&format!(
            "import numpy as np, json\na = np.load({ps:?}, mmap_mode='r')\nx = {np_expr}.astype(np.float64)\nax = {np_axis}\n\
             print(json.dumps({{'mean': np.mean(x, axis=ax).tolist(), 'std': np.std(x, axis=ax, ddof=1).tolist(),\
             'var': np.var(x, axis=ax, ddof=1).tolist(), 'min': np.min(x, axis=ax).tolist(), 'max': np.max(x, axis=ax).tolist()}}))"
        )))
        .unwrap();
        for key in ["mean", "std", "var", "min", "max"] {
            let flat = |v: &serde_json::Value| -> Vec<f64> {
                match v {
                    serde_json::Value::Array(xs) => xs.iter().map(|x| x.as_f64().unwrap()).collect(),
                    x => vec![x.as_f64().unwrap()],
                }
            };
            let (a, b) = (flat(&ours[key]), flat(&theirs[key]));
            assert_eq!(a.len(), b.len(), "{key} [{slice}] axis {axis:?}");
            for (x, y) in a.iter().zip(&b) {
                assert!((x - y).abs() <= 1e-9 * y.abs().max(1e-12), "{key} [{slice}] axis {axis:?}: {x} vs {y}");
            }
        }
    }
}

#[test]
fn rolling_matches_numpy_sliding_window_view() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("series.npy");
    create(&p, "f4", "50000", 9);
    let ps = p.display().to_string();
    // float32 data gives float32 results (as NumPy's), each the float64
    // value rounded once; --float64 keeps float64
    let cases = [
        ("var", 200, false, "0", false),
        ("var", 200, false, "0", true),
        ("std", 37, true, "1", false),
        ("mean", 1, false, "0", false),
        ("sum", 500, false, "0", true),
        ("sum", 500, false, "0", false),
        ("min", 200, false, "0", false),
        ("max", 3000, true, "0", true),
    ];
    for (stat, window, pad, ddof, float64) in cases {
        let out = dir.path().join(format!("{stat}.npy"));
        let mut cmd = mmarray();
        cmd.arg("rolling").arg(&p).args(["--window", &window.to_string(), "--stat", stat, "--ddof", ddof, "--force", "-o"]).arg(&out);
        if pad {
            cmd.arg("--pad");
        }
        if float64 {
            cmd.arg("--float64");
        }
        let expect = if float64 { "float64" } else { "float32" };
        cmd.assert().success().stdout(predicates::str::contains(format!("values ({expect})")));
        let np_stat = if matches!(stat, "var" | "std") { format!("{stat}(axis=-1, ddof={ddof})") } else { format!("{stat}(axis=-1)") };
        let code = format!(
            "import numpy as np\nfrom numpy.lib.stride_tricks import sliding_window_view as swv\n\
             x = np.load({ps:?}).astype(np.float64)\nref = swv(x, {window}).{np_stat}\n\
             got = np.load({:?})\nassert got.dtype == np.dtype({expect:?}), got.dtype\n\
             if {}:\n    assert np.isnan(got[:{window} - 1]).all(); got = got[{window} - 1:]\n\
             assert got.shape == ref.shape, (got.shape, ref.shape)\n\
             err = np.max(np.abs(got - ref) / np.maximum(np.abs(ref), 1e-3))\n\
             assert err < {}, err\nprint('ok', err)",
            out.display().to_string(),
            if pad { "True" } else { "False" },
            // (rounded once from float64: within one float32 rounding, 2^-24
            // relative, of the float64 reference, plus its own error)
            if float64 { "1e-9" } else { "2**-24 + 1e-9" }
        );
        assert!(python(&code).starts_with("ok"), "{stat} {window} {expect}");
    }
    mmarray().arg("rolling").arg(&p).args(["--window", "0", "--stat", "var", "-o"]).arg(dir.path().join("x.npy")).assert().code(1);
    mmarray().arg("rolling").arg(&p).args(["--window", "5", "--stat", "median", "-o"]).arg(dir.path().join("x.npy")).assert().code(1).stderr(predicates::str::contains("unknown rolling statistic"));
}

/// Runs `f::<T>` for the array in `path` (a native `.npy`), by dtype.
fn with_view<R>(path: &Path, f: impl Fn(&mmarray::MmapArray) -> R) -> R {
    // SAFETY: the test's own file (a temporary directory); the command that
    // wrote it has exited, and nothing writes it while `a` is mapped.
    let a = unsafe { mmarray::MmapArray::open_npy(path, mmarray::Mode::ReadOnly) }.unwrap();
    f(&a)
}

fn lib_quantiles(path: &Path, qs: &[f64], skipna: bool) -> (Vec<f64>, f64) {
    use mmarray::compute::{median, quantile, NanPolicy, QuantileDtype, Real};
    fn go<T: Real>(a: &mmarray::MmapArray, qs: &[f64], nan: NanPolicy) -> (Vec<f64>, f64) {
        let v = a.view::<T>().unwrap();
        (quantile(&v, qs, nan, QuantileDtype::ElementType).unwrap(), median(&v, nan).unwrap())
    }
    let nan = if skipna { NanPolicy::Omit } else { NanPolicy::Propagate };
    with_view(path, |a| match a.dtype().kind() {
        mmarray::ScalarKind::F32 => go::<f32>(a, qs, nan),
        mmarray::ScalarKind::F64 => go::<f64>(a, qs, nan),
        mmarray::ScalarKind::F16 => go::<mmarray::f16>(a, qs, nan),
        mmarray::ScalarKind::I32 => go::<i32>(a, qs, nan),
        mmarray::ScalarKind::U8 => go::<u8>(a, qs, nan),
        k => panic!("{k:?}"),
    })
}

#[test]
fn quantiles_and_medians_are_identical_to_numpy() {
    let dir = tempfile::tempdir().unwrap();
    let qs = [0.0, 0.01, 0.25, 0.5, 0.7, 0.99, 1.0];
    for (i, (dtype, shape, nans)) in
        [("f4", "1001", false), ("f8", "40,50", false), ("f8", "999", true), ("f2", "333", false), ("i4", "500", false), ("u1", "64", false), ("f4", "2000", true)]
            .iter()
            .enumerate()
    {
        let p = dir.path().join(format!("q{i}.npy"));
        create(&p, dtype, shape, 100 + i as u64);
        let ps = p.display().to_string();
        if *nans {
            python(&format!("import numpy as np\na = np.load({ps:?}, mmap_mode='r+')\na.reshape(-1)[::7] = np.nan\na.flush()"));
        }
        for skipna in [false, true] {
            let qlist = qs.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
            let mut cmd = mmarray();
            cmd.arg("stats").arg(&p).args(["--json", "--quantiles", &qlist]);
            if skipna {
                cmd.arg("--skipna");
            }
            let out = cmd.output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let ours: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let fq = if skipna { "nanquantile" } else { "quantile" };
            let fm = if skipna { "nanmedian" } else { "median" };
            let theirs = python(&format!(
                "import numpy as np, json, warnings\nwarnings.simplefilter('ignore')\na = np.load({ps:?})\nqs = {qs:?}\n\
                 print(json.dumps([float(x) for x in np.{fq}(a, qs)]))\n\
                 print(json.dumps([float(np.{fq}(a, q)) for q in qs]))\nprint(json.dumps(float(np.{fm}(a))))"
            ));
            let lines: Vec<serde_json::Value> = theirs.lines().map(|l| serde_json::from_str(l).unwrap_or(serde_json::Value::Null)).collect();
            let as_f = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
            let same = |a: f64, b: f64| a == b || (a.is_nan() && b.is_nan());
            // CLI: array q, float64 interpolation
            for (j, q) in ours["quantiles"].as_array().unwrap().iter().enumerate() {
                let (a, b) = (as_f(&q["value"]), as_f(&lines[0][j]));
                assert!(same(a, b), "{dtype} {shape} nans={nans} skipna={skipna} q={}: {a} vs numpy {b}", qs[j]);
            }
            // library: scalar q (the data's precision) and the median
            let (scalar, med) = lib_quantiles(&p, &qs, skipna);
            for (j, a) in scalar.iter().enumerate() {
                let b = as_f(&lines[1][j]);
                assert!(same(*a, b), "{dtype} {shape} nans={nans} skipna={skipna} scalar q={}: {a} vs numpy {b}", qs[j]);
            }
            let b = as_f(&lines[2]);
            assert!(same(med, b), "{dtype} {shape} median: {med} vs numpy {b}");
        }
    }
}

/// Runs `cmd` under `prlimit --data=LIMIT` bytes (RLIMIT_DATA: heap and
/// private anonymous memory, not the mapped file).
fn under_data_limit(limit: u64, cmd: &mut StdCommand) -> std::process::Output {
    let mut p = StdCommand::new("prlimit");
    p.arg(format!("--data={limit}")).arg(cmd.get_program()).args(cmd.get_args());
    p.output().expect("prlimit (util-linux) is needed")
}

#[test]
fn reductions_use_bounded_memory_where_numpy_needs_a_full_temporary() {
    // 256 MiB of float32: 4096 times the engine's block, and twice the
    // 128 MiB of anonymous memory allowed below.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("big.npy");
    create(&p, "f4", "67108864", 3);
    let bin = assert_cmd::cargo::cargo_bin("mmarray");
    let out = under_data_limit(128 << 20, StdCommand::new(&bin).arg("stats").arg(&p).args(["--json", "--quantiles", "0.5"]));
    assert!(out.status.success(), "mmarray stats under a 128 MiB data limit: {}", String::from_utf8_lossy(&out.stderr));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["count"], 67108864);
    let out = under_data_limit(
        128 << 20,
        StdCommand::new(&bin).arg("rolling").arg(&p).args(["--window", "1000", "--stat", "std", "-o"]).arg(dir.path().join("r.npy")),
    );
    assert!(out.status.success(), "mmarray rolling under the limit: {}", String::from_utf8_lossy(&out.stderr));
    // The control: NumPy's std makes an array-sized temporary and fails.
    let code = format!("import numpy as np\na = np.load({:?}, mmap_mode='r')\nprint(a.std())", p.display().to_string());
    let out = under_data_limit(128 << 20, StdCommand::new(common::python()).args(["-c", &code]));
    assert!(!out.status.success(), "the limit does not bite: NumPy's std passed under it");
    assert!(String::from_utf8_lossy(&out.stderr).contains("MemoryError"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn axis_variants_of_rolling_and_quantiles_match_numpy() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.npy");
    create(&p, "f8", "30,40,5", 77);
    let ps = p.display().to_string();
    for (axis, stat) in [("0", "var"), ("-2", "max"), ("2", "sum")] {
        let out = dir.path().join(format!("r{axis}.npy"));
        mmarray().arg("rolling").arg(&p).args(["--axis", axis, "--window", "3", "--stat", stat, "-o"]).arg(&out).assert().success();
        let code = format!(
            "import numpy as np\nfrom numpy.lib.stride_tricks import sliding_window_view as swv\na = np.load({ps:?})\n\
             ref = swv(a, 3, axis={axis}).{stat}(axis=-1)\ngot = np.load({:?})\nassert got.shape == ref.shape, (got.shape, ref.shape)\n\
             assert np.allclose(got, ref, rtol=1e-12, atol=1e-12)\nprint('ok')",
            out.display().to_string()
        );
        assert!(python(&code).starts_with("ok"), "rolling axis {axis} {stat}");
    }
    let out = mmarray().arg("stats").arg(&p).args(["--axis", "0,2", "--quantiles", "0.1,0.5", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ours: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let theirs: serde_json::Value = serde_json::from_str(&python(&format!(
        "import numpy as np, json\na = np.load({ps:?})\nprint(json.dumps(np.quantile(a, [0.1, 0.5], axis=(0, 2)).tolist()))"
    )))
    .unwrap();
    for (k, q) in ours["quantiles"].as_array().unwrap().iter().enumerate() {
        assert_eq!(q["value"], theirs[k], "q index {k}");
    }
}

#[test]
fn show_prints_like_numpy_str() {
    let dir = tempfile::tempdir().unwrap();
    let script = r#"
import numpy as np, sys, json
d = sys.argv[1]
arrs = {
    'a': np.arange(12.).reshape(3, 4), 'b': np.array([1.5, 2.25, -3.0]), 'c': np.array([1e-5, 1.0, 3.5]),
    'd': np.array([1e9, 2.0]), 'e': np.arange(2000, dtype=np.int32), 'f': np.arange(24).reshape(2, 3, 4),
    'g': np.array([np.nan, 1.0, np.inf]), 'h': np.array([True, False]), 'i': np.linspace(0, 1, 7, dtype=np.float32),
    'j': np.arange(3000.).reshape(1000, 3), 'k': np.array(3.5), 'l': np.arange(30.), 'm': np.arange(-50, 50, dtype=np.int8),
    'n': np.random.default_rng(0).random((40, 50)), 'o': np.arange(100000, dtype=np.uint16).reshape(100, 1000),
    'p': np.array([True]), 'q': np.array([[True, True]]), 'r': np.array(True),
    's': np.array([0.1, 1/3, 65504, 6e-8], dtype=np.float16), 't': np.array([0.1, 2/3], dtype=np.float16),
    'u': np.array([-2**63, 2**63 - 1]), 'v': np.array(np.float16(0.1)),
    # found by the long differential profile: wrapping keeps room for every
    # closing bracket; float32 ties and roundings of the exact value; the
    # lopsided float16 interval at a power of two; summarized integers
    'w': np.array([[[2, 2147483647, 212, 3, 2, -2147483647]]], dtype='<i4'),
    'x': np.array([171667.125, 2026460.25, 0.0090147452, 1e-3], dtype='f4'),
    'y': np.array([-0.015625, 0.001101], dtype='f2'), 'z': np.zeros(2000, dtype='i2'),
    'c8': (np.arange(4, dtype='f4') * 171667.125 + 1j).astype('c8'),
    's4': np.arange(6 * 7 * 6 * 6).reshape(6, 7, 6, 6),  # the '...' of a summarized level keeps its blank line
}
out = {}
for k, a in arrs.items():
    np.save(f'{d}/{k}.npy', a)
    out[k] = str(a)
with np.printoptions(precision=3):
    out['n3'] = str(arrs['n'])
print(json.dumps(out))
"#;
    let out = StdCommand::new(common::python()).args(["-c", script]).arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let want: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for (k, v) in want.as_object().unwrap() {
        let (name, extra): (&str, &[&str]) = if k == "n3" { ("n", &["--precision", "3"]) } else { (k.as_str(), &[]) };
        let got = mmarray().arg("show").arg(dir.path().join(format!("{name}.npy"))).args(extra).output().unwrap();
        assert!(got.status.success(), "{k}: {}", String::from_utf8_lossy(&got.stderr));
        assert_eq!(String::from_utf8(got.stdout).unwrap(), format!("{}\n", v.as_str().unwrap()), "array {k}");
    }
    // a closed pipe ends the command quietly
    let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("mmarray"))
        .arg("show")
        .arg(dir.path().join("o.npy"))
        .arg("--full")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(status.success() && err.is_empty(), "{status:?} {err}");
}
