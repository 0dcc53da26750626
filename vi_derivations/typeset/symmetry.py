"""X^T = X for the matrices a model declares symmetric (:class:`vi_derivations.model.SymmetricBase`).

:func:`canonical` writes every element ``X[..., a, b]`` of a declared-symmetric ``X`` with its last
two indices in one fixed order, and every element ``[A^-1]_{jl}`` of the inverse of a matrix ``A``
that is symmetric as written (its element expression, canonical too, unchanged when its row and
column dummies swap) as ``[A^-1]_{lj}`` when that is the fixed order; then ``W0^-1/2 + W0^-T/2``
is one term ``W0^-1``.  Nothing here is trusted: :mod:`.proof` draws symmetric values only for
declared-symmetric quantities, so a display that uses the symmetry of anything else fails its proof.
"""
from __future__ import annotations

import sympy as sp
from sympy import Idx, Indexed

from ..distributions import MatrixInverse
from ..model import is_symmetric, plate_of

__all__ = ["canonical", "symmetric_element", "index_order", "merge_renamed"]


def _row_first(p, q):
    """True/False when one of the indices runs over the column plate of the other's plate
    (:func:`vi_derivations.wishart.matrix_plate`): the row index goes first; None otherwise."""
    try:
        pp, pq = plate_of(p), plate_of(q)
    except ValueError:
        return None
    if getattr(pq, "rows", None) == pp:
        return True
    if getattr(pp, "rows", None) == pq:
        return False
    return None


def index_order(p, q):
    """(p, q) in the fixed order: a row-plate index before a column-plate index, else by name."""
    if isinstance(p, Idx) and isinstance(q, Idx):
        first = _row_first(p, q)
        if first is None:
            first = str(p) <= str(q)
        return (p, q) if first else (q, p)
    if p.is_Integer and q.is_Integer:
        return (p, q) if p <= q else (q, p)
    return (p, q)


def _swap_equal(expr, a, b):
    """``expr`` (an element (a, b)) is unchanged when a and b swap: the matrix is symmetric."""
    swapped = canonical(expr.xreplace({a: b, b: a}))
    return swapped == expr or sp.expand(swapped - expr) == 0


def symmetric_element(e):
    """True for an element of a matrix known symmetric: a declared-symmetric X[..., a, b], the
    inverse element of a symmetric matrix, or the expectation of either."""
    if type(e).__name__ == "Expect" and e.args:
        return symmetric_element(e.args[0])
    if isinstance(e, Indexed):
        return is_symmetric(e.base) and len(e.indices) >= 2
    if isinstance(e, MatrixInverse):
        expr, a, b = e.args[:3]
        return _swap_equal(canonical(expr), a, b)
    return False


def _indexed(e):
    if not is_symmetric(e.base) or len(e.indices) < 2:
        return e
    p, q = e.indices[-2:]
    first, second = index_order(p, q)
    return e if (first, second) == (p, q) else e.base[tuple(e.indices[:-2]) + (first, second)]


def _inverse(e):
    expr, a, b, j, l = e.args
    expr = canonical(expr)
    if _swap_equal(expr, a, b):
        j, l = index_order(j, l)
    return MatrixInverse(expr, a, b, j, l)


def _bound_key(e):
    """``e`` with the indices its plate sums bind renamed by order of appearance (same ranges)."""
    sub = {}
    for node in sp.preorder_traversal(e):
        if isinstance(node, sp.Sum):
            for lim in node.limits:
                v = lim[0]
                if isinstance(v, Idx) and v not in sub:
                    sub[v] = Idx(sp.Symbol(f"_bound{len(sub)}", integer=True), (v.lower, v.upper))
    return e.xreplace(sub) if sub else e


def merge_renamed(add):
    """Terms equal up to the names of their summed indices added up: sum_e L_de mu_e + sum_d' L_dd' mu_d'
    (the second written so by the symmetry of L) -> 2 sum_e L_de mu_e."""
    if not isinstance(add, sp.Add) or not add.has(sp.Sum):
        return add
    groups = {}
    for t in add.args:
        n, rest = t.as_coeff_Mul()
        key = _bound_key(rest) if rest.has(sp.Sum) else rest
        if key in groups:
            groups[key][0] += n
        else:
            groups[key] = [n, rest]
    if len(groups) == len(add.args):
        return add
    return sp.Add(*[n * rest for n, rest in groups.values()])


def canonical(expr):
    """``expr`` with every symmetric element in the fixed index order (see the module docstring),
    then terms that became equal up to the names of their summed indices added up."""
    expr = sp.sympify(expr)
    if not any(is_symmetric(b) for b in expr.atoms(sp.IndexedBase)) and not expr.has(MatrixInverse):
        return expr
    expr = expr.replace(lambda e: isinstance(e, Indexed), _indexed)
    expr = expr.replace(lambda e: isinstance(e, MatrixInverse), _inverse)
    return expr.replace(lambda e: isinstance(e, sp.Add), merge_renamed)
