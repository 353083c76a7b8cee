"""mmarray against NumPy's np.memmap, on the same files in the same run.

Run through `bench/run` (which builds mmarray and provides NumPy). Each
operation runs in a fresh process per side; the table reports the
operation's own time (after opening the file), the ratio NumPy / mmarray,
mmarray's throughput, the peak anonymous memory of each process (temporaries;
the mapped file's page cache is not counted) and the largest relative
difference between the two results.

Reference lines frame the ratios: the machine's read bandwidth from the
page cache on one core and on all (a memory-bound reduction cannot beat
NumPy's one core by more than their quotient), how fast a new process gets
fresh memory (before and after the table: rows with large temporaries pay
it), and, with --cold, the disk's sequential read speed measured by `dd` on
the same cold file. Rows marked
"(py)" run NumPy's own code on an `mmarray.memmap`; their note gives the
Python layer's cost against the Rust engine called directly. Rows marked
"1t" run mmarray on one thread (MMARRAY_THREADS=1), so scaling shows.

Then (unless --no-writes) the write rows: a new file made by NumPy and by
`mmarray create`/`convert`, each durable at the end, against `dd
conv=fdatasync` of the same size in the same round.

--huge instead runs cold full passes over a file of 1.5x RAM (or --size),
made after checking free space and deleted afterwards: dd, NumPy's sum and
mmarray's (the Rust engine, `stats`, `np.sum` on an `mmarray.memmap`,
dask's threads over `mmarray.to_dask`) in each round, then exact quantiles
(several passes), in-place `apply` and `rolling` into a new file, with
peak anonymous memory and how much of an unrelated 1 GiB cached file each
pass evicted (`--huge-only` runs some of these groups).
"""
import argparse
import functools
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
    "quantiles": "r = np.quantile(a, [0.01, 0.5, 0.99]).tolist()",
    "median": "r = [float(np.median(a))]",
    "histogram": "c, e = np.histogram(a, 100)\nr = [int(c[0]), int(c[50]), int(c[-1]), float(e[50])]",
    # a given range: the binning pass alone (the data's range is a pass of its own)
    "histogram_range": "c, e = np.histogram(a, 100, (0.0, 1.0))\nr = [int(c[0]), int(c[50]), int(c[-1]), float(e[50])]",
    "mul_inplace": "a *= np.float32(1.5)\na.flush()\nr = None",
    # 2000 scattered read-modify-writes at the positions bench_op uses.
    "scatter": "f = a.reshape(-1)\ns = 12345\nfor _ in range(2000):\n    s = (s * 6364136223846793005 + 1442695040888963407) % 2**64\n    f[(s >> 11) % f.size] += 1\na.flush()\nr = None",
}
NUMPY_CODE["scatter_hint"] = NUMPY_CODE["scatter"]

# Operations whose Python code on mmarray.memmap does the same work as the
# Rust side (one engine call), so the difference is the Python layer's cost.
SAME_WORK = {"sum", "std", "max"}
# Operations that read their whole (large) file once: on a cold cache they
# are compared with dd.
FULL_PASS = {"summary", "sum", "mean", "std", "min", "max", "meansq_steps", "matvec", "rmatvec", "histogram_range"}
# --huge's groups of rows (--huge-only picks some): the write rows, the
# cold full passes, the cold quantiles, in place, rolling into a new file.
HUGE_GROUPS = {"create", "passes", "quantiles", "inplace", "rolling"}
DASK_SUM = (
    "import json, time, dask, mmarray\n"
    "dask.config.set(scheduler='threads')\n"
    "x = mmarray.to_dask({path!r})\n"
    "t = time.perf_counter()\n"
    "r = [float(x.sum().compute())]\n"
    "print(json.dumps({{'seconds': time.perf_counter() - t, 'result': r, 'chunks': x.npartitions}}))\n"
)
# Operations that change the file open it read-write and are not repeated.
WRITES = {"normalize", "contrast", "scatter", "scatter_hint", "mul_inplace"}
# Operations measured on a cold page cache only (their point is I/O).
ALWAYS_COLD = {"scatter", "scatter_hint"}
# Operations too slow on NumPy's side (tens of seconds) to repeat: one round.
SLOW = {"quantiles", "median", "histogram", "histogram_range"}


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


def run_measured(cmd, threads=None, wall=False):
    """Runs cmd (with MMARRAY_THREADS=threads if given); returns (its JSON
    output, or with `wall` its wall time, and its peak RssAnon in MiB
    sampled every 5 ms)."""
    env = dict(os.environ, MMARRAY_THREADS=str(threads)) if threads else None
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
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
    if wall:
        return {"seconds": time.perf_counter() - start, "result": None}, peak[0] / 1024
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


def python_side(op, path, region, threads=None):
    """The same NumPy code, on mmarray.memmap instead of np.memmap."""
    return run_measured([sys.executable, "-c", _script(op, path, region, "mmarray.load")], threads)


def mmarray_side(op, path, region, threads=None):
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
    res, peak = run_measured([OP, name, path] + flags, threads)
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


def fresh_memory():
    """Prints and returns how fast a new process gets fresh memory: the
    first touch of 1 GiB (`np.ones`), in GB/s, and the rewrite of the same
    pages, for scale. On this development VM the first touch has ranged
    from 0.11 to 4.9 GB/s within minutes (the host backs freed guest memory
    lazily): a row whose code makes large temporaries (NumPy's quantile
    copy, `a ** 2`), or that fills new page cache (the write rows), pays
    it on either side, and its ratio moves with it."""
    code = ("import numpy as np, time\nt = time.perf_counter(); a = np.ones(1 << 28, dtype=np.float32)\n"
            "u = time.perf_counter(); a[:] = 2\nprint(time.perf_counter() - u, u - t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    rewrite, first = (2**30 / float(x) / 1e9 for x in out)
    print(f"fresh memory (a new process's first touch of 1 GiB): {first:.2f} GB/s; rewriting it: {rewrite:.1f} GB/s")
    return first


def dd_speed(path, quiet=False):
    """The disk's sequential read speed in GB/s: `dd` of the cold file."""
    evict(path)
    t = time.perf_counter()
    subprocess.run(["dd", f"if={path}", "of=/dev/null", "bs=16M"], check=True, stderr=subprocess.DEVNULL)
    gbps = os.path.getsize(path) / (time.perf_counter() - t) / 1e9
    if not quiet:
        print(f"disk sequential read (dd bs=16M of the cold file): {gbps:.2f} GB/s")
    return gbps


# ------------------------------------------------------------------ the write path

# NumPy's side of making a new file: what a user writes, in 64 MiB steps (a
# whole-file temporary would need the file's size in memory), flushed and
# fsynced, so both sides end with the data on disk as dd's conv=fdatasync.
NUMPY_WRITE = {
    "random": "rng = np.random.default_rng(1)\nfor i in range(0, n, step):\n    a[i:i + step] = rng.random(min(step, n - i), dtype=np.float32)",
    "arange": "for i in range(0, n, step):\n    a[i:i + step] = np.arange(i, min(i + step, n), dtype=np.float32)",
    "convert": "src = np.load({src!r}, mmap_mode='r').reshape(-1)\nfor i in range(0, n, step):\n    a[i:i + step] = src[i:i + step]",
}


def numpy_write(kind, path, n, src=None):
    code = NUMPY_WRITE[kind].replace("{src!r}", repr(src))
    script = (
        "import json, os, time, numpy as np\n"
        f"n, step = {n}, 16 << 20\n"
        "t = time.perf_counter()\n"
        f"a = np.lib.format.open_memmap({path!r}, mode='w+', dtype='<f4', shape=(n,))\n"
        f"{code}\n"
        f"a.flush()\nfd = os.open({path!r}, os.O_RDONLY)\nos.fsync(fd)\nos.close(fd)\n"
        "print(json.dumps({'seconds': time.perf_counter() - t, 'result': None}))\n"
    )
    return run_measured([sys.executable, "-c", script])


def mmarray_write(kind, path, n, src=None, threads=None):
    if kind == "convert":
        cmd = [CLI, "convert", src, path, "--force"]
    else:
        cmd = [CLI, "create", path, "--dtype", "<f4", "--shape", str(n), "--fill", kind, "--seed", "1", "--force"]
    return run_measured(cmd, threads, wall=True)


def dd_write(path, nbytes):
    """Seconds for `dd` to write nbytes of zeros to a new file and fdatasync it."""
    os.sync()
    t = time.perf_counter()
    subprocess.run(["dd", "if=/dev/zero", f"of={path}", "bs=16M", f"count={nbytes >> 24}", "conv=fdatasync"],
                   check=True, stderr=subprocess.DEVNULL)
    secs = time.perf_counter() - t
    os.remove(path)
    return secs


def write_rows(work, n, src, repeat):
    """New files of n float32 made by NumPy and by mmarray (and a copy of
    `src`, which holds n float32), each round against a dd of the same size
    in that round; medians of `repeat`."""
    out = os.path.join(work, "written.npy")
    print(f"\nwriting a new {n * 4 / 2**30:.2f} GiB float32 file, durable at the end (dd: if=/dev/zero bs=16M conv=fdatasync):")
    header = f"{'operation':<22} {'dd s':>6} {'numpy s':>8} {'mmarray s':>9} {'ratio':>6} {'x dd':>5} {'mm GB/s':>7} {'np MiB':>7} {'mm MiB':>7}"
    print(header)
    print("-" * len(header))
    try:
        for kind, threads in [("random", None), ("random", 1), ("arange", None), ("convert", None)]:
            rounds = []
            for _ in range(repeat):
                dd = dd_write(out, n * 4)
                os.sync()
                np_res = numpy_write(kind, out, n, src) if threads is None else ({"seconds": float("nan")}, float("nan"))
                cleanup([out])
                os.sync()
                mm_res = mmarray_write(kind, out, n, src, threads)
                cleanup([out])
                rounds.append((dd, np_res, mm_res))
            dd, (np_out, np_mem), (mm_out, mm_mem) = median(rounds, key=lambda r: r[2][0]["seconds"])
            mm_s, np_s = mm_out["seconds"], np_out["seconds"]
            label = f"{'create --fill ' + kind if kind != 'convert' else 'convert .npy to .npy'}" + (f" {threads}t" if threads else "")
            print(f"{label:<22} {dd:>6.2f} {np_s:>8.2f} {mm_s:>9.2f} {np_s / mm_s:>6.2f} {dd / mm_s:>5.2f} "
                  f"{n * 4 / mm_s / 1e9:>7.2f} {np_mem:>7.0f} {mm_mem:>7.0f}"
                  + (f"  median of {repeat}, x dd {min(r[0] / r[2][0]['seconds'] for r in rounds):.2f}-"
                     f"{max(r[0] / r[2][0]['seconds'] for r in rounds):.2f}" if repeat > 1 else ""), flush=True)
    finally:
        cleanup([out])


# ------------------------------------------------------------------ appending

# Each side streams the same samples (batch k is k*BATCH + arange(BATCH))
# into a new file; the clock covers the appends and the final close.
APPEND_PRELUDE = (
    "import json, os, sys, time, numpy as np\n"
    "path, n, b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])\n"
    "batches = (np.arange(k, min(k + b, n), dtype='<f4') for k in range(0, n, b))\n"
    "t = time.perf_counter()\n"
)
APPEND_SIDES = [
    ("mmarray, commit per batch", "fsync of the rows, then of the header, per batch",
     "import mmarray\nwith mmarray.appender(path, dtype='<f4') as w:\n    for x in batches: w.write(x)\n"),
    ("mmarray, commit per second", "the same, once a second and at close: a crash loses <= 1 s, never corrupts",
     "import mmarray\nwith mmarray.appender(path, dtype='<f4', commit_secs=1.0) as w:\n    for x in batches: w.write(x)\n"),
    ("npy-append-array 0.9.19", "none: no fsync; after a power cut the header may name rows never written",
     "from npy_append_array import NpyAppendArray\nwith NpyAppendArray(path, delete_if_exists=True) as w:\n"
     "    for x in batches: w.append(x)\n"),
    ("np.memmap re-created per batch", "msync of the batch; the file's new length is never synced (raw file)",
     "m = 0\nfor x in batches:\n    a = np.memmap(path, dtype='<f4', mode='r+' if m else 'w+', shape=(m + len(x),))\n"
     "    a[m:] = x; a.flush(); m += len(x); del a\n"),
    ("write(2) + fdatasync per batch", "the limit: rows durable per batch (raw file, no header)",
     "fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)\nfor x in batches:\n"
     "    os.write(fd, x.tobytes()); os.fdatasync(fd)\nos.close(fd)\n"),
]


def append_rows(args):
    """Streaming 10 M float32 samples in batches of 5,000 (issue 13):
    mmarray's appender against npy-append-array, a re-created np.memmap
    and write + fdatasync, each into a new file in the same run; samples/s,
    and the durability each side gives."""
    import numpy as np

    n, b = args.append_samples, 5000
    work = args.dir or tempfile.mkdtemp(prefix="mmarray-bench-")
    os.makedirs(work, exist_ok=True)
    print(f"appending {n:,} float32 samples in batches of {b:,} to a new file (median of {args.repeat}):")
    header = f"{'side':<32} {'seconds':>8} {'Msamples/s':>10} {'peak MiB':>8}  durability"
    print(header)
    print("-" * len(header))
    try:
        for label, durability, code in APPEND_SIDES:
            path = os.path.join(work, "stream.npy" if "np.memmap" not in label and "write(2)" not in label else "stream.f4")
            runs = []
            for _ in range(args.repeat):
                cleanup([path])
                os.sync()
                script = APPEND_PRELUDE + code + "print(json.dumps({'seconds': time.perf_counter() - t, 'result': None}))\n"
                runs.append(run_measured([sys.executable, "-c", script, path, str(n), str(b)]))
                out = runs[-1][0]
                if "error" not in out:
                    got = np.load(path, mmap_mode="r") if path.endswith(".npy") else np.memmap(path, dtype="<f4", mode="r")
                    if got.shape != (n,) or not np.array_equal(got, np.arange(n, dtype="<f4")):
                        out["error"] = f"wrong result: shape {got.shape}"
                    del got
            out, mem = median(runs, key=lambda r: r[0]["seconds"])
            secs = out["seconds"]
            note = f"  ({out['error']})" if "error" in out else ""
            print(f"{label:<32} {secs:>8.3f} {n / secs / 1e6:>10.2f} {mem:>8.0f}  {durability}{note}", flush=True)
    finally:
        cleanup([os.path.join(work, "stream.npy"), os.path.join(work, "stream.f4")], work if args.dir is None else None)


# ------------------------------------------------------------------ larger than RAM

def cached_fraction(path):
    """The fraction of path's pages in the page cache (util-linux fincore)."""
    out = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES,SIZE", path],
                         capture_output=True, text=True, check=True).stdout.split()
    return int(out[0]) / max(1, int(out[1]))


def huge(args):
    """Cold full passes over a file larger than RAM: dd, NumPy and mmarray
    in each round, mmarray's speed against its own round's dd."""
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    nbytes = parse_size(args.size) if args.size_given else int(ram * 1.5)
    nbytes = nbytes >> 24 << 24
    work = args.dir or tempfile.mkdtemp(prefix="mmarray-bench-huge-")
    os.makedirs(work, exist_ok=True)
    path, other = os.path.join(work, "huge.npy"), os.path.join(work, "bystander.bin")
    free = shutil.disk_usage(work).free
    need = nbytes + 2**30 + 4 * 2**30
    if free < need:
        sys.exit(f"bench --huge: {work} has {free / 2**30:.1f} GiB free; a {nbytes / 2**30:.1f} GiB file and its "
                 f"margin need {need / 2**30:.1f} GiB (choose another --dir or a smaller --size)")
    try:
        print(f"larger than RAM: {nbytes / 2**30:.1f} GiB of float32 ({nbytes / ram:.2f}x this machine's "
              f"{ram / 2**30:.1f} GiB RAM), in {work}")
        groups = set(args.huge_only.split(",")) if args.huge_only else HUGE_GROUPS
        if groups - HUGE_GROUPS:
            sys.exit(f"bench --huge-only: unknown groups {sorted(groups - HUGE_GROUPS)}; the groups are {sorted(HUGE_GROUPS)}")
        dd = dd_write(path, nbytes) if "create" in groups else None
        res, mem = mmarray_write("random", path, nbytes // 4)
        print(f"create --fill random: {res['seconds']:.1f} s ({nbytes / res['seconds'] / 1e9:.2f} GB/s"
              + (f", {dd / res['seconds']:.2f}x dd conv=fdatasync of the same size: {dd:.1f} s" if dd else "")
              + f"), peak anon {mem:.0f} MiB", flush=True)
        # A 1 GiB file read before each pass: how much of it a pass evicts
        # (the rest of the system's page cache).
        with open(other, "wb") as f:
            f.write(os.urandom(1 << 20) * 1024)
        sides = {
            "numpy sum": lambda: run_measured(["prlimit", f"--data={ram // 2}", sys.executable, "-c",
                                               _script("sum", path, "", "np.load")]),
            "mmarray sum (Rust)": lambda: run_measured([OP, "sum", path]),
            "mmarray stats (CLI)": lambda: run_measured([CLI, "stats", path, "--json"], wall=True),
            "mmarray.memmap sum": lambda: run_measured([sys.executable, "-c",
                                                        _script("sum", path, "", "mmarray.load")]),
            # dask's threaded scheduler over mmarray.to_dask's chunks (each
            # task maps its own 128 MiB of the file)
            "to_dask sum (threads)": lambda: run_measured([sys.executable, "-c", DASK_SUM.format(path=path)]),
        }
        runs = {name: [] for name in sides}
        for _ in range(args.cold_repeat if "passes" in groups or "quantiles" in groups else 0):
            d = dd_speed(path, quiet=True)
            for name, side in sides.items():
                subprocess.run(["cat", other], stdout=subprocess.DEVNULL, check=True)
                evict(path)
                out, mem = side()
                runs[name].append((out, mem, d, cached_fraction(other)))
        if "passes" in groups or "quantiles" in groups:
            huge_passes(runs, nbytes)
        if "quantiles" in groups:
            huge_quantiles(path, other, nbytes, ram, runs)
        if "inplace" in groups:
            huge_inplace(path, other, nbytes)
        if "rolling" in groups:
            huge_rolling(path, other, nbytes, work)
    finally:
        cleanup([path, other, os.path.join(work, "rolling-out.npy")], work if args.dir is None else None)


def huge_passes(runs, nbytes):
    """Prints the cold full passes' table from `runs` (name: [(output,
    anon MiB, dd GB/s of the round, bystander fraction kept)])."""
    header = f"{'cold full pass':<22} {'seconds':>8} {'GB/s':>6} {'x dd':>5} {'vs numpy':>8} {'anon MiB':>8} {'bystander':>9}"
    print(header)
    print("-" * len(header))
    np_s = median(runs["numpy sum"], key=lambda r: r[0]["seconds"])[0]["seconds"]
    for name, rs in runs.items():
        out, mem, d, kept = median(rs, key=lambda r: r[0]["seconds"])
        secs = out["seconds"]
        x_dd = sorted(nbytes / r[0]["seconds"] / 1e9 / r[2] for r in rs)
        print(f"{name:<22} {secs:>8.1f} {nbytes / secs / 1e9:>6.2f} {x_dd[len(x_dd) // 2]:>5.2f} {np_s / secs:>8.2f} "
              f"{mem:>8.0f} {kept:>9.0%}  x dd per round {x_dd[0]:.2f}-{x_dd[-1]:.2f} (dd: "
              f"{', '.join(f'{r[2]:.2f}' for r in rs)} GB/s)" + (f"  {out['error']}" if "error" in out else ""), flush=True)


def huge_inplace(path, other, nbytes):
    """In place: read and write the whole file once (one round each:
    NumPy's takes minutes), flushed, cold, after the bystander."""
    inplace = {
        "numpy a *= 1.5, flush": lambda: run_measured([sys.executable, "-c", _script("mul_inplace", path, "", "np.load")]),
        "mmarray apply --mul": lambda: run_measured([CLI, "apply", path, "--mul", "1.5"], wall=True),
    }
    print(f"{'cold in place':<22} {'seconds':>8} {'GB/s':>6} {'vs numpy':>8} {'anon MiB':>8} {'bystander':>9}  (GB/s read, and as much written)")
    times = {}
    for name, side in inplace.items():
        subprocess.run(["cat", other], stdout=subprocess.DEVNULL, check=True)
        os.sync()
        evict(path)
        out, mem = side()
        times[name] = out["seconds"]
        print(f"{name:<22} {out['seconds']:>8.1f} {nbytes / out['seconds'] / 1e9:>6.2f} "
              f"{times['numpy a *= 1.5, flush'] / out['seconds']:>8.2f} {mem:>8.0f} {cached_fraction(other):>9.0%}"
              + (f"  {out['error']}" if "error" in out else ""), flush=True)


def huge_quantiles(path, other, nbytes, ram, runs):
    """Exact quantiles (0.01, 0.5, 0.99) over the cold file: NumPy's
    np.quantile (which copies the whole file into memory, so fails here
    under a data limit of half the RAM) and the same call on an
    mmarray.memmap (the engine's radix narrowing: several passes over the
    data, each a cold read of a file larger than RAM). Each pass is
    compared with the cold sum (one pass) of the same run."""
    sum_s = median(runs["mmarray sum (Rust)"], key=lambda r: r[0]["seconds"])[0]["seconds"]
    dd = median(runs["mmarray sum (Rust)"], key=lambda r: r[2])[2]
    for name, load, limit in [("numpy np.quantile", "np.load", ["prlimit", f"--data={ram // 2}"]),
                              ("np.quantile on mmarray.memmap", "mmarray.load", [])]:
        subprocess.run(["cat", other], stdout=subprocess.DEVNULL, check=True)
        evict(path)
        out, mem = run_measured(limit + [sys.executable, "-c", _script("quantiles", path, "", load)])
        secs = out["seconds"]
        if "error" in out:
            print(f"cold quantiles, {name}: fails after {mem:.0f} MiB anon: {out['error']}", flush=True)
            continue
        print(f"cold quantiles 0.01,0.5,0.99, {name}: {secs:.1f} s = {secs / sum_s:.2f} cold sums' time "
              f"({nbytes / secs / 1e9:.2f} GB/s of data; a pass at the sum's speed is {nbytes / sum_s / 1e9:.2f} GB/s, "
              f"dd {dd:.2f} GB/s), peak anon {mem:.0f} MiB, bystander {cached_fraction(other):.0%} cached, "
              f"result {out['result']}", flush=True)


def huge_rolling(path, other, nbytes, work):
    """`rolling` over the cold file into a new one (window 200 variance,
    float32 out: read once, written once, fsynced), against its limit in
    the same run: `dd` copying the cold file, `conv=fdatasync`. NumPy has no
    bounded way to do it (`sliding_window_view(a, 200).var(axis=-1)` takes
    memory and time 200 times the series'). Needs room for the output."""
    out = os.path.join(work, "rolling-out.npy")
    free = shutil.disk_usage(work).free
    if free < nbytes + 2**30:
        print(f"cold rolling: skipped, {free / 2**30:.1f} GiB free and its output needs {nbytes / 2**30:.1f} GiB "
              f"(choose a smaller --size)", flush=True)
        return
    os.sync()
    evict(path)
    t = time.perf_counter()
    subprocess.run(["dd", f"if={path}", f"of={out}", "bs=16M", "conv=fdatasync", "status=none"], check=True)
    copy = time.perf_counter() - t
    if os.path.exists(out):
        os.remove(out)
    os.sync()
    subprocess.run(["cat", other], stdout=subprocess.DEVNULL, check=True)
    evict(path)
    res, mem = run_measured([CLI, "rolling", path, "--window", "200", "--stat", "var", "--output", out], wall=True)
    secs = res["seconds"]
    print(f"cold rolling var, window 200, into a new file: {secs:.1f} s ({nbytes / secs / 1e9:.2f} GB/s read and as much "
          f"written, {copy / secs:.2f}x dd copying the file with conv=fdatasync: {copy:.1f} s), peak anon {mem:.0f} MiB, "
          f"bystander {cached_fraction(other):.0%} cached" + (f"  {res['error']}" if "error" in res else ""), flush=True)
    if os.path.exists(out):
        os.remove(out)


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
    p.add_argument("--huge", action="store_true",
                   help="instead: cold full passes over a file 1.5x the RAM (or --size), made after checking free "
                        "space and deleted after, against dd and NumPy")
    p.add_argument("--huge-only", default=None,
                   help=f"with --huge: comma-separated groups of rows to run (default all: {','.join(sorted(HUGE_GROUPS))})")
    p.add_argument("--no-writes", action="store_true", help="skip the write-path rows")
    p.add_argument("--append", action="store_true",
                   help="only the streaming-append rows: mmarray.appender against npy-append-array, "
                        "a re-created np.memmap and write + fdatasync")
    p.add_argument("--append-samples", type=int, default=10_000_000, help="samples the --append rows stream")
    args = p.parse_args()
    if args.append:
        return append_rows(args)
    args.size_given = any(a == "--size" or a.startswith("--size=") for a in sys.argv[1:])
    if args.huge:
        return huge(args)
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
               # exact order statistics: NumPy sorts a copy of the whole file
               ("py:quantiles", flat, region), ("py:median", flat, region),
               # NumPy bins 65,536 values at a time, on one core
               ("py:histogram", flat, region), ("py:histogram_range", flat, region),
               # the engine on one thread: how it scales past this machine's cores
               ("sum@1", flat, region), ("std@1", flat, region), ("summary@1", flat, region),
               ("py:quantiles@1", flat, region), ("py:median@1", flat, region),
               # Last: these leave the file's page cache as single pages
               # scattered every ~2 MiB, which keeps the kernel from caching
               # it again in large folios, and a later fresh mapping of such
               # a cache is about twice as slow to fault in (both sides).
               ("scatter", flat, ""), ("scatter_hint", flat, "")]
        bw = bandwidth(flat)
        fresh_memory()
        dd = dd_speed(flat) if args.cold else None
        header = (f"{'operation':<14} {'cache':<5} {'GiB':>6} {'numpy s':>8} {'mmarray s':>9} {'ratio':>6} "
                  f"{'mm GB/s':>7} {'np MiB':>8} {'mm MiB':>7} {'rel diff':>9}")
        print(header)
        print("-" * len(header))
        for cache in ["warm"] + (["cold"] if args.cold else []):
            for op, path, region_ in ops:
                if cache == "cold" and (op in WRITES or op in SLOW or op == "rolling_loop"):
                    continue
                if args.only and op not in args.only.split(","):
                    continue
                state = "cold" if op in ALWAYS_COLD else cache
                size = os.path.getsize(path) / 2**30
                if op == "std_region":
                    size = (rows // 4) * 2000 * 4 / 2**30
                elif op == "normalize":
                    size = min(rows, 8192) * cols * 4 / 2**30
                # "OP@N": mmarray on N threads (MMARRAY_THREADS), NumPy as always
                op, _, threads = op.partition("@")
                threads = int(threads) if threads else None
                mm = functools.partial(mmarray_side, threads=threads)
                sides = (numpy_side, mm)
                py = op.startswith("py:")
                if py:
                    # NumPy's code on np.memmap vs the same code on mmarray.memmap,
                    # and the Rust engine alone for the Python layer's cost
                    op = op[3:]
                    sides = (numpy_side, functools.partial(python_side, threads=threads)) + ((mm,) if op in SAME_WORK else ())
                cold_pass = state == "cold" and dd and op in FULL_PASS
                if op in SLOW:
                    rounds = 1
                elif state == "warm" and op not in WRITES and len(sides) == 2:
                    rounds = args.repeat
                else:
                    rounds = args.cold_repeat if cold_pass else 1
                runs = [[] for _ in sides]
                dd_ratios = []
                for side in sides:
                    if state == "cold":
                        evict(path)
                    elif op not in WRITES and not (op in SLOW and side is numpy_side):
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
                label = (f"{op} (py)" if py else op) + (f" {threads}t" if threads else "")
                print(f"{label:<14} {state:<5} {size:>6.2f} {np_out['seconds']:>8.3f} {mm_out['seconds']:>9.3f} {ratio:>6.2f} "
                      f"{gbps:>7.1f} {np_mem:>8.0f} {mm_mem:>7.0f} {diff:>9.1e}{note}", flush=True)
        fresh_memory()
        if not args.no_writes and not args.only:
            write_rows(work, rows * cols, flat, args.cold_repeat)
    finally:
        if not args.keep:
            cleanup(files, work if args.dir is None else None)


if __name__ == "__main__":
    main()
