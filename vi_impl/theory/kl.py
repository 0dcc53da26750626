"""The Kullback-Leibler divergence: closed forms, quadrature, and Gaussian fits in both directions.

``KL(p || q) = E_p[log p(x) - log q(x)]`` (natural logarithms, so the unit is nats).

* :func:`kl_discrete` -- finite distributions, with ``0 log 0 = 0``.
* :func:`kl_diag_gaussians` -- two Gaussians with diagonal covariances, hand-coded NumPy (the
  book derives the same expression symbolically and compares).
* :func:`kl_quadrature` -- one-dimensional densities by adaptive quadrature (``scipy.integrate.quad``).
* :func:`kl_on_grid` -- one-dimensional densities tabulated on a grid (trapezoid rule); fast
  enough to sit inside an optimiser or to draw a landscape.
* :func:`fit_gaussian` -- the Gaussian ``q = N(m, s^2)`` minimising ``KL(p || q)`` ("forward",
  inclusive, moment matching) or ``KL(q || p)`` ("reverse", exclusive, mode seeking) for a
  target tabulated on a grid.
* :func:`kl_landscape` -- either divergence over a grid of ``(m, log s)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import integrate, optimize
from scipy.special import logsumexp

from vi_impl.validation import (
    LOG_MAX, MAX_ABS, as_float_array, as_log_array, as_positive_array, check_int,
    check_probability_vector, check_real,
)

__all__ = [
    "kl_discrete",
    "kl_diag_gaussians",
    "kl_quadrature",
    "kl_on_grid",
    "gaussian_logpdf",
    "mixture_logpdf",
    "GaussianFit",
    "fit_gaussian",
    "kl_landscape",
]

_DIRECTIONS = ("forward", "reverse")


def kl_discrete(p, q) -> float:
    """``sum_i p_i log(p_i / q_i)`` for probability vectors of equal length.

    Terms with ``p_i = 0`` contribute 0; a ``q_i = 0`` where ``p_i > 0`` gives ``inf``.
    """
    p = check_probability_vector("p", p)
    q = check_probability_vector("q", q)
    if p.ndim != 1 or p.shape != q.shape:
        raise ValueError(f"p and q must be 1-D of the same length, got {p.shape} and {q.shape}")
    support = p > 0
    if np.any(q[support] == 0):
        return float("inf")
    return float(np.sum(p[support] * (np.log(p[support]) - np.log(q[support]))))


def kl_diag_gaussians(mu1, var1, mu2, var2) -> np.ndarray:
    """``KL(N(mu1, diag var1) || N(mu2, diag var2))``, summed over the last axis.

    Arrays broadcast together; the last axis is the dimension ``D``. Per coordinate the
    divergence is ``0.5 * (log(var2/var1) + (var1 + (mu1 - mu2)^2) / var2 - 1)``.
    Returns an array of the broadcast shape without its last axis (a float for 1-D input).
    """
    mu1 = as_float_array("mu1", mu1, min_size=1)
    mu2 = as_float_array("mu2", mu2, min_size=1)
    var1 = as_positive_array("var1", var1)
    var2 = as_positive_array("var2", var2)
    try:
        mu1, var1, mu2, var2 = np.broadcast_arrays(np.atleast_1d(mu1), np.atleast_1d(var1),
                                                   np.atleast_1d(mu2), np.atleast_1d(var2))
    except ValueError as exc:
        raise ValueError(f"mu1, var1, mu2, var2 must broadcast together: {exc}") from exc
    per_coord = 0.5 * (np.log(var2) - np.log(var1) + (var1 + (mu1 - mu2) ** 2) / var2 - 1.0)
    out = per_coord.sum(axis=-1)
    return float(out) if out.ndim == 0 else out


def gaussian_logpdf(x, mean, sd) -> np.ndarray:
    """``log N(x | mean, sd^2)`` elementwise (x, mean and sd broadcast together; sd > 0)."""
    x = as_float_array("x", x)
    mean = as_float_array("mean", mean)
    sd = as_positive_array("sd", sd)
    try:
        np.broadcast_shapes(x.shape, mean.shape, sd.shape)
    except ValueError:
        raise ValueError(f"x, mean and sd must broadcast together, got shapes {x.shape},"
                         f" {mean.shape}, {sd.shape}") from None
    return _gaussian_logpdf(x, mean, sd)


def _gaussian_logpdf(x, mean, sd):
    return -0.5 * np.log(2 * np.pi * sd ** 2) - 0.5 * ((x - mean) / sd) ** 2


def mixture_logpdf(x, weights, means, sds) -> np.ndarray:
    """Log density of the one-dimensional Gaussian mixture ``sum_k w_k N(x | means_k, sds_k^2)``."""
    w = check_probability_vector("weights", weights)
    means = as_float_array("means", means, ndim=1, min_size=1)
    sds = as_positive_array("sds", sds, ndim=1)
    if not (w.shape == means.shape == sds.shape):
        raise ValueError(f"weights, means and sds must have the same length, got "
                         f"{w.shape}, {means.shape}, {sds.shape}")
    x = as_float_array("x", x)
    with np.errstate(divide="ignore"):
        comp = _gaussian_logpdf(x[..., None], means, sds) + np.log(w)
    return logsumexp(comp, axis=-1)


def _log_density_value(name, fn, x) -> float:
    """fn(x) as a float log density: NaN, +inf and values whose exp overflows are refused."""
    try:
        value = float(fn(x))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must return a real number, got an error: {exc}") from None
    if np.isnan(value) or value > LOG_MAX:
        raise ValueError(f"{name} returned {value!r} at x = {x!r}; a log density must be a"
                         f" number below {LOG_MAX:.0f} or -inf")
    return value


def _log_density_array(name, value, shape=None, upper=LOG_MAX) -> np.ndarray:
    """A tabulated log density (:func:`vi_impl.validation.as_log_array`) of the grid's
    ``shape`` if given."""
    arr = as_log_array(name, value, upper=upper)
    if shape is not None and arr.shape != shape:
        raise ValueError(f"{name} must have the grid's shape {shape} (the shape of x), got"
                         f" {arr.shape}")
    return arr


def _bound(name, value) -> float:
    """An integration limit: a real number of magnitude <= MAX_ABS, or +-inf."""
    if isinstance(value, (float, np.floating)) and np.isinf(value):
        return float(value)
    return check_real(name, value)


def kl_quadrature(log_p: Callable[[float], float], log_q: Callable[[float], float],
                  lower: float = -np.inf, upper: float = np.inf, **quad_kwargs) -> float:
    """``int p(x) (log p(x) - log q(x)) dx`` over ``[lower, upper]`` by ``scipy.integrate.quad``.

    ``log_p`` and ``log_q`` take a float and return a log density. Where ``p`` underflows to
    zero the integrand is taken as zero (the limit ``p log p -> 0``).
    """
    for name, fn in (("log_p", log_p), ("log_q", log_q)):
        if not callable(fn):
            raise ValueError(f"{name} must be callable")
    lower, upper = _bound("lower", lower), _bound("upper", upper)
    if not lower < upper:
        raise ValueError(f"lower must be below upper, got {lower!r} and {upper!r}")

    def integrand(x: float) -> float:
        lp = _log_density_value("log_p", log_p, x)
        if lp == -np.inf:
            return 0.0
        lq = _log_density_value("log_q", log_q, x)
        if lq == -np.inf:
            raise ValueError(f"log_q is -inf at x = {x!r} where p > 0: KL(p || q) is infinite")
        return float(np.exp(lp) * (lp - lq))

    quad_kwargs.setdefault("limit", 200)
    value, _ = integrate.quad(integrand, lower, upper, **quad_kwargs)
    return float(value)


def kl_on_grid(x, log_p, log_q) -> float:
    """``int p (log p - log q) dx`` by the trapezoid rule on an increasing grid ``x``.

    ``log_p`` and ``log_q`` are the log densities tabulated at ``x`` (same shape as ``x``).
    The grid must cover the region where ``p`` has mass and be fine enough to resolve both
    densities; the result is only as accurate as that grid.
    """
    x = as_float_array("x", x, ndim=1, min_size=2)
    if np.any(np.diff(x) <= 0):
        raise ValueError("x must be strictly increasing")
    lp = _log_density_array("log_p", log_p, x.shape)
    lq = _log_density_array("log_q", log_q, x.shape)
    p = np.exp(lp)
    with np.errstate(invalid="ignore"):      # p = 0 where lp = -inf: those terms are 0
        integrand = np.where(p > 0, p * (lp - lq), 0.0)
    return float(np.trapezoid(integrand, x))


@dataclass(frozen=True)
class GaussianFit:
    """Result of :func:`fit_gaussian`: ``q = N(mean, sd^2)`` and the divergence it reaches."""

    direction: str
    mean: float
    sd: float
    kl: float
    success: bool


def _check_grid_target(x, log_target):
    x = as_float_array("x", x, ndim=1, min_size=3)
    if np.any(np.diff(x) <= 0):
        raise ValueError("x must be strictly increasing")
    lt = _log_density_array("log_target", log_target, x.shape, upper=None)
    if not np.isfinite(lt).any():
        raise ValueError("log_target is -inf everywhere on the grid: no density to fit")
    lt = lt - lt.max()               # an unnormalised log density: only differences matter
    # renormalise on the grid so that the target is a density there
    lt = lt - np.log(np.trapezoid(np.exp(lt - lt.max()), x)) - lt.max()
    return x, lt


def _check_reverse_support(lt, direction):
    if direction == "reverse" and np.isneginf(lt).any():
        raise ValueError("log_target is -inf at some grid points: KL(q || p) is infinite for"
                         " every Gaussian q (q has mass everywhere); use direction='forward'")


def _direction(direction: str) -> str:
    if not isinstance(direction, str) or direction not in _DIRECTIONS:
        raise ValueError(f"direction must be one of {_DIRECTIONS}, got {direction!r}")
    return direction


def _kl_gaussian_grid(x, lt, mean, log_sd, direction):
    lq = _gaussian_logpdf(x, mean, np.exp(log_sd))
    if direction == "forward":
        return kl_on_grid(x, lt, lq)
    return kl_on_grid(x, lq, lt)


def fit_gaussian(x, log_target, direction: str, init=(0.0, 0.0), *,
                 log_sd_bounds=(-4.0, 3.0)) -> GaussianFit:
    """Fit ``q = N(m, s^2)`` to a target tabulated on the grid ``x`` by minimising a KL.

    ``direction='forward'`` minimises ``KL(p || q)``; ``'reverse'`` minimises ``KL(q || p)``.
    ``init = (m0, log s0)`` is the starting point (the reverse divergence can have several
    local minima: the start decides which is found). The target is renormalised on the grid.
    Optimiser: L-BFGS-B over ``(m, log s)`` with ``m`` kept inside the grid and ``log s``
    inside ``log_sd_bounds``; the grid must be fine relative to ``exp(log_sd_bounds[0])``.
    """
    direction = _direction(direction)
    x, lt = _check_grid_target(x, log_target)
    _check_reverse_support(lt, direction)
    init = as_float_array("init", init, ndim=1, min_size=1)
    if init.shape != (2,):
        raise ValueError(f"init must be (mean, log_sd), got shape {init.shape}")
    bounds = as_float_array("log_sd_bounds", log_sd_bounds, ndim=1)
    if bounds.shape != (2,):
        raise ValueError(f"log_sd_bounds must be a pair (low, high), got shape {bounds.shape}")
    lo, hi = (float(b) for b in bounds)
    if not lo < hi:
        raise ValueError(f"log_sd_bounds must be increasing, got {log_sd_bounds!r}")
    res = optimize.minimize(lambda th: _kl_gaussian_grid(x, lt, th[0], th[1], direction),
                            init, method="L-BFGS-B",
                            bounds=[(x[0], x[-1]), (lo, hi)],
                            options={"ftol": 1e-14, "gtol": 1e-10, "maxiter": 2000})
    return GaussianFit(direction=direction, mean=float(res.x[0]), sd=float(np.exp(res.x[1])),
                       kl=float(res.fun), success=bool(res.success))


def kl_landscape(x, log_target, means, log_sds, direction: str) -> np.ndarray:
    """Divergence between the tabulated target and ``N(m, exp(l)^2)`` for every ``m`` in ``means``
    and ``l`` in ``log_sds``; returns an array of shape ``(len(log_sds), len(means))``.

    ``direction`` as in :func:`fit_gaussian`. Computed by the trapezoid rule on ``x``.
    """
    direction = _direction(direction)
    x, lt = _check_grid_target(x, log_target)
    _check_reverse_support(lt, direction)
    means = as_float_array("means", means, ndim=1, min_size=1)
    log_sds = as_float_array("log_sds", log_sds, ndim=1, min_size=1)
    out = np.empty((log_sds.size, means.size))
    p_t = np.exp(lt)
    for i, l in enumerate(log_sds):
        lq = _gaussian_logpdf(x[None, :], means[:, None], np.exp(l))   # (M, X)
        if direction == "forward":
            with np.errstate(invalid="ignore"):      # p_t = 0 where lt = -inf
                integrand = np.where(p_t > 0, p_t * (lt - lq), 0.0)
        else:
            integrand = np.exp(lq) * (lq - lt)
        out[i] = np.trapezoid(integrand, x, axis=1)
    return out
