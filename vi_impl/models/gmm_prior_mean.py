"""Mean-field VI for a Gaussian mixture with a prior mean and an observation variance.

Model (the tutorial's multivariate mixture), for k = 1..K, i = 1..N, data in R^p::

    mu_k            ~ N(alpha, sigma2 I_p)
    c_i             ~ Cat(1/K, ..., 1/K)            (one-hot)
    x_i | c_i, mu   ~ prod_k N(mu_k, lambda2 I_p)^{c_ik}

Mean-field family, with an *isotropic* Gaussian per component (one scalar variance each)::

    q(mu_k) = N(m_k, s2_k I_p),     q(c_i) = Cat(phi_i)

Arrays: X (N, p), m (K, p), s2 (K,), phi (N, K) rows summing to one, alpha (p,)
(a scalar is broadcast to every coordinate), sigma2 > 0, lambda2 > 0.

The full ELBO (``constants=True``) is a true lower bound on log p(X)::

    E[log p(mu)]    = -pK/2 log(2 pi sigma2) - 1/(2 sigma2) sum_k (p s2_k + |m_k - alpha|^2)
    E[log p(c)]     = -N log K
    E[log p(X|c,mu)]= sum_ik phi_ik ( -p/2 log(2 pi lambda2)
                                      - (|x_i - m_k|^2 + p s2_k) / (2 lambda2) )
    E[log q(mu)]    = -p/2 sum_k (log(2 pi s2_k) + 1)
    E[log q(c)]     = sum_ik phi_ik log phi_ik          (0 log 0 = 0)

Convention on dropped constants (``constants=False``), the coursework's: ``log_joint`` drops
every additive term that does not depend on a variational parameter (after using
sum_k phi_ik = 1), that is -pK/2 log(2 pi sigma2), -K |alpha|^2 / (2 sigma2), -N log K,
-Np/2 log(2 pi lambda2) and -sum_i |x_i|^2 / (2 lambda2); ``log_var`` drops the terms that
depend on neither model nor variational parameters, -pK/2 (log 2 pi + 1).

With alpha = 0 and lambda2 = 1 the model is the coursework's mixture; an isotropic q is
the coursework's diagonal q with every coordinate of s2_k equal (see ``as_coursework``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp, xlogy

from vi_impl.validation import (
    as_float_array, check_int, check_nonnegative_scalar, check_positive_array,
    check_positive_scalar, check_probability_rows, check_shape,
)

__all__ = [
    "log_joint", "log_var", "elbo", "update_phi", "update_m", "update_s2",
    "cavi_sweep", "fit", "FitResult", "as_coursework", "coursework_elbo",
]


# ----------------------------------------------------------------------------- validation
# Thin adapters over the shared checks (messages start with the argument's name).
def _finite(name, value, ndim=None):
    return as_float_array(name, value, ndim=ndim)


def _positive(name, value):
    return check_positive_scalar(name, value)


def _count(name, value, minimum=1):
    return check_int(name, value, minimum=minimum)


def _tol(tol):
    return check_nonnegative_scalar("tol", tol)


def _check_X(X):
    X = _finite("X", X, ndim=2)
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"X must have at least one row and one column, got shape {X.shape}")
    return X


def _check_m(m, p):
    m = _finite("m", m, ndim=2)
    if m.shape[1] != p or m.shape[0] < 1:
        raise ValueError(f"m must have shape (K, {p}), got {m.shape}")
    return m


def _check_s2(s2, K):
    s2 = _finite("s2", s2, ndim=1)
    check_shape("s2", s2, (K,), meaning="(K,): one isotropic variance per component")
    return check_positive_array("s2", s2)


def _check_phi(phi, N, K=None):
    phi = _finite("phi", phi, ndim=2)
    check_shape("phi", phi, (N, K), meaning="(N, K): one row of responsibilities per point")
    return check_probability_rows("phi", phi)


def _check_alpha(alpha, p):
    alpha = _finite("alpha", alpha)
    if alpha.ndim == 0:
        return np.full(p, float(alpha))
    if alpha.shape != (p,):
        raise ValueError(f"alpha must be a scalar or have shape ({p},), got {alpha.shape}")
    return alpha


# ----------------------------------------------------------------------------- expectations
def _expected_sq_dist(X, m, s2):
    """E_q |x_i - mu_k|^2 = |x_i - m_k|^2 + p s2_k, shape (N, K)."""
    p = X.shape[1]
    d2 = (X * X).sum(1)[:, None] - 2.0 * X @ m.T + (m * m).sum(1)[None, :]
    return np.maximum(d2, 0.0) + p * s2[None, :]


# ----------------------------------------------------------------------------- ELBO
def log_joint(X, m, s2, phi, alpha, sigma2, lambda2, constants=False):
    """E_q[log p(X, mu, c)] (float); see the module docstring for ``constants``."""
    X = _check_X(X)
    N, p = X.shape
    m = _check_m(m, p)
    K = m.shape[0]
    s2 = _check_s2(s2, K)
    phi = _check_phi(phi, N, K)
    alpha = _check_alpha(alpha, p)
    sigma2 = _positive("sigma2", sigma2)
    lambda2 = _positive("lambda2", lambda2)
    if constants:
        prior = (-0.5 * p * K * np.log(2 * np.pi * sigma2)
                 - ((p * s2).sum() + ((m - alpha) ** 2).sum()) / (2 * sigma2))
        assign = -N * np.log(K)
        lik = (phi * (-0.5 * p * np.log(2 * np.pi * lambda2)
                      - _expected_sq_dist(X, m, s2) / (2 * lambda2))).sum()
        return float(prior + assign + lik)
    prior = -((p * s2).sum() + (m * m).sum() - 2.0 * (m @ alpha).sum()) / (2 * sigma2)
    lik = (phi * (X @ m.T - 0.5 * ((m * m).sum(1) + p * s2)[None, :])).sum() / lambda2
    return float(prior + lik)


def log_var(m, s2, phi, constants=False):
    """E_q[log q(mu, c)] (float) = -p/2 sum_k log s2_k + sum phi log phi [- pK/2 (log 2pi + 1)]."""
    m = _finite("m", m, ndim=2)
    K, p = m.shape
    s2 = _check_s2(s2, K)
    phi = _finite("phi", phi, ndim=2)
    phi = _check_phi(phi, phi.shape[0], K)
    value = -0.5 * p * np.log(s2).sum() + xlogy(phi, phi).sum()
    if constants:
        value -= 0.5 * p * K * (np.log(2 * np.pi) + 1.0)
    return float(value)


def elbo(X, m, s2, phi, alpha, sigma2, lambda2, constants=False):
    """ELBO = log_joint - log_var (float); ``constants=True`` gives the full lower bound."""
    return (log_joint(X, m, s2, phi, alpha, sigma2, lambda2, constants)
            - log_var(m, s2, phi, constants))


# ----------------------------------------------------------------------------- CAVI updates
def update_phi(X, m, s2, lambda2):
    """q*(c_i): phi_ik ∝ exp((x_i^T m_k - (|m_k|^2 + p s2_k)/2) / lambda2), shape (N, K).

    The prior weights 1/K are equal and cancel in the normalisation; log-sum-exp is used.
    """
    X = _check_X(X)
    m = _check_m(m, X.shape[1])
    s2 = _check_s2(s2, m.shape[0])
    lambda2 = _positive("lambda2", lambda2)
    p = X.shape[1]
    logits = (X @ m.T - 0.5 * ((m * m).sum(1) + p * s2)[None, :]) / lambda2
    return np.exp(logits - logsumexp(logits, axis=1, keepdims=True))


def update_s2(phi, sigma2, lambda2):
    """q*(mu_k) variance: s2_k = 1 / (1/sigma2 + N_k/lambda2), N_k = sum_i phi_ik; shape (K,)."""
    phi = _finite("phi", phi, ndim=2)
    phi = _check_phi(phi, phi.shape[0])
    sigma2 = _positive("sigma2", sigma2)
    lambda2 = _positive("lambda2", lambda2)
    return 1.0 / (1.0 / sigma2 + phi.sum(0) / lambda2)


def update_m(X, phi, alpha, sigma2, lambda2):
    """q*(mu_k) mean: m_k = s2_k (alpha/sigma2 + sum_i phi_ik x_i / lambda2); shape (K, p)."""
    X = _check_X(X)
    phi = _check_phi(phi, X.shape[0])
    alpha = _check_alpha(alpha, X.shape[1])
    s2 = update_s2(phi, sigma2, lambda2)
    return s2[:, None] * (alpha[None, :] / sigma2 + phi.T @ X / lambda2)


def cavi_sweep(X, m, s2, alpha, sigma2, lambda2):
    """One CAVI sweep: phi from (m, s2), then s2 and m from phi. Returns (m, s2, phi)."""
    phi = update_phi(X, m, s2, lambda2)
    s2 = update_s2(phi, sigma2, lambda2)
    m = update_m(X, phi, alpha, sigma2, lambda2)
    return m, s2, phi


# ----------------------------------------------------------------------------- fit
@dataclass(frozen=True)
class FitResult:
    """CAVI output: variational parameters, full-ELBO trace (one value per sweep), status."""
    m: np.ndarray
    s2: np.ndarray
    phi: np.ndarray
    elbo: np.ndarray
    n_iter: int
    converged: bool


def _init(X, K, rng):
    N = X.shape[0]
    rows = rng.choice(N, size=K, replace=K > N)
    m = X[rows] + 1e-3 * rng.standard_normal((K, X.shape[1])) * (X.std() + 1.0)
    return m, np.ones(K)


def fit(X, K, alpha=0.0, sigma2=1.0, lambda2=1.0, *, max_iter=200, tol=1e-10, n_init=1,
        seed=0, init=None):
    """CAVI for the model above; returns the run with the best final full ELBO.

    Each run starts from ``init=(m, s2)`` if given, else from K data points picked at random
    (seeded by ``seed``; restarts use independent streams) with s2 = 1. One sweep is
    ``cavi_sweep``; the full ELBO (constants=True) is recorded after every sweep. The run
    stops when |L_t - L_{t-1}| <= tol |L_t|; ``tol=0`` runs exactly ``max_iter`` sweeps.
    """
    X = _check_X(X)
    K = _count("K", K)
    alpha = _check_alpha(alpha, X.shape[1])
    sigma2 = _positive("sigma2", sigma2)
    lambda2 = _positive("lambda2", lambda2)
    max_iter = _count("max_iter", max_iter)
    n_init = _count("n_init", n_init)
    tol = _tol(tol)
    best = None
    for rng in (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n_init)):
        if init is not None:
            m, s2 = _check_m(init[0], X.shape[1]), _check_s2(init[1], K)
            if m.shape[0] != K:
                raise ValueError(f"init m must have {K} rows, got {m.shape[0]}")
        else:
            m, s2 = _init(X, K, rng)
        trace, converged = [], False
        for _ in range(max_iter):
            m, s2, phi = cavi_sweep(X, m, s2, alpha, sigma2, lambda2)
            trace.append(elbo(X, m, s2, phi, alpha, sigma2, lambda2, constants=True))
            if tol > 0 and len(trace) > 1 and abs(trace[-1] - trace[-2]) <= tol * abs(trace[-1]):
                converged = True
                break
        run = FitResult(m, s2, phi, np.array(trace), len(trace), converged)
        if best is None or run.elbo[-1] > best.elbo[-1]:
            best = run
    return best


# ----------------------------------------------------------------------------- reduction
def as_coursework(m, s2, phi):
    """Map isotropic parameters to the coursework's diagonal ones: (m, s2 (K, p), pi = phi).

    The coursework model is this model with alpha = 0 and lambda2 = 1, and its q(mu_k) is
    N(m_k, diag(s2_k)); an isotropic q has every coordinate of s2_k equal to s2_k.
    """
    m = _finite("m", m, ndim=2)
    s2 = _check_s2(s2, m.shape[0])
    return m, np.repeat(s2[:, None], m.shape[1], axis=1), phi


def coursework_elbo(X, m, s2, phi, sigma2, constants=False):
    """This model's ELBO at alpha = 0, lambda2 = 1: the coursework ELBO at isotropic s2."""
    return elbo(X, m, s2, phi, 0.0, sigma2, 1.0, constants)
