"""Benchmark: the coursework mixture fitted as a map-reduce on Dask, data on disk, N to 2e8.

For each N (D = 2, K = 5): the data are written to a ``.npy`` file block by block (never all in
memory), then a *fresh process* fits them with :func:`vi_impl.scale.fit` on a
``dask.distributed`` LocalCluster inside that process (one worker, ``--threads`` threads), so
the process's peak resident set size (VmHWM) is the peak memory of the whole run:
interpreter, scheduler, worker, data chunks, statistics. Measured per N:

* seconds per sweep (median over the sweeps; wall clock) and CPU seconds per sweep (all
  threads of the process, ``time.process_time``), each also per data point;
* the first pass (data check and mean), and the peak RSS of the process;
* in the same run, at N = 1e6: the in-memory :func:`vi_impl.models.gmm.fit` per iteration,
  [t(max_iter=S+1) - t(max_iter=1)] / S (wall and CPU), in a fresh process too; the ratio of
  each chunked run's time per sweep per point to it (target <= 1.5) is in the rows.

The OS page cache may hold the file (this machine has 24 GiB): sweeps then read the data at
memory speed, not disk speed; the JSON records the file size and the free memory.

Run: .venv/bin/python benchmarks/bench_dask.py [--sizes 1e5 1e6 ...] [--json FILE]
(the default sizes go to 2e8: 3.2 GB of disk in --data-dir and minutes of CPU). It prints a
Markdown table; --plot FILE draws the log-log figure of time and memory against N.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

K, D, SIGMA2 = 5, 2, 100.0
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SIZES = [1e5, 3e5, 1e6, 3e6, 1e7, 3e7, 1e8, 2e8]


def centres():
    return np.random.default_rng(2026).normal(scale=4.0, size=(K, D))


def make_rows(start, stop):
    """Rows start..stop-1 of the benchmark data (the same rows whatever the block size)."""
    rng = np.random.default_rng([11, start])
    return centres()[rng.integers(K, size=stop - start)] + rng.normal(size=(stop - start, D))


def start_means():
    return centres() + 0.5


def chunk_rows_for(N, chunk_rows):
    return int(min(chunk_rows, max(1, -(-N // 2))))


def peak_rss_bytes():
    """Peak resident set size of this process (VmHWM of /proc/self/status). Not ru_maxrss:
    Linux carries the parent's peak into a child's ru_maxrss across fork and exec."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_chunked(path, N, sweeps, chunk_rows, threads):
    """In this process: LocalCluster + chunked fit; returns the measurements (a dict)."""
    from distributed import Client, LocalCluster

    from vi_impl.scale import fit
    with LocalCluster(n_workers=1, threads_per_worker=threads, processes=False,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        res = fit(path, K, SIGMA2, init=start_means(), tol=0, max_iter=sweeps,
                  chunk_rows=chunk_rows, client=client)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    sweep_wall = float(np.median(res.sweep_seconds))
    first_pass = wall - float(np.sum(res.sweep_seconds))
    cpu_per_sweep = float(np.median(res.sweep_cpu_seconds))   # the cluster runs in this process
    return {"N": int(N), "chunk_rows": int(chunk_rows), "n_chunks": int(res.n_chunks),
            "sweeps": int(sweeps), "sec_per_sweep": sweep_wall, "cpu_per_sweep": cpu_per_sweep,
            "first_pass_sec": first_pass, "total_sec": wall, "total_cpu_sec": cpu,
            "peak_rss_bytes": peak_rss_bytes(), "elbo_last": float(res.elbo[-1])}


def run_in_memory(path, iters, repeats=3):
    """In this process: vi_impl.models.gmm.fit per iteration on the whole array,
    [min t(max_iter=iters+1) - min t(max_iter=1)] / iters over ``repeats`` runs of each."""
    from vi_impl.models import gmm
    X = np.load(path)
    out = {}
    for clock_name, clock in (("sec", time.perf_counter), ("cpu", time.process_time)):
        times = {1: [], iters + 1: []}
        for _ in range(repeats):
            for n in times:
                t0 = clock()
                gmm.fit(X, K, SIGMA2, init=start_means(), tol=0, max_iter=n)
                times[n].append(clock() - t0)
        out[f"{clock_name}_per_iter"] = (min(times[iters + 1]) - min(times[1])) / iters
    out.update(N=len(X), iters=iters,
               peak_rss_bytes=peak_rss_bytes())
    return out


def in_subprocess(kind, **kwargs):
    """Run ``kind`` ("chunked" or "memory") in a fresh interpreter; returns its dict."""
    code = (f"import json, sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); "
            f"import bench_dask as b; print('RESULT', json.dumps(b.run_{kind}(**{kwargs!r})))")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=ROOT, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{kind} run failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")


def data_file(data_dir, N):
    from vi_impl.scale import write_npy
    path = Path(data_dir) / f"bench_dask_{int(N)}.npy"
    if not path.exists():              # written under another name, renamed when complete
        partial = path.with_suffix(".partial.npy")
        write_npy(partial, int(N), D, make_rows, chunk_rows=1_000_000)
        partial.rename(path)
    return path


def machine():
    import dask
    import distributed
    free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return {"python": platform.python_version(), "numpy": np.__version__,
            "dask": dask.__version__, "distributed": distributed.__version__,
            "cpus": os.cpu_count(), "free_memory_bytes": int(free),
            "load_average_1min": os.getloadavg()[0]}


def table(doc):
    mem = doc["in_memory"]
    per_pt = mem["sec_per_iter"] / mem["N"] * 1e9
    lines = [f"in-memory gmm.fit at N = {mem['N']:.0e}: {mem['sec_per_iter'] * 1e3:.1f} ms/iter "
             f"wall ({per_pt:.1f} ns/point), {mem['cpu_per_iter'] * 1e3:.1f} ms CPU", "",
             "| N | chunks | s/sweep | ns/point | x in-memory | CPU s/sweep | x in-memory (CPU) "
             "| first pass s | peak RSS MiB |", "|---|---|---|---|---|---|---|---|---|"]
    for r in doc["rows"]:
        lines.append(f"| {r['N']:.0e} | {r['n_chunks']} | {r['sec_per_sweep']:.3g} | "
                     f"{r['ns_per_point']:.1f} | {r['ratio_wall']:.2f} | {r['cpu_per_sweep']:.3g} | "
                     f"{r['ratio_cpu']:.2f} | {r['first_pass_sec']:.3g} | "
                     f"{r['peak_rss_bytes'] / 2**20:.0f} |")
    return "\n".join(lines)


def plot(doc, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = doc["rows"]
    N = np.array([r["N"] for r in rows], dtype=float)
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    ax[0].loglog(N, [r["sec_per_sweep"] for r in rows], "o-", label="chunked, Dask (wall)")
    ax[0].loglog(N, [r["cpu_per_sweep"] for r in rows], "s--", label="chunked, Dask (CPU)")
    mem = doc["in_memory"]
    ax[0].loglog(N, N * mem["sec_per_iter"] / mem["N"], ":", color="k",
                 label="in-memory fit at 1e6 (wall), per point x N")
    ax[0].loglog(N, N * mem["cpu_per_iter"] / mem["N"], "-.", color="gray",
                 label="in-memory fit at 1e6 (CPU), per point x N")
    ax[0].set(xlabel="N", ylabel="seconds per sweep", title="time per CAVI sweep")
    ax[0].legend()
    ax[1].loglog(N, np.array([r["peak_rss_bytes"] for r in rows]) / 2**30, "o-",
                 label="peak RSS of the run")
    ax[1].loglog(N, N * D * 8 / 2**30, ":", color="gray", label="size of X")
    ax[1].loglog(N, N * K * 8 / 2**30, "--", color="gray", label="size of the responsibilities")
    ax[1].axhline(2.0, color="r", lw=0.8, label="2 GiB target")
    ax[1].set(xlabel="N", ylabel="GiB", title="memory")
    ax[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", nargs="+", type=float, default=DEFAULT_SIZES)
    p.add_argument("--sweeps", type=int, default=None,
                   help="sweeps per run (default: 10 up to N = 1e7, 4 above)")
    p.add_argument("--chunk-rows", type=int, default=4_000_000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--memory-iters", type=int, default=20)
    p.add_argument("--data-dir", default=os.path.join(tempfile.gettempdir(), "bench_dask"))
    p.add_argument("--keep-data", action="store_true", help="keep the .npy files")
    p.add_argument("--json", default=None, help="write the results as JSON to this file")
    p.add_argument("--plot", default=None, help="draw the log-log figure into this file")
    p.add_argument("--replot", default=None, metavar="JSON",
                   help="only draw --plot from an earlier --json file (no measurement)")
    args = p.parse_args(argv)
    if args.replot:
        doc = json.loads(Path(args.replot).read_text(encoding="utf-8"))
        plot(doc, args.plot or "dask_scaling.png")
        print(table(doc))
        return doc
    Path(args.data_dir).mkdir(parents=True, exist_ok=True)

    ref_path = data_file(args.data_dir, 1_000_000)
    in_memory = in_subprocess("in_memory", path=str(ref_path), iters=args.memory_iters)
    per_point = in_memory["sec_per_iter"] / in_memory["N"]
    per_point_cpu = in_memory["cpu_per_iter"] / in_memory["N"]
    rows = []
    for N in sorted(int(n) for n in args.sizes):
        path = data_file(args.data_dir, N)
        sweeps = args.sweeps or (10 if N <= 10_000_000 else 4)
        r = in_subprocess("chunked", path=str(path), N=N, sweeps=sweeps,
                          chunk_rows=chunk_rows_for(N, args.chunk_rows), threads=args.threads)
        r["ns_per_point"] = r["sec_per_sweep"] / N * 1e9
        r["ratio_wall"] = r["sec_per_sweep"] / N / per_point
        r["ratio_cpu"] = r["cpu_per_sweep"] / N / per_point_cpu
        r["file_bytes"] = path.stat().st_size
        rows.append(r)
        print(f"N = {N:.0e}: {r['sec_per_sweep']:.3g} s/sweep ({r['ratio_wall']:.2f}x in-memory), "
              f"peak RSS {r['peak_rss_bytes'] / 2**20:.0f} MiB", flush=True)
        if not args.keep_data and path != ref_path:
            path.unlink()
        if args.json:                       # partial results survive an interrupted run
            _write(args, in_memory, rows)
    if not args.keep_data:
        ref_path.unlink()
    doc = _write(args, in_memory, rows)
    print(table(doc))
    if args.plot:
        plot(doc, args.plot)
    return doc


def _write(args, in_memory, rows):
    doc = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
           "machine": machine(), "K": K, "D": D, "sigma2": SIGMA2, "threads": args.threads,
           "command": "benchmarks/bench_dask.py " + " ".join(sys.argv[1:]),
           "in_memory": in_memory, "rows": rows}
    if args.json:
        Path(args.json).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return doc


if __name__ == "__main__":
    main()
