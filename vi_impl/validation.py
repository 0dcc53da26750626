"""Input checks shared by every module of :mod:`vi_impl` (models and theory tools).

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
import os

import numpy as np

__all__ = [
    "PROB_ATOL",
    "MAX_ABS",
    "MAX_COUNT",
    "MAX_COMPONENTS",
    "as_float_array",
    "as_positive_array",
    "as_log_array",
    "LOG_MAX",
    "check_vector",
    "check_probability_vector",
    "check_probability_level",
    "check_tol",
    "check_shape",
    "check_positive_array",
    "check_probability_rows",
    "check_real",
    "check_positive_scalar",
    "check_nonnegative_scalar",
    "check_int",
    "check_bool",
    "check_rng",
    "check_callable",
    "check_returned_real",
    "check_path",
    "pick_init",
]

#: The one tolerance on |sum_k p_k - 1| for a probability vector (a row of responsibilities,
#: mixture weights, a discrete distribution).
PROB_ATOL = 1e-8

#: Largest magnitude accepted for data and parameters, and 1 / (smallest positive scale):
#: squares (1e200), divided by a variance (>= 1e-100) and summed over up to 1e8 terms, stay
#: far below float64's largest number (~1.8e308), so no update or ELBO overflows.
MAX_ABS = 1e100

#: Largest count accepted by :func:`check_int` unless a caller says otherwise (a count of
#: iterations, draws or components beyond this is a mistake, not a request).
MAX_COUNT = 10**9

#: Largest number of mixture components accepted by the fit loops.
MAX_COMPONENTS = 10**5


def as_float_array(name: str, value, *, ndim: int | None = None,
                   min_shape: tuple[int, ...] | None = None, min_size: int = 0,
                   max_abs: float | None = MAX_ABS) -> np.ndarray:
    """``value`` as a finite float64 array of rank ``ndim``.

    Rejects: non-numeric input (strings, objects, bools, complex), a wrong number of
    dimensions, an axis shorter than ``min_shape`` (e.g. ``(1, 1)`` for "at least one row and
    one column"), fewer than ``min_size`` entries, NaN and +-inf, and entries of magnitude
    above ``max_abs`` (whose squares would overflow; ``None`` lifts the limit).
    """
    if isinstance(value, (str, bytes)):
        raise ValueError(f"{name} must be a real numeric array, got a string")
    if np.iscomplexobj(value):
        raise ValueError(f"{name} must be real-valued, got a complex array")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{name} must be a real numeric array, got {type(value).__name__}"
                         f" that cannot be converted ({exc})") from None
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array, got shape {arr.shape}")
    if min_shape is not None:
        for axis, (have, need) in enumerate(zip(arr.shape, min_shape)):
            if have < need:
                raise ValueError(f"{name} must have at least {need} entries along axis {axis},"
                                 f" got shape {arr.shape}")
    if arr.size < min_size:
        raise ValueError(f"{name} must have at least {min_size} entries, got {arr.size}")
    if not np.isfinite(arr).all():
        n_nan = int(np.isnan(arr).sum())
        what = "NaN" if n_nan else "infinite"
        raise ValueError(f"{name} contains {what} values; all entries must be finite")
    if max_abs is not None and arr.size and np.abs(arr).max() > max_abs:
        raise ValueError(f"{name} has an entry of magnitude {np.abs(arr).max():.3g} > {max_abs:g};"
                         f" its square would overflow (rescale the data)")
    return arr


#: exp overflows above this (log of the largest float64)
LOG_MAX = float(np.log(np.finfo(np.float64).max))


def as_log_array(name: str, value, *, ndim: int | None = None, min_size: int = 0,
                 upper: float | None = LOG_MAX) -> np.ndarray:
    """A float array of logarithms (log densities, log weights): like :func:`as_float_array`,
    except that -inf is allowed (the log of an exact zero); NaN and +inf are refused, and so
    is any entry above ``upper`` (where exp overflows; ``None``: no limit)."""
    if isinstance(value, (str, bytes)) or np.iscomplexobj(value):
        as_float_array(name, value)                      # raises, naming the argument
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        as_float_array(name, value)                      # raises, naming the argument
        raise
    as_float_array(name, np.where(arr == -np.inf, 0.0, arr), ndim=ndim, min_size=min_size)
    if upper is not None and arr.size and arr.max() > upper:
        raise ValueError(f"{name} has an entry {arr.max():.4g} above {upper:.4g}: exp of it"
                         f" overflows")
    return arr


def as_positive_array(name: str, value, *, ndim: int | None = None) -> np.ndarray:
    """A finite, non-empty float array whose entries are all > 0 (variances, scales)."""
    return check_positive_array(name, as_float_array(name, value, ndim=ndim, min_size=1))


def check_vector(name: str, value, size: int | None = None, *, positive: bool = False,
                 min_size: int = 1, against: str = "") -> np.ndarray:
    """A finite 1-D float array of length ``size`` (any length >= ``min_size`` if None);
    with ``positive=True`` every entry must be > 0. ``against`` names where ``size`` comes
    from (another argument), for the message."""
    arr = as_float_array(name, value, ndim=1, min_size=min_size)
    if size is not None:
        check_shape(name, arr, (size,), meaning=f"to match {against}" if against else "")
    return check_positive_array(name, arr) if positive else arr


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


def _num(x) -> str:
    """A number as Python prints a float (1.2, not np.float64(1.2)) for error messages."""
    return repr(float(x))


def check_positive_array(name: str, arr: np.ndarray, *, what: str = "entries") -> np.ndarray:
    """Every entry of a validated array strictly positive, with a finite reciprocal
    (variances, precisions, scales)."""
    if arr.size and not (arr > 0).all():
        raise ValueError(f"{name} has non-positive {what} (minimum {_num(arr.min())});"
                         f" it must be > 0")
    if arr.size and arr.min() < 1.0 / MAX_ABS:
        raise ValueError(f"{name} has an entry too close to zero ({_num(arr.min())} < {1 / MAX_ABS:g});"
                         f" its reciprocal would overflow in the updates")
    return arr


def check_probability_rows(name: str, arr: np.ndarray, *, atol: float = PROB_ATOL) -> np.ndarray:
    """Rows of a validated 2-D array are probability vectors: entries >= 0, each row sums to
    one (within ``atol``); the message names the first bad row."""
    if arr.size and not (arr >= 0).all():
        i, k = np.argwhere(arr < 0)[0]
        raise ValueError(f"{name} has negative probabilities (entry [{i}, {k}] = {_num(arr[i, k])})")
    sums = arr.sum(axis=-1)
    bad = np.abs(sums - 1.0) > atol
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{name} rows must sum to one (within {atol:g}); row {i} sums to"
                         f" {_num(sums[i])}")
    return arr


def check_probability_vector(name: str, value, *, axis: int = -1,
                             atol: float = PROB_ATOL) -> np.ndarray:
    """Finite, non-negative entries that sum to one along ``axis`` (within ``atol``)."""
    arr = as_float_array(name, value, min_size=1)
    if arr.ndim == 0:
        raise ValueError(f"{name} must be an array of probabilities, got a scalar")
    if (arr < 0).any():
        raise ValueError(f"{name} has negative probabilities (minimum {_num(arr.min())})")
    sums = arr.sum(axis=axis)
    if not (np.abs(sums - 1.0) <= atol).all():
        raise ValueError(f"{name} must sum to one along axis {axis} (within {atol:g}); sums range"
                         f" {_num(np.min(sums))}..{_num(np.max(sums))}")
    return arr


def check_probability_level(name: str, value) -> float:
    """A probability strictly between 0 and 1 (for example the share of mass to capture)."""
    out = _as_real_scalar(name, value)
    if not 0.0 < out < 1.0:
        raise ValueError(f"{name} must lie strictly between 0 and 1, got {out!r}")
    return out


def _as_real_scalar(name: str, value) -> float:
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be a real number, got a bool")
    if isinstance(value, np.ndarray):
        if value.ndim != 0:
            raise ValueError(f"{name} must be a scalar, got an array of shape {value.shape}")
        value = value[()]
    if not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {type(value).__name__}")
    try:
        out = float(value)
    except OverflowError:
        raise ValueError(f"{name} is too large to be a float64, got {value!r}") from None
    if not np.isfinite(out):
        raise ValueError(f"{name} must be finite, got {out!r}")
    if abs(out) > MAX_ABS:
        raise ValueError(f"{name} has magnitude {abs(out):.3g} > {MAX_ABS:g}")
    return out


def check_real(name: str, value) -> float:
    """A finite real number (not a bool, not complex), as a Python float."""
    return _as_real_scalar(name, value)


def check_positive_scalar(name: str, value) -> float:
    """A finite real number > 0 whose reciprocal is also finite (a variance, a precision)."""
    out = _as_real_scalar(name, value)
    if not out > 0:
        raise ValueError(f"{name} must be > 0, got {out!r}")
    if out < 1.0 / MAX_ABS:
        raise ValueError(f"{name} is too small ({out!r} < {1 / MAX_ABS:g}): its reciprocal"
                         f" would overflow in the updates")
    return out


def check_nonnegative_scalar(name: str, value) -> float:
    """A finite real number >= 0."""
    out = _as_real_scalar(name, value)
    if out < 0:
        raise ValueError(f"{name} must be >= 0, got {out!r}")
    return out


def check_tol(value, name: str = "tol") -> float:
    """A stopping tolerance: a finite real number in [0, 1) (0 runs every iteration)."""
    out = check_nonnegative_scalar(name, value)
    if out >= 1:
        raise ValueError(f"{name} must be < 1 (a relative tolerance), got {out!r}")
    return out


def check_int(name: str, value, *, minimum: int = 1, maximum: int | None = MAX_COUNT) -> int:
    """An integer (Python or NumPy; not bool, and not a float such as 3.0: as in scikit-learn,
    a float where a count is expected is refused) with ``minimum <= value (<= maximum)``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    out = int(value)
    if out < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {out}")
    if maximum is not None and out > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {out}")
    return out


def check_bool(name: str, value) -> bool:
    """A plain flag (``True``/``False``); rejects strings such as ``"no"`` that are truthy."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_rng(name: str, seed, *, allow_none: bool = True) -> np.random.Generator:
    """A generator from ``seed``: ``None`` (fresh entropy; refused if ``allow_none`` is
    False), a non-negative integer, or a :class:`numpy.random.Generator` (used as it is).
    Every function of :mod:`vi_impl` that draws random numbers takes this as ``seed``."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None and allow_none:
        return np.random.default_rng()
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        what = "None, a non-negative integer" if allow_none else "a non-negative integer"
        raise ValueError(f"{name} must be {what} or a numpy.random.Generator, got {seed!r}")
    if seed < 0:
        raise ValueError(f"{name} must be non-negative, got {seed}")
    return np.random.default_rng(int(seed))


def check_callable(name: str, value, *, allow_none: bool = False):
    """A callable argument (a model's local step, a monitor); ``None`` too if ``allow_none``."""
    if value is None and allow_none:
        return None
    if not callable(value):
        raise TypeError(f"{name} must be callable, got {type(value).__name__}")
    return value


def check_returned_real(name: str, value) -> float:
    """What a callable argument ``name`` returned, as a finite Python float (a monitor's
    value, a log density): refuses arrays of more than one entry, strings, bools, complex,
    NaN and +-inf, naming the callable."""
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(())[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        shape = f" of shape {value.shape}" if isinstance(value, np.ndarray) else ""
        raise ValueError(f"{name} must return a finite real number, got "
                         f"{type(value).__name__}{shape}")
    out = float(value)
    if not np.isfinite(out):
        raise ValueError(f"{name} must return a finite real number, got {out!r}")
    return out


def check_path(name: str, value, *, exists: bool = True) -> str:
    """A file path (``str``, ``bytes`` or :class:`os.PathLike`; not a number, which ``open``
    would take for a file descriptor) as a ``str``. With ``exists`` the path must name an
    existing regular file; without it, a file to (over)write: not a directory, in a folder
    that exists."""
    if isinstance(value, bytes):
        value = os.fsdecode(value)
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path (str or os.PathLike), got "
                        f"{type(value).__name__}")
    path = os.fspath(value)
    if not isinstance(path, str):
        path = os.fsdecode(path)
    if not path:
        raise ValueError(f"{name} must be a path, got an empty string")
    if os.path.isdir(path):
        raise ValueError(f"{name} {path!r} is a directory, not a file")
    if exists and not os.path.exists(path):
        raise ValueError(f"{name} {path!r} does not exist")
    if exists and not os.path.isfile(path):
        raise ValueError(f"{name} {path!r} is not a regular file")
    if not exists and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        raise ValueError(f"{name} {path!r} is in a folder that does not exist")
    return path


def pick_init(init, old_name: str, old_value):
    """Starting values are passed as ``init`` everywhere; ``old_name`` (the keyword an older
    call site may still use) is accepted as the same argument, never both at once."""
    if old_value is None:
        return init
    if init is not None:
        raise TypeError(f"give the starting values once, as init (not also as {old_name})")
    return old_value
