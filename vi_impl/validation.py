"""Reusable input checks for the model modules of :mod:`vi_impl`.

Every check raises :class:`ValueError` whose message starts with the argument's name and
then says what was wrong, so a caller learns *which* input failed and *why*::

    X must be a 2-D array (N, D), got shape (5,)
    s2 has non-positive entries (minimum -1.0); variances must be > 0
    pi rows must sum to one (within 1e-08); row 3 sums to 0.9

The checks return the validated value converted to what the numerics need (a float64
array, a Python float or int), never a silent reinterpretation of bad input. Arrays are
converted with :func:`numpy.asarray`, so a valid float64 input is not copied.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "as_float_array",
    "check_shape",
    "check_positive_array",
    "check_probability_rows",
    "check_positive_scalar",
    "check_nonnegative_scalar",
    "check_int",
    "check_bool",
    "check_rng",
]

#: Tolerance on |sum_k pi_ik - 1| for responsibilities (rows of a categorical q).
PROB_ATOL = 1e-8


def as_float_array(name: str, value, *, ndim: int | None = None,
                   min_shape: tuple[int, ...] | None = None) -> np.ndarray:
    """``value`` as a finite float64 array of rank ``ndim``.

    Rejects: non-numeric input (strings, objects, complex), a wrong number of dimensions,
    an axis shorter than ``min_shape`` (e.g. ``(1, 1)`` for "at least one row and one
    column"), NaN and +-inf.
    """
    if isinstance(value, np.ndarray) and np.iscomplexobj(value):
        raise ValueError(f"{name} must be real-valued, got a complex array")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a real numeric array, got {type(value).__name__}"
                         f" that cannot be converted ({exc})") from None
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array, got shape {arr.shape}")
    if min_shape is not None:
        for axis, (have, need) in enumerate(zip(arr.shape, min_shape)):
            if have < need:
                raise ValueError(f"{name} must have at least {need} entries along axis {axis},"
                                 f" got shape {arr.shape}")
    if not np.isfinite(arr).all():
        n_nan = int(np.isnan(arr).sum())
        what = "NaN" if n_nan else "infinite"
        raise ValueError(f"{name} contains {what} values; all entries must be finite")
    return arr


def check_shape(name: str, arr: np.ndarray, shape: tuple, *, meaning: str = "") -> None:
    """Require ``arr.shape == shape``; ``shape`` may hold ``None`` for "any length".

    ``meaning`` names the axes for the message, e.g. ``"(K, D)"``.
    """
    ok = len(arr.shape) == len(shape) and all(
        want is None or have == want for have, want in zip(arr.shape, shape))
    if not ok:
        want = "(" + ", ".join("any" if s is None else str(s) for s in shape) + \
            ("," if len(shape) == 1 else "") + ")"
        extra = f" {meaning}" if meaning else ""
        raise ValueError(f"{name} must have shape {want}{extra}, got {arr.shape}")


def check_positive_array(name: str, arr: np.ndarray, *, what: str = "entries") -> np.ndarray:
    """Every entry strictly positive (variances, precisions, scales)."""
    if arr.size and not (arr > 0).all():
        raise ValueError(f"{name} has non-positive {what} (minimum {arr.min()!r});"
                         f" variances must be > 0")
    return arr


def check_probability_rows(name: str, arr: np.ndarray, *, atol: float = PROB_ATOL) -> np.ndarray:
    """Rows of a 2-D array are probability vectors: entries >= 0, each row sums to one."""
    if arr.size and not (arr >= 0).all():
        i, k = np.argwhere(arr < 0)[0]
        raise ValueError(f"{name} has negative probabilities (entry [{i}, {k}] = {arr[i, k]!r})")
    sums = arr.sum(axis=-1)
    bad = np.abs(sums - 1.0) > atol
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{name} rows must sum to one (within {atol:g}); row {i} sums to"
                         f" {sums[i]!r}")
    return arr


def _as_real_scalar(name: str, value) -> float:
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be a real number, got a bool")
    if isinstance(value, np.ndarray):
        if value.ndim != 0:
            raise ValueError(f"{name} must be a scalar, got an array of shape {value.shape}")
        value = value[()]
    if not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {type(value).__name__}")
    out = float(value)
    if not np.isfinite(out):
        raise ValueError(f"{name} must be finite, got {out!r}")
    return out


def check_positive_scalar(name: str, value) -> float:
    """A finite real number > 0 whose reciprocal is also finite (a variance, a precision)."""
    out = _as_real_scalar(name, value)
    if not out > 0:
        raise ValueError(f"{name} must be > 0, got {out!r}")
    if not np.isfinite(1.0 / out):
        raise ValueError(f"{name} is too small ({out!r}): its reciprocal overflows")
    return out


def check_nonnegative_scalar(name: str, value) -> float:
    """A finite real number >= 0 (a tolerance)."""
    out = _as_real_scalar(name, value)
    if out < 0:
        raise ValueError(f"{name} must be >= 0, got {out!r}")
    return out


def check_int(name: str, value, *, minimum: int = 1) -> int:
    """An integer (Python or NumPy; not bool, not float) that is ``>= minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    out = int(value)
    if out < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {out}")
    return out


def check_bool(name: str, value) -> bool:
    """A plain flag (``True``/``False``); rejects strings such as ``"no"`` that are truthy."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_rng(name: str, seed) -> np.random.Generator:
    """``None``, a non-negative integer or a :class:`numpy.random.Generator`."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"{name} must be None, a non-negative integer or a"
                         f" numpy.random.Generator, got {seed!r}")
    if seed < 0:
        raise ValueError(f"{name} must be non-negative, got {seed}")
    return np.random.default_rng(int(seed))
