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
* ``">="``       the next expression is at most the previous one at random points (a lower
  bound), latents at a draw from q and at a point of their support.

The instance's values come from the families themselves (the protocol of
:class:`vi_derivations.distributions.Family`): each observation is drawn inside its
likelihood's support (``draw_in_support``), matrix parameters get valid values
(``prepare_check``) and each q factor draws its own samples (``sample_q``); this module
never asks which family it holds.

Hyper-parameters get values inside their domain: positive by default, SPD matrices for the
ones declared symmetric and for the matrices the families ask for (``inst.spd_matrix``: a known
covariance or precision), values in an interval where a family says so (``inst.set_within``).

The first step is the definition of ``lhs`` and is not compared.  A step that cannot be
decided (an expectation inside a '+const' step, a value the instance cannot give) is reported
as ``checked=False`` with the words of a :class:`CheckUnavailable`; a model whose instance
cannot be built (a q family without a sampler) raises :class:`CheckUnavailable` naming the
variable and the construct.  The tests require every step of every chain to be checked.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import sympy as sp

from vi_derivations.errors import UnsupportedModelError

__all__ = ["StepCheck", "CheckUnavailable", "check_chain", "check_derivation"]

SIZES = (3, 2, 2, 2, 2)          # sizes given to the plates, in model order (2 beyond)


class CheckUnavailable(UnsupportedModelError):
    """The step checker cannot evaluate a construct of the model numerically; the message names
    the variable (or symbol) and the construct."""


def _size(t):
    return SIZES[t] if t < len(SIZES) else 2


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
        self.sizes = {p.size: sp.Integer(_size(t)) for t, p in enumerate(model.plates) if isinstance(p.size, sp.Symbol)}
        self.size_of = {p.name: int(self.sizes.get(p.size, p.size)) for p in model.plates}
        self.values: dict = {}          # deterministic values of Indexed/Symbol atoms
        self.samples: dict = {}         # q samples of latent elements (arrays of length S)
        self.onehot: dict = {}          # one-hot values of indicator elements
        self._draw()

    # -------------------------------------------------------------- values
    def _el(self, var, ix=()):
        """The element var[ix] as it appears in concrete expressions (plate sizes substituted,
        which also fixes the shape of the IndexedBase)."""
        return (var.symbol[ix] if ix else var.symbol).subs(self.sizes)

    def _elements(self, var):
        if not var.plates:
            return [((), self._el(var))]
        ranges = [range(self.size_of[p.name]) for p in var.plates]
        return [(ix, self._el(var, ix)) for ix in itertools.product(*ranges)]

    # the interface the families' checker members use (vi_derivations.distributions.Family)
    @property
    def rng(self):
        return self.g

    def element(self, var, ix=()):
        return self._el(var, ix)

    def elements(self, var):
        return self._elements(var)

    def param(self, dist, ix, name):
        """The numeric value of ``dist``'s parameter ``name`` at the element ``ix`` of its variable."""
        return self._param(dist, ix, name)

    def spd_matrix(self, var):
        """Symmetric positive definite values of the matrix ``var`` (a Variable or its symbol),
        one per batch element over its last two plates: set in ``values`` and kept (array of
        shape batch + (D, D)) in ``matrices``.  Drawn once; later calls return the same array."""
        if not hasattr(var, "plates"):
            v = self.model.var_of(var)
            if v is None:
                raise CheckUnavailable(f"the matrix {var} is not a variable of the model: no concrete value")
            var = v
        if var.name in self.matrices:
            return self.matrices[var.name]
        if len(var.plates) < 2 or self.size_of[var.plates[-1].name] != self.size_of[var.plates[-2].name]:
            raise CheckUnavailable(f"{var.name}: a covariance/precision matrix must be square over its last two plates")
        D = self.size_of[var.plates[-1].name]
        batch = [range(self.size_of[p.name]) for p in var.plates[:-2]]
        mats = np.empty(tuple(len(r) for r in batch) + (D, D))
        for b in itertools.product(*batch):
            A = self.g.normal(size=(D, D))
            mats[b] = A @ A.T / D + 0.5 * np.eye(D)
            for r in range(D):
                for c in range(D):
                    self.values[self._el(var, b + (r, c))] = float(mats[b][r, c])
        self.matrices[var.name] = mats
        return mats

    def set_within(self, expr, low, high):
        """Give every hyper-parameter element in ``expr`` (a family's parameter) a value drawn
        uniformly in (low, high): the parameter's domain, e.g. a known probability in (0, 1)."""
        names = {str(a.base.label) if isinstance(a, sp.Indexed) else a.name
                 for a in sp.sympify(expr).atoms(sp.Indexed, sp.Symbol)}
        for v in self.model.variables.values():
            if v.name in names and v.kind == "hyper":
                for _, el in self._elements(v):
                    self.values[el] = float(self.g.uniform(low, high))

    def set_draws(self, el, draws, point):
        """Draws under q of the latent element ``el`` and a point of its support."""
        self.samples[el], self.onehot[el] = draws, point

    def _generating_family(self, v):
        """The family that draws the observed ``v`` (a mixture's component), or None."""
        for f in self.model.factors:
            if f.var is v:
                return f.dist.observation_family
        return None

    def _draw(self):
        m = self.model
        simplex_params = {}
        for f in m.qfactors.values():
            for pname in f.dist.simplex_params:
                for a in f.dist.params[pname].atoms(sp.Indexed):
                    simplex_params[a.base.label.name] = f.dist
        for v in m.variables.values():
            if v.kind in ("hyper",):
                for _, el in self._elements(v):
                    self.values[el] = float(self.g.uniform(0.6, 2.0))
            elif v.kind in ("observed", "covariate"):
                family = self._generating_family(v)
                for _, el in self._elements(v):
                    self.values[el] = family.draw_in_support(self.g) if family is not None \
                        else float(self.g.normal(0, 1.5))
            elif v.kind == "variational":
                if v.name in simplex_params:
                    ev = simplex_params[v.name].event_plates[0]
                    pos = [p.name for p in v.plates].index(ev.name)
                    batch = [range(self.size_of[p.name]) if t != pos else [None] for t, p in enumerate(v.plates)]
                    for b in itertools.product(*batch):
                        w = self.g.dirichlet(np.ones(self.size_of[ev.name]))
                        for j in range(self.size_of[ev.name]):
                            ix = tuple(j if t == pos else b[t] for t in range(len(b)))
                            self.values[self._el(v, ix)] = float(w[j])
                else:
                    positive = bool(getattr(v.symbol, "is_positive", False)) or bool(
                        getattr(getattr(v.symbol, "label", None), "is_positive", False))
                    for _, el in self._elements(v):
                        self.values[el] = float(self.g.uniform(0.3, 1.5) if positive else self.g.normal(0, 1))
        # positivity of variational parameters that appear as variances / rates: the q families say which
        for f in m.qfactors.values():
            for name in f.dist.positive_params:
                if name in f.dist.params:
                    for a in f.dist.params[name].atoms(sp.Indexed) | f.dist.params[name].atoms(sp.Symbol):
                        if a in self.values:
                            self.values[a] = abs(self.values[a]) + 0.3
                    base = f.dist.params[name].subs(self.sizes)
                    for el in list(self.values):
                        if isinstance(el, sp.Indexed) and isinstance(base, sp.Indexed) and el.base.label == base.base.label:
                            self.values[el] = abs(self.values[el]) + 0.3
        # matrix parameters (covariances of structured q factors, Wishart scales, known precisions
        # and every hyper-parameter declared symmetric): valid values
        self.matrices = {}
        from vi_derivations.model import is_symmetric
        for v in m.variables.values():
            if v.kind == "hyper" and is_symmetric(v.symbol):
                self.spd_matrix(v)
        for f in list(m.factors) + list(m.qfactors.values()):
            f.dist.prepare_check(self, as_q=f in m.qfactors.values())
        # latent variables: q samples, and points of the support (one-hot for indicators)
        for f in m.qfactors.values():
            f.dist.sample_q(self, f.var)

    def _param(self, dist, ix, name):
        expr = dist.params[name]
        mapping = {p.index: sp.Integer(i) for p, i in zip(dist.var.plates, ix)}
        expr = expr.subs(mapping).subs(self.sizes)
        return float(expr.xreplace(_num(self.values)))

    # -------------------------------------------------------------- evaluation
    def concrete(self, expr, free_values):
        expr = sp.sympify(expr)
        if free_values:
            expr = expr.subs(free_values)
        # summation indices are sympy Idx objects carrying their range (0, K-1); replace them
        # by plain integer symbols so that substituting the sizes reaches every occurrence
        plain = {i: sp.Symbol(str(i.label), integer=True) for i in expr.atoms(sp.Idx)}
        return self._matrix_functions(expr.xreplace(plain).subs(self.sizes).doit())

    def _matrix_functions(self, expr):
        """Replace the engine's LogDet(V) and MatrixInverse(V[a,b], a, b, j, l) by numbers
        computed from the concrete matrix (numpy), so steps that use them can be evaluated."""
        from vi_derivations.distributions import LogDet, MatrixInverse

        def mat_of(base, batch=()):
            name = str(base.label) if hasattr(base, "label") else str(base)
            if name not in self.matrices:
                raise CheckUnavailable(f"no concrete matrix for {name}: its log-determinant or inverse needs "
                                       f"a matrix value (declare it symmetric, or give its family a prepare_check)")
            return self.matrices[name][tuple(int(i) for i in batch)]

        def logdet(e):
            if e in self.samples:        # log|Lambda_b| of a random matrix: sampled
                return e
            return sp.Float(np.linalg.slogdet(mat_of(e.args[0], e.args[1:]))[1], 17)

        def inverse(e):
            elem, _, _, j, l = e.args
            inv = np.linalg.inv(mat_of(elem.base, elem.indices[:-2]))
            return sp.Float(inv[int(j), int(l)], 17)

        expr = expr.replace(lambda e: isinstance(e, LogDet), logdet)
        expr = expr.replace(lambda e: isinstance(e, MatrixInverse) and e.args[3].is_Integer and e.args[4].is_Integer, inverse)
        return expr

    def free_index_values(self, exprs):
        free = set()
        for e in exprs:
            free |= {s for s in sp.sympify(e).free_symbols if isinstance(s, sp.Idx)}
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
        if fixed:
            body = body.xreplace(_num(fixed))
        if latent_mode == "sample":
            series = self._series(body.xreplace(_num(point)), fixed)
            val = float(np.mean(series))
            se = float(np.std(series) / np.sqrt(np.size(series))) if np.ndim(series) else 0.0
        else:
            lat = self.onehot if latent_mode == "onehot" else {k: float(v[0]) for k, v in self.samples.items()}
            rest = body.xreplace(_num(point)).xreplace(_num(self.values)).xreplace(_num(lat))
            if rest.free_symbols:
                raise CheckUnavailable(f"no concrete value for {sorted(map(str, rest.free_symbols))[:6]}")
            val = complex(rest.evalf())
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
        from vi_derivations.distributions import LogDet
        lat = [a for a in expr.atoms(sp.Indexed, sp.Symbol, LogDet) if a in self.samples]
        fixed_vals = {a: float(fixed[a]) for a in lat if a in fixed}
        expr = expr.xreplace(_num(fixed_vals))
        lat = [a for a in lat if a not in fixed]
        if not lat:
            if expr.free_symbols:
                raise CheckUnavailable(f"no concrete value for {sorted(map(str, expr.free_symbols))[:6]}")
            return np.asarray(float(expr.evalf()))
        dummies = [sp.Dummy() for _ in lat]
        f = sp.lambdify(dummies, expr.xreplace(dict(zip(lat, dummies))), "numpy")
        out = f(*[self.samples[a] for a in lat])
        return np.broadcast_to(np.asarray(out, float), (self.S,))


def _wrt_elements(inst, chain, free_values):
    out = []
    for w in chain.wrt:
        w = sp.sympify(w) if not isinstance(w, sp.IndexedBase) else w
        lab = w.label if isinstance(w, sp.IndexedBase) else w.base.label if isinstance(w, sp.Indexed) else None
        from vi_derivations.distributions import LogDet
        out += [a for a in inst.samples if isinstance(a, LogDet) and a.args[0].label == lab]  # log|Lambda_b|
        if isinstance(w, sp.IndexedBase):
            out += [a for a in inst.values if isinstance(a, sp.Indexed) and a.base.label == w.label]
            out += [a for a in inst.samples if isinstance(a, sp.Indexed) and a.base.label == w.label]
        elif isinstance(w, sp.Indexed):
            el = w.subs(free_values).subs(inst.sizes)
            if all(getattr(i, "is_Integer", False) for i in el.indices):
                out.append(el)
            else:   # an index bound inside the chain (a vector target such as w): every element
                lab = w.base.label
                out += [a for a in list(inst.values) + list(inst.samples)
                        if isinstance(a, sp.Indexed) and a.base.label == lab]
        else:
            out.append(w)
    return out


def _categorical_target(model, chain):
    """(factor, element) when the chain is the update of a one-hot Categorical factor."""
    if len(chain.wrt) != 1 or not isinstance(chain.wrt[0], sp.Indexed):
        return None
    w = chain.wrt[0]
    f = model.qfactors.get(str(w.base.label))
    if f is not None and f.dist.sums_to_one:
        return f
    return None


def check_chain(model, name, chain, seed=0) -> list[StepCheck]:
    """Check each consecutive pair of steps of one chain (see the module docstring).

    For the update of a one-hot factor q(c_i) the chain is written for one component,
    log q*(c_ik): it is evaluated at c_i = e_k (the free k), and '+const' means the
    difference does not depend on k."""
    try:
        inst = _Instance(model, seed=seed)
    except NotImplementedError as exc:      # a family hook without the checker's support
        raise CheckUnavailable(f"model {model.name}: {exc or 'a family without a sampler'} "
                               f"(the step checker cannot build a concrete instance)") from exc
    wrt_idx = [w for w in chain.wrt if isinstance(w, sp.Indexed)]
    free = inst.free_index_values([s.expr for s in chain.steps])
    cat = _categorical_target(model, chain)

    def setup(free_values, kval=0):
        conc = [inst.concrete(s.expr, free_values) for s in chain.steps]
        wrt = _wrt_elements(inst, chain, free_values)
        if cat is not None:
            ev = cat.dist.event_plates[0]
            w = chain.wrt[0]
            k_free = w.indices[[p.name for p in cat.var.plates].index(ev.name)]
            kval = int(free_values.get(k_free, kval))
            base_free = {i: v for i, v in free_values.items() if i != k_free}
            for i in w.indices:          # batch index of the target bound in the chain: use 0
                if i != k_free and i not in base_free:
                    base_free[i] = sp.Integer(0)
            fixed = {}
            for j in range(inst.size_of[ev.name]):
                el = w.subs({**base_free, k_free: sp.Integer(j)}).subs(inst.sizes)
                fixed[el] = 1.0 if j == kval else 0.0
        else:
            fixed = {el: float(inst.samples[el][0]) for el in wrt if el in inst.samples}
        return conc, wrt, fixed

    conc, wrt, fixed = setup(free)
    variants = None
    if cat is not None:
        ev = cat.dist.event_plates[0]
        w = chain.wrt[0]
        k_free = w.indices[[p.name for p in cat.var.plates].index(ev.name)]
        if k_free in free:
            variants = [setup({**free, k_free: sp.Integer(j)}) for j in range(inst.size_of[ev.name])]
        else:
            variants = [setup(free, kval=j) for j in range(inst.size_of[ev.name])]
    out = []
    for n in range(1, len(chain.steps)):
        st = chain.steps[n]
        try:
            if cat is not None and st.relation == "+const":
                ok, detail, checked = _const_over_categories(inst, variants, n)
            else:
                ok, detail, checked = _check_pair(inst, st.relation, conc[n - 1], conc[n], wrt, fixed)
        except CheckUnavailable as exc:
            ok, detail, checked = False, f"CheckUnavailable: {exc}", False
        except NotImplementedError as exc:   # from a family's code: reported in words too
            ok, detail, checked = False, f"CheckUnavailable: {exc or 'not implemented'}", False
        except Exception as exc:          # an evaluation problem: the step is not checked
            ok, detail, checked = False, f"{type(exc).__name__}: {exc}", False
        out.append(StepCheck(name, n, st.relation, st.text, checked, ok, detail))
    return out


def _const_over_categories(inst, variants, n):
    """'+const' for a one-hot target: prev - next evaluated at c_i = e_k is the same for every k."""
    diffs, ses = [], []
    for conc, wrt, fixed in variants:
        va, sa = inst.evaluate(conc[n - 1], "point", fixed)
        vb, sb = inst.evaluate(conc[n], "point", fixed)
        diffs.append(va - vb)
        ses.append(np.hypot(sa, sb))
    spread = max(diffs) - min(diffs)
    tol = 6 * max(ses) + 1e-10 * max(1.0, max(abs(d) for d in diffs))
    return spread <= tol, f"prev - next over the categories: spread {spread:.2g} (tol {tol:.2g})", True


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
            raise CheckUnavailable("a '+const' step with an unevaluated expectation")
        d = a - b
        worst = 0.0
        for w in wrt:
            g = sp.diff(d, w)
            for mode in ("point", "onehot"):
                v, _ = inst.evaluate(g, mode, fixed)
                worst = max(worst, abs(v))
        scale = max(1.0, max(abs(inst.evaluate(sp.diff(a, w), "point", fixed)[0]) for w in wrt) if wrt else 1.0)
        return worst <= 1e-9 * scale, f"max |d(prev - next)/d wrt| = {worst:.2g}", True
    if rel == ">=":     # a lower bound: next <= prev, latents at a draw from q and at a support point
        worst, tol = -np.inf, 0.0
        for mode in ("point", "onehot"):
            va, sa = inst.evaluate(a, mode, fixed)
            vb, sb = inst.evaluate(b, mode, fixed)
            t = 6 * np.hypot(sa, sb) + 1e-10 * max(1.0, abs(va), abs(vb))
            if vb - va - t > worst - tol:
                worst, tol = vb - va, t
        return worst <= tol, f"max (next - prev) = {worst:.3g} (tol {tol:.2g})", True
    raise CheckUnavailable(f"unknown relation {rel!r}")


def check_derivation(model, seed=0) -> list[StepCheck]:
    """Check every step of every chain of ``vi_derivations.derive(model)``."""
    import vi_derivations as vd
    d = vd.derive(model)
    out = []
    for name, chain in d.chains.items():
        out += check_chain(model, name, chain, seed=seed)
    return out


def chain_badge(model, chain_name: str) -> str:
    """A one-line Markdown note for the book: how many steps of the chain were checked and how
    (raises AssertionError if any step is unchecked or fails)."""
    import vi_derivations as vd
    res = check_chain(model, chain_name, vd.derive(model).chains[chain_name])
    bad = [r for r in res if not (r.checked and r.ok)]
    assert not bad, f"unchecked or failing steps in {chain_name}: " + "; ".join(f"step {r.step} ({r.relation}): {r.detail}" for r in bad)
    rels = ", ".join(sorted({r.relation for r in res}))
    return (f"✔ Every step of this derivation was checked by the ledger ({len(res)} steps; relations {rels}: "
            f"random points, Monte Carlo under q, or differentiation on a small instance).")
