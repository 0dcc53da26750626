"""Benchmark: vi_impl.gmm CAVI against scikit-learn's BayesianGaussianMixture.

For N in 1e3 .. 1e6 and (K, D) in {(5, 2), (20, 50)} on the same data and from the same start:

* time per iteration, as ``fit`` does it (ELBO included): [t(max_iter=21) - t(max_iter=1)] / 20
  with tol=0, for vi_impl and for scikit-learn (configured per TOOLCHAIN.md: spherical,
  Dirichlet-distribution weights, every prior strength B, mean_prior 0, mean_precision_prior
  1/sigma2, reg_covar 0, n_init 1; we check that it ran 21 iterations);
* time to convergence (vi_impl: relative ELBO change < 1e-8; scikit-learn: absolute change of
  its lower bound < 1e-8 |our final ELBO|; its own lower bound carries B-sized constants);
* the physical floor measured in the same run: one np.exp over an N x K float64 array (into a
  preallocated output) plus one pass over X (X.sum()); and our ratio to it;
* vi_impl's peak memory in fit (tracemalloc) against 2 size(X) + one N x K float64 array;
* that both reach the same fixed point (max |m_ours - means_sklearn|, max |pi - predict_proba|).

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_gmm.py [--quick] [--out FILE]
It prints a Markdown table (and writes it to --out if given). It is not a test: timings
depend on the machine and its load; repeats take the minimum.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import tracemalloc
import warnings

import numpy as np

from vi_impl import gmm

B = 1e10
SIGMA2 = 100.0
CONFIGS = [(5, 2), (20, 50)]
TOL = 1e-8


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
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def per_iteration(run, repeats):
    """[t(21 iterations) - t(1 iteration)] / 20, each the minimum over ``repeats``."""
    t21, out21 = best_time(lambda: run(21), repeats)
    t1, _ = best_time(lambda: run(1), repeats)
    return (t21 - t1) / 20, out21


def floor_time(N, K, X, repeats):
    logits = np.random.default_rng(1).uniform(-10.0, 0.0, size=(N, K))
    out = np.empty_like(logits)
    t_exp, _ = best_time(lambda: np.exp(logits, out=out), max(repeats, 5))
    t_alloc, _ = best_time(lambda: np.exp(logits), max(repeats, 5))
    t_pass, _ = best_time(lambda: X.sum(), max(repeats, 5))
    return t_exp + t_pass, t_alloc + t_pass


def peak_memory(X, K, m0):
    tracemalloc.start()
    tracemalloc.reset_peak()
    result = gmm.fit(X, K, SIGMA2, m_init=m0, max_iter=3, tol=0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    del result
    return peak


def bench_one(N, K, D, repeats, with_sklearn=True):
    X, m0 = make_data(N, K, D)
    resp0 = gmm.update_pi(X, m0, np.ones((K, D)))      # our first E-step: the shared start
    row = dict(N=N, K=K, D=D)

    ours_iter, r21 = per_iteration(
        lambda it: gmm.fit(X, K, SIGMA2, m_init=m0, max_iter=it, tol=0), repeats)
    assert r21.n_iter == 21
    row["route"] = r21.route
    t_conv, conv = best_time(
        lambda: gmm.fit(X, K, SIGMA2, m_init=m0, max_iter=2000, tol=TOL), repeats)
    row.update(ours_iter=ours_iter, ours_conv=t_conv, ours_conv_iter=conv.n_iter,
               ours_converged=conv.converged)

    floor, floor_alloc = floor_time(N, K, X, repeats)
    row.update(floor=floor, floor_alloc=floor_alloc, ratio_floor=ours_iter / floor)

    peak = peak_memory(X, K, m0)
    budget = 2 * X.nbytes + N * K * 8
    row.update(peak_mb=peak / 2**20, budget_mb=budget / 2**20, peak_ok=peak <= budget)

    if with_sklearn:
        sk_repeats = repeats if N <= 100_000 else 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")              # ConvergenceWarning at tol=0
            sk_iter, sk21 = per_iteration(
                lambda it: sklearn_model(K, D, resp0, max_iter=it, tol=0.0).fit(X), sk_repeats)
        assert sk21.n_iter_ == 21 and len(sk21.lower_bounds_) == 21, "sklearn stopped early"
        # sklearn's lower bound carries B-sized constants, so its tolerance is set from the
        # size of our ELBO: an absolute change of 1e-8 |ELBO|, like our relative rule.
        sk_tol = TOL * abs(conv.elbo[-1])
        t_sk_conv, sk = best_time(
            lambda: sklearn_model(K, D, resp0, max_iter=2000, tol=sk_tol).fit(X), sk_repeats)
        row.update(sk_iter=sk_iter, sk_conv=t_sk_conv, sk_conv_iter=sk.n_iter_,
                   speedup=sk_iter / ours_iter,
                   dm=float(np.abs(sk.means_ - conv.m).max()),
                   # sklearn's predict_proba is an E-step after its last M-step: compare it
                   # with ours after our last M-step.
                   dpi=float(np.abs(sk.predict_proba(X) - gmm.update_pi(X, conv.m, conv.s2)).max()))
    return row


def fmt_ms(seconds):
    return f"{seconds * 1e3:.3g}"


def table(rows):
    head = ["N", "K", "D", "vi_impl ms/iter", "sklearn ms/iter", "speed-up", "floor ms",
            "ours / floor", "vi_impl to conv. s (iters)", "sklearn to conv. s (iters)",
            "peak MB (budget)", "max abs dm", "max abs dpi"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        sk = "sk_iter" in r
        cells = [f"{r['N']:.0e}", str(r["K"]), str(r["D"]), fmt_ms(r["ours_iter"]),
                 fmt_ms(r["sk_iter"]) if sk else "-",
                 f"{r['speedup']:.1f}x" if sk else "-",
                 fmt_ms(r["floor"]), f"{r['ratio_floor']:.2f}",
                 f"{r['ours_conv']:.3g} ({r['ours_conv_iter']})",
                 f"{r['sk_conv']:.3g} ({r['sk_conv_iter']})" if sk else "-",
                 f"{r['peak_mb']:.1f} ({r['budget_mb']:.1f})" + ("" if r["peak_ok"] else " OVER"),
                 f"{r['dm']:.1e}" if sk else "-", f"{r['dpi']:.1e}" if sk else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="N = 1e3, 1e4 only")
    parser.add_argument("--sizes", type=float, nargs="*", help="override the list of N")
    parser.add_argument("--configs", type=str, nargs="*", help="K,D pairs, e.g. 5,2 20,50")
    parser.add_argument("--repeats", type=int, default=3, help="repeats per timing (min taken)")
    parser.add_argument("--no-sklearn", action="store_true", help="skip scikit-learn")
    parser.add_argument("--out", type=str, help="also write the Markdown report to this file")
    args = parser.parse_args(argv)

    sizes = [int(n) for n in (args.sizes or ([1e3, 1e4] if args.quick else [1e3, 1e4, 1e5, 1e6]))]
    configs = ([tuple(int(v) for v in c.split(",")) for c in args.configs]
               if args.configs else CONFIGS)
    try:
        from threadpoolctl import threadpool_limits
        limiter = threadpool_limits(1)
    except ImportError:                                   # pragma: no cover
        limiter = None

    rows = []
    for K, D in configs:
        for N in sizes:
            row = bench_one(N, K, D, args.repeats, with_sklearn=not args.no_sklearn)
            rows.append(row)
            print(f"done N={N} K={K} D={D}: {row}", file=sys.stderr, flush=True)

    import sklearn
    header = (
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, NumPy {np.__version__}, scikit-learn "
        f"{sklearn.__version__}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, BLAS "
        f"threads limited to 1: {limiter is not None}. sigma2 = {SIGMA2}, sklearn prior "
        f"strength B = {B:g}, repeats = {args.repeats} (minimum taken; sklearn 1 repeat for "
        f"N > 1e5). Floor = np.exp over an N x K float64 array into a preallocated output + "
        f"X.sum(). Routes used by vi_impl: {sorted(set(r['route'] for r in rows))}.")
    report = header + "\n\n" + table(rows) + "\n"
    print(report)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as fh:
            fh.write(report + "\n")
    return rows


if __name__ == "__main__":
    main()
