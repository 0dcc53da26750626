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

import numpy as np
from scipy.special import logsumexp, xlogy

from vi_impl.result import DEFAULT_TOL, FitResult, elbo_converged
from vi_impl.validation import (
    MAX_COMPONENTS,
    as_float_array, check_int, check_positive_scalar, check_probability_rows, check_rng,
    check_tol, check_vector,
)

__all__ = [
    "expectations", "elbo_terms", "elbo", "update_phi", "update_s2", "update_mu",
    "update_weights", "cavi_sweep", "fit", "vbem", "FitResult",
    "log_likelihood", "em_e_step", "em_m_step", "em_free_energy", "em",
]


# ----------------------------------------------------------------------------- validation
def _check_x(x):
    return check_vector("x", x)


def _check_simplex(name, P, N=None, K=None, ndim=2, against=""):
    """Probability vectors: a (K,) vector (ndim=1) or an (N, K) array of rows (ndim=2);
    ``against`` names the arguments N and K come from (for the message)."""
    P = as_float_array(name, P, ndim=ndim, min_size=1)
    want = (K,) if ndim == 1 else (N, K)
    if any(w is not None and h != w for h, w in zip(P.shape, want)):
        shape = "(" + ", ".join("any" if w is None else str(w) for w in want) + \
            ("," if ndim == 1 else "") + ")"
        where = f" to match {against}" if against else ""
        raise ValueError(f"{name} must have shape {shape}{where}, got {P.shape}")
    check_probability_rows(name, P if ndim == 2 else P[None, :])
    return P


def _check_support(phi, weights, wname="weights"):
    """q(z) may not put mass on a component of zero prior weight (the ELBO would be -inf)."""
    bad = (weights == 0) & (phi.max(axis=0) > 0)
    if bad.any():
        k = int(np.argmax(bad))
        raise ValueError(f"{wname}[{k}] is 0 but phi puts mass on component {k}: the ELBO is -inf"
                         f" (q(z) must vanish where p(z) does)")


def _softmax_rows(logits):
    """exp(l_nk - max_k l_nk) / sum_k (...), in place: every row sums to one to rounding."""
    logits -= logits.max(axis=1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=1, keepdims=True)
    return logits


# ----------------------------------------------------------------------------- expectations
def expectations(mu_tilde, s2_tilde, phi):
    """The slides' table of expectations under q, as a dict of arrays (see module docstring)."""
    mu_tilde = check_vector("mu_tilde", mu_tilde)
    K = mu_tilde.shape[0]
    s2_tilde = check_vector("s2_tilde", s2_tilde, K, positive=True, against="mu_tilde")
    phi = _check_simplex("phi", phi, K=K, against="mu_tilde")
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
    mu_tilde = check_vector("mu_tilde", mu_tilde)
    K = mu_tilde.shape[0]
    s2_tilde = check_vector("s2_tilde", s2_tilde, K, positive=True, against="mu_tilde")
    phi = _check_simplex("phi", phi, N=x.shape[0], K=K, against="x and mu_tilde")
    weights = _check_simplex("weights", weights, K=K, ndim=1, against="mu_tilde")
    _check_support(phi, weights)
    return (x, mu_tilde, s2_tilde, phi, weights, check_positive_scalar("tau2", tau2),
            check_positive_scalar("sigma2", sigma2))


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
    """q*(z_n): phi_nk ∝ weights_k exp((x_n mu_tilde_k - (mu_tilde_k^2 + s2_tilde_k)/2) / sigma2).

    Computed as weights_k exp(-((x_n - mu_tilde_k)^2 + s2_tilde_k) / (2 sigma2)) (the same up
    to a factor per row), normalised after shifting each row by its largest logit, so data
    far from the origin lose no precision and every row sums to one."""
    x = _check_x(x)
    mu_tilde = check_vector("mu_tilde", mu_tilde)
    K = mu_tilde.shape[0]
    s2_tilde = check_vector("s2_tilde", s2_tilde, K, positive=True, against="mu_tilde")
    weights = _check_simplex("weights", weights, K=K, ndim=1, against="mu_tilde")
    sigma2 = check_positive_scalar("sigma2", sigma2)
    return _update_phi(x, mu_tilde, s2_tilde, weights, sigma2)


def _update_phi(x, mu_tilde, s2_tilde, weights, sigma2):
    with np.errstate(divide="ignore"):
        logits = np.log(weights)[None, :] - (
            (x[:, None] - mu_tilde[None, :]) ** 2 + s2_tilde[None, :]) / (2 * sigma2)
    return _softmax_rows(logits)


def update_s2(phi, tau2, sigma2):
    """q*(mu_k) variance: s2_tilde_k = 1 / (1/tau2 + N_k/sigma2), N_k = sum_n phi_nk; (K,)."""
    phi = _check_simplex("phi", phi)
    return 1.0 / (1.0 / check_positive_scalar("tau2", tau2)
                  + phi.sum(0) / check_positive_scalar("sigma2", sigma2))


def update_mu(x, phi, tau2, sigma2):
    """q*(mu_k) mean: mu_tilde_k = s2_tilde_k sum_n phi_nk x_n / sigma2; (K,)."""
    x = _check_x(x)
    phi = _check_simplex("phi", phi, N=x.shape[0], against="x")
    return update_s2(phi, tau2, sigma2) * (phi.T @ x) / check_positive_scalar("sigma2", sigma2)


def update_weights(phi):
    """VBEM M-step: argmax over the simplex of sum_nk phi_nk log weights_k = mean of phi's rows.

    A weight is 0 only if its whole column of phi is (a mean that underflows is rounded up to
    the smallest normal number, so sum_nk phi_nk log weights_k stays finite)."""
    phi = _check_simplex("phi", phi)
    return _update_weights(phi)


def _update_weights(phi):
    w = phi.sum(0) / phi.shape[0]
    tiny = np.finfo(float).tiny
    w[(w < tiny) & (phi.max(0) > 0)] = tiny
    return w / w.sum()


def cavi_sweep(x, mu_tilde, s2_tilde, weights, tau2, sigma2):
    """One CAVI sweep: phi, then s2_tilde and mu_tilde. Returns (mu_tilde, s2_tilde, phi)."""
    phi = update_phi(x, mu_tilde, s2_tilde, weights, sigma2)
    return update_mu(x, phi, tau2, sigma2), update_s2(phi, tau2, sigma2), phi


# ----------------------------------------------------------------------------- fit loops
def _init_means(x, K, rng):
    return rng.choice(x, size=K, replace=K > x.shape[0]) + 1e-3 * (x.std() + 1.0) * rng.standard_normal(K)


def _restarts(seed, n_init):
    """One independent generator per restart, spawned from ``seed``."""
    return check_rng("seed", seed).spawn(check_int("n_init", n_init))


def _run(x, K, weights, tau2, sigma2, learn_weights, max_iter, tol, n_init, seed, init):
    max_iter, tol = check_int("max_iter", max_iter), check_tol(tol)
    if init is not None:
        init = check_vector("init", init, K, against="K")
    best = None
    for rng in _restarts(seed, n_init):
        mu = init.copy() if init is not None else _init_means(x, K, rng)
        s2 = np.full(K, tau2)
        w = weights.copy()
        trace, converged = [], False
        for _ in range(max_iter):
            phi = _update_phi(x, mu, s2, w, sigma2)
            s2 = 1.0 / (1.0 / tau2 + phi.sum(0) / sigma2)
            mu = s2 * (phi.T @ x) / sigma2
            if learn_weights:
                w = _update_weights(phi)
            trace.append(elbo(x, mu, s2, phi, w, tau2, sigma2))
            if elbo_converged(trace, tol):
                converged = True
                break
        run = FitResult(dict(mu_tilde=mu, s2_tilde=s2, phi=phi, weights=w), np.array(trace),
                        len(trace), converged)
        if best is None or run.elbo[-1] > best.elbo[-1]:
            best = run
    return best


def fit(x, K, weights, tau2, sigma2, *, max_iter=200, tol=DEFAULT_TOL, n_init=1, seed=0,
        init=None):
    """CAVI with known mixture weights (the slides' setting); returns a :class:`FitResult`
    with params ``mu_tilde``, ``s2_tilde``, ``phi`` and ``weights``.

    Start: ``init`` means if given, else K data points drawn with a seeded generator, and
    s2_tilde = tau2. A sweep is ``cavi_sweep``; the full ELBO is recorded after each sweep;
    the stopping rule is :func:`vi_impl.result.elbo_converged` (tol=0: exactly max_iter
    sweeps); with n_init restarts the run with the highest final ELBO is returned.
    """
    x = _check_x(x)
    K = check_int("K", K, maximum=MAX_COMPONENTS)
    weights = _check_simplex("weights", weights, K=K, ndim=1, against="K")
    return _run(x, K, weights, check_positive_scalar("tau2", tau2),
                check_positive_scalar("sigma2", sigma2), False, max_iter, tol, n_init, seed, init)


def vbem(x, K, tau2, sigma2, *, weights_init=None, max_iter=200, tol=DEFAULT_TOL, n_init=1,
         seed=0, init=None):
    """Variational Bayesian EM: a CAVI sweep, then weights <- update_weights(phi), repeated.

    Both steps maximise the same full ELBO L(q, weights), so its trace never decreases;
    the final ELBO is a lower bound on log p(x | learned weights). Defaults as in ``fit``;
    the weights start uniform unless ``weights_init`` is given.
    """
    x = _check_x(x)
    K = check_int("K", K, maximum=MAX_COMPONENTS)
    w0 = (np.full(K, 1.0 / K) if weights_init is None
          else _check_simplex("weights_init", weights_init, K=K, ndim=1, against="K"))
    return _run(x, K, w0, check_positive_scalar("tau2", tau2),
                check_positive_scalar("sigma2", sigma2), True, max_iter, tol, n_init, seed, init)


# ----------------------------------------------------------------------------- classical EM
def _log_comp(x, mu, weights, sigma2):
    """log weights_k + log N(x_n | mu_k, sigma2), shape (N, K)."""
    with np.errstate(divide="ignore"):
        return (np.log(weights)[None, :] - 0.5 * np.log(2 * np.pi * sigma2)
                - (x[:, None] - mu[None, :]) ** 2 / (2 * sigma2))


def _check_em(x, mu, weights, sigma2):
    x = _check_x(x)
    mu = check_vector("mu", mu)
    weights = _check_simplex("weights", weights, K=mu.shape[0], ndim=1, against="mu")
    return x, mu, weights, check_positive_scalar("sigma2", sigma2)


def log_likelihood(x, mu, weights, sigma2):
    """log p(x | mu, weights) = sum_n log sum_k weights_k N(x_n | mu_k, sigma2) (float)."""
    x, mu, weights, sigma2 = _check_em(x, mu, weights, sigma2)
    return float(logsumexp(_log_comp(x, mu, weights, sigma2), axis=1).sum())


def em_e_step(x, mu, weights, sigma2):
    """Exact E-step: r_nk = p(z_n = k | x_n, mu, weights), shape (N, K)."""
    x, mu, weights, sigma2 = _check_em(x, mu, weights, sigma2)
    return _softmax_rows(_log_comp(x, mu, weights, sigma2))


def em_free_energy(x, mu, weights, phi, sigma2):
    """F(phi; mu, weights) = sum_nk phi_nk [log weights_k + log N(x_n|mu_k, sigma2)] - sum phi log phi.

    F <= log p(x | mu, weights), with equality when phi is the exact posterior (E-step).
    """
    x, mu, weights, sigma2 = _check_em(x, mu, weights, sigma2)
    phi = _check_simplex("phi", phi, N=x.shape[0], K=mu.shape[0], against="x and mu")
    _check_support(phi, weights)
    lc = _log_comp(x, mu, weights, sigma2)
    with np.errstate(invalid="ignore"):
        val = np.where(phi > 0, phi * lc, 0.0).sum()
    return float(val - xlogy(phi, phi).sum())


def em_m_step(x, phi, tau2=None, sigma2=1.0):
    """M-step: weights_k = N_k / N; mu_k = sum_n phi_nk x_n / N_k (maximum likelihood), or
    mu_k = sum_n phi_nk x_n / (N_k + sigma2/tau2) if ``tau2`` is given (MAP under N(0, tau2)).
    A component with N_k = 0 under maximum likelihood keeps mu_k = 0 (it carries no weight)."""
    x = _check_x(x)
    phi = _check_simplex("phi", phi, N=x.shape[0], against="x")
    sigma2 = check_positive_scalar("sigma2", sigma2)
    ridge = 0.0 if tau2 is None else sigma2 / check_positive_scalar("tau2", tau2)
    return _em_m_step(x, phi, ridge)


def _em_m_step(x, phi, ridge):
    Nk = phi.sum(0)
    denom = Nk + ridge
    mu = np.divide(phi.T @ x, denom, out=np.zeros_like(Nk), where=denom > 0)
    return mu, _update_weights(phi)


def em(x, K, sigma2, *, tau2=None, max_iter=200, tol=DEFAULT_TOL, n_init=1, seed=0, init=None):
    """Classical EM for the means and weights (sigma2 known): VBEM's special case in which
    the means are point estimates, so the E-step is exact. Returns a :class:`FitResult` with
    params ``mu``, ``weights`` and ``phi`` (the E-step at the final parameters); its ``elbo``
    trace holds, after each iteration, the log-likelihood (plus sum_k log N(mu_k | 0, tau2)
    when ``tau2`` is given: MAP-EM) -- the ELBO at the exact E-step, where the bound is
    tight -- which never decreases. Stopping rule, seeding and restarts as in ``fit``."""
    x = _check_x(x)
    K = check_int("K", K, maximum=MAX_COMPONENTS)
    sigma2 = check_positive_scalar("sigma2", sigma2)
    ridge = 0.0
    if tau2 is not None:
        tau2 = check_positive_scalar("tau2", tau2)
        ridge = sigma2 / tau2
    max_iter, tol = check_int("max_iter", max_iter), check_tol(tol)
    if init is not None:
        init = check_vector("init", init, K, against="K")
    best = None
    for rng in _restarts(seed, n_init):
        mu = init.copy() if init is not None else _init_means(x, K, rng)
        w = np.full(K, 1.0 / K)
        trace, converged = [], False
        for _ in range(max_iter):
            mu, w = _em_m_step(x, _softmax_rows(_log_comp(x, mu, w, sigma2)), ridge)
            obj = float(logsumexp(_log_comp(x, mu, w, sigma2), axis=1).sum())
            if tau2 is not None:
                obj += float((-0.5 * np.log(2 * np.pi * tau2) - mu ** 2 / (2 * tau2)).sum())
            trace.append(obj)
            if elbo_converged(trace, tol):
                converged = True
                break
        phi = _softmax_rows(_log_comp(x, mu, w, sigma2))
        run = FitResult(dict(mu=mu, weights=w, phi=phi), np.array(trace), len(trace), converged)
        if best is None or run.elbo[-1] > best.elbo[-1]:
            best = run
    return best
