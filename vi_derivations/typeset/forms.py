"""Structured display forms: squared norms, inner products and matrix products of plated vectors.

Each form is an unevaluated SymPy function that knows its meaning as an index sum
(:meth:`unfold`) and how a textbook writes it (``_latex``).  A vector is an entry expression
with its free *vector index* ``d``: ``SqNorm(x[i,d] - mu[k,d], d)`` is
``sum_d (x_id - mu_kd)^2``, printed ``\\lVert x_{i} - \\mu_{k} \\rVert^{2}``.
"""
from __future__ import annotations

import sympy as sp
from sympy import Indexed, Sum

__all__ = ["SqNorm", "Inner", "QuadForm", "Bilinear", "Trace", "unfold", "vector_view", "is_vector_entry",
           "matrix_latex", "row_name", "merge_quadratic_forms"]


def is_vector_entry(expr, d):
    """True when every occurrence of index ``d`` in ``expr`` is the last index of an Indexed."""
    for node in sp.preorder_traversal(expr):
        if isinstance(node, Indexed):
            idx = node.indices
            if d in idx[:-1] or any(d in i.free_symbols and i != d for i in idx):
                return False
        elif isinstance(node, (sp.KroneckerDelta, Sum)) and d in node.free_symbols:
            return False
    n_idx = sum(1 for n in sp.preorder_traversal(expr) if isinstance(n, Indexed) and n.indices[-1] == d)
    return n_idx > 0 and d in expr.free_symbols


def row_name(base):
    """The letter of a row of a matrix named by one capital letter (row i of X is x_i), or None
    when that lower-case letter is taken by a quantity of the model in use."""
    from ..model import LATEX_NAMES
    name = str(base.label)
    tex = LATEX_NAMES.get(name, name)
    low = tex.lower()
    if len(tex) != 1 or not tex.isupper() or not tex.isascii() or low in LATEX_NAMES \
            or low in LATEX_NAMES.values():
        return None
    return low


def vector_view(expr, d):
    """``expr`` with the vector index ``d`` dropped from every Indexed (x[i,d] -> x[i], w[d] -> w;
    row i of a matrix X is written x_i)."""
    def drop(e):
        if isinstance(e, Indexed) and e.indices and e.indices[-1] == d:
            rest = e.indices[:-1]
            if len(rest) == 1 and row_name(e.base) is not None:
                return sp.Indexed(sp.IndexedBase(sp.Symbol(row_name(e.base))), *rest)
            return sp.Indexed(e.base, *rest) if rest else sp.Symbol(str(e.base.label))
        return e
    return expr.replace(lambda e: isinstance(e, Indexed), drop)


def _limits(d):
    return (d, d.lower, d.upper)


class _Form(sp.Function):
    is_form = True

    def unfold(self):  # pragma: no cover - every form overrides it
        raise NotImplementedError

    @property
    def free_symbols(self):
        return self.unfold().free_symbols


class SqNorm(_Form):
    """SqNorm(e, d) = sum_d e^2 = ||e||^2 (``e`` an entry with vector index ``d``)."""

    nargs = 2

    def unfold(self):
        e, d = self.args
        return Sum(e ** 2, _limits(d))

    def _latex(self, printer, exp=None):
        e, d = self.args
        return _power(r"\lVert " + printer._print(vector_view(e, d)) + r" \rVert^{2}", exp)


class Inner(_Form):
    """Inner(u, v, d) = sum_d u v = u^T v."""

    nargs = 3

    def unfold(self):
        u, v, d = self.args
        return Sum(u * v, _limits(d))

    def _latex(self, printer, exp=None):
        u, v, d = self.args
        left, right = printer._print(vector_view(u, d)), printer._print(vector_view(v, d))
        if isinstance(u, sp.Add):
            left = r"\left(" + left + r"\right)"
        if isinstance(v, sp.Add):
            right = r"\left(" + right + r"\right)"
        return _power(left + r"^{\top} " + right, exp)


class QuadForm(_Form):
    """QuadForm(u, M, j, l) = sum_j sum_l u_j M_jl u_l = u^T M u (``u`` an entry with last index
    ``j``, ``M`` one with last indices ``(j, l)``)."""

    nargs = 4

    def unfold(self):
        u, m, j, l = self.args
        return Sum(u * m * u.xreplace({j: l}), _limits(j), _limits(l))

    def _latex(self, printer, exp=None):
        u, m, j, l = self.args
        vec = _vec_latex(printer, u, j)
        return _power(vec + r"^{\top} " + matrix_latex(printer, m, j, l) + " " + vec, exp)


class Bilinear(_Form):
    """Bilinear(u, M, v, j, l) = sum_j sum_l u_j M_jl v_l = u^T M v."""

    nargs = 5

    def unfold(self):
        u, m, v, j, l = self.args
        return Sum(u * m * v, _limits(j), _limits(l))

    def _latex(self, printer, exp=None):
        u, m, v, j, l = self.args
        return _power(_vec_latex(printer, u, j) + r"^{\top} " + matrix_latex(printer, m) + " "
                      + _vec_latex(printer, v, l), exp)


class Trace(_Form):
    """Trace(A, B, j, l) = sum_j sum_l A B with A the element (j, l) of a matrix X and B the
    element (l, j) of Y: tr(X Y)."""

    nargs = 4

    def unfold(self):
        a, b, j, l = self.args
        return Sum(a * b, _limits(j), _limits(l))

    def _latex(self, printer, exp=None):
        a, b, j, l = self.args
        return _power(r"\operatorname{tr}\left(" + matrix_latex(printer, a) + " " + matrix_latex(printer, b)
                      + r"\right)", exp)


def _vec_latex(printer, u, j):
    vec = printer._print(vector_view(u, j))
    return r"\left(" + vec + r"\right)" if isinstance(u, sp.Add) else vec


def matrix_latex(printer, m, j=None, l=None):
    """The matrix an element stands for: M[k, d, e] -> M_k; an inverse element -> (...)^{-1};
    with its indices (j, l) also a sum of such matrices and outer products, (S + m m^T)."""
    from ..distributions import MatrixInverse
    if type(m).__name__ == "Expect" and len(m.args) == 1:     # E_q[Lambda_k], E_q[mu_k mu_k^T]
        inner, fs = m.args[0], sp.Mul.make_args(m.args[0])
        if isinstance(inner, (Indexed, MatrixInverse)):
            tex = matrix_latex(printer, inner)
        else:
            (u, v) = fs
            tex = (printer._print(vector_view(u, u.indices[-1])) + " "
                   + printer._print(vector_view(v, v.indices[-1])) + r"^{\top}")
        return r"\mathbb{E}_{q}\left[" + tex + r"\right]"
    if j is not None and not isinstance(m, (MatrixInverse, Indexed)):
        from .matrix import MatrixOf
        named = lambda t: not isinstance(t.as_coeff_Mul()[1], (Indexed, MatrixInverse))   # S + m m^T
        terms = [MatrixOf(t, j, l)._latex(printer) for t in sorted(sp.Add.make_args(m), key=named)]
        tex = terms[0] + "".join(" " + t if t.startswith("-") else " + " + t for t in terms[1:])
        return r"\left(" + tex + r"\right)" if len(terms) > 1 else tex
    if isinstance(m, MatrixInverse):
        expr, a, b = m.args[:3]
        if isinstance(expr, Indexed) and tuple(expr.indices[-2:]) == (a, b):
            return matrix_latex(printer, expr) + "^{-1}"
        return r"\left[" + printer._print(m) + r"\right]"
    batch = m.indices[:-2]
    return printer._print(sp.Indexed(m.base, *batch) if batch else sp.Symbol(str(m.base.label)))


def _power(tex, exp):
    return tex if exp is None else r"\left(" + tex + r"\right)^{" + exp + "}"


def unfold(expr):
    """The index-sum meaning of a display: every form replaced by its :meth:`unfold`."""
    return sp.sympify(expr).replace(lambda e: isinstance(e, _Form), lambda e: e.unfold())


def merge_quadratic_forms(add):
    """Quadratic forms of one vector added up, with (u^T v)^2 = u^T (v v^T) u:
    u^T A u + (u^T v)^2 -> u^T (A + v v^T) u (at least one term a quadratic form)."""
    if not isinstance(add, sp.Add):
        return add
    groups, keep = {}, []
    for t in add.args:
        c, f = t.as_independent(QuadForm, Inner, as_Add=False)
        if isinstance(f, QuadForm):
            u, m, j, l = f.args
        elif isinstance(f, sp.Pow) and isinstance(f.base, Inner) and f.exp == 2 and is_vector_entry(f.base.args[0], f.base.args[2]) \
                and is_vector_entry(f.base.args[1], f.base.args[2]):
            a, b, j = f.base.args
            l = sp.Dummy("l")
            groups.setdefault(str(vector_view(a, j)), []).append((t, c, a, b * b.xreplace({j: l}), j, l))
            u, m = b, a * a.xreplace({j: l})
        else:
            keep.append(t)
            continue
        groups.setdefault(str(vector_view(u, j)), []).append((t, c, u, m, j, l))
    merged, used = False, set()
    for items in groups.values():
        quads = [it for it in items if not isinstance(it[5], sp.Dummy)]
        if not quads or len({it[0] for it in items}) < 2 or any(it[0] in used for it in items):
            continue
        _, _, u0, _, j0, l0 = quads[0]
        mats = sp.factor_terms(sp.Add(*[c * m.xreplace({j: j0, l: l0}) for _, c, _, m, j, l in items]))
        c, mat = mats.as_independent(j0, l0, as_Add=False)     # -lambda (S + m m^T): the factor in front
        keep.append(c * QuadForm(u0, mat, j0, l0))
        used |= {it[0] for it in items}
        merged = True
    if not merged:
        return add
    rest = [t for items in groups.values() for t in {it[0] for it in items} if t not in used]
    return sp.Add(*keep, *rest)
