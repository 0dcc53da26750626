"""Benchmark: the standalone NumPy module written by ``python -m vi_derivations cavi gmm`` against
the hand-written ``vi_impl.models.gmm``, per sweep, on the coursework mixture.

For N in {1e5, 1e6}, K = 5, D = 2 (data: K well-separated clusters; start: K data points as the
means, s2 = sigma2, the hand-written fit's own start; both update q(c) then q(mu) and record
the full ELBO after every sweep): time per sweep = [t(max_iter=1 + S) - t(max_iter=1)] / S with
tol = 0, the median over repeats (CPU time of this single-threaded process), for each implementation; the ratio generated / hand; and the
largest relative difference of their final means and ELBO traces (the same iteration).
Also the engine's in-process generated CAVI (vd.cavi) at N = 1e5, for reference.

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_codegen.py [--quick] [--out FILE]
It prints a Markdown table and writes benchmarks/results/codegen.json (or --out).  Not a test:
timings depend on the machine and its load.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import vi_derivations as vd  # noqa: E402
from vi_derivations.codegen import generate  # noqa: E402
from vi_impl.models import gmm as hand  # noqa: E402

K, D, SIGMA2 = 5, 2, 100.0
ORDER = ["c", "mu"]          # the hand-written loop's order: responsibilities, then the means


def make_data(N, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(K, D))
    X = centres[rng.integers(K, size=N)] + rng.normal(size=(N, D))
    m0 = X[rng.choice(N, size=K, replace=False)].copy()
    return X, m0


def load_generated(directory):
    src = generate(vd.models.load("gmm"), order=ORDER, command="python -m vi_derivations cavi gmm --order c,mu")
    path = Path(directory) / "fit_gmm.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("fit_gmm_bench", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# CPU time of this process (one thread): on the shared machine it is not inflated by other
# processes taking the core, as wall-clock time is; --wall switches to time.perf_counter.
CLOCK = {"cpu": time.process_time, "wall": time.perf_counter}
clock = CLOCK["cpu"]


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return float(np.median(times))


def per_sweep(run, sweeps, repeats):
    """Median time of run(1 + sweeps) minus that of run(1), divided by sweeps."""
    return (median_time(lambda: run(1 + sweeps), repeats) - median_time(lambda: run(1), repeats)) / sweeps


def measure(mod, N, sweeps, repeats):
    X, m0 = make_data(N)
    # the order is q(c) then q(mu), so pi's start is overwritten before it is read; giving it
    # keeps the default start's Dirichlet draws out of the fixed cost the timing subtracts
    init = {"m": m0, "s2": np.full((K, D), SIGMA2), "pi": np.full((N, K), 1.0 / K)}
    gen = lambda it: mod.fit(x=X, sigma2=SIGMA2, K=K, init=init, tol=0, max_iter=it)
    ref = lambda it: hand.fit(X, K, SIGMA2, init=m0, tol=0, max_iter=it)
    a, b = gen(sweeps + 1), ref(sweeps + 1)
    agree_m = float(np.max(np.abs(a.params["m"] - b.m)) / np.max(np.abs(b.m)))
    agree_elbo = float(np.max(np.abs(a.elbo - b.elbo) / np.abs(b.elbo)))
    t_gen = per_sweep(gen, sweeps, repeats)
    t_hand = per_sweep(ref, sweeps, repeats)
    return {"N": N, "K": K, "D": D, "sweeps": sweeps, "repeats": repeats,
            "generated_ms": 1e3 * t_gen, "hand_ms": 1e3 * t_hand, "ratio": t_gen / t_hand,
            "max_rel_diff_m": agree_m, "max_rel_diff_elbo": agree_elbo}


def engine_reference(N, sweeps, repeats):
    X, m0 = make_data(N)
    g = vd.cavi(vd.models.load("gmm"), order=ORDER)
    run = lambda it: g.run(dict(x=X, sigma2=SIGMA2), dict(m=m0, s2=np.full((K, D), SIGMA2)), tol=0, max_iter=it)
    t_eng = per_sweep(run, sweeps, repeats)
    t_hand = per_sweep(lambda it: hand.fit(X, K, SIGMA2, init=m0, tol=0, max_iter=it), sweeps, repeats)
    return {"N": N, "engine_ms": 1e3 * t_eng, "hand_ms": 1e3 * t_hand, "ratio": t_eng / t_hand}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer sweeps and repeats")
    p.add_argument("--wall", action="store_true", help="wall-clock time instead of CPU time")
    p.add_argument("--sizes", default="1e5,1e6", help="comma-separated N (default: 1e5,1e6)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "codegen.json"))
    args = p.parse_args(argv)
    global clock
    clock = CLOCK["wall" if args.wall else "cpu"]
    sweeps, repeats = (4, 3) if args.quick else (30, 7)
    with tempfile.TemporaryDirectory() as d:
        mod = load_generated(d)
        sizes = [int(float(n)) for n in args.sizes.split(",")]
        rows = [measure(mod, N, sweeps, repeats) for N in sizes]
    engine = engine_reference(min(sizes), sweeps, max(3, repeats // 2))
    print("| N | generated (ms/sweep) | hand-written (ms/sweep) | ratio | max rel diff m | max rel diff ELBO |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['N']:.0e} | {r['generated_ms']:.2f} | {r['hand_ms']:.2f} | {r['ratio']:.2f} | "
              f"{r['max_rel_diff_m']:.1e} | {r['max_rel_diff_elbo']:.1e} |")
    print(f"\nengine's in-process generated CAVI (vd.cavi) at N = {engine['N']:.0e}: {engine['engine_ms']:.2f} ms/sweep, "
          f"{engine['ratio']:.2f}x the hand-written fit")
    out = {"what": "time per CAVI sweep (ELBO included), generated standalone module vs vi_impl.models.gmm",
           "target_ratio": 1.5, "rows": rows, "engine_in_process": engine,
           "machine": {"python": platform.python_version(), "numpy": np.__version__,
                       "platform": platform.platform(), "cpus": os.cpu_count(),
                       "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")},
           "clock": ("time.perf_counter (wall)" if args.wall else "time.process_time (CPU)") + ", median of repeats"}
    if not args.quick or args.out != p.get_default("out"):
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
