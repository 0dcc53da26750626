"""Algebraic rewrites of a sum of terms into the shape a textbook prints (never trusted alone:
:mod:`.proof` checks every display against the engine's expression).

* terms with an equal coefficient written ``c (a + b)``; terms sharing a psi / log Gamma / log
  factor collected (``(a - b) psi(g)``); factors common to every term taken out;
* squares completed (``a u^2 - 2a u v + a v^2 -> a (u - v)^2``) and terms over one symbolic
  denominator written as one fraction when that completes a square;
* logarithms with coefficients equal up to sign merged (``-(DK/2)(log 2 + log pi + log sigma^2)
  -> -(DK/2) log 2 pi sigma^2``, ``(1/2) log a - (1/2) log b -> (1/2) log(a/b)``) when every
  argument is known to be positive; ``log(1/a) -> -log a``;
* a denominator with more negative than positive terms changes sign (``-1/(rho^2-1) -> 1/(1-rho^2)``).
"""
from __future__ import annotations

from collections import defaultdict

import sympy as sp
from sympy import Indexed

__all__ = ["complete_squares", "over_common_denominator", "merge_logs", "positive_denominators", "group_signed",
           "collect_constants"]


def _name(e):
    return str(e.base.label) if isinstance(e, Indexed) else str(e)


def _expand(e):
    """Products and powers of sums multiplied out; logarithms left whole."""
    return sp.expand(e, log=False, power_exp=False, power_base=False)


def _grouped(pairs):
    """sum of coeff * form, terms with an equal coefficient (not +-1) written c (a + b)."""
    by_c = defaultdict(list)
    for c, f in pairs:
        by_c[c].append(f)
    out = []
    for c, fs in by_c.items():
        if len(fs) > 1 and c not in (1, -1):
            out.append(sp.Mul(c, sp.Add(*fs), evaluate=False))
        else:
            out += [c * f for f in fs]
    return sp.Add(*out)


def _atom(e):
    return isinstance(e, (Indexed, sp.Symbol)) or getattr(e, "is_form", False)


def complete_squares(add):
    """a u^2 - 2a u v + a v^2 + rest -> a (u - v)^2 + rest, for scalar quantities u, v."""
    if not isinstance(add, sp.Add):
        return add
    sq, cross = {}, {}
    for t in add.args:
        c, f = t.as_coeff_Mul()
        fs = sp.Mul.make_args(f)
        if isinstance(f, sp.Pow) and f.exp == 2 and _atom(f.base):
            sq[f.base] = (c, t)
        elif len(fs) == 2 and all(_atom(g) for g in fs):
            cross[tuple(sorted(fs, key=_name))] = (c, t)
    out, drop = [], set()
    for (u, v), (b, tb) in cross.items():
        if u in sq and v in sq and sq[u][1] not in drop and sq[v][1] not in drop:
            a = sq[u][0]
            if sq[v][0] == a and b == -2 * a:
                first, second = sorted((u, v), key=_name, reverse=True)
                out.append(a * (first - second) ** 2)
                drop |= {sq[u][1], sq[v][1], tb}
    if not out:
        return add
    return sp.Add(*out, *[t for t in add.args if t not in drop])


def over_common_denominator(add, require_square=False):
    """Terms sharing a symbolic denominator written (a + b + ...)/den, squares completed
    (``require_square``: only where a square is completed)."""
    if not isinstance(add, sp.Add):
        return add
    groups, keep = defaultdict(list), []
    for t in add.args:
        den = sp.fraction(t)[1].as_coeff_Mul()[1]
        (keep.append(t) if den == 1 else groups[den].append(t))
    changed = False
    for den, ts in groups.items():
        if len(ts) < 2:
            keep += ts
            continue
        expanded = _expand(sp.Add(*[t * den for t in ts]))
        num = complete_squares(expanded)
        if require_square and num == expanded:
            keep += ts
            continue
        c, prim = num.primitive() if isinstance(num, sp.Add) else (sp.S.One, num)
        if all(t.could_extract_minus_sign() for t in sp.Add.make_args(prim)):
            c, prim = -c, -prim
        keep.append(sp.Mul(c, prim, sp.Pow(den, -1), evaluate=False) if c != 1 else sp.Mul(prim, sp.Pow(den, -1), evaluate=False))
        changed = True
    return sp.Add(*keep) if changed else add


def _collect_functions(add):
    """a psi(g) - b psi(g) -> (a - b) psi(g): terms sharing their psi / log Gamma / log / E_q factors."""
    if not isinstance(add, sp.Add):
        return add
    groups, plain = defaultdict(list), []
    for t in add.args:
        fs = [g for g in sp.Mul.make_args(t) if isinstance(g, _function_types())]
        (groups[sp.Mul(*fs)].append(t / sp.Mul(*fs)) if fs else plain.append(t))
    if all(len(v) < 2 for v in groups.values()):
        return add
    out = plain + [(sp.factor_terms(sp.Add(*v)) if len(v) > 1 else v[0]) * f for f, v in groups.items()]
    return sp.Add(*out)


def _function_types():
    """Factors whose coefficients are collected: psi, log Gamma, log, their multivariate forms, E_q[.],
    log-determinants."""
    from ..distributions import LogDet
    from ..expectation import Expect
    from ..wishart import MvDigamma, MvLogGamma
    return (sp.polygamma, sp.loggamma, sp.log, MvDigamma, MvLogGamma, Expect, LogDet)


def group_signed(add):
    """Terms whose symbolic coefficients are equal up to sign written once:
    (a - b) psi(u) + (b - a) psi(v) -> (a - b)(psi(u) - psi(v)); and terms sharing a numeric
    coefficient up to sign (not 1) inside one bracket: c/2 + d/2 - e/2 -> (1/2)(c + d - e)."""
    if not isinstance(add, sp.Add):
        return add
    fn = _function_types()
    by_c, rest = defaultdict(list), []
    for t in add.args:
        fs = [g for g in sp.Mul.make_args(t) if isinstance(g, fn)]
        c = sp.Mul(*[g for g in sp.Mul.make_args(t) if not isinstance(g, fn)])
        if fs and isinstance(c, sp.Add):
            sign = -1 if c.could_extract_minus_sign() else 1
            by_c[sign * c].append(sign * sp.Mul(*fs))
        else:
            rest.append(t)
    out = []
    for c, fs in by_c.items():
        (out.append(sp.Mul(c, sp.Add(*fs), evaluate=False)) if len(fs) > 1 else rest.append(c * fs[0]))
    by_n, plain = defaultdict(list), []
    for t in rest:
        n, f = sp.factor_terms(t).as_coeff_Mul()     # (nu0/2 - nu_k/2) psi_D -> 1/2 (nu0 - nu_k) psi_D
        (by_n[abs(n)].append((sp.sign(n) * f, t)) if n.is_Rational and abs(n) != 1 else plain.append(t))
    for n, fs in by_n.items():
        if len(fs) > 2:
            out.append(sp.Mul(n, sp.Add(*[f for f, _ in fs]), evaluate=False))
        else:
            plain.extend(t for _, t in fs)           # too few to bracket: the terms as they were
    if not out:
        return add
    return sp.Add(*plain, *out)


def _common_factor(add):
    """a x + a y -> a (x + y) for the non-numeric factors a shared by every term."""
    add = _collect_functions(add)
    if not isinstance(add, sp.Add):
        return add
    common = None
    for t in add.args:
        fs = {g for g in sp.Mul.make_args(t) if not g.is_Number}
        common = fs if common is None else common & fs
    if not common:
        return over_common_denominator(add, require_square=True)
    c = sp.Mul(*common)
    inner = over_common_denominator(sp.Add(*[t / c for t in add.args]), require_square=True)
    if isinstance(inner, sp.Add):
        n, prim = inner.primitive()
        if all(abs(t.as_coeff_Mul()[0]) == 1 for t in prim.args):   # -(1/2 sigma^2)(a + b)
            c, inner = c * n, prim
    return sp.Mul(c, inner, evaluate=False)


def merge_logs(add):
    """Logarithms with coefficients equal up to sign merged into one log (positive arguments only)."""
    if not isinstance(add, sp.Add):
        return add
    groups, keep = defaultdict(list), []
    for t in add.args:
        logs = [g for g in sp.Mul.make_args(t) if isinstance(g, sp.log)]
        if len(logs) != 1 or not logs[0].args[0].is_positive:
            keep.append(t)
            continue
        coeff = t / logs[0]
        sign = -1 if coeff.could_extract_minus_sign() else 1
        groups[sign * coeff].append((sign, logs[0].args[0]))
    if all(len(items) == 1 for items in groups.values()):
        return add    # unchanged (rebuilding would distribute an unevaluated c (a + b) above)
    out = list(keep)
    for coeff, items in groups.items():
        if len(items) == 1:
            s, a = items[0]
            out.append(s * coeff * sp.log(a))
            continue
        arg = sp.Mul(*[a ** s for s, a in items])
        if arg.could_extract_minus_sign() or (arg.as_numer_denom()[0] == 1 and arg != 1):
            out.append(-coeff * sp.log(1 / arg))
        else:
            out.append(coeff * sp.log(arg))
    return sp.Add(*out)


def positive_denominators(e):
    """c / (a - 1) with a mostly-negative denominator written -c / (1 - a)."""
    def flip(m):
        for g in m.args:
            if isinstance(g, sp.Pow) and isinstance(g.base, sp.Add) and g.exp.is_Integer and g.exp < 0:
                neg = sum(1 for t in g.base.args if t.could_extract_minus_sign())
                const = [t for t in g.base.args if t.is_Number]
                pos = len(g.base.args) - neg
                if neg > pos or (neg == pos and const and const[0] < 0):
                    others = [h for h in m.args if h is not g]
                    sign = (-1) ** int(-g.exp)
                    return sp.Mul(sign, *others) * sp.Pow(_expand(-g.base), g.exp)
        return m
    return e.replace(lambda x: isinstance(x, sp.Mul), flip)


def _group_args(f):
    """Inside exp/log: terms with an equal coefficient written c (a + b)."""
    a = f.args[0]
    if not isinstance(a, sp.Add):
        return f
    return f.func(_grouped([t.as_coeff_Mul() for t in a.args]), evaluate=False)


def _log_of_inverse(f):
    a = f.args[0]
    if isinstance(a, sp.Pow) and a.exp == -1 and a.base.is_positive:
        return -sp.log(a.base)
    return f


def collect_constants(add):
    """Constant terms (no plated quantity) sharing a symbol factor written once, when that prints
    shorter: -(DK/2) nu0 log 2 - (nu0 K/2) log|W0| - K log Gamma_D(nu0/2) -> K (...)."""
    for _ in range(3):                       # greedy: the shortest collection, then again on the result
        out = _collect_constants_once(add)
        if out is add:
            return add
        add = out
    return add


def _collect_constants_once(add):
    from .sums import _printed
    if not isinstance(add, sp.Add):
        return add
    consts = [t for t in add.args if not t.atoms(Indexed, sp.Sum)]
    counts = defaultdict(list)
    for t in consts:
        for g in sp.Mul.make_args(t):
            base = g.base if isinstance(g, sp.Pow) and g.exp.is_Integer and g.exp > 0 else g
            if isinstance(base, sp.Symbol) and t not in counts[base]:
                counts[base].append(t)
    best = add
    for sym, ts in sorted(counts.items(), key=lambda kv: (-len(kv[1]), str(kv[0]))):
        if len(ts) < 3:
            continue
        inner = group_signed(sp.Add(*[sp.expand(t / sym, log=False, power_exp=False) for t in ts]))
        cand = sp.Add(*[t for t in add.args if t not in ts], sp.Mul(sym, inner, evaluate=False))
        if _printed(cand) < _printed(best):
            best = cand
    return best
