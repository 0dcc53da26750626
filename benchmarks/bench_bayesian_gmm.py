"""Benchmark: vi_impl.models.bayesian_gmm against scikit-learn and BayesPy, plus real-data figures.

1. Fixed point, same data and same start (responsibilities r0), N = 2000, K = 3, D = 2:
   * scikit-learn ``BayesianGaussianMixture(covariance_type='full',
     weight_concentration_prior_type='dirichlet_distribution')`` with the same prior
     (covariance_prior = W0^-1, reg_covar = 0), started from r0 by overriding its initialiser;
     both run to convergence: max differences of m, alpha, nu, W^-1.
   * BayesPy 0.6.6 (Dirichlet, Categorical, Gaussian, Wishart, Mixture nodes). BayesPy has no
     joint Normal-Wishart factor (its GaussianWishart distribution raises NotImplementedError),
     so its model is mu_k ~ N(m0, (beta0 nu0 W0)^-1) independent of Lambda_k and its family
     is q(mu_k) q(Lambda_k): a different fixed point. We report how far apart the two are, and
     how closely BayesPy reaches the fixed point of its own model (a reference written out
     here, :func:`factorised_reference`, from the same start).
2. Time per iteration at N = 1e5, K = 10, D = 5 (single thread, CPU time, minimum over
   repeats): [t(21 iterations) - t(1 iteration)] / 20 for vi_impl and scikit-learn (ELBO /
   lower bound included in both); BayesPy: [t(Q.update(repeat=21)) - t(repeat=1)] / 20 with its
   lower bound computed every iteration (its default).
3. The generic SVI loop (vi_impl.svi) on the same mixture at N = 1e5: full ELBO against CPU
   time, against batch CAVI from the same start.
4. Real data (scikit-learn's bundled wine data, standardised, 13 features, 178 points): final
   ELBO against K = 1..8 (5 restarts each) and, with alpha0 = 1e-3 and K = 10, the expected
   weights alpha_k / sum(alpha): components switched off.

Run:  OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/bench_bayesian_gmm.py \
          --json benchmarks/results/bayesian_gmm.json
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits
from scipy.special import digamma, logsumexp

from vi_impl.models import bayesian_gmm as bg

clock = time.process_time


def make_data(N, K, D, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(K, D))
    X = centres[rng.integers(K, size=N)] + rng.normal(size=(N, D))
    return X


def prior_for(X, K):
    D = X.shape[1]
    return bg.make_prior(K, D, alpha0=1.0, m0=X.mean(0), beta0=1.0,
                         W0=np.linalg.inv(np.cov(X.T)) / D, nu0=D + 1.0)


def start(X, K, seed=1):
    """Hard assignments to K random data points (the shared start)."""
    rng = np.random.default_rng(seed)
    C = X[rng.choice(len(X), K, replace=False)]
    d = ((X[:, None, :] - C[None]) ** 2).sum(-1)
    r0 = np.zeros((len(X), K))
    r0[np.arange(len(X)), d.argmin(1)] = 1.0
    return r0


def sklearn_model(prior, r0, **kwargs):
    from sklearn.mixture import BayesianGaussianMixture

    class SharedStart(BayesianGaussianMixture):
        def _initialize_parameters(self, X, random_state, xp=None):
            self._initialize(X, r0)

    return SharedStart(n_components=prior.K, covariance_type="full",
                       weight_concentration_prior_type="dirichlet_distribution",
                       weight_concentration_prior=float(prior.alpha0[0]), mean_prior=prior.m0,
                       mean_precision_prior=prior.beta0, degrees_of_freedom_prior=prior.nu0,
                       covariance_prior=np.linalg.inv(prior.W0), reg_covar=0.0, n_init=1,
                       **kwargs)


def bayespy_model(X, prior, r0):
    from bayespy.inference import VB
    from bayespy.nodes import Categorical, Dirichlet, Gaussian, Mixture, Wishart

    K, D = prior.K, prior.D
    alpha = Dirichlet(prior.alpha0)
    z = Categorical(alpha, plates=(len(X),))
    mu = Gaussian(prior.m0, prior.beta0 * prior.nu0 * prior.W0, plates=(K,))
    lam = Wishart(prior.nu0, np.linalg.inv(prior.W0), plates=(K,))
    Y = Mixture(z, Gaussian, mu, lam)
    Y.observe(X)
    z.initialize_from_value(r0.argmax(1))
    Q = VB(Y, mu, lam, alpha, z)
    return Q, dict(alpha=alpha, z=z, mu=mu, lam=lam)


def factorised_reference(X, prior, r0, n_iter):
    """BayesPy's model, written out for the check (not vi_impl's model): mu_k ~ N(m0,
    (beta0 nu0 W0)^-1) independent of Lambda_k ~ W(W0, nu0), family q(pi) q(mu_k) q(Lambda_k)
    q(z_n); updates in BayesPy's order mu, Lambda, pi, z, from responsibilities r0 and
    E[Lambda_k] = nu0 W0."""
    K, D = prior.K, prior.D
    L0 = prior.beta0 * prior.nu0 * prior.W0
    W0inv = np.linalg.inv(prior.W0)
    r = r0
    e_lam = np.tile(prior.nu0 * prior.W0, (K, 1, 1))
    for _ in range(n_iter):
        Nk, Sx = r.sum(0), r.T @ X
        Sxx = np.einsum("nk,nd,ne->kde", r, X, X)
        Sig = np.linalg.inv(L0 + Nk[:, None, None] * e_lam)
        mu = np.einsum("kde,ke->kd", Sig, L0 @ prior.m0 + np.einsum("kde,ke->kd", e_lam, Sx))
        nu = prior.nu0 + Nk
        outer = np.einsum("kd,ke->kde", Sx, mu)
        W = np.linalg.inv(W0inv + Sxx - outer - outer.transpose(0, 2, 1)
                          + Nk[:, None, None] * (np.einsum("kd,ke->kde", mu, mu) + Sig))
        e_lam = nu[:, None, None] * W
        alpha = prior.alpha0 + Nk
        e_log_pi = digamma(alpha) - digamma(alpha.sum())
        e_log_det = (digamma((nu[:, None] + 1 - np.arange(1, D + 1)) / 2).sum(1)
                     + D * np.log(2) + np.linalg.slogdet(W)[1])
        diff = X[:, None, :] - mu[None]
        quad = (np.einsum("nkd,kde,nke->nk", diff, e_lam, diff)
                + np.einsum("kde,ked->k", e_lam, Sig))
        log_r = e_log_pi + 0.5 * e_log_det - 0.5 * quad
        r = np.exp(log_r - logsumexp(log_r, axis=1, keepdims=True))
    return mu, alpha, r


def fixed_point(N=2000, K=3, D=2):
    X = make_data(N, K, D, seed=3)
    prior = prior_for(X, K)
    r0 = start(X, K)
    ours = bg.fit(X, K, prior=prior, init=r0, tol=0, max_iter=2000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = sklearn_model(prior, r0, tol=1e-15, max_iter=5000).fit(X)
    Winv = np.linalg.inv(ours.W)
    out = dict(N=N, K=K, D=D, ours_iters=ours.n_iter, sklearn_iters=int(sk.n_iter_),
               sklearn_max_abs_m=float(np.abs(ours.m - sk.means_).max()),
               sklearn_max_rel_alpha=float(np.abs(ours.alpha / sk.weight_concentration_ - 1).max()),
               sklearn_max_rel_nu=float(np.abs(ours.nu / sk.degrees_of_freedom_ - 1).max()),
               sklearn_max_rel_Winv=float(np.abs(
                   Winv - sk.covariances_ * sk.degrees_of_freedom_[:, None, None]).max()
                   / np.abs(Winv).max()))
    Q, nodes = bayespy_model(X, prior, r0)
    with contextlib.redirect_stdout(io.StringIO()):
        Q.update(nodes["mu"], nodes["lam"], nodes["alpha"], nodes["z"], repeat=1000, tol=0)
    m_bp = nodes["mu"].get_moments()[0]
    alpha_bp = nodes["alpha"].get_parameters()[0]
    order = np.argsort(m_bp[:, 0])
    mine = np.argsort(ours.m[:, 0])
    ref_mu, ref_alpha, ref_r = factorised_reference(X, prior, r0, 1000)
    out.update(bayespy_vs_own_model_max_abs_m=float(np.abs(m_bp - ref_mu).max()),
               bayespy_vs_own_model_max_rel_alpha=float(np.abs(alpha_bp / ref_alpha - 1).max()),
               bayespy_vs_own_model_max_abs_resp=float(
                   np.abs(nodes["z"].get_moments()[0] - ref_r).max()))
    r_bp = nodes["z"].get_moments()[0][:, order]
    r_ours = ours.r[:, mine]
    out.update(bayespy_max_abs_m=float(np.abs(m_bp[order] - ours.m[mine]).max()),
               bayespy_label_agreement=float((r_bp.argmax(1) == r_ours.argmax(1)).mean()),
               bayespy_max_abs_resp=float(np.abs(r_bp - r_ours).max()),
               bayespy_max_abs_alpha=float(np.abs(alpha_bp[order] - ours.alpha[mine]).max()),
               bayespy_lower_bound=float(Q.compute_lowerbound()), ours_elbo=float(ours.elbo[-1]),
               bayespy_iters=int(len(Q.L[~np.isnan(Q.L)]) if hasattr(Q, "L") else -1))
    return out


def best(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return min(times)


def timing(N=100_000, K=10, D=5, repeats=3):
    X = make_data(N, K, D, seed=0)
    prior = prior_for(X, K)
    r0 = start(X, K)
    per = {}
    t21 = best(lambda: bg.fit(X, K, prior=prior, init=r0, tol=0, max_iter=21), repeats)
    t1 = best(lambda: bg.fit(X, K, prior=prior, init=r0, tol=0, max_iter=1), repeats)
    per["ours"] = (t21 - t1) / 20
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s21 = best(lambda: sklearn_model(prior, r0, tol=0.0, max_iter=21).fit(X), repeats)
        s1 = best(lambda: sklearn_model(prior, r0, tol=0.0, max_iter=1).fit(X), repeats)
        assert sklearn_model(prior, r0, tol=0.0, max_iter=21).fit(X).n_iter_ == 21
    per["sklearn"] = (s21 - s1) / 20

    def run_bp(n):
        Q, nodes = bayespy_model(X, prior, r0)
        with contextlib.redirect_stdout(io.StringIO()):
            Q.update(nodes["mu"], nodes["lam"], nodes["alpha"], nodes["z"], repeat=n, tol=0)

    b21 = best(lambda: run_bp(21), max(1, repeats - 1))
    b1 = best(lambda: run_bp(1), max(1, repeats - 1))
    per["bayespy"] = (b21 - b1) / 20
    return dict(N=N, K=K, D=D, ms_per_iter={k: 1e3 * v for k, v in per.items()},
                speedup_vs_sklearn=per["sklearn"] / per["ours"],
                speedup_vs_bayespy=per["bayespy"] / per["ours"])


def svi_vs_cavi(N=100_000, K=10, D=5, seed=0):
    """The generic SVI loop on the full mixture: ELBO against CPU time (one thread; the ELBO
    evaluations excluded), against batch CAVI from the same start (its time axis: the CPU time
    of fit with that many iterations)."""
    X = make_data(N, K, D, seed=seed)
    prior = prior_for(X, K)
    r0 = start(X, K)
    cavi_t, cavi_elbo = [], []
    for it in (1, 2, 4, 8, 16, 32, 64):
        t0 = clock()
        res = bg.fit(X, K, prior=prior, init=r0, tol=0, max_iter=it)
        cavi_t.append(clock() - t0)
        cavi_elbo.append(float(res.elbo[-1]))
    s = bg.fit_svi(X, K, prior=prior, init=r0, batch_size=1000, n_steps=400, tau0=10.0,
                   kappa=0.7, seed=0, monitor_every=25)
    return dict(N=N, K=K, D=D, batch_size=1000, tau0=10.0, kappa=0.7,
                cavi=dict(cpu_s=cavi_t, elbo=cavi_elbo, iterations=[1, 2, 4, 8, 16, 32, 64]),
                svi=dict(cpu_s=s.cpu.tolist(), wall_s=s.wall.tolist(), elbo=s.elbo.tolist(),
                         steps=s.steps_at.tolist()))


def wine_figures():
    from sklearn.datasets import load_wine

    X = load_wine().data
    X = (X - X.mean(0)) / X.std(0)
    D = X.shape[1]
    rows = []
    for K in range(1, 9):
        prior = bg.make_prior(K, D, alpha0=1.0, m0=np.zeros(D), W0=np.eye(D) / D, nu0=D + 1.0)
        res = bg.fit(X, K, prior=prior, n_init=5, seed=0, max_iter=1000)
        rows.append(dict(K=K, elbo=float(res.elbo[-1])))
    prior = bg.make_prior(10, D, alpha0=1e-3, m0=np.zeros(D), W0=np.eye(D) / D, nu0=D + 1.0)
    res = bg.fit(X, 10, prior=prior, n_init=5, seed=0, max_iter=2000)
    weights = res.alpha / res.alpha.sum()
    from sklearn.metrics import adjusted_rand_score
    ari = adjusted_rand_score(load_wine().target, res.r.argmax(1))
    return dict(elbo_vs_K=rows, switched_off=dict(K=10, alpha0=1e-3,
                                                  weights=sorted(weights.tolist(), reverse=True),
                                                  active=int((weights > 0.01).sum()),
                                                  adjusted_rand_index=float(ari)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=str)
    args = parser.parse_args()
    threadpool_limits(1)                      # one BLAS thread: per-thread CPU time
    import bayespy
    import sklearn
    result = dict(date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                  machine=dict(arch=platform.machine(), cores=os.cpu_count(),
                               python=platform.python_version(), numpy=np.__version__,
                               sklearn=sklearn.__version__, bayespy=bayespy.__version__),
                  clock="cpu (time.process_time), one thread")
    result["fixed_point"] = fixed_point()
    print(json.dumps(result["fixed_point"], indent=1))
    result["timing"] = timing(repeats=args.repeats)
    print(json.dumps(result["timing"], indent=1))
    result["svi_vs_cavi"] = svi_vs_cavi()
    print(json.dumps(result["svi_vs_cavi"]))
    result["wine"] = wine_figures()
    print(json.dumps(result["wine"], indent=1))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=1)


if __name__ == "__main__":
    main()
