"""M-steps for model (hyper-)parameters: maximise the ELBO over a fixed parameter between CAVI
sweeps (variational Bayesian EM).

Only E_q[log p] depends on a model parameter h, so the M-step solves d E_q[log p] / d h = 0:

* if h is the probability vector of a one-hot Categorical factor (h_k on the simplex), the
  terms of E_q[log p] that contain h are ``sum_k c_k log h_k`` and the maximiser under
  ``sum_k h_k = 1`` (Lagrange multiplier) is ``h_k = c_k / sum_l c_l``;
* if h is a scalar, the stationarity equation is solved by SymPy (a unique admissible root is
  required; a positive parameter takes the positive root).
Anything else raises ValueError naming the parameter.
"""
from __future__ import annotations

import numpy as np
import sympy as sp
from sympy import Indexed, Sum, log

from .elbo import expected_log_joint_terms
from .errors import UnsupportedModelError
from .expectation import unify
from .model import plate_of
from .monomials import terms_to_expr
from .numeric import compile_expr

__all__ = ["HyperUpdate", "derive_hyper_update"]


class HyperUpdate:
    """M-step of a model parameter: ``assignment`` (Eq), ``numeric()`` -> f(**arrays) -> {name: value}."""

    def __init__(self, model, var, lhs, rhs, out):
        self.model, self.var, self.out = model, var, out
        self.assignment = sp.Eq(lhs, rhs, evaluate=False)
        self.assignments = [self.assignment]

    def numeric(self):
        f = compile_expr(self.assignment.rhs, self.model, self.out)
        name = self.var.name
        return lambda **arrays: {name: f(**arrays)}

    def __repr__(self):
        return f"HyperUpdate({self.assignment})"


def _categorical_probs_of(model, v):
    for f in model.factors:
        for pname in f.dist.simplex_params:        # a Categorical's probabilities
            probs = sp.sympify(f.dist.params[pname])
            if any(isinstance(a, Indexed) and a.base == v.symbol for a in probs.atoms(Indexed)):
                return f
    return None


def derive_hyper_update(model, name):
    """Maximiser of the ELBO over the model parameter ``name`` (see module docstring)."""
    v = model.var(name)
    if v.kind != "hyper":
        raise ValueError(f"{name!r} is not a model (hyper-)parameter")
    key = ("hyper_update", v.name)
    if key in model._cache:
        return model._cache[key]
    terms = [t for t in expected_log_joint_terms(model)
             if v.symbol in t.coeff.free_symbols or any(a.base == v.symbol for a in t.coeff.atoms(Indexed))]
    if not terms:
        raise ValueError(f"the ELBO does not depend on {name!r}")
    f = _categorical_probs_of(model, v)
    if f is not None and v.plates:
        (K,) = [p for p in v.plates]
        k = K.index
        rep = v.symbol[k]
        coeffs = []
        for t in terms:
            logs = [g for g in sp.Mul.make_args(t.coeff) if isinstance(g, log) and isinstance(g.args[0], Indexed)
                    and g.args[0].base == v.symbol]
            rest = sp.Mul(*[g for g in sp.Mul.make_args(t.coeff) if g not in logs])
            if len(logs) != 1 or rest.has(v.symbol):
                raise UnsupportedModelError(f"M-step for {name!r}: the term {t.coeff} is not of the form c_k log {name}_k")
            u = unify(logs[0].args[0].indices, (k,), set(t.sums))
            if u is None:
                continue
            mapping, dc = u
            sums = tuple(s for s in t.sums if s not in mapping)
            body = (rest * dc).xreplace(mapping)
            coeffs.append(Sum(body, *[(s, s.lower, s.upper) for s in sums]) if sums else body)
        c = sp.Add(*coeffs)
        k2 = K.fresh()
        rhs = c / Sum(c.xreplace({k: k2}), (k2, k2.lower, k2.upper))
        upd = HyperUpdate(model, v, rep, rhs, (k,))
    elif not v.plates:
        h = v.symbol
        from .render import _pull_constants
        E = terms_to_expr(terms).replace(lambda e: isinstance(e, Sum), _pull_constants)
        sums = {}
        for s_ in E.atoms(Sum):
            if s_.has(h):
                raise UnsupportedModelError(f"M-step for {name!r}: {h} could not be taken out of {s_}")
            sums[s_] = sp.Dummy("S")
        Ed = E.xreplace(sums)
        back = {d: s_ for s_, d in sums.items()}
        sols = [sp.simplify(r).xreplace(back) for r in sp.solve(sp.Eq(sp.diff(Ed, h), 0), h)]
        if h.is_positive:
            sols = [s for s in sols if s.is_positive is not False]
        if len(sols) != 1:
            raise UnsupportedModelError(f"M-step for {name!r}: expected one admissible stationary point, found {sols}")
        upd = HyperUpdate(model, v, h, sols[0], ())
    else:
        raise UnsupportedModelError(f"M-step for {name!r}: only simplex-constrained probabilities or scalar parameters are supported")
    model._cache[key] = upd
    return upd
