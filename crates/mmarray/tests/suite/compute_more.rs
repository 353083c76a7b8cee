//! Matrix-vector products, downsampling and histograms against plain
//! references, over random shapes and layouts.

use crate::common;

use common::NpyPrivate;
use mmarray::compute::{downsample, histogram, matvec, rmatvec};
use ndarray::{Array1, Array2, ShapeBuilder};
use proptest::prelude::*;

fn naive_matvec(a: &Array2<f64>, x: &[f64]) -> Vec<f64> {
    a.rows().into_iter().map(|r| r.iter().zip(x).map(|(p, q)| p * q).sum()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn products_match_for_every_layout(m in 1usize..40, n in 1usize..40, fortran in any::<bool>(), step in 1usize..3, seed in 0u64..1000) {
        let big = Array2::from_shape_fn((m * step, n * step).set_f(fortran), |(i, j)| ((i * 31 + j * 17 + seed as usize) % 23) as f64 - 11.0);
        let a = big.slice(ndarray::s![..;step, ..;step]);
        let owned = a.to_owned();
        let x: Vec<f64> = (0..n).map(|j| (j as f64) * 0.5 - 3.0).collect();
        let y: Vec<f64> = (0..m).map(|i| 1.0 - i as f64 * 0.25).collect();
        let got = matvec(a.view(), Array1::from(x.clone()).view()).unwrap();
        prop_assert_eq!(got.to_vec(), naive_matvec(&owned, &x));
        let got_t = rmatvec(a.view(), Array1::from(y.clone()).view()).unwrap();
        prop_assert_eq!(got_t.to_vec(), naive_matvec(&owned.t().to_owned(), &y));
        // f32 matrices accumulate in f64 too
        let a32 = owned.mapv(|v| v as f32);
        prop_assert_eq!(matvec(a32.view(), Array1::from(x.clone()).view()).unwrap().to_vec(), naive_matvec(&owned, &x));
    }

    #[test]
    fn envelopes_keep_every_extreme(n in 1usize..3000, bins in 1usize..300, seed in 0usize..1000) {
        let x: Vec<f64> = (0..n).map(|i| ((i * 7919 + seed) % 1009) as f64).collect();
        let e = downsample(Array1::from(x.clone()).view(), bins).unwrap();
        let b = bins.min(n);
        prop_assert_eq!(e.min.len(), b);
        for k in 0..b {
            let (lo, hi) = (k * n / b, (k + 1) * n / b);
            let seg = &x[lo..hi];
            prop_assert_eq!(e.start[k], lo);
            prop_assert_eq!(e.min[k], seg.iter().copied().fold(f64::INFINITY, f64::min));
            prop_assert_eq!(e.max[k], seg.iter().copied().fold(f64::NEG_INFINITY, f64::max));
            prop_assert_eq!((e.first[k], e.last[k]), (seg[0], seg[seg.len() - 1]));
        }
    }
}

#[test]
fn histograms_match_numpy() {
    let dir = tempfile::tempdir().unwrap();
    let script = r#"
import numpy as np, json, sys
rng = np.random.default_rng(5)
a = rng.normal(size=100003) * 3
b = rng.integers(-50, 50, size=5000).astype(np.int32)
np.save(sys.argv[1] + '/a.npy', a)
np.save(sys.argv[1] + '/b.npy', b)
out = {}
for bins, r in [(10, None), (37, (-2.5, 4.0)), (1000, (-10, 10)), (7, (0.0, 0.0))]:
    c, e = np.histogram(a, bins, r)
    out[f'a{bins}'] = c.tolist(); out[f'ae{bins}'] = e.tolist()
for bins, r in [(9, None), (100, (-50, 50)), (3, (-1, 1))]:
    c, e = np.histogram(b, bins, r)
    out[f'b{bins}'] = c.tolist(); out[f'be{bins}'] = e.tolist()
print(json.dumps(out))
"#;
    let out = std::process::Command::new(common::python()).args(["-c", script]).arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let reference: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let a = common::open_npy(dir.path().join("a.npy"), mmarray::Mode::ReadOnly).unwrap();
    let b = common::open_npy(dir.path().join("b.npy"), mmarray::Mode::ReadOnly).unwrap();
    let check = |key: &str, h: mmarray::compute::Histogram| {
        let counts: Vec<u64> = serde_json::from_value(reference[key].clone()).unwrap();
        let edges: Vec<f64> = serde_json::from_value(reference[key.replacen(&key[..1], &format!("{}e", &key[..1]), 1)].clone()).unwrap();
        assert_eq!(h.counts, counts, "{key}");
        assert_eq!(h.edges, edges, "{key} edges");
    };
    let av = a.view::<f64>().unwrap();
    check("a10", histogram(&av, 10, None).unwrap());
    check("a37", histogram(&av, 37, Some((-2.5, 4.0))).unwrap());
    check("a1000", histogram(&av, 1000, Some((-10.0, 10.0))).unwrap());
    check("a7", histogram(&av, 7, Some((0.0, 0.0))).unwrap());
    let bv = b.view::<i32>().unwrap();
    check("b9", histogram(&bv, 9, None).unwrap());
    check("b100", histogram(&bv, 100, Some((-50.0, 50.0))).unwrap());
    check("b3", histogram(&bv, 3, Some((-1.0, 1.0))).unwrap());
}

const RSS_CHILD: &str = "MMARRAY_RSS_CHILD_FILE";

/// The process's peak resident set (VmHWM), in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)).unwrap().parse().unwrap()
}

/// Runs in a child process (see `releasing_behind_keeps_the_resident_set_small`).
#[test]
fn rss_child() {
    use mmarray::compute::{summary, with_hints, Behind, NanPolicy, StreamHints};
    let Some(path) = std::env::var_os(RSS_CHILD) else { return };
    let release = std::env::var("MMARRAY_RSS_RELEASE").is_ok();
    let a = common::open_npy(path, mmarray::Mode::ReadOnly).unwrap();
    let v = a.view::<f32>().unwrap();
    let before = peak_rss_kib();
    // 4 MiB windows, two ahead: at most about 12 MiB of the file mapped at once
    let hints = if release { StreamHints { window: 4 << 20, ahead: 2, behind: Behind::Release } } else { StreamHints::kernel() };
    let m = with_hints(hints, || summary(&v, NanPolicy::Propagate));
    assert_eq!(m.count(), v.len() as u64);
    println!("RSS-GROWTH-KIB {}", peak_rss_kib().saturating_sub(before));
}

#[test]
fn releasing_behind_keeps_the_resident_set_small() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.npy");
    let mut a = mmarray::NpyOptions::new(mmarray::DType::native(mmarray::ScalarKind::F32), &[32 << 20]).create_private(&path).unwrap();
    a.fill_with(|i| i as f32).unwrap();
    a.close().unwrap(); // 128 MiB
    let growth = |release: bool| -> u64 {
        let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
        cmd.args(["--exact", "compute_more::rss_child", "--nocapture", "--test-threads=1"]).env(RSS_CHILD, &path);
        if release {
            cmd.env("MMARRAY_RSS_RELEASE", "1");
        }
        let out = cmd.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{text}");
        let after = text.split("RSS-GROWTH-KIB ").nth(1).unwrap_or_else(|| panic!("{text}"));
        after.split_whitespace().next().unwrap().parse().unwrap()
    };
    let kept = growth(false);
    let released = growth(true);
    assert!(kept > 100 << 10, "without hints the whole 128 MiB should become resident: {kept} KiB");
    assert!(released < 32 << 10, "streamed in windows, the pass's resident set peaked {released} KiB higher");
}

/// A pass window by window (a reader thread ahead, pages released behind)
/// gives the very bits of a pass as a whole: summaries are merged in the
/// same fixed groups, in file order.
#[test]
fn windowed_passes_give_the_same_bits() {
    use mmarray::compute::{quantile, summary, with_hints, Behind, NanPolicy, QuantileDtype, StreamHints};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.npy");
    // 3 Mi + 12345 values: 12 MiB and a ragged last window
    let n = (3 << 20) + 12345;
    let mut a = mmarray::NpyOptions::new(mmarray::DType::native(mmarray::ScalarKind::F32), &[n]).create_private(&path).unwrap();
    a.fill_with(|i| {
        let x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
        if i % 300_007 == 7 { f32::NAN } else { x as f32 * 1e-3 - 5e3 }
    })
    .unwrap();
    a.close().unwrap();
    let a = common::open_npy(&path, mmarray::Mode::ReadOnly).unwrap();
    let v = a.view::<f32>().unwrap();
    let run = |h: StreamHints| {
        with_hints(h, || {
            let m = summary(&v, NanPolicy::Omit);
            let p = summary(&v, NanPolicy::Propagate);
            let q = quantile(&v, &[0.0, 0.01, 0.5, 0.999, 1.0], NanPolicy::Omit, QuantileDtype::Float64).unwrap();
            let hist = histogram(&v, 1000, Some((-5e3, 2e4))).unwrap();
            (format!("{m:?} {p:?}"), q.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), format!("{hist:?}"))
        })
    };
    let whole = run(StreamHints::kernel());
    for h in [
        StreamHints { window: 1 << 20, ahead: 2, behind: Behind::Release },
        StreamHints { window: 3 << 20, ahead: 0, behind: Behind::Cold },
        StreamHints { window: 5 << 20, ahead: 7, behind: Behind::Keep },
        // (hostile review: an `ahead` this large overflowed the reader's
        // bound, and the pass waited for ever on the reader's panic)
        StreamHints { window: 1 << 16, ahead: usize::MAX, behind: Behind::Keep },
        StreamHints { window: 1, ahead: 1, behind: Behind::Release },
        StreamHints::larger_than_ram(),
    ] {
        assert_eq!(run(h), whole, "{h:?}");
    }
    // an in-memory array: the same bits, and nothing released
    let mem = v.to_owned();
    let released = with_hints(StreamHints { window: 1 << 20, ahead: 2, behind: Behind::Release }, || summary(&mem.view(), NanPolicy::Omit));
    assert_eq!(format!("{released:?}"), format!("{:?}", summary(&mem.view(), NanPolicy::Omit)));
}

/// An in-place pass window by window (written windows synced and released
/// behind) writes the very bytes of a pass as a whole, to the file (`r+`),
/// or only to the mapping (`c`: a private mapping's pages are never
/// released, its changes stay in memory and the file keeps its bytes).
#[test]
fn windowed_in_place_passes_write_the_same_bytes() {
    use mmarray::compute::{apply, with_hints, Behind, Scalar, Step, StreamHints};
    let dir = tempfile::tempdir().unwrap();
    let n = (6 << 20) + 777; // 24 MiB of f32 and a ragged end
    let make = |name: &str| {
        let path = dir.path().join(name);
        let mut a = mmarray::NpyOptions::new(mmarray::DType::native(mmarray::ScalarKind::F32), &[n]).create_private(&path).unwrap();
        a.fill_with(|i| (i % 1000) as f32 - 500.5).unwrap();
        a.close().unwrap();
        path
    };
    let steps = [Step::Mul(Scalar::Float(1.5)), Step::Add(Scalar::Int(3)), Step::Normalize];
    let streamed = StreamHints { window: 1 << 20, ahead: 2, behind: Behind::Release };
    let mut results = Vec::new();
    for (name, hints) in [("whole.npy", StreamHints::kernel()), ("windows.npy", streamed)] {
        let path = make(name);
        let mut a = common::open_npy(&path, mmarray::Mode::ReadWrite).unwrap();
        with_hints(hints, || apply(a.view_mut::<f32>().unwrap(), &steps)).unwrap();
        a.flush().unwrap();
        drop(a);
        results.push(std::fs::read(&path).unwrap());
    }
    assert_eq!(results[0], results[1]);
    // mode c: the mapping holds the result, the file its old bytes
    let path = make("private.npy");
    let before = std::fs::read(&path).unwrap();
    let mut a = common::open_npy(&path, mmarray::Mode::CopyOnWrite).unwrap();
    with_hints(streamed, || apply(a.view_mut::<f32>().unwrap(), &steps)).unwrap();
    let offset = results[0].len() - n * 4;
    assert_eq!(a.as_bytes(), &results[0][offset..]);
    drop(a);
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

/// Rolling statistics from a mapped series into a mapped output, window by
/// window over both (the input read ahead and released, the output synced
/// and released): the very values of a pass as a whole, for every
/// statistic.
#[test]
fn windowed_rolling_writes_the_same_values() {
    use mmarray::compute::{rolling_into, with_hints, Behind, RollingStat, StreamHints};
    let dir = tempfile::tempdir().unwrap();
    let n = (1 << 20) + 4321; // 4 MiB of f32: 9 windows of 1 MiB over input and output
    let input = dir.path().join("x.npy");
    let mut a = mmarray::NpyOptions::new(mmarray::DType::native(mmarray::ScalarKind::F32), &[n]).create_private(&input).unwrap();
    a.fill_with(|i| ((i * 7919) % 10007) as f32 * 0.01 - 50.0).unwrap();
    a.close().unwrap();
    let x = common::open_npy(&input, mmarray::Mode::ReadOnly).unwrap();
    let streamed = StreamHints { window: 1 << 20, ahead: 2, behind: Behind::Release };
    for (stat, w) in [(RollingStat::Var, 200), (RollingStat::Mean, 3), (RollingStat::Max, 1000), (RollingStat::Min, 70_000)] {
        let mut bytes = Vec::new();
        for (name, hints) in [("whole.npy", StreamHints::kernel()), ("windows.npy", streamed)] {
            let path = dir.path().join(name);
            let m = n - w + 1;
            // SAFETY: the test's own new file; nothing else opens it meanwhile.
            let mut out = unsafe { mmarray::NpyOptions::new(mmarray::DType::native(mmarray::ScalarKind::F32), &[m]).create(&path).unwrap() };
            let xv = x.view::<f32>().unwrap().into_dimensionality::<ndarray::Ix1>().unwrap();
            let ov = out.view_mut::<f32>().unwrap().into_dimensionality::<ndarray::Ix1>().unwrap();
            with_hints(hints, || rolling_into(xv, w, stat, 0.0, ov)).unwrap();
            out.flush().unwrap();
            drop(out);
            bytes.push(std::fs::read(&path).unwrap());
            std::fs::remove_file(&path).unwrap();
        }
        assert!(bytes[0] == bytes[1], "{stat:?} window {w}");
    }
}
