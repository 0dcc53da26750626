"""The homework's latent linear-Gaussian model: exact posterior vs mean field.

Model (the homework has D = 2 and a single observation; the code allows any D >= 1 and
n >= 1 observations sharing the latent z)::

    z            ~ N(0, I_D)
    x_i | z      ~ N(theta_i^T z, 1),   i = 1..n

``theta`` is either (D,) (every observation uses the same theta, as in the homework) or
(n, D) (one row per observation); ``x`` is a scalar or (n,). Write Theta for the (n, D)
matrix of rows theta_i.

Exact posterior, by completing the square in log p(z) + log p(x | z)::

    p(z | x) = N(mu, Lambda^-1),   Lambda = I + Theta^T Theta,   mu = Lambda^-1 Theta^T x

Log evidence: x ~ N(0, I_n + Theta Theta^T).

Mean field q(z) = prod_j N(z_j | m_j, v_j). The optimal factor given the others is
q*(z_j) = N(m_j, v_j) with

    v_j = 1 / Lambda_jj,     m_j = (h_j - sum_{l != j} Lambda_jl m_l) / Lambda_jj,   h = Theta^T x

(for D = 2 and one x: v_1 = 1/(1 + theta_1^2), m_1 = theta_1 (x - theta_2 m_2)/(1 + theta_1^2)).
The fixed point solves Lambda m = h, so m = mu exactly; the variances 1/Lambda_jj are never
larger than the exact marginal variances (Lambda^-1)_jj, and smaller whenever row j of
Lambda has an off-diagonal entry (for D = 2: theta_1 theta_2 != 0). At the fixed point
KL(q || p(z|x)) = 1/2 (sum_j log Lambda_jj - log det Lambda) >= 0 (Hadamard's inequality),
zero iff Lambda is diagonal.

ELBO of q (every constant kept)::

    E log p(x|z) = sum_i [-1/2 log 2pi - 1/2 ((x_i - theta_i^T m)^2 + sum_j theta_ij^2 v_j)]
    E log p(z)   = -D/2 log 2pi - 1/2 sum_j (m_j^2 + v_j)
    H[q]         = 1/2 sum_j log(2 pi e v_j)
"""
from __future__ import annotations

import numpy as np

from vi_impl.result import DEFAULT_TOL, FitResult, elbo_converged, step_converged
from vi_impl.theory.mean_field_gaussian import _coordinate_update, _gauss_seidel_sweep
from vi_impl.validation import (
    as_float_array, check_int, check_positive_array, check_shape, check_tol, pick_init,
)

__all__ = [
    "posterior_precision", "exact_posterior", "log_evidence", "update_factor", "update_z1",
    "update_z2", "cavi", "FitResult", "fixed_point", "elbo", "kl_to_posterior",
    "kl_at_fixed_point",
]


# ----------------------------------------------------------------------------- validation
def _finite(name, value):
    return as_float_array(name, value)


def _design(x, theta):
    """Return x as (n,) and Theta as (n, D), validating shapes."""
    x = _finite("x", x)
    theta = _finite("theta", theta)
    if x.ndim > 1:
        raise ValueError(f"x must be a scalar or a 1-D array, got shape {x.shape}")
    x = np.atleast_1d(x)
    if x.size < 1:
        raise ValueError("x must hold at least one observation")
    if theta.ndim == 1:
        if theta.size < 1:
            raise ValueError("theta must have at least one entry")
        Theta = np.broadcast_to(theta, (x.size, theta.size))
    elif theta.ndim == 2:
        if theta.shape[0] != x.size or theta.shape[1] < 1:
            raise ValueError(f"theta must have shape ({x.size}, D) to match x, got {theta.shape}")
        Theta = theta
    else:
        raise ValueError(f"theta must be a 1-D or 2-D array, got shape {theta.shape}")
    return x, np.asarray(Theta)


def _check_q(m, v, D):
    m = _finite("m", m)
    check_shape("m", m, (D,), meaning="(D,) with D the length of theta")
    v = _finite("v", v)
    check_shape("v", v, (D,), meaning="(D,) with D the length of theta")
    return m, check_positive_array("v", v)


# ----------------------------------------------------------------------------- exact posterior
def posterior_precision(theta, n=None):
    """Lambda = I + Theta^T Theta, shape (D, D); with theta (D,) and n observations, I + n theta theta^T."""
    theta = _finite("theta", theta)
    if theta.ndim == 1:
        if n is None:
            n = 1
        n = check_int("n", n, minimum=1)
        return np.eye(theta.size) + n * np.outer(theta, theta)
    if theta.ndim != 2:
        raise ValueError(f"theta must be a 1-D or 2-D array, got shape {theta.shape}")
    return np.eye(theta.shape[1]) + theta.T @ theta


def exact_posterior(x, theta):
    """(mean (D,), covariance (D, D)) of p(z | x) = N(Lambda^-1 Theta^T x, Lambda^-1)."""
    x, Theta = _design(x, theta)
    Lam = np.eye(Theta.shape[1]) + Theta.T @ Theta
    L = np.linalg.cholesky(Lam)
    Linv = np.linalg.solve(L, np.eye(L.shape[0]))
    cov = Linv.T @ Linv
    return cov @ (Theta.T @ x), 0.5 * (cov + cov.T)


def log_evidence(x, theta):
    """log p(x) = log N(x | 0, I_n + Theta Theta^T), via log p(x|z) + log p(z) - log p(z|x) at z = mu."""
    x, Theta = _design(x, theta)
    n, D = Theta.shape
    mu, _ = exact_posterior(x, Theta)
    Lam = np.eye(D) + Theta.T @ Theta
    r = x - Theta @ mu
    _, logdet = np.linalg.slogdet(Lam)
    return float(-0.5 * n * np.log(2 * np.pi) - 0.5 * r @ r
                 - 0.5 * mu @ mu - 0.5 * logdet)   # the (2 pi)^(D/2) of prior and posterior cancel


# ----------------------------------------------------------------------------- mean field
def _natural(x, Theta):
    """(h, Lambda) = (Theta^T x, I + Theta^T Theta): the posterior's natural parameters."""
    return Theta.T @ x, np.eye(Theta.shape[1]) + Theta.T @ Theta


def update_factor(j, m, x, theta):
    """CAVI update of q(z_j) given the other means: returns (m_j, v_j) = ((h_j - sum_{l!=j}
    Lambda_jl m_l) / Lambda_jj, 1 / Lambda_jj). Only E[z_l] = m_l of the other factors enters.
    (The step is :func:`vi_impl.theory.mean_field_gaussian.coordinate_update` with the
    posterior's natural parameters.)"""
    x, Theta = _design(x, theta)
    D = Theta.shape[1]
    m = _finite("m", m)
    if m.shape != (D,):
        raise ValueError(f"m must have shape ({D},) with D the length of theta, got {m.shape}")
    j = check_int("j", j, minimum=0, maximum=D - 1)
    return _coordinate_update(j, m, *_natural(x, Theta))


def _homework_pair(name, value, x, theta):
    x, Theta = _design(x, theta)
    if Theta.shape[1] != 2:
        raise ValueError(f"theta must have D = 2 columns for the homework's update, got {Theta.shape}")
    return as_float_array(name, value, ndim=0), x, Theta


def update_z1(m2, x, theta):
    """The homework's update of q(z_1) given E[z_2] = m2 (D = 2 only): (m_1, v_1)."""
    m2, x, Theta = _homework_pair("m2", m2, x, theta)
    return update_factor(0, np.array([0.0, m2]), x, Theta)


def update_z2(m1, x, theta):
    """The homework's update of q(z_2) given E[z_1] = m1 (D = 2 only): (m_2, v_2)."""
    m1, x, Theta = _homework_pair("m1", m1, x, theta)
    return update_factor(1, np.array([m1, 0.0]), x, Theta)


def elbo(m, v, x, theta):
    """Full ELBO of q(z) = prod_j N(m_j, v_j) (float), every constant kept; <= log_evidence."""
    x, Theta = _design(x, theta)
    n, D = Theta.shape
    m, v = _check_q(m, v, D)
    r = x - Theta @ m
    return float(-0.5 * n * np.log(2 * np.pi) - 0.5 * (r @ r + (Theta ** 2 @ v).sum())
                 - 0.5 * D * np.log(2 * np.pi) - 0.5 * (m @ m + v.sum())
                 + 0.5 * np.log(2 * np.pi * np.e * v).sum())


def kl_to_posterior(m, v, x, theta):
    """KL(q || p(z | x)) for q = N(m, diag v), closed form between Gaussians (float)."""
    x, Theta = _design(x, theta)
    D = Theta.shape[1]
    m, v = _check_q(m, v, D)
    mu, _ = exact_posterior(x, Theta)
    Lam = np.eye(D) + Theta.T @ Theta
    d = m - mu
    _, logdet = np.linalg.slogdet(Lam)
    return float(0.5 * (np.diag(Lam) @ v + d @ Lam @ d - D - logdet - np.log(v).sum()))


def cavi(x, theta, init=None, *, max_iter=500, tol=DEFAULT_TOL):
    """Mean-field CAVI for any D: sweeps of :func:`update_factor` for j = 0..D-1 (the shared
    Gauss-Seidel sweep); the full ELBO is recorded after each sweep. Returns a
    :class:`FitResult` with params ``m``, ``v``. The start is deterministic (``init`` means,
    default zeros): the ELBO is a strictly concave quadratic in m for fixed v, so every start
    reaches the same fixed point and restarts are not needed. Converged means the shared ELBO
    rule and the same rule on the means (:func:`vi_impl.result.step_converged`); tol=0 runs
    exactly max_iter sweeps."""
    x, Theta = _design(x, theta)
    D = Theta.shape[1]
    max_iter = check_int("max_iter", max_iter, minimum=1)
    tol = check_tol(tol)
    m = np.zeros(D) if init is None else _finite("init", init).copy()
    if m.shape != (D,):
        raise ValueError(f"init must have shape ({D},), got {m.shape}")
    h, Lam = _natural(x, Theta)
    v = 1.0 / np.diag(Lam)
    trace, steps, converged = [], [], False
    for _ in range(max_iter):
        m_new = _gauss_seidel_sweep(m, h, Lam)
        steps.append(float(np.max(np.abs(m_new - m))))
        m = m_new
        trace.append(elbo(m, v, x, Theta))
        if elbo_converged(trace, tol) and step_converged(steps, 1.0 + np.abs(m).max(), tol):
            converged = True
            break
    return FitResult(dict(m=m, v=v), np.array(trace), len(trace), converged)


def fixed_point(x, theta):
    """The mean-field fixed point in closed form: m = Lambda^-1 h (the exact mean), v_j = 1/Lambda_jj."""
    x, Theta = _design(x, theta)
    Lam = np.eye(Theta.shape[1]) + Theta.T @ Theta
    return np.linalg.solve(Lam, Theta.T @ x), 1.0 / np.diag(Lam)


def kl_at_fixed_point(theta, n=None):
    """KL(q* || p(z|x)) = 1/2 (sum_j log Lambda_jj - log det Lambda) at the mean-field fixed
    point (independent of x). For D = 2, one x: 1/2 log((1+t1^2)(1+t2^2)/(1+t1^2+t2^2))."""
    Lam = posterior_precision(theta, n)
    _, logdet = np.linalg.slogdet(Lam)
    return float(0.5 * (np.log(np.diag(Lam)).sum() - logdet))
