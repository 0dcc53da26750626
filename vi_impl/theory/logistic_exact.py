r"""The exact posterior of Bayesian logistic regression, by routes that never use a bound:
a Metropolis-within-Gibbs sampler, and quadrature on a grid when there are two weights.

Model (as in :mod:`vi_impl.models.logistic_regression`), t_n in {0, 1}, x_n in R^M::

    log p(t | w) = sum_n [t_n log sigmoid(w^T x_n) + (1 - t_n) log sigmoid(-w^T x_n)]

with either a fixed prior w ~ N(m0, S0), or alpha ~ Gamma(a0, b0), w | alpha ~ N(0, alpha^-1 I),
whose marginal prior on w (alpha integrated out) is the multivariate Student-t density::

    p(w) = b0^a0 Gamma(a0 + M/2) / (Gamma(a0) (2 pi)^(M/2) (b0 + w^T w / 2)^(a0 + M/2)).

:func:`sample` alternates alpha | w ~ Gamma(a0 + M/2, b0 + w^T w / 2) (exact) with a random-walk
Metropolis step for w | alpha, t (fixed prior: the Metropolis step alone); its proposal
covariance is the chain's own covariance, re-estimated during burn-in only. :func:`grid_posterior`
sums the unnormalised posterior over a regular grid (M <= 2): the log evidence log p(t), the
posterior mean and covariance, and the exact predictive probability E[sigmoid(w^T x) | t].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import expit, gammaln, log_expit, logsumexp

from vi_impl.models.logistic_regression import _check_data   # argument checks only, no math
from vi_impl.validation import (
    as_float_array,
    check_int,
    check_positive_scalar,
    check_rng,
    check_shape,
)

__all__ = ["Draws", "GridPosterior", "log_likelihood", "log_prior", "sample", "batch_means_se",
           "grid_posterior", "grid_predict_proba"]

_LOG_2PI = math.log(2.0 * math.pi)


def _check_prior(M, a0, b0, m0, S0):
    """('gauss', m0, S0 inverse, log det S0) or ('student', a0, b0)."""
    if S0 is not None:
        if a0 is not None or b0 is not None:
            raise ValueError("S0 must not be given together with a0, b0 (one prior at a time)")
        S0 = as_float_array("S0", S0, ndim=2)
        check_shape("S0", S0, (M, M))
        try:
            L0 = np.linalg.cholesky(S0)
        except np.linalg.LinAlgError:
            raise ValueError("S0 must be symmetric positive definite") from None
        m0 = np.zeros(M) if m0 is None else as_float_array("m0", m0, ndim=1)
        check_shape("m0", m0, (M,))
        return ("gauss", m0, np.linalg.inv(S0), 2.0 * np.log(np.diag(L0)).sum())
    if m0 is not None:
        raise ValueError("m0 needs S0 (the learned prior N(0, alpha^-1 I) has mean 0)")
    if a0 is None or b0 is None:
        raise ValueError("a0 and b0 (learned prior precision) or S0 (fixed prior) must be given")
    return ("student", check_positive_scalar("a0", a0), check_positive_scalar("b0", b0))


def _log_lik(W, X, t):
    """t log sigmoid(z) + (1 - t) log sigmoid(-z) = t z + log sigmoid(-z), summed over n."""
    Z = W @ X.T
    return Z @ t + log_expit(-Z).sum(-1)


def _log_prior(W, prior):
    M = W.shape[-1]
    if prior[0] == "gauss":
        _, m0, P0, logdet = prior
        D = W - m0
        return -0.5 * (M * _LOG_2PI + logdet) - 0.5 * np.einsum("...i,ij,...j->...", D, P0, D)
    _, a0, b0 = prior
    return (a0 * math.log(b0) + gammaln(a0 + M / 2) - gammaln(a0) - 0.5 * M * _LOG_2PI
            - (a0 + M / 2) * np.log(b0 + 0.5 * (W ** 2).sum(-1)))


def _check_W(W, M):
    W = as_float_array("W", W)
    if W.ndim not in (1, 2) or W.shape[-1] != M:
        raise ValueError(f"W must have shape (M,) or (G, M) with M = {M}, got {W.shape}")
    return W


def log_likelihood(W, X, t) -> np.ndarray:
    """log p(t | w) for each row w of ``W`` ((G, M) -> (G,); (M,) -> a scalar array)."""
    X, t = _check_data(X, t)
    return _log_lik(_check_W(W, X.shape[1]), X, t)


def log_prior(W, *, a0=None, b0=None, m0=None, S0=None) -> np.ndarray:
    """log p(w) for each row of ``W``: N(m0, S0) if ``S0`` is given, else the Student-t marginal
    of N(0, alpha^-1 I) under alpha ~ Gamma(a0, b0) (module docstring)."""
    W = as_float_array("W", W)
    if W.ndim not in (1, 2) or W.shape[-1] < 1:
        raise ValueError(f"W must have shape (M,) or (G, M), got {W.shape}")
    return _log_prior(W, _check_prior(W.shape[-1], a0, b0, m0, S0))


@dataclass(frozen=True)
class Draws:
    """Draws of the sampler after burn-in: ``w`` (n_samples, M), ``alpha`` (n_samples,) or None
    (fixed prior), ``acceptance`` the Metropolis acceptance rate after burn-in."""

    w: np.ndarray
    alpha: np.ndarray | None
    acceptance: float


def _prior_grad_curv(w, prior):
    """Gradient of log p(w) and a positive definite matrix C <= -Hessian (Gaussian: exact;
    Student-t: (a0 + M/2) / (b0 + w^T w / 2) I, which drops a negative semi-definite term)."""
    if prior[0] == "gauss":
        _, m0, P0, _ = prior
        return -P0 @ (w - m0), P0
    _, a0, b0 = prior
    c = (a0 + w.size / 2) / (b0 + 0.5 * (w @ w))
    return -c * w, c * np.eye(w.size)


def _mode(X, t, prior, max_iter=100):
    """The posterior mode by Newton steps with C + X^T diag(s (1 - s)) X in place of the
    negative Hessian, halving a step until the log posterior rises; returns (mode, that matrix)."""
    w = np.zeros(X.shape[1])
    lp = _log_lik(w, X, t) + _log_prior(w, prior)
    for _ in range(max_iter):
        s = expit(X @ w)
        g, C = _prior_grad_curv(w, prior)
        H = C + (X.T * (s * (1.0 - s))) @ X
        step = np.linalg.solve(H, X.T @ (t - s) + g)
        for _ in range(60):
            new = w + step
            lp_new = _log_lik(new, X, t) + _log_prior(new, prior)
            if lp_new >= lp:
                break
            step = step / 2.0
        else:
            break
        done = lp_new - lp <= 1e-12 * (1.0 + abs(lp))
        w, lp = new, lp_new
        if done:
            break
    s = expit(X @ w)
    return w, _prior_grad_curv(w, prior)[1] + (X.T * (s * (1.0 - s))) @ X


def sample(X, t, *, a0=None, b0=None, m0=None, S0=None, n_samples: int = 20_000,
           burn_in: int = 5_000, seed=None) -> Draws:
    """Metropolis-within-Gibbs draws from p(w, alpha | t) (learned prior: ``a0``, ``b0``) or
    from p(w | t) (fixed prior: ``S0``, optional ``m0``); see the module docstring. The chain
    starts at the posterior mode of w (Newton's method) with the proposal covariance
    (2.38^2 / M) H^-1 (H: the curvature there) and re-estimates it from its own history four
    times during burn-in (never afterwards)."""
    X, t = _check_data(X, t)
    N, M = X.shape
    prior = _check_prior(M, a0, b0, m0, S0)
    n_samples = check_int("n_samples", n_samples)
    burn_in = check_int("burn_in", burn_in, minimum=0)
    rng = check_rng("seed", seed)
    scale = 2.38 ** 2 / M
    w, H = _mode(X, t, prior)
    chol = np.linalg.cholesky(scale * np.linalg.inv(H))
    learned = prior[0] == "student"
    a_post = prior[1] + 0.5 * M if learned else None

    def log_prior_w(w, alpha):
        return -0.5 * alpha * (w @ w) if learned else _log_prior(w, prior)

    alpha = None
    lik = _log_lik(w, X, t)
    total = burn_in + n_samples
    adapt_at = {burn_in * k // 5 for k in range(1, 5)} - {0}
    ws = np.empty((total, M))
    alphas = np.empty(total) if learned else None
    accepted = 0
    steps = rng.normal(size=(total, M))
    logu = np.log(rng.uniform(size=total))
    for i in range(total):
        if learned:
            alpha = alphas[i] = rng.gamma(a_post, 1.0 / (prior[2] + 0.5 * (w @ w)))
        prop = w + chol @ steps[i]
        lik_prop = _log_lik(prop, X, t)
        if logu[i] < lik_prop + log_prior_w(prop, alpha) - lik - log_prior_w(w, alpha):
            w, lik = prop, lik_prop
            accepted += i >= burn_in
        ws[i] = w
        if i + 1 in adapt_at:
            cov = np.cov(ws[(i + 1) // 2:i + 1].T).reshape(M, M)
            try:
                chol = np.linalg.cholesky(scale * cov + 1e-10 * np.eye(M))
            except np.linalg.LinAlgError:                   # a chain that has not moved yet
                pass
    return Draws(ws[burn_in:], None if alphas is None else alphas[burn_in:],
                 accepted / n_samples)


def batch_means_se(draws, n_batches: int = 25) -> np.ndarray:
    """Monte Carlo standard error of the mean of each column of ``draws`` (n, ...) by batch
    means: sd of the ``n_batches`` batch means / sqrt(n_batches)."""
    draws = as_float_array("draws", draws)
    n_batches = check_int("n_batches", n_batches, minimum=2)
    if draws.ndim < 1 or draws.shape[0] < n_batches:
        raise ValueError(f"draws must have at least n_batches = {n_batches} rows, got shape "
                         f"{draws.shape}")
    size = draws.shape[0] // n_batches
    means = draws[:size * n_batches].reshape(n_batches, size, *draws.shape[1:]).mean(1)
    return means.std(0, ddof=1) / math.sqrt(n_batches)


@dataclass(frozen=True)
class GridPosterior:
    """The posterior on a regular grid: ``points`` (G, M), normalised ``weights`` (G,) (the
    posterior mass of each cell), ``log_evidence`` log p(t), posterior ``mean`` and ``cov``."""

    points: np.ndarray
    weights: np.ndarray
    log_evidence: float
    mean: np.ndarray
    cov: np.ndarray


def grid_posterior(X, t, centre, half_width, *, n: int = 301, a0=None, b0=None, m0=None,
                   S0=None) -> GridPosterior:
    """Midpoint-rule quadrature of p(t | w) p(w) over the box centre +- half_width with n points
    a side (M = X.shape[1] <= 2). The box must hold the posterior's mass: widen it until the
    answers stop changing."""
    X, t = _check_data(X, t)
    M = X.shape[1]
    if M > 2:
        raise ValueError(f"X must have at most 2 columns for a grid (n^M points), got {M}")
    prior = _check_prior(M, a0, b0, m0, S0)
    centre = as_float_array("centre", centre, ndim=1)
    check_shape("centre", centre, (M,))
    half_width = as_float_array("half_width", half_width, ndim=1)
    check_shape("half_width", half_width, (M,))
    if not (half_width > 0).all():
        raise ValueError("half_width must have entries > 0")
    n = check_int("n", n, minimum=3, maximum=2001)
    axes = [c + h * (2.0 * np.arange(n) + 1.0 - n) / n for c, h in zip(centre, half_width)]
    W = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, M)
    rows = max(1, 2_000_000 // X.shape[0])                   # about 16 MB of scores at a time
    log_post = np.concatenate([_log_lik(W[i:i + rows], X, t) for i in range(0, len(W), rows)])
    log_post += _log_prior(W, prior)
    log_cell = float(np.log(2.0 * half_width / n).sum())
    total = logsumexp(log_post)
    weights = np.exp(log_post - total)
    mean = weights @ W
    D = W - mean
    return GridPosterior(W, weights, float(total + log_cell), mean, (D * weights[:, None]).T @ D)


def grid_predict_proba(grid: GridPosterior, Xnew) -> np.ndarray:
    """The exact predictive p(t = 1 | x, data) = sum over the grid of weight * sigmoid(w^T x),
    for each row x of ``Xnew``."""
    if not isinstance(grid, GridPosterior):
        raise TypeError(f"grid must be a GridPosterior, got {type(grid).__name__}")
    Xnew = as_float_array("Xnew", Xnew, ndim=2)
    check_shape("Xnew", Xnew, (None, grid.points.shape[1]))
    return grid.weights @ expit(grid.points @ Xnew.T)
