"""Checking the engine's displayed derivations step by step.

A :class:`vi_derivations.derivation.Chain` is ``lhs = e1 = e2 = ...`` where each step
states how it relates to the previous one.  :func:`check_chain` evaluates every
consecutive pair on a small concrete instance of the model (plate sizes fixed, Sums
expanded, every symbol given a random value) and decides each relation independently
of the engine's algebra:

* ``"="``        equal at random points (relative 1e-10); unevaluated ``E_q[.]`` are
  replaced by Monte Carlo averages under q (tolerance 6 standard errors);
* ``"=support"`` equal at random points where the one-hot indicators are one-hot;
* ``"=E"``       the Monte Carlo mean of the previous (random) expression under q equals
  the next one (6 standard errors);
* ``"+const"``   the difference has zero derivative in every element of ``chain.wrt``
  (SymPy differentiation of the concrete expressions, evaluated at random points).

The first step is the definition of ``lhs`` and is not compared.  A step that cannot be
decided (an unsupported q family, an expectation inside a '+const' step) is reported
as ``checked=False``; the tests require every step of every chain to be checked.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import sympy as sp

__all__ = ["StepCheck", "check_chain", "check_derivation"]

SIZES = (3, 2, 2, 2, 2)          # sizes given to the plates, in model order


@dataclass
class StepCheck:
    chain: str
    step: int
    relation: str
    text: str
    checked: bool
    ok: bool
    detail: str = ""


def _expect_cls():
    from vi_derivations.expectation import Expect
    return Expect


def _num(d):
    return {k: sp.Float(v, 17) for k, v in d.items()}


class _Instance:
    """A concrete, seeded instance of a model: sizes, free indices and symbol values."""

    def __init__(self, model, seed=0, samples=40000):
        self.model = model
        self.g = np.random.default_rng(seed)
        self.S = samples
        self.sizes = {p.size: sp.Integer(n) for p, n in zip(model.plates, SIZES) if isinstance(p.size, sp.Symbol)}
        self.size_of = {p.name: int(self.sizes.get(p.size, p.size)) for p in model.plates}
        self.values: dict = {}          # deterministic values of Indexed/Symbol atoms
        self.samples: dict = {}         # q samples of latent elements (arrays of length S)
        self.onehot: dict = {}          # one-hot values of indicator elements
        self._draw()

    # -------------------------------------------------------------- values
    def _elements(self, var):
        if not var.plates:
            return [((), var.symbol)]
        ranges = [range(self.size_of[p.name]) for p in var.plates]
        return [(ix, var.symbol[ix]) for ix in itertools.product(*ranges)]

    def _draw(self):
        m = self.model
        simplex_params = {}
        for f in m.qfactors.values():
            if type(f.dist).__name__ in ("Categorical", "Dirichlet") and type(f.dist).__name__ == "Categorical":
                probs = f.dist.params["probs"]
                for a in probs.atoms(sp.Indexed):
                    simplex_params[a.base.label.name] = f.dist
        for v in m.variables.values():
            if v.kind in ("hyper",):
                for _, el in self._elements(v):
                    self.values[el] = float(self.g.uniform(0.6, 2.0))
            elif v.kind == "observed":
                for _, el in self._elements(v):
                    self.values[el] = float(self.g.normal(0, 1.5))
            elif v.kind == "variational":
                if v.name in simplex_params:
                    ev = simplex_params[v.name].event_plates[0]
                    pos = [p.name for p in v.plates].index(ev.name)
                    batch = [range(self.size_of[p.name]) if t != pos else [None] for t, p in enumerate(v.plates)]
                    for b in itertools.product(*batch):
                        w = self.g.dirichlet(np.ones(self.size_of[ev.name]))
                        for j in range(self.size_of[ev.name]):
                            ix = tuple(j if t == pos else b[t] for t in range(len(b)))
                            self.values[v.symbol[ix]] = float(w[j])
                else:
                    positive = bool(getattr(v.symbol, "is_positive", False)) or any(
                        getattr(a, "is_positive", False) for a in [v.symbol.label] if hasattr(v.symbol, "label"))
                    for _, el in self._elements(v):
                        self.values[el] = float(self.g.uniform(0.3, 1.5) if positive else self.g.normal(0, 1))
        # positivity of variational parameters that appear as variances / rates: use the q factors
        for f in m.qfactors.values():
            for name in ("var", "precision", "rate", "shape", "a", "b", "conc"):
                if name in f.dist.params:
                    for a in f.dist.params[name].atoms(sp.Indexed) | f.dist.params[name].atoms(sp.Symbol):
                        if a in self.values:
                            self.values[a] = abs(self.values[a]) + 0.3
                    base = f.dist.params[name]
                    for el in list(self.values):
                        if isinstance(el, sp.Indexed) and isinstance(base, sp.Indexed) and el.base == base.base:
                            self.values[el] = abs(self.values[el]) + 0.3
        # latent variables: q samples, and one-hot point values for indicators
        for f in m.qfactors.values():
            self._sample_factor(f)

    def _sample_factor(self, f):
        dist, v = f.dist, f.var
        kind = type(dist).__name__
        if kind == "Categorical":
            ev = dist.event_plates[0]
            pos = [p.name for p in v.plates].index(ev.name)
            batch = [range(self.size_of[p.name]) if t != pos else [None] for t, p in enumerate(v.plates)]
            K = self.size_of[ev.name]
            for b in itertools.product(*batch):
                idx = [tuple(j if t == pos else b[t] for t in range(len(b))) for j in range(K)]
                probs = np.array([self._param(dist, ix, "probs") for ix in idx])
                draws = self.g.choice(K, size=self.S, p=probs / probs.sum())
                hot = self.g.integers(K)
                for j, ix in enumerate(idx):
                    self.samples[v.symbol[ix]] = (draws == j).astype(float)
                    self.onehot[v.symbol[ix]] = float(j == hot)
            return
        for ix, el in self._elements(v):
            if kind == "Normal":
                mean = self._param(dist, ix, "mean")
                var = self._param(dist, ix, "var") if "var" in dist.params else 1.0 / self._param(dist, ix, "precision")
                self.samples[el] = mean + np.sqrt(var) * self.g.standard_normal(self.S)
            elif kind == "Gamma":
                self.samples[el] = self.g.gamma(self._param(dist, ix, "shape"), 1.0 / self._param(dist, ix, "rate"), self.S)
            elif kind == "Beta":
                self.samples[el] = self.g.beta(self._param(dist, ix, "a"), self._param(dist, ix, "b"), self.S)
            else:
                raise NotImplementedError(f"q family {kind} of {v.name} has no sampler in the chain checker")
            self.onehot[el] = float(self.g.normal())

    def _param(self, dist, ix, name):
        expr = dist.params[name]
        mapping = {p.index: sp.Integer(i) for p, i in zip(dist.var.plates, ix)}
        expr = expr.subs(mapping).subs(self.sizes)
        return float(expr.xreplace(_num(self.values)))

    # -------------------------------------------------------------- evaluation
    def concrete(self, expr, free_values):
        expr = sp.sympify(expr).subs(self.sizes)
        expr = expr.doit()
        if free_values:
            expr = expr.subs(free_values).doit()
        return expr

    def free_index_values(self, exprs):
        free = set()
        for e in exprs:
            free |= {s for s in sp.sympify(e).subs(self.sizes).free_symbols if isinstance(s, sp.Idx)}
        vals = {}
        from vi_derivations.model import plate_of
        for s in free:
            n = self.size_of[plate_of(s).name]
            vals[s] = sp.Integer(min(1, n - 1))
        return vals

    def evaluate(self, expr, latent_mode, fixed=()):
        """Value of a concrete expression and its Monte Carlo standard error.

        latent_mode: 'point' (latents outside E[.] get arbitrary values), 'onehot' (indicators
        one-hot) or 'sample' (the whole expression is random: average over q).  Inside E[.]
        latents are always averaged over q, except the elements in ``fixed`` (E_{-z})."""
        Expect = _expect_cls()
        exps = list(expr.atoms(Expect))
        reps = {}
        se_terms = []
        for j, E in enumerate(exps):
            sym = sp.Symbol(f"__E{j}")
            series = self._series(E.args[0], fixed)
            reps[E] = sym
            se_terms.append((sym, float(np.mean(series)), float(np.std(series) / np.sqrt(series.size)) if np.ndim(series) else 0.0))
        body = expr.xreplace(reps)
        point = {s: v for s, v, _ in se_terms}
        if latent_mode == "sample":
            series = self._series(body.xreplace(_num(point)), fixed)
            val = float(np.mean(series))
            se = float(np.std(series) / np.sqrt(np.size(series))) if np.ndim(series) else 0.0
        else:
            lat = self.onehot if latent_mode == "onehot" else {k: float(v[0]) for k, v in self.samples.items()}
            val = complex(body.xreplace(_num(point)).xreplace(_num(self.values)).xreplace(_num(lat)).evalf())
            if abs(val.imag) > 1e-12:
                raise ValueError("complex value")
            val, se = val.real, 0.0
        # propagate the E[.] standard errors linearly
        if se_terms:
            lat = self.onehot if latent_mode == "onehot" else {k: float(v[0]) for k, v in self.samples.items()}
            grads = [complex(sp.diff(body, s).xreplace(_num(point)).xreplace(_num(self.values)).xreplace(_num(lat)).evalf()).real
                     for s, _, _ in se_terms]
            se = float(np.sqrt(se**2 + sum((g * e) ** 2 for g, (_, _, e) in zip(grads, se_terms))))
        return val, se

    def _series(self, expr, fixed):
        expr = sp.sympify(expr).xreplace(_num(self.values))
        lat = [a for a in expr.atoms(sp.Indexed, sp.Symbol) if a in self.samples]
        fixed_vals = {a: float(self.samples[a][0]) for a in lat if a in fixed}
        expr = expr.xreplace(_num(fixed_vals))
        lat = [a for a in lat if a not in fixed]
        if not lat:
            return np.asarray(float(expr.evalf()))
        dummies = [sp.Dummy() for _ in lat]
        f = sp.lambdify(dummies, expr.xreplace(dict(zip(lat, dummies))), "numpy")
        out = f(*[self.samples[a] for a in lat])
        return np.broadcast_to(np.asarray(out, float), (self.S,))


def _wrt_elements(inst, chain, free_values):
    out = []
    for w in chain.wrt:
        w = sp.sympify(w) if not isinstance(w, sp.IndexedBase) else w
        if isinstance(w, sp.IndexedBase):
            out += [a for a in inst.values if isinstance(a, sp.Indexed) and a.base == w]
            out += [a for a in inst.samples if isinstance(a, sp.Indexed) and a.base == w]
        elif isinstance(w, sp.Indexed):
            out.append(w.subs(inst.sizes).subs(free_values))
        else:
            out.append(w)
    return out


def check_chain(model, name, chain, seed=0) -> list[StepCheck]:
    inst = _Instance(model, seed=seed)
    exprs = [s.expr for s in chain.steps] + [chain.wrt[0]] if chain.wrt else [s.expr for s in chain.steps]
    free = inst.free_index_values([s.expr for s in chain.steps] + [w for w in chain.wrt if isinstance(w, sp.Indexed)])
    conc = [inst.concrete(s.expr, free) for s in chain.steps]
    wrt = _wrt_elements(inst, chain, free)
    fixed = set(w for w in wrt if w in inst.samples)
    out = []
    for n in range(1, len(chain.steps)):
        st = chain.steps[n]
        a, b = conc[n - 1], conc[n]
        try:
            ok, detail, checked = _check_pair(inst, st.relation, a, b, wrt, fixed)
        except NotImplementedError as exc:
            ok, detail, checked = False, str(exc), False
        out.append(StepCheck(name, n, st.relation, st.text, checked, ok, detail))
    return out


def _check_pair(inst, rel, a, b, wrt, fixed):
    Expect = _expect_cls()
    has_E = bool(a.atoms(Expect) or b.atoms(Expect))
    if rel in ("=", "=support"):
        mode = "onehot" if rel == "=support" else "point"
        va, sa = inst.evaluate(a, mode, fixed)
        vb, sb = inst.evaluate(b, mode, fixed)
        tol = 6 * np.hypot(sa, sb) + 1e-10 * max(1.0, abs(va), abs(vb))
        return abs(va - vb) <= tol, f"{va:.10g} vs {vb:.10g} (tol {tol:.2g})", True
    if rel == "=E":
        va, sa = inst.evaluate(a, "sample", fixed)
        vb, sb = inst.evaluate(b, "point", fixed)
        tol = 6 * np.hypot(sa, sb) + 1e-10 * max(1.0, abs(va), abs(vb))
        return abs(va - vb) <= tol, f"E_q[prev] = {va:.8g} ± {sa:.2g}, next = {vb:.8g}", True
    if rel == "+const":
        if has_E:
            raise NotImplementedError("'+const' step with an unevaluated expectation")
        d = a - b
        worst = 0.0
        for w in wrt:
            g = sp.diff(d, w)
            for mode in ("point", "onehot"):
                v, _ = inst.evaluate(g, mode, fixed)
                worst = max(worst, abs(v))
        scale = max(1.0, max(abs(inst.evaluate(sp.diff(a, w), "point", fixed)[0]) for w in wrt) if wrt else 1.0)
        return worst <= 1e-9 * scale, f"max |d(prev - next)/d wrt| = {worst:.2g}", True
    raise NotImplementedError(f"unknown relation {rel!r}")


def check_derivation(model, seed=0) -> list[StepCheck]:
    """Check every step of every chain of ``vi_derivations.derive(model)``."""
    import vi_derivations as vd
    d = vd.derive(model)
    out = []
    for name, chain in d.chains.items():
        out += check_chain(model, name, chain, seed=seed)
    return out
