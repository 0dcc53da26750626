"""Expansion of a log density into plate-summed monomials.

A log joint such as ``sum_i sum_k c[i,k] * (-(x[i,d] - mu[k,d])**2 / 2)`` is rewritten as a list
of :class:`Mono` = ``sum over (i, k, d) of coeff * prod(atoms)``, where ``coeff`` is deterministic
(data, hyper-parameters, numbers) and each :class:`Atom` is a power of a random statistic of
one latent element: ``z`` ('id'), ``log z`` ('log'), ``log(1 - z)`` ('log1m'), the log
determinant ``log|Z_k|`` of a random matrix ('logdet') or anything else ('other', which no
moment table accepts).  Squares of sums are expanded into double sums with
fresh summation indices, logs are expanded (``log(2 pi s2) = log 2 + log pi + log s2``), and
every summation index is a fresh ``Idx`` so that monomials never share dummies.

Kronecker deltas between a summed index and another index are resolved by substitution;
sums over an index that no longer appears are replaced by the plate size.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import sympy as sp
from sympy import Idx, Indexed, KroneckerDelta, Sum, log

from .distributions import LogDet
from .model import fresh_index, plate_of

__all__ = ["Atom", "Mono", "split_sums", "expand_to_monos", "normalize_terms", "terms_to_expr",
           "random_symbols"]


@dataclass(frozen=True)
class Atom:
    """``expr ** power`` where expr is z, log z, log(1 - z) (fn id/log/log1m) or other."""

    var: str
    index: tuple
    fn: str
    power: int
    expr: sp.Expr

    def with_power(self, p):
        return replace(self, power=p)

    def subs(self, mapping):
        if not mapping:
            return self
        return replace(self, index=tuple(sp.sympify(i).xreplace(mapping) for i in self.index),
                       expr=self.expr.xreplace(mapping))

    @property
    def full(self):
        return self.expr ** self.power


@dataclass(frozen=True)
class Mono:
    """sum over ``sums`` of ``coeff * prod(atom.full)`` (from model factor ``origin``)."""

    sums: tuple
    coeff: sp.Expr
    atoms: tuple
    origin: str = ""

    def subs(self, mapping, drop=()):
        return Mono(tuple(s for s in self.sums if s not in drop and s not in mapping),
                    self.coeff.xreplace(mapping), tuple(a.subs(mapping) for a in self.atoms), self.origin)

    def body(self):
        return sp.Mul(self.coeff, *[a.full for a in self.atoms])

    def expr(self):
        b = self.body()
        return Sum(b, *[(s, s.lower, s.upper) for s in self.sums]) if self.sums else b


def random_symbols(model):
    return {v.symbol for v in model.of_kind("latent")}


def _fresh_limits(expr: Sum):
    mapping = {}
    for lim in expr.limits:
        v = lim[0]
        if not isinstance(v, Idx):
            raise ValueError(f"summation variable {v} must be a plate index")
        mapping[v] = fresh_index(v)
    return mapping


def split_sums(expr, rand):
    """Expand ``expr`` into a list of (summation indices, Sum-free body) pairs.

    Sums inside products and integer powers are multiplied out (fresh indices per copy).
    A non-polynomial function of a sum that involves random variables cannot be expanded.
    """
    expr = sp.sympify(expr)
    if not expr.has(Sum):
        return [((), expr)]
    if isinstance(expr, Sum):
        mapping = _fresh_limits(expr)
        inner = split_sums(expr.function.xreplace(mapping), rand)
        return [(tuple(mapping.values()) + s, b) for s, b in inner]
    if isinstance(expr, sp.Add):
        return [t for a in expr.args for t in split_sums(a, rand)]
    if isinstance(expr, sp.Mul):
        out = [((), sp.Integer(1))]
        for a in expr.args:
            parts = split_sums(a, rand)
            out = [(s1 + s2, b1 * b2) for s1, b1 in out for s2, b2 in parts]
        return out
    if isinstance(expr, sp.Pow) and expr.exp.is_Integer and expr.exp > 0:
        out = [((), sp.Integer(1))]
        for _ in range(int(expr.exp)):
            parts = split_sums(expr.base, rand)
            out = [(s1 + s2, b1 * b2) for s1, b1 in out for s2, b2 in parts]
        return out
    if rand and expr.has(*rand):
        from .errors import NonConjugateError
        names = sorted({str(getattr(r, "label", r)) for r in rand if expr.has(r)})
        raise NonConjugateError(
            f"the term {expr} is a non-polynomial function of a sum over the random variable(s) "
            f"{', '.join(names)}; no mean-field family has it as a sufficient statistic")
    return [((), expr)]


def _classify(factor, model, rand):
    """Return an Atom for a random factor (or None if deterministic)."""
    if not factor.has(*rand):
        return None
    base, e = factor.as_base_exp()
    if not (e.is_Integer and e > 0):
        base, e = factor, sp.Integer(1)
        fn = "other"
    else:
        fn = None
    if fn is None:
        fn = "other"
        if _is_elem(base, model):
            fn = "id"
        elif isinstance(base, log) and _is_elem(base.args[0], model):
            fn = "log"
        elif isinstance(base, log) and _is_elem(1 - base.args[0], model):
            fn = "log1m"
        elif isinstance(base, LogDet) and _is_matrix(base.args[0], model):
            return _logdet_atom(base, int(e), model)
    elem = _find_elem(base, model, rand)
    v = model.var_of(elem)
    index = tuple(elem.indices) if isinstance(elem, Indexed) else ()
    return Atom(v.name, index, fn, int(e), base)


def _is_matrix(base, model):
    v = model.var_of(base)
    return v is not None and v.kind == "latent" and len(v.plates) >= 2


def _logdet_atom(f, power, model):
    """log|Z_b| of the random matrix Z over (batch..., rows, columns): an atom of Z with fn
    'logdet' whose index is the batch indices followed by the canonical row and column indices."""
    v = model.var_of(f.args[0])
    batch = tuple(f.args[1:])
    if len(batch) != len(v.plates) - 2:
        raise ValueError(f"{f}: log det of {v.name} needs {len(v.plates) - 2} batch indices")
    index = batch + tuple(p.index for p in v.plates[-2:])
    return Atom(v.name, index, "logdet", power, f)


def _is_elem(e, model):
    v = model.var_of(e)
    return v is not None and v.kind == "latent"


def _find_elem(expr, model, rand):
    cands = [a for a in expr.atoms(Indexed) if a.base in rand] + \
            [s for s in expr.free_symbols if s in rand]
    if not cands:
        raise ValueError(f"internal: no random element in {expr}")
    return sorted(cands, key=str)[0]


def _merge_atoms(atoms):
    out = {}
    for a in atoms:
        key = (a.var, a.index, a.fn, a.expr)
        out[key] = out[key].with_power(out[key].power + a.power) if key in out else a
    return tuple(sorted(out.values(), key=lambda a: (a.var, str(a.index), a.fn, str(a.expr))))


def _expand(body):
    body = sp.expand_log(body, force=True)
    return sp.expand(body)


def mono_from_term(sums, term, model, rand, origin):
    coeff = sp.Integer(1)
    atoms = []
    for f in sp.Mul.make_args(term):
        a = _classify(f, model, rand)
        if a is None:
            coeff *= f
        else:
            atoms.append(a)
    return Mono(tuple(sums), coeff, _merge_atoms(atoms), origin)


def resolve(mono: Mono):
    """Resolve Kronecker deltas that involve a summed index; drop sums over unused indices."""
    changed = True
    while changed:
        changed = False
        for f in sp.Mul.make_args(mono.coeff):
            if isinstance(f, KroneckerDelta):
                a, b = f.args
                if b in mono.sums:
                    a, b = b, a
                if a in mono.sums:
                    coeff = sp.Mul(*[g for g in sp.Mul.make_args(mono.coeff) if g is not f])
                    mono = Mono(mono.sums, coeff, mono.atoms, mono.origin).subs({a: b})
                    changed = True
                    break
    used = mono.coeff.free_symbols | {s for a in mono.atoms for i in a.index for s in sp.sympify(i).free_symbols}
    used |= {s for a in mono.atoms for s in a.expr.free_symbols}
    coeff = mono.coeff
    keep = []
    for s in mono.sums:
        if s in used:
            keep.append(s)
        else:
            coeff = coeff * (s.upper - s.lower + 1)
    if mono.atoms:
        atoms = _merge_atoms(mono.atoms)
    else:
        atoms = ()
    return Mono(tuple(keep), coeff, atoms, mono.origin)


def expand_to_monos(expr, model, origin="", rand=None):
    """Expand a (random) log-density expression into a list of resolved :class:`Mono`."""
    rand = random_symbols(model) if rand is None else rand
    out = []
    for sums, body in split_sums(expr, rand):
        for term in sp.Add.make_args(_expand(body)):
            if term == 0:
                continue
            m = resolve(mono_from_term(sums, term, model, rand, origin))
            if m.coeff != 0:
                out.append(m)
    return out


def normalize_terms(sums, expr, origin=""):
    """Deterministic expression -> list of resolved Mono (no atoms) with expanded bodies."""
    out = []
    for term in sp.Add.make_args(_expand(expr)):
        if term == 0:
            continue
        m = resolve(Mono(tuple(sums), term, (), origin))
        if m.coeff != 0:
            out.append(m)
    return out


def terms_to_expr(monos, group=True):
    """Sum of monomials as one SymPy expression, with monomials sharing the same set of
    plates grouped under one Sum (summation indices renamed consistently)."""
    if not group:
        return sp.Add(*[m.expr() for m in monos])
    groups = {}
    order = []
    for m in monos:
        key = tuple(sorted((plate_of(s).name for s in m.sums)))
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(m)
    total = sp.Integer(0)
    for key in order:
        ms = groups[key]
        ref = ms[0].sums
        body = sp.Integer(0)
        for m in ms:
            # rename this mono's indices onto the reference ones (same plates, any order)
            mapping = {}
            avail = list(ref)
            for s in m.sums:
                for r in avail:
                    if plate_of(r) == plate_of(s):
                        mapping[s] = r
                        avail.remove(r)
                        break
            body += m.subs(mapping).body() if mapping else m.body()
        total += Sum(body, *[(s, s.lower, s.upper) for s in ref]) if ref else body
    return total
