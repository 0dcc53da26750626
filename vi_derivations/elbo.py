"""Expected log joint, entropy terms and the ELBO.

Conventions on constants (``constants=`` argument):

* ``constants=True``: every term; ``elbo = E_q[log p(data, latents)] - E_q[log q(latents)]``
  is then a true lower bound on log p(data).
* ``constants=False`` (the coursework's dropped-constant convention), applied term by term to
  the fully expanded expression (products multiplied out, logs split:
  ``log(2 pi s2) = log 2 + log pi + log s2``), after the support identities of one-hot
  indicators (``c_ik^2 = c_ik``, ``sum_k c_ik a = a`` when ``a`` does not depend on k):

  - ``log_joint`` (E_q[log p]) keeps exactly the terms that contain a variational parameter;
  - ``log_var`` (E_q[log q]) keeps exactly the terms that contain a variational parameter or a
    model (hyper-)parameter; plate sizes and numbers are not parameters;
  - ``elbo = log_joint - log_var`` with both pieces so reduced.

  The dropped pieces are free of variational parameters, so both conventions have the same
  gradient and the same CAVI updates.
"""
from __future__ import annotations

import sympy as sp
from sympy import Indexed, Sum

from .errors import NonConjugateError
from .expectation import expect_monos
from .monomials import Mono, expand_to_monos, normalize_terms, resolve, terms_to_expr

__all__ = ["log_joint_expr", "random_monos", "expected_log_joint_terms", "log_var_terms",
           "log_joint", "log_var", "elbo", "is_variational", "has_parameter"]


def _batch_sum(expr, factor):
    plates = factor.batch_plates
    if not plates:
        return expr
    return Sum(expr, *[(p.index, p.index.lower, p.index.upper) for p in plates])


def factor_log_density(factor):
    """sum over the factor's plates of log p(element | parents) (as the model states it)."""
    return _batch_sum(factor.dist.log_density(factor.var.element), factor)


def log_joint_expr(model):
    """log p(observed, latent) as a SymPy expression, factor by factor (unexpanded)."""
    model.validate()
    return sp.Add(*[factor_log_density(f) for f in model.factors], evaluate=False)


def _support(model, mono):
    """Apply support identities of the model families (one-hot, binary) to a monomial."""
    prior = {f.var.name: f.dist for f in model.factors}
    atoms = list(mono.atoms)
    coeff = mono.coeff
    groups = {}
    for a in atoms:
        fam = prior[a.var]
        key = (a.var, fam.batch_of(a.index)) if fam.var is not None else (a.var, a.index)
        groups.setdefault(key, []).append(a)
    new_atoms = []
    for (var, _), blk in groups.items():
        c, red = prior[var].support_reduce(blk)
        coeff *= c
        new_atoms += red
    m = resolve(Mono(mono.sums, coeff, tuple(new_atoms), mono.origin))
    # sum_k c_k = 1 over the event plate of a one-hot indicator
    changed = True
    while changed:
        changed = False
        for a in m.atoms:
            fam = prior[a.var]
            if not (fam.sums_to_one and a.fn == "id" and a.power == 1):
                continue
            (e,) = fam.event_of(a.index)
            if e not in m.sums:
                continue
            others = [b for b in m.atoms if b is not a]
            used = m.coeff.free_symbols | {s for b in others for s in b.expr.free_symbols}
            if e in used or any(e in sp.sympify(i).free_symbols for i in fam.batch_of(a.index)):
                continue
            m = Mono(tuple(s for s in m.sums if s != e), m.coeff, tuple(others), m.origin)
            changed = True
            break
    return resolve(m)


def expand_factor(model, f):
    """The log density of model factor ``f`` expanded into monomials; a refusal names the factor."""
    try:
        return expand_to_monos(factor_log_density(f), model, origin=f.label)
    except NonConjugateError as e:
        raise type(e)(f"factor {f.label}, variable {f.var.name}: {e}") from None


def random_monos(model, support=True):
    """The log joint expanded into monomials (one-hot identities applied if ``support``)."""
    key = ("random_monos", support)
    if key in model._cache:
        return model._cache[key]
    model.validate()
    out = []
    for f in model.factors:
        for m in expand_factor(model, f):
            if support:
                m = _support(model, m)
            if m.coeff != 0:
                out.append(m)
    model._cache[key] = out
    return out


def expected_log_joint_terms(model):
    """E_q[log p] as a list of deterministic monomials (every constant kept)."""
    key = "elj_terms"
    if key not in model._cache:
        model._cache[key] = expect_monos(random_monos(model), model)
    return model._cache[key]


def log_var_terms(model):
    """E_q[log q] = sum over q factors and their plates of the family's E_q[log q(element)]."""
    key = "lv_terms"
    if key not in model._cache:
        model.validate()
        out = []
        for name, qf in model.qfactors.items():
            expr = _batch_sum(qf.dist.neg_entropy(), qf)
            from .monomials import split_sums
            for sums, body in split_sums(expr, set()):
                out += normalize_terms(sums, body, origin=qf.label)
        model._cache[key] = out
    return model._cache[key]


def _symbols_in(expr):
    syms = set()
    for a in sp.sympify(expr).atoms(Indexed):
        syms.add(a.base)
    syms |= {s for s in sp.sympify(expr).free_symbols if isinstance(s, sp.Symbol)}
    for a in sp.sympify(expr).atoms(sp.Function):
        for arg in a.args:
            if isinstance(arg, sp.IndexedBase):
                syms.add(arg)
    return syms


def is_variational(model, mono):
    return bool(_symbols_in(mono.coeff) & model.symbols_of_kind("variational"))


def has_parameter(model, mono):
    return bool(_symbols_in(mono.coeff) & (model.symbols_of_kind("variational") | model.symbols_of_kind("hyper")))


def select_terms(model, which, constants=True):
    if which == "log_joint":
        terms = expected_log_joint_terms(model)
        return terms if constants else [t for t in terms if is_variational(model, t)]
    if which == "log_var":
        terms = log_var_terms(model)
        return terms if constants else [t for t in terms if has_parameter(model, t)]
    raise ValueError(f"which must be 'log_joint' or 'log_var', got {which!r}")


def log_joint(model, constants=False):
    """E_q[log p(data, latents)] as a SymPy expression (see module docstring for ``constants``)."""
    return terms_to_expr(select_terms(model, "log_joint", constants))


def log_var(model, constants=False):
    """E_q[log q(latents)] (sum of negative entropies) as a SymPy expression."""
    return terms_to_expr(select_terms(model, "log_var", constants))


def elbo(model, constants=False):
    """ELBO = E_q[log p] - E_q[log q] (``constants`` as in the module docstring)."""
    return log_joint(model, constants) - log_var(model, constants)
