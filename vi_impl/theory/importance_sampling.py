"""Importance sampling for the evidence ``p(x) = E_{z~q}[p(x, z) / q(z)]``.

Conventions
-----------
* ``log_target`` holds ``log p(x, z_s)`` (an unnormalised target: the joint), evaluated at the
  draws ``z_s ~ q``; ``log_proposal`` holds ``log q(z_s)`` at the same draws.
* The importance weights are ``w_s = p(x, z_s) / q(z_s)``; all arithmetic is done on
  ``log w_s`` with log-sum-exp so that weights spanning hundreds of orders of magnitude are
  handled without overflow.
* The estimator of the evidence is the plain average ``(1/S) sum_s w_s`` (unbiased for
  ``p(x)``); its standard error is the sample standard deviation of the weights over ``sqrt(S)``.
* The effective sample size is Kish's ``(sum_s w_s)^2 / sum_s w_s^2``: between 1 (one weight
  dominates) and ``S`` (all weights equal).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.special import logsumexp

from vi_impl.validation import as_log_array, check_int, check_rng

__all__ = [
    "ImportanceEstimate",
    "log_importance_weights",
    "effective_sample_size",
    "importance_estimate",
    "importance_sampling",
]


@dataclass(frozen=True)
class ImportanceEstimate:
    """Result of an importance-sampling run.

    ``estimate``: the average weight, an unbiased estimate of the evidence.
    ``log_estimate``: its logarithm, computed stably (``estimate`` may underflow, this does not).
    ``std_error``: sample standard deviation of the weights divided by ``sqrt(n)``.
    ``log_std_error``: its logarithm.
    ``ess``: Kish's effective sample size. ``n``: number of draws.
    ``log_weights``: the ``(n,)`` log weights.
    """

    estimate: float
    log_estimate: float
    std_error: float
    log_std_error: float
    ess: float
    n: int
    log_weights: np.ndarray


def _log_weight_array(name: str, value) -> np.ndarray:
    """1-D non-empty float array; ``-inf`` is allowed (a weight of exactly zero), NaN and
    ``+inf`` are not, nor magnitudes above 1e100."""
    return as_log_array(name, value, ndim=1, min_size=1, upper=None)


def log_importance_weights(log_target, log_proposal) -> np.ndarray:
    """Return ``log w_s = log p(x, z_s) - log q(z_s)`` for draws ``z_s ~ q``.

    ``log_target`` may contain ``-inf`` (the target vanishes there); ``log_proposal`` must be
    finite everywhere, because every draw came from ``q`` and so has ``q(z_s) > 0``.
    Both must be one-dimensional arrays of the same length.
    """
    lt = _log_weight_array("log_target", log_target)
    lq = _log_weight_array("log_proposal", log_proposal)
    if not np.all(np.isfinite(lq)):
        raise ValueError("log_proposal must be finite: a draw from q cannot have q(z) = 0")
    if lt.shape != lq.shape:
        raise ValueError(f"log_target and log_proposal must have the same shape, got "
                         f"{lt.shape} and {lq.shape}")
    return lt - lq


def effective_sample_size(log_weights) -> float:
    """Kish's effective sample size ``(sum w)^2 / sum w^2`` from log weights ``(S,)``.

    Invariant to rescaling all weights by a constant, so unnormalised weights are fine.
    """
    lw = _log_weight_array("log_weights", log_weights)
    if np.all(lw == -np.inf):
        raise ValueError("log_weights are all -inf: every weight is zero")
    return float(np.exp(2.0 * logsumexp(lw) - logsumexp(2.0 * lw)))


def importance_estimate(log_weights) -> ImportanceEstimate:
    """Summarise log weights ``(S,)``: mean weight, its standard error and the ESS.

    The mean is ``exp(logsumexp(lw) - log S)``; the standard error uses the unbiased sample
    variance ``sum (w - mean)^2 / (S - 1)`` (so at least two draws are needed), computed after
    factoring out the largest weight.
    """
    lw = _log_weight_array("log_weights", log_weights)
    n = lw.size
    if n < 2:
        raise ValueError("log_weights must hold at least two draws to estimate a standard error")
    if np.all(lw == -np.inf):
        raise ValueError("log_weights are all -inf: every weight is zero")
    shift = float(np.max(lw))
    scaled = np.exp(lw - shift)                      # in (0, 1], largest equals 1
    mean_scaled = scaled.mean()
    var_scaled = np.sum((scaled - mean_scaled) ** 2) / (n - 1)
    log_estimate = shift + float(np.log(mean_scaled))
    sd_scaled = float(np.sqrt(var_scaled / n))
    log_std_error = shift + float(np.log(sd_scaled)) if sd_scaled > 0 else -np.inf
    with np.errstate(over="ignore", under="ignore"):   # the log fields stay exact
        estimate, std_error = float(np.exp(log_estimate)), float(np.exp(log_std_error))
    return ImportanceEstimate(
        estimate=estimate,
        log_estimate=log_estimate,
        std_error=std_error,
        log_std_error=log_std_error,
        ess=effective_sample_size(lw),
        n=n,
        log_weights=lw,
    )


def _call(name, fn, z, n):
    """fn(z) reshaped to one value per draw; the message names ``fn`` when it misbehaves."""
    try:
        out = np.asarray(fn(z))
    except Exception as exc:                                    # noqa: BLE001
        raise ValueError(f"{name} raised {type(exc).__name__} on the draws: {exc}") from exc
    if out.size != n:
        raise ValueError(f"{name} must return one value per draw ({n}), got shape {out.shape}")
    return out.reshape(-1)


def importance_sampling(
    log_joint: Callable[[np.ndarray], np.ndarray],
    sample_proposal: Callable[[np.random.Generator, int], np.ndarray],
    log_proposal: Callable[[np.ndarray], np.ndarray],
    n_samples: int,
    seed,
) -> ImportanceEstimate:
    """Estimate the evidence ``p(x) = E_q[p(x, z) / q(z)]`` with ``n_samples`` draws from ``q``.

    ``seed``: a non-negative int or a numpy Generator (:func:`vi_impl.validation.check_rng`,
    None refused). ``sample_proposal(rng, n)`` gets the generator and returns ``n`` draws
    (first axis indexes draws);
    ``log_joint(z)`` and ``log_proposal(z)`` return one value per draw, shape ``(n,)``.
    """
    n_samples = check_int("n_samples", n_samples, minimum=2)
    rng = check_rng("seed", seed, allow_none=False)
    for name, fn in (("log_joint", log_joint), ("sample_proposal", sample_proposal),
                     ("log_proposal", log_proposal)):
        if not callable(fn):
            raise ValueError(f"{name} must be callable")
    z = np.asarray(sample_proposal(rng, n_samples))
    if z.shape[:1] != (n_samples,):
        raise ValueError(f"sample_proposal must return {n_samples} draws along axis 0, "
                         f"got shape {z.shape}")
    lt = _log_weight_array("log_joint", _call("log_joint", log_joint, z, n_samples))
    lq = _log_weight_array("log_proposal", _call("log_proposal", log_proposal, z, n_samples))
    lw = log_importance_weights(lt, lq)
    if lw.size != n_samples:
        raise ValueError(f"log_joint and log_proposal must return one value per draw "
                         f"({n_samples}), got {lw.size}")
    return importance_estimate(lw)
