"""LaTeX and Markdown rendering of derived expressions and derivations.

Indexed symbols print with joined subscripts (``m_{kd}``, ``s^{2}_{kd}``), summation dummies
are renamed to the plate's own index letter (primed if taken), constant factors are pulled
out of sums, and E_q[...] prints as ``\\mathbb{E}_{q}\\left[...\\right]``.  With
``pretty=True`` :func:`latex` prints the proved textbook form of :mod:`.typeset` (norms, inner
products, collected constants); the printer itself only chooses a layout: one sum sign per
plate with a plain subscript, factors as people write them (``\\phi_{ik} \\log \\phi_{ik}``),
a positive term first in a bracket (``x - \\mu``), ``\\log 2\\pi\\sigma^{2}`` without brackets
and the letters of the symbol table (:mod:`.typeset.symbols`).  Rendering never changes the
value of an expression.
"""
from __future__ import annotations

import re

import sympy as sp
from sympy import Idx, Indexed, Sum
from sympy.printing.latex import LatexPrinter

from .model import LATEX_NAMES, default_latex, plate_of
from .typeset import display_name, typeset
from .typeset.proof import free_indices

__all__ = ["latex", "latex_rows", "pack_rows", "visual_width", "raw_latex", "tidy", "markdown", "VILatexPrinter"]


def _name_latex(name, textbook=True):
    if name in LATEX_NAMES:
        return display_name(name) if textbook else LATEX_NAMES[name]
    if "_" in name:
        base, sub = name.split("_", 1)
        if sub.isdigit():
            return f"{base}_{{{sub}}}"
    return default_latex(name) if name.isidentifier() else name


class VILatexPrinter(LatexPrinter):
    def _print_Indexed(self, expr):
        base = _name_latex(str(expr.base.label), self.textbook)
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
        return _name_latex(str(expr.label), self.textbook)

    def _print_polygamma(self, expr, exp=None):
        n, x = expr.args
        arg = r"\left(" + self._print(x) + r"\right)"
        if n == 0:
            s = r"\psi" + arg
        elif n.is_Integer and 1 <= n <= 3:     # trigamma and the next two as primes of psi
            s = r"\psi" + "'" * int(n) + arg
        else:
            s = r"\psi^{(" + self._print(n) + r")}" + arg
        return s if exp is None else r"\left(" + s + r"\right)^{" + str(exp) + "}"

    def _print_loggamma(self, expr, exp=None):
        s = r"\log\Gamma\left(" + self._print(expr.args[0]) + r"\right)"
        return s if exp is None else rf"\left({s}\right)^{{{exp}}}"

    def __init__(self, settings=None, textbook=True):
        super().__init__(settings)
        self.textbook = textbook   # False: the engine's raw layout (kept for the length benchmark)

    def _print_Sum(self, expr):
        if self.textbook and all(_full_plate(l) for l in expr.limits):   # one sign per plate, plain subscript
            signs = "".join(r"\sum_{" + self._print(l[0]) + "} " for l in reversed(expr.limits))
            f, minus = expr.function, ""
            if _all_negative(f):                       # sum (-a - b) printed - sum (a + b)
                f, minus = -f, "- "
            body = self._print(f)
            if isinstance(f, sp.Add):
                body = r"\left(" + body + r"\right)"
            elif body.startswith("- "):              # sum (-c a) printed - sum c a
                body, minus = body[2:], ("" if minus else "- ")
            return minus + signs + body
        # plate indices run over 0..size-1 internally (NumPy positions); the book writes 1..size
        lims, mapping = [], {}
        for v, lo, hi in expr.limits:
            if isinstance(v, Idx):
                mapping[v] = sp.Symbol(str(v.label), integer=True)
                v, lo, hi = mapping[v], lo + 1, hi + 1
            lims.append((v, lo, hi))
        return super()._print_Sum(Sum(expr.function.xreplace(mapping), *lims))

    def _print_log(self, expr, exp=None):
        if not self.textbook:
            return super()._print_log(expr, exp)
        a = expr.args[0]
        s = self._print(a)
        s = r"\log " + s if _bare_log_arg(a) else r"\log\left(" + s + r"\right)"
        return s if exp is None else r"\left(" + s + r"\right)^{" + exp + "}"

    def _print_exp(self, expr, exp=None):
        a = expr.args[0]
        if not self.textbook or isinstance(a, (sp.Symbol, Indexed)) or a.is_Number:
            return self._print_ExpBase(expr, exp)
        s = r"\exp\left(" + self._print(a) + r"\right)"
        return s if exp is None else r"\left(" + s + r"\right)^{" + exp + "}"

    def _needs_mul_brackets(self, expr, first=False, last=False) -> bool:
        """A factor after the first whose LaTeX starts with a minus sign is bracketed: ``a (-b)``,
        never ``a - b`` (which would read as a difference)."""
        if super()._needs_mul_brackets(expr, first=first, last=last):
            return True
        return not first and self._print(expr).lstrip().startswith("-")

    def _print_Mul(self, expr):
        c, rest = expr.as_coeff_Mul()
        factors = sp.Mul.make_args(rest)
        flips = [f for f in factors if isinstance(f, Sum) and f.function.could_extract_minus_sign()]
        if self.textbook and flips:   # a sum (-b) printed - a sum b: the sign leads the product
            new = [Sum(-f.function, *f.limits) if f in flips else f for f in factors]
            return self._print(sp.Mul((-1) ** len(flips) * c, *new, evaluate=False))
        ordered = sorted(expr.func(*factors).as_ordered_factors() if len(factors) > 1 else factors,
                         key=_factor_rank)
        if not self.textbook:
            return super()._print_Mul(expr)
        negs = [f for f in ordered if _all_negative(f)]
        if negs:   # c (-a - b) printed - c (a + b)
            flipped = [(-f if f in negs else f) for f in ordered]
            sign = (-1) ** len(negs) * c
            body = self._print(sp.Mul(abs(sign), *flipped, evaluate=False)) if abs(sign) != 1 or len(flipped) > 1 \
                else self._print(flipped[0])
            if len(flipped) == 1 and abs(sign) == 1 and isinstance(flipped[0], sp.Add):
                body = r"\left(" + body + r"\right)"
            return ("- " if sign < 0 else "") + body
        if len(ordered) == 1 and c.is_Rational and not c.is_Integer and isinstance(ordered[0], sp.log):
            return self._print(c) + " " + self._print(ordered[0])   # (1/2) log a, not log(a)/2
        if len(ordered) < 2:
            return super()._print_Mul(expr)
        num, den = sp.fraction(expr)
        if isinstance(num, sp.Add) and den != 1 and not den.atoms(Sum):   # (a + b) / c as one fraction
            return r"\frac{" + self._print(num) + "}{" + self._print(den) + "}"
        coef = [f for f in ordered if _factor_rank(f) <= 1 and not f.atoms(Indexed)]
        rest = [f for f in ordered if f not in coef]
        if c != 1:
            coef.insert(0, c)
        if coef and rest and any(isinstance(n, (Sum, sp.log)) or getattr(n, "is_form", False) for f in rest
                                 for n in sp.preorder_traversal(f)) and sp.fraction(sp.Mul(*coef))[1] != 1 \
                and not any(isinstance(f, sp.Pow) and f.exp.is_negative for f in rest):
            # (1/2 sigma^2) sum_k ..., not (sum_k ...) / (2 sigma^2)
            body = sp.Mul(*rest, evaluate=False) if len(rest) > 1 else rest[0]
            body_tex = self._print(body)
            if isinstance(body, sp.Add):
                body_tex = r"\left(" + body_tex + r"\right)"
            return self._print(sp.Mul(*coef)) + " " + body_tex
        new = sp.Mul(*([c] if c != 1 else []), *ordered, evaluate=False)
        saved = self._settings["order"]
        self._settings["order"] = "none"
        try:
            return super()._print_Mul(new)
        finally:
            self._settings["order"] = saved

    def _print_Add(self, expr, order=None):
        if not self.textbook:
            return super()._print_Add(expr, order)
        (sign, first), *rest = self.signed_terms(expr, order)
        return ("- " if sign == "-" else "") + first + "".join(f" {s} {t}" for s, t in rest)

    def doprint(self, expr):
        self._root = expr
        return super().doprint(expr)

    def signed_terms(self, expr, order=None):
        """[(sign, LaTeX)] of the terms of a sum in display order: more plates first, constants
        last; inside brackets a positive term first (x - mu, 1 - rho^2)."""
        terms = sorted(self._as_ordered_terms(expr, order=order), key=_term_rank)
        if expr is not getattr(self, "_root", None):
            lead = next((n for n, t in enumerate(terms) if not t.could_extract_minus_sign()), 0)
            terms.insert(0, terms.pop(lead))
        out = []
        for term in terms:
            sign = "+"
            if term.could_extract_minus_sign():
                sign, term = "-", -term
            term_tex = self._print(term)
            if self._needs_add_brackets(term):
                term_tex = r"\left(" + term_tex + r"\right)"
            if term_tex.startswith("- "):   # an unevaluated product printed with its sign
                sign, term_tex = ("+" if sign == "-" else "-"), term_tex[2:]
            out.append((sign, term_tex))
        return out

    def _print_Idx(self, expr):
        return self._print_Symbol(expr.label)

    def _print_Symbol(self, expr, style="plain"):
        name = expr.name
        if name in LATEX_NAMES:
            return display_name(name) if self.textbook else LATEX_NAMES[name]
        if "'" in name or "\\" in name or "(" in name:
            return name
        return super()._print_Symbol(expr)


def _full_plate(limit):
    v, lo, hi = limit
    if not isinstance(v, Idx) or lo != v.lower or hi != v.upper:
        return False
    try:
        plate_of(v)
    except ValueError:
        return False
    return True


def _all_negative(f):
    """A sum every term of which carries a minus sign."""
    return isinstance(f, sp.Add) and all(t.could_extract_minus_sign() for t in f.args)


def _bare_log_arg(a):
    """log a is printed without brackets when a is a product of symbols, numbers and powers."""
    for f in sp.Mul.make_args(a):
        if isinstance(f, sp.Pow):
            if not (f.exp.is_Integer and f.exp > 0) or not isinstance(f.base, (sp.Symbol, Indexed)):
                return False
        elif not (isinstance(f, (sp.Symbol, Indexed)) or f.is_Integer and f > 0 or f is sp.pi):
            return False
    return True


def _factor_rank(f):
    """Order of the factors of a product: numbers, quantities, brackets, functions, squares, sums."""
    if f.is_Number:
        return 0
    base = f.base if isinstance(f, sp.Pow) else f
    if isinstance(base, (sp.Symbol, Indexed)) or base is sp.pi:
        return 1
    if isinstance(base, Sum):
        return 4
    if isinstance(base, sp.Add):
        return 1.5 if base is f else 3.5   # (a - b) log x; a squared bracket at the end
    return 2


def _term_rank(t):
    """Order of the terms of a sum: more plates first, terms without plated quantities last."""
    idx = set()
    for node in sp.preorder_traversal(t):
        if isinstance(node, Sum):
            idx |= {l[0] for l in node.limits}
        elif isinstance(node, Indexed):
            idx |= {i for i in node.indices if isinstance(i, Idx)}
        elif getattr(node, "is_form", False):
            idx |= {a for a in node.args if isinstance(a, Idx)}
    return (not idx, -len(idx))


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


def rename_indices(expr, taken=()):
    """Summation dummies renamed to readable plate letters (primed if taken)."""
    expr = sp.sympify(expr)
    return _rename(expr, set(taken) | {str(s) for s in free_indices(expr)})


def tidy(expr, taken=()):
    """Rename summation dummies to readable plate letters and pull constants out of sums."""
    return rename_indices(expr, taken).replace(lambda e: isinstance(e, Sum), _pull_constants)


def _names(expr):
    return {s.name if isinstance(s, sp.Symbol) else str(s) for s in expr.free_symbols if isinstance(s, (Idx, sp.Symbol))}


def _rename(expr, taken):
    if isinstance(expr, Sum):
        taken = set(taken) | {str(s) for s in free_indices(expr)}
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
            inner_free = {str(s) for s in free_indices(expr.function)} - {str(v)}
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
_RAW_PRINTER = VILatexPrinter({"long_frac_ratio": 2}, textbook=False)


def latex(expr, pretty=True, model=None, given=()):
    """LaTeX of any expression, Eq or derivation object (``pretty``: the proved textbook form of
    :func:`vi_derivations.typeset.typeset`, else the expression as it is), with the letters of
    ``model`` (default: the model in use, see :data:`vi_derivations.model.LATEX_NAMES`);
    ``given``: the other assignments of the update ``expr`` belongs to (a matrix one of them
    defines is printed by its symbol: ``m = S (...)``)."""
    if model is not None:
        with model.letters():
            return latex(expr, pretty=pretty, given=given)
    if hasattr(expr, "latex") and not isinstance(expr, sp.Basic):
        return expr.latex()
    expr = sp.sympify(expr)
    if not pretty:
        return _doprint(expr)
    ts = typeset(expr, given=tuple(given))
    try:
        return _doprint(ts.display)
    except Exception:   # noqa: BLE001 - a display form the printer cannot lay out: the raw form
        return _doprint(ts.tidy)


def _doprint(expr):
    if isinstance(expr, sp.Eq):
        return _eq_latex(expr.lhs, expr.rhs)
    return _PRINTER.doprint(expr)


def _eq_latex(lhs, rhs):
    """lhs = rhs; an element-wise matrix update V_{jl} = [M^-1]_{jl} prints as V = M^-1 (a batched
    one W_{kde} = [M_k^-1]_{de} as W_k = M_k^-1)."""
    forms = [f for f in sp.Mul.make_args(rhs) if hasattr(f, "matrix_latex")]
    c, form = (rhs / forms[0], forms[0]) if len(forms) == 1 else (None, None)
    if isinstance(lhs, Indexed) and form is not None:
        ei = tuple(form.element_indices)
        batch = lhs.indices[:len(lhs.indices) - len(ei)]
        if tuple(lhs.indices[len(batch):]) == ei and not (c.free_symbols & set(ei)):
            head = "" if c == 1 else _PRINTER.doprint(c) + " "
            name = _PRINTER.doprint(sp.Indexed(lhs.base, *batch)) if batch else _name_latex(str(lhs.base.label))
            return name + " = " + head + form.matrix_latex(_PRINTER)
    return _PRINTER.doprint(lhs) + " = " + _PRINTER.doprint(rhs)


def visual_width(tex):
    """A rough count of the characters a LaTeX string occupies when typeset."""
    tex = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", lambda g: max(g.groups(), key=len), tex)
    tex = re.sub(r"\\(left|right|Big)\W?", "", tex)
    tex = re.sub(r"\\[a-zA-Z]+", "x", tex)
    return len(re.sub(r"[{}^_ ]", "", tex))


def latex_rows(expr, budget=30, given=()):
    """The typeset LaTeX of ``expr`` broken between its terms into rows of about ``budget``
    typeset characters (an expectation E_q[...] is opened up), for a display that must not
    overflow a narrow column."""
    expr = typeset(sp.sympify(expr), given=tuple(given)).display
    if isinstance(expr, sp.Eq):
        return [_eq_latex(expr.lhs, expr.rhs)]
    if type(expr).__name__ == "Expect" and len(expr.args) == 1:
        rows = latex_rows(expr.args[0], budget)
        rows[0] = r"\mathbb{E}_{q}\Big[" + rows[0]
        rows[-1] += r"\Big]"
        return rows
    _PRINTER._root = expr
    pieces = _PRINTER.signed_terms(expr) if isinstance(expr, sp.Add) else [("+", _PRINTER.doprint(expr))]
    (sign, first), *rest = pieces
    return pack_rows([("- " if sign == "-" else "") + first] + [f" {s} {t}" for s, t in rest], budget)


def pack_rows(pieces, budget=30):
    """Consecutive LaTeX pieces (``"a"``, ``" - b"``, ``" + c"``) packed into rows of at most
    ``budget`` typeset characters (a piece wider than that has a row of its own)."""
    rows, row = [], ""
    for piece in pieces:
        if row and visual_width(row + piece) > budget:
            rows.append(row)
            row = piece
        else:
            row += piece
    rows.append(row)
    return rows


def raw_latex(expr):
    """The engine's own layout of ``expr`` (tidied, no typesetting): the baseline of the
    typesetting benchmark."""
    expr = sp.sympify(expr)
    if isinstance(expr, sp.Eq):
        free = {str(s) for s in expr.free_symbols if isinstance(s, Idx)}
        return _RAW_PRINTER.doprint(tidy(expr.lhs, free)) + " = " + _RAW_PRINTER.doprint(tidy(expr.rhs, free))
    return _RAW_PRINTER.doprint(tidy(expr))


def markdown(obj):
    """Markdown (text plus $$...$$ display math) of a derivation, chain or expression."""
    if hasattr(obj, "markdown"):
        return obj.markdown()
    return "$$" + latex(obj) + "$$"
