"""Typesetting layer: the engine's expressions in the shape a textbook prints, each proved equal.

:func:`typeset` returns a :class:`Typeset`: the display expression (norms, inner products,
collected constants, grouped plate sums; see :mod:`.rewrite` and :mod:`.forms`) when
:mod:`.proof` shows it equal to the engine's expression at random points on concrete plate
sizes, else the engine's own (tidied) expression.  Results are cached per expression.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy import Idx

from .forms import Inner, SqNorm, unfold
from .proof import evaluate_at, proved_equal
from .rewrite import rewrite
from .symbols import RESERVED, display_name, symbol_table

__all__ = ["Typeset", "typeset", "unfold", "SqNorm", "Inner", "proved_equal", "evaluate_at",
           "symbol_table", "display_name", "RESERVED", "cache_clear"]


@dataclass(frozen=True)
class Typeset:
    raw: sp.Basic         # the engine's expression
    tidy: sp.Basic        # the raw form as displayed before this layer (renamed dummies)
    display: sp.Basic     # what is printed: the rewritten form if proved, else ``tidy``
    rewritten: bool       # a rewrite was attempted (differs from ``tidy``)
    proved: bool          # the rewrite was proved equal to ``raw`` (display is the rewrite)


_CACHE: dict = {}
_REWRITE = {"fn": rewrite}   # the rewrite under proof (tests swap in a corrupted one)


def cache_clear():
    _CACHE.clear()


def _free_idx(expr):
    return {str(s) for s in expr.free_symbols if isinstance(s, Idx)}


def typeset(expr, taken=()):
    """The proved textbook form of ``expr`` (an expression or an ``Eq``)."""
    from ..render import tidy   # render imports this package
    expr = sp.sympify(expr)
    key = (expr, tuple(sorted(taken)), _REWRITE["fn"])
    if key in _CACHE:
        return _CACHE[key]
    if isinstance(expr, sp.Eq):
        free = set(taken) | _free_idx(expr)
        rhs = typeset(expr.rhs, tuple(sorted(free)))
        lhs = tidy(expr.lhs, free)
        out = Typeset(expr, sp.Eq(lhs, rhs.tidy, evaluate=False), sp.Eq(lhs, rhs.display, evaluate=False),
                      rhs.rewritten, rhs.proved)
    else:
        t = tidy(expr, taken)
        try:
            d = _REWRITE["fn"](t)
        except (TypeError, ValueError, AttributeError):  # a shape the rewrites do not know
            d = t
        rewritten = d != t
        ok = rewritten and proved_equal(unfold(d), expr)
        out = Typeset(expr, t, d if ok else t, rewritten, ok)
    _CACHE[key] = out
    return out
