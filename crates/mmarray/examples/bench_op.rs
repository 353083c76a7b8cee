//! One timed engine operation on a `.npy` file, for `bench/run`:
//!
//! - `bench_op summary FILE [--slice EXPR]`: count, mean, std, min, max in one pass
//! - `bench_op STAT FILE [--slice EXPR] [--axes A,B]`: a statistic (`sum`, `std`, `meansq`, ...)
//! - `bench_op rolling FILE --window W --out OUT.npy`: rolling variance into a new file
//! - `bench_op normalize FILE --slice EXPR`: divide a region by its max, in place
//! - `bench_op contrast FILE --slice EXPR`: `clip(region * 1.5, 0, 255)` in place (uint8)
//! - `bench_op quantiles FILE [--q Q1,Q2,...]`: exact quantiles (default the median)
//! - `bench_op matvec FILE`: `A @ ones` for a 2-D matrix
//! - `bench_op rmatvec FILE`: `A.T @ ones`
//! - `bench_op scatter FILE --count N [--advise random|normal]`: N scattered
//!   single-element read-modify-writes (x += 1) at pseudo-random positions
//! - `bench_op bandwidth FILE`: the engine's `max` over a mapping whose
//!   pages are all mapped already (after one pass), median of five, on one
//!   thread and on all: the machine's read bandwidth from the page cache,
//!   which bounds what any memory-bound reduction can gain over one core;
//!   and the speed of that first pass (`first`), which maps every page
//!
//! Prints one JSON object: `seconds` (the operation alone, after opening)
//! and `result`. `MMARRAY_THREADS` sets the engine's threads, as for the
//! CLI.

use std::time::Instant;

use mmarray::compute::{apply, matvec, quantile, reduce, rmatvec, rolling, rolling_into, summary, NanPolicy, QuantileDtype, ReduceOptions, RollingStat, Scalar, Stat, Step};
use mmarray::{Advice, DType, Mode, MmapArray, NpyOptions, ScalarKind, Selection};
use ndarray::{Array1, Ix1, Ix2};
use serde_json::json;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> Res<()> {
    mmarray::compute::set_threads(None)?;
    mmarray::compute::install(run).map_err(|e| e.to_string().into())
}

fn run() -> Result<(), String> {
    operation().map_err(|e| e.to_string())
}

fn operation() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [op, file, rest @ ..] = args.as_slice() else {
        return Err("usage: bench_op OP FILE [--slice EXPR] [--axes A,B] [--window W --out OUT]".into());
    };
    let flag = |name: &str| rest.iter().position(|a| a == name).and_then(|i| rest.get(i + 1)).map(String::as_str);
    let sel = Selection::parse(flag("--slice").unwrap_or(""))?;
    let writes = matches!(op.as_str(), "normalize" | "contrast" | "scatter");
    // SAFETY: the benchmark (bench/bench.py) makes FILE and nothing else writes it
    // while the operation runs (the mapping contract).
    let mut a = unsafe { MmapArray::open_npy(file, if writes { Mode::ReadWrite } else { Mode::ReadOnly })? };
    a.advise(Advice::parse(flag("--advise").unwrap_or("normal"))?)?;
    let t = Instant::now();
    let result = match op.as_str() {
        "summary" => {
            let v = sel.apply(a.view::<f32>()?)?;
            let m = summary(&v, NanPolicy::Propagate);
            json!({"count": m.count(), "mean": m.mean(), "std": m.std(0.0), "min": m.min(), "max": m.max()})
        }
        "rolling" => {
            let x = sel.apply(a.view::<f32>()?)?.into_dimensionality::<Ix1>()?;
            let w: usize = flag("--window").ok_or("--window")?.parse()?;
            let m = x.len() - w + 1;
            if m < 1 << 24 {
                // small outputs stay in memory
                let v = rolling(x, w, RollingStat::Var, 0.0)?;
                json!([v[0], v[m / 2], v[m - 1]])
            } else {
                // large ones go to a new mapped file
                let opts = NpyOptions::new(DType::native(ScalarKind::F64), &[m]);
                // SAFETY: OUT is this run's own new file (made by
                // the benchmark); nothing else opens it meanwhile.
                let mut out = unsafe { opts.create(flag("--out").ok_or("--out")?)? };
                rolling_into(x, w, RollingStat::Var, 0.0, out.view_mut::<f64>()?.into_dimensionality::<Ix1>()?)?;
                let v = out.view::<f64>()?;
                let r = json!([v[[0]], v[[m / 2]], v[[m - 1]]]);
                out.close()?;
                r
            }
        }
        "normalize" => {
            let region = sel.apply_mut(a.view_mut::<f32>()?)?;
            apply(region, &[Step::Normalize])?;
            a.flush()?;
            json!(null)
        }
        "contrast" => {
            let region = sel.apply_mut(a.view_mut::<u8>()?)?;
            apply(region, &[Step::Mul(Scalar::Float(1.5)), Step::Clip(Scalar::Int(0), Scalar::Int(255))])?;
            a.flush()?;
            json!(null)
        }
        "scatter" => {
            let n: usize = flag("--count").ok_or("--count")?.parse()?;
            let mut v = a.view_mut::<f32>()?;
            let flat = v.as_slice_memory_order_mut().ok_or("scatter needs a contiguous array")?;
            let len = flat.len() as u64;
            // The same positions as the NumPy side: a 64-bit LCG.
            let mut state = 12345u64;
            for _ in 0..n {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                flat[((state >> 11) % len) as usize] += 1.0;
            }
            a.flush()?;
            json!(null)
        }
        "bandwidth" => {
            let v = a.view::<f32>()?;
            let bytes = (v.len() * 4) as f64;
            let max = || reduce(&v, Stat::Max, &ReduceOptions::default());
            // The first pass maps every page of this fresh mapping: its speed
            // against the later ones is the cost of first touch.
            let t = Instant::now();
            max()?;
            let first = bytes / t.elapsed().as_secs_f64() / 1e9;
            // Median of five: this VM's bandwidth varies from pass to pass
            // (other tenants), and the best pass overstates the usual one.
            let median = |threads: usize| -> Res<f64> {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
                let mut ts = Vec::new();
                for _ in 0..5 {
                    let t = Instant::now();
                    pool.install(max)?;
                    ts.push(t.elapsed().as_secs_f64());
                }
                ts.sort_by(f64::total_cmp);
                Ok(bytes / ts[2] / 1e9)
            };
            let threads = rayon::current_num_threads();
            json!({"first": first, "one": median(1)?, "all": median(threads)?, "threads": threads})
        }
        "quantiles" => {
            let qs: Vec<f64> = flag("--q").unwrap_or("0.5").split(',').map(str::parse).collect::<Result<_, _>>()?;
            let v = sel.apply(a.view::<f32>()?)?;
            json!(quantile(&v, &qs, NanPolicy::Propagate, QuantileDtype::Float64)?)
        }
        "matvec" => {
            let m = a.view::<f32>()?.into_dimensionality::<Ix2>()?;
            let y = matvec(m, Array1::ones(m.ncols()).view())?;
            json!([y[0], y[y.len() / 2], y[y.len() - 1]])
        }
        "rmatvec" => {
            let m = a.view::<f32>()?.into_dimensionality::<Ix2>()?;
            let y = rmatvec(m, Array1::ones(m.nrows()).view())?;
            json!([y[0], y[y.len() / 2], y[y.len() - 1]])
        }
        stat => {
            let v = sel.apply(a.view::<f32>()?)?;
            let axes: Option<Vec<usize>> = flag("--axes").map(|s| s.split(',').map(str::parse).collect()).transpose()?;
            let r = reduce(&v, Stat::parse(stat)?, &ReduceOptions { axes, ..ReduceOptions::default() })?;
            json!(r.iter().copied().collect::<Vec<f64>>())
        }
    };
    let seconds = t.elapsed().as_secs_f64();
    println!("{}", json!({"seconds": seconds, "result": result}));
    Ok(())
}
