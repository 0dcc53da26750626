"""LaTeX and Markdown rendering of derived expressions and derivations.

Indexed symbols print with joined subscripts (``m_{kd}``, ``s^{2}_{kd}``, ``\\pi_{ik}``),
summation dummies are renamed to the plate's own index letter (primed if taken), constant
factors are pulled out of sums, and E_q[...] prints as ``\\mathbb{E}_{q}\\left[...\\right]``.
Rendering never changes the value of an expression (``tidy`` is a renaming of bound indices
plus ``factor_terms``-style extraction of constants).
"""
from __future__ import annotations

import sympy as sp
from sympy import Idx, Indexed, Sum
from sympy.printing.latex import LatexPrinter

from .model import LATEX_NAMES, default_latex, plate_of

__all__ = ["latex", "tidy", "markdown", "VILatexPrinter"]


def _name_latex(name):
    if name in LATEX_NAMES:
        return LATEX_NAMES[name]
    if "_" in name:
        base, sub = name.split("_", 1)
        if sub.isdigit():
            return f"{base}_{{{sub}}}"
    return default_latex(name) if name.isidentifier() else name


class VILatexPrinter(LatexPrinter):
    def _print_Indexed(self, expr):
        base = _name_latex(str(expr.base.label))
        idx = [self._print(i) for i in expr.indices]
        sep = "" if all(len(i.replace("'", "")) == 1 for i in idx) else ","
        if "_" in base and not base.endswith("}"):
            base = "{" + base + "}"
        if "_{" in base:
            base = "{" + base + "}"
        return f"{base}_{{{sep.join(idx)}}}"

    def _print_Pow(self, expr):
        # a base with its own superscript (s^{2}_{kd}, sigma^{2}) is grouped so the power stays valid LaTeX
        b = expr.base
        if isinstance(b, Indexed) and expr.exp.is_Integer and expr.exp > 1:
            tex = self._print(b)
            if "^" in tex:
                return r"\left(" + tex + r"\right)^{" + self._print(expr.exp) + "}"
        return super()._print_Pow(expr)

    def _print_IndexedBase(self, expr):
        return _name_latex(str(expr.label))

    def _print_polygamma(self, expr, exp=None):
        n, x = expr.args
        if n == 0:
            s = r"\psi\left(" + self._print(x) + r"\right)"
            return s if exp is None else f"{s}^{{{exp}}}"
        return super()._print_polygamma(expr, exp)

    def _print_loggamma(self, expr, exp=None):
        s = r"\log\Gamma\left(" + self._print(expr.args[0]) + r"\right)"
        return s if exp is None else rf"\left({s}\right)^{{{exp}}}"

    def _print_Sum(self, expr):
        # plate indices run over 0..size-1 internally (NumPy positions); the book writes 1..size
        lims, mapping = [], {}
        for v, lo, hi in expr.limits:
            if isinstance(v, Idx):
                mapping[v] = sp.Symbol(str(v.label), integer=True)
                v, lo, hi = mapping[v], lo + 1, hi + 1
            lims.append((v, lo, hi))
        return super()._print_Sum(Sum(expr.function.xreplace(mapping), *lims))

    def _print_Idx(self, expr):
        return self._print_Symbol(expr.label)

    def _print_Symbol(self, expr, style="plain"):
        name = expr.name
        if name in LATEX_NAMES:
            return LATEX_NAMES[name]
        if "'" in name or "\\" in name or "(" in name:
            return name
        return super()._print_Symbol(expr)


def _pull_constants(e):
    if isinstance(e, Sum):
        idx = {l[0] for l in e.limits}
        body = sp.factor_terms(e.function)
        c, rest = [], []
        for g in sp.Mul.make_args(body):
            (rest if (g.free_symbols & idx) else c).append(g)
        if c and rest:
            return sp.Mul(*c) * Sum(sp.Mul(*rest), *e.limits)
    return e


def tidy(expr, taken=()):
    """Rename summation dummies to readable plate letters and pull constants out of sums."""
    expr = sp.sympify(expr)
    expr = _rename(expr, set(taken) | {str(s) for s in expr.free_symbols if isinstance(s, Idx)})
    return expr.replace(lambda e: isinstance(e, Sum), _pull_constants)


def _names(expr):
    return {s.name if isinstance(s, sp.Symbol) else str(s) for s in expr.free_symbols if isinstance(s, (Idx, sp.Symbol))}


def _rename(expr, taken):
    if isinstance(expr, Sum):
        taken = set(taken) | {str(s) for s in expr.free_symbols if isinstance(s, Idx)}
        mapping = {}
        new_limits = []
        for lim in expr.limits:
            v = lim[0]
            try:
                p = plate_of(v)
            except ValueError:
                new_limits.append(lim)
                taken.add(str(v))
                continue
            inner_free = {str(s) for s in expr.function.free_symbols if isinstance(s, Idx)} - {str(v)}
            cand = [p.index_name, p.index_name + "'", p.index_name + "''", p.index_name + "'''"]
            cand += [f"{p.index_name}_{n}" for n in range(2, 50)]
            for c in cand:
                if c not in taken and c not in inner_free and c not in {str(x) for x in mapping.values()}:
                    break
            nv = p.make_index(c)
            mapping[v] = nv
            taken.add(c)
            new_limits.append((nv, lim[1], lim[2]))
        body = expr.function.xreplace(mapping)
        body = _rename(body, taken)
        return Sum(body, *new_limits)
    if not expr.args:
        return expr
    if isinstance(expr, (Indexed, Idx)):
        return expr
    args = [_rename(a, taken) for a in expr.args]
    return expr.func(*args) if args != list(expr.args) else expr


_PRINTER = VILatexPrinter({"long_frac_ratio": 2})


def latex(expr, pretty=True):
    """LaTeX of any expression, Eq or derivation object (``pretty``: apply :func:`tidy`)."""
    if hasattr(expr, "latex") and not isinstance(expr, sp.Basic):
        return expr.latex()
    if isinstance(expr, sp.Eq):
        l, r = expr.lhs, expr.rhs
        if pretty:
            free = {str(s) for s in expr.free_symbols if isinstance(s, Idx)}
            l, r = tidy(l, free), tidy(r, free)
        return _PRINTER.doprint(l) + " = " + _PRINTER.doprint(r)
    return _PRINTER.doprint(tidy(expr) if pretty else expr)


def markdown(obj):
    """Markdown (text plus $$...$$ display math) of a derivation, chain or expression."""
    if hasattr(obj, "markdown"):
        return obj.markdown()
    return "$$" + latex(obj) + "$$"
