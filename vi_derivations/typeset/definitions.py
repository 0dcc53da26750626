"""Displays that use the symbol another assignment defines: ``m = S (...)`` where the update also
assigns ``S = (...)^-1``.

A *definition* is an assignment ``V[b..., j, l] = MatrixInverse(A, r, c, j, l)`` (a named matrix
equal to an inverse), or ``y = e`` with ``e`` a statistic of the data (it holds a plate sum:
``beta_k = beta0 + sum_i phi_ik``).  :func:`use_definitions` writes every inverse of the same
matrix ``A`` as an element of ``V`` and every occurrence of ``e`` as ``y``;
:func:`expand_definitions` puts them back, so that :mod:`.proof` checks the display against the
engine's expression *under* the definitions.
"""
from __future__ import annotations

import sympy as sp
from sympy import Indexed, Sum

from ..distributions import MatrixInverse

__all__ = ["definitions", "use_definitions", "expand_definitions"]


def definitions(eqs):
    """The definitions among assignments ``eqs``: tuples (symbol, lhs indices, right side)."""
    out = []
    for eq in eqs:
        lhs, rhs = eq.lhs, eq.rhs
        if isinstance(lhs, Indexed) and isinstance(rhs, MatrixInverse) and len(lhs.indices) >= 2 \
                and tuple(rhs.args[3:]) == tuple(lhs.indices[-2:]):
            out.append((lhs.base, tuple(lhs.indices), rhs))
        elif isinstance(lhs, (Indexed, sp.Symbol)) and rhs.has(Sum) and not rhs.has(MatrixInverse):
            out.append((lhs.base if isinstance(lhs, Indexed) else lhs,
                        tuple(lhs.indices) if isinstance(lhs, Indexed) else (), rhs))
    return tuple(out)


def _matrix_key(inv):
    """The inverted matrix with its own row/column dummies replaced by fixed symbols."""
    expr, r, c = inv.args[:3]
    return expr.xreplace({r: _ROW, c: _COL})


_ROW, _COL = sp.Symbol("__row__"), sp.Symbol("__col__")


def use_definitions(expr, defs):
    """Every inverse in ``expr`` of a matrix some definition inverts, as that definition's element."""
    if not defs:
        return expr
    table = {_matrix_key(inv): (base, idx) for base, idx, inv in defs if isinstance(inv, MatrixInverse)}

    def sub(inv):
        hit = table.get(_matrix_key(inv))
        if hit is None:
            return inv
        base, idx = hit
        return base[tuple(idx[:-2]) + tuple(inv.args[3:])]
    expr = expr.replace(lambda e: isinstance(e, MatrixInverse), sub) if table else expr
    values = {rhs: (base[idx] if idx else base) for base, idx, rhs in defs if not isinstance(rhs, MatrixInverse)}
    if not values:
        return expr
    expr = expr.xreplace(values)
    for base, idx, rhs in defs:      # y = N / beta (beta defined too): N, at any index of y's range, is beta y
        if isinstance(rhs, MatrixInverse):
            continue
        rhs = rhs.xreplace({r: v for r, v in values.items() if r != rhs})
        adds = [f for f in sp.Mul.make_args(rhs) if isinstance(f, sp.Add) and f.has(Sum)]
        if len(adds) != 1 or rhs == adds[0]:
            continue
        num, scale = adds[0], rhs / adds[0]
        lhs = base[idx] if idx else base
        for sub_ in _index_maps(expr, idx):
            expr = expr.xreplace({num.xreplace(sub_): lhs.xreplace(sub_) / scale.xreplace(sub_)})
    return expr


def _index_maps(expr, idx):
    """Renamings of the last index of ``idx`` to every index of ``expr`` over the same range."""
    maps = [{}]
    if idx:
        last = idx[-1]
        maps += [{last: i} for i in expr.atoms(sp.Idx) if i != last and (i.lower, i.upper) == (last.lower, last.upper)]
    return maps


def expand_definitions(expr, defs):
    """Every element of a defined matrix replaced by the inverse that defines it."""
    if not defs:
        return expr
    table = {base: (idx, rhs) for base, idx, rhs in defs}

    def sub(e):
        idx, rhs = table[e.base]
        if not isinstance(rhs, MatrixInverse):
            return rhs.xreplace(dict(zip(idx, e.indices)))
        expr_, r, c, j, l = rhs.args
        batch = dict(zip(idx[:-2], e.indices[:-2]))
        return MatrixInverse(expr_.xreplace(batch), r, c, *e.indices[-2:])
    expr = expr.replace(lambda e: isinstance(e, Indexed) and e.base in table, sub)
    plain = {base: rhs for base, idx, rhs in defs if not idx}
    return expr.xreplace(plain) if plain else expr
