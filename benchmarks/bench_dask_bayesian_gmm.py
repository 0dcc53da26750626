"""Benchmark: the full Bayesian mixture fitted as a map-reduce on Dask, data on disk.

The data, the file layout and the memory measure are those of ``bench_dask.py`` (D = 2,
K = 5, rows written block by block to a ``.npy`` file; peak RSS = VmHWM of a fresh process
that runs a one-worker ``dask.distributed`` LocalCluster in itself). Per N:
:func:`vi_impl.scale.bayesian_gmm.fit` (default prior and start) for ``--sweeps`` sweeps,
seconds per sweep (median; wall clock and CPU of the process) and per point, and the peak RSS;
once, at N = 1e6, the in-memory :func:`vi_impl.models.bayesian_gmm.fit` per iteration,
[min t(max_iter=S+1) - min t(max_iter=1)] / S, in a fresh process too; each row carries the
ratio of its time per sweep per point to that.

Run: .venv/bin/python benchmarks/bench_dask_bayesian_gmm.py [--quick] [--json FILE]
(default sizes 1e5, 1e6, 1e7, a few minutes; ``--quick``: 1e5 and 1e6, fewer sweeps, about
a minute). Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_dask as base  # noqa: E402  (data, file layout, peak RSS, machine description)

K, D = base.K, base.D
HERE = Path(__file__).resolve()


def run_chunked(path, N, sweeps, chunk_rows, threads):
    from distributed import Client, LocalCluster

    from vi_impl.scale.bayesian_gmm import fit
    with LocalCluster(n_workers=1, threads_per_worker=threads, processes=False,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        wall0 = time.perf_counter()
        res = fit(path, K, tol=0, max_iter=sweeps, chunk_rows=chunk_rows, client=client)
        wall = time.perf_counter() - wall0
    return {"N": int(N), "chunk_rows": int(chunk_rows), "n_chunks": int(res.n_chunks),
            "sweeps": int(sweeps), "sec_per_sweep": float(np.median(res.sweep_seconds)),
            "cpu_per_sweep": float(np.median(res.sweep_cpu_seconds)),
            "first_passes_sec": wall - float(np.sum(res.sweep_seconds)), "total_sec": wall,
            "peak_rss_bytes": base.peak_rss_bytes(), "elbo_last": float(res.elbo[-1])}


def run_in_memory(path, iters, repeats=2):
    from vi_impl.models import bayesian_gmm
    X = np.load(path)
    out = {}
    for name, clock in (("sec", time.perf_counter), ("cpu", time.process_time)):
        times = {1: [], iters + 1: []}
        for _ in range(repeats):
            for n in times:
                t0 = clock()
                bayesian_gmm.fit(X, K, tol=0, max_iter=n, seed=0)
                times[n].append(clock() - t0)
        out[f"{name}_per_iter"] = (min(times[iters + 1]) - min(times[1])) / iters
    return {**out, "N": len(X), "iters": iters, "peak_rss_bytes": base.peak_rss_bytes()}


def fresh(kind, **kwargs):
    """``run_<kind>(**kwargs)`` in a new interpreter (one BLAS thread): its dict."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, str(HERE), "--run", kind, json.dumps(kwargs)],
                         capture_output=True, text=True, env=env, cwd=HERE.parents[1],
                         check=False)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
    if not lines:
        raise RuntimeError(f"{kind} run failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    return json.loads(lines[-1][7:])


def table(doc):
    mem = doc["in_memory"]
    lines = [f"in-memory bayesian_gmm.fit at N = {mem['N']:.0e}: "
             f"{mem['sec_per_iter'] * 1e3:.1f} ms/iter wall "
             f"({mem['sec_per_iter'] / mem['N'] * 1e9:.1f} ns/point), "
             f"{mem['cpu_per_iter'] * 1e3:.1f} ms CPU; peak RSS "
             f"{mem['peak_rss_bytes'] / 2**20:.0f} MiB", "",
             "| N | chunks | s/sweep | ns/point | x in-memory | CPU s/sweep | x in-memory (CPU) "
             "| first passes s | peak RSS MiB |", "|---|---|---|---|---|---|---|---|---|"]
    for r in doc["rows"]:
        lines.append(f"| {r['N']:.0e} | {r['n_chunks']} | {r['sec_per_sweep']:.3g} | "
                     f"{r['ns_per_point']:.1f} | {r['ratio_wall']:.2f} | "
                     f"{r['cpu_per_sweep']:.3g} | {r['ratio_cpu']:.2f} | "
                     f"{r['first_passes_sec']:.3g} | {r['peak_rss_bytes'] / 2**20:.0f} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="N = 1e5, 1e6; 5 sweeps")
    p.add_argument("--sizes", nargs="+", type=float, default=None)
    p.add_argument("--sweeps", type=int, default=None)
    p.add_argument("--chunk-rows", type=int, default=1_000_000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--memory-iters", type=int, default=None)
    p.add_argument("--data-dir", default=os.path.join(tempfile.gettempdir(), "bench_dask"))
    p.add_argument("--json", default=None, help="write the results as JSON to this file")
    p.add_argument("--run", nargs=2, metavar=("KIND", "ARGS"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.run:                                    # one measurement, in this fresh process
        result = globals()[f"run_{args.run[0]}"](**json.loads(args.run[1]))
        print("RESULT", json.dumps(result))
        return result
    sizes = args.sizes or ([1e5, 1e6] if args.quick else [1e5, 1e6, 1e7])
    sweeps = args.sweeps or (5 if args.quick else 10)
    iters = args.memory_iters or (5 if args.quick else 10)
    Path(args.data_dir).mkdir(parents=True, exist_ok=True)
    made = []

    def data(N):
        path = Path(args.data_dir) / f"bench_dask_{int(N)}.npy"
        if not path.exists():
            made.append(path)
        return base.data_file(args.data_dir, N)

    try:
        ref = data(1_000_000)
        in_memory = fresh("in_memory", path=str(ref), iters=iters)
        rows = []
        for N in sorted(int(n) for n in sizes):
            r = fresh("chunked", path=str(data(N)), N=N, sweeps=sweeps,
                      chunk_rows=base.chunk_rows_for(N, args.chunk_rows),
                      threads=args.threads)
            r["ns_per_point"] = r["sec_per_sweep"] / N * 1e9
            r["ratio_wall"] = r["sec_per_sweep"] / N / (in_memory["sec_per_iter"] / 1e6)
            r["ratio_cpu"] = r["cpu_per_sweep"] / N / (in_memory["cpu_per_iter"] / 1e6)
            rows.append(r)
            print(f"N = {N:.0e}: {r['sec_per_sweep']:.3g} s/sweep ({r['ratio_wall']:.2f}x "
                  f"in-memory), peak RSS {r['peak_rss_bytes'] / 2**20:.0f} MiB", flush=True)
    finally:
        for path in made:                           # only the files this run wrote
            path.unlink(missing_ok=True)
    doc = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
           "machine": base.machine(), "K": K, "D": D, "threads": args.threads,
           "command": "benchmarks/bench_dask_bayesian_gmm.py " + " ".join(sys.argv[1:]),
           "in_memory": in_memory, "rows": rows}
    if args.json:
        Path(args.json).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    print(table(doc))
    return doc


if __name__ == "__main__":
    main()
