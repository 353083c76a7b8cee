//! One timed engine operation on a float32 `.npy` file, for `bench/run`:
//!
//! `bench_op OP FILE [--slice EXPR] [--axes A,B]`, where OP is `summary`
//! (count, mean, std, min, max in one pass) or any statistic name (`sum`,
//! `mean`, `std`, `var`, `min`, `max`, `meansq`, ...). Prints one JSON
//! object: `seconds` (the operation alone, after opening) and `result`.

use std::time::Instant;

use mmarray::compute::{reduce, summary, NanPolicy, ReduceOptions, Stat};
use mmarray::{Advice, Mode, MmapArray, Selection};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [op, file, rest @ ..] = args.as_slice() else {
        return Err("usage: bench_op OP FILE [--slice EXPR] [--axes A,B]".into());
    };
    let flag = |name: &str| rest.iter().position(|a| a == name).and_then(|i| rest.get(i + 1));
    let a = MmapArray::open_npy(file, Mode::ReadOnly)?;
    a.advise(Advice::Sequential)?;
    let view = Selection::parse(flag("--slice").map_or("", String::as_str))?.apply(a.view::<f32>()?)?;
    let axes: Option<Vec<usize>> =
        flag("--axes").map(|s| s.split(',').map(str::parse).collect()).transpose()?;
    let t = Instant::now();
    let result: serde_json::Value = if op == "summary" {
        let m = summary(&view, NanPolicy::Propagate);
        serde_json::json!({"count": m.count(), "mean": m.mean(), "std": m.std(0.0), "min": m.min(), "max": m.max()})
    } else {
        let opts = ReduceOptions { axes, ..ReduceOptions::default() };
        let r = reduce(&view, Stat::parse(op)?, &opts)?;
        serde_json::json!(r.iter().copied().collect::<Vec<f64>>())
    };
    let seconds = t.elapsed().as_secs_f64();
    println!("{}", serde_json::json!({"seconds": seconds, "result": result}));
    Ok(())
}
