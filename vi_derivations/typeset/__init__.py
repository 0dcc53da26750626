"""Typesetting layer: the engine's expressions in the shape a textbook prints, each proved equal.

:func:`typeset` returns a :class:`Typeset`: the display expression (norms, inner products,
collected constants, grouped plate sums; see :mod:`.rewrite` and :mod:`.forms`) when
:mod:`.proof` shows it equal to the engine's expression at random points on concrete plate
sizes, else the engine's own (tidied) expression.  Results are cached per expression.
"""
from __future__ import annotations

from functools import cached_property

import sympy as sp

from .forms import Inner, QuadForm, SqNorm, unfold
from .proof import evaluate_at, free_indices, proved_equal
from .rewrite import rewrite
from .symbols import RESERVED, display_name, symbol_table

__all__ = ["Typeset", "typeset", "unfold", "SqNorm", "Inner", "QuadForm", "proved_equal", "evaluate_at",
           "symbol_table", "display_name", "RESERVED", "cache_clear"]


class Typeset:
    """raw: the engine's expression; display: what is printed (the rewritten form if proved,
    else ``tidy``); tidy: the raw form as displayed before this layer (renamed dummies, constants
    out of sums); rewritten: a rewrite differed from the raw form; proved: it was proved equal."""

    def __init__(self, raw, display, rewritten, proved, taken=()):
        self.raw, self.rewritten, self.proved, self._taken = raw, rewritten, proved, taken
        self.display = display if proved else self.tidy

    @cached_property
    def tidy(self):
        from ..render import tidy
        if isinstance(self.raw, sp.Eq):
            free = set(self._taken) | _free_idx(self.raw)
            return sp.Eq(tidy(self.raw.lhs, free), tidy(self.raw.rhs, free), evaluate=False)
        return tidy(self.raw, self._taken)


_CACHE: dict = {}
_REWRITE = {"fn": rewrite}   # the rewrite under proof (tests swap in a corrupted one)


def cache_clear():
    _CACHE.clear()


def _free_idx(expr):
    return {str(s) for s in free_indices(expr)}


def typeset(expr, taken=()):
    """The proved textbook form of ``expr`` (an expression or an ``Eq``)."""
    from ..render import rename_indices   # render imports this package
    expr = sp.sympify(expr)
    key = (expr, tuple(sorted(taken)), _REWRITE["fn"])
    if key in _CACHE:
        return _CACHE[key]
    if isinstance(expr, sp.Eq):
        free = set(taken) | _free_idx(expr)
        rhs = typeset(expr.rhs, tuple(sorted(free)))
        lhs = rename_indices(expr.lhs, free)
        out = Typeset(expr, sp.Eq(lhs, rhs.display, evaluate=False), rhs.rewritten, rhs.proved, taken)
    else:
        t = rename_indices(expr, taken)
        try:
            d = _REWRITE["fn"](t)
            rewritten = d != t
            ok = rewritten and proved_equal(unfold(d), expr)
        except Exception:   # noqa: BLE001 - whatever goes wrong, the raw form is shown, never a guess
            d, rewritten, ok = t, True, False
        out = Typeset(expr, d, rewritten, ok, taken)
    _CACHE[key] = out
    return out
