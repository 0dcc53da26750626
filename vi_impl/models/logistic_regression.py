r"""Variational Bayesian logistic regression by the Jaakkola-Jordan local bound (Jaakkola &
Jordan 2000; Bishop 2006, section 10.6), with the prior precision learned (section 10.6.2).

Model, n = 1..N, features x_n in R^M (include a column of ones for an intercept), t_n in {0, 1}::

    alpha ~ Gamma(a0, b0),   w | alpha ~ N(0, alpha^-1 I),   t_n | w ~ Bernoulli(sigmoid(w^T x_n))

or, with ``alpha`` fixed, w ~ N(m0, S0). The local bound, for every xi > 0 (tight at xi = |z|)::

    log sigmoid(z) >= log sigmoid(xi) + (z - xi)/2 - lam(xi) (z^2 - xi^2),
    lam(xi) = (sigmoid(xi) - 1/2) / (2 xi) = tanh(xi/2) / (4 xi)        (lam(0) = 1/8)

and log p(t | w) = t z + log sigmoid(-z) = (t - 1/2) z + log sigmoid(z) - z/2 with z = w^T x.
Family q(w) = N(m, S), q(alpha) = Gamma(a, b), plus xi_n. Updates (Bishop 10.156-10.163)::

    S^-1 = E[alpha] I + 2 sum_n lam(xi_n) x_n x_n^T      (S0^-1 in place of E[alpha] I if fixed)
    m    = S (sum_n (t_n - 1/2) x_n)                        (+ S0^-1 m0 if fixed)
    a    = a0 + M/2,   b = b0 + (m^T m + tr S)/2,   E[alpha] = a/b
    xi_n^2 = x_n^T (S + m m^T) x_n

The bound on log p(t), all constants included::

    L = sum_n [log sigmoid(xi_n) - xi_n/2 + (t_n - 1/2) m^T x_n - lam(xi_n)(xi_n'^2 - xi_n^2)]
        + E[log p(w | alpha)] + E[log p(alpha)] + H[q(w)] + H[q(alpha)]

with xi_n'^2 = x_n^T (S + m m^T) x_n (so the bracket's last term vanishes after the xi update).

The predictive probability p(t = 1 | x) = E[sigmoid(a)], a = w^T x ~ N(m^T x, x^T S x) under q(w),
by the probit approximation (Bishop 4.153) or by a one-dimensional quadrature of that integral.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import digamma, expit, gammaln, log_expit, ndtr

from vi_impl.result import DEFAULT_TOL, FitResult, elbo_converged
from vi_impl.validation import (
    as_float_array,
    check_int,
    check_positive_scalar,
    check_shape,
    check_tol,
)

__all__ = ["jj_lambda", "jj_log_sigmoid_bound", "update_w", "update_xi", "fit", "elbo",
           "predict_proba"]

_LOG_2PI = math.log(2.0 * math.pi)


def jj_lambda(xi) -> np.ndarray:
    """lam(xi) = tanh(xi/2) / (4 xi), with its limit 1/8 at xi = 0 (even in xi)."""
    return _jj_lambda(as_float_array("xi", xi))


def _jj_lambda(xi):
    xi = np.abs(xi)
    small = xi < 1e-6
    safe = np.where(small, 1.0, xi)
    return np.where(small, 0.125 - xi ** 2 / 96.0, np.tanh(safe / 2.0) / (4.0 * safe))


def jj_log_sigmoid_bound(z, xi) -> np.ndarray:
    """log sigmoid(xi) + (z - xi)/2 - lam(xi) (z^2 - xi^2): below log sigmoid(z), equal at
    xi = |z|."""
    z = as_float_array("z", z)
    xi = as_float_array("xi", xi)
    try:
        np.broadcast_shapes(z.shape, xi.shape)
    except ValueError:
        raise ValueError(f"z and xi must broadcast together, got shapes {z.shape} and "
                         f"{xi.shape}") from None
    return log_expit(xi) + (z - xi) / 2.0 - _jj_lambda(xi) * (z ** 2 - xi ** 2)


def _check_data(X, t):
    X = as_float_array("X", X, ndim=2, min_shape=(1, 1))
    t = as_float_array("t", t, ndim=1)
    check_shape("t", t, (X.shape[0],), meaning="(N,), one label per row of X")
    if not np.isin(t, (0.0, 1.0)).all():
        raise ValueError("t must hold labels 0 or 1")
    return X, t


def _check_q(X, m, S):
    """m (M,) and S (M, M) symmetric positive definite, M = the columns of X."""
    M = X.shape[1]
    m = as_float_array("m", m, ndim=1)
    check_shape("m", m, (M,), meaning="(one entry per column of X)")
    S = as_float_array("S", S, ndim=2)
    check_shape("S", S, (M, M), meaning="(M, M), M = the columns of X")
    if not np.allclose(S, S.T, rtol=1e-10, atol=1e-300):
        raise ValueError("S must be symmetric")
    try:
        np.linalg.cholesky(S)
    except np.linalg.LinAlgError:
        raise ValueError("S must be positive definite (its Cholesky factorisation fails)") from None
    return m, S


def _gauss_terms(m, S, X, t, xi):
    """sum_n of the local-bound expectation under q(w) = N(m, S)."""
    L = np.linalg.cholesky(S)
    quad = ((X @ L) ** 2).sum(axis=1) + (X @ m) ** 2           # x^T (S + m m^T) x
    return float((log_expit(xi) - xi / 2.0 + (t - 0.5) * (X @ m)
                  - _jj_lambda(xi) * (quad - xi ** 2)).sum()), L


def _elbo(X, t, m, S, xi, a, b, a0, b0, m0, S0):
    M = X.shape[1]
    lik, L = _gauss_terms(m, S, X, t, xi)
    logdet_S = 2.0 * np.log(np.diag(L)).sum()
    entropy_w = 0.5 * M * (1.0 + _LOG_2PI) + 0.5 * logdet_S
    if S0 is not None:                                         # fixed Gaussian prior
        L0 = np.linalg.cholesky(S0)
        S0inv = np.linalg.inv(S0)
        d = m - m0
        prior = (-0.5 * M * _LOG_2PI - np.log(np.diag(L0)).sum()
                 - 0.5 * (np.trace(S0inv @ S) + d @ S0inv @ d))
        return float(lik + prior + entropy_w)
    e_alpha, e_log_alpha = a / b, digamma(a) - math.log(b)
    e_wtw = m @ m + np.trace(S)
    prior_w = -0.5 * M * _LOG_2PI + 0.5 * M * e_log_alpha - 0.5 * e_alpha * e_wtw
    prior_alpha = a0 * math.log(b0) - gammaln(a0) + (a0 - 1.0) * e_log_alpha - b0 * e_alpha
    entropy_alpha = a - math.log(b) + gammaln(a) + (1.0 - a) * digamma(a)
    return float(lik + entropy_w + prior_w + prior_alpha + entropy_alpha)


def elbo(X, t, m, S, xi, *, a=None, b=None, a0=None, b0=None, m0=None, S0=None) -> float:
    """The bound on log p(t) (module docstring): with (a, b, a0, b0) for the learned prior
    precision, or (m0, S0) for a fixed Gaussian prior."""
    X, t = _check_data(X, t)
    m, S = _check_q(X, m, S)
    xi = as_float_array("xi", xi, ndim=1)
    check_shape("xi", xi, (X.shape[0],))
    if S0 is not None:
        return _elbo(X, t, m, S, xi, None, None, None, None,
                     as_float_array("m0", m0, ndim=1), as_float_array("S0", S0, ndim=2))
    return _elbo(X, t, m, S, xi, check_positive_scalar("a", a), check_positive_scalar("b", b),
                 check_positive_scalar("a0", a0), check_positive_scalar("b0", b0), None, None)


def _update_w(X, xi, h, prior_precision):
    P = prior_precision + 2.0 * (X.T * _jj_lambda(xi)) @ X
    Cinv = np.linalg.solve(np.linalg.cholesky(P), np.eye(P.shape[0]))
    S = Cinv.T @ Cinv
    return S @ h, S


def update_w(X, t, xi, *, e_alpha=None, m0=None, S0=None):
    """q(w) = N(m, S) given xi: S^-1 = P0 + 2 sum_n lam(xi_n) x_n x_n^T,
    m = S (sum_n (t_n - 1/2) x_n + P0 m0), with P0 = E[alpha] I (learned prior precision,
    m0 = 0) or P0 = S0^-1 (fixed prior N(m0, S0)). Returns (m, S)."""
    X, t = _check_data(X, t)
    M = X.shape[1]
    xi = as_float_array("xi", xi, ndim=1)
    check_shape("xi", xi, (X.shape[0],))
    rhs = X.T @ (t - 0.5)
    if S0 is not None:
        S0 = as_float_array("S0", S0, ndim=2)
        check_shape("S0", S0, (M, M))
        m0 = np.zeros(M) if m0 is None else as_float_array("m0", m0, ndim=1)
        S0inv = np.linalg.inv(S0)
        return _update_w(X, xi, rhs + S0inv @ m0, S0inv)
    return _update_w(X, xi, rhs, check_positive_scalar("e_alpha", e_alpha) * np.eye(M))


def _update_xi(X, m, S):
    return np.sqrt(((X @ np.linalg.cholesky(S)) ** 2).sum(axis=1) + (X @ m) ** 2)


def update_xi(X, m, S):
    """xi_n = sqrt(x_n^T (S + m m^T) x_n), the maximiser of the bound in xi_n (Bishop 10.163)."""
    X = as_float_array("X", X, ndim=2, min_shape=(1, 1))
    m, S = _check_q(X, m, S)
    return _update_xi(X, m, S)


def fit(X, t, *, a0=1e-2, b0=1e-4, m0=None, S0=None, max_iter: int = 500,
        tol: float = DEFAULT_TOL) -> FitResult:
    """Coordinate ascent on q(w), q(alpha) and xi (in that order each iteration, starting from
    xi_n = 1); the bound after each iteration is the trace (it never decreases). With ``S0``
    given, the prior is the fixed N(m0, S0) (m0 default 0) and there is no q(alpha).
    Params: m, S, xi and (learned prior) a, b, e_alpha; extra (learned prior): e_alpha_trace,
    E[alpha] = a/b after each iteration."""
    X, t = _check_data(X, t)
    N, M = X.shape
    max_iter = check_int("max_iter", max_iter)
    m = S = None
    tol = check_tol(tol)
    fixed = S0 is not None
    if fixed:
        S0 = as_float_array("S0", S0, ndim=2)
        check_shape("S0", S0, (M, M))
        try:
            np.linalg.cholesky(S0)
        except np.linalg.LinAlgError:
            raise ValueError("S0 must be symmetric positive definite") from None
        m0 = np.zeros(M) if m0 is None else as_float_array("m0", m0, ndim=1)
        check_shape("m0", m0, (M,))
        S0inv = np.linalg.inv(S0)
        a = b = None
    else:
        a0 = check_positive_scalar("a0", a0)
        b0 = check_positive_scalar("b0", b0)
        a, b = a0 + 0.5 * M, b0
    xi = np.ones(N)
    rhs = X.T @ (t - 0.5)
    trace, e_alpha_trace = [], []
    converged = False
    for _ in range(max_iter):
        if fixed:
            m, S = _update_w(X, xi, rhs + S0inv @ m0, S0inv)
        else:
            m, S = _update_w(X, xi, rhs, (a / b) * np.eye(M))
            b = b0 + 0.5 * (m @ m + np.trace(S))
            e_alpha_trace.append(a / b)
        xi = _update_xi(X, m, S)
        trace.append(_elbo(X, t, m, S, xi, a, b, a0, b0, m0, S0))
        if elbo_converged(trace, tol):
            converged = True
            break
    params, extra = dict(m=m, S=S, xi=xi), {}
    if not fixed:
        params.update(a=a, b=b, e_alpha=a / b)
        extra["e_alpha_trace"] = np.array(e_alpha_trace)
    return FitResult(params, np.array(trace), len(trace), converged, extra)


_METHODS = ("probit", "quadrature")
# z-space trapezoid (s <= _S_SPLIT): nodes at spacing _H on [-_Z, _Z] standard deviations; error
# about exp(-2 pi^2 / (s _H)) (the sigmoid's poles are pi/s away from the real z axis) plus the
# Gaussian tail beyond _Z sd.
_S_SPLIT, _H, _Z = 5.0, 0.02, 12.0
_ZS = np.arange(-_Z, _Z + _H / 2, _H)
_ZW = np.exp(-0.5 * _ZS ** 2)
_ZW /= _ZW.sum()
# u-space Gauss-Legendre (s > _S_SPLIT): 8 panels of 20 nodes on [0, 40] (sigmoid(-40) = 4e-18)
_GL_X, _GL_W = np.polynomial.legendre.leggauss(20)
_US = (np.arange(8)[:, None] * 5.0 + 2.5 * (_GL_X + 1.0)).ravel()
_UW = np.tile(2.5 * _GL_W, 8)


def _gauss_sigmoid_mean(mu, s):
    """E[sigmoid(a)], a ~ N(mu, s^2), elementwise. For s <= 5 a trapezoid rule in z = (a - mu)/s;
    for larger s, E[sigmoid(a)] = Phi(mu/s) + int_0^inf sigmoid(-u) [N(-u) - N(u)] du (the
    difference sigmoid - step decays like e^-|a|), the integral by Gauss-Legendre panels."""
    out = np.empty_like(mu)
    small = s <= _S_SPLIT
    for rows in np.array_split(np.flatnonzero(small), max(1, int(small.sum()) // 512)):
        out[rows] = expit(mu[rows, None] + s[rows, None] * _ZS) @ _ZW
    big = np.flatnonzero(~small)
    if big.size:
        mb, sb = mu[big, None], s[big, None]
        dens = (np.exp(-0.5 * ((_US + mb) / sb) ** 2) - np.exp(-0.5 * ((_US - mb) / sb) ** 2))
        out[big] = ndtr(mu[big] / s[big]) + (dens / (sb * math.sqrt(2.0 * math.pi))) @ (
            expit(-_US) * _UW)
    return np.clip(out, 0.0, 1.0)


def predict_proba(Xnew, m, S, method: str = "probit") -> np.ndarray:
    """p(t = 1 | x) = E_q[sigmoid(a)], a = w^T x ~ N(mu, s2), mu = m^T x, s2 = x^T S x.
    ``method="probit"``: sigmoid(kappa(s2) mu), kappa(s2) = (1 + pi s2 / 8)^(-1/2) (Bishop 4.153,
    10.175); ``method="quadrature"``: the one-dimensional integral itself, to about 1e-13."""
    if not isinstance(method, str) or method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    m = as_float_array("m", m, ndim=1)
    S = as_float_array("S", S, ndim=2)
    check_shape("S", S, (m.size, m.size), meaning="(M, M), M = the length of m")
    Xnew = as_float_array("Xnew", Xnew, ndim=2)
    check_shape("Xnew", Xnew, (None, m.size), meaning="(N, M), M = the length of m")
    mu = Xnew @ m
    s2 = np.einsum("nd,de,ne->n", Xnew, S, Xnew)
    if (s2 < -1e-12 * (1.0 + np.abs(Xnew).sum(1) ** 2 * np.abs(S).max())).any():
        raise ValueError("S must be positive semi-definite: x^T S x < 0 for a row of Xnew")
    s2 = np.maximum(s2, 0.0)
    if method == "quadrature":
        return _gauss_sigmoid_mean(mu, np.sqrt(s2))
    return expit(mu / np.sqrt(1.0 + math.pi * s2 / 8.0))
