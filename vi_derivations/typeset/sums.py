"""Plate sums in the shape a textbook prints (checked by :mod:`.proof` like every display).

The body is expanded; the sum over a *vector index* (an index that is the last index of every
quantity it appears in) is written with squared norms, inner products and completed squares
(``sum_d (x_id^2 - 2 x_id mu_kd + mu_kd^2) -> ||x_i - mu_k||^2``); two indices over one plate
give quadratic forms (``x_n^T V x_n``); the terms are grouped by their factor over the remaining
plates; constants leave the sum; sums over the same plates are merged when terms cancel.
"""
from __future__ import annotations

from collections import defaultdict

import sympy as sp
from sympy import Idx, Indexed, Sum

from ..model import plate_of
from .algebra import _collect_functions, _common_factor, _expand, _grouped, _name, group_signed, over_common_denominator
from .forms import Bilinear, Inner, QuadForm, SqNorm, Trace, is_vector_entry
from .symmetry import symmetric_element

__all__ = ["regroup_sum", "merge_plate_sums", "cancel_plate_sums", "merge_matrix_sums", "join_plate_sums"]


def _full_plate(limit):
    v, lo, hi = limit
    if not isinstance(v, Idx):
        return False
    try:
        plate_of(v)
    except ValueError:
        return False
    return lo == v.lower and hi == v.upper


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
    adds = [g for g in inner if isinstance(g, sp.Add)]
    if len(adds) == 1 and all(t.could_extract_minus_sign() for t in adds[0].args):
        # -sum (a + b) and -sum M (a + b), not sum (-a - b) (printed "c - sum" after a coefficient c)
        out_c, inner = out_c + [-1], [-g if g is adds[0] else g for g in inner]
    inner = sp.Mul(*inner)
    return sp.Mul(*out_c) * Sum(inner, *limits)


def _scalar_body(body):
    """Body of a sum with no vector index: numeric content out, common denominators."""
    body = _collect_functions(_expand(body))
    if not isinstance(body, sp.Add):
        return body
    c, prim = body.primitive()
    prim = over_common_denominator(prim)
    if any(abs(t.as_coeff_Mul()[0]) != 1 for t in sp.Add.make_args(prim)):   # keep 1/2 inside: no 2 (...)
        c, prim = sp.S.One, over_common_denominator(body)
    prim = group_signed(prim)
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


def _same_range(p, q):
    """Two plates a matrix runs over: the same plate, or a plate and its column plate
    (:func:`vi_derivations.wishart.matrix_plate`)."""
    return p is q or getattr(q, "rows", None) == p or getattr(p, "rows", None) == q


def _is_expect(g):
    return type(g).__name__ == "Expect" and len(g.args) == 1


def _vec_entry(g):
    """The Indexed of a vector entry: x_id itself or inside E_q[mu_kd]; else None."""
    if isinstance(g, Indexed):
        return g
    if _is_expect(g) and isinstance(g.args[0], Indexed):
        return g.args[0]
    return None


def _matrix_element(g, j, l):
    """g as an element of a matrix over (j, l) in some order: an Indexed whose last two indices
    are j, l, or the inverse element [A^-1]_{jl} / [A^-1]_{lj} of a plain matrix A, or the
    expectation of one of them or of an outer product (E_q[mu_kj mu_kl]); else None."""
    from ..distributions import MatrixInverse
    if _is_expect(g):
        inner = g.args[0]
        fs = sp.Mul.make_args(inner)
        if len(fs) == 2 and all(_vec_entry(f) is f for f in fs):
            last = tuple(f.indices[-1] for f in fs)      # E_q[u u^T] only (printed without an order)
            if set(last) == {j, l} and not any({j, l} & set(f.indices[:-1]) for f in fs) \
                    and fs[0].xreplace({j: l, l: j}) == fs[1]:
                return last
            return None
        return _matrix_element(inner, j, l) if isinstance(inner, (Indexed, MatrixInverse)) else None
    if isinstance(g, Indexed) and set(g.indices[-2:]) == {j, l} and not ({j, l} & set(g.indices[:-2])):
        return tuple(g.indices[-2:])
    if isinstance(g, MatrixInverse) and set(g.args[3:]) == {j, l} and isinstance(g.args[0], Indexed) \
            and tuple(g.args[0].indices[-2:]) == tuple(g.args[1:3]):
        return tuple(g.args[3:])
    return None


def _complete_squares(out, j, l):
    """c u^T M u - c u^T M v - c v^T M u + c v^T M v -> c (u - v)^T M (u - v)."""
    quads = {(f.args[0], f.args[1]): c for c, f in out if isinstance(f, QuadForm)}
    bils = {(f.args[0], f.args[1], f.args[2]): c for c, f in out if isinstance(f, Bilinear)}
    done, extra = set(), []
    for (u, m, v), c in bils.items():
        cu, cv = quads.get((u, m)), quads.get((v.xreplace({l: j}), m))
        back = bils.get((v.xreplace({l: j}), m, u.xreplace({j: l})))
        if (u, m, v) in done or cu is None or cv is None or back is None:
            continue
        if sp.expand(cu - cv) == 0 and sp.expand(c + cu) == 0 and sp.expand(back + cu) == 0:
            vj = v.xreplace({l: j})
            done |= {(u, m, v), (vj, m, u.xreplace({j: l})), ("q", u, m), ("q", vj, m)}
            first, second = sorted((u, vj), key=_name, reverse=True)
            extra.append((cu, QuadForm(first - second, m, j, l)))
    if not done:
        return out
    keep = [(c, f) for c, f in out
            if not (isinstance(f, QuadForm) and ("q", f.args[0], f.args[1]) in done)
            and not (isinstance(f, Bilinear) and (f.args[0], f.args[1], f.args[2]) in done)]
    return keep + extra


def _symmetric(m, j, l):
    """m, an element (j, l), is an element of a symmetric matrix: declared symmetric, or unchanged
    when j and l swap (E_q[mu_kj mu_kl])."""
    return symmetric_element(m) or m.xreplace({j: l, l: j}) == m


def _merge_bilinears(out, j, l):
    """c u^T M v + c v^T M u -> 2c u^T M v for a symmetric M."""
    seen, keep = {}, []
    for c, f in out:
        if isinstance(f, Bilinear) and _symmetric(f.args[1], j, l):
            u, m, v = f.args[:3]
            key = (u, m, v)
            back = (v.xreplace({l: j}), m, u.xreplace({j: l}))
            if back in seen and sp.expand(seen[back][0] - c) == 0:
                n = seen.pop(back)[1]
                keep[n] = (2 * c, keep[n][1])
                continue
            seen[key] = (c, len(keep))
        keep.append((c, f))
    return [kf for kf in keep]


def _quadratic_forms(terms, limits):
    """sum_j sum_j' u_j M_jj' u_j' -> u^T M u (u^T M v, completed squares (u - v)^T M (u - v)),
    sum_j sum_j' A_jj' B_j'j -> tr(A B) and sum_j sum_j' u_j a_j u_j' a_j' -> (u^T a)^2, for two
    indices j, j' over one plate (or a plate and its column plate) that every term uses as the last
    index of its quantities."""
    pairs = [(a[0], b[0]) for n, a in enumerate(limits) for b in limits[n + 1:]
             if _same_range(plate_of(a[0]), plate_of(b[0]))]
    if len(pairs) != 1:
        return None
    j, l = pairs[0]
    outer = [lim for lim in limits if lim[0] not in (j, l)]
    out = []
    for t in terms:
        fs = sp.Mul.make_args(t)
        c = sp.Mul(*[g for g in fs if not ({j, l} & g.free_symbols)])
        at_j = [g for g in fs if _vec_entry(g) is not None and _vec_entry(g).indices[-1] == j
                and l not in g.free_symbols and j not in _vec_entry(g).indices[:-1]]
        at_l = [g for g in fs if _vec_entry(g) is not None and _vec_entry(g).indices[-1] == l
                and j not in g.free_symbols and l not in _vec_entry(g).indices[:-1]]
        mats = [g for g in fs if _matrix_element(g, j, l) is not None]
        if len(at_j) + len(at_l) + len(mats) + len(sp.Mul.make_args(c)) != len(fs) + (c == 1):
            return None
        sub = {j: l, l: j}
        if len(mats) == 1 and len(at_j) == len(at_l) == 1:     # M_jl or [A^-1]_jl
            m, u, v = mats[0], at_j[0], at_l[0]
            if _matrix_element(m, j, l) != (j, l):        # element (l, j): swap the roles of u and v
                u, v = v.xreplace(sub), u.xreplace(sub)
                m = m.xreplace(sub)
            out.append((c, QuadForm(u, m, j, l) if u.xreplace(sub) == v else Bilinear(u, m, v, j, l)))
        elif len(mats) == 2 and not at_j and not at_l:
            a, b = mats
            oa, ob = _matrix_element(a, j, l), _matrix_element(b, j, l)
            if oa == ob:      # sum_jl A_jl B_jl = tr(A B) when B (or A) is symmetric: B_jl read as B_lj
                swap = {j: l, l: j}
                if _symmetric(b, j, l):
                    b = b.xreplace(swap)
                elif _symmetric(a, j, l):
                    a, b = b, a.xreplace(swap)
                else:
                    return None
                if oa != (j, l):
                    a, b = a.xreplace(swap), b.xreplace(swap)
            elif oa != (j, l):
                a, b = b, a
            out.append((c, Trace(a, b, j, l)))
        elif not mats and len(at_j) == len(at_l) == 2 and {g.xreplace(sub) for g in at_j} == set(at_l):
            u, v = sorted(at_j, key=_name)
            out.append((c, Inner(u, v, j) ** 2))
        else:
            return None
    out = _merge_bilinears(_complete_squares(out, j, l), j, l)
    sign = -1 if all(c.could_extract_minus_sign() for c, _ in out) else 1   # -(a + b), not (-a - b)
    body = sp.Add(*[sign * c * f for c, f in out])
    res = _sum_of(_common_factor(body), outer) if outer else body
    return -res if sign == -1 else res


def _matrix_pair(lims):
    """The two limits of a sum over the (row, column) plates of a matrix (a plate and its column
    plate, or one plate twice) when the other limits are over distinct other plates; else None."""
    pairs = [(a, b) for n, a in enumerate(lims) for b in lims[n + 1:]
             if _same_range(plate_of(a[0]), plate_of(b[0]))]
    if len(pairs) != 1:
        return None
    outer = [plate_of(l[0]) for l in lims if l not in pairs[0]]
    if len(set(outer)) != len(outer):
        return None
    return pairs[0]


def merge_matrix_sums(add):
    """Sums over the (row, column) plates of a matrix (a plate and its column plate), with the same
    other plates, merged into one, so that their terms can form one quadratic form: sum x^T W x -
    sum x^T W m - ... -> (x - m)^T W (x - m).  Other sums are left alone."""
    if not isinstance(add, sp.Add):
        return add
    groups, keep = defaultdict(list), []
    for t in add.args:
        c, rest = t.as_independent(Sum, as_Add=False)
        lims = rest.limits if isinstance(rest, Sum) else ()
        pair = _matrix_pair(lims) if lims and all(_full_plate(l) for l in lims) else None
        if pair is not None and not (c.free_symbols & {l[0] for l in lims}):
            outer = tuple(sorted(plate_of(l[0]).name for l in lims if l not in pair))
            groups[(outer, plate_of(pair[0][0]) if plate_of(pair[0][0]).__dict__.get("rows") is None
                    else plate_of(pair[0][0]).rows)].append((c, rest, t, pair))
        else:
            keep.append(t)
    changed = False
    for parts in groups.values():
        if len(parts) < 2:
            keep += [t for _, _, t, _ in parts]
            continue
        _, first, _, ((j, _, _), (l, _, _)) = parts[0]
        by_plate = {plate_of(x[0]): x[0] for x in first.limits if x[0] not in (j, l)}
        pj, pl = plate_of(j), plate_of(l)
        body = []
        for c, s_, _, ((a, _, _), (b, _, _)) in parts:
            ren = {x[0]: by_plate[plate_of(x[0])] for x in s_.limits if x[0] not in (a, b)}
            ren.update({a: j, b: l} if plate_of(a) is pj or pj is pl else {a: l, b: j})
            body.append(c * s_.function.xreplace(ren))
        keep.append(Sum(sp.Add(*body), *first.limits))
        changed = True
    return sp.Add(*keep) if changed else add


def _plain_sum(t):
    """(c, Sum) for a term c * sum over distinct whole plates with c free of its indices, else None."""
    c, rest = t.as_independent(Sum, as_Add=False)
    if not isinstance(rest, Sum) or not all(_full_plate(l) for l in rest.limits):
        return None
    plates = [plate_of(l[0]) for l in rest.limits]
    if len(set(plates)) != len(plates) or c.free_symbols & {l[0] for l in rest.limits}:
        return None
    return c, rest


def _printed(e):
    """Length of the LaTeX ``e`` prints as (the book's printer, no typesetting)."""
    from ..render import _doprint
    try:
        return len(_doprint(e))
    except Exception:   # noqa: BLE001 - not printable as it stands: never preferred
        return 10 ** 9


def join_plate_sums(add):
    """Displayed sums over the same plates joined into one, their common factor in front:
    sum_ik phi_ik a_ik + sum_ik phi_ik b_ik - sum_ik phi_ik log phi_ik -> sum_ik phi_ik (a + b - log phi)
    (when the joined body has a factor common to every part, or else prints shorter)."""
    if not isinstance(add, sp.Add):
        return add
    groups, keep = defaultdict(list), []
    for t in add.args:
        cs = _plain_sum(t)
        if cs is None:
            keep.append(t)
        else:
            groups[_plates_key(cs[1])].append((cs[0], cs[1], t))
    changed = False
    for parts in groups.values():
        if len(parts) < 2:
            keep += [t for _, _, t in parts]
            continue
        lims = parts[0][1].limits
        by_plate = {plate_of(l[0]): l[0] for l in lims}
        bodies = [c * s_.function.xreplace({l[0]: by_plate[plate_of(l[0])] for l in s_.limits})
                  for c, s_, _ in parts]
        common = None
        for b in bodies:
            fs = {g for g in _factors(b) if g.free_symbols & set(by_plate.values()) and not g.is_Number}
            common = fs if common is None else common & fs
        c = sp.Mul(*(common or ()))
        inner = sp.Add(*[sp.Mul(*[g for g in _factors(b) if g not in (common or ())]) for b in bodies])
        joined = _sum_of(sp.Mul(c, group_signed(_common_factor(inner)), evaluate=False) if common
                         else group_signed(_common_factor(inner)), list(lims))
        if not common and _printed(joined) >= _printed(sp.Add(*[t for _, _, t in parts])):
            keep += [t for _, _, t in parts]      # nothing in common and no shorter: left apart
            continue
        keep.append(joined)
        changed = True
    return sp.Add(*keep) if changed else add


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
    return _sum_of(_collect_forms(sp.Add(*[r * i for r, i in parts])), outer)


def _collect_forms(add):
    """t x^T m - (1/2) x^T m -> (t - 1/2) x^T m: terms sharing one norm / inner-product factor."""
    if not isinstance(add, sp.Add):
        return add
    groups, plain = defaultdict(list), []
    for t in add.args:
        fs = [g for g in sp.Mul.make_args(t) if getattr(g, "is_form", False)]
        (groups[fs[0]].append(t / fs[0]) if len(fs) == 1 else plain.append(t))
    if all(len(v) < 2 for v in groups.values()):
        return add
    out = plain + [(sp.Add(*v) if len(v) > 1 else v[0]) * f for f, v in groups.items()]
    return sp.Add(*out)
