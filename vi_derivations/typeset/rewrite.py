"""Rewrites of an engine expression into the shape a textbook prints (never trusted alone:
:mod:`.proof` checks every result against the engine's expression).

* plate sums: the body is expanded, the sum over a *vector index* (an index that is the last
  index of every quantity it appears in) is written with squared norms, inner products and
  completed squares (``sum_d (x_id^2 - 2 x_id mu_kd + mu_kd^2) -> ||x_i - mu_k||^2``), the
  terms are grouped by their factor over the remaining plates, and constants leave the sum;
* logarithms with the same coefficient are merged (``-(DK/2)(log 2 + log pi + log sigma^2)
  -> -(DK/2) log 2 pi sigma^2``, ``(1/2) log a - (1/2) log b -> (1/2) log(a/b)``) when every
  argument is known to be positive;
* a denominator with more negative than positive terms changes sign (``-1/(rho^2-1) -> 1/(1-rho^2)``).
"""
from __future__ import annotations

from collections import defaultdict

import sympy as sp
from sympy import Idx, Indexed, Sum

from ..model import plate_of
from .forms import Inner, QuadForm, SqNorm, is_vector_entry

__all__ = ["rewrite", "regroup_sum", "merge_logs", "positive_denominators"]


def _full_plate(limit):
    v, lo, hi = limit
    if not isinstance(v, Idx):
        return False
    try:
        plate_of(v)
    except ValueError:
        return False
    return lo == v.lower and hi == v.upper


def _name(e):
    return str(e.base.label) if isinstance(e, Indexed) else str(e)


def _entries(f):
    """The plated factors of a monomial (x^2 -> [x, x]), or None if it has anything else."""
    out = []
    for g in sp.Mul.make_args(f):
        if isinstance(g, Indexed) or (type(g).__name__ == "Expect" and len(g.args) == 1
                                      and isinstance(g.args[0], Indexed)):   # E_q[mu_kd] is an entry too
            out.append(g)
        elif isinstance(g, sp.Pow) and isinstance(g.base, Indexed) and g.exp.is_Integer and g.exp > 0:
            out += [g.base] * int(g.exp)
        else:
            return None
    return out


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


def _vector_sum(poly, d):
    """sum_d poly, with poly a polynomial in entries carrying the vector index d."""
    size = d.upper - d.lower + 1
    sq, inner, other = (defaultdict(lambda: sp.S.Zero) for _ in range(3))
    for t in sp.Add.make_args(_expand(poly)):
        c = sp.Mul(*[g for g in sp.Mul.make_args(t) if d not in g.free_symbols])
        f = sp.Mul(*[g for g in sp.Mul.make_args(t) if d in g.free_symbols])
        ents = _entries(f) if f != 1 else None
        if ents is not None and len(ents) == 2 and ents[0] == ents[1]:
            sq[ents[0]] += c
        elif ents is not None and len(ents) == 2:
            inner[tuple(sorted(ents, key=_name))] += c
        else:
            other[f] += c
    pairs = []
    for (u, v), b in list(inner.items()):
        a = sq.get(u)
        if a is not None and a != 0 and sq.get(v) == a and sp.expand(b + 2 * a) == 0:  # a(u - v)^2
            first, second = sorted((u, v), key=_name, reverse=True)
            pairs.append((a, SqNorm(first - second, d)))
            sq[u] = sq[v] = sp.S.Zero
            del inner[(u, v)]
    pairs += [(b, Inner(u, v, d)) for (u, v), b in inner.items() if b != 0]
    pairs += [(a, SqNorm(u, d)) for u, a in sq.items() if a != 0]
    for f, c in other.items():
        if c != 0 and f == 1:   # a constant: only its number joins the coefficient groups
            n, rest = c.as_coeff_Mul()
            pairs.append((n, rest * size))
        elif c != 0:
            pairs.append((c, Sum(f, (d, d.lower, d.upper))))
    return _grouped(pairs)


def _vector_index(terms, idxs):
    """An index that is the last index of every quantity it appears in, with at most two entries
    per term and nothing else but expectations (so that each term is a norm, an inner product or
    a plain sum)."""
    for d in reversed(idxs):
        ok = True
        for t in terms:
            dep = [g for g in sp.Mul.make_args(t) if d in g.free_symbols]
            ents = _entries(sp.Mul(*dep))
            expect_only = all(_entries(g) is not None or type(g).__name__ == "Expect" for g in dep)
            if dep and (not expect_only or (ents is not None and len(ents) > 2)
                        or not all(is_vector_entry(g, d) for g in dep)):
                ok = False
                break
        if ok and any(d in t.free_symbols for t in terms):
            return d
    return None


def _index_rank(idx, body):
    """Position of ``idx`` in the quantities of ``body`` with the most indices, then its mean
    position: the outer plates first (sum_i sum_k c_ik, sum_d sum_n sum_k phi_dnk)."""
    having = [e for e in body.atoms(Indexed) if idx in e.indices]
    if not having:
        return (0, 0.0)
    longest = max(len(e.indices) for e in having)
    pos = [e.indices.index(idx) for e in having]
    return (max(e.indices.index(idx) for e in having if len(e.indices) == longest), sum(pos) / len(pos))


def _factors(m):
    """The factors of a product, nested unevaluated products flattened (nothing re-evaluated)."""
    if not isinstance(m, sp.Mul):
        return [m]
    return [f for a in m.args for f in _factors(a)]


def _sum_of(body, limits):
    """Sum(body, *limits) with the factors that do not depend on the summed indices in front."""
    if not limits:
        return body
    idx = {l[0] for l in limits}
    # innermost limit first (SymPy's convention): the index that comes last in x_{ikd} innermost
    limits = sorted(limits, key=lambda l: _index_rank(l[0], body), reverse=True)
    out_c, inner = [], []
    for g in _factors(body):
        (inner if g.free_symbols & idx else out_c).append(g)
    if not inner:
        return body * sp.Mul(*[l[2] - l[1] + 1 for l in limits])
    inner = sp.Mul(*inner)
    if isinstance(inner, sp.Add) and all(t.could_extract_minus_sign() for t in inner.args):
        out_c, inner = out_c + [-1], -inner          # -sum (a + b), not sum (-a - b)
    return sp.Mul(*out_c) * Sum(inner, *limits)


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
    """a psi(g) - b psi(g) -> (a - b) psi(g): terms sharing their psi / log Gamma / log factors."""
    if not isinstance(add, sp.Add):
        return add
    groups, plain = defaultdict(list), []
    for t in add.args:
        fs = [g for g in sp.Mul.make_args(t) if isinstance(g, (sp.polygamma, sp.loggamma, sp.log))]
        (groups[sp.Mul(*fs)].append(t / sp.Mul(*fs)) if fs else plain.append(t))
    if all(len(v) < 2 for v in groups.values()):
        return add
    out = plain + [(sp.factor_terms(sp.Add(*v)) if len(v) > 1 else v[0]) * f for f, v in groups.items()]
    return sp.Add(*out)


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


def _scalar_body(body):
    """Body of a sum with no vector index: numeric content out, common denominators."""
    body = _collect_functions(_expand(body))
    if not isinstance(body, sp.Add):
        return body
    c, prim = body.primitive()
    prim = over_common_denominator(prim)
    if any(abs(t.as_coeff_Mul()[0]) != 1 for t in sp.Add.make_args(prim)):   # keep 1/2 inside: no 2 (...)
        c, prim = sp.S.One, over_common_denominator(body)
    return sp.Mul(c, prim, evaluate=False) if c != 1 else prim


def merge_plate_sums(add):
    """An Add whose plated terms all sum over the same single plate becomes one sum over it
    (constants that are a number times the plate size go inside as that number)."""
    if not isinstance(add, sp.Add):
        return add
    sums, consts = [], []
    for t in add.args:
        c, rest = t.as_independent(Sum, as_Add=False)
        if isinstance(rest, Sum) and len(rest.limits) == 1 and _full_plate(rest.limits[0]) \
                and not (c.free_symbols & {rest.limits[0][0]}):
            sums.append((c, rest))
        elif not t.atoms(Indexed):
            consts.append(t)
        else:
            return add
    if len(sums) < 2:
        return add
    plates = {plate_of(s.limits[0][0]) for _, s in sums}
    if len(plates) != 1:
        return add
    (v, lo, hi) = sums[0][1].limits[0]
    size = hi - lo + 1
    body = [c * s.function.xreplace({s.limits[0][0]: v}) for c, s in sums]
    outside = []
    for t in consts:
        q = sp.simplify(t / size)
        (body.append(q) if q.is_Number else outside.append(t))
    return sp.Add(*outside, Sum(_scalar_body(sp.Add(*body)), (v, lo, hi)))


def _quadratic_forms(terms, limits):
    """sum_j sum_j' u_j M_jj' u_j' -> u^T M u and sum_j sum_j' u_j a_j u_j' a_j' -> (u^T a)^2, for
    two indices j, j' over one plate that every term uses as the last index of its quantities."""
    pairs = [(a[0], b[0]) for n, a in enumerate(limits) for b in limits[n + 1:]
             if plate_of(a[0]) is plate_of(b[0])]
    if len(pairs) != 1:
        return None
    j, l = pairs[0]
    outer = [lim for lim in limits if lim[0] not in (j, l)]
    out = []
    for t in terms:
        fs = sp.Mul.make_args(t)
        c = sp.Mul(*[g for g in fs if not ({j, l} & g.free_symbols)])
        at_j = [g for g in fs if isinstance(g, Indexed) and g.indices[-1] == j and l not in g.free_symbols
                and j not in g.indices[:-1]]
        at_l = [g for g in fs if isinstance(g, Indexed) and g.indices[-1] == l and j not in g.free_symbols
                and l not in g.indices[:-1]]
        mats = [g for g in fs if isinstance(g, Indexed) and set(g.indices[-2:]) == {j, l}]
        if len(at_j) + len(at_l) + len(mats) + len(sp.Mul.make_args(c)) != len(fs) + (c == 1):
            return None
        sub = {j: l, l: j}
        if len(mats) == 1 and len(at_j) == len(at_l) == 1 and at_j[0].xreplace(sub) == at_l[0]:
            m = mats[0]
            mat = m if m.indices[-2:] == (j, l) else m.xreplace(sub)   # element (j, l) of M
            out.append(c * QuadForm(at_j[0], mat, j, l))
        elif not mats and len(at_j) == len(at_l) == 2 and {g.xreplace(sub) for g in at_j} == set(at_l):
            u, v = sorted(at_j, key=_name)
            out.append(c * Inner(u, v, j) ** 2)
        else:
            return None
    body = sp.Add(*out)
    return _sum_of(_common_factor(body), outer) if outer else body


_REGROUPED: dict = {}


def _plates_key(s):
    return tuple(sorted(plate_of(l[0]).name for l in s.limits))


def cancel_plate_sums(add):
    """Sums over the same plates merged when their terms cancel or combine (the merged body
    has fewer terms than the parts): Sum(K psi - K alpha psi) + Sum(-K psi - log G) -> one sum."""
    if not isinstance(add, sp.Add):
        return add
    groups, keep = defaultdict(list), []
    for t in add.args:
        c, rest = t.as_independent(Sum, as_Add=False)
        if isinstance(rest, Sum) and all(_full_plate(l) for l in rest.limits) \
                and not (c.free_symbols & {l[0] for l in rest.limits}) \
                and len({plate_of(l[0]) for l in rest.limits}) == len(rest.limits):
            groups[_plates_key(rest)].append((c, rest, t))
        else:
            keep.append(t)
    changed = False
    for parts in groups.values():
        if len(parts) < 2:
            keep += [t for _, _, t in parts]
            continue
        lims = parts[0][1].limits
        by_plate = {plate_of(l[0]): l for l in lims}
        bodies = []
        for c, s, _ in parts:
            ren = {l[0]: by_plate[plate_of(l[0])][0] for l in s.limits}
            bodies.append(c * s.function.xreplace(ren))
        before = sum(len(sp.Add.make_args(_expand(b))) for b in bodies)
        merged = _expand(sp.Add(*bodies))
        if len(sp.Add.make_args(merged)) < before:
            keep.append(Sum(merged, *lims))
            changed = True
        else:
            keep += [t for _, _, t in parts]
    return sp.Add(*keep) if changed else add


def regroup_sum(s):
    """A plate sum in textbook form (vector index as norms / inner products, grouped terms);
    memoised, as the same sums recur in every chain of a model."""
    if s not in _REGROUPED:
        if len(_REGROUPED) > 50_000:
            _REGROUPED.clear()
        _REGROUPED[s] = _regroup_sum(s)
    return _REGROUPED[s]


def _regroup_sum(s):
    if not all(_full_plate(l) for l in s.limits):
        return s
    idxs = [l[0] for l in s.limits]
    terms = sp.Add.make_args(_expand(s.function))
    quad = _quadratic_forms(terms, s.limits)
    if quad is not None:
        return quad
    d = _vector_index(terms, idxs)
    if d is None:
        body = _scalar_body(s.function) if len(s.limits) == 1 else _common_factor(sp.Add(*terms))
        return _sum_of(body, list(s.limits))
    outer_idx = set(idxs) - {d}
    groups = defaultdict(list)
    for t in terms:   # grouped by the factor over the other plates; constants go inside
        rest = sp.Mul(*[g for g in sp.Mul.make_args(t) if g.free_symbols & outer_idx and d not in g.free_symbols])
        groups[rest].append(t / rest)
    outer = [l for l in s.limits if l[0] != d]
    parts = []
    for rest, items in groups.items():
        parts.append((rest, _vector_sum(sp.Add(*items), d)))
    if len(parts) == 1:
        rest, inner = parts[0]
        c, core = inner.as_coeff_Mul() if not isinstance(inner, sp.Add) else (sp.S.One, inner)
        return c * _sum_of(sp.Mul(rest, core, evaluate=False) if rest != 1 else core, outer)
    return _sum_of(sp.Add(*[r * i for r, i in parts]), outer)


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


def rewrite(expr):
    """The textbook form of ``expr`` (unproved: see :func:`vi_derivations.typeset.typeset`)."""
    from .matrix import matrix_forms
    e = matrix_forms(expr)
    e = merge_plate_sums(e)
    e = cancel_plate_sums(e)
    e = e.replace(lambda x: isinstance(x, Sum), regroup_sum)
    e = e.replace(lambda x: isinstance(x, sp.Add), merge_logs)
    e = e.replace(lambda x: isinstance(x, sp.log), _log_of_inverse)
    e = e.replace(lambda x: isinstance(x, sp.exp), _group_args)
    e = e.replace(lambda x: isinstance(x, sp.Add), lambda a: over_common_denominator(a, require_square=True))
    return positive_denominators(e)
