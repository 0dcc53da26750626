"""The slides' one-dimensional Gaussian mixture: CAVI, variational Bayesian EM, and EM.

Model, for k = 1..K and n = 1..N (scalars)::

    mu_k           ~ N(0, tau2)                 prior variance of the component means
    z_n            ~ Cat(weights)               mixture weights pi, known (CAVI) or learned (VBEM)
    x_n | z_n, mu  ~ N(mu_{z_n}, sigma2)        known observation variance

Mean-field family: q(mu_k) = N(mu_tilde_k, s2_tilde_k) (s2_tilde is a *variance*),
q(z_n) = Cat(phi_n). Arrays: x (N,), mu_tilde (K,), s2_tilde (K,), phi (N, K) rows summing
to one, weights (K,) summing to one, tau2 > 0, sigma2 > 0.

Table of expectations under q (``expectations``)::

    E[mu_k] = mu_tilde_k,   E[mu_k^2] = mu_tilde_k^2 + s2_tilde_k,   E[z_nk] = phi_nk,
    E[z_n]  = sum_k k phi_nk  (labels 1..K),
    E[mu_{z_n}]   = sum_k phi_nk mu_tilde_k,
    E[mu_{z_n}^2] = sum_k phi_nk (mu_tilde_k^2 + s2_tilde_k).

Full ELBO, every constant kept (a true lower bound on log p(x | weights))::

    sum_k [-1/2 log(2 pi tau2) - (mu_tilde_k^2 + s2_tilde_k) / (2 tau2)]
  + sum_nk phi_nk log weights_k
  + sum_nk phi_nk [-1/2 log(2 pi sigma2) - ((x_n - mu_tilde_k)^2 + s2_tilde_k) / (2 sigma2)]
  + sum_k 1/2 log(2 pi e s2_tilde_k)  -  sum_nk phi_nk log phi_nk

Variational Bayesian EM maximises the same ELBO over the weights between CAVI sweeps; the
maximiser on the simplex is the mean responsibility, weights_k = (1/N) sum_n phi_nk.
Classical EM treats the means as parameters too (point estimates); then q(z) can be the
exact posterior p(z | x, mu, weights) (the E-step), the bound is tight after each E-step,
and the log-likelihood never decreases.
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
    "expectations", "elbo_terms", "elbo", "update_phi", "update_s2", "update_mu",
    "update_weights", "cavi_sweep", "fit", "vbem", "FitResult",
    "log_likelihood", "em_e_step", "em_m_step", "em_free_energy", "em", "EMResult",
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


def _check_x(x):
    x = _finite("x", x, ndim=1)
    if x.size < 1:
        raise ValueError("x must hold at least one observation")
    return x


def _check_vec(name, v, K, positive=False):
    v = _finite(name, v, ndim=1)
    if K is not None:
        check_shape(name, v, (K,))
    return check_positive_array(name, v) if positive else v


def _check_simplex(name, P, N=None, K=None):
    P = _finite(name, P)
    if P.ndim not in (1, 2):
        raise ValueError(f"{name} must be a 1-D or 2-D array, got shape {P.shape}")
    if P.ndim == 2 and N is not None and P.shape[0] != N:
        raise ValueError(f"{name} must have {N} rows, got shape {P.shape}")
    if K is not None and P.shape[-1] != K:
        raise ValueError(f"{name} must have {K} entries per row, got shape {P.shape}")
    check_probability_rows(name, P if P.ndim == 2 else P[None, :])
    return P


# ----------------------------------------------------------------------------- expectations
def expectations(mu_tilde, s2_tilde, phi):
    """The slides' table of expectations under q, as a dict of arrays (see module docstring)."""
    mu_tilde = _check_vec("mu_tilde", mu_tilde, None)
    K = mu_tilde.shape[0]
    s2_tilde = _check_vec("s2_tilde", s2_tilde, K, positive=True)
    phi = _check_simplex("phi", phi, K=K)
    if phi.ndim != 2:
        raise ValueError(f"phi must be a 2-D array, got shape {phi.shape}")
    Emu2 = mu_tilde ** 2 + s2_tilde
    return {
        "E[mu_k]": mu_tilde.copy(),
        "E[mu_k^2]": Emu2,
        "E[z_nk]": phi.copy(),
        "E[z_n]": phi @ np.arange(1, K + 1),
        "E[mu_z_n]": phi @ mu_tilde,
        "E[mu_z_n^2]": phi @ Emu2,
    }


# ----------------------------------------------------------------------------- ELBO
def _validate(x, mu_tilde, s2_tilde, phi, weights, tau2, sigma2):
    x = _check_x(x)
    mu_tilde = _check_vec("mu_tilde", mu_tilde, None)
    K = mu_tilde.shape[0]
    s2_tilde = _check_vec("s2_tilde", s2_tilde, K, positive=True)
    phi = _check_simplex("phi", phi, N=x.shape[0], K=K)
    if phi.ndim != 2:
        raise ValueError(f"phi must have shape ({x.shape[0]}, {K}), got {phi.shape}")
    weights = _check_simplex("weights", weights, K=K)
    if weights.ndim != 1:
        raise ValueError(f"weights must have shape ({K},), got {weights.shape}")
    return x, mu_tilde, s2_tilde, phi, weights, _positive("tau2", tau2), _positive("sigma2", sigma2)


def elbo_terms(x, mu_tilde, s2_tilde, phi, weights, tau2, sigma2):
    """The five ELBO terms (floats): E log p(mu), E log p(z), E log p(x|z,mu), -E log q(mu), -E log q(z)."""
    x, mu_tilde, s2_tilde, phi, weights, tau2, sigma2 = _validate(
        x, mu_tilde, s2_tilde, phi, weights, tau2, sigma2)
    sq = (x[:, None] - mu_tilde[None, :]) ** 2 + s2_tilde[None, :]
    with np.errstate(divide="ignore"):
        return {
            "E[log p(mu)]": float((-0.5 * np.log(2 * np.pi * tau2)
                                   - (mu_tilde ** 2 + s2_tilde) / (2 * tau2)).sum()),
            "E[log p(z)]": float(xlogy(phi, weights[None, :]).sum()),
            "E[log p(x|z,mu)]": float((phi * (-0.5 * np.log(2 * np.pi * sigma2)
                                              - sq / (2 * sigma2))).sum()),
            "-E[log q(mu)]": float((0.5 * np.log(2 * np.pi * np.e * s2_tilde)).sum()),
            "-E[log q(z)]": float(-xlogy(phi, phi).sum()),
        }


def elbo(x, mu_tilde, s2_tilde, phi, weights, tau2, sigma2):
    """Full ELBO (float), every constant kept: the sum of ``elbo_terms``."""
    return float(sum(elbo_terms(x, mu_tilde, s2_tilde, phi, weights, tau2, sigma2).values()))


# ----------------------------------------------------------------------------- CAVI updates
def update_phi(x, mu_tilde, s2_tilde, weights, sigma2):
    """q*(z_n): phi_nk ∝ weights_k exp((x_n mu_tilde_k - (mu_tilde_k^2 + s2_tilde_k)/2) / sigma2)."""
    x = _check_x(x)
    mu_tilde = _check_vec("mu_tilde", mu_tilde, None)
    K = mu_tilde.shape[0]
    s2_tilde = _check_vec("s2_tilde", s2_tilde, K, positive=True)
    weights = _check_simplex("weights", weights, K=K)
    sigma2 = _positive("sigma2", sigma2)
    with np.errstate(divide="ignore"):
        logits = np.log(weights)[None, :] + (
            x[:, None] * mu_tilde[None, :] - 0.5 * (mu_tilde ** 2 + s2_tilde)[None, :]) / sigma2
    return np.exp(logits - logsumexp(logits, axis=1, keepdims=True))


def update_s2(phi, tau2, sigma2):
    """q*(mu_k) variance: s2_tilde_k = 1 / (1/tau2 + N_k/sigma2), N_k = sum_n phi_nk; (K,)."""
    phi = _check_simplex("phi", phi)
    if phi.ndim != 2:
        raise ValueError(f"phi must be a 2-D array, got shape {phi.shape}")
    return 1.0 / (1.0 / _positive("tau2", tau2) + phi.sum(0) / _positive("sigma2", sigma2))


def update_mu(x, phi, tau2, sigma2):
    """q*(mu_k) mean: mu_tilde_k = s2_tilde_k sum_n phi_nk x_n / sigma2; (K,)."""
    x = _check_x(x)
    phi = _check_simplex("phi", phi, N=x.shape[0])
    if phi.ndim != 2:
        raise ValueError(f"phi must have shape ({x.shape[0]}, K), got {phi.shape}")
    return update_s2(phi, tau2, sigma2) * (phi.T @ x) / sigma2


def update_weights(phi):
    """VBEM M-step: argmax over the simplex of sum_nk phi_nk log weights_k = mean of phi's rows."""
    phi = _check_simplex("phi", phi)
    if phi.ndim != 2:
        raise ValueError(f"phi must be a 2-D array, got shape {phi.shape}")
    return phi.mean(0)


def cavi_sweep(x, mu_tilde, s2_tilde, weights, tau2, sigma2):
    """One CAVI sweep: phi, then s2_tilde and mu_tilde. Returns (mu_tilde, s2_tilde, phi)."""
    phi = update_phi(x, mu_tilde, s2_tilde, weights, sigma2)
    return update_mu(x, phi, tau2, sigma2), update_s2(phi, tau2, sigma2), phi


# ----------------------------------------------------------------------------- fit loops
@dataclass(frozen=True)
class FitResult:
    """CAVI / VBEM output: q's parameters, weights used (learned by VBEM), full-ELBO trace."""
    mu_tilde: np.ndarray
    s2_tilde: np.ndarray
    phi: np.ndarray
    weights: np.ndarray
    elbo: np.ndarray
    n_iter: int
    converged: bool


def _init_means(x, K, rng):
    return rng.choice(x, size=K, replace=K > x.shape[0]) + 1e-3 * (x.std() + 1.0) * rng.standard_normal(K)


def _run(x, K, weights, tau2, sigma2, learn_weights, max_iter, tol, n_init, seed, init):
    max_iter, n_init, tol = _count("max_iter", max_iter), _count("n_init", n_init), _tol(tol)
    best = None
    for rng in (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n_init)):
        mu = (_check_vec("init", init, K) if init is not None else _init_means(x, K, rng))
        s2 = np.full(K, tau2)
        w = weights.copy()
        trace, converged = [], False
        for _ in range(max_iter):
            mu, s2, phi = cavi_sweep(x, mu, s2, w, tau2, sigma2)
            if learn_weights:
                w = update_weights(phi)
            trace.append(elbo(x, mu, s2, phi, w, tau2, sigma2))
            if tol > 0 and len(trace) > 1 and abs(trace[-1] - trace[-2]) <= tol * abs(trace[-1]):
                converged = True
                break
        run = FitResult(mu, s2, phi, w, np.array(trace), len(trace), converged)
        if best is None or run.elbo[-1] > best.elbo[-1]:
            best = run
    return best


def fit(x, K, weights, tau2, sigma2, *, max_iter=200, tol=1e-10, n_init=1, seed=0, init=None):
    """CAVI with known mixture weights (the slides' setting).

    Start: ``init`` means if given, else K data points drawn with a seeded generator, and
    s2_tilde = tau2. A sweep is ``cavi_sweep``; the full ELBO is recorded after each sweep;
    stop when |L_t - L_{t-1}| <= tol |L_t| (tol=0: exactly max_iter sweeps); with n_init
    restarts the run with the highest final ELBO is returned.
    """
    x = _check_x(x)
    K = _count("K", K)
    weights = _check_simplex("weights", weights, K=K)
    if weights.ndim != 1:
        raise ValueError(f"weights must have shape ({K},), got {weights.shape}")
    return _run(x, K, weights, _positive("tau2", tau2), _positive("sigma2", sigma2), False,
                max_iter, tol, n_init, seed, init)


def vbem(x, K, tau2, sigma2, *, weights_init=None, max_iter=200, tol=1e-10, n_init=1, seed=0,
         init=None):
    """Variational Bayesian EM: a CAVI sweep, then weights <- update_weights(phi), repeated.

    Both steps maximise the same full ELBO L(q, weights), so its trace never decreases;
    the final ELBO is a lower bound on log p(x | learned weights). Defaults as in ``fit``;
    the weights start uniform unless ``weights_init`` is given.
    """
    x = _check_x(x)
    K = _count("K", K)
    w0 = np.full(K, 1.0 / K) if weights_init is None else _check_simplex("weights_init", weights_init, K=K)
    if w0.ndim != 1:
        raise ValueError(f"weights_init must have shape ({K},), got {w0.shape}")
    return _run(x, K, w0, _positive("tau2", tau2), _positive("sigma2", sigma2), True,
                max_iter, tol, n_init, seed, init)


# ----------------------------------------------------------------------------- classical EM
def _log_comp(x, mu, weights, sigma2):
    """log weights_k + log N(x_n | mu_k, sigma2), shape (N, K)."""
    with np.errstate(divide="ignore"):
        return (np.log(weights)[None, :] - 0.5 * np.log(2 * np.pi * sigma2)
                - (x[:, None] - mu[None, :]) ** 2 / (2 * sigma2))


def _check_em(x, mu, weights, sigma2):
    x = _check_x(x)
    mu = _check_vec("mu", mu, None)
    weights = _check_simplex("weights", weights, K=mu.shape[0])
    if weights.ndim != 1:
        raise ValueError(f"weights must have shape ({mu.shape[0]},), got {weights.shape}")
    return x, mu, weights, _positive("sigma2", sigma2)


def log_likelihood(x, mu, weights, sigma2):
    """log p(x | mu, weights) = sum_n log sum_k weights_k N(x_n | mu_k, sigma2) (float)."""
    x, mu, weights, sigma2 = _check_em(x, mu, weights, sigma2)
    return float(logsumexp(_log_comp(x, mu, weights, sigma2), axis=1).sum())


def em_e_step(x, mu, weights, sigma2):
    """Exact E-step: r_nk = p(z_n = k | x_n, mu, weights), shape (N, K)."""
    x, mu, weights, sigma2 = _check_em(x, mu, weights, sigma2)
    lc = _log_comp(x, mu, weights, sigma2)
    return np.exp(lc - logsumexp(lc, axis=1, keepdims=True))


def em_free_energy(x, mu, weights, r, sigma2):
    """F(r; mu, weights) = sum_nk r_nk [log weights_k + log N(x_n|mu_k, sigma2)] - sum r log r.

    F <= log p(x | mu, weights), with equality when r is the exact posterior (E-step).
    """
    x, mu, weights, sigma2 = _check_em(x, mu, weights, sigma2)
    r = _check_simplex("r", r, N=x.shape[0], K=mu.shape[0])
    lc = _log_comp(x, mu, weights, sigma2)
    with np.errstate(invalid="ignore"):
        val = np.where(r > 0, r * lc, 0.0).sum()
    return float(val - xlogy(r, r).sum())


def em_m_step(x, r, tau2=None, sigma2=1.0):
    """M-step: weights_k = N_k / N; mu_k = sum_n r_nk x_n / N_k (maximum likelihood), or
    mu_k = sum_n r_nk x_n / (N_k + sigma2/tau2) if ``tau2`` is given (MAP under N(0, tau2)).
    A component with N_k = 0 under maximum likelihood keeps mu_k = 0 (it carries no weight)."""
    x = _check_x(x)
    r = _check_simplex("r", r, N=x.shape[0])
    if r.ndim != 2:
        raise ValueError(f"r must have shape ({x.shape[0]}, K), got {r.shape}")
    Nk = r.sum(0)
    ridge = 0.0 if tau2 is None else _positive("sigma2", sigma2) / _positive("tau2", tau2)
    denom = Nk + ridge
    mu = np.divide(r.T @ x, denom, out=np.zeros_like(Nk), where=denom > 0)
    return mu, Nk / x.shape[0]


@dataclass(frozen=True)
class EMResult:
    """EM output: point estimates, responsibilities, objective trace (log-lik or log-posterior)."""
    mu: np.ndarray
    weights: np.ndarray
    resp: np.ndarray
    objective: np.ndarray
    n_iter: int
    converged: bool


def em(x, K, sigma2, *, tau2=None, max_iter=200, tol=1e-10, n_init=1, seed=0, init=None):
    """Classical EM for the means and weights (sigma2 known): VBEM's special case in which
    the means are point estimates, so the E-step is exact. Records after each iteration the
    log-likelihood (plus sum_k log N(mu_k | 0, tau2) when ``tau2`` is given: MAP-EM), which
    never decreases. Convergence rule, seeding and restarts as in ``fit``."""
    x = _check_x(x)
    K = _count("K", K)
    sigma2 = _positive("sigma2", sigma2)
    if tau2 is not None:
        tau2 = _positive("tau2", tau2)
    max_iter, n_init, tol = _count("max_iter", max_iter), _count("n_init", n_init), _tol(tol)
    best = None
    for rng in (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n_init)):
        mu = _check_vec("init", init, K) if init is not None else _init_means(x, K, rng)
        w = np.full(K, 1.0 / K)
        trace, converged = [], False
        for _ in range(max_iter):
            r = em_e_step(x, mu, w, sigma2)
            mu, w = em_m_step(x, r, tau2, sigma2)
            obj = log_likelihood(x, mu, w, sigma2)
            if tau2 is not None:
                obj += float((-0.5 * np.log(2 * np.pi * tau2) - mu ** 2 / (2 * tau2)).sum())
            trace.append(obj)
            if tol > 0 and len(trace) > 1 and abs(trace[-1] - trace[-2]) <= tol * abs(trace[-1]):
                converged = True
                break
        run = EMResult(mu, w, em_e_step(x, mu, w, sigma2), np.array(trace), len(trace), converged)
        if best is None or run.objective[-1] > best.objective[-1]:
            best = run
    return best
