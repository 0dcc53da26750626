"""Expectations under the mean-field q, by algorithm.

E_q[sum of monomials] = sum of E_q[monomial] (linearity).  For one monomial
``coeff * prod(atoms)`` the atoms are grouped by q factor and by element:

* atoms of different q factors are independent: E[prod] = prod E[...] (the variables of one
  joint factor, such as the Normal–Wishart q(mu_k, Lambda_k), form one factor);
* two atoms of the same fully factorised variable whose element indices may coincide (for
  example ``z[l] * z[l2]`` with both l, l2 summed) are split into the case "same element"
  (indices unified by substitution, so that E[z_l^2] is used) and the case "different
  elements" (factor ``1 - KroneckerDelta(l, l2)``, after which each is independent);
* the atoms of one element are looked up in that factor's moment table
  (:meth:`vi_derivations.distributions.Family.moment`).

The result is a list of deterministic monomials (Kronecker deltas resolved).
"""
from __future__ import annotations

import itertools

import sympy as sp
from sympy import KroneckerDelta

from .distributions import UnsupportedExpectationError
from .monomials import Mono, normalize_terms

__all__ = ["moment_table", "expect", "expect_mono", "expect_monos", "unify", "Expect"]


class Expect(sp.Function):
    """Unevaluated expectation E_q[expr] (for displayed derivation steps).
    ``Expect(expr, label)``: ``label`` is a Symbol naming what is excluded (E_{-z}) or q."""

    nargs = (1, 2)

    def _latex(self, printer):
        sub = "q"
        if len(self.args) == 2:
            sub = printer._print(self.args[1])
        return r"\mathbb{E}_{" + sub + r"}\left[" + printer._print(self.args[0]) + r"\right]"


def group_of(model, var):
    """The q factor a latent variable belongs to: its own name, or the joint factor's group
    (e.g. "mu,Lambda" for a Normal–Wishart q(mu, Lambda)), whose atoms are not independent."""
    joint = getattr(model.qfactors[var].dist, "joint", None)
    return var if joint is None else joint.group


def unify(ia, ib, sums):
    """Substitution making index tuples ia and ib equal.

    Returns (mapping, delta_coeff) or None if impossible (distinct integers).  Summed
    indices are substituted; two free indices give a KroneckerDelta factor."""
    mapping = {}
    coeff = sp.Integer(1)
    for u, v in zip(ia, ib):
        u, v = sp.sympify(u).xreplace(mapping), sp.sympify(v).xreplace(mapping)
        if u == v:
            continue
        if v in sums and v not in mapping:
            mapping = {k: val.xreplace({v: u}) for k, val in mapping.items()}
            mapping[v] = u
        elif u in sums and u not in mapping:
            mapping = {k: val.xreplace({u: v}) for k, val in mapping.items()}
            mapping[u] = v
        elif u.is_Integer and v.is_Integer:
            return None
        else:
            coeff *= KroneckerDelta(u, v)
    return mapping, coeff


def _may_coincide(ia, ib):
    for u, v in zip(ia, ib):
        if sp.sympify(u).is_Integer and sp.sympify(v).is_Integer and u != v:
            return False
    return True


def _expect_atoms(sums, coeff, atoms, distinct, model):
    """Recursive case split; returns list of (sums, deterministic expression)."""
    q = model.qfactors
    for a, b in itertools.combinations(range(len(atoms)), 2):
        A, B = atoms[a], atoms[b]
        if group_of(model, A.var) != group_of(model, B.var):
            continue
        ba, bb = q[A.var].dist.batch_of(A.index), q[B.var].dist.batch_of(B.index)
        if ba == bb or (ba, bb) in distinct or (bb, ba) in distinct or not _may_coincide(ba, bb):
            continue
        out = []
        # case 1: the same element
        u = unify(ba, bb, sums)
        if u is not None:
            mapping, dc = u
            out += _expect_atoms(tuple(s for s in sums if s not in mapping), (coeff * dc).xreplace(mapping),
                                 [x.subs(mapping) for x in atoms],
                                 {(tuple(sp.sympify(i).xreplace(mapping) for i in p),
                                   tuple(sp.sympify(i).xreplace(mapping) for i in r)) for p, r in distinct},
                                 model)
        # case 2: different elements
        out += _expect_atoms(sums, coeff, atoms, distinct | {(ba, bb)}, model)
        return out
    # no undecided pair: multiply the moments of each element
    blocks = {}
    for x in atoms:
        fam = q[x.var].dist
        blocks.setdefault((group_of(model, x.var), fam.batch_of(x.index)), []).append(x)
    value = coeff
    for key, blk in blocks.items():
        var = blk[0].var
        joint = getattr(q[var].dist, "joint", None)
        try:
            if joint is None:
                value *= q[var].dist.moment(blk)
            else:  # a joint factor: contracted statistics need the rest of the term
                rest = set(coeff.free_symbols)
                for k2, b2 in blocks.items():
                    if k2 != key:
                        rest |= {s for x in b2 for i in x.index for s in sp.sympify(i).free_symbols}
                value *= joint.moment(blk, sums=sums, context=rest)
        except UnsupportedExpectationError as e:
            raise UnsupportedExpectationError(f"under q({var}) = {q[var].dist!r}: {e}") from None
    for ba, bb in distinct:
        value *= 1 - sp.Mul(*[KroneckerDelta(u, v) for u, v in zip(ba, bb)])
    return [(sums, value)]


def expect_mono(mono: Mono, model):
    """E_q of one monomial -> list of deterministic :class:`Mono`."""
    for a in mono.atoms:
        if a.var not in model.qfactors:
            raise ValueError(f"latent variable {a.var!r} has no variational factor q({a.var})")
    try:
        parts = _expect_atoms(mono.sums, mono.coeff, list(mono.atoms), frozenset(), model)
    except UnsupportedExpectationError as e:
        raise UnsupportedExpectationError(
            f"in factor {mono.origin}: cannot take E_q of {mono.body()}: {e}") from None
    out = []
    for sums, expr in parts:
        out += normalize_terms(sums, expr, mono.origin)
    return out


def expect_monos(monos, model):
    out = []
    for m in monos:
        out += expect_mono(m, model)
    return out


def expect(expr, model):
    """E_q[expr] for any polynomial-in-statistics expression of the model's latent variables
    (plate sums allowed), by expansion, linearity, independence and the moment tables.
    No support identities are applied here (they do not change expectations)."""
    from .monomials import expand_to_monos, terms_to_expr
    monos = expand_to_monos(expr, model, origin="E_q[...]")
    return terms_to_expr(expect_monos(monos, model))


def moment_table(model):
    """Every expectation of one q element's statistics used by E_q[log p], as a list of
    ``(Expect(statistic), value)`` pairs with canonical plate indices (e.g. E[mu_kd^2] =
    m_kd^2 + s2_kd, E[c_ik] = pi_ik), in order of first use."""
    from .elbo import random_monos
    seen, out = set(), []
    for mono in random_monos(model):
        blocks = {}
        for a in mono.atoms:
            fam = model.qfactors[a.var].dist
            blocks.setdefault((group_of(model, a.var), fam.batch_of(a.index)), []).append(a)
        for (_, _), blk in blocks.items():
            var = blk[0].var
            mapping, used = {}, {}
            for a in blk:
                for ix, p in zip(a.index, model.variables[a.var].plates):
                    if ix in mapping or not isinstance(ix, sp.Idx):
                        continue
                    n = used.get(p, 0)
                    mapping[ix] = p.index if n == 0 else p.make_index(p.index_name + "'" * n)
                    used[p] = n + 1
            cblk = [a.subs(mapping) for a in blk]
            key = (var, tuple((a.var, a.fn, a.power, a.index) for a in cblk))
            if key in seen:
                continue
            seen.add(key)
            stat = sp.Mul(*[a.full for a in cblk])
            try:
                val = model.qfactors[var].dist.moment(cblk)
            except UnsupportedExpectationError:
                continue
            out.append((Expect(stat), val))
    return out
