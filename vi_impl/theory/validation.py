"""Small input checks shared by the theory modules (``importance_sampling``, ``theory_*``).

Every check raises ``ValueError`` whose message starts with the argument's name, so a
caller always learns *which* input was wrong and *why*.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "finite_array",
    "positive_array",
    "positive_int",
    "probability_level",
    "probability_vector",
]


def finite_array(name: str, value, *, ndim: int | None = None, min_size: int = 1) -> np.ndarray:
    """Return ``value`` as a float64 array; reject NaN/inf, a wrong rank or too few entries."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric, got {type(value).__name__}") from exc
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    if arr.size < min_size:
        raise ValueError(f"{name} must have at least {min_size} entries, got {arr.size}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def positive_array(name: str, value, *, ndim: int | None = None) -> np.ndarray:
    """Like :func:`finite_array`, and every entry must be strictly positive (variances, scales)."""
    arr = finite_array(name, value, ndim=ndim)
    if np.any(arr <= 0):
        raise ValueError(f"{name} must be strictly positive, got minimum {arr.min()!r}")
    return arr


def positive_int(name: str, value, *, minimum: int = 1) -> int:
    """Return ``value`` as an int; it must be an integer (not bool, not 2.5) and ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        else:
            raise ValueError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def probability_level(name: str, value) -> float:
    """A probability strictly between 0 and 1 (for example the share of mass to capture)."""
    try:
        level = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a number in (0, 1), got {value!r}") from exc
    if not (0.0 < level < 1.0):
        raise ValueError(f"{name} must lie strictly between 0 and 1, got {level!r}")
    return level


def probability_vector(name: str, value, *, axis: int = -1, atol: float = 1e-9) -> np.ndarray:
    """Non-negative finite entries that sum to one along ``axis``."""
    arr = finite_array(name, value)
    if np.any(arr < 0):
        raise ValueError(f"{name} has negative probabilities")
    sums = arr.sum(axis=axis)
    if not np.allclose(sums, 1.0, rtol=0.0, atol=atol):
        raise ValueError(f"{name} must sum to one along axis {axis}; sums range "
                         f"{np.min(sums)!r}..{np.max(sums)!r}")
    return arr
