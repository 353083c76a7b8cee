"""mmarray against NumPy's np.memmap, on the same files in the same run.

Run through `bench/run` (which builds mmarray and provides NumPy). Each
operation runs in a fresh process per side; the table reports the
operation's own time (after opening the file), the ratio NumPy / mmarray,
mmarray's throughput, the peak anonymous memory of each process (temporaries;
the mapped file's page cache is not counted) and the largest relative
difference between the two results.

Two reference lines frame the ratios: the machine's read bandwidth from the
page cache on one core and on all (a memory-bound reduction cannot beat
NumPy's one core by more than their quotient), and, with --cold, the disk's
sequential read speed measured by `dd` on the same cold file. Rows marked
"(py)" run NumPy's own code on an `mmarray.memmap`; their note gives the
Python layer's cost against the Rust engine called directly.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
CLI = os.path.join(TARGET, "release", "mmarray")
OP = os.path.join(TARGET, "release", "examples", "bench_op")

# NumPy's side: what a user writes on an np.memmap / np.load(mmap_mode=...).
# `a` is the array; the code leaves its result in `r`.
NUMPY_CODE = {
    "summary": "r = {'mean': float(a.mean()), 'std': float(a.std()), 'min': float(a.min()), 'max': float(a.max())}",
    "sum": "r = [float(a.sum())]",
    "mean": "r = [float(a.mean())]",
    "std": "r = [float(a.std())]",
    "min": "r = [float(a.min())]",
    "max": "r = [float(a.max())]",
    "std_region": "r = [float(a[{region}].std())]",
    "meansq_steps": "r = (0.5 * np.mean(a ** 2, axis=(1, 2, 3))).tolist()",
    "rolling_loop": "v = np.array([a[i:i + 200].var() for i in range(len(a) - 199)])\nr = [float(v[0]), float(v[len(v) // 2]), float(v[-1])]",
    "rolling_swv": "from numpy.lib.stride_tricks import sliding_window_view as swv\nv = swv(a, 200).var(axis=-1)\nr = [float(v[0]), float(v[len(v) // 2]), float(v[-1])]",
    "normalize": "reg = a[{region}]\nreg /= reg.max()\na.flush()\nr = None",
    "contrast": "reg = a[{region}]\nreg[...] = np.clip(reg * 1.5, 0, 255)\na.flush()\nr = None",
    "matvec": "v = a @ np.ones(a.shape[1], dtype=a.dtype)\nr = [float(v[0]), float(v[len(v) // 2]), float(v[-1])]",
    "rmatvec": "v = a.T @ np.ones(a.shape[0], dtype=a.dtype)\nr = [float(v[0]), float(v[len(v) // 2]), float(v[-1])]",
    # 2000 scattered read-modify-writes at the positions bench_op uses.
    "scatter": "f = a.reshape(-1)\ns = 12345\nfor _ in range(2000):\n    s = (s * 6364136223846793005 + 1442695040888963407) % 2**64\n    f[(s >> 11) % f.size] += 1\na.flush()\nr = None",
}
NUMPY_CODE["scatter_hint"] = NUMPY_CODE["scatter"]

# Operations whose Python code on mmarray.memmap does the same work as the
# Rust side (one engine call), so the difference is the Python layer's cost.
SAME_WORK = {"sum", "std", "max"}
# Operations that read their whole (large) file once: on a cold cache they
# are compared with dd.
FULL_PASS = {"summary", "sum", "mean", "std", "min", "max", "meansq_steps", "matvec", "rmatvec"}
# Operations that change the file open it read-write and are not repeated.
WRITES = {"normalize", "contrast", "scatter", "scatter_hint"}
# Operations measured on a cold page cache only (their point is I/O).
ALWAYS_COLD = {"scatter", "scatter_hint"}


def parse_size(s):
    units = {"": 1, "b": 1, "kib": 2**10, "mib": 2**20, "gib": 2**30, "kb": 10**3, "mb": 10**6, "gb": 10**9}
    num = s.rstrip("KMGiBbkmg")
    return int(float(num) * units[s[len(num):].lower()])


def evict(path):
    """Drops the file's pages from the page cache (cold-cache runs)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def cleanup(files, work=None):
    """Deletes the bench's data files, and its temporary directory `work`."""
    for f in files:
        if os.path.exists(f):
            os.remove(f)
    if work is not None:
        shutil.rmtree(work, ignore_errors=True)


def run_measured(cmd):
    """Runs cmd; returns (its JSON output, peak RssAnon in MiB) sampled every 5 ms."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0]

    def sample():
        status = f"/proc/{proc.pid}/status"
        while proc.poll() is None:
            try:
                with open(status) as f:
                    for line in f:
                        if line.startswith("RssAnon:"):
                            peak[0] = max(peak[0], int(line.split()[1]))
            except OSError:
                pass
            time.sleep(0.005)

    t = threading.Thread(target=sample)
    t.start()
    out, err = proc.communicate()
    t.join()
    if proc.returncode != 0:
        last = (err.strip().splitlines() or ["failed"])[-1]
        return {"seconds": float("nan"), "result": None, "error": last[:70]}, peak[0] / 1024
    return json.loads(out.strip().splitlines()[-1]), peak[0] / 1024


def _script(op, path, region, load):
    """A Python script timing NumPy's code for `op` on the array `load`
    (a function name, e.g. ``np.load``) maps from `path`."""
    code = NUMPY_CODE[op].replace("{region}", region)
    mode = "r+" if op in WRITES else "r"
    extra = ", mmarray" if load.startswith("mmarray") else ""
    return (
        f"import json, time, numpy as np{extra}\n"
        f"a = {load}({path!r}, mmap_mode={mode!r})\n"
        "t = time.perf_counter()\n"
        f"{code}\n"
        "print(json.dumps({'seconds': time.perf_counter() - t, 'result': r}))\n"
    )


def numpy_side(op, path, region):
    # A data limit (half the RAM) makes a temporary too large for the
    # machine fail at once with MemoryError instead of swapping.
    limit = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    return run_measured(["prlimit", f"--data={limit}", sys.executable, "-c", _script(op, path, region, "np.load")])


def python_side(op, path, region):
    """The same NumPy code, on mmarray.memmap instead of np.memmap."""
    return run_measured([sys.executable, "-c", _script(op, path, region, "mmarray.load")])


def mmarray_side(op, path, region):
    out = os.path.join(os.path.dirname(path), "rolling-out.npy")
    extra = {
        "std_region": ["std", "--slice", region],
        "meansq_steps": ["meansq", "--axes", "1,2,3"],
        "rolling_loop": ["rolling", "--window", "200", "--out", out],
        "rolling_swv": ["rolling", "--window", "200", "--out", out],
        "normalize": ["normalize", "--slice", region],
        "contrast": ["contrast", "--slice", region],
        "scatter": ["scatter", "--count", "2000", "--advise", "normal"],
        "scatter_hint": ["scatter", "--count", "2000", "--advise", "random"],
    }
    name, *flags = extra.get(op, [op])
    res, peak = run_measured([OP, name, path] + flags)
    if op == "meansq_steps" and res["result"] is not None:
        res["result"] = [0.5 * x for x in res["result"]]
    return res, peak


def agree(a, b):
    """Largest relative difference between two results (dicts or lists)."""
    if a is None or b is None:
        return float("nan")
    if isinstance(a, dict):
        return max(agree(a[k], b[k]) for k in ("mean", "std", "min", "max"))
    if isinstance(a, list):
        return max((agree(x, y) for x, y in zip(a, b)), default=0.0)
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


def median(xs, key=lambda x: x):
    """The middle item of `xs` by `key` (the upper one of an even count)."""
    return sorted(xs, key=key)[len(xs) // 2]


def bandwidth(path):
    """Prints and returns the read bandwidth of mapped, cached pages on one
    core and on all, and the speed of a fresh mapping's first pass."""
    # The first process to map a newly written file pays a one-time cost
    # (about half the speed, measured); the second one shows what every
    # later fresh mapping pays.
    run_measured([OP, "bandwidth", path])
    res, _ = run_measured([OP, "bandwidth", path])
    bw = res["result"]
    print(f"page-cache read bandwidth (engine max over a mapped file, median of 5): {bw['one']:.1f} GB/s on one core, "
          f"{bw['all']:.1f} GB/s on {bw['threads']}; a memory-bound reduction can beat one core by at most "
          f"{bw['all'] / bw['one']:.2f}x")
    print(f"first pass over a fresh mapping (every page mapped on first touch): {bw['first']:.1f} GB/s, "
          f"{bw['first'] / bw['all']:.0%} of the mapped-page bandwidth")
    return bw


def dd_speed(path, quiet=False):
    """The disk's sequential read speed in GB/s: `dd` of the cold file."""
    evict(path)
    t = time.perf_counter()
    subprocess.run(["dd", f"if={path}", "of=/dev/null", "bs=16M"], check=True, stderr=subprocess.DEVNULL)
    gbps = os.path.getsize(path) / (time.perf_counter() - t) / 1e9
    if not quiet:
        print(f"disk sequential read (dd bs=16M of the cold file): {gbps:.2f} GB/s")
    return gbps


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--size", default="4GiB", help="size of the main files (default 4GiB of float32)")
    p.add_argument("--dir", default=None, help="where to write the data (default: a temp dir, deleted after)")
    p.add_argument("--cold", action="store_true", help="also run the read-only operations on a cold page cache")
    p.add_argument("--keep", action="store_true", help="keep the data files")
    p.add_argument("--only", default=None, help="comma-separated operations to run (default: all), e.g. sum,max,py:std")
    p.add_argument("--cold-repeat", type=int, default=3,
                   help="cold full passes: rounds of (dd, NumPy, mmarray); the table gives medians and mmarray's "
                        "speed against the dd of its own round (default 3; this VM's disk speed varies 2x)")
    p.add_argument("--repeat", type=int, default=5,
                   help="warm read-only operations: rounds of (NumPy, mmarray), interleaved; the table gives "
                        "each side's median (default 5; this VM's bandwidth varies from run to run)")
    args = p.parse_args()
    nbytes = parse_size(args.size)
    cols = 4096
    rows = max(1, nbytes // 4 // cols)
    steps = max(1, nbytes // 4 // (100 * 500 * 500))
    n_series = min(100_000_000, nbytes // 4)
    work = args.dir or tempfile.mkdtemp(prefix="mmarray-bench-")
    os.makedirs(work, exist_ok=True)
    flat, four = os.path.join(work, "data.npy"), os.path.join(work, "steps.npy")
    small, series = os.path.join(work, "series-50k.npy"), os.path.join(work, "series.npy")
    # 1M samples: the largest series whose sliding_window_view(a, 200).var()
    # fits in memory here (its temporary is n x 200 values)
    mid = os.path.join(work, "series-1m.npy")
    image = os.path.join(work, "image.npy")
    files = [flat, four, small, mid, series, image, os.path.join(work, "rolling-out.npy")]
    try:
        t = time.perf_counter()
        for path, dtype, shape in [(flat, "f4", f"{rows},{cols}"), (four, "f4", f"{steps},100,500,500"),
                                   (small, "f4", "50000"), (mid, "f4", "1000000"),
                                   (series, "f4", str(n_series)), (image, "u1", "2160,3840,3")]:
            subprocess.run([CLI, "create", path, "--dtype", dtype, "--shape", shape, "--fill", "random", "--seed", "1",
                            "--force"], check=True, stdout=subprocess.DEVNULL)
        os.sync()  # write-back of the new files would otherwise run during the first timings
        print(f"data: {rows}x{cols} float32 ({rows * cols * 4 / 2**30:.2f} GiB), {steps}x100x500x500 float32, series of "
              f"50,000, 1,000,000 and {n_series:,} float32, a 2160x3840 RGB uint8 image; made in {time.perf_counter() - t:.1f} s")
        region = f"{rows // 4}:{rows // 2}, 1000:3000"
        ops = [("summary", flat, region), ("sum", flat, region), ("mean", flat, region), ("std", flat, region),
               ("min", flat, region), ("max", flat, region), ("std_region", flat, region),
               ("meansq_steps", four, region), ("rolling_loop", small, ""), ("rolling_swv", small, ""),
               ("rolling_swv", mid, ""), ("rolling_swv", series, ""), ("normalize", flat, f"0:{min(rows, 8192)}"),
               ("contrast", image, "0:1000, 0:1000"), ("matvec", flat, ""), ("rmatvec", flat, ""),
               ("py:sum", flat, region), ("py:max", flat, region), ("py:std", flat, region), ("py:summary", flat, region),
               ("py:meansq_steps", four, region),
               # Last: these leave the file's page cache as single pages
               # scattered every ~2 MiB, which keeps the kernel from caching
               # it again in large folios, and a later fresh mapping of such
               # a cache is about twice as slow to fault in (both sides).
               ("scatter", flat, ""), ("scatter_hint", flat, "")]
        bw = bandwidth(flat)
        dd = dd_speed(flat) if args.cold else None
        header = (f"{'operation':<14} {'cache':<5} {'GiB':>6} {'numpy s':>8} {'mmarray s':>9} {'ratio':>6} "
                  f"{'mm GB/s':>7} {'np MiB':>8} {'mm MiB':>7} {'rel diff':>9}")
        print(header)
        print("-" * len(header))
        for cache in ["warm"] + (["cold"] if args.cold else []):
            for op, path, region_ in ops:
                if cache == "cold" and (op in WRITES or op == "rolling_loop"):
                    continue
                if args.only and op not in args.only.split(","):
                    continue
                state = "cold" if op in ALWAYS_COLD else cache
                size = os.path.getsize(path) / 2**30
                if op == "std_region":
                    size = (rows // 4) * 2000 * 4 / 2**30
                elif op == "normalize":
                    size = min(rows, 8192) * cols * 4 / 2**30
                sides = (numpy_side, mmarray_side)
                if op.startswith("py:"):
                    # NumPy's code on np.memmap vs the same code on mmarray.memmap,
                    # and the Rust engine alone for the Python layer's cost
                    op = op[3:]
                    sides = (numpy_side, python_side) + ((mmarray_side,) if op in SAME_WORK else ())
                cold_pass = state == "cold" and dd and op in FULL_PASS
                if state == "warm" and op not in WRITES and len(sides) == 2:
                    rounds = args.repeat
                else:
                    rounds = args.cold_repeat if cold_pass else 1
                runs = [[] for _ in sides]
                dd_ratios = []
                for side in sides:
                    if state == "cold":
                        evict(path)
                    elif op not in WRITES:
                        side(op, path, region_)  # warm the cache and the code
                for _ in range(rounds):
                    round_dd = dd_speed(path, quiet=True) if cold_pass else None
                    for i, side in enumerate(sides):
                        if state == "cold":
                            evict(path)
                        runs[i].append(side(op, path, region_))
                    if round_dd:
                        dd_ratios.append(size * 2**30 / runs[1][-1][0]["seconds"] / 1e9 / round_dd)
                # each side's median run (by time), and the spread of the
                # per-round ratios
                results = [median(r, key=lambda x: x[0]["seconds"]) for r in runs]
                spread = sorted(a[0]["seconds"] / b[0]["seconds"] for a, b in zip(runs[0], runs[1]))
                if len(sides) == 3:
                    # Python layer vs Rust: best of three each, interleaved (one
                    # run of each is noisier than the difference being measured)
                    for _ in range(2):
                        for i in (1, 2):
                            if state == "cold":
                                evict(path)
                            again = sides[i](op, path, region_)
                            if again[0]["seconds"] < results[i][0]["seconds"]:
                                results[i] = again
                (np_out, np_mem), (mm_out, mm_mem) = results[:2]
                ratio = np_out["seconds"] / mm_out["seconds"]
                gbps = size * 2**30 / mm_out["seconds"] / 1e9
                diff = agree(np_out["result"], mm_out["result"])
                note = f"  numpy: {np_out['error']}" if "error" in np_out else ""
                if len(results) == 3:
                    rust = results[2][0]["seconds"]
                    note += f"  python layer {100 * (mm_out['seconds'] / rust - 1):+.1f}% vs Rust ({rust:.3f} s)"
                if rounds > 1 and spread[0] == spread[0]:
                    note += f"  median of {rounds}, ratios {spread[0]:.2f}-{spread[-1]:.2f}"
                if state == "warm" and op in FULL_PASS:
                    note += f"  {gbps / bw['all']:.0%} of 2-core bw"
                if cold_pass:
                    note += f"  {median(dd_ratios):.2f}x dd (median of {rounds} rounds, each against its own dd: " \
                            f"{min(dd_ratios):.2f}-{max(dd_ratios):.2f})"
                label = op if sides[1] is mmarray_side else f"{op} (py)"
                print(f"{label:<14} {state:<5} {size:>6.2f} {np_out['seconds']:>8.3f} {mm_out['seconds']:>9.3f} {ratio:>6.2f} "
                      f"{gbps:>7.1f} {np_mem:>8.0f} {mm_mem:>7.0f} {diff:>9.1e}{note}", flush=True)
    finally:
        if not args.keep:
            cleanup(files, work if args.dir is None else None)


if __name__ == "__main__":
    main()
