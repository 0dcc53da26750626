"""Typesetting layer: the engine's expressions in the shape a textbook prints, each proved equal.

:func:`typeset` returns a :class:`Typeset`: the display expression (norms, inner products,
collected constants, grouped plate sums; see :mod:`.rewrite` and :mod:`.forms`) when
:mod:`.proof` shows it equal to the engine's expression at random points on concrete plate
sizes, else the engine's own (tidied) expression.  Results are cached per expression.

Elements of matrices declared symmetric are put in one index order first (:mod:`.symmetry`:
``W0^-1/2 + W0^-T/2`` is ``W0^-1``); the proof draws symmetric values for those matrices only.

``given``: sibling assignments of the same update; an inverse one of them defines is displayed
with its symbol (``m = S (...)`` beside ``S = (...)^-1``) and proved under that definition
(:mod:`.definitions`).
"""
from __future__ import annotations

from functools import cached_property

import sympy as sp

from .definitions import definitions, expand_definitions, use_definitions
from .forms import Inner, QuadForm, SqNorm, unfold
from .proof import evaluate_at, free_indices, proved_equal
from .rewrite import rewrite
from .symbols import RESERVED, display_name, symbol_table
from .symmetry import canonical

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


def _proved(d, expr, defs):
    return proved_equal(expand_definitions(unfold(d), defs), expand_definitions(expr, defs))


def typeset(expr, taken=(), given=()):
    """The proved textbook form of ``expr`` (an expression or an ``Eq``); ``given``: the other
    assignments of its update (see the module's docstring)."""
    from ..render import rename_indices   # render imports this package
    expr = sp.sympify(expr)
    defs = definitions(given)
    if isinstance(expr, sp.Eq):
        defs = tuple(df for df in defs if df[0] != getattr(expr.lhs, "base", expr.lhs))
    key = (expr, tuple(sorted(taken)), _REWRITE["fn"], defs)
    if key in _CACHE:
        return _CACHE[key]
    if isinstance(expr, sp.Eq):
        free = set(taken) | _free_idx(expr)
        rhs = _typeset_rhs(expr.rhs, tuple(sorted(free)), defs)
        lhs = rename_indices(expr.lhs, free)
        out = Typeset(expr, sp.Eq(lhs, rhs.display, evaluate=False), rhs.rewritten, rhs.proved, taken)
    else:
        out = _typeset_rhs(expr, taken, defs)
    _CACHE[key] = out
    return out


def _typeset_rhs(expr, taken, defs):
    from ..render import rename_indices
    t = rename_indices(use_definitions(expr, defs), taken)
    try:
        d = _REWRITE["fn"](canonical(t))
        rewritten = d != rename_indices(expr, taken)
        ok = rewritten and _proved(d, expr, defs)
    except Exception:   # noqa: BLE001 - whatever goes wrong, the raw form is shown, never a guess
        d, rewritten, ok = t, True, False
    return Typeset(expr, d, rewritten, ok, taken)
