"""A tiny one-dimensional Bayesian mixture used by several ledger checks.

Model: mu_k ~ N(0, tau2), z_n ~ Cat(pi), x_n | z_n, mu ~ N(mu_{z_n}, s2).
Mean field: q(mu_k) = N(m_k, v_k), q(z_n) = Cat(phi_n).

Three independent ingredients, none of which is a typed-in closed form:
* :func:`log_evidence` -- exact, by enumerating all K^N assignments (x is jointly
  Gaussian given an assignment);
* :func:`elbo_gh` -- the ELBO by Gauss--Hermite quadrature over each mu_k (exact
  for the quadratic integrands here) and enumeration over z;
* :func:`cavi_updates` -- each factor's update derived by SymPy from
  E_{-j}[log p] (completing the square / normalising), then lambdified.
"""
from __future__ import annotations

import functools
import itertools

import numpy as np
import sympy as sp
from scipy import special, stats
from sympy.stats import E as Exp, Normal

from ._checks import norm_logpdf, rng

GH_X, GH_W = np.polynomial.hermite_e.hermegauss(20)
GH_W = GH_W / GH_W.sum()


def problem(seed: int = 0, N: int = 4, K: int = 2, s2: float = 0.7, tau2: float = 4.0, pi=None):
    g = rng(100 + seed)
    pi = g.dirichlet(np.ones(K) * 3) if pi is None else np.asarray(pi, float)
    centres = g.normal(0, 2.5, size=K)
    x = centres[g.integers(0, K, size=N)] + g.normal(0, np.sqrt(s2), size=N)
    return dict(x=x, tau2=tau2, s2=s2, pi=pi, N=N, K=K,
                m=g.normal(0, 1.5, size=K), v=g.uniform(0.2, 1.0, size=K),
                phi=g.dirichlet(np.ones(K), size=N))


def log_evidence(x, tau2, s2, pi) -> float:
    x = np.asarray(x, float)
    N, K = x.size, len(pi)
    terms = []
    for z in itertools.product(range(K), repeat=N):
        A = np.zeros((N, K))
        A[np.arange(N), z] = 1.0
        cov = s2 * np.eye(N) + tau2 * A @ A.T
        terms.append(np.sum(np.log(np.asarray(pi)[list(z)]))
                     + stats.multivariate_normal(np.zeros(N), cov).logpdf(x))
    return float(special.logsumexp(terms))


def _gh(f, m, v):
    """E[f(mu)] for mu ~ N(m, v), elementwise over arrays m, v."""
    mu = np.asarray(m)[..., None] + np.sqrt(np.asarray(v))[..., None] * GH_X
    return np.sum(f(mu) * GH_W, axis=-1)


def elbo_gh(P, m=None, v=None, phi=None, pi=None) -> float:
    x, tau2, s2 = P["x"], P["tau2"], P["s2"]
    m = P["m"] if m is None else m
    v = P["v"] if v is None else v
    phi = P["phi"] if phi is None else phi
    pi = P["pi"] if pi is None else pi
    prior = np.sum(_gh(lambda mu: norm_logpdf(mu, 0.0, tau2), m, v))
    # E_q[log N(x_n | mu_k, s2)] for every (n, k)
    lik = _gh(lambda mu: norm_logpdf(x[:, None, None], mu[None], s2), m, v)
    assign = np.sum(phi * np.log(pi)[None])
    data = np.sum(phi * lik)
    ent_mu = -np.sum(_gh(lambda mu: norm_logpdf(mu, m[:, None], v[:, None]), m, v))
    ent_z = -np.sum(special.xlogy(phi, phi))
    return float(prior + assign + data + ent_mu + ent_z)


@functools.lru_cache(maxsize=None)
def _derived(N: int):
    """SymPy derivation of the two CAVI updates for a data set of size N."""
    mu, m, tau2, s2 = sp.symbols("mu m tau2 s2", real=True)
    v = sp.Symbol("v", positive=True)
    xs = sp.symbols(f"x0:{N}", real=True)
    ph = sp.symbols(f"phi0:{N}", nonnegative=True)

    def lognorm(a, mean, var):
        return -sp.log(2 * sp.pi * var) / 2 - (a - mean) ** 2 / (2 * var)

    # q*(mu_k): E_{-mu_k}[log p] keeps the prior and phi_nk * log N(x_n | mu_k, s2)
    expo = sp.expand(lognorm(mu, 0, tau2) + sum(p * lognorm(a, mu, s2) for a, p in zip(xs, ph)))
    poly = sp.Poly(expo, mu)
    prec = sp.simplify(-2 * poly.coeff_monomial(mu**2))
    mean = sp.simplify(poly.coeff_monomial(mu) / prec)
    upd_mu = sp.lambdify((xs, ph, tau2, s2), (mean, 1 / prec), "numpy")
    # q*(z_n): log-weight of component k = log pi_k + E_{q(mu_k)}[log N(x_n | mu_k, s2)]
    xn, logpi = sp.symbols("x_n logpi", real=True)
    M = Normal("M", m, sp.sqrt(v))
    logw = sp.simplify(logpi + Exp(sp.expand(lognorm(xn, mu, s2)).subs(mu, M)))
    upd_logw = sp.lambdify((xn, m, v, logpi, s2), logw, "numpy")
    return upd_mu, upd_logw, (mean, 1 / prec, logw)


def cavi_updates(N: int):
    upd_mu, upd_logw, _ = _derived(N)

    def update_mu(x, phi, tau2, s2):
        out = [upd_mu(tuple(x), tuple(phi[:, k]), tau2, s2) for k in range(phi.shape[1])]
        return np.array([o[0] for o in out], float), np.array([o[1] for o in out], float)

    def update_phi(x, m, v, pi, s2):
        lw = upd_logw(x[:, None], m[None], v[None], np.log(pi)[None], s2)
        return np.exp(lw - special.logsumexp(lw, axis=1, keepdims=True))

    return update_mu, update_phi


def cavi(P, sweeps: int = 30, pi=None, m=None, v=None, phi=None):
    """Run CAVI; returns (m, v, phi, trace of the ELBO after each half-sweep)."""
    update_mu, update_phi = cavi_updates(P["N"])
    pi = P["pi"] if pi is None else pi
    m = P["m"].copy() if m is None else m
    v = P["v"].copy() if v is None else v
    phi = P["phi"].copy() if phi is None else phi
    trace = [elbo_gh(P, m, v, phi, pi)]
    for _ in range(sweeps):
        phi = update_phi(P["x"], m, v, pi, P["s2"])
        trace.append(elbo_gh(P, m, v, phi, pi))
        m, v = update_mu(P["x"], phi, P["tau2"], P["s2"])
        trace.append(elbo_gh(P, m, v, phi, pi))
    return m, v, phi, np.array(trace)


def elbo_mc_samples(P, m=None, v=None, phi=None, pi=None, S: int = 40000, seed: int = 0) -> np.ndarray:
    """Per-sample log p(x, mu, z) - log q(mu, z) under q (Monte Carlo route)."""
    g = rng(200 + seed)
    x = P["x"]
    m = P["m"] if m is None else m
    v = P["v"] if v is None else v
    phi = P["phi"] if phi is None else phi
    pi = P["pi"] if pi is None else pi
    K, N = len(m), len(x)
    mu = m + np.sqrt(v) * g.standard_normal((S, K))
    u = g.random((S, N, 1))
    z = np.minimum((u > np.cumsum(phi, axis=1)[None]).sum(axis=2), K - 1)
    mu_z = np.take_along_axis(mu, z, axis=1)
    logp = (norm_logpdf(mu, 0.0, P["tau2"]).sum(1) + np.log(pi)[z].sum(1)
            + norm_logpdf(x[None], mu_z, P["s2"]).sum(1))
    logq = norm_logpdf(mu, m, v).sum(1) + np.log(phi[np.arange(N)[None], z]).sum(1)
    return logp - logq
