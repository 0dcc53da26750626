"""The normal-normal model, used as a test bed where everything is exact.

z ~ N(0, 1), x_k | z ~ N(z, 1) for k = 1..K.  The evidence comes from the
marginal x ~ N(0, I + 11^T) (scipy), the posterior moments from quadrature of the
normalised joint, the ELBO of q = N(m, v) from Gauss--Hermite (exact: the log
joint is quadratic).  No closed-form posterior is typed in.
"""
from __future__ import annotations

import functools

import numpy as np
from scipy import integrate, stats

from ._checks import norm_logpdf, rng

GH_X, GH_W = np.polynomial.hermite_e.hermegauss(30)
GH_W = GH_W / GH_W.sum()


def data(K: int = 5, seed: int = 0) -> np.ndarray:
    g = rng(700 + seed)
    return g.normal(1.2, 1.0, size=K)


def log_joint(z, x):
    z = np.asarray(z, float)
    return norm_logpdf(z, 0.0, 1.0) + norm_logpdf(x[:, None], z[None] if z.ndim else z, 1.0).sum(0)


def log_evidence(x) -> float:
    K = x.size
    return float(stats.multivariate_normal(np.zeros(K), np.eye(K) + np.ones((K, K))).logpdf(x))


@functools.lru_cache(maxsize=None)
def _posterior_moments(xt: tuple) -> tuple[float, float]:
    x = np.array(xt)
    lz = log_evidence(x)
    dens = lambda z: np.exp(log_joint(np.array([z]), x)[0] - lz)
    mass = integrate.quad(dens, -30, 30, limit=200, epsabs=1e-13)[0]
    mean = integrate.quad(lambda z: z * dens(z), -30, 30, limit=200, epsabs=1e-13)[0]
    second = integrate.quad(lambda z: z * z * dens(z), -30, 30, limit=200, epsabs=1e-13)[0]
    return mean / mass, second / mass - (mean / mass) ** 2


def posterior_moments(x) -> tuple[float, float]:
    """Posterior mean and variance by quadrature of p(z, x) / p(x)."""
    return _posterior_moments(tuple(np.round(np.asarray(x, float), 15)))


def gh(f, m, v):
    """E[f(z)] for z ~ N(m, v) by Gauss--Hermite (30 nodes)."""
    z = m + np.sqrt(v) * GH_X
    return float(np.sum(GH_W * f(z)))


def elbo(x, m, v) -> float:
    return gh(lambda z: log_joint(z, x) - norm_logpdf(z, m, v), m, v)


def kl_q_post(x, m, v) -> float:
    """KL(N(m, v) || p(z | x)) by quadrature with the exact evidence."""
    lz = log_evidence(x)
    return gh(lambda z: norm_logpdf(z, m, v) - (log_joint(z, x) - lz), m, v)
