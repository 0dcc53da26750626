"""Derivations as chains of steps, for the book.

A :class:`Chain` is ``lhs = e1 = e2 = ...``: each :class:`Step` holds a short text, a SymPy
expression (never only a LaTeX string) and the *relation* that links it to the previous one:

* ``"="``        equal for all values of every symbol;
* ``"=support"`` equal on the support of the latent variables (one-hot indicators:
  c_ik^2 = c_ik, sum_k c_ik = 1);
* ``"=E"``       the previous expression is random and this is its expectation under q
  (linearity, independence of q's factors, moment table);
* ``"+const"``   equal up to an additive constant that does not depend on ``chain.wrt``
  (the variational parameters, or the target element z_j of an update).
* ``">="``       a lower bound: the previous expression is at least this one for all values
  (a local variational bound, :mod:`.local_bound`).

:func:`derive` builds the whole derivation of a model: the log joint, E_q[log p], E_q[log q],
the ELBO and every CAVI update.
"""
from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass, field

import sympy as sp

import importlib
_elbo = importlib.import_module(".elbo", __package__)
from .expectation import Expect
from .monomials import terms_to_expr
from .render import latex, tidy
from .updates import derive_updates

__all__ = ["Step", "Chain", "Derivation", "derive"]

_REL = {"=": "=", "=support": "=", "=E": "=", "+const": r"\doteq", ">=": r"\geq"}


def _letters(model):
    """Print with ``model``'s LaTeX names (see :meth:`Model.letters`)."""
    return model.letters() if model is not None else nullcontext()


@dataclass
class Step:
    text: str
    expr: sp.Expr
    relation: str = "="


@dataclass
class Chain:
    title: str
    lhs: sp.Expr
    steps: list
    wrt: tuple = ()  # symbols the '+const' constant does not depend on
    model: object = None  # printed with this model's letters (set by derive)

    def exprs(self):
        return [s.expr for s in self.steps]

    def latex(self):
        with _letters(self.model):
            return self._latex()

    def markdown(self):
        with _letters(self.model):
            return self._markdown()

    def _latex(self):
        lines = []
        for n, s in enumerate(self.steps):
            rel = _REL[s.relation]
            lhs = latex(self.lhs) if n == 0 else ""
            note = rf"\quad\text{{({s.text})}}" if s.text else ""
            lines.append(f"{lhs} &{rel} {latex(s.expr)}{note}")
        return r"\begin{aligned}" + r"\\ ".join(lines) + r"\end{aligned}"

    def _markdown(self):
        out = [f"**{self.title}**", ""]
        for n, s in enumerate(self.steps):
            rel = _REL[s.relation]
            lhs = latex(self.lhs) + " " if n == 0 else ""
            out.append(f"{s.text[:1].upper() + s.text[1:]}:" if s.text else "")
            out.append(f"$$ {lhs}{rel} {latex(s.expr)} $$")
            out.append("")
        return "\n".join(out)


@dataclass
class Derivation:
    model: object
    chains: dict = field(default_factory=dict)
    updates: list = field(default_factory=list)
    seconds: float = 0.0

    def latex(self):
        return "\n\n".join(c.latex() for c in self.chains.values())

    def markdown(self):
        with _letters(self.model):
            return self._markdown()

    def _markdown(self):
        parts = [f"# {self.model.name}", "", self.model.description, ""]
        for c in self.chains.values():
            parts.append(c.markdown())
        parts.append("**CAVI updates**\n")
        for u in self.updates:
            for a in u.assignments:
                parts.append(f"$$ {latex(a, given=u.assignments)} $$")
        return "\n".join(parts)


def _label(name):
    return sp.Symbol(name)


def _lhs_joint(model):
    obs = [v for v in model.variables.values() if v.kind == "observed"]
    lat = [v for v in model.variables.values() if v.kind == "latent"]
    args = ", ".join(v.latex for v in obs + lat)
    return sp.Symbol(rf"\log p({args})")


def _lhs_q(model):
    lat = [v for v in model.variables.values() if v.kind == "latent"]
    return sp.Symbol(rf"\log q({', '.join(v.latex for v in lat)})")


def _expected_product(mono, model):
    """E_q[mono] written as coeff * prod of E_q[element statistics], when no two atoms of one
    variable may be the same element (else None)."""
    q = model.qfactors
    blocks = {}
    for a in mono.atoms:
        blocks.setdefault((a.var, q[a.var].dist.batch_of(a.index)), []).append(a)
    by_var = {}
    for (v, b) in blocks:
        by_var.setdefault(v, []).append(b)
    if any(len(bs) > 1 for bs in by_var.values()):
        return None
    body = mono.coeff * sp.Mul(*[Expect(sp.Mul(*[a.full for a in blk])) for blk in blocks.values()])
    return sp.Sum(body, *[(s, s.lower, s.upper) for s in mono.sums]) if mono.sums else body


def log_joint_chain(model):
    raw = []
    from .monomials import expand_to_monos
    from .elbo import factor_log_density
    for f in model.factors:
        raw += _elbo.expand_factor(model, f)
    sup = _elbo.random_monos(model)
    steps = [
        Step("the model, factor by factor", _elbo.log_joint_expr(model)),
        Step("expand squares and logarithms into plate-summed monomials", terms_to_expr(raw)),
        Step("use the support of the latent variables (one-hot: $c^2=c$, $\\sum_k c_k=1$)",
             terms_to_expr(sup), "=support"),
    ]
    return Chain("The log joint", _lhs_joint(model), steps)


def expected_log_joint_chain(model):
    sup = _elbo.random_monos(model)
    steps = [Step("expectation under q of the expanded log joint", Expect(terms_to_expr(sup)))]
    prods = [_expected_product(m, model) for m in sup]
    if all(p is not None for p in prods):
        steps.append(Step("linearity, and independence of the factors of q", sp.Add(*prods), "=E"))
        steps.append(Step("moment table", _elbo.log_joint(model, constants=True), "="))
    else:
        steps.append(Step("linearity, independence of q's factors, moment table",
                          _elbo.log_joint(model, constants=True), "=E"))
    steps.append(Step("drop terms without variational parameters",
                      _elbo.log_joint(model, constants=False), "+const"))
    wrt = tuple(model.symbols_of_kind("variational"))
    return Chain("Expected log joint", Expect(_lhs_joint(model)), steps, wrt)


def log_var_chain(model):
    from .elbo import _batch_sum
    dens = sp.Add(*[_batch_sum(qf.dist.log_density(qf.var.element), qf) for qf in model.qfactors.values()])
    steps = [Step("expectation of the log of the mean-field family", Expect(dens)),
             Step("entropy table of each family", _elbo.log_var(model, constants=True), "=E"),
             Step("drop terms without model or variational parameters",
                  _elbo.log_var(model, constants=False), "+const")]
    wrt = tuple(model.symbols_of_kind("variational") | model.symbols_of_kind("hyper"))
    return Chain("Expected log variational density", Expect(_lhs_q(model)), steps, wrt)


def elbo_chain(model):
    steps = [Step("", _elbo.elbo(model, constants=True)),
             Step("dropped-constant convention", _elbo.elbo(model, constants=False), "+const")]
    return Chain("ELBO", sp.Symbol(r"\mathcal{L}(q)"), steps, tuple(model.symbols_of_kind("variational")))


def update_chain(model, u):
    z = u.rep
    fam = u.family
    zl = latex(z)
    wrt = (z,)
    if u.event_reps:  # the factor is over a whole vector (one-hot c_i, Dirichlet, MvNormal)
        batch = fam.batch_of(fam.canonical_index())
        sub = "_{" + "".join(latex(b) for b in batch) + "}" if batch else ""
        names = getattr(fam, "members", (u.var,))      # a joint factor: all its variables
        zl = ", ".join(model.variables[n].latex + sub for n in names)
        wrt = tuple(model.variables[n].element for n in names)
    lhs = sp.Symbol(rf"\log q^{{*}}({zl})")
    terms = []
    from .distributions import Categorical, Dirichlet, MvNormal
    stat_expr = _stat_exprs(u)
    lin = sp.Add(*[stat_expr[k](v) for k, v in u.natural.items()])
    steps = [
        Step(f"CAVI: keep the terms of the log joint that involve ${zl}$, average over the other factors",
             Expect(u.collected, sp.Symbol("-" + (f"({zl})" if "," in zl else zl))), "+const"),
        Step("take the expectations (natural parameters times sufficient statistics)", lin, "=E"),
    ]
    try:
        kern = fam.kernel(z, u.params)
        steps.append(Step(f"recognise the {fam.name} family", kern, "+const"))
    except NotImplementedError:
        pass
    return Chain(f"Update of q({u.var})", lhs, steps, wrt)


def _stat_exprs(u):
    """statistic -> f(eta) = eta * T(z_r), from the q family itself."""
    return u.family.stat_terms(u.rep, u.event_reps)


def derive(model):
    """The full derivation of ``model`` (cached on the model; rebuilt if the model changes)."""
    key = "derivation"
    if key in model._cache:
        model.use_letters()
        return model._cache[key]
    t0 = time.perf_counter()
    model.validate()
    d = Derivation(model)
    d.chains["log_joint"] = log_joint_chain(model)
    d.chains["expected_log_joint"] = expected_log_joint_chain(model)
    d.chains["log_var"] = log_var_chain(model)
    d.chains["elbo"] = elbo_chain(model)
    d.updates = derive_updates(model)
    for u in d.updates:
        d.chains[f"update_{u.var}"] = update_chain(model, u)
    if getattr(model, "bounds", None):  # local variational bounds: the bound as a step, the xi updates
        from .local_bound import add_bound_steps
        add_bound_steps(model, d)
    for c in d.chains.values():
        c.model = model
    d.seconds = time.perf_counter() - t0
    model._cache[key] = d
    return d
