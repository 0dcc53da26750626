"""Benchmark: vi_impl.models.gmm CAVI against scikit-learn's BayesianGaussianMixture.

For N in 1e3 .. 1e6 and (K, D) in {(5, 2), (20, 50)} on the same data and from the same start:

* time per iteration, as ``fit`` does it (ELBO included): [t(max_iter=21) - t(max_iter=1)] / 20
  with tol=0, for vi_impl and for scikit-learn (configured per TOOLCHAIN.md: spherical,
  Dirichlet-distribution weights, every prior strength B, mean_prior 0, mean_precision_prior
  1/sigma2, reg_covar 0, n_init 1; we check that it ran 21 iterations);
* time to convergence (vi_impl: relative ELBO change < 1e-8; scikit-learn: absolute change of
  its lower bound < 1e-8 |our final ELBO|; its own lower bound carries B-sized constants);
* the physical floor measured in the same run: the two matrix products every iteration needs
  (the logits W Z and the statistics pi^T Z, N*D*K multiply-adds each) at the BLAS dgemm rate
  measured in the same run on a square product, plus the memory-bound passes: one np.exp over
  an N x K float64 array (into a preallocated output) and one pass over X (X.sum()); and our
  ratio to it (also to a floor whose two products are timed at their own shape, X @ m.T);
* vi_impl's peak memory in fit (tracemalloc) against 2 size(X) + one N x K float64 array;
* that both follow the same iteration (max |m| difference after 22 iterations from the shared
  start) and reach the same fixed point (max |m_ours - means_sklearn|, max |pi - predict_proba|).

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_gmm.py [--quick] [--out FILE]
      [--json FILE [--merge]] [--threads T]
It prints a Markdown table (and writes it to --out if given; --json writes the schema that
tests/benchmarks/test_bench_results.py checks, --merge keeps the file's rows measured at other
sizes or thread counts). It is not a test: timings depend on the machine and its load; repeats
take the minimum.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
import tracemalloc
import warnings

import numpy as np

from vi_impl.models import gmm

B = 1e10
SIGMA2 = 100.0
# time.perf_counter (wall) or time.process_time (CPU time of this process: on a shared machine
# it is not inflated by other processes taking the core; everything here runs on one thread).
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
CLOCK_NAMES = {"wall": "time.perf_counter", "cpu": "time.process_time"}
clock = CLOCKS["wall"]
CONFIGS = [(5, 2), (20, 50)]
TOL = 1e-8
GEMM_SIDE = 768          # the square product that measures the BLAS dgemm rate


def make_data(N, K, D, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(K, D))
    X = centres[rng.integers(K, size=N)] + rng.normal(size=(N, D))
    m0 = X[rng.choice(N, size=K, replace=False)].copy()
    return X, m0


def sklearn_model(K, D, resp0, **kwargs):
    from sklearn.mixture import BayesianGaussianMixture

    class SharedStart(BayesianGaussianMixture):
        """Starts from given responsibilities (our first E-step) instead of its own init."""

        def _initialize_parameters(self, X, random_state, xp=None):
            self._initialize(X, resp0)

    return SharedStart(
        n_components=K, covariance_type="spherical",
        weight_concentration_prior_type="dirichlet_distribution",
        weight_concentration_prior=B, degrees_of_freedom_prior=B, covariance_prior=B,
        mean_prior=np.zeros(D), mean_precision_prior=1.0 / SIGMA2, reg_covar=0.0, n_init=1,
        **kwargs)


def best_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = clock()
        out = fn()
        times.append(clock() - t0)
    return min(times), out


def per_iteration(run, repeats):
    """[t(21 iterations) - t(1 iteration)] / 20, each the minimum over ``repeats``."""
    t21, out21 = best_time(lambda: run(21), repeats)
    t1, _ = best_time(lambda: run(1), repeats)
    return (t21 - t1) / 20, out21


def peak_memory(X, K, m0):
    tracemalloc.start()
    tracemalloc.reset_peak()
    result = gmm.fit(X, K, SIGMA2, init=m0, max_iter=3, tol=0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    del result
    return peak


def bench_one(N, K, D, repeats, with_sklearn=True, sklearn_convergence=True, convergence=True):
    X, m0 = make_data(N, K, D)
    resp0 = gmm.update_pi(X, m0, np.ones((K, D)))      # our first E-step: the shared start
    row = dict(N=N, K=K, D=D)

    # Ours and the floor are timed in turn within each repeat, so that both see the same load.
    rng = np.random.default_rng(1)
    logits = rng.uniform(-10.0, 0.0, size=(N, K))
    exp_out = np.empty_like(logits)
    A, B_ = rng.normal(size=(2, GEMM_SIDE, GEMM_SIDE))
    C = np.empty((GEMM_SIDE, GEMM_SIDE))
    mT = np.ascontiguousarray(m0.T)
    t21, t1, t_exp, t_pass, t_gemm, t_shape = [], [], [], [], [], []
    r21 = None
    gmm.fit(X, K, SIGMA2, init=m0, max_iter=2, tol=0)      # warm-up: first calls pay extra
    np.matmul(A, B_, out=C)
    for _ in range(repeats):
        for times, fn in ((t_exp, lambda: np.exp(logits, out=exp_out)),
                          (t_pass, lambda: X.sum()),
                          (t_gemm, lambda: np.matmul(A, B_, out=C)),
                          (t_shape, lambda: np.matmul(X, mT, out=exp_out)),
                          (t21, lambda: gmm.fit(X, K, SIGMA2, init=m0, max_iter=21, tol=0)),
                          (t1, lambda: gmm.fit(X, K, SIGMA2, init=m0, max_iter=1, tol=0))):
            t0 = clock()
            result = fn()
            times.append(clock() - t0)
            if isinstance(result, gmm.GMMResult) and result.n_iter == 21:
                r21 = result
    del logits, exp_out
    assert r21.n_iter == 21
    ours_iter = (min(t21) - min(t1)) / 20
    # Two products of N*D*K multiply-adds each, at the square product's rate of the same run.
    rate = GEMM_SIDE**3 / min(t_gemm)
    gemm = 2 * N * D * K / rate
    floor = min(t_exp) + min(t_pass) + gemm
    floor_shape = min(t_exp) + min(t_pass) + 2 * min(t_shape)
    per_repeat = sorted((a - b) / 20 / (e + p + 2 * N * D * K * g / GEMM_SIDE**3)
                        for a, b, e, p, g in zip(t21, t1, t_exp, t_pass, t_gemm))
    row.update(route=r21.route, ours_iter=ours_iter, floor=floor, floor_exp=min(t_exp),
               floor_pass=min(t_pass), floor_gemm=gemm, gemm_rate=rate,
               floor_no_gemm=min(t_exp) + min(t_pass), floor_shape=floor_shape,
               ratio_floor=ours_iter / floor, ratio_median=per_repeat[len(per_repeat) // 2],
               ratio_floor_shape=ours_iter / floor_shape)

    if convergence:
        t_conv, conv = best_time(
            lambda: gmm.fit(X, K, SIGMA2, init=m0, max_iter=2000, tol=TOL), repeats)
        row.update(ours_conv=t_conv, ours_conv_iter=conv.n_iter, ours_converged=conv.converged)
    sklearn_convergence = sklearn_convergence and convergence

    peak = peak_memory(X, K, m0)
    budget = 2 * X.nbytes + N * K * 8
    row.update(peak=peak, budget=budget, peak_mb=peak / 2**20, budget_mb=budget / 2**20,
               peak_ok=peak <= budget)

    if with_sklearn:
        sk_repeats = repeats if N <= 100_000 else 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")              # ConvergenceWarning at tol=0
            sk_iter, sk21 = per_iteration(
                lambda it: sklearn_model(K, D, resp0, max_iter=it, tol=0.0).fit(X), sk_repeats)
        assert sk21.n_iter_ == 21 and len(sk21.lower_bounds_) == 21, "sklearn stopped early"
        # Same trajectory: sklearn's initial M-step is our first iteration's, so its 21
        # iterations end where our 22nd does.
        ours22 = gmm.fit(X, K, SIGMA2, init=m0, max_iter=22, tol=0)
        row.update(sk_iter=sk_iter, speedup=sk_iter / ours_iter,
                   dm_traj=float(np.abs(sk21.means_ - ours22.m).max()))
        if sklearn_convergence:
            # sklearn's lower bound carries B-sized constants, so its tolerance is set from the
            # size of our ELBO: an absolute change of 1e-8 |ELBO|, like our relative rule.
            sk_tol = TOL * abs(conv.elbo[-1])
            t_sk_conv, sk = best_time(
                lambda: sklearn_model(K, D, resp0, max_iter=2000, tol=sk_tol).fit(X), sk_repeats)
            row.update(sk_conv=t_sk_conv, sk_conv_iter=sk.n_iter_,
                       dm=float(np.abs(sk.means_ - conv.m).max()),
                       # sklearn's predict_proba is an E-step after its last M-step: compare it
                       # with ours after our last M-step.
                       dpi=float(np.abs(sk.predict_proba(X)
                                        - gmm.update_pi(X, conv.m, conv.s2)).max()))
    return row


# The committed result file (benchmarks/results/gmm.json): one row per (N, K, D, threads).
JSON_FIELDS = dict(
    N="N", K="K", D="D", threads="threads", route="route", ours_per_iter_s="ours_iter",
    sklearn_per_iter_s="sk_iter", speedup="speedup", floor_s="floor",
    floor_exp_s="floor_exp", floor_pass_s="floor_pass", floor_gemm_s="floor_gemm",
    gemm_rate_fma_per_s="gemm_rate", floor_without_gemm_s="floor_no_gemm",
    ratio_to_floor="ratio_floor", ratio_to_floor_median="ratio_median",
    floor_same_shape_s="floor_shape", ratio_to_floor_same_shape="ratio_floor_shape",
    ours_to_convergence_s="ours_conv", ours_n_iter="ours_conv_iter",
    sklearn_to_convergence_s="sk_conv", sklearn_n_iter="sk_conv_iter",
    peak_mem_bytes="peak", mem_budget_bytes="budget", max_abs_diff_means_22_iter="dm_traj",
    fixed_point_max_abs_diff_means="dm", fixed_point_max_abs_diff_resp="dpi")


def _plain(v):
    if isinstance(v, np.generic):
        return v.item()
    return v


def json_document(rows, header, clock_name, argv, threads):
    import sklearn
    out_rows = [{key: _plain(r.get(src)) for key, src in JSON_FIELDS.items()} for r in rows]
    for r in out_rows:
        r["clock"] = clock_name
    return dict(
        date=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        machine=dict(cores=os.cpu_count(), python=platform.python_version(),
                     numpy=np.__version__, sklearn=sklearn.__version__,
                     load_average_1min_at_end=os.getloadavg()[0]),
        clock=clock_name, threads=threads,
        command="OMP_NUM_THREADS={} python benchmarks/bench_gmm.py {}".format(
            os.environ.get("OMP_NUM_THREADS"), " ".join(argv)),
        header=header, rows=out_rows)


def merge_documents(old, new):
    """new's rows, plus old's rows at (N, K, D, threads) new did not measure."""
    key = lambda r: (r["N"], r["K"], r["D"], r.get("threads", 1))           # noqa: E731
    measured = {key(r) for r in new["rows"]}
    kept = [r for r in old.get("rows", []) if key(r) not in measured]
    merged = dict(new, rows=sorted(kept + new["rows"], key=lambda r: (r.get("threads", 1),
                                                                       r["K"], r["D"], r["N"])))
    clocks = sorted({r.get("clock", old.get("clock")) for r in merged["rows"]} - {None})
    merged["clock"] = "; ".join(clocks) + (" (each row says which)" if len(clocks) > 1 else "")
    merged["earlier_runs"] = old.get("earlier_runs", []) + [
        {k: old.get(k) for k in ("date", "clock", "command", "threads") if k in old}]
    return merged


def fmt_ms(seconds):
    return f"{seconds * 1e3:.3g}"


def table(rows):
    head = ["N", "K", "D", "vi_impl ms/iter", "sklearn ms/iter", "speed-up",
            "floor ms (products ms)", "ours / floor (median)", "ours / same-shape floor", "vi_impl to conv. s (iters)",
            "sklearn to conv. s (iters)", "peak MB (budget)", "dm after 22 iters",
            "dm, dpi converged"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        sk = "sk_iter" in r
        sk_conv = "sk_conv" in r
        cells = [f"{r['N']:.0e}", str(r["K"]), str(r["D"]), fmt_ms(r["ours_iter"]),
                 fmt_ms(r["sk_iter"]) if sk else "-",
                 f"{r['speedup']:.1f}x" if sk else "-",
                 f"{fmt_ms(r['floor'])} ({fmt_ms(r['floor_gemm'])})",
                 f"{r['ratio_floor']:.2f} ({r['ratio_median']:.2f})",
                 f"{r['ratio_floor_shape']:.2f}",
                 f"{r['ours_conv']:.3g} ({r['ours_conv_iter']})" if "ours_conv" in r else "-",
                 f"{r['sk_conv']:.3g} ({r['sk_conv_iter']})" if sk_conv else "-",
                 f"{r['peak_mb']:.1f} ({r['budget_mb']:.1f})" + ("" if r["peak_ok"] else " over"),
                 f"{r['dm_traj']:.1e}" if sk else "-",
                 f"{r['dm']:.1e}, {r['dpi']:.1e}" if sk_conv else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="N = 1e3, 1e4 only")
    parser.add_argument("--sizes", type=float, nargs="*", help="override the list of N")
    parser.add_argument("--configs", type=str, nargs="*", help="K,D pairs, e.g. 5,2 20,50")
    parser.add_argument("--repeats", type=int, default=3, help="repeats per timing (min taken)")
    parser.add_argument("--no-sklearn", action="store_true", help="skip scikit-learn")
    parser.add_argument("--no-sklearn-convergence", action="store_true",
                        help="time scikit-learn per iteration only (not to convergence)")
    parser.add_argument("--no-convergence", action="store_true",
                        help="time neither fit to convergence (per iteration only)")
    parser.add_argument("--out", type=str, help="also write the Markdown report to this file")
    parser.add_argument("--json", type=str, help="also write the results file (the schema of "
                        "benchmarks/results/gmm.json) to this file")
    parser.add_argument("--merge", action="store_true",
                        help="with --json: keep the file's rows at other (N, K, D, threads)")
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS threads (threadpoolctl limit; default 1)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall (time.perf_counter, default) or cpu (time.process_time: "
                             "CPU time of this process, robust on a shared machine)")
    args = parser.parse_args(argv)
    global clock
    clock = CLOCKS[args.clock]

    sizes = [int(n) for n in (args.sizes or ([1e3, 1e4] if args.quick else [1e3, 1e4, 1e5, 1e6]))]
    configs = ([tuple(int(v) for v in c.split(",")) for c in args.configs]
               if args.configs else CONFIGS)
    try:
        from threadpoolctl import threadpool_limits
        limiter = threadpool_limits(args.threads)
    except ImportError:                                   # pragma: no cover
        limiter = None

    rows = []
    for K, D in configs:
        for N in sizes:
            row = bench_one(N, K, D, args.repeats, with_sklearn=not args.no_sklearn,
                            sklearn_convergence=not args.no_sklearn_convergence,
                            convergence=not args.no_convergence)
            row["threads"] = args.threads
            rows.append(row)
            print(f"done N={N} K={K} D={D}: {row}", file=sys.stderr, flush=True)

    import sklearn
    header = (
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, NumPy {np.__version__}, scikit-learn "
        f"{sklearn.__version__}; clock: {args.clock}; load average at the end "
        f"{os.getloadavg()[0]:.1f}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, BLAS "
        f"threads limited to {args.threads}: {limiter is not None}. sigma2 = {SIGMA2}, sklearn "
        f"prior strength B = {B:g}, repeats = {args.repeats} (minimum taken; sklearn 1 repeat "
        f"for N > 1e5). Floor = 2 N D K multiply-adds at the dgemm rate of a "
        f"{GEMM_SIDE}x{GEMM_SIDE} square product + np.exp over an N x K float64 array into a "
        f"preallocated output + X.sum(), timed in turn with vi_impl in each repeat; ratio = "
        f"min/min, in brackets the median of the per-repeat ratios; same-shape floor: the "
        f"products timed as X @ m.T instead. Routes used by vi_impl: "
        f"{sorted(set(r['route'] for r in rows))}.")
    report = header + "\n\n" + table(rows) + "\n"
    print(report)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as fh:
            fh.write(report + "\n")
    if args.json:
        doc = json_document(rows, header, f"{args.clock} ({CLOCK_NAMES[args.clock]})",
                            sys.argv[1:] if argv is None else list(argv), args.threads)
        if args.merge and os.path.isfile(args.json):
            with open(args.json, encoding="utf-8") as fh:
                doc = merge_documents(json.load(fh), doc)
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=1)
            fh.write("\n")
    return rows


if __name__ == "__main__":
    main()
