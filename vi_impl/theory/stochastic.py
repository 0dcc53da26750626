"""Stochastic, gradient-based VI for a diagonal Gaussian q, given a log-joint callable.

Family: q(z) = prod_d N(z_d | m_d, s_d^2) on R^D, optimised in the unconstrained coordinates
theta = (m, log_s) (``log_s`` is the log standard deviation; the variance is exp(2 log_s)).
Every gradient returned here is a vector of length 2D ordered as
(dL/dm_1, ..., dL/dm_D, dL/dlog_s_1, ..., dL/dlog_s_D), where L is the ELBO

    L(theta) = E_q[log p(x, z)] - E_q[log q(z)]          (every constant kept).

Callables supplied by the user act on a batch of samples:
``log_joint(z)`` maps z of shape (S, D) to log p(x, z) of shape (S,), and
``grad_log_joint(z)`` maps (S, D) to the gradient in z, shape (S, D).

Estimators (each returns the S single-sample estimates, shape (S, 2D); their mean is the
estimate, their spread gives its standard error):

* reparameterisation (Kingma & Welling 2014): z = m + s * eps, eps ~ N(0, I);
  d/dm = grad log p(z), d/dlog_s = grad log p(z) * s * eps + 1 (the +1 is the exact gradient
  of the Gaussian entropy sum_d log s_d + const).
* score function / REINFORCE (Williams 1992): with f(z) = log p(x, z) - log q(z),
  grad L = E_q[(f(z) - b) grad_theta log q(z)] for any b not depending on z, where
  d log q / dm = (z - m) / s^2 and d log q / dlog_s = ((z - m) / s)^2 - 1.
  Baselines: None (b = 0), a number, or ``"loo"`` (leave-one-out mean of f over the other
  samples of the batch; unbiased because it does not use the sample it multiplies).

For discrete latents, :func:`bernoulli_score_grad_samples` gives the score-function gradient of
E_q[f(z)] for factorised Bernoulli q with logits eta, and :func:`bernoulli_exact_grad` the exact
gradient by enumerating the 2^D states (small D only).

Optimisers (:func:`fit_sga`): Adam, or Robbins-Monro steps a / (1 + delta * t), both ascending.
All randomness goes through a seeded ``numpy.random.Generator``.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from vi_impl.validation import (
    as_float_array, check_int, check_nonnegative_scalar, check_positive_scalar, check_real,
    check_rng,
)

__all__ = [
    "as_rng",
    "check_diag_gaussian",
    "sample_q",
    "log_q",
    "gaussian_entropy",
    "MCEstimate",
    "mc_elbo",
    "reparam_grad_samples",
    "score_grad_samples",
    "estimate",
    "SGAResult",
    "fit_sga",
    "bernoulli_score_grad_samples",
    "bernoulli_exact_grad",
]

_LOG_2PI = np.log(2.0 * np.pi)


# --------------------------------------------------------------------------- validation
def as_rng(seed, name="seed"):
    """A numpy Generator from a non-negative int seed or an existing Generator: the shared
    :func:`vi_impl.validation.check_rng` with ``None`` refused (every estimate here is
    reproducible)."""
    return check_rng(name, seed, allow_none=False)


def _finite_1d(value, name):
    return as_float_array(name, value, ndim=1, min_size=1)


def check_diag_gaussian(m, log_s, names=("m", "log_s")):
    """Validate the variational parameters: m (D,), log_s (D,), both finite, same shape
    (``names``: the arguments' names in the caller, for the messages)."""
    m = _finite_1d(m, names[0])
    log_s = _finite_1d(log_s, names[1])
    if m.shape != log_s.shape:
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape, got {m.shape}"
                         f" and {log_s.shape}")
    return m, log_s


def _check_n_samples(n_samples, minimum=1):
    return check_int("n_samples", n_samples, minimum=minimum)


def _call_batch(fn, z, name, out_shape):
    if not callable(fn):
        raise ValueError(f"{name} must be callable")
    out = fn(z)
    if isinstance(out, (str, bytes)) or np.asarray(out).dtype.kind not in "biuf":
        raise ValueError(f"{name} must return a real array of shape {out_shape}, got"
                         f" {type(out).__name__} {out!r:.60}")
    out = np.asarray(out, dtype=float)
    if out.shape != out_shape:
        raise ValueError(f"{name} must return an array of shape {out_shape} for z of shape "
                         f"{z.shape}, got {out.shape}")
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{name} returned NaN or inf")
    return out


# --------------------------------------------------------------------------- the family
def sample_q(m, log_s, n_samples, seed):
    """Draw S samples z = m + exp(log_s) * eps with the generator from ``seed``.
    Returns (z, eps), both (S, D)."""
    m, log_s = check_diag_gaussian(m, log_s)
    S = _check_n_samples(n_samples)
    eps = as_rng(seed).standard_normal((S, m.shape[0]))
    return m + np.exp(log_s) * eps, eps


def log_q(z, m, log_s):
    """log q(z) for each row of z (S, D); returns (S,). Every constant kept."""
    m, log_s = check_diag_gaussian(m, log_s)
    z = as_float_array("z", z)
    if z.ndim != 2 or z.shape[1] != m.shape[0]:
        raise ValueError(f"z must have shape (S, {m.shape[0]}), got {z.shape}")
    u = (z - m) * np.exp(-log_s)
    return -0.5 * np.sum(u * u, axis=1) - np.sum(log_s) - 0.5 * m.shape[0] * _LOG_2PI


def gaussian_entropy(log_s):
    """H[q] = sum_d (log s_d + (1 + log 2 pi) / 2)."""
    log_s = _finite_1d(log_s, "log_s")
    return float(np.sum(log_s) + 0.5 * log_s.shape[0] * (1.0 + _LOG_2PI))


# --------------------------------------------------------------------------- Monte Carlo ELBO
@dataclass
class MCEstimate:
    """A Monte Carlo estimate: ``value`` (mean of the single-sample terms), its standard error
    ``stderr`` (sample standard deviation / sqrt(S)) and the S single-sample ``terms``."""

    value: float
    stderr: float
    terms: np.ndarray


def mc_elbo(log_joint, m, log_s, n_samples, seed, *, entropy="analytic"):
    """Monte Carlo estimate of the ELBO with S = ``n_samples`` draws from q.

    ``entropy="analytic"``: terms are log p(x, z_s) + H[q] (H in closed form);
    ``entropy="mc"``: terms are log p(x, z_s) - log q(z_s). Both are unbiased.
    """
    if not isinstance(entropy, str) or entropy not in ("analytic", "mc"):
        raise ValueError(f"entropy must be 'analytic' or 'mc', got {entropy!r}")
    S = _check_n_samples(n_samples, minimum=2)
    z, _ = sample_q(m, log_s, S, as_rng(seed))
    lp = _call_batch(log_joint, z, "log_joint", (S,))
    if entropy == "analytic":
        terms = lp + gaussian_entropy(log_s)
    else:
        terms = lp - log_q(z, m, log_s)
    return MCEstimate(float(terms.mean()), float(terms.std(ddof=1) / np.sqrt(S)), terms)


# --------------------------------------------------------------------------- gradient estimators
def reparam_grad_samples(grad_log_joint, m, log_s, n_samples, seed):
    """Single-sample reparameterisation gradients of the ELBO, shape (S, 2D).

    Row s is [g(z_s), g(z_s) * s * eps_s + 1] with g = grad_z log p(x, z) and
    z_s = m + s * eps_s; the entropy enters through its exact gradient (+1 per log_s_d).
    """
    m, log_s = check_diag_gaussian(m, log_s)
    S = _check_n_samples(n_samples)
    z, eps = sample_q(m, log_s, S, as_rng(seed))
    g = _call_batch(grad_log_joint, z, "grad_log_joint", z.shape)
    return np.hstack([g, g * np.exp(log_s) * eps + 1.0])


def _baseline_values(f, baseline):
    S = f.shape[0]
    if baseline is None:
        return np.zeros(S)
    if isinstance(baseline, str):
        if baseline != "loo":
            raise ValueError(f"baseline must be None, a finite number or 'loo', got {baseline!r}")
        if S < 2:
            raise ValueError("baseline='loo' needs n_samples >= 2")
        return (f.sum() - f) / (S - 1)
    return np.full(S, check_real("baseline", baseline))


def score_grad_samples(log_joint, m, log_s, n_samples, seed, *, baseline=None):
    """Single-sample score-function (REINFORCE) gradients of the ELBO, shape (S, 2D).

    Row s is (f(z_s) - b_s) * grad_theta log q(z_s) with f = log p(x, z) - log q(z).
    Only log p(x, z) is evaluated (never its gradient), which is why this estimator also works
    for models that are not differentiable in z.
    """
    m, log_s = check_diag_gaussian(m, log_s)
    S = _check_n_samples(n_samples)
    z, eps = sample_q(m, log_s, S, as_rng(seed))
    f = _call_batch(log_joint, z, "log_joint", (S,)) - log_q(z, m, log_s)
    b = _baseline_values(f, baseline)
    score = np.hstack([eps * np.exp(-log_s), eps * eps - 1.0])
    return (f - b)[:, None] * score


def estimate(samples):
    """Mean and standard error (per coordinate) of single-sample estimates of shape (S, P)."""
    samples = as_float_array("samples", samples)
    if samples.ndim != 2 or samples.shape[0] < 2:
        raise ValueError(f"samples must have shape (S, P) with S >= 2, got {samples.shape}")
    return samples.mean(axis=0), samples.std(axis=0, ddof=1) / np.sqrt(samples.shape[0])


# --------------------------------------------------------------------------- optimisation
@dataclass
class SGAResult:
    """Output of :func:`fit_sga`: final ``m``, ``log_s``; ``trace`` (n_steps + 1, 2D) of the
    parameters after each step (row 0 is the start); ``grads`` (n_steps, 2D) of the
    stochastic gradients used."""

    m: np.ndarray
    log_s: np.ndarray
    trace: np.ndarray
    grads: np.ndarray


def fit_sga(grad_fn, m0, log_s0, *, n_steps, seed, optimizer="adam", lr=0.05,
            decay=0.01, betas=(0.9, 0.999), eps=1e-8, average_last=0):
    """Stochastic gradient *ascent* on the ELBO from (m0, log_s0).

    ``grad_fn(m, log_s, rng)`` returns a stochastic gradient of length 2D (for instance the
    mean of :func:`reparam_grad_samples`). ``optimizer="adam"``: Adam with step ``lr``;
    ``optimizer="robbins-monro"``: theta += lr / (1 + decay * t) * g, a schedule whose steps
    sum to infinity while their squares sum to a finite value. ``average_last=k > 0`` returns
    the average of the last k iterates (Polyak averaging) instead of the last one; the trace
    always holds the raw iterates.
    """
    m0, log_s0 = check_diag_gaussian(m0, log_s0, names=("m0", "log_s0"))
    if not callable(grad_fn):
        raise ValueError("grad_fn must be callable")
    n_steps = check_int("n_steps", n_steps, minimum=1)
    if not isinstance(optimizer, str) or optimizer not in ("adam", "robbins-monro"):
        raise ValueError(f"optimizer must be 'adam' or 'robbins-monro', got {optimizer!r}")
    lr = check_positive_scalar("lr", lr)
    decay = check_nonnegative_scalar("decay", decay)
    eps = check_positive_scalar("eps", eps)
    betas = as_float_array("betas", betas, ndim=1)
    if betas.shape != (2,) or not ((0 <= betas) & (betas < 1)).all():
        raise ValueError(f"betas must be two numbers in [0, 1), got {betas!r}")
    average_last = check_int("average_last", average_last, minimum=0, maximum=n_steps)
    rng = as_rng(seed)
    D = m0.shape[0]
    theta = np.concatenate([m0, log_s0])
    trace = np.empty((n_steps + 1, 2 * D))
    grads = np.empty((n_steps, 2 * D))
    trace[0] = theta
    v1 = np.zeros(2 * D)
    v2 = np.zeros(2 * D)
    for t in range(1, n_steps + 1):
        g = grad_fn(theta[:D].copy(), theta[D:].copy(), rng)
        if isinstance(g, (str, bytes)) or np.asarray(g).dtype.kind not in "biuf":
            raise ValueError(f"grad_fn must return a real array of shape ({2 * D},), got {g!r:.60}")
        g = np.asarray(g, dtype=float)
        if g.shape != (2 * D,):
            raise ValueError(f"grad_fn must return shape ({2 * D},), got {g.shape}")
        if not np.all(np.isfinite(g)):
            raise ValueError(f"grad_fn returned NaN or inf at step {t}")
        grads[t - 1] = g
        if optimizer == "adam":
            v1 = betas[0] * v1 + (1 - betas[0]) * g
            v2 = betas[1] * v2 + (1 - betas[1]) * g * g
            mhat = v1 / (1 - betas[0] ** t)
            vhat = v2 / (1 - betas[1] ** t)
            theta = theta + lr * mhat / (np.sqrt(vhat) + eps)
        else:
            theta = theta + lr / (1.0 + decay * t) * g
        trace[t] = theta
    final = trace[-average_last:].mean(axis=0) if average_last else theta
    return SGAResult(m=final[:D].copy(), log_s=final[D:].copy(), trace=trace, grads=grads)


# --------------------------------------------------------------------------- discrete latents
def _check_logits(logits):
    logits = _finite_1d(logits, "logits")
    return logits


def bernoulli_score_grad_samples(f, logits, n_samples, seed, *, baseline=None):
    """Score-function gradient of E_q[f(z)] w.r.t. the logits of q(z) = prod_d Bern(sigma(eta_d)).

    ``f`` maps z (S, D) with 0/1 entries to (S,). Row s is (f(z_s) - b_s) * (z_s - sigma(eta)),
    since d log q(z) / d eta_d = z_d - sigma(eta_d). ``baseline`` as in
    :func:`score_grad_samples`. Returns (S, D) single-sample estimates.
    When f itself depends on eta (as f = log p - log q does), add E_q[df/deta] separately; for
    f = log p(x, z) - log q(z) that term is -E_q[grad log q] = 0.
    """
    logits = _check_logits(logits)
    S = _check_n_samples(n_samples)
    p = expit(logits)
    z = (as_rng(seed).random((S, logits.shape[0])) < p).astype(float)
    fz = _call_batch(f, z, "f", (S,))
    b = _baseline_values(fz, baseline)
    return (fz - b)[:, None] * (z - p)


def bernoulli_exact_grad(f, logits):
    """Exact d/d eta E_q[f(z)] by enumerating all 2^D states (D <= 16), shape (D,)."""
    logits = _check_logits(logits)
    D = logits.shape[0]
    if D > 16:
        raise ValueError(f"logits has D = {D} entries; enumeration is limited to D <= 16")
    states = np.array(list(itertools.product([0.0, 1.0], repeat=D)))
    p = expit(logits)
    log_p1 = -np.logaddexp(0.0, -logits)   # log sigma(eta), stable for large |eta|
    log_p0 = -np.logaddexp(0.0, logits)    # log (1 - sigma(eta))
    logq = states @ log_p1 + (1 - states) @ log_p0
    fz = _call_batch(f, states, "f", (states.shape[0],))
    return np.sum((np.exp(logq) * fz)[:, None] * (states - p), axis=0)
