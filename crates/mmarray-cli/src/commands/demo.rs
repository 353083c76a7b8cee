//! `mmarray demo`: the classic memmap workloads, end to end, each timed and
//! checked, with a table on stdout and `report.md` plus pictures in DIR.

use std::path::PathBuf;
use std::time::Instant;

use mmarray::compute::{apply, matvec, reduce, rolling, ReduceOptions, RollingStat, Scalar, Stat, Step};
use mmarray::{Advice, DType, Mode, NpyOptions, RawOptions, ScalarKind};
use ndarray::{s, Array1, Ix1, Ix2, Ix3, Ix4};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::fill::random_with;
use super::plot::{line_png, rgb_png};
use crate::args::{DemoArgs, DemoSize};
use crate::input::{map_file, MapAs};
use crate::output::{print, CliError};

/// The sizes of each workload.
struct Scale {
    grid: usize,
    region: usize,
    steps: [usize; 4],
    image: (usize, usize),
    samples: usize,
    system: usize,
}

fn scale(size: DemoSize) -> Scale {
    match size {
        DemoSize::Small => Scale { grid: 1000, region: 200, steps: [10, 10, 50, 50], image: (540, 960), samples: 200_000, system: 500 },
        DemoSize::Medium => Scale { grid: 2500, region: 500, steps: [20, 50, 200, 200], image: (2160, 3840), samples: 1_000_000, system: 1000 },
        DemoSize::Large => {
            Scale { grid: 5000, region: 1000, steps: [50, 100, 500, 500], image: (2160, 3840), samples: 2_000_000, system: 2000 }
        }
    }
}

struct Row {
    workload: &'static str,
    operation: String,
    bytes: u64,
    seconds: f64,
    peak_mib: f64,
    result: String,
}

struct Demo {
    dir: PathBuf,
    rows: Vec<Row>,
    failures: Vec<String>,
    files: Vec<PathBuf>,
    pictures: Vec<(String, String)>,
}

/// Peak resident memory of this process so far (VmHWM), in MiB.
fn peak_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

impl Demo {
    fn file(&mut self, name: &str) -> PathBuf {
        let p = self.dir.join(name);
        self.files.push(p.clone());
        p
    }

    /// Runs `f`, timing it and recording a row; `f` returns the result text.
    fn time(&mut self, workload: &'static str, operation: &str, bytes: u64, f: impl FnOnce() -> Result<String, CliError>) -> Result<(), CliError> {
        let t = Instant::now();
        let result = f()?;
        let seconds = t.elapsed().as_secs_f64();
        self.rows.push(Row { workload, operation: operation.to_string(), bytes, seconds, peak_mib: peak_mib(), result });
        Ok(())
    }

    fn check(&mut self, ok: bool, what: String) {
        if !ok {
            self.failures.push(what);
        }
    }
}

fn gib(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= (1u64 << 30) as f64 {
        format!("{:.2} GiB", b / (1u64 << 30) as f64)
    } else if b >= (1 << 20) as f64 {
        format!("{:.1} MiB", b / (1 << 20) as f64)
    } else {
        format!("{:.0} KiB", b / 1024.0)
    }
}

fn grid_workload(d: &mut Demo, sc: &Scale) -> Result<(), CliError> {
    let n = sc.grid;
    let path = d.file("grid.npy");
    let f64s = DType::native(ScalarKind::F64);
    let bytes = (n * n * 8) as u64;
    d.time("1 grid", &format!("create {n}x{n} float64 (w+), fill random"), bytes, || {
        let mut a = map_file(&path, MapAs::NewNpy(&NpyOptions::new(f64s, &[n, n])))?;
        random_with(&mut a, 1, |_, x: f64| x)?;
        a.close()?;
        Ok("ok".into())
    })?;
    let mut a = map_file(&path, MapAs::Npy(Mode::ReadWrite))?;
    let v = a.get::<f64>(&[n / 2, n / 3])?;
    d.time("1 grid", "reopen r+, read one element", 0, || Ok(format!("a[{}, {}] = {v:.6}", n / 2, n / 3)))?;
    let offset = a.offset();
    let raw = map_file(&path, MapAs::Raw(&RawOptions::new(f64s).mode(Mode::ReadOnly).offset(offset).shape(&[n, n])))?;
    let same = raw.get::<f64>(&[n / 2, n / 3])? == v;
    d.check(same, "opening the data with an offset past the header gives other values".into());
    d.time("1 grid", &format!("open as raw past a {offset}-byte header"), 0, || Ok(format!("same value: {same}")))?;
    drop(raw);
    let r = sc.region;
    let block_sum = a.view::<f64>()?.slice(s![0..200.min(n), 0..200.min(n)]).sum();
    d.time("1 grid", "slice a 200x200 block, sum it", 200 * 200 * 8, || Ok(format!("sum = {block_sum:.3}")))?;
    a.set(&[0, 0], 42.0)?;
    d.time("1 grid", "set one element", 0, || Ok("a[0, 0] = 42".into()))?;
    let mut max_after = 0.0;
    d.time("1 grid", &format!("normalize a {r}x{r} region by its max"), (r * r * 8) as u64, || {
        let mut view = a.view_mut::<f64>()?;
        let region = view.slice_mut(s![n / 4..n / 4 + r, n / 4..n / 4 + r]);
        apply(region.into_dyn(), &[Step::Normalize])?;
        max_after = reduce(&view.slice(s![n / 4..n / 4 + r, n / 4..n / 4 + r]), Stat::Max, &ReduceOptions::default())?[[]];
        Ok(format!("max after = {max_after}"))
    })?;
    d.check(max_after == 1.0, format!("the normalized region's max is {max_after}, not 1"));
    let mut std = 0.0;
    d.time("1 grid", &format!("std of another {r}x{r} region"), (r * r * 8) as u64, || {
        let view = a.view::<f64>()?;
        std = reduce(&view.slice(s![n - r.., n - r..]), Stat::Std, &ReduceOptions::default())?[[]];
        Ok(format!("std = {std:.6}"))
    })?;
    d.check((std - (1.0f64 / 12.0).sqrt()).abs() < 0.01, format!("std of uniform data is {std}, not about 0.2887"));
    d.time("1 grid", "flush (durable)", bytes, || {
        a.flush_durable()?;
        Ok("ok".into())
    })?;
    Ok(())
}

fn simulation_workload(d: &mut Demo, sc: &Scale) -> Result<(), CliError> {
    let [t, l, h, w] = sc.steps;
    let path = d.file("velocities.npy");
    let bytes = (t * l * h * w * 4) as u64;
    let mut a = map_file(&path, MapAs::NewNpy(&NpyOptions::new(DType::native(ScalarKind::F32), &sc.steps)))?;
    d.time("2 simulation", &format!("fill {t}x{l}x{h}x{w} float32 velocities"), bytes, || {
        let per_step = l * h * w;
        // velocities grow with time: kinetic energy ~ (1 + step)^2
        random_with(&mut a, 2, |i, x: f32| (1.0 + (i / per_step) as f32) * (x - 0.5))?;
        Ok("ok".into())
    })?;
    let mut energy = Vec::new();
    d.time("2 simulation", "0.5*mean(v^2) per time step", bytes, || {
        let v = a.view::<f32>()?.into_dimensionality::<Ix4>()?;
        let e = reduce(&v, Stat::MeanSq, &ReduceOptions::along(&[1, 2, 3]))?;
        energy = e.iter().map(|x| 0.5 * x).collect();
        Ok(format!("E[0] = {:.4}, E[last] = {:.4}", energy[0], energy[t - 1]))
    })?;
    let ratio = energy[t - 1] / energy[0];
    let expected = (t as f64).powi(2);
    d.check((ratio / expected - 1.0).abs() < 0.1, format!("energy grew {ratio:.1}x, expected about {expected}x"));
    let png = d.dir.join("kinetic_energy.png");
    let points = energy.iter().enumerate().map(|(i, &e)| (i as f64, e)).collect();
    d.time("2 simulation", "plot energy per step (PNG)", 0, || {
        line_png(&png, "mean kinetic energy per time step", "time step", "0.5 * mean(v^2)", points)?;
        Ok("kinetic_energy.png".into())
    })?;
    d.pictures.push(("Mean kinetic energy per time step".into(), "kinetic_energy.png".into()));
    a.close()?;
    Ok(())
}

fn image_workload(d: &mut Demo, sc: &Scale) -> Result<(), CliError> {
    let (h, w) = sc.image;
    let path = d.file("image.npy");
    let bytes = (h * w * 3) as u64;
    let mut a = map_file(&path, MapAs::NewNpy(&NpyOptions::new(DType::native(ScalarKind::U8), &[h, w, 3])))?;
    d.time("3 image", &format!("{w}x{h} RGB uint8, random colours"), bytes, || {
        random_with(&mut a, 3, |_, x: u8| x / 2)?;
        Ok("ok".into())
    })?;
    let r = 1000.min(h).min(w);
    let before: Vec<u8> = a.view::<u8>()?.slice(s![0..4, 0..4, ..]).iter().copied().collect();
    d.time("3 image", &format!("contrast {r}x{r}: clip(region*1.5, 0, 255)"), (r * r * 3) as u64, || {
        let mut view = a.view_mut::<u8>()?;
        let region = view.slice_mut(s![0..r, 0..r, ..]);
        apply(region.into_dyn(), &[Step::Mul(Scalar::Float(1.5)), Step::Clip(Scalar::Int(0), Scalar::Int(255))])?;
        a.flush()?;
        Ok("flushed".into())
    })?;
    let after: Vec<u8> = a.view::<u8>()?.slice(s![0..4, 0..4, ..]).iter().copied().collect();
    let right = before.iter().zip(&after).all(|(&b, &x)| x == (f64::from(b) * 1.5).clamp(0.0, 255.0) as u8);
    d.check(right, "contrast-enhanced pixels differ from clip(x*1.5, 0, 255)".into());
    let crop = a.view::<u8>()?.into_dimensionality::<Ix3>()?;
    let (ch, cw) = (400.min(h), 600.min(w));
    let pixels: Vec<u8> = crop.slice(s![0..ch, 0..cw, ..]).iter().copied().collect();
    let png = d.dir.join("image_crop.png");
    d.time("3 image", &format!("save a {cw}x{ch} crop (PNG)"), (ch * cw * 3) as u64, || {
        rgb_png(&png, cw, ch, pixels)?;
        Ok("image_crop.png".into())
    })?;
    d.pictures.push(("Crop of the image; the contrast-enhanced region is brighter".into(), "image_crop.png".into()));
    a.close()?;
    Ok(())
}

fn series_workload(d: &mut Demo, sc: &Scale) -> Result<(), CliError> {
    let n = sc.samples;
    let batch = 5000;
    let path = d.file("series.npy");
    // (the demo's own file from an earlier run: an appender adds to a file)
    let _ = std::fs::remove_file(&path);
    d.time("4 time series", &format!("append {n} float32 samples in batches of {batch}, each committed durably"), (n * 4) as u64, || {
        let mut w = mmarray::Appender::create(&path, DType::native(ScalarKind::F32), &[], mmarray::Order::C)?;
        let mut rng = StdRng::seed_from_u64(4);
        for start in (0..n).step_by(batch) {
            let end = (start + batch).min(n);
            let rows: Array1<f32> = (start..end).map(|i| (i as f32 * 1e-3).cos() + 0.1 * (rng.random::<f32>() - 0.5)).collect();
            w.write(rows.view())?;
        }
        let shape = w.close()?;
        Ok(format!("{} batches, shape {}", n.div_ceil(batch), mmarray::shape_repr(&shape)))
    })?;
    let a = map_file(&path, MapAs::Npy(Mode::ReadOnly))?;
    let window = 200;
    let mut rv = Array1::zeros(0);
    d.time("4 time series", &format!("rolling variance, window {window}"), (n * 4) as u64, || {
        rv = rolling(a.view::<f32>()?.into_dimensionality::<Ix1>()?, window, RollingStat::Var, 0.0)?;
        Ok(format!("{} values, mean {:.6}", rv.len(), rv.mean().unwrap_or(f64::NAN)))
    })?;
    // uniform noise of width 0.1 has variance 0.01/12 (plus the cosine's)
    let x = a.view::<f32>()?.into_dimensionality::<Ix1>()?;
    let k = n / 2;
    let win: Vec<f64> = x.slice(s![k..k + window]).iter().map(|&v| f64::from(v)).collect();
    let m = win.iter().sum::<f64>() / window as f64;
    let naive = win.iter().map(|v| (v - m).powi(2)).sum::<f64>() / window as f64;
    d.check((rv[k] - naive).abs() <= 1e-9 * naive.max(1e-12) + 1e-12, format!("rolling variance {} != {naive}", rv[k]));
    let png = d.dir.join("rolling_variance.png");
    let step = (rv.len() / 4000).max(1);
    let points = rv.iter().enumerate().step_by(step).map(|(i, &v)| (i as f64, v)).collect();
    d.time("4 time series", "plot the rolling variance (PNG)", 0, || {
        line_png(&png, "rolling variance, window 200", "sample", "variance", points)?;
        Ok("rolling_variance.png".into())
    })?;
    d.pictures.push(("Rolling variance of the streamed series".into(), "rolling_variance.png".into()));
    a.close()?;
    Ok(())
}

fn access_workload(d: &mut Demo, sc: &Scale) -> Result<(), CliError> {
    let n = sc.grid;
    let path = d.dir.join("grid.npy");
    for (hint, advice) in [("no hint", Advice::Normal), ("random hint", Advice::Random)] {
        let mut a = map_file(&path, MapAs::Npy(Mode::ReadWrite))?;
        a.advise(advice)?;
        d.time("5 access", &format!("1000 scattered updates, {hint}"), 0, || {
            let mut v = a.view_mut::<f64>()?.into_dimensionality::<Ix2>()?;
            let mut state = 7u64;
            for _ in 0..1000 {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let (i, j) = ((state >> 20) as usize % n, (state >> 40) as usize % n);
                v[[i, j]] += 1.0;
            }
            Ok("ok".into())
        })?;
        let b = 1000.min(n);
        d.time("5 access", &format!("one {b}x{b} block update, {hint}"), (b * b * 8) as u64, || {
            let mut v = a.view_mut::<f64>()?;
            apply(v.slice_mut(s![0..b, 0..b]).into_dyn(), &[Step::Add(Scalar::Int(1))])?;
            Ok("ok".into())
        })?;
        a.close()?;
    }
    Ok(())
}

fn workers_workload(d: &mut Demo, sc: &Scale) -> Result<(), CliError> {
    let n = sc.grid * 100;
    let path = d.file("shared.npy");
    let mut a = map_file(&path, MapAs::NewNpy(&NpyOptions::new(DType::native(ScalarKind::I64), &[n])))?;
    a.fill_chunks(|start, chunk: &mut [i64]| chunk.iter_mut().enumerate().for_each(|(k, x)| *x = (start + k) as i64))?;
    let header = a.offset();
    a.close()?;
    d.time("6 workers", &format!("4 threads, each mapping its own quarter of {n} int64, +1 on it"), (n * 8) as u64, || {
        std::thread::scope(|s| -> Result<(), CliError> {
            let handles: Vec<_> = (0..4)
                .map(|q| {
                    let path = path.clone();
                    s.spawn(move || -> Result<(), String> {
                        // Each worker maps only the bytes it writes (the
                        // classic disjoint-regions pattern), so no two
                        // threads ever hold a `&mut` over the same bytes
                        // (whole-file views in every thread would alias).
                        let (start, end) = (q * n / 4, (q + 1) * n / 4);
                        let opts = RawOptions::new(DType::native(ScalarKind::I64))
                            .mode(Mode::ReadWrite)
                            .offset(header + (start * 8) as u64)
                            .shape(&[end - start]);
                        // SAFETY: each thread maps only the bytes it writes;
                        // no other handle of this file is open while they run.
                        let mut m = unsafe { opts.open(&path) }.map_err(|e| e.to_string())?;
                        let quarter = m.view_mut::<i64>().map_err(|e| e.to_string())?;
                        apply(quarter, &[Step::Add(Scalar::Int(1))]).map_err(|e| e.to_string())?;
                        m.close().map_err(|e| e.to_string())
                    })
                })
                .collect();
            for h in handles {
                h.join().map_err(|_| "a worker panicked")??;
            }
            Ok(())
        })?;
        Ok("ok".into())
    })?;
    let check = map_file(&path, MapAs::Npy(Mode::ReadOnly))?;
    let v = check.view::<i64>()?;
    let wrong = v.iter().enumerate().filter(|(i, &x)| x != *i as i64 + 1).count();
    d.check(wrong == 0, format!("{wrong} elements of the shared file are wrong"));
    if let Some(r) = d.rows.last_mut() {
        r.result = format!("{} of {n} elements right", n - wrong);
    }
    Ok(())
}

fn solver_workload(d: &mut Demo, sc: &Scale) -> Result<(), CliError> {
    let n = sc.system;
    let path = d.file("matrix.npy");
    let bytes = (n * n * 8) as u64;
    // A symmetric positive definite matrix: exp(-|i-j|/10) + I
    let mut a = map_file(&path, MapAs::NewNpy(&NpyOptions::new(DType::native(ScalarKind::F64), &[n, n])))?;
    a.fill_chunks(|start, chunk: &mut [f64]| {
        for (k, x) in (start..).zip(chunk.iter_mut()) {
            let (i, j) = (k / n, k % n);
            *x = (-(i.abs_diff(j) as f64) / 10.0).exp() + if i == j { 1.0 } else { 0.0 };
        }
    })?;
    let b = Array1::from_iter((0..n).map(|i| (i as f64 * 0.01).sin()));
    let mut residual = f64::NAN;
    d.time("7 solver", &format!("conjugate gradient on a mapped {n}x{n} matrix"), bytes, || {
        let m = a.view::<f64>()?.into_dimensionality::<Ix2>()?;
        let mut x = Array1::<f64>::zeros(n);
        let mut r = b.clone();
        let mut p = r.clone();
        let mut rs = r.dot(&r);
        let mut iters = 0;
        for _ in 0..1000 {
            let ap = matvec(m, p.view())?;
            let alpha = rs / p.dot(&ap);
            x.scaled_add(alpha, &p);
            r.scaled_add(-alpha, &ap);
            let rs_new = r.dot(&r);
            iters += 1;
            if rs_new.sqrt() < 1e-12 * b.dot(&b).sqrt() {
                break;
            }
            p = &r + &(&p * (rs_new / rs));
            rs = rs_new;
        }
        let ax = matvec(m, x.view())?;
        residual = (&ax - &b).dot(&(&ax - &b)).sqrt() / b.dot(&b).sqrt();
        Ok(format!("{iters} iterations, residual {residual:.1e}"))
    })?;
    d.check(residual < 1e-8, format!("the solver's residual is {residual}"));
    a.close()?;
    Ok(())
}

fn table(rows: &[Row]) -> String {
    let mut out = String::from("| workload | operation | data | seconds | throughput | peak RSS | result |\n|---|---|---|---|---|---|---|\n");
    for r in rows {
        let tp = if r.bytes > 0 && r.seconds > 0.0 { format!("{}/s", gib((r.bytes as f64 / r.seconds) as u64)) } else { "-".into() };
        out.push_str(&format!(
            "| {} | {} | {} | {:.3} | {} | {:.0} MiB | {} |\n",
            r.workload,
            r.operation,
            if r.bytes > 0 { gib(r.bytes) } else { "-".into() },
            r.seconds,
            tp,
            r.peak_mib,
            r.result
        ));
    }
    out
}

pub fn run(args: &DemoArgs) -> Result<(), CliError> {
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from("mmarray-demo"));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: cannot create the directory: {e}", dir.display()))?;
    let sc = scale(args.size);
    let mut d = Demo { dir: dir.clone(), rows: Vec::new(), failures: Vec::new(), files: Vec::new(), pictures: Vec::new() };
    type Workload = fn(&mut Demo, &Scale) -> Result<(), CliError>;
    let workloads: [Workload; 7] =
        [grid_workload, simulation_workload, image_workload, series_workload, access_workload, workers_workload, solver_workload];
    let bar = crate::progress::steps(workloads.len() as u64, "demo workloads");
    let result = workloads.iter().try_for_each(|w| {
        w(&mut d, &sc)?;
        bar.inc(1);
        Ok::<(), CliError>(())
    });
    bar.finish_and_clear();
    if !args.keep {
        for f in &d.files {
            let _ = std::fs::remove_file(f);
        }
    }
    result?;
    let table = table(&d.rows);
    let mut report = format!("# mmarray demo ({:?} size)\n\n{table}\n", args.size);
    for (caption, file) in &d.pictures {
        report.push_str(&format!("## {caption}\n\n![{caption}]({file})\n\n"));
    }
    let report_path = dir.join("report.md");
    std::fs::write(&report_path, report).map_err(|e| format!("{}: {e}", report_path.display()))?;
    print(&format!("{table}\nreport and pictures in {}\n", dir.display()))?;
    if d.failures.is_empty() {
        Ok(())
    } else {
        Err(format!("{} check(s) failed: {}", d.failures.len(), d.failures.join("; ")).into())
    }
}

