"""The normal-normal model (lecture notes, exercise 2.5): the best Gaussian q is the posterior.

Model, for data x_1..x_K (scalars); the exercise has mu0 = 0, tau2 = 1, sigma2 = 1::

    z          ~ N(mu0, tau2)
    x_k | z    ~ N(z, sigma2),    k = 1..K

    log p(z, x) = log N(z | mu0, tau2) + sum_{k=1}^K log N(x_k | z, sigma2)

Exact posterior: p(z | x) = N(mu_post, s2_post), 1/s2_post = 1/tau2 + K/sigma2,
mu_post = s2_post (mu0/tau2 + sum_k x_k / sigma2). Evidence: x ~ N(mu0 1, sigma2 I + tau2 1 1^T).

ELBO of q(z) = N(m, s2), every constant kept::

    L(m, s2) = -1/2 log(2 pi tau2) - ((m - mu0)^2 + s2) / (2 tau2)
               - K/2 log(2 pi sigma2) - (sum_k (x_k - m)^2 + K s2) / (2 sigma2)
               + 1/2 log(2 pi e s2)

Its gradient: dL/dm = -(m - mu0)/tau2 + sum_k (x_k - m)/sigma2,
dL/ds2 = 1/(2 s2) - 1/(2 tau2) - K/(2 sigma2). Both vanish only at (mu_post, s2_post), where
L equals log p(x) (the KL to the posterior is zero).
"""
from __future__ import annotations

import numpy as np

from vi_impl.result import DEFAULT_TOL, FitResult, elbo_converged
from vi_impl.validation import (
    as_float_array, check_int, check_positive_scalar, check_rng, check_tol,
)

__all__ = [
    "log_joint", "exact_posterior", "log_evidence", "elbo", "expected_log_likelihood",
    "kl_to_prior", "kl_to_posterior", "neg_elbo_grad", "maximiser", "fit", "FitResult",
]


# ----------------------------------------------------------------------------- validation
_positive = check_positive_scalar


def _scalar(name, value):
    a = as_float_array(name, value)
    if a.ndim != 0:
        raise ValueError(f"{name} must be a scalar, got shape {a.shape}")
    return float(a)


def _check(x, mu0, tau2, sigma2):
    x = as_float_array("x", x, ndim=1, min_shape=(1,))
    return x, _scalar("mu0", mu0), _positive("tau2", tau2), _positive("sigma2", sigma2)


# ----------------------------------------------------------------------------- model
def log_joint(z, x, mu0=0.0, tau2=1.0, sigma2=1.0):
    """log p(z, x) for an array of z values (vectorised over z; the sum runs over k = 1..K)."""
    x, mu0, tau2, sigma2 = _check(x, mu0, tau2, sigma2)
    z = as_float_array("z", z)
    zz = z[..., None]
    K = x.size
    return (-0.5 * np.log(2 * np.pi * tau2) - (z - mu0) ** 2 / (2 * tau2)
            - 0.5 * K * np.log(2 * np.pi * sigma2) - ((x - zz) ** 2).sum(-1) / (2 * sigma2))


def exact_posterior(x, mu0=0.0, tau2=1.0, sigma2=1.0):
    """(mean, variance) of p(z | x): precision 1/tau2 + K/sigma2, mean = var (mu0/tau2 + sum x / sigma2)."""
    x, mu0, tau2, sigma2 = _check(x, mu0, tau2, sigma2)
    var = 1.0 / (1.0 / tau2 + x.size / sigma2)
    return float(var * (mu0 / tau2 + x.sum() / sigma2)), float(var)


def log_evidence(x, mu0=0.0, tau2=1.0, sigma2=1.0):
    """log N(x | mu0 1, sigma2 I + tau2 1 1^T) in O(K): matrix determinant lemma and
    Sherman-Morrison, det = sigma2^(K-1) (sigma2 + K tau2),
    quadratic form = (|d|^2 - tau2 (sum d)^2 / (sigma2 + K tau2)) / sigma2, d = x - mu0."""
    x, mu0, tau2, sigma2 = _check(x, mu0, tau2, sigma2)
    K = x.size
    d = x - mu0
    c = sigma2 + K * tau2
    logdet = (K - 1) * np.log(sigma2) + np.log(c)
    quad = (d @ d - tau2 * d.sum() ** 2 / c) / sigma2
    return float(-0.5 * (K * np.log(2 * np.pi) + logdet + quad))


# ----------------------------------------------------------------------------- ELBO
def _check_q(m, s2):
    return _scalar("m", m), _positive("s2", s2)


def expected_log_likelihood(m, s2, x, sigma2=1.0):
    """E_q[log p(x | z)] = -K/2 log(2 pi sigma2) - (sum_k (x_k - m)^2 + K s2) / (2 sigma2)."""
    m, s2 = _check_q(m, s2)
    x, _, _, sigma2 = _check(x, 0.0, 1.0, sigma2)
    return float(-0.5 * x.size * np.log(2 * np.pi * sigma2)
                 - (((x - m) ** 2).sum() + x.size * s2) / (2 * sigma2))


def kl_to_prior(m, s2, mu0=0.0, tau2=1.0):
    """KL(N(m, s2) || N(mu0, tau2)) = 1/2 (s2/tau2 + (m - mu0)^2/tau2 - 1 + log(tau2/s2))."""
    m, s2 = _check_q(m, s2)
    mu0, tau2 = _scalar("mu0", mu0), _positive("tau2", tau2)
    return float(0.5 * (s2 / tau2 + (m - mu0) ** 2 / tau2 - 1.0 + np.log(tau2 / s2)))


def elbo(m, s2, x, mu0=0.0, tau2=1.0, sigma2=1.0):
    """Full ELBO of q = N(m, s2) (float) = E_q log p(x|z) - KL(q || prior) (module docstring)."""
    x, mu0, tau2, sigma2 = _check(x, mu0, tau2, sigma2)
    return expected_log_likelihood(m, s2, x, sigma2) - kl_to_prior(m, s2, mu0, tau2)


def kl_to_posterior(m, s2, x, mu0=0.0, tau2=1.0, sigma2=1.0):
    """KL(N(m, s2) || p(z | x)), closed form between two univariate Gaussians."""
    m, s2 = _check_q(m, s2)
    mp, vp = exact_posterior(x, mu0, tau2, sigma2)
    return float(0.5 * (s2 / vp + (m - mp) ** 2 / vp - 1.0 + np.log(vp / s2)))


def neg_elbo_grad(m, s2, x, mu0=0.0, tau2=1.0, sigma2=1.0):
    """Gradient of -L w.r.t. (m, s2): ((m - mu0)/tau2 - sum_k (x_k - m)/sigma2,
    1/(2 tau2) + K/(2 sigma2) - 1/(2 s2))."""
    m, s2 = _check_q(m, s2)
    x, mu0, tau2, sigma2 = _check(x, mu0, tau2, sigma2)
    return (float((m - mu0) / tau2 - (x - m).sum() / sigma2),
            float(0.5 / tau2 + 0.5 * x.size / sigma2 - 0.5 / s2))


def maximiser(x, mu0=0.0, tau2=1.0, sigma2=1.0):
    """(m*, s2*) solving neg_elbo_grad = 0: s2* = 1/(1/tau2 + K/sigma2), m* = s2* (mu0/tau2 + sum x/sigma2).

    It coincides with ``exact_posterior``; computed here from the stationarity equations."""
    x, mu0, tau2, sigma2 = _check(x, mu0, tau2, sigma2)
    prec = 0.5 / tau2 + 0.5 * x.size / sigma2          # 1/(2 s2*) from dL/ds2 = 0
    s2 = 0.5 / prec
    m = (mu0 / tau2 + x.sum() / sigma2) / (1.0 / tau2 + x.size / sigma2)   # dL/dm = 0, linear in m
    return float(m), float(s2)


# ----------------------------------------------------------------------------- gradient fit
def _newton_step(m, u, x, mu0, tau2, sigma2, curv):
    """Newton directions (dm, du) at (m, u = log s2); dL/du = -gs e^u = (1 - curv e^u)/2 and
    d2L/du2 = -curv e^u / 2. The log-variance step is capped at 30 nats to stay finite."""
    gm, _ = neg_elbo_grad(m, np.exp(u), x, mu0, tau2, sigma2)
    with np.errstate(over="ignore"):
        return -gm / curv, min(1.0 / (curv * np.exp(u)) - 1.0, 30.0)


def fit(x, mu0=0.0, tau2=1.0, sigma2=1.0, *, max_iter=500, tol=DEFAULT_TOL, seed=0, init=None):
    """Maximise the ELBO by damped Newton ascent on (m, u = log s2), with backtracking so the
    ELBO never decreases. The gradient is ``neg_elbo_grad`` (chain rule for u); each
    coordinate is scaled by its curvature: 1/tau2 + K/sigma2 for m, (1/tau2 + K/sigma2) s2/2
    for u. The ELBO is separable and concave in (m, u), so the steps converge to the unique
    maximiser (quadratically near it). Returns a :class:`FitResult` with params ``m``, ``s2``.
    Close to the maximiser (|du| < 1e-3 and |dm| sqrt(curvature) < 1e-3) the full Newton step
    is taken without the line search, whose ELBO comparison is then below rounding.

    Start: ``init = (m, s2)`` if given, else m ~ N(mu0, tau2) drawn with ``seed`` and
    s2 = tau2. The full ELBO is recorded per iteration. Converged means: the shared rule
    :func:`vi_impl.result.elbo_converged` holds *and* the next Newton step is negligible
    (|dm| <= tol (|m| + s), |du| <= tol max(1, |u|), tol floored at 8 eps). The second test
    matters when |L| is dominated by a constant: with one observation at 1e6, |L| ~ 5e11 and a
    relative ELBO change says nothing about s2. ``tol=0`` runs exactly ``max_iter`` iterations.
    """
    x, mu0, tau2, sigma2 = _check(x, mu0, tau2, sigma2)
    max_iter = check_int("max_iter", max_iter, minimum=1)
    tol = check_tol(tol)
    rng = check_rng("seed", seed)
    if init is None:
        m, u = mu0 + np.sqrt(tau2) * rng.standard_normal(), np.log(tau2)
    else:
        if not isinstance(init, (tuple, list)) or len(init) != 2:
            raise ValueError("init must be a pair (m, s2)")
        m, s2_0 = _scalar("init m", init[0]), _positive("init s2", init[1])
        u = np.log(s2_0)
    curv = 1.0 / tau2 + x.size / sigma2
    step_tol = max(tol, 8 * np.finfo(float).eps)
    L = elbo(m, np.exp(u), x, mu0, tau2, sigma2)
    trace, converged = [], False
    for _ in range(max_iter):
        dm, du = _newton_step(m, u, x, mu0, tau2, sigma2, curv)
        if (elbo_converged(trace, tol) and abs(dm) <= step_tol * (abs(m) + np.exp(u / 2))
                and abs(du) <= step_tol * max(1.0, abs(u))):
            converged = True
            break
        if abs(du) < 1e-3 and abs(dm) * np.sqrt(curv) < 1e-3:
            # Near the maximiser the quadratic model is exact to O(step^3) and the ELBO gain of
            # the step (~ step^2) can be below the rounding of L: take the Newton step as it is.
            m, u = m + dm, u + du
            L = elbo(m, np.exp(u), x, mu0, tau2, sigma2)
            trace.append(L)
            continue
        step = 1.0
        while step > 1e-12:
            m_new, u_new = m + step * dm, u + step * du
            with np.errstate(over="ignore", under="ignore"):
                s2_new = np.exp(u_new)
            L_new = (elbo(m_new, s2_new, x, mu0, tau2, sigma2)
                     if 0 < s2_new < np.inf and np.isfinite(1.0 / s2_new) else -np.inf)
            if L_new >= L:
                m, u, L = m_new, u_new, L_new
                break
            step *= 0.5
        trace.append(L)
    return FitResult(dict(m=float(m), s2=float(np.exp(u))), np.array(trace), len(trace),
                     converged)
