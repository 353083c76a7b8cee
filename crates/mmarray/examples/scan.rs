//! Times the engine's passes over an existing `.npy` file of float32, in
//! one process (first pass faults the mapping in; later ones do not):
//! `cargo run --release --example scan -- FILE.npy`.

use std::time::Instant;

use mmarray::compute::{reduce, summary, NanPolicy, ReduceOptions, Stat};
use mmarray::{Advice, Mode, MmapArray};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: scan FILE.npy")?;
    let a = MmapArray::open_npy(&path, Mode::ReadOnly)?;
    a.advise(Advice::Sequential)?;
    let v = a.view::<f32>()?;
    let gb = a.nbytes() as f64 / 1e9;
    for round in 0..3 {
        let t = Instant::now();
        let m = summary(&v, NanPolicy::Propagate);
        let dt = t.elapsed().as_secs_f64();
        println!("summary #{round}: {dt:.3} s {:.1} GB/s mean={} std={}", gb / dt, m.mean(), m.std(0.0));
    }
    for stat in [Stat::Sum, Stat::Min, Stat::ArgMax] {
        let t = Instant::now();
        let r = reduce(&v, stat, &ReduceOptions::default())?;
        let dt = t.elapsed().as_secs_f64();
        println!("{}: {dt:.3} s {:.1} GB/s = {}", stat.name(), gb / dt, r[[]]);
    }
    Ok(())
}
