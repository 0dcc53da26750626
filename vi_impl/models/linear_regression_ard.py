"""Bayesian linear regression with automatic relevance determination (ARD): CAVI and Gibbs.

Model (the slides'), for j = 1..D and n = 1..N::

    alpha_j           ~ Gamma(a0, b0)                 shape-rate: density ∝ alpha^(a0-1) e^(-b0 alpha)
    w | alpha         ~ N(0, diag(alpha)^-1)
    y_n | w           ~ N(w^T x_n, sigma2)            sigma2 known

Structured mean-field family: q(w, alpha) = N(w | m, V) prod_j Gamma(alpha_j | a_j, b_j),
V a full (D, D) covariance. Arrays: X (N, D), y (N,), m (D,), V (D, D) symmetric positive
definite, a (D,), b (D,) > 0; a0, b0, sigma2 > 0.

Expectations: E[alpha_j] = a_j / b_j, E[log alpha_j] = psi(a_j) - log b_j,
E[w w^T] = V + m m^T, so E[w_j^2] = m_j^2 + V_jj.

CAVI updates (each the exact optimum of its factor given the other):
    q(w):       V = (X^T X / sigma2 + diag(E[alpha]))^-1,   m = V X^T y / sigma2
    q(alpha_j): a_j = a0 + 1/2,   b_j = b0 + E[w_j^2] / 2

Full ELBO (every constant kept)::

    E log p(y|w)     = -N/2 log(2 pi sigma2) - (|y - X m|^2 + tr(X^T X V)) / (2 sigma2)
    E log p(w|alpha) = sum_j [-1/2 log 2pi + 1/2 E log alpha_j - 1/2 E alpha_j E w_j^2]
    E log p(alpha)   = sum_j [a0 log b0 - lnGamma(a0) + (a0 - 1) E log alpha_j - b0 E alpha_j]
    H[q(w)]          = D/2 (1 + log 2pi) + 1/2 log det V
    H[q(alpha_j)]    = a_j - log b_j + lnGamma(a_j) + (1 - a_j) psi(a_j)

With alpha held fixed (no hyper-prior) the model is conjugate: ``log_evidence_fixed_alpha``
gives log N(y | 0, sigma2 I + X diag(alpha)^-1 X^T) and ``elbo_fixed_alpha`` the ELBO of a
Gaussian q(w) for that model, equal to the evidence at q(w) = p(w | y, alpha).

The Gibbs sampler on the same model alternates
    w | alpha, y ~ N(P^-1 X^T y / sigma2, P^-1),  P = X^T X / sigma2 + diag(alpha)
    alpha_j | w  ~ Gamma(a0 + 1/2, b0 + w_j^2 / 2).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve
from scipy.special import digamma, gammaln

from vi_impl.result import DEFAULT_TOL, FitResult, elbo_converged
from vi_impl.validation import (
    as_float_array, check_int, check_positive_scalar, check_rng, check_tol, check_vector,
    pick_init,
)

__all__ = [
    "expected_alpha", "expected_log_alpha", "update_w", "update_alpha", "elbo_terms", "elbo",
    "elbo_fixed_alpha", "log_evidence_fixed_alpha", "fit", "FitResult",
    "gibbs", "GibbsResult", "batch_means_se", "compare_with_gibbs",
]


# ----------------------------------------------------------------------------- validation
def _check_data(X, y):
    X = as_float_array("X", X, ndim=2, min_shape=(1, 1))
    y = as_float_array("y", y, ndim=1)
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"y must have shape ({X.shape[0]},) to match X, got {y.shape}")
    return X, y


def _check_pos_vec(name, v, D):
    return check_vector(name, v, D, positive=True, against="the columns of X")


def _check_m(m, D):
    return check_vector("m", m, D, against="the columns of X")


def _check_V(V, D):
    V = as_float_array("V", V, ndim=2)
    if V.shape != (D, D):
        raise ValueError(f"V must have shape ({D}, {D}) to match m and X, got {V.shape}")
    if not np.allclose(V, V.T, rtol=1e-10, atol=1e-12 * max(1.0, np.abs(V).max())):
        raise ValueError("V must be symmetric")
    try:
        L = np.linalg.cholesky(V)
    except np.linalg.LinAlgError:
        raise ValueError("V must be positive definite") from None
    return V, L


# ----------------------------------------------------------------------------- expectations
def expected_alpha(a, b):
    """E[alpha_j] = a_j / b_j under Gamma(a_j, b_j) (shape-rate); a, b (D,) > 0."""
    a, b = _check_gamma(a, b)
    return a / b


def _check_gamma(a, b):
    a = check_vector("a", a, positive=True)
    return a, check_vector("b", b, a.shape[0], positive=True, against="a")


def expected_log_alpha(a, b):
    """E[log alpha_j] = psi(a_j) - log b_j under Gamma(a_j, b_j) (shape-rate)."""
    a, b = _check_gamma(a, b)
    return digamma(a) - np.log(b)


# ----------------------------------------------------------------------------- updates
def _posterior_precision_factor(XtX, E_alpha, sigma2):
    P = XtX / sigma2 + np.diag(E_alpha)
    return cho_factor(P, lower=True)


def update_w(X, y, E_alpha, sigma2):
    """q*(w) = N(m, V): V = (X^T X/sigma2 + diag(E_alpha))^-1, m = V X^T y / sigma2."""
    X, y = _check_data(X, y)
    D = X.shape[1]
    E_alpha = _check_pos_vec("E_alpha", E_alpha, D)
    sigma2 = check_positive_scalar("sigma2", sigma2)
    c = _posterior_precision_factor(X.T @ X, E_alpha, sigma2)
    V = cho_solve(c, np.eye(D))
    V = 0.5 * (V + V.T)
    return cho_solve(c, X.T @ y / sigma2), V


def update_alpha(m, V, a0, b0):
    """q*(alpha_j) = Gamma(a0 + 1/2, b0 + (m_j^2 + V_jj)/2); returns (a, b), each (D,)."""
    m = check_vector("m", m)
    V, _ = _check_V(V, m.shape[0])
    a0, b0 = check_positive_scalar("a0", a0), check_positive_scalar("b0", b0)
    return np.full(m.shape[0], a0 + 0.5), b0 + 0.5 * (m ** 2 + np.diag(V))


# ----------------------------------------------------------------------------- ELBO
def elbo_terms(X, y, m, V, a, b, a0, b0, sigma2):
    """The five terms of the full ELBO as floats (see the module docstring)."""
    X, y = _check_data(X, y)
    N, D = X.shape
    m = _check_m(m, D)
    V, L = _check_V(V, D)
    a = _check_pos_vec("a", a, D)
    b = _check_pos_vec("b", b, D)
    a0, b0, sigma2 = check_positive_scalar("a0", a0), check_positive_scalar("b0", b0), check_positive_scalar("sigma2", sigma2)
    Ea, Elog = a / b, digamma(a) - np.log(b)
    Ew2 = m ** 2 + np.diag(V)
    r = y - X @ m
    return {
        "E[log p(y|w)]": float(-0.5 * N * np.log(2 * np.pi * sigma2)
                               - (r @ r + np.sum((X @ V) * X)) / (2 * sigma2)),
        "E[log p(w|alpha)]": float(np.sum(-0.5 * np.log(2 * np.pi) + 0.5 * Elog - 0.5 * Ea * Ew2)),
        "E[log p(alpha)]": float(np.sum(a0 * np.log(b0) - gammaln(a0) + (a0 - 1) * Elog - b0 * Ea)),
        "H[q(w)]": float(0.5 * D * (1 + np.log(2 * np.pi)) + np.log(np.diag(L)).sum()),
        "H[q(alpha)]": float(np.sum(a - np.log(b) + gammaln(a) + (1 - a) * digamma(a))),
    }


def elbo(X, y, m, V, a, b, a0, b0, sigma2):
    """Full ELBO (float), a lower bound on log p(y | X)."""
    return float(sum(elbo_terms(X, y, m, V, a, b, a0, b0, sigma2).values()))


def elbo_fixed_alpha(X, y, m, V, alpha, sigma2):
    """ELBO of q(w) = N(m, V) for the model with alpha fixed: E log p(y|w) + E log p(w|alpha) + H[q(w)]."""
    X, y = _check_data(X, y)
    N, D = X.shape
    m = _check_m(m, D)
    V, L = _check_V(V, D)
    alpha = _check_pos_vec("alpha", alpha, D)
    sigma2 = check_positive_scalar("sigma2", sigma2)
    r = y - X @ m
    return float(-0.5 * N * np.log(2 * np.pi * sigma2) - (r @ r + np.sum((X @ V) * X)) / (2 * sigma2)
                 + np.sum(-0.5 * np.log(2 * np.pi) + 0.5 * np.log(alpha) - 0.5 * alpha * (m ** 2 + np.diag(V)))
                 + 0.5 * D * (1 + np.log(2 * np.pi)) + np.log(np.diag(L)).sum())


def log_evidence_fixed_alpha(X, y, alpha, sigma2):
    """log p(y | X, alpha) = log N(y | 0, sigma2 I + X diag(alpha)^-1 X^T), in O(N D^2).

    Uses log p(y) = log p(y | w) + log p(w | alpha) - log p(w | y, alpha) at w = posterior mean.
    """
    X, y = _check_data(X, y)
    N, D = X.shape
    alpha = _check_pos_vec("alpha", alpha, D)
    sigma2 = check_positive_scalar("sigma2", sigma2)
    c = _posterior_precision_factor(X.T @ X, alpha, sigma2)
    mu = cho_solve(c, X.T @ y / sigma2)
    r = y - X @ mu
    loglik = -0.5 * N * np.log(2 * np.pi * sigma2) - r @ r / (2 * sigma2)
    logprior = -0.5 * D * np.log(2 * np.pi) + 0.5 * np.log(alpha).sum() - 0.5 * alpha @ mu ** 2
    logpost = -0.5 * D * np.log(2 * np.pi) + np.log(np.diag(c[0])).sum()   # density at its mean
    return float(loglik + logprior - logpost)


# ----------------------------------------------------------------------------- CAVI fit
def fit(X, y, sigma2, a0=1e-2, b0=1e-4, *, max_iter=500, tol=DEFAULT_TOL, init=None,
        alpha_init=None):
    """CAVI: starting from E[alpha] = ``init`` (default: ones; ``alpha_init`` is the same
    argument's older name), alternate update_w and update_alpha; the full ELBO is recorded
    after each sweep; the stopping rule is :func:`vi_impl.result.elbo_converged` (tol=0 runs
    exactly max_iter sweeps).

    Returns a :class:`FitResult` with params ``m``, ``V``, ``a``, ``b`` and extras
    ``E_alpha`` (a / b), ``sd`` (the marginal standard deviations of w) and ``seconds``.
    The start is deterministic (no random initialisation, so no restarts are needed).
    """
    t0 = time.perf_counter()
    X, y = _check_data(X, y)
    D = X.shape[1]
    sigma2 = check_positive_scalar("sigma2", sigma2)
    a0, b0 = check_positive_scalar("a0", a0), check_positive_scalar("b0", b0)
    max_iter = check_int("max_iter", max_iter)
    tol = check_tol(tol)
    init = pick_init(init, "alpha_init", alpha_init)
    E_alpha = np.ones(D) if init is None else _check_pos_vec("init", init, D)
    XtX, Xty = X.T @ X, X.T @ y
    trace, converged = [], False
    for _ in range(max_iter):
        c = _posterior_precision_factor(XtX, E_alpha, sigma2)
        V = cho_solve(c, np.eye(D))
        V = 0.5 * (V + V.T)
        m = cho_solve(c, Xty / sigma2)
        a = np.full(D, a0 + 0.5)
        b = b0 + 0.5 * (m ** 2 + np.diag(V))
        E_alpha = a / b
        trace.append(elbo(X, y, m, V, a, b, a0, b0, sigma2))
        if elbo_converged(trace, tol):
            converged = True
            break
    return FitResult(dict(m=m, V=V, a=a, b=b), np.array(trace), len(trace), converged,
                     dict(E_alpha=a / b, sd=np.sqrt(np.diag(V)),
                          seconds=time.perf_counter() - t0))


# ----------------------------------------------------------------------------- Gibbs sampler
@dataclass(frozen=True)
class GibbsResult:
    """Gibbs draws after burn-in and thinning: w (S, D), alpha (S, D); wall time in seconds."""
    w: np.ndarray
    alpha: np.ndarray
    seconds: float


def gibbs(X, y, sigma2, a0=1e-2, b0=1e-4, *, n_samples=2000, burn_in=500, thin=1, seed=0,
          init=None, alpha_init=None):
    """Gibbs sampler for p(w, alpha | y): the two full conditionals in the module docstring.

    Each step is vectorised over the D coordinates (one Cholesky factor L of the D x D
    precision and its triangular inverse per draw of w; all alpha_j drawn at once). Seeded
    with ``seed``.
    """
    t0 = time.perf_counter()
    X, y = _check_data(X, y)
    D = X.shape[1]
    sigma2, a0, b0 = check_positive_scalar("sigma2", sigma2), check_positive_scalar("a0", a0), check_positive_scalar("b0", b0)
    n_samples, thin = check_int("n_samples", n_samples), check_int("thin", thin)
    burn_in = check_int("burn_in", burn_in, minimum=0)
    init = pick_init(init, "alpha_init", alpha_init)
    alpha = np.ones(D) if init is None else _check_pos_vec("init", init, D)
    rng = check_rng("seed", seed)
    XtX, h = X.T @ X / sigma2, X.T @ y / sigma2
    total = burn_in + n_samples * thin
    W, A = np.empty((n_samples, D)), np.empty((n_samples, D))
    shape = a0 + 0.5
    tiny = np.finfo(float).tiny
    for t in range(total):
        # P = L L^T; w = P^-1 h + L^-T eps = L^-T (L^-1 h + eps), eps ~ N(0, I)
        Linv = np.linalg.inv(np.linalg.cholesky(XtX + np.diag(alpha)))
        w = Linv.T @ (Linv @ h + rng.standard_normal(D))
        # Gamma(shape, rate) = standard Gamma(shape) / rate
        alpha = np.maximum(rng.standard_gamma(shape, D) / (b0 + 0.5 * w ** 2), tiny)
        if t >= burn_in and (t - burn_in) % thin == 0:
            i = (t - burn_in) // thin
            W[i], A[i] = w, alpha
    return GibbsResult(W, A, time.perf_counter() - t0)


def batch_means_se(draws, n_batches=20):
    """Monte Carlo standard error of the mean of each column by non-overlapping batch means."""
    draws = as_float_array("draws", draws, min_size=1)
    if draws.ndim not in (1, 2):
        raise ValueError(f"draws must be a 1-D or 2-D array (S,) or (S, P), got shape {draws.shape}")
    if draws.ndim == 1:
        draws = draws[:, None]
    n_batches = check_int("n_batches", n_batches, minimum=2)
    S = (draws.shape[0] // n_batches) * n_batches
    if S < n_batches:
        raise ValueError("draws must hold at least n_batches rows")
    means = draws[:S].reshape(n_batches, S // n_batches, -1).mean(1)
    return means.std(0, ddof=1) / np.sqrt(n_batches)


def compare_with_gibbs(X, y, sigma2, a0=1e-2, b0=1e-4, *, n_samples=4000, burn_in=1000, thin=1,
                       seed=0, max_iter=500, tol=DEFAULT_TOL):
    """Run CAVI and the Gibbs sampler on the same data; return a dict of posterior summaries:
    means and marginal sds of w, E[alpha] (CAVI: a/b; Gibbs: sample mean), the Gibbs Monte
    Carlo standard errors of the means (batch means), the z-scores of the CAVI means against
    the Gibbs means, the ratio of CAVI to Gibbs sds, and both wall times in seconds."""
    q = fit(X, y, sigma2, a0, b0, max_iter=max_iter, tol=tol)
    s = gibbs(X, y, sigma2, a0, b0, n_samples=n_samples, burn_in=burn_in, thin=thin, seed=seed)
    w_mean, w_sd = s.w.mean(0), s.w.std(0, ddof=1)
    se = batch_means_se(s.w)
    return {
        "cavi_mean": q.m, "cavi_sd": q.sd, "cavi_E_alpha": q.E_alpha,
        "gibbs_mean": w_mean, "gibbs_sd": w_sd, "gibbs_E_alpha": s.alpha.mean(0),
        "gibbs_mcse": se, "z": (q.m - w_mean) / se, "sd_ratio": q.sd / w_sd,
        "cavi_seconds": q.seconds, "gibbs_seconds": s.seconds,
        "cavi_iterations": q.n_iter, "cavi_elbo": q.elbo[-1],
    }
