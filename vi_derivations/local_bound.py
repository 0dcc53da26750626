r"""Local variational bounds: a non-conjugate likelihood term replaced, by the model's explicit
choice, with a conjugate lower bound carrying one variational parameter per data point.

The only bound is Jaakkola & Jordan's (2000) for the logistic function: for every xi > 0 and
every real s,

    log sigma(s) >= log sigma(xi) + (s - xi)/2 - lambda(xi) (s^2 - xi^2),
    lambda(xi) = tanh(xi/2) / (4 xi),

with equality at xi = |s| (the bound is even in xi and quadratic in s).  A model opts in::

    y_n ~ BernoulliLogit(eta_n)                  log p(y | eta) = y eta + log sigma(-eta)
    M.local_bound(y, JaakkolaJordan(xi))        xi: a positive variational parameter over y's plates

and the engine then works with log h(y_n | eta_n, xi_n) = y_n eta_n + [bound on log sigma(-eta_n)]
<= log p(y_n | eta_n): quadratic in eta_n, so a Gaussian q is conjugate to it.  Everything the
engine derives (E_q[log h], the bound-ELBO, the q updates) is for h; the bound-ELBO is a lower
bound on the ELBO and so on log p(data).  Without ``local_bound`` a BernoulliLogit factor is
refused by name (the term log(1 + e^eta) is not a statistic of any mean-field family).

The update of xi is not typed: :func:`derive_bound_update` differentiates the terms of the
engine's E_q[log h] that involve xi_n, factorises the derivative and solves it for xi_n (the
positive root; the factors free of q's moments are checked not to vanish for xi > 0).
"""
from __future__ import annotations

import numpy as np
import sympy as sp
from sympy import Indexed, IndexedBase, Sum, exp, log, tanh

from .distributions import Family
from .errors import UnsupportedModelError
from .expectation import unify
from .monomials import terms_to_expr
from .numeric import compile_expr

__all__ = ["LocalBound", "JaakkolaJordan", "BernoulliLogit", "BoundUpdate", "derive_bound_update",
           "derive_bound_updates", "exact_log_joint", "add_bound_steps"]


def _base_of(xi):
    """The IndexedBase (or Symbol) of a variational parameter given as a Variable, IndexedBase,
    Indexed element or Symbol."""
    if hasattr(xi, "symbol") and hasattr(xi, "plates"):
        return xi.symbol
    if isinstance(xi, Indexed):
        return xi.base
    if isinstance(xi, (IndexedBase, sp.Symbol)):
        return xi
    raise TypeError(f"xi: expected a declared variational parameter, got {type(xi).__name__}")


class LocalBound:
    """A lower bound on a non-conjugate log-likelihood term with a variational parameter
    (``param``: its IndexedBase or Symbol).  Subclasses state the bound and the term it bounds."""

    name = "local bound"
    bounds = ()          # names of the families whose non-conjugate term this bound replaces

    def __init__(self, xi):
        self.param = _base_of(xi)
        self.factor = None

    def element(self, index):
        return self.param[tuple(index)] if isinstance(self.param, IndexedBase) else self.param

    def __repr__(self):
        return f"{type(self).__name__}({self.param})"


class JaakkolaJordan(LocalBound):
    r"""log sigma(s) >= log sigma(xi) + (s - xi)/2 - lambda(xi)(s^2 - xi^2), lambda(xi) =
    tanh(xi/2)/(4 xi) (Jaakkola & Jordan 2000); equality at xi = |s|."""

    name = "Jaakkola-Jordan bound"
    bounds = ("BernoulliLogit",)

    @staticmethod
    def lam(x):
        """lambda(xi) = tanh(xi/2) / (4 xi) = (sigma(xi) - 1/2) / (2 xi)."""
        return tanh(x / 2) / (4 * x)

    @staticmethod
    def log_sigmoid(x):
        """log sigma(x) = -log(1 + e^-x)."""
        return -log(1 + exp(-x))

    def lower(self, s, x):
        """The bound on log sigma(s) at parameter x (quadratic in s)."""
        return self.log_sigmoid(x) + (s - x) / 2 - self.lam(x) * (s ** 2 - x ** 2)


class BernoulliLogit(Family):
    """y in {0, 1} with P(y = 1) = sigma(eta): log p(y | eta) = y eta + log sigma(-eta)
    = y eta - log(1 + e^eta).  Model role only.  With a :class:`JaakkolaJordan` bound attached
    (:meth:`vi_derivations.Model.local_bound`) its log density is the bound
    y eta + log sigma(xi) + (-eta - xi)/2 - lambda(xi)(eta^2 - xi^2)."""

    name = "BernoulliLogit"
    supports_q = False
    param_names = ("logit",)
    support = "binary"     # the data checks of the generated code and the checker's draws read it

    def draw_in_support(self, rng):
        return float(rng.integers(0, 2))

    def __init__(self, logit):
        super().__init__(logit=logit)
        self.bound = None

    def exact_log_density(self, y):
        eta = self.params["logit"]
        return y * eta - log(1 + exp(eta))

    def bound_parameter(self):
        """The bound's parameter element for the canonical element of the variable (xi_n)."""
        return self.bound.element(self.canonical_index())

    def log_density(self, y):
        if self.bound is None:
            return self.exact_log_density(y)
        eta = self.params["logit"]
        return y * eta + self.bound.lower(-eta, self.bound_parameter())

    def attach_bound(self, bound):
        me = type(self).__name__
        if not isinstance(bound, LocalBound) or me not in bound.bounds:
            raise UnsupportedModelError(
                f"{me} over {self.var.name}: {bound!r} does not bound the term log(1 + e^eta) of a "
                f"{me} likelihood (use JaakkolaJordan(xi))")
        if self.bound is not None:
            raise ValueError(f"{me} over {self.var.name}: a local bound is already attached")
        self.bound = bound


# ============================================================================ the xi update
class BoundUpdate:
    """The update of a local bound's parameter: ``var`` (its name), ``bound``, ``rep`` (xi_n),
    ``terms`` (the terms of E_q[log h] that involve xi_n), ``derivative`` (d terms / d xi_n) and
    ``factored`` (the same, factorised), ``assignments`` ([Eq(xi_n, solution)])."""

    family = None

    def __init__(self, model, bound, rep, out, terms, derivative, factored, solution):
        self.model, self.bound, self.rep, self.out_indices = model, bound, rep, out
        self.var = str(getattr(bound.param, "label", bound.param))
        self.terms, self.derivative, self.factored = terms, derivative, factored
        self.assignments = [sp.Eq(rep, solution, evaluate=False)]

    def numeric(self):
        """f(**arrays) -> {xi name: updated array} (axes as declared)."""
        f = compile_expr(self.assignments[0].rhs, self.model, self.out_indices)
        name = self.var

        def g(**arrays):
            return {name: np.asarray(f(**arrays), dtype=float) if self.out_indices else float(f(**arrays))}

        return g

    def __repr__(self):
        return f"BoundUpdate({self.assignments[0]})"


def _terms_with(model, base, rep_index):
    """The terms of E_q[log p] (the engine's, with the bound in place) that involve the element
    base[rep_index], as one expression with the plates of the other indices summed."""
    from .elbo import expected_log_joint_terms
    out = []
    for t in expected_log_joint_terms(model):
        els = [a for a in t.coeff.atoms(Indexed) if a.base == base] if isinstance(base, IndexedBase) else []
        if isinstance(base, IndexedBase):
            if not els:
                continue
            if len({a.indices for a in els}) != 1:
                raise UnsupportedModelError(f"{base}: a term couples two of its elements: {t.coeff}")
            u = unify(els[0].indices, rep_index, set(t.sums))
            if u is None:
                continue
            mapping, dc = u
            body = (t.coeff * dc).xreplace(mapping)
            sums = tuple(s for s in t.sums if s not in mapping)
        else:
            if base not in t.coeff.free_symbols:
                continue
            body, sums = t.coeff, t.sums
        out.append(Sum(body, *[(s, s.lower, s.upper) for s in sums]) if sums else body)
    return sp.Add(*out)


def _no_positive_root(expr, x):
    """True when ``expr`` (a function of x alone) keeps one sign on a grid of x in [1e-2, 60]."""
    f = sp.lambdify(x, expr, "numpy")
    grid = np.geomspace(1e-2, 60.0, 400)
    with np.errstate(all="ignore"):
        vals = np.broadcast_to(np.asarray(f(grid), dtype=float), grid.shape)
    return bool(np.all(np.isfinite(vals)) and (np.all(vals > 0) or np.all(vals < 0)))


def derive_bound_update(model, name):
    """Maximiser of the bound-ELBO over the local bound parameter ``name`` (see module docstring)."""
    key = ("bound_update", name)
    if key in model._cache:
        return model._cache[key]
    bound = model.bounds.get(name)
    if bound is None:
        raise ValueError(f"{name!r} is not the parameter of a local bound of model {model.name!r}")
    from .render import _pull_constants
    v = model.variables[name]
    out = tuple(p.index for p in v.plates)
    rep = v.symbol[out] if v.plates else v.symbol
    terms = _terms_with(model, v.symbol, out)
    x = sp.Dummy("x", positive=True)
    E = terms.replace(lambda e: isinstance(e, Sum), _pull_constants)
    sums = {s_: sp.Dummy("S") for s_ in E.atoms(Sum)}
    if any(s_.has(v.symbol) for s_ in sums):
        raise UnsupportedModelError(f"update of {name}: {rep} could not be taken out of the plate sums of {terms}")
    back = {d: s_ for s_, d in sums.items()}
    Ex = E.xreplace(sums).xreplace({rep: x})
    d = sp.diff(Ex, x)
    factored = sp.factor(sp.simplify(d.rewrite(exp)))
    # the moments of q enter as plate sums (vector weights) or as q's own parameters (a scalar
    # weight: E[w^2] = m^2 + s2 with no sum)
    q_params = [w.symbol for w in model.variables.values()
                if w.kind == "variational" and w.name != name]
    def in_moments(g):
        return g.has(*back) or g.has(*q_params)
    moment_factors = [g for g in sp.Mul.make_args(factored) if in_moments(g)]
    others = [g for g in sp.Mul.make_args(factored) if not in_moments(g)]
    if len(moment_factors) != 1:
        raise UnsupportedModelError(f"update of {name}: the stationarity condition {factored} = 0 does not "
                                    f"have one factor in the moments of q")
    bad = [g for g in others if g.has(x) and not _no_positive_root(g, x)]
    if bad:
        raise UnsupportedModelError(f"update of {name}: the factor {bad[0]} of the derivative may vanish for "
                                    f"{name} > 0")
    g = moment_factors[0]
    g = g.base if isinstance(g, sp.Pow) and g.exp.is_Integer and g.exp > 0 else g
    poly = sp.Poly(g, x) if g.is_polynomial(x) else None
    if poly is not None and all(k % 2 == 0 for (k,) in poly.monoms()):
        # g is a polynomial in x^2 (the bound's x^2 = E[s^2]): solve for x^2 and take the
        # positive root, so that xi > 0 whatever the sign of the moments' factors (a scalar
        # weight w u_n gives xi_n = sqrt(u_n^2 E[w^2]), not u_n sqrt(E[w^2]))
        y = sp.Dummy("y", positive=True)
        in_y = sum(c * y ** (k // 2) for (k,), c in poly.terms())
        sols = [sp.sqrt(r) for r in sp.solve(in_y, y) if not r.could_extract_minus_sign()]
    else:
        sols = [s for s in sp.solve(g, x) if not s.could_extract_minus_sign()]
    if len(sols) != 1:
        raise UnsupportedModelError(f"update of {name}: expected one positive stationary point, found {sols}")
    solution = sols[0].xreplace(back)
    upd = BoundUpdate(model, bound, rep, out, terms,
                      d.xreplace(back).xreplace({x: rep}), factored.xreplace(back).xreplace({x: rep}), solution)
    model._cache[key] = upd
    return upd


def derive_bound_updates(model):
    """The update of every local bound's parameter of ``model``, in the order they were declared."""
    return [derive_bound_update(model, n) for n in getattr(model, "bounds", {})]


# ============================================================================ display
def exact_log_joint(model):
    """log p(observed, latent) with every bounded factor's exact log density (unexpanded)."""
    from .elbo import _batch_sum
    parts = []
    for f in model.factors:
        exact = getattr(f.dist, "bound", None) is not None
        dens = f.dist.exact_log_density(f.var.element) if exact else f.dist.log_density(f.var.element)
        parts.append(_batch_sum(dens, f))
    return sp.Add(*parts, evaluate=False)


def add_bound_steps(model, d):
    """Make a :class:`vi_derivations.derivation.Derivation` of a model with local bounds say so:
    the log joint starts from the exact model and the bound is a displayed step (relation '>='),
    E_q[log p] and the ELBO are bounded below by the engine's (bound) expressions, and each bound
    parameter gets two chains (its terms in the bound-ELBO; their derivative, factorised) and its
    update (appended to ``d.updates``)."""
    from .derivation import Chain, Step
    from .elbo import elbo, log_joint_expr
    from .render import latex
    names = sorted({b.name for b in model.bounds.values()})
    what = " and ".join(names)
    lj = d.chains["log_joint"]
    lj.steps[0:1] = [Step("the model, factor by factor", exact_log_joint(model)),
                     Step(f"the {what} on each logistic term, $\\log\\sigma(s) \\geq \\log\\sigma(\\xi) "
                          f"+ (s - \\xi)/2 - \\lambda(\\xi)(s^2 - \\xi^2)$, tight at $\\xi = |s|$",
                          log_joint_expr(model), ">=")]
    el = d.chains["expected_log_joint"]
    el.steps[0] = Step(f"expectation under q of the expanded log joint with the {what} in place",
                       el.steps[0].expr, ">=")
    eb = d.chains["elbo"]
    eb.steps[0] = Step(f"the bound-ELBO: every logistic term replaced by its {what}", eb.steps[0].expr, ">=")
    for name in model.bounds:
        u = derive_bound_update(model, name)
        d.updates.append(u)
        x = latex(u.rep)
        d.chains[f"bound_terms_{name}"] = Chain(
            f"The bound-ELBO as a function of {name}", sp.Symbol(r"\mathcal{L}(q, \xi)"),
            [Step("", elbo(model, constants=True)),
             Step(f"keep the terms that involve ${x}$", u.terms, "+const")], (u.rep,))
        d.chains[f"update_{name}"] = Chain(
            f"Update of {name}", sp.Symbol(r"\frac{\partial \mathcal{L}(q, \xi)}{\partial " + x + "}"),
            [Step(f"differentiate the terms that involve ${x}$", u.derivative),
             Step(f"factorise (tanh in exponentials); it vanishes for ${x} > 0$ only where the factor "
                  f"with the moments of q does", u.factored, "=")], (u.rep,))
