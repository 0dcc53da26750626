"""Matrix forms for a full-covariance factor: ``V = (diag(a/b) + sigma^-2 X^T X)^-1``,
``m = sigma^-2 (diag(a/b) + sigma^-2 X^T X)^-1 X^T y``.

The engine writes these element-wise (``MatrixInverse(expr, a, b, j, l)``, a sum over l).  A
matrix is displayed as a linear combination of :class:`Diag` (``diag(f)``) and :class:`Gram`
(``X^T X``); :class:`InverseElement` and :class:`Solve` unfold back to ``MatrixInverse`` and
sums built from that structure (not from the engine's expression), so :mod:`.proof` checks
that the printed matrix is the engine's.
"""
from __future__ import annotations

import sympy as sp
from sympy import Indexed, KroneckerDelta, Sum

from ..distributions import MatrixInverse
from ..model import plate_of
from .forms import _Form, vector_view
from .symmetry import symmetric_element

__all__ = ["Diag", "Gram", "WGram", "XtVec", "DiagVec", "MatVec", "MatrixOf", "InverseElement", "Solve", "matrix_forms", "matrix_of"]


class Diag(sp.Function):
    """diag(f): the matrix with f (an entry with index a) on its diagonal."""
    nargs = 2
    is_form = True

    def element(self, r, c):
        f, a = self.args
        return KroneckerDelta(r, c) * f.xreplace({a: r})

    def _latex(self, printer, exp=None):
        f, a = self.args
        if a not in f.free_symbols:   # the same number on the diagonal: c I
            tex = printer._print(f)
            return (r"\left(" + tex + r"\right)" if isinstance(f, sp.Add) else tex) + " I"
        return r"\operatorname{diag}\left(" + printer._print(vector_view(f, a)) + r"\right)"


class Gram(sp.Function):
    """X^T X for an IndexedBase X over (n, column)."""
    nargs = 2
    is_form = True

    def element(self, r, c):
        X, n = self.args
        return Sum(X[n, r] * X[n, c], (n, n.lower, n.upper))

    def _latex(self, printer, exp=None):
        x = printer._print(sp.Symbol(str(self.args[0].label)))
        return x + r"^{\top} " + x


class WGram(sp.Function):
    """X^T diag(w) X for an IndexedBase X over (n, column) and a weight ``w`` (an entry with index
    n): element (r, c) is sum_n w_n X_nr X_nc."""
    nargs = 3
    is_form = True

    def element(self, r, c):
        X, w, n = self.args
        return Sum(w * X[n, r] * X[n, c], (n, n.lower, n.upper))

    def _latex(self, printer, exp=None):
        X, w, n = self.args
        x = printer._print(sp.Symbol(str(X.label)))
        return (x + r"^{\top} \operatorname{diag}\left(" + printer._print(vector_view(w, n)) + r"\right) " + x)


class XtVec(sp.Function):
    """X^T y for an IndexedBase X over (n, column) and an entry ``y`` with index n (y_n, t_n - 1/2)."""
    nargs = 3
    is_form = True

    def element(self, r):
        X, y, n = self.args
        return Sum(X[n, r] * y, (n, n.lower, n.upper))

    def _latex(self, printer, exp=None):
        X, y, n = self.args
        return printer._print(sp.Symbol(str(X.label))) + r"^{\top} " + _vec(printer, y, n)


class DiagVec(sp.Function):
    """diag(f) u: element r is f_r u_r (``f``, ``u`` entries with index a; f = 1 prints u)."""
    nargs = 3
    is_form = True

    def element(self, r):
        f, u, a = self.args
        return (f * u).xreplace({a: r})

    def _latex(self, printer, exp=None):
        f, u, a = self.args
        vec = _vec(printer, u, a)
        if f == 1:
            return vec
        return r"\operatorname{diag}\left(" + printer._print(vector_view(f, a)) + r"\right) " + vec


class MatrixOf(sp.Function):
    """The matrix whose element (a, b) is ``elem``, for the shapes a textbook names: a matrix
    M_k (an Indexed ending in a, b), an inverse A^{-1} or A^{-T}, an outer product u v^T, or a
    plate sum of outer products sum_i c_i u_i v_i^T (see :func:`matrix_of`)."""
    nargs = 3
    is_form = True

    def element(self, r, c):
        elem, a, b = self.args
        return elem.xreplace({a: r, b: c})

    def _latex(self, printer, exp=None):
        from .forms import matrix_latex
        elem, a, b = self.args
        c, elem = elem.as_independent(a, b, as_Add=False)   # a factor free of a, b goes in front
        if c != 1:
            head = printer._print(c)
            head = "-" if head == "-1" else (r"\left(" + head + r"\right)" if isinstance(c, sp.Add) else head)
            return head + " " + MatrixOf(elem, a, b)._latex(printer)
        if isinstance(elem, MatrixInverse):
            name = matrix_latex(printer, elem.args[0])
            return name + ("^{-1}" if tuple(elem.args[3:]) == (a, b) else r"^{-\top}")
        if isinstance(elem, Indexed):
            return matrix_latex(printer, elem)
        if isinstance(elem, Sum):
            lim = elem.limits
            body = MatrixOf(elem.function, a, b)
            return (r"\sum_{" + ",".join(printer._print(l[0]) for l in lim) + "} "
                    + printer._print(body))
        parts = _outer_parts(elem, a, b)
        if parts is None:
            raise ValueError(f"MatrixOf: {elem} is not an outer product")
        _, u, v = parts
        return _vec(printer, u, a) + " " + _vec(printer, v, b) + r"^{\top}"


def _vec(printer, u, a):
    tex = printer._print(vector_view(u, a))
    return r"\left(" + tex + r"\right)" if isinstance(u, sp.Add) else tex


def _outer_parts(elem, a, b):
    """elem = c * u * v with u carrying a (not b), v carrying b (not a), c neither; else None."""
    c, u, v = [], [], []
    for g in sp.Mul.make_args(elem):
        fa, fb = a in g.free_symbols, b in g.free_symbols
        if fa and fb:
            return None
        (u if fa else v if fb else c).append(g)
    if not u or not v:
        return None
    return sp.Mul(*c), sp.Mul(*u), sp.Mul(*v)


def _vector_entries(u, a):
    """True when index ``a`` occurs in ``u`` only as the last index of its quantities (inside plate
    sums too), so that dropping it reads ``u`` as a vector."""
    for node in sp.preorder_traversal(u):
        if isinstance(node, Indexed) and a in node.free_symbols \
                and (node.indices[-1] != a or a in node.indices[:-1]):
            return False
        if isinstance(node, (KroneckerDelta, MatrixInverse)) and a in node.free_symbols:
            return False
    return a in u.free_symbols


def matrix_of(elem, a, b):
    """``MatrixOf(elem, a, b)`` if the element is one of its shapes, else None."""
    if isinstance(elem, Indexed) and tuple(elem.indices[-2:]) == (b, a) and symmetric_element(elem) \
            and not ({a, b} & set(elem.indices[:-2])):    # X^T = X: element (a, b) read as X_ab (proved so)
        elem = elem.base[tuple(elem.indices[:-2]) + (a, b)]
    if isinstance(elem, Indexed) and tuple(elem.indices[-2:]) == (a, b) and not ({a, b} & set(elem.indices[:-2])):
        return MatrixOf(elem, a, b)
    if isinstance(elem, MatrixInverse) and set(elem.args[3:]) == {a, b} and isinstance(elem.args[0], Indexed) \
            and tuple(elem.args[0].indices[-2:]) == tuple(elem.args[1:3]):
        if tuple(elem.args[3:]) == (b, a) and symmetric_element(elem):     # A^-T = A^-1 for a symmetric A
            elem = MatrixInverse(*elem.args[:3], a, b)
        return MatrixOf(elem, a, b)
    if isinstance(elem, Sum) and not ({a, b} & {l[0] for l in elem.limits}):
        return MatrixOf(elem, a, b) if matrix_of(elem.function, a, b) is not None else None
    parts = _outer_parts(elem, a, b)
    if parts is not None and _vector_entries(parts[1], a) and _vector_entries(parts[2], b):
        return MatrixOf(elem, a, b)
    return None


def _element(mat, r, c):
    return mat.replace(lambda e: isinstance(e, (Diag, Gram, WGram, MatrixOf)), lambda e: e.element(r, c))


def _vec_element(vec, r):
    return vec.replace(lambda e: isinstance(e, (XtVec, DiagVec)), lambda e: e.element(r))


def _matrix_latex(printer, mat):
    return r"\left(" + printer._print(mat) + r"\right)^{-1}"


class InverseElement(_Form):
    """Element (j, l) of mat^-1."""
    nargs = 3

    def unfold(self):
        mat, j, l = self.args
        p = plate_of(j)
        r, c = p.fresh(), p.fresh()
        return MatrixInverse(_element(mat, r, c), r, c, j, l)

    @property
    def element_indices(self):
        return tuple(self.args[1:])

    def matrix_latex(self, printer):
        return _matrix_latex(printer, self.args[0])

    def _latex(self, printer, exp=None):
        mat, j, l = self.args
        return r"\left[" + self.matrix_latex(printer) + r"\right]_{" + printer._print(j) + printer._print(l) + "}"


class Solve(_Form):
    """Element j of mat^-1 vec."""
    nargs = 3

    def unfold(self):
        mat, vec, j = self.args
        p = plate_of(j)
        r, c, l = p.fresh(), p.fresh(), p.fresh()
        return Sum(MatrixInverse(_element(mat, r, c), r, c, j, l) * _vec_element(vec, l), (l, l.lower, l.upper))

    @property
    def element_indices(self):
        return (self.args[2],)

    def matrix_latex(self, printer):
        return _matrix_latex(printer, self.args[0]) + " " + _vec_sum_latex(printer, self.args[1])

    def _latex(self, printer, exp=None):
        return r"\left[" + self.matrix_latex(printer) + r"\right]_{" + printer._print(self.args[2]) + "}"


class MatVec(_Form):
    """Element j of A u: ``A`` an element (j, l) of a named matrix (S_jl), ``vec`` a combination of
    vector forms (:class:`XtVec`, :class:`DiagVec`); unfolds to sum_l A_jl u_l."""
    nargs = 4

    def unfold(self):
        a, vec, j, l = self.args
        return Sum(a * _vec_element(vec, l), (l, l.lower, l.upper))

    @property
    def element_indices(self):
        return (self.args[2],)

    def matrix_latex(self, printer):
        from .forms import matrix_latex
        return matrix_latex(printer, self.args[0]) + " " + _vec_sum_latex(printer, self.args[1])

    def _latex(self, printer, exp=None):
        return r"\left[" + self.matrix_latex(printer) + r"\right]_{" + printer._print(self.args[2]) + "}"


def _vec_sum_latex(printer, vec):
    tex = printer._print(vec)
    return r"\left(" + tex + r"\right)" if isinstance(vec, sp.Add) else tex


def _full(n):
    return (n, n.lower, n.upper)


def _as_matrix(expr, a, b):
    """expr (element (a, b) of a matrix) as a combination of Diag and Gram, or None."""
    out = []
    for t in sp.Add.make_args(sp.expand(expr)):
        c, rest = t.as_independent(KroneckerDelta, Sum, as_Add=False)
        if isinstance(rest, KroneckerDelta) and set(rest.args) == {a, b} and b not in c.free_symbols:
            out.append(Diag(c, a))
            continue
        if isinstance(rest, Sum) and len(rest.limits) == 1 and not (c.free_symbols & {a, b}) \
                and not (rest.function.as_independent(rest.limits[0][0], as_Add=False)[0].free_symbols & {a, b}):
            n = rest.limits[0][0]
            c2, body = rest.function.as_independent(n, as_Add=False)   # constants out of the sum
            c = c * c2
            f = sp.Mul.make_args(body)
            xs = [g for g in f if isinstance(g, Indexed) and len(g.indices) == 2 and g.indices[0] == n
                  and g.indices[1] in (a, b)]
            w = sp.Mul(*[g for g in f if g not in xs]) if len(xs) == 2 else None
            if len(xs) == 2 and xs[0].base == xs[1].base and {xs[0].indices[1], xs[1].indices[1]} == {a, b} \
                    and not (w.free_symbols & {a, b}) and len(f) == 2 + (w != 1):
                out.append(c * (Gram(xs[0].base, n) if w == 1 else WGram(xs[0].base, w, n)))
                continue
        return None
    return sp.Add(*out)


def _vector_term(t, l):
    """One term of a vector's element l as c X^T f (a plate sum) or c diag(f) u, or None."""
    c, rest = t.as_independent(l, as_Add=False)
    if isinstance(rest, Sum):
        if len(rest.limits) != 1:
            return None
        n = rest.limits[0][0]
        c2, body = sp.factor_terms(rest.function).as_independent(n, as_Add=False)
        xs = [g for g in sp.Mul.make_args(body) if isinstance(g, Indexed) and g.indices == (n, l)]
        if len(xs) != 1 or l in c2.free_symbols:
            return None
        f = sp.factor_terms(sp.expand(body / xs[0]))
        if l in f.free_symbols or n not in f.free_symbols:
            return None
        return c * c2 * XtVec(xs[0].base, f, n)
    fs = sp.Mul.make_args(rest)
    if not all(isinstance(g.base if isinstance(g, sp.Pow) else g, Indexed)
               and (g.base if isinstance(g, sp.Pow) else g).indices[-1] == l
               and l not in (g.base if isinstance(g, sp.Pow) else g).indices[:-1] for g in fs):
        return None
    plain = [g for g in fs if isinstance(g, Indexed)]
    if len(plain) != 1:
        return None
    return c * DiagVec(sp.Mul(*[g for g in fs if g is not plain[0]]), plain[0], l)


def _as_vector(expr, l):
    """expr (element l of a vector) as a combination of X^T f and diag(f) u, or None (plate sums
    over the same range merged first: X^T t - X^T 1/2 -> X^T (t - 1/2))."""
    out, sums = [], {}
    for t in sp.Add.make_args(expr):
        c, rest = t.as_independent(Sum, as_Add=False)
        if isinstance(rest, Sum) and len(rest.limits) == 1 and not (c.free_symbols & {rest.limits[0][0]}):
            n = rest.limits[0]
            sums.setdefault((n[0].label, n[1], n[2]), []).append((c, rest))
    terms = [t for t in sp.Add.make_args(expr) if not any(t == c * r for v in sums.values() for c, r in v)]
    for v in sums.values():
        n = v[0][1].limits[0]
        terms.append(Sum(sp.Add(*[c * r.function.xreplace({r.limits[0][0]: n[0]}) for c, r in v]), n))
    for t in terms:
        v = _vector_term(t, l)
        if v is None:
            return None
        out.append(v)
    return sp.Add(*out)


def _as_matrix_terms(expr, a, b):
    """expr (element (a, b)) as a sum of numbers times :class:`MatrixOf` terms, or None."""
    from ..distributions import _pull
    out = []
    for t in sp.Add.make_args(expr):
        n, rest = _pull(t).as_coeff_Mul()        # numbers out of plate sums, then in front
        m = matrix_of(rest, a, b)
        if m is None:
            return None
        out.append(n * m)
    return sp.Add(*out)


def _inverse(e):
    expr, a, b, j, l = e.args
    mat = _as_matrix(expr, a, b)
    if mat is None and not isinstance(expr, Indexed):   # [A^-1]_jl of a plain matrix A stays
        mat = _as_matrix_terms(expr, a, b)
    return e if mat is None else InverseElement(mat, j, l)


def _solve(s):
    """sum_l [M^-1]_jl u_l -> M^-1 u; sum_l A_jl u_l -> A u for a named matrix A."""
    if len(s.limits) != 1:
        return s
    l = s.limits[0][0]
    inv = [g for g in sp.Mul.make_args(s.function) if isinstance(g, InverseElement) and g.args[2] == l]
    mats = [g for g in sp.Mul.make_args(s.function) if isinstance(g, Indexed) and len(g.indices) >= 2
            and g.indices[-1] == l and l not in g.indices[:-1]]
    mats = [g for g in mats if _square(g, l)]
    if len(inv) + len(mats) != 1:
        return s
    head = (inv or mats)[0]
    vec = s.function / head
    if isinstance(vec, sp.Mul):   # c (u + v) -> c u + c v, plate sums left whole
        c0, rest = vec.as_independent(sp.Add, as_Add=False)
        if isinstance(rest, sp.Add):
            vec = sp.Add(*[c0 * t for t in rest.args])
    vec = _as_vector(vec, l)
    if vec is None:
        return s
    c = sp.S.One
    if not isinstance(vec, sp.Add):
        c, vec = vec.as_independent(XtVec, DiagVec, as_Add=False)
    if inv:
        return c * Solve(head.args[0], vec, head.args[1])
    return c * MatVec(head, vec, head.indices[-2], l)


def _square(g, l):
    """g's last two indices run over one range (a plate, or a plate and its column plate): a matrix."""
    from .sums import _same_range
    r = g.indices[-2]
    if isinstance(r, sp.Idx) and (r.lower, r.upper) == (l.lower, l.upper):
        return True
    try:
        return _same_range(plate_of(r), plate_of(l))
    except ValueError:
        return False


def matrix_forms(expr):
    """Element-wise inverses and solves of the engine written as matrix expressions."""
    e = expr.replace(lambda x: isinstance(x, MatrixInverse), _inverse)
    return e.replace(lambda x: isinstance(x, Sum), _solve)
