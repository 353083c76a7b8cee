"""dask.distributed over a file larger than the cluster's memory (issue 12).

Run through `bench/run --dask` (which builds mmarray and provides the pinned
packages). A float32 `.npy` file of --size (default 8 GiB) against a
`LocalCluster(n_workers=2, threads_per_worker=1, memory_limit=--worker-memory)`
(default 2 GiB each, so the file is twice the cluster's memory), on a cold
page cache for each side:

- mean, std and a 64-bin histogram through dask with `mmarray.to_dask`;
- the same through `da.from_array(np.load(path, mmap_mode='r'))` (NumPy's
  memmap: dask copies the array into the client and ships it in the graph);
- the same with mmarray's single-process engine (no dask), for reference.

Each side runs in a fresh client process with a data limit of half the RAM
(so a side that needs more fails with MemoryError instead of taking the
machine down) and a time limit. Reported: wall time, the graph's pickled
size (counted while pickling, never held), the client's peak RSS (VmHWM),
the workers' peak RSS (VmHWM, which counts the file pages they map), and
whether the side finished. Then `mmarray.store_npy` of `x * 2` into a new
file of the same size, against `dd if=/dev/zero ... conv=fdatasync` of the
same size in the same run (the disk's sequential write speed).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench import CLI, cleanup, evict, parse_size  # noqa: E402

CLIENT = r"""
import json, os, sys, time
import numpy as np
import dask, dask.array as da
import mmarray

path, how, workers, memory = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
out = {"how": how}

def peak():
    return next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmHWM:"))

class Count:
    n = 0
    def write(self, b):
        self.n += memoryview(b).nbytes

def graph_bytes(*xs):
    import cloudpickle
    c = Count()
    g = {}
    for x in xs:
        g.update(dict(x.__dask_graph__()))
    cloudpickle.CloudPickler(c, protocol=5).dump(g)
    return c.n

t = time.perf_counter()
try:
    if how == "engine":
        a = mmarray.load(path, mmap_mode="r")
        r = [float(a.mean()), float(a.std()), np.histogram(a, bins=64, range=(0.0, 1.0))[0].tolist()]  # (the engine)
        out["graph_bytes"] = 0
        out["worker_peak"] = []
    else:
        from distributed import Client, LocalCluster
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, memory_limit=memory,
                          dashboard_address=None) as cluster, Client(cluster) as c:
            if how == "to_dask":
                x = mmarray.to_dask(path)
            else:
                x = da.from_array(np.load(path, mmap_mode="r"))
            parts = [x.mean(), x.std(), da.histogram(x, bins=64, range=(0.0, 1.0))[0]]
            out["graph_bytes"] = graph_bytes(*parts)
            out["chunks"] = x.npartitions
            mean, std, hist = c.compute(parts, sync=True)
            r = [float(mean), float(std), hist.tolist()]
            out["worker_peak"] = sorted(c.run(peak).values())
    out["seconds"] = time.perf_counter() - t
    out["mean"], out["std"], out["hist_total"] = r[0], r[1], int(sum(r[2]))
    out["finished"] = True
except BaseException as e:
    out["seconds"] = time.perf_counter() - t
    out["finished"] = False
    out["error"] = f"{type(e).__name__}: {str(e)[:120]}"
out["client_peak"] = peak()
print(json.dumps(out))
"""

STORE = r"""
import json, sys, time
import mmarray
from distributed import Client, LocalCluster

path, target, workers, memory = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, memory_limit=memory,
                  dashboard_address=None) as cluster, Client(cluster) as c:
    x = mmarray.to_dask(path)
    t = time.perf_counter()
    mmarray.store_npy(x * 2, target)
    seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds}))
"""


def run_client(code, args, timeout):
    limit = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    try:
        p = subprocess.run(["prlimit", f"--data={limit}", sys.executable, "-c", code, *args],
                           capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"finished": False, "error": f"did not finish in {timeout} s", "seconds": float("nan")}
    lines = p.stdout.strip().splitlines()
    if p.returncode != 0 or not lines:
        last = (p.stderr.strip().splitlines() or ["failed"])[-1]
        return {"finished": False, "error": f"exit {p.returncode}: {last[:120]}", "seconds": float("nan")}
    return json.loads(lines[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--size", default="8GiB", help="the float32 file's size (default 8GiB)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--worker-memory", default="2GiB", help="each worker's memory_limit (default 2GiB)")
    p.add_argument("--dir", default=None, help="where to write the data (default: a temp dir, deleted after)")
    p.add_argument("--timeout", type=int, default=900, help="seconds each side may take (default 900)")
    p.add_argument("--skip-numpy", action="store_true", help="leave out the from_array side")
    args = p.parse_args()
    nbytes = parse_size(args.size)
    work = args.dir or tempfile.mkdtemp(prefix="mmarray-dask-bench-")
    os.makedirs(work, exist_ok=True)
    need = 2 * nbytes + 2**30
    free = shutil.disk_usage(work).free
    if free < need:
        sys.exit(f"{work}: {free / 2**30:.1f} GiB free, the bench needs {need / 2**30:.1f} GiB (two files of {args.size})")
    path, out, zeros = (os.path.join(work, n) for n in ("data.npy", "doubled.npy", "dd.bin"))
    n = nbytes // 4
    cluster_mem = args.workers * parse_size(args.worker_memory)
    try:
        t = time.perf_counter()
        subprocess.run([CLI, "create", path, "--dtype", "f4", "--shape", str(n), "--fill", "random", "--seed", "1",
                        "--force"], check=True, stdout=subprocess.DEVNULL)
        os.sync()
        print(f"data: {n:,} float32 ({nbytes / 2**30:.2f} GiB), {nbytes / cluster_mem:.1f}x the cluster's memory "
              f"({args.workers} workers x {args.worker_memory}); made in {time.perf_counter() - t:.1f} s")
        evict(path)
        t = time.perf_counter()
        subprocess.run(["dd", f"if={path}", "of=/dev/null", "bs=16M"], check=True, stderr=subprocess.DEVNULL)
        dd_read = nbytes / (time.perf_counter() - t) / 1e9
        print(f"disk sequential read (dd bs=16M of the cold file): {dd_read:.2f} GB/s")
        header = f"{'side':<26} {'finished':>8} {'wall s':>8} {'GB/s':>6} {'graph bytes':>12} {'client MiB':>10} {'workers MiB':>14}  result"
        print(header)
        print("-" * len(header))
        sides = [("to_dask", "mmarray.to_dask"), ("numpy", "da.from_array(np.load(r))"), ("engine", "mmarray engine, 1 process")]
        for how, label in sides:
            if how == "numpy" and args.skip_numpy:
                continue
            evict(path)
            r = run_client(CLIENT, [path, how, str(args.workers), args.worker_memory], args.timeout)
            wall = r.get("seconds", float("nan"))
            gbps = nbytes / wall / 1e9 if r.get("finished") else float("nan")
            workers = "/".join(f"{w / 2**20:.0f}" for w in r.get("worker_peak", [])) or "-"
            result = (f"mean {r['mean']:.6f} std {r['std']:.6f} hist total {r['hist_total']:,}"
                      if r.get("finished") else r.get("error", ""))
            client = f"{r['client_peak'] / 2**20:.0f}" if "client_peak" in r else "-"
            graph = f"{r['graph_bytes']:,}" if "graph_bytes" in r else "-"
            print(f"{label:<26} {str(bool(r.get('finished'))):>8} {wall:>8.1f} {gbps:>6.2f} {graph:>12} {client:>10} {workers:>14}  {result}",
                  flush=True)
        # the write path: store_npy of x * 2 against dd's sequential write
        t = time.perf_counter()
        subprocess.run(["dd", "if=/dev/zero", f"of={zeros}", "bs=16M", f"count={nbytes // 2**24}", "conv=fdatasync"],
                       check=True, stderr=subprocess.DEVNULL)
        dd_write = (nbytes // 2**24) * 2**24 / (time.perf_counter() - t) / 1e9
        os.remove(zeros)
        evict(path)
        r = run_client(STORE, [path, out, str(args.workers), args.worker_memory], args.timeout)
        if "seconds" in r and r.get("finished", True):
            gbps = nbytes / r["seconds"] / 1e9
            import numpy as np

            a, b = np.load(path, mmap_mode="r"), np.load(out, mmap_mode="r")
            step = max(1, n // 1_000_000)
            exact = bool((b[::step] == a[::step] * 2).all())
            print(f"store_npy(x * 2): {r['seconds']:.1f} s, {gbps:.2f} GB/s = {gbps / dd_write:.2f}x dd's sequential write "
                  f"(dd if=/dev/zero bs=16M conv=fdatasync: {dd_write:.2f} GB/s); every {step}th value checked: {exact}")
        else:
            print(f"store_npy(x * 2): did not finish: {r.get('error')}")
    finally:
        cleanup([path, out, zeros], work if args.dir is None else None)


if __name__ == "__main__":
    main()
