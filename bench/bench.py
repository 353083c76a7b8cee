"""mmarray against NumPy's np.memmap, on the same files in the same run.

Run through `bench/run` (which builds mmarray and provides NumPy). Each
operation runs in a fresh process per side; the table reports the
operation's own time (after opening the file), the ratio NumPy / mmarray,
the peak anonymous memory of each process (temporaries; the mapped file's
page cache is not counted) and whether the results agree.
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

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
CLI = os.path.join(TARGET, "release", "mmarray")
OP = os.path.join(TARGET, "release", "examples", "bench_op")

# NumPy's side: what a user writes on an np.memmap / np.load(mmap_mode='r').
NUMPY_CODE = {
    "summary": "r = {'mean': float(a.mean()), 'std': float(a.std()), 'min': float(a.min()), 'max': float(a.max())}",
    "sum": "r = [float(a.sum())]",
    "mean": "r = [float(a.mean())]",
    "std": "r = [float(a.std())]",
    "min": "r = [float(a.min())]",
    "max": "r = [float(a.max())]",
    "std_region": "r = [float(a[{region}].std())]",
    "meansq_steps": "r = (0.5 * np.mean(a ** 2, axis=(1, 2, 3))).tolist()",
}


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
        raise RuntimeError(f"{cmd} failed: {err}")
    return json.loads(out.strip().splitlines()[-1]), peak[0] / 1024


def numpy_side(op, path, region):
    code = NUMPY_CODE[op].replace("{region}", region)
    script = (
        "import json, time, numpy as np\n"
        f"a = np.load({path!r}, mmap_mode='r')\n"
        "t = time.perf_counter()\n"
        f"{code}\n"
        "print(json.dumps({'seconds': time.perf_counter() - t, 'result': r}))\n"
    )
    return run_measured([sys.executable, "-c", script])


def mmarray_side(op, path, region):
    extra = {"std_region": ["std", "--slice", region], "meansq_steps": ["meansq", "--axes", "1,2,3"]}
    name, *flags = extra.get(op, [op])
    cmd = [OP, name, path] + flags
    out, peak = run_measured(cmd)
    if op == "meansq_steps":
        out["result"] = [0.5 * x for x in out["result"]]
    return out, peak


def agree(a, b):
    """Largest relative difference between two results (dicts or lists)."""
    if isinstance(a, dict):
        return max(agree(a[k], b[k]) for k in ("mean", "std", "min", "max"))
    if isinstance(a, list):
        return max((agree(x, y) for x, y in zip(a, b)), default=0.0)
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--size", default="4GiB", help="data size per file (default 4GiB of float32)")
    p.add_argument("--dir", default=None, help="where to write the data (default: a temp dir, deleted after)")
    p.add_argument("--cold", action="store_true", help="also run every operation on a cold page cache")
    p.add_argument("--keep", action="store_true", help="keep the data files")
    args = p.parse_args()
    nbytes = parse_size(args.size)
    cols = 4096
    rows = max(1, nbytes // 4 // cols)
    work = args.dir or tempfile.mkdtemp(prefix="mmarray-bench-")
    os.makedirs(work, exist_ok=True)
    flat = os.path.join(work, "data.npy")
    four = os.path.join(work, "steps.npy")
    steps = max(1, nbytes // 4 // (100 * 500 * 500))
    try:
        t = time.perf_counter()
        subprocess.run([CLI, "create", flat, "--dtype", "f4", "--shape", f"{rows},{cols}", "--fill", "random", "--seed", "1", "--force"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([CLI, "create", four, "--dtype", "f4", "--shape", f"{steps},100,500,500", "--fill", "random", "--seed", "2", "--force"], check=True, stdout=subprocess.DEVNULL)
        print(f"data: {flat} ({rows}x{cols} float32, {rows*cols*4/2**30:.2f} GiB) and {four} ({steps}x100x500x500), made in {time.perf_counter()-t:.1f} s")
        region = f"{rows // 4}:{rows // 2}, 1000:3000"
        ops = [("summary", flat), ("sum", flat), ("mean", flat), ("std", flat), ("min", flat), ("max", flat),
               ("std_region", flat), ("meansq_steps", four)]
        header = f"{'operation':<14} {'cache':<5} {'GiB':>6} {'numpy s':>8} {'mmarray s':>9} {'ratio':>6} {'np MiB':>8} {'mm MiB':>7} {'rel diff':>9}"
        print(header)
        print("-" * len(header))
        for cache in ["warm"] + (["cold"] if args.cold else []):
            for op, path in ops:
                size = os.path.getsize(path) / 2**30
                if op == "std_region":
                    size = (rows // 4) * 2000 * 4 / 2**30
                results = []
                for side in (numpy_side, mmarray_side):
                    if cache == "cold":
                        evict(path)
                    else:
                        side(op, path, region)  # warm the cache and the code
                    results.append(side(op, path, region))
                (np_out, np_mem), (mm_out, mm_mem) = results
                ratio = np_out["seconds"] / mm_out["seconds"]
                diff = agree(np_out["result"], mm_out["result"])
                print(f"{op:<14} {cache:<5} {size:>6.2f} {np_out['seconds']:>8.3f} {mm_out['seconds']:>9.3f} {ratio:>6.1f} {np_mem:>8.0f} {mm_mem:>7.0f} {diff:>9.1e}", flush=True)
    finally:
        if not args.keep:
            for f in (flat, four):
                if os.path.exists(f):
                    os.remove(f)
            if args.dir is None:
                shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
