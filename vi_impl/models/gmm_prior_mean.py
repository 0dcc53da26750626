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

Convention on dropped constants (``constants=False``), that of :mod:`vi_impl.models.gmm`: ``log_joint`` drops
every additive term that does not depend on a variational parameter (after using
sum_k phi_ik = 1), that is -pK/2 log(2 pi sigma2), -K |alpha|^2 / (2 sigma2), -N log K,
-Np/2 log(2 pi lambda2) and -sum_i |x_i|^2 / (2 lambda2); ``log_var`` drops the terms that
depend on neither model nor variational parameters, -pK/2 (log 2 pi + 1).

With alpha = 0 and lambda2 = 1 the model is the mixture of :mod:`vi_impl.models.gmm`; an isotropic q is
its diagonal q with every coordinate of s2_k equal (see ``as_gmm_params``).
"""
from __future__ import annotations

import numpy as np
from scipy.special import xlogy

from vi_impl.result import DEFAULT_TOL, FitResult, elbo_converged
from vi_impl.validation import (
    MAX_COMPONENTS,
    as_float_array, check_int, check_positive_array, check_positive_scalar,
    check_probability_rows, check_rng, check_shape, check_tol,
)

__all__ = [
    "log_joint", "log_var", "elbo", "update_phi", "update_m", "update_s2",
    "cavi_sweep", "fit", "FitResult", "as_gmm_params", "gmm_elbo",
]


# ----------------------------------------------------------------------------- validation
def _check_X(X):
    return as_float_array("X", X, ndim=2, min_shape=(1, 1))


def _check_m(m, p):
    m = as_float_array("m", m, ndim=2)
    if m.shape[1] != p or m.shape[0] < 1:
        raise ValueError(f"m must have shape (K, {p}) with {p} the columns of X, got {m.shape}")
    return m


def _check_s2(s2, K):
    s2 = as_float_array("s2", s2, ndim=1)
    check_shape("s2", s2, (K,), meaning="(K,): one isotropic variance per row of m")
    return check_positive_array("s2", s2)


def _check_phi(phi, N, K=None):
    phi = as_float_array("phi", phi, ndim=2)
    check_shape("phi", phi, (N, K), meaning="(N, K): one row per row of X, one column per row of m")
    return check_probability_rows("phi", phi)


def _check_alpha(alpha, p):
    alpha = as_float_array("alpha", alpha)
    if alpha.ndim == 0:
        return np.full(p, float(alpha))
    if alpha.shape != (p,):
        raise ValueError(f"alpha must be a scalar or have shape ({p},), got {alpha.shape}")
    return alpha


# ----------------------------------------------------------------------------- expectations
def _expected_sq_dist(X, m, s2):
    """E_q |x_i - mu_k|^2 = |x_i - m_k|^2 + p s2_k, shape (N, K)."""
    p = X.shape[1]
    d2 = np.empty((X.shape[0], m.shape[0]))
    for k in range(m.shape[0]):          # exact differences: no cancellation far from 0
        d2[:, k] = ((X - m[k]) ** 2).sum(1)
    return d2 + p * s2[None, :]


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
    sigma2 = check_positive_scalar("sigma2", sigma2)
    lambda2 = check_positive_scalar("lambda2", lambda2)
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
    m = as_float_array("m", m, ndim=2)
    K, p = m.shape
    s2 = _check_s2(s2, K)
    phi = as_float_array("phi", phi, ndim=2)
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

    The prior weights 1/K are equal and cancel in the normalisation. Computed from
    -(|x_i - m_k|^2 + p s2_k) / (2 lambda2), the same logits up to a constant per row, with
    each row shifted by its largest logit and divided by its sum (rows sum to one to rounding,
    however far the data sit from the origin).
    """
    X = _check_X(X)
    m = _check_m(m, X.shape[1])
    s2 = _check_s2(s2, m.shape[0])
    lambda2 = check_positive_scalar("lambda2", lambda2)
    return _update_phi(X, m, s2, lambda2)


def _update_phi(X, m, s2, lambda2):
    logits = _expected_sq_dist(X, m, s2) / (-2.0 * lambda2)
    logits -= logits.max(axis=1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=1, keepdims=True)
    return logits


def update_s2(phi, sigma2, lambda2):
    """q*(mu_k) variance: s2_k = 1 / (1/sigma2 + N_k/lambda2), N_k = sum_i phi_ik; shape (K,)."""
    phi = as_float_array("phi", phi, ndim=2)
    phi = _check_phi(phi, phi.shape[0])
    sigma2 = check_positive_scalar("sigma2", sigma2)
    lambda2 = check_positive_scalar("lambda2", lambda2)
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
def _init(X, K, rng):
    N = X.shape[0]
    rows = rng.choice(N, size=K, replace=K > N)
    m = X[rows] + 1e-3 * rng.standard_normal((K, X.shape[1])) * (X.std() + 1.0)
    return m, np.ones(K)


def fit(X, K, alpha=0.0, sigma2=1.0, lambda2=1.0, *, max_iter=200, tol=DEFAULT_TOL, n_init=1,
        seed=0, init=None):
    """CAVI for the model above; returns the :class:`FitResult` (params ``m``, ``s2``,
    ``phi``) of the run with the best final full ELBO.

    Each run starts from ``init=(m, s2)`` if given, else from K data points picked at random
    (seeded by ``seed``; restarts use independent streams) with s2 = 1. One sweep is
    ``cavi_sweep``; the full ELBO (constants=True) is recorded after every sweep. The stopping
    rule is :func:`vi_impl.result.elbo_converged`; ``tol=0`` runs exactly ``max_iter`` sweeps.
    """
    X = _check_X(X)
    K = check_int("K", K, maximum=MAX_COMPONENTS)
    alpha = _check_alpha(alpha, X.shape[1])
    sigma2 = check_positive_scalar("sigma2", sigma2)
    lambda2 = check_positive_scalar("lambda2", lambda2)
    max_iter = check_int("max_iter", max_iter)
    tol = check_tol(tol)
    rngs = check_rng("seed", seed).spawn(check_int("n_init", n_init))
    if init is not None:
        if not isinstance(init, (tuple, list)) or len(init) != 2:
            raise ValueError("init must be a pair (m, s2)")
        m0 = _check_m(init[0], X.shape[1])
        if m0.shape[0] != K:
            raise ValueError(f"init m must have {K} rows, got {m0.shape[0]}")
        s20 = _check_s2(init[1], K)
    best = None
    for rng in rngs:
        m, s2 = (m0, s20) if init is not None else _init(X, K, rng)
        trace, converged = [], False
        for _ in range(max_iter):
            phi = _update_phi(X, m, s2, lambda2)
            s2 = 1.0 / (1.0 / sigma2 + phi.sum(0) / lambda2)
            m = s2[:, None] * (alpha[None, :] / sigma2 + phi.T @ X / lambda2)
            trace.append(elbo(X, m, s2, phi, alpha, sigma2, lambda2, constants=True))
            if elbo_converged(trace, tol):
                converged = True
                break
        run = FitResult(dict(m=m, s2=s2, phi=phi), np.array(trace), len(trace), converged)
        if best is None or run.elbo[-1] > best.elbo[-1]:
            best = run
    return best


# ----------------------------------------------------------------------------- reduction
def as_gmm_params(m, s2, phi):
    """Map isotropic parameters to the diagonal ones of :mod:`vi_impl.models.gmm`: (m, s2 (K, p), pi = phi).

    That model is this model with alpha = 0 and lambda2 = 1, and its q(mu_k) is
    N(m_k, diag(s2_k)); an isotropic q has every coordinate of s2_k equal to s2_k.
    """
    m = as_float_array("m", m, ndim=2, min_shape=(1, 1))
    s2 = _check_s2(s2, m.shape[0])
    phi = as_float_array("phi", phi, ndim=2)
    phi = _check_phi(phi, phi.shape[0], m.shape[0])
    return m, np.repeat(s2[:, None], m.shape[1], axis=1), phi


def gmm_elbo(X, m, s2, phi, sigma2, constants=False):
    """This model's ELBO at alpha = 0, lambda2 = 1: the ELBO of :mod:`vi_impl.models.gmm` at isotropic s2."""
    return elbo(X, m, s2, phi, 0.0, sigma2, 1.0, constants)
