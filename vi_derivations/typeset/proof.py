"""Equality of a typeset display and the engine's expression, checked at random points.

Both expressions are evaluated with plain floats on concrete plate sizes (each size symbol
drawn in 2..3): every plated quantity gets a pseudo-random value per element (positive symbols in
[0.3, 1.7], real ones in [-1.5, 1.5]; one value for X[.., a, b] and X[.., b, a] only when X is
declared symmetric, :class:`vi_derivations.model.SymmetricBase`), free plate indices a random position, sums are
iterated, ``MatrixInverse`` is inverted with NumPy and any other unevaluated function
(``Expect``, ``LogDet``) is an opaque random value of its evaluated arguments (``Expect``
goes through a fixed nonlinear map, so moving a term across an expectation is caught).
Two displays are *proved equal* when they agree to 1e-9 relative at every trial.  An outer
function (or non-integer power) both share is peeled first: f(a) = f(b) when a = b, so a point
where the argument of a shared ``sqrt`` is negative does not hide an equal display.
"""
from __future__ import annotations

import math
import zlib

import numpy as np
import sympy as sp
from sympy import Idx, Indexed, Sum

from ..distributions import MatrixInverse

__all__ = ["evaluate_at", "proved_equal", "Point", "free_indices"]

_TOL = 1e-9


class Point:
    """One random assignment: plate sizes, element values, free-index positions.  Every value is
    a hash of (seed, what it is for), so it does not depend on the order of evaluation and
    sums can be memoised across expressions."""

    def __init__(self, seed):
        self.seed = seed

    def uniform(self, key):
        return zlib.crc32(repr((self.seed, key)).encode()) / 2.0 ** 32

    def size(self, sym):
        return 2 + int(2 * self.uniform(("size", sym.name)))

    def position(self, idx, upper):
        return int((upper + 1) * self.uniform(("free", str(idx.label))))

    def value(self, key, positive):
        u = self.uniform(key)
        return 0.3 + 1.4 * u if positive else -1.5 + 3.0 * u


def _is_size(sym):
    return sym.is_integer and sym.is_positive


_FREE: dict = {}
_MEMO: dict = {}


def free_indices(e):
    """Plate indices free in ``e`` (memoised; SymPy's free_symbols is slow on sums)."""
    r = _FREE.get(e)
    if r is None:
        if isinstance(e, Idx):
            r = frozenset([e])
        elif isinstance(e, Sum):
            r = free_indices(e.function).union(*[free_indices(x) for l in e.limits for x in l[1:]]) \
                - {l[0] for l in e.limits}
        elif isinstance(e, MatrixInverse):
            expr, a, b, j, l = e.args
            r = (free_indices(expr) - {a, b}) | free_indices(j) | free_indices(l)
        elif not e.args:
            r = frozenset()
        else:
            r = frozenset().union(*[free_indices(a) for a in e.args])
        if len(_FREE) > 500_000:
            _FREE.clear()
        _FREE[e] = r
    return r


class _Eval:
    def __init__(self, point):
        self.p = point

    def num(self, e, env):
        """Float value of ``e`` with plate indices bound by ``env``."""
        if e.is_Number:
            return float(e)
        if e is sp.pi:
            return math.pi
        if e is sp.E:
            return math.e
        if isinstance(e, Idx):
            if e in env:
                return env[e]
            # a free index: one random position per point, shared by both sides
            return self.p.position(e, int(self.num(e.upper, env)))
        if isinstance(e, sp.Symbol):
            if e in env:
                return env[e]
            if _is_size(e):
                return self.p.size(e)
            return self.p.value(e.name, bool(e.is_positive))
        if isinstance(e, sp.IndexedBase):   # a whole array (LogDet(V)): one opaque value
            return self.p.value(("array", str(e.label)), True)
        if isinstance(e, Indexed):
            pos = tuple(int(round(self.num(i, env))) for i in e.indices)
            if getattr(e.base, "symmetric", False):   # declared symmetric: X[..., a, b] = X[..., b, a]
                pos = pos[:-2] + tuple(sorted(pos[-2:]))
            return self.p.value((str(e.base.label), pos), bool(e.base.label.is_positive))
        if isinstance(e, sp.Add):
            return math.fsum(self.num(a, env) for a in e.args)
        if isinstance(e, sp.Mul):
            out = 1.0
            for a in e.args:
                out *= self.num(a, env)
            return out
        if isinstance(e, sp.Pow):
            b, x = self.num(e.base, env), self.num(e.exp, env)
            out = b ** x
            if isinstance(out, complex):
                raise ValueError(f"complex power {e}")
            return out
        if isinstance(e, (Sum, MatrixInverse)):
            key = (self.p.seed, e, tuple(sorted((str(i), env[i]) for i in free_indices(e) if i in env)))
            if key not in _MEMO:
                if len(_MEMO) > 200_000:
                    _MEMO.clear()
                _MEMO[key] = (self._sum(e.function, list(e.limits), env) if isinstance(e, Sum)
                              else self._inverse(e, env))
            return _MEMO[key]
        if isinstance(e, sp.KroneckerDelta):
            return float(round(self.num(e.args[0], env)) == round(self.num(e.args[1], env)))
        if hasattr(e, "unfold"):
            return self.num(e.unfold(), env)
        if isinstance(e, sp.Function) and type(e).__name__ == "Expect":
            v = self.num(e.args[0], env)
            tag = (sum(map(ord, str(e.args[1]))) % 97) / 97 if len(e.args) > 1 else 0.0
            return math.sin(1.3 * v + tag) + 0.25 * v * v
        if isinstance(e, sp.Function):
            args = [self.num(a, env) for a in e.args]
            try:
                return float(e.func(*[sp.Float(a, 30) for a in args]).evalf(20))
            except (TypeError, ValueError):  # an opaque function of its evaluated arguments
                return self.p.value((type(e).__name__, tuple(round(a, 12) for a in args)), True)
        raise TypeError(f"cannot evaluate {type(e).__name__}: {e}")

    def _sum(self, body, limits, env):
        if not limits:
            return self.num(body, env)
        (v, lo, hi), rest = limits[0], limits[1:]
        lo_v, hi_v = int(round(self.num(lo, env))), int(round(self.num(hi, env)))
        total = []
        for n in range(lo_v, hi_v + 1):
            env2 = dict(env)
            env2[v] = n
            total.append(self._sum(body, rest, env2))
        return math.fsum(total)

    def _inverse(self, e, env):
        expr, a, b, j, l = e.args
        size = int(round(self.num(a.upper, env))) + 1
        mat = np.array([[self.num(expr, {**env, a: r, b: c}) for c in range(size)] for r in range(size)])
        return float(np.linalg.inv(mat)[int(round(self.num(j, env))), int(round(self.num(l, env)))])


def evaluate_at(expr, seed, env=None):
    """Value of ``expr`` at the random point ``seed`` (deterministic in the seed)."""
    return _Eval(Point(seed)).num(sp.sympify(expr), dict(env or {}))


def peel(display, raw):
    """Strip an outer function (or non-integer power) ``display`` and ``raw`` share."""
    while True:
        if isinstance(display, sp.Pow) and isinstance(raw, sp.Pow) and display.exp == raw.exp \
                and not display.exp.is_Integer:
            display, raw = display.base, raw.base
        elif isinstance(display, sp.Function) and type(display) is type(raw) and len(display.args) == 1 \
                and not getattr(display, "is_form", False):
            display, raw = display.args[0], raw.args[0]
        else:
            return display, raw


def proved_equal(display, raw, trials=2, seed=0):
    """True when ``display`` and ``raw`` agree at ``trials`` random points (same sizes, values
    and free-index positions for both; a shared outer function peeled, see :func:`peel`); any
    evaluation error or non-finite value is False."""
    display, raw = peel(sp.sympify(display), sp.sympify(raw))
    for t in range(trials):
        ev = _Eval(Point(seed * 1000 + t))
        try:
            a = ev.num(raw, {})
            b = ev.num(display, {})  # same point: sizes, values and free-index positions
            if isinstance(a, complex) or isinstance(b, complex):
                return False
        except (TypeError, ValueError, ZeroDivisionError, OverflowError, np.linalg.LinAlgError):
            return False
        if not (math.isfinite(a) and math.isfinite(b)):
            return False
        if abs(a - b) > _TOL * (1.0 + abs(a) + abs(b)):
            return False
    return True
