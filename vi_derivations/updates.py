"""CAVI updates by recognising the family of q*(z_j) ∝ exp E_{-j}[log p].

For the factor q(z) and a representative element z_r (canonical plate indices, e.g. mu[k, d]):

1. every monomial of the (support-reduced) log joint that contains atoms of z is split by
   which of those atoms *are* the element z_r (their summed indices are unified with r by
   substitution) and which are other elements (factor 1 - delta);
2. the atoms that are z_r form a product of statistics of one element, which the q family
   names (``Family.statistic``) -- or refuses with :class:`NonConjugateError`, naming the term
   (e.g. ``log v`` under a Normal q, or a logistic likelihood);
3. everything else in the monomial is averaged under q_{-j} (:mod:`.expectation`); summing over
   monomials gives, for each sufficient statistic T_s, the coefficient
   eta_s = d E_q[log p] / d E[T_s(z_r)] (the natural parameter, as in VMP, Winn & Bishop 2005);
4. the family maps natural parameters to its parameters (mean/variance, softmax of
   log-potentials, Gamma shape/rate, ...), which are matched to the variational parameters
   declared in q.  A parameter shared across a plate (e.g. an isotropic variance s2[k] over d)
   is accepted only if the derived value does not depend on that plate's index.
"""
from __future__ import annotations

import itertools

import numpy as np
import sympy as sp
from sympy import Indexed, KroneckerDelta, Sum

from .distributions import NonConjugateError, NotEqual, UnsupportedExpectationError, UnsupportedModelError
from .elbo import random_monos
from .expectation import _expect_atoms, unify
from .model import plate_of
from .monomials import Mono, normalize_terms, terms_to_expr
from .numeric import compile_expr

__all__ = ["Update", "derive_update", "derive_updates"]


class Update:
    """The CAVI update of one q factor.

    Attributes: ``var`` (name), ``family``, ``rep`` (representative element, e.g. mu[k, d]),
    ``event_reps`` (free event indices of the natural parameters), ``natural`` (stat -> eta
    expression), ``natural_terms`` (stat -> list of Mono), ``params`` (family parameter name ->
    expression), ``assignments`` (list of Eq(variational parameter, expression)),
    ``collected`` (the random terms of log p that involve z_r, as an expression).
    """

    def __init__(self, model, qf, natural_terms, collected, event_reps, family=None):
        self.model = model
        self.qf = qf
        self.var = qf.var.name
        self.family = qf.dist if family is None else family
        self.rep = qf.var.element
        self.event_reps = event_reps
        self.natural_terms = natural_terms
        self.natural = {k: terms_to_expr(v) for k, v in natural_terms.items()}
        self.collected = collected
        self.params = self.family.natural_to_params(self.natural, event_reps)
        self.assignments = self._assign()

    @property
    def out_indices(self):
        fam = self.family
        return tuple(fam.batch_of(fam.canonical_index())) + tuple(self.event_reps)

    def targets(self):
        """Family parameter name -> the variational parameter it sets: the family's declared
        parameters, and the element (j, l) of a full covariance matrix (``cov``)."""
        fam = self.family
        out = dict(fam.params)
        if hasattr(fam, "matrix") and "cov" in self.params:
            out["cov"] = fam._mat(fam.batch_of(fam.canonical_index()), *self.event_reps)
        return out

    def _assign(self):
        fam = self.family
        out = []
        for name, target in fam.params.items():
            if name not in self.params:
                continue
            target_obj = target
            if not (isinstance(target, (Indexed, sp.Symbol)) and self.model.var_of(target) is not None
                    and self.model.var_of(target).kind == "variational"):
                raise UnsupportedModelError(f"q({self.var}): parameter {name} = {target} must be a variational "
                                 f"parameter (a declared symbol), not an expression")
            value = self.params[name]
            lhs_idx = set(target.indices) if isinstance(target, Indexed) else set()
            free = {s for s in value.free_symbols if isinstance(s, sp.Idx)}
            extra = free - lhs_idx
            if extra:
                raise UnsupportedModelError(
                    f"q({self.var}): parameter {target} is shared across index {sorted(map(str, extra))}, "
                    f"but the optimal {name} = {value} depends on it; declare it with those plates")
            out.append(sp.Eq(target_obj, value, evaluate=False))
        if hasattr(fam, "matrix") and "cov" in self.params:
            j, l = self.event_reps
            batch = fam.batch_of(fam.canonical_index())
            if batch and fam.shared_matrix:
                raise UnsupportedModelError(
                    f"q({self.var}): the covariance {fam.matrix} has no batch plates, but q({self.var}) "
                    f"has one full-covariance Gaussian per element of "
                    f"{', '.join(p.name for p in self.qf.batch_plates)}; declare {fam.matrix} with those plates")
            out.append(sp.Eq(self.targets()["cov"], self.params["cov"], evaluate=False))
        return out

    def numeric(self):
        """f(**arrays) -> dict variational-parameter name -> updated array (axes as declared)."""
        fam = self.family
        outs = self.out_indices
        batch = tuple(fam.batch_of(fam.canonical_index()))
        fns = {k: compile_expr(v, self.model, batch + tuple(_stat_reps(fam, k, self.event_reps)))
               for k, v in self.natural.items()}

        def f(**arrays):
            eta = {k: g(**arrays) for k, g in fns.items()}
            shape = None
            for v in eta.values():
                shape = np.shape(v)
            try:
                params = fam.numeric_from_natural(eta)
            except ValueError as e:
                raise ValueError(f"the update of q({self.var}): {e}") from None
            res = {}
            for name, target in fam.params.items():
                if name not in params:
                    continue
                res_name, arr = self._place(target, params[name], outs)
                res[res_name] = arr
            for pname, base in fam.extra_targets().items():   # e.g. a full covariance
                if pname in params:
                    res[str(base.label)] = params[pname]
            return res

        return f

    @staticmethod
    def _place(target, arr, outs):
        if isinstance(target, sp.Symbol):
            return target.name, float(np.asarray(arr).reshape(-1)[0]) if np.size(arr) else arr
        idx = list(target.indices)
        arr = np.asarray(arr)
        outs = tuple(outs[:arr.ndim])
        # drop axes of outs not in the target (shared parameter: value constant along them)
        for pos in reversed(range(len(outs))):
            if outs[pos] not in idx:
                arr = np.take(arr, 0, axis=pos)
        kept = [o for o in outs if o in idx]
        perm = [kept.index(o) for o in idx]
        return str(target.base.label), np.transpose(arr, perm).copy()

    def __repr__(self):
        return f"Update(q({self.var}): {', '.join(str(a) for a in self.assignments)})"


def _event_reps(fam):
    """Free indices carried by the natural parameters of a family (its own method)."""
    return fam.event_reps()


def _stat_reps(fam, key, reps):
    return fam.stat_reps(key, reps)


def derive_update(model, var):
    """Derive the CAVI update of q(var) (``var`` a name or Variable). Cached per model; the
    model's letters become the printer's (see :meth:`Model.use_letters`)."""
    model.use_letters()
    name = model.var(var).name
    key = ("update", name)
    if key in model._cache:
        return model._cache[key]
    if name not in model.qfactors:
        raise ValueError(f"{name!r} has no variational factor q({name})")
    qf = model.qfactors[name]
    fam = qf.dist
    joint = getattr(fam, "joint", None)
    if joint is not None:  # one update for the joint factor, derived once for all its variables
        first = joint.members[0]
        if name != first:
            upd = derive_update(model, first)
            model._cache[key] = upd
            return upd
        fam, members = joint, set(joint.members)
    else:
        members = {name}
    reps_batch = fam.batch_of(fam.canonical_index())
    ereps = _event_reps(fam)
    natural = {}
    collected = []
    for mono in random_monos(model):
        mine = [t for t, a in enumerate(mono.atoms) if a.var in members]
        if not mine:
            continue
        for r in range(1, len(mine) + 1):
            for S in itertools.combinations(mine, r):
                _collect(model, fam, mono, S, mine, reps_batch, ereps, natural, collected)
    if not natural:
        raise UnsupportedModelError(f"q({name}): the log joint does not involve {name}")
    try:
        upd = Update(model, qf, natural, _wrap_collected(fam, collected, ereps), ereps,
                     family=fam if joint is not None else None)
    except NonConjugateError as e:
        raise NonConjugateError(f"q({name}): {e}") from None
    model._cache[key] = upd
    return upd


def _collect(model, fam, mono, S, mine, reps_batch, ereps, natural, collected):
    sums = set(mono.sums)
    mapping, coeff = {}, sp.Integer(1)
    atoms = list(mono.atoms)
    # unify every chosen atom's batch indices with the representative element
    for t in S:
        a = atoms[t].subs(mapping)
        u = unify(fam.batch_of(a.index), reps_batch, sums - set(mapping))
        if u is None:
            return
        m2, dc = u
        mapping = {k: v.xreplace(m2) for k, v in mapping.items()}
        mapping.update(m2)
        coeff *= dc
    atoms = [a.subs(mapping) for a in atoms]
    rest_sums = tuple(s for s in mono.sums if s not in mapping)
    coeff = (mono.coeff * coeff).xreplace(mapping)
    target = [atoms[t] for t in S]
    others = [atoms[t] for t in range(len(atoms)) if t not in S]
    # the other atoms of this variable are different elements
    for t in mine:
        if t in S:
            continue
        b = fam.batch_of(atoms[t].index)
        if tuple(b) == tuple(reps_batch):
            return  # forced equal: counted in a larger S
        if len(b) == 1:
            coeff *= NotEqual(b[0], reps_batch[0])
        else:
            coeff *= 1 - sp.Mul(*[KroneckerDelta(u, v) for u, v in zip(b, reps_batch)])
    try:
        key, ev_idx, sc = fam.statistic(target)
    except NonConjugateError as e:
        raise NonConjugateError(f"q({fam.var.name}) in factor {mono.origin}: {e}") from None
    coeff *= sc
    shown_sums = rest_sums
    contracted = fam.contracted(target) if hasattr(fam, "contracted") else ()
    if contracted:  # a contracted statistic (mu^T Lambda mu, Lambda mu): its summed indices
        rest = set(coeff.free_symbols) | {s for a in others for i in a.index for s in sp.sympify(i).free_symbols}
        if not set(contracted) <= set(rest_sums) or set(contracted) & rest:
            raise NonConjugateError(
                f"q({fam.var.name}) in factor {mono.origin}: the term {sp.Mul(coeff, *[a.full for a in others + target])} "
                f"is not a multiple of the statistic it resembles (the indices {', '.join(map(str, contracted))} "
                f"must be summed over and appear nowhere else)")
        rest_sums = tuple(s for s in rest_sums if s not in contracted)
    sreps = _stat_reps(fam, key, ereps)
    if ev_idx:
        u = unify(ev_idx, sreps, set(rest_sums))
        if u is None:
            return
        m3, dc = u
        coeff = (coeff * dc).xreplace(m3)
        others = [a.subs(m3) for a in others]
        rest_sums = tuple(s for s in rest_sums if s not in m3)
        shown_sums = tuple(s for s in shown_sums if s not in m3)
        target = [a.subs(m3) for a in target]
    body_random = sp.Mul(coeff, *[a.full for a in others + target])
    collected.append((key, Sum(body_random, *[(s, s.lower, s.upper) for s in shown_sums]) if shown_sums else body_random))
    try:
        parts = _expect_atoms(rest_sums, coeff, others, frozenset(), model)
    except UnsupportedExpectationError as e:
        raise UnsupportedExpectationError(
            f"q({fam.var.name}): in factor {mono.origin}: cannot average {sp.Mul(*[a.full for a in others])}: {e}"
        ) from None
    for s, expr in parts:
        natural.setdefault(key, []).extend(normalize_terms(s, expr, mono.origin))


def _wrap_collected(fam, collected, ereps):
    """The random terms of log p that involve the target element; for a factor with an event
    plate (one-hot c_i, Dirichlet, MvNormal) the terms of each statistic are summed over its
    free event indices, so the expression is the whole of log q*(z_i) up to a constant."""
    by_key = {}
    for key, e in collected:
        by_key.setdefault(key, []).append(e)
    total = sp.Integer(0)
    for key, es in by_key.items():
        body = sp.Add(*es)
        reps = _stat_reps(fam, key, ereps)
        total += Sum(body, *[(r, r.lower, r.upper) for r in reps]) if reps else body
    return total


def derive_updates(model):
    """Updates of every q factor, in declaration order (a joint factor's update once)."""
    out = []
    for n in model.qfactors:
        u = derive_update(model, n)
        if all(u is not v for v in out):
            out.append(u)
    return out
