"""Exponential families: log densities, sufficient statistics, moment and entropy tables,
and the map natural parameters -> family parameters.

Every family is used in two roles:

* in the model, ``log_density(value)`` is the log density of one element (an ``Indexed``
  random element such as ``x[i, d]``; for families with an *event plate* such as the
  one-hot Categorical, the element carries the canonical event index and the density sums
  over it);
* as a variational factor q, the family supplies the **moment table**
  (``moment(atoms)``: E_q of a product of statistics of one element), the negative entropy
  ``neg_entropy()`` = E_q[log q] of one element, the **sufficient statistics**
  (``statistic(atoms)`` names which statistic a product of random atoms is, or raises
  :class:`NonConjugateError`), and the map ``natural_to_params`` from natural parameters
  (the coefficients of the statistics in log q*) to the family's own parameters.

Random atoms (see :mod:`vi_derivations.monomials`) are ``z`` (fn 'id'), ``log z`` ('log')
and ``log(1 - z)`` ('log1m'), each with an integer power.
"""
from __future__ import annotations

import itertools

import numpy as np
import scipy.special as sps
import sympy as sp
from sympy import Idx, IndexedBase, KroneckerDelta, Sum, log, loggamma, digamma, exp, pi

from .errors import NonConjugateError, UnsupportedExpectationError, UnsupportedModelError
from .model import Plate, plate_of

__all__ = [
    "NonConjugateError", "UnsupportedExpectationError", "UnsupportedModelError", "Family", "Normal", "Categorical",
    "Mixture", "Gamma", "Beta", "Bernoulli", "Poisson", "Dirichlet", "MvNormal", "LogDet",
    "MatrixInverse", "NotEqual", "NumpyMap", "registered_families",
]


class LogDet(sp.Function):
    """log det of a (symbolic) matrix given as an IndexedBase: LogDet(V) = log |V|; with batch
    indices, LogDet(V, g) = log |V_g| (the matrix V[g, :, :] of group g).  Printed log|V_g|."""

    @classmethod
    def eval(cls, *args):
        if not args or not isinstance(args[0], IndexedBase):
            raise ValueError("LogDet: the first argument must be the matrix's IndexedBase")

    def _latex(self, printer):
        sub = "".join(printer._print(i) for i in self.args[1:])
        return r"\log\lvert " + printer._print(self.args[0]) + (f"_{{{sub}}}" if sub else "") + r"\rvert"


class MatrixInverse(sp.Function):
    """Element (j, l) of the inverse of the matrix whose (a, b) element is ``expr``:
    MatrixInverse(expr, a, b, j, l).  Unevaluated; numeric code inverts the array."""

    nargs = 5

    @property
    def free_symbols(self):
        expr, a, b, j, l = self.args
        return (expr.free_symbols - {a, b}) | j.free_symbols | l.free_symbols

    def _latex(self, printer):
        expr, a, b, j, l = self.args
        if all(isinstance(t, (Idx, sp.Symbol)) for t in (a, b, j, l)) \
                and j not in expr.free_symbols and l not in expr.free_symbols:
            expr, a, b = expr.xreplace({a: j, b: l}), j, l
        return (r"\left[\left(" + printer._print(expr) + r"\right)^{-1}\right]_{"
                + printer._print(j) + printer._print(l) + "}")


def _as_expr(v):
    """Allow a declared Variable as a parameter: its symbol, or its element with canonical indices."""
    if hasattr(v, "element") and hasattr(v, "plates"):
        return v.element
    return v


def _lim(idx):
    """Summation limits over the whole plate of ``idx`` (0-based internally, printed 1..N)."""
    return (idx, idx.lower, idx.upper)


class NotEqual(sp.Function):
    """Iverson bracket [a != b] = 1 - KroneckerDelta(a, b) for indices (kept unexpanded so that
    a sum over the other elements of a factor reads as sum_{l != j})."""

    nargs = 2

    @classmethod
    def eval(cls, a, b):
        if a == b:
            return sp.Integer(0)
        if a.is_Integer and b.is_Integer:
            return sp.Integer(1)

    def _latex(self, printer):
        return r"\left[" + printer._print(self.args[0]) + r" \neq " + printer._print(self.args[1]) + r"\right]"


def _merge_deltas(expr):
    """In each term with a factor KroneckerDelta(a, b), write the other factors with a = b
    (value unchanged) so that equal terms combine."""
    out = sp.Integer(0)
    for t in sp.Add.make_args(expr):
        ds = [f for f in sp.Mul.make_args(t) if isinstance(f, KroneckerDelta)]
        if ds:
            a, b = ds[0].args
            rest = sp.Mul(*[f for f in sp.Mul.make_args(t) if f is not ds[0]])
            t = ds[0] * rest.xreplace({b: a})
        out += t
    return out


def _pull(expr):
    """Pull constant factors out of Sums (display only; value unchanged)."""
    def f(e):
        if isinstance(e, Sum):
            idx = {l[0] for l in e.limits}
            body = sp.factor_terms(e.function)
            c, rest = [], []
            for g in sp.Mul.make_args(body):
                (rest if g.free_symbols & idx else c).append(g)
            if c:
                return sp.Mul(*c) * Sum(sp.Mul(*rest), *e.limits)
        return e
    return sp.sympify(expr).replace(lambda e: isinstance(e, Sum), f)


def _sub(expr, mapping):
    return sp.sympify(expr).xreplace(mapping)


_registry: list = []     # every Family subclass, in definition order (see registered_families)


def registered_families():
    """Every public family class defined so far (import :mod:`.count_families` and
    :mod:`.wishart` first to include theirs); helpers whose names start with "_" are left out."""
    return [c for c in _registry if not c.__name__.startswith("_")]


class NumpyMap:
    """What a family's NumPy natural-parameter map (:meth:`Family.numpy_natural_to_params`) is
    given by the code generator: ``var`` (the variable's name), ``eta`` (statistic key -> the name of its natural-parameter
    array; keys absent from the update are missing), ``deps`` (key -> the labels its array varies
    over), ``axes`` (the factor's labels, in the array's axis order), ``event`` (the free event
    indices of the natural parameters), ``where`` (for error messages), ``size(label)`` (code of a
    plate's size) and ``special(name)`` (a ``scipy.special`` function, imported; returns its name)."""

    def __init__(self, var, eta, deps, axes, event, where, size, special):
        self.var, self.eta, self.deps, self.axes, self.event = var, eta, deps, axes, event
        self.where, self.size, self.special = where, size, special

    def dep(self, *keys):
        """The labels the natural parameters ``keys`` vary over (the union)."""
        return set().union(*[self.deps.get(k, set()) for k in keys])


class Family:
    """A distribution the engine knows, behind one protocol: everything a family knows lives in
    its class, so adding a family is one module (a subclass) plus its tests, and no other module
    branches on a family's name.  The members (defaults here; each family overrides its own):

    * **support** -- ``log_density(value)`` of one element (every role);
      ``support`` (where an observation lies: ``"binary"``, ``"count"``, ``"onehot"``, ``"unit"``,
      ``"simplex"``, ``"positive"``, or None for any real value; the generated ``fit`` checks its
      data against it); ``support_reduce(atoms)`` and ``sums_to_one`` (identities on the support,
      e.g. c^2 = c of an indicator); ``simplex_params`` (parameters on the simplex over the event
      plate); ``observation_family`` (the family that draws an observed element: a Mixture's
      component); ``event_plates``;
    * **statistics** -- ``stats`` (the keys of the sufficient statistics), ``statistic(atoms)``
      (which statistic a product of random atoms is, or :class:`NonConjugateError`),
      ``event_reps()`` and ``stat_reps(key, reps)`` (free indices of the natural parameters);
    * **log-normaliser / log density** -- ``log_density`` (with its normaliser; as a q factor
      its entropy term below uses the same normaliser);
    * **moments** -- ``moment(atoms)``: E_q of a product of statistics of one element;
    * **entropy** -- ``neg_entropy()`` = E_q[log q] of one element;
    * **natural-parameter map** -- ``natural_to_params(eta, rep)`` (symbolic) and
      ``numeric_from_natural(eta)`` (NumPy arrays), the coefficients of the statistics in log q*
      to the family's own parameters;
    * **sampler and support for the checks** (:mod:`vi_derivations.chain_check`) --
      ``draw_in_support(rng)`` (one observed element inside the support), ``positive_params``
      (q parameters the checker sets positive), ``prepare_check(inst, as_q)`` (valid values for
      matrix parameters and known parameters with a domain, through ``inst.spd_matrix(var)``
      and ``inst.set_within(expr, low, high)``), ``sample(params, rng, size)`` and ``support_point(params, rng, draws)``
      (draws of one batch element under q and a point of the support), ``sample_q(inst, var)``
      (all elements of a q factor's variable; the default loops over the batch);
    * **NumPy code** (:mod:`vi_derivations.codegen`) -- ``stat_codes`` (statistic key -> name
      of its natural-parameter array, ``{z}`` the variable), ``numpy_matrix_axes`` (how many
      trailing matrix axes stay last), ``numpy_full_natural`` (natural parameters broadcast to
      the factor's full shape before the map), ``natural_axes(key, axes)`` and
      ``param_axes(name, axes)`` (the axes of a natural parameter / of a family parameter),
      ``numpy_natural_to_params(ctx)`` (printed lines of the map, see :class:`NumpyMap`),
      ``extra_targets()`` (further arrays the map writes, e.g. a covariance matrix),
      ``init_kinds`` (parameter -> default start: ``"simplex"``, ``"identity"``, ``"dof"``
      (D + 1 for a D x D Wishart's degrees of freedom)),
      ``numpy_blocked_softmax`` (the map is a softmax over the event axis: a local factor is
      updated in one blocked pass over the data);
    * **rendering** -- ``kernel(value, params)`` (log q up to a constant, for the "recognise the
      family" step), ``stat_terms(z, reps)`` (eta * T(z) for display), ``describe()`` (one line
      for a generated module's header), ``name``.
    """

    event_plates: tuple = ()
    supports_q = True
    name = "family"
    stats: tuple = ()
    param_names: tuple = ()
    # ---- support (observations) and the checker's draws
    support = None
    simplex_params: tuple = ()
    positive_params: tuple = ()
    # ---- NumPy code
    stat_codes: dict = {}
    numpy_matrix_axes = 0
    numpy_full_natural = False
    numpy_blocked_softmax = False
    init_kinds: dict = {}

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        _registry.append(cls)

    def __init__(self, **params):
        self.params = {k: sp.sympify(_as_expr(v)) for k, v in params.items()}
        self.var = None

    # ---------------------------------------------------------------- binding to a variable
    def check_value(self, var):
        for p in self.event_plates:
            if p not in var.plates:
                raise ValueError(f"{self.name} over {var.name}: event plate {p.name} is not a plate of {var.name}")
        self.var = var

    def all_exprs(self):
        return list(self.params.values())

    @property
    def event_positions(self):
        return tuple(self.var.plates.index(p) for p in self.event_plates)

    @property
    def batch_positions(self):
        ev = self.event_positions
        return tuple(t for t in range(len(self.var.plates)) if t not in ev)

    def batch_of(self, index):
        return tuple(index[t] for t in self.batch_positions)

    def event_of(self, index):
        return tuple(index[t] for t in self.event_positions)

    def params_at(self, index):
        """Parameters for the element ``var[index]`` (canonical indices replaced)."""
        mapping = {p.index: ix for p, ix in zip(self.var.plates, index)}
        return {k: _sub(v, mapping) for k, v in self.params.items()}

    def canonical_index(self):
        return tuple(p.index for p in self.var.plates)

    # ---------------------------------------------------------------- support identities
    def support_reduce(self, atoms):
        """Identities that hold on the support for a product of atoms of ONE element.
        Returns (coefficient, atoms). Default: none."""
        return sp.Integer(1), list(atoms)

    sums_to_one = False  # one-hot: sum over the event plate of the indicator is 1

    # ---------------------------------------------------------------- q-side (override)
    def moment(self, atoms):
        raise UnsupportedExpectationError(f"{self.name}: no moment table")

    def neg_entropy(self):
        raise UnsupportedExpectationError(f"{self.name}: no entropy")

    def statistic(self, atoms):
        raise NonConjugateError(f"{self.name} is not supported as a variational factor")

    def natural_to_params(self, eta, rep):
        raise NonConjugateError(f"{self.name}: no natural-parameter map")

    def numeric_from_natural(self, eta):
        raise NonConjugateError(f"{self.name}: no natural-parameter map")

    def kernel(self, value, params):
        """The value-dependent part of log q(value) for the given parameters (for display)."""
        raise NotImplementedError

    # ---------------------------------------------------------------- observations, rendering
    @property
    def observation_family(self):
        """The family that draws an observed element (itself; a Mixture's component)."""
        return self

    def describe(self):
        """One line for the header of a generated module."""
        return repr(self)

    # ---------------------------------------------------------------- the chain checker's draws
    def off_support(self, a, axis=None):
        """None if every element of the observed array ``a`` lies in the support, else the words
        for the support (``axis``: the event axis of a one-hot or simplex observation)."""
        a = np.asarray(a, dtype=float)
        ok = {
            None: lambda: True,
            "binary": lambda: np.all((a == 0) | (a == 1)),
            "count": lambda: np.all((a >= 0) & (a == np.round(a))),
            "unit": lambda: np.all((a > 0) & (a < 1)),
            "positive": lambda: np.all(a > 0),
            "simplex": lambda: np.all(a >= 0) and np.all(np.abs(a.sum(axis=axis) - 1) <= 1e-8),
            "onehot": lambda: np.all((a == 0) | (a == 1)) and np.all(a.sum(axis=axis) == 1),
        }[self.support]
        words = {"binary": "0 or 1", "count": "non-negative integers", "unit": "in (0, 1)",
                 "positive": "positive", "simplex": "non-negative, summing to one over its event axis",
                 "onehot": "one-hot over its event axis"}
        return None if ok() else f"{words[self.support]} ({self.name} observations)"

    def draw_in_support(self, rng):
        """One observed element inside the support (default: any real value)."""
        return float(rng.normal(0, 1.5))

    def prepare_check(self, inst, as_q):
        """Give the checker's instance ``inst`` valid values of this family's matrix parameters
        (``as_q``: the family is a q factor).  Default: nothing to do."""

    def sample(self, params, rng, size):
        """``size`` draws under q of one batch element (shape (size,) + event shape), given the
        numeric parameters ``params`` (name -> float, or array over the event plate)."""
        raise NotImplementedError(f"q family {self.name} has no sampler in the chain checker")

    def support_point(self, params, rng, draws):
        """A point of the support (the checker's one-hot / support evaluations): the first draw."""
        return draws[0]

    def sample_q(self, inst, var):
        """Draws under q of every element of ``var`` into the checker's instance (one sampler call
        per batch element; scalar families and families with one event plate)."""
        if len(self.event_plates) > 1:
            raise NotImplementedError(f"q family {self.name} of {var.name} has no sampler in the chain checker")
        names = [p.name for p in var.plates]
        pos = names.index(self.event_plates[0].name) if self.event_plates else None
        K = inst.size_of[self.event_plates[0].name] if self.event_plates else 1
        batch = [[None] if t == pos else range(inst.size_of[n]) for t, n in enumerate(names)]
        for b in itertools.product(*batch):
            idx = [tuple(j if t == pos else b[t] for t in range(len(b))) for j in range(K)]
            if pos is None:
                params = {n: inst.param(self, idx[0], n) for n in self.params}
            else:
                params = {n: np.array([inst.param(self, ix, n) for ix in idx]) for n in self.params}
            draws = np.asarray(self.sample(params, inst.rng, inst.S), dtype=float)
            point = np.asarray(self.support_point(params, inst.rng, draws), dtype=float)
            if pos is None:
                inst.set_draws(inst.element(var, idx[0]), draws, float(point))
            else:
                for j, ix in enumerate(idx):
                    inst.set_draws(inst.element(var, ix), draws[:, j], float(point[j]))

    # ---------------------------------------------------------------- NumPy code
    def natural_axes(self, key, axes):
        """The axes of the natural parameter ``key`` given the factor's axes (default: all)."""
        return axes

    def param_axes(self, name, axes):
        """The axes of the family parameter ``name`` given the factor's axes (default: all)."""
        return axes

    def numpy_natural_to_params(self, ctx: NumpyMap):
        """``(lines, outs)``: printed NumPy lines mapping the natural-parameter arrays ``ctx.eta``
        to the family's parameters, and parameter name -> (code, labels it varies over)."""
        raise NotImplementedError(f"{self.name}: no NumPy natural-parameter map")

    def extra_targets(self):
        """Out name -> IndexedBase of further arrays the map writes with the factor's full axes."""
        return {}

    # ---------------------------------------------------------------- statistics as a q factor
    def event_reps(self):
        """Free indices carried by the natural parameters (the event index of a vector family)."""
        return tuple(p.index for p in self.event_plates)

    def stat_reps(self, key, reps):
        """The free indices of the natural parameter of statistic ``key``."""
        return reps

    def stat_terms(self, z, reps):
        """statistic key -> f(eta) = eta * T(z) (summed over free event indices), for display."""
        fns = {"x": lambda t: t, "x^2": lambda t: t ** 2, "log x": sp.log, "log(1-x)": lambda t: sp.log(1 - t)}
        return {k: (lambda e, f=fns[k]: e * f(z)) for k in self.stats if k in fns}

    def _only_id(self, atoms, what):
        for a in atoms:
            if a.fn != "id":
                raise UnsupportedExpectationError(
                    f"E_q[{a.expr}] under q = {self.name}: {what} not in the moment table")

    def __repr__(self):
        return f"{self.name}({', '.join(f'{k}={v}' for k, v in self.params.items())})"


def _nonconj(family, atoms, stats):
    from functools import reduce
    import operator
    expr = reduce(operator.mul, [a.expr ** a.power for a in atoms], sp.Integer(1))
    return NonConjugateError(
        f"the term {expr} is not linear in the sufficient statistics {stats} of {family}")


# =============================================================================== Normal
class Normal(Family):
    """Univariate Normal N(mean, var) (or with ``precision``): element-wise over plates.

    log N(x | m, v) = -1/2 log(2 pi v) - (x - m)^2 / (2 v);  T(x) = (x, x^2);
    E[x] = m, E[x^2] = m^2 + v (all raw moments via the Gaussian formula);
    E_q[log q] = -1/2 log(2 pi v) - 1/2;  natural (eta1, eta2) -> v = -1/(2 eta2), m = eta1 v.
    """

    name = "Normal"
    stats = ("x", "x^2")
    param_names = ("mean", "var")
    positive_params = ("var", "precision")
    stat_codes = {"x": "{z}", "x^2": "{z}2"}

    def __init__(self, mean, var=None, precision=None):
        if (var is None) == (precision is None):
            raise ValueError("Normal: give exactly one of var= or precision=")
        if var is not None:
            super().__init__(mean=mean, var=var)
            self.parametrisation = "var"
        else:
            super().__init__(mean=mean, precision=precision)
            self.parametrisation = "precision"
        for k in ("var", "precision"):
            v = self.params.get(k)
            if v is not None and v.is_number and not v.is_positive:
                raise ValueError(f"Normal: {k} must be positive, got {v}")

    def log_density(self, x):
        m = self.params["mean"]
        if self.parametrisation == "var":
            v = self.params["var"]
            return -sp.Rational(1, 2) * log(2 * pi) - sp.Rational(1, 2) * log(v) - (x - m) ** 2 / (2 * v)
        t = self.params["precision"]
        return sp.Rational(1, 2) * log(t) - sp.Rational(1, 2) * log(2 * pi) - t * (x - m) ** 2 / 2

    def _mv(self, index):
        p = self.params_at(index)
        if self.parametrisation == "var":
            return p["mean"], p["var"]
        return p["mean"], 1 / p["precision"]

    def moment(self, atoms):
        self._only_id(atoms, "a function other than a power")
        n = sum(a.power for a in atoms)
        m, v = self._mv(atoms[0].index)
        # E[z^n] = sum_{j even} C(n, j) m^(n-j) v^(j/2) (j-1)!!
        return sp.Add(*[sp.binomial(n, j) * m ** (n - j) * v ** (j // 2) * sp.factorial2(j - 1)
                        for j in range(0, n + 1, 2)])

    def neg_entropy(self):
        _, v = self._mv(self.canonical_index())
        return -sp.Rational(1, 2) * log(2 * pi * v) - sp.Rational(1, 2)

    def statistic(self, atoms):
        if all(a.fn == "id" for a in atoms):
            n = sum(a.power for a in atoms)
            if n == 1:
                return "x", (), sp.Integer(1)
            if n == 2:
                return "x^2", (), sp.Integer(1)
        raise _nonconj(self, atoms, "(z, z^2)")

    def natural_to_params(self, eta, rep):
        if "x^2" not in eta or eta["x^2"] == 0:
            raise NonConjugateError(
                "Normal: the optimal factor has no quadratic term, so it is not a normalisable Gaussian "
                "(improper: is the prior missing?)")
        e1, e2 = eta.get("x", sp.Integer(0)), eta["x^2"]
        var = 1 / _pull(sp.expand(-2 * e2))
        mean = _pull(sp.expand(e1)) * var
        out = {"mean": mean}
        if self.parametrisation == "var":
            out["var"] = var
        else:
            out["precision"] = sp.simplify(-2 * e2)
        return out

    def numeric_from_natural(self, eta):
        e2 = np.asarray(eta["x^2"], dtype=float)
        e1 = np.asarray(eta.get("x", 0.0), dtype=float)
        if np.any(~(e2 < 0)):
            raise ValueError("Normal update: the coefficient of z^2 must be negative (improper factor)")
        var = -0.5 / e2
        out = {"mean": e1 * var}
        if self.parametrisation == "var":
            out["var"] = var * np.ones_like(out["mean"])
        else:
            out["precision"] = -2 * e2 * np.ones_like(out["mean"])
        return out

    def kernel(self, z, params):
        v = params["var"] if "var" in params else 1 / params["precision"]
        return -(z - params["mean"]) ** 2 / (2 * v)

    def numpy_natural_to_params(self, ctx):
        e = ctx.eta
        lines = [f"if not np.all({e['x^2']} < 0):",
                 f"    raise ValueError('{ctx.where}: the coefficient of {ctx.var}^2 must be negative '",
                 "                     '(an improper Gaussian); check the prior variances and the data')",
                 f"var = -0.5 / {e['x^2']}",
                 f"mean = {e['x']} * var" if "x" in e else "mean = 0 * var"]
        return lines, {"mean": ("mean", ctx.dep("x^2", "x")), "var": ("var", ctx.dep("x^2")),
                       "precision": ("-2 * " + e["x^2"], ctx.dep("x^2"))}

    def sample(self, params, rng, size):
        var = params["var"] if "var" in params else 1.0 / params["precision"]
        return params["mean"] + np.sqrt(var) * rng.standard_normal(size)


# =============================================================================== Categorical
class Categorical(Family):
    """One-hot Categorical over the event plate: c_k in {0, 1}, sum_k c_k = 1.

    log Cat(c | p) = sum_k c_k log p_k;  T(c) = (c_k)_k;  c_k^2 = c_k, c_k c_l = delta_kl c_k;
    E[c_k] = pi_k;  E_q[log q] = sum_k pi_k log pi_k;
    natural eta_k (log-potentials) -> pi_k = exp(eta_k) / sum_l exp(eta_l).
    """

    name = "Categorical"
    stats = ("c_k",)
    param_names = ("probs",)
    sums_to_one = True
    support = "onehot"
    simplex_params = ("probs",)
    stat_codes = {"c_k": "{z}"}
    numpy_full_natural = True
    numpy_blocked_softmax = True
    init_kinds = {"probs": "simplex"}

    def __init__(self, probs, event: Plate):
        if not isinstance(event, Plate):
            raise ValueError("Categorical: event= must be the Plate the one-hot vector runs over")
        super().__init__(probs=probs)
        self.event_plates = (event,)

    def log_density(self, c):
        k = self.event_plates[0].index
        return Sum(c * log(self.params["probs"]), _lim(k))

    def support_reduce(self, atoms):
        if any(a.fn != "id" for a in atoms):
            return sp.Integer(1), list(atoms)  # log c: left for the moment table to refuse
        coeff = sp.Integer(1)
        first = atoms[0]
        e0 = self.event_of(first.index)
        for a in atoms[1:]:
            for u, v in zip(e0, self.event_of(a.index)):
                if u != v:
                    coeff *= KroneckerDelta(u, v)
        return coeff, [first.with_power(1)]

    def moment(self, atoms):
        self._only_id(atoms, "log of an indicator")
        coeff, red = self.support_reduce(atoms)
        return coeff * self.params_at(red[0].index)["probs"]

    def neg_entropy(self):
        k = self.event_plates[0].index
        p = self.params_at(self.canonical_index())["probs"]
        return Sum(p * log(p), _lim(k))

    def statistic(self, atoms):
        if all(a.fn == "id" for a in atoms):
            coeff, red = self.support_reduce(atoms)
            return "c_k", self.event_of(red[0].index), coeff
        raise _nonconj(self, atoms, "(c_k)")

    def natural_to_params(self, eta, rep):
        (k,) = rep
        # terms that do not depend on k cancel in the normalisation
        e = sp.Add(*[t for t in sp.Add.make_args(sp.expand(eta["c_k"])) if k in t.free_symbols])
        k2 = plate_of(k).fresh()
        return {"probs": exp(e) / Sum(exp(e.xreplace({k: k2})), _lim(k2))}

    def numeric_from_natural(self, eta):
        e = np.asarray(eta["c_k"], dtype=float)
        return {"probs": np.exp(e - sps.logsumexp(e, axis=-1, keepdims=True))}

    def kernel(self, c, params):
        k = self.event_plates[0].index
        return Sum(c * log(params["probs"]), _lim(k))

    def stat_terms(self, z, reps):
        (k,) = reps
        return {"c_k": lambda e: Sum(e * z, _lim(k))}

    def numpy_natural_to_params(self, ctx):
        e, ax = ctx.eta["c_k"], ctx.axes.index(ctx.event[0])
        lse = ctx.special("logsumexp")
        return [f"probs = np.exp({e} - {lse}({e}, axis={ax}, keepdims=True))"], {"probs": ("probs", set(ctx.axes))}

    def sample(self, params, rng, size):
        probs = params["probs"]
        K = probs.size
        draws = rng.choice(K, size=size, p=probs / probs.sum())
        return (draws[:, None] == np.arange(K)).astype(float)

    def support_point(self, params, rng, draws):
        return (np.arange(draws.shape[1]) == rng.integers(draws.shape[1])).astype(float)


# =============================================================================== Mixture
class Mixture(Family):
    """A likelihood selected by a one-hot indicator: prod_k p_k(x)^{c_k}, i.e.
    log p(x | c, ...) = sum_k c_k log p_k(x), where ``component`` is written with the
    indicator's event index (e.g. ``Normal(mu[k, d], var=1)``)."""

    name = "Mixture"
    supports_q = False

    def __init__(self, indicator, component: Family):
        if not hasattr(indicator, "plates"):
            raise ValueError("Mixture: indicator must be a declared (one-hot) variable")
        super().__init__()
        self.indicator = indicator
        self.component = component

    def prepare_check(self, inst, as_q):
        """The component's known parameters get the component's domain (a probability in (0, 1))."""
        self.component.prepare_check(inst, as_q)

    def check_value(self, var):
        ind = self.indicator
        ev = [p for p in ind.plates if p not in var.plates]
        if len(ev) != 1:
            raise ValueError(
                f"Mixture for {var.name}: the indicator {ind.name} must have exactly one plate "
                f"(the component plate) that {var.name} does not have; found {[p.name for p in ev]}")
        comp = self.component
        if not isinstance(comp, Family) or isinstance(comp, Mixture):
            raise UnsupportedModelError(
                f"factor p({var.name} | ...): the component of a Mixture must be a plain family, got {comp!r}")
        if isinstance(comp, MvNormal):
            raise UnsupportedModelError(
                f"factor p({var.name} | ...): a Mixture with a multivariate Normal component "
                f"(term MvNormal over {comp.event_plates[0].name}) is not supported; write the component "
                f"element-wise (Normal over the plate) or fit the mixture with another method")
        # the component's own event plate (a Categorical over a vocabulary V, a Dirichlet) is the
        # mixture's event plate: the element log density already sums over it
        comp.check_value(var)
        self.event_plates = tuple(comp.event_plates)
        self.component_plate = ev[0]
        self.var = var

    def all_exprs(self):
        return [self.indicator.element] + self.component.all_exprs()

    @property
    def event_plates_for_check(self):
        return (self.component_plate,)

    def log_density(self, x):
        k = self.component_plate.index
        return Sum(self.indicator.element * self.component.log_density(x), _lim(k))

    @property
    def observation_family(self):
        return self.component

    def describe(self):
        return f"Mixture(indicator={self.indicator.name}, component={self.component!r})"


# =============================================================================== Gamma
class Gamma(Family):
    """Gamma(shape a, rate b): log = a log b - log Gamma(a) + (a-1) log t - b t;
    T(t) = (t, log t); E[t] = a/b, E[t^2] = a(a+1)/b^2, E[log t] = psi(a) - log b;
    E_q[log q] = -(a - log b + log Gamma(a) + (1-a) psi(a));
    natural (eta_t, eta_logt) -> a = eta_logt + 1, b = -eta_t."""

    name = "Gamma"
    stats = ("x", "log x")
    param_names = ("shape", "rate")
    support = "positive"
    positive_params = ("rate", "shape")
    stat_codes = {"x": "{z}", "log x": "log_{z}"}

    def __init__(self, shape, rate):
        super().__init__(shape=shape, rate=rate)

    def log_density(self, t):
        a, b = self.params["shape"], self.params["rate"]
        return a * log(b) - loggamma(a) + (a - 1) * log(t) - b * t

    def moment(self, atoms):
        p = self.params_at(atoms[0].index)
        a, b = p["shape"], p["rate"]
        ids = sum(x.power for x in atoms if x.fn == "id")
        logs = [x for x in atoms if x.fn != "id"]
        if not logs:
            return sp.rf(a, ids) / b ** ids  # E[t^n] = a (a+1) ... (a+n-1) / b^n
        if ids == 0 and len(logs) == 1 and logs[0].fn == "log" and logs[0].power == 1:
            return digamma(a) - log(b)
        raise UnsupportedExpectationError(
            f"E_q[{' * '.join(str(x.expr**x.power) for x in atoms)}] under q = Gamma is not in the moment table")

    def neg_entropy(self):
        p = self.params_at(self.canonical_index())
        a, b = p["shape"], p["rate"]
        return -(a - log(b) + loggamma(a) + (1 - a) * digamma(a))

    def statistic(self, atoms):
        if len(atoms) == 1 and atoms[0].power == 1:
            if atoms[0].fn == "id":
                return "x", (), sp.Integer(1)
            if atoms[0].fn == "log":
                return "log x", (), sp.Integer(1)
        raise _nonconj(self, atoms, "(t, log t)")

    def natural_to_params(self, eta, rep):
        if "x" not in eta or eta["x"] == 0:
            raise NonConjugateError("Gamma: the optimal factor has no linear term in t (improper)")
        return {"shape": sp.simplify(eta.get("log x", 0) + 1), "rate": sp.simplify(-eta["x"])}

    def numeric_from_natural(self, eta):
        rate = -np.asarray(eta["x"], dtype=float)
        shape = np.asarray(eta.get("log x", 0.0), dtype=float) + 1
        shape, rate = np.broadcast_arrays(shape, rate)
        if np.any(~(rate > 0)) or np.any(~(shape > 0)):
            raise ValueError("Gamma update: non-positive shape or rate (improper factor)")
        return {"shape": shape.copy(), "rate": rate.copy()}

    def kernel(self, t, params):
        return (params["shape"] - 1) * log(t) - params["rate"] * t

    def numpy_natural_to_params(self, ctx):
        e = ctx.eta
        lines = [f"shape = {e['log x']} + 1" if "log x" in e else "shape = 1.0",
                 f"rate = -{e['x']}",
                 "if not (np.all(shape > 0) and np.all(rate > 0)):",
                 f"    raise ValueError('{ctx.where}: non-positive shape or rate (an improper Gamma); "
                 f"check the prior shape and rate')"]
        return lines, {"shape": ("shape", ctx.dep("log x")), "rate": ("rate", ctx.dep("x"))}

    def draw_in_support(self, rng):
        return float(rng.uniform(0.3, 1.5))

    def sample(self, params, rng, size):
        return rng.gamma(params["shape"], 1.0 / params["rate"], size)


# =============================================================================== Beta
def _logbeta(a, b):
    return loggamma(a) + loggamma(b) - loggamma(a + b)


class Beta(Family):
    """Beta(a, b): log = (a-1) log t + (b-1) log(1-t) - log B(a, b); T = (log t, log(1-t));
    E[log t] = psi(a) - psi(a+b), E[log(1-t)] = psi(b) - psi(a+b), E[t] = a/(a+b);
    E_q[log q] = -log B(a,b) + (a-1) psi(a) + (b-1) psi(b) - (a+b-2) psi(a+b);
    natural -> a = eta_log + 1, b = eta_log1m + 1."""

    name = "Beta"
    stats = ("log x", "log(1-x)")
    param_names = ("a", "b")
    support = "unit"
    positive_params = ("a", "b")
    stat_codes = {"log x": "log_{z}", "log(1-x)": "log1m_{z}"}

    def __init__(self, a, b):
        super().__init__(a=a, b=b)

    def log_density(self, t):
        a, b = self.params["a"], self.params["b"]
        return (a - 1) * log(t) + (b - 1) * log(1 - t) - _logbeta(a, b)

    def moment(self, atoms):
        p = self.params_at(atoms[0].index)
        a, b = p["a"], p["b"]
        if len(atoms) == 1 and atoms[0].power == 1:
            fn = atoms[0].fn
            if fn == "log":
                return digamma(a) - digamma(a + b)
            if fn == "log1m":
                return digamma(b) - digamma(a + b)
        if all(x.fn == "id" for x in atoms):
            n = sum(x.power for x in atoms)
            return sp.rf(a, n) / sp.rf(a + b, n)
        raise UnsupportedExpectationError(
            f"E_q[{' * '.join(str(x.expr**x.power) for x in atoms)}] under q = Beta is not in the moment table")

    def neg_entropy(self):
        p = self.params_at(self.canonical_index())
        a, b = p["a"], p["b"]
        return -_logbeta(a, b) + (a - 1) * digamma(a) + (b - 1) * digamma(b) - (a + b - 2) * digamma(a + b)

    def statistic(self, atoms):
        if len(atoms) == 1 and atoms[0].power == 1 and atoms[0].fn in ("log", "log1m"):
            return ("log x" if atoms[0].fn == "log" else "log(1-x)"), (), sp.Integer(1)
        raise _nonconj(self, atoms, "(log t, log(1 - t))")

    def natural_to_params(self, eta, rep):
        return {"a": sp.simplify(eta.get("log x", 0) + 1), "b": sp.simplify(eta.get("log(1-x)", 0) + 1)}

    def numeric_from_natural(self, eta):
        a = np.asarray(eta.get("log x", 0.0), dtype=float) + 1
        b = np.asarray(eta.get("log(1-x)", 0.0), dtype=float) + 1
        a, b = np.broadcast_arrays(a, b)
        if np.any(~(a > 0)) or np.any(~(b > 0)):
            raise ValueError("Beta update: non-positive parameter (improper factor)")
        return {"a": a.copy(), "b": b.copy()}

    def kernel(self, t, params):
        return (params["a"] - 1) * log(t) + (params["b"] - 1) * log(1 - t)

    def numpy_natural_to_params(self, ctx):
        e = ctx.eta
        lines = [f"a = {e['log x']} + 1" if "log x" in e else "a = 1.0",
                 f"b = {e['log(1-x)']} + 1" if "log(1-x)" in e else "b = 1.0",
                 "if not (np.all(a > 0) and np.all(b > 0)):",
                 f"    raise ValueError('{ctx.where}: non-positive parameter (an improper Beta)')"]
        return lines, {"a": ("a", ctx.dep("log x")), "b": ("b", ctx.dep("log(1-x)"))}

    def draw_in_support(self, rng):
        return float(rng.uniform(0.05, 0.95))

    def sample(self, params, rng, size):
        return rng.beta(params["a"], params["b"], size)


# =============================================================================== Bernoulli
class Bernoulli(Family):
    """Bernoulli(p) on {0, 1}: log = x log p + (1-x) log(1-p); x^n = x; E[x] = p;
    E_q[log q] = p log p + (1-p) log(1-p); natural eta -> p = 1/(1 + exp(-eta))."""

    name = "Bernoulli"
    stats = ("x",)
    param_names = ("p",)
    support = "binary"
    stat_codes = {"x": "{z}"}

    def __init__(self, p):
        super().__init__(p=p)

    def log_density(self, x):
        p = self.params["p"]
        return x * log(p) + (1 - x) * log(1 - p)

    def support_reduce(self, atoms):
        if all(a.fn == "id" for a in atoms):
            return sp.Integer(1), [atoms[0].with_power(1)]
        return sp.Integer(1), list(atoms)

    def moment(self, atoms):
        self._only_id(atoms, "log of a binary variable")
        return self.params_at(atoms[0].index)["p"]

    def neg_entropy(self):
        p = self.params_at(self.canonical_index())["p"]
        return p * log(p) + (1 - p) * log(1 - p)

    def statistic(self, atoms):
        if all(a.fn == "id" for a in atoms):
            return "x", (), sp.Integer(1)
        raise _nonconj(self, atoms, "(x)")

    def natural_to_params(self, eta, rep):
        return {"p": 1 / (1 + exp(-eta.get("x", sp.Integer(0))))}

    def numeric_from_natural(self, eta):
        # expit rounds to exactly 1.0 for eta > 37; keep p below 1 (by one ulp at most) so that
        # (1 - p) log(1 - p) in the entropy stays finite
        p = sps.expit(np.asarray(eta.get("x", 0.0), dtype=float))
        return {"p": np.minimum(p, 1 - np.finfo(float).epsneg)}

    def kernel(self, x, params):
        return x * log(params["p"] / (1 - params["p"]))

    def numpy_natural_to_params(self, ctx):
        return [f"p = {ctx.special('expit')}({ctx.eta['x']})"], {"p": ("p", ctx.dep("x"))}

    def draw_in_support(self, rng):
        return float(rng.integers(0, 2))

    def prepare_check(self, inst, as_q):
        if not as_q:                                # a known probability: inside (0, 1)
            inst.set_within(self.params["p"], 0.05, 0.95)
            return
        p = self.params["p"].subs(inst.sizes)      # q's probabilities: values inside (0, 1)
        labels = {a.base.label for a in p.atoms(sp.Indexed)}
        for el in [el for el in inst.values if el in p.free_symbols
                   or isinstance(el, sp.Indexed) and el.base.label in labels]:
            inst.values[el] = float(inst.rng.uniform(0.05, 0.95))

    def sample(self, params, rng, size):
        return rng.binomial(1, params["p"], size).astype(float)


# =============================================================================== Poisson
class Poisson(Family):
    """Poisson(rate): log = x log rate - rate - log Gamma(x + 1). (Model role only.)"""

    name = "Poisson"
    supports_q = False
    param_names = ("rate",)
    support = "count"

    def draw_in_support(self, rng):
        return float(rng.poisson(2.0))

    def __init__(self, rate):
        super().__init__(rate=rate)

    def log_density(self, x):
        lam = self.params["rate"]
        return x * log(lam) - lam - loggamma(x + 1)


# =============================================================================== Dirichlet
class Dirichlet(Family):
    """Dirichlet(alpha) over the event plate: log = log Gamma(sum alpha) - sum log Gamma(alpha_k)
    + sum (alpha_k - 1) log t_k; T = (log t_k); E[log t_k] = psi(alpha_k) - psi(sum alpha);
    E[t_k] = alpha_k / sum alpha; natural eta_k -> alpha_k = eta_k + 1."""

    name = "Dirichlet"
    stats = ("log x_k",)
    param_names = ("conc",)
    support = "simplex"
    positive_params = ("conc",)
    stat_codes = {"log x_k": "log_{z}"}

    def __init__(self, conc, event: Plate):
        if not isinstance(event, Plate):
            raise ValueError("Dirichlet: event= must be a Plate")
        super().__init__(conc=conc)
        self.event_plates = (event,)

    def _total(self, a, k):
        k2 = plate_of(k).fresh()
        return Sum(a.xreplace({k: k2}), _lim(k2))

    def log_density(self, t):
        k = self.event_plates[0].index
        K = self.event_plates[0].size
        a = self.params["conc"]
        return (loggamma(self._total(a, k)) - Sum(loggamma(a), _lim(k))
                + Sum((a - 1) * log(t), _lim(k)))

    def moment(self, atoms):
        k = self.event_plates[0].index
        if len(atoms) == 1 and atoms[0].power == 1 and atoms[0].fn in ("log", "id"):
            a_all = self.params_at(tuple(ix if t not in self.event_positions else k
                                         for t, ix in enumerate(atoms[0].index)))["conc"]
            a = self.params_at(atoms[0].index)["conc"]
            tot = self._total(a_all, k)
            return digamma(a) - digamma(tot) if atoms[0].fn == "log" else a / tot
        raise UnsupportedExpectationError(
            f"E_q[{' * '.join(str(x.expr**x.power) for x in atoms)}] under q = Dirichlet is not in the moment table")

    def neg_entropy(self):
        k = self.event_plates[0].index
        K = self.event_plates[0].size
        a = self.params_at(self.canonical_index())["conc"]
        tot = self._total(a, k)
        return (loggamma(tot) - Sum(loggamma(a), _lim(k))
                + Sum((a - 1) * (digamma(a) - digamma(tot)), _lim(k)))

    def statistic(self, atoms):
        if len(atoms) == 1 and atoms[0].power == 1 and atoms[0].fn == "log":
            return "log x_k", self.event_of(atoms[0].index), sp.Integer(1)
        raise _nonconj(self, atoms, "(log t_k)")

    def natural_to_params(self, eta, rep):
        return {"conc": sp.simplify(eta.get("log x_k", 0) + 1)}

    def numeric_from_natural(self, eta):
        a = np.asarray(eta.get("log x_k", 0.0), dtype=float) + 1
        if np.any(~(a > 0)):
            raise ValueError("Dirichlet update: non-positive concentration (improper factor)")
        return {"conc": a}

    def kernel(self, t, params):
        k = self.event_plates[0].index
        return Sum((params["conc"] - 1) * log(t), _lim(k))

    def stat_terms(self, z, reps):
        (k,) = reps
        return {"log x_k": lambda e: Sum(e * log(z), _lim(k))}

    def numpy_natural_to_params(self, ctx):
        e = ctx.eta["log x_k"]
        lines = [f"conc = {e} + 1",
                 "if not np.all(conc > 0):",
                 f"    raise ValueError('{ctx.where}: non-positive concentration (an improper Dirichlet)')"]
        return lines, {"conc": ("conc", ctx.dep("log x_k"))}

    def sample(self, params, rng, size):
        return rng.dirichlet(params["conc"], size=size)

    def support_point(self, params, rng, draws):
        return rng.dirichlet(params["conc"])


# =============================================================================== MvNormal
class MvNormal(Family):
    """Multivariate Normal over the event plate J with full covariance (a structured factor).

    ``mean`` is an expression in the event index j; ``cov`` (or ``precision``) is an IndexedBase
    whose last two plates are (J, J) (after the batch plates of the variable).
    log N(w | m, V) = -J/2 log(2 pi) - 1/2 log det V - 1/2 sum_jl (w_j - m_j) P_jl (w_l - m_l)
    with P = V^{-1}; T(w) = (w_j, w_j w_l); E[w_j] = m_j, E[w_j w_l] = V_jl + m_j m_l;
    E_q[log q] = -J/2 (1 + log 2 pi) - 1/2 log det V;
    natural (eta_j, eta_jl) -> P = -(eta + eta^T), V = P^{-1}, m = V eta.
    """

    name = "MvNormal"
    stats = ("w_j", "w_j w_l")
    param_names = ("mean", "cov")
    stat_codes = {"w_j": "{z}", "w_j w_l": "{z}{z}"}
    numpy_matrix_axes = 2
    numpy_full_natural = True
    init_kinds = {"cov": "identity"}

    def __init__(self, mean, cov=None, precision=None, event: Plate = None):
        if not isinstance(event, Plate):
            raise ValueError("MvNormal: event= must be the Plate of the vector")
        if (cov is None) == (precision is None):
            raise ValueError("MvNormal: give exactly one of cov= or precision=")
        mat = cov if cov is not None else precision
        if not isinstance(mat, IndexedBase):
            raise ValueError("MvNormal: cov/precision must be an IndexedBase over (..., J, J)")
        super().__init__(mean=mean)
        self.matrix = mat
        self.parametrisation = "cov" if cov is not None else "precision"
        self.event_plates = (event,)

    def all_exprs(self):
        return [self.params["mean"]]

    def symmetric_matrices(self):
        """The parameters this family keeps symmetric: the covariance (or precision) matrix."""
        return (self.matrix,)

    def check_value(self, var):
        super().check_value(var)
        shape = self.matrix.shape
        nb = len(var.plates) - 1
        if shape is not None and len(shape) not in (2, 2 + nb):
            raise UnsupportedModelError(
                f"MvNormal over {var.name}: the matrix {self.matrix} must have shape (J, J) (shared by every "
                f"group) or the {nb} batch plate(s) of {var.name} followed by (J, J); got {len(shape)} axes")

    @property
    def shared_matrix(self):
        """True when the matrix has no batch axes (one matrix for every group)."""
        return self.matrix.shape is not None and len(self.matrix.shape) == 2

    def _mat(self, batch, a, b):
        return self.matrix[(a, b) if self.shared_matrix else tuple(batch) + (a, b)]

    def _logdet(self, batch):
        return LogDet(self.matrix) if self.shared_matrix else LogDet(self.matrix, *batch)

    def _batch_canonical(self):
        return tuple(p.index for p in self.var.plates if p not in self.event_plates)

    def log_density(self, w):
        J = self.event_plates[0]
        j = J.index
        l = J.fresh()
        m = self.params["mean"]
        batch = self._batch_canonical()
        wl, ml = w.xreplace({j: l}), m.xreplace({j: l})
        quad = Sum(Sum((w - m) * self._mat(batch, j, l) * (wl - ml), _lim(l)), _lim(j))
        if self.parametrisation == "cov":
            a, b = J.fresh(), J.fresh()
            inv = MatrixInverse(self._mat(batch, a, b), a, b, j, l)
            quad = Sum(Sum((w - m) * inv * (wl - ml), _lim(l)), _lim(j))
            return -J.size / 2 * log(2 * pi) - self._logdet(batch) / 2 - quad / 2
        return (-J.size / 2 * log(2 * pi) + self._logdet(batch) / 2 - quad / 2)

    def moment(self, atoms):
        self._only_id(atoms, "a function other than a power")
        flat = [a for a in atoms for _ in range(a.power)]
        batch = self.batch_of(atoms[0].index)
        m = lambda a: self.params_at(a.index)["mean"]
        if self.parametrisation != "cov":
            raise UnsupportedExpectationError("MvNormal q factor must be parametrised by cov=")
        if len(flat) == 1:
            return m(flat[0])
        if len(flat) == 2:
            (ja,), (jb,) = self.event_of(flat[0].index), self.event_of(flat[1].index)
            return self._mat(batch, ja, jb) + m(flat[0]) * m(flat[1])
        raise UnsupportedExpectationError("MvNormal: moments beyond second order are not in the table")

    def neg_entropy(self):
        J = self.event_plates[0]
        return -J.size / 2 * (1 + log(2 * pi)) - self._logdet(self._batch_canonical()) / 2

    def statistic(self, atoms):
        if all(a.fn == "id" for a in atoms):
            flat = [a for a in atoms for _ in range(a.power)]
            if len(flat) == 1:
                return "w_j", self.event_of(flat[0].index), sp.Integer(1)
            if len(flat) == 2:
                return "w_j w_l", self.event_of(flat[0].index) + self.event_of(flat[1].index), sp.Integer(1)
        raise _nonconj(self, atoms, "(w_j, w_j w_l)")

    def natural_to_params(self, eta, rep):
        j, l = rep
        if "w_j w_l" not in eta:
            raise NonConjugateError("MvNormal: no quadratic term in the optimal factor (improper)")
        e2 = eta["w_j w_l"]
        a, b = plate_of(j).fresh(), plate_of(j).fresh()
        prec = -(e2.xreplace({j: a, l: b}) + e2.xreplace({j: b, l: a}))
        prec = _merge_deltas(sp.expand(prec))
        cov = MatrixInverse(prec, a, b, j, l)
        e1 = eta.get("w_j", sp.Integer(0))
        u = plate_of(j).fresh()
        mean = Sum(MatrixInverse(prec, a, b, j, u) * e1.xreplace({j: u}), _lim(u))
        return {"mean": mean, "cov": cov, "precision": prec.xreplace({a: j, b: l})}

    def numeric_from_natural(self, eta):
        e2 = np.asarray(eta["w_j w_l"], dtype=float)
        P = -(e2 + np.swapaxes(e2, -1, -2))
        V = np.linalg.inv(P)
        e1 = np.broadcast_to(np.asarray(eta.get("w_j", 0.0), dtype=float), P.shape[:-1])
        return {"mean": np.einsum("...jl,...l->...j", V, e1), "cov": V}

    def kernel(self, w, params):
        raise NotImplementedError

    def event_reps(self):
        p = self.event_plates[0]
        return (p.index, p.make_index(p.index_name + "'"))

    def stat_reps(self, key, reps):
        return reps if key == "w_j w_l" else reps[:1]

    def stat_terms(self, z, reps):
        j, l = reps
        zl = z.xreplace({j: l})
        return {"w_j": lambda e: Sum(e * z, _lim(j)),
                "w_j w_l": lambda e: Sum(e * z * zl, _lim(j), _lim(l))}

    # ---- NumPy code: the matrix axes are the last two
    def natural_axes(self, key, axes):
        return axes[:-1] if key == "w_j" else axes

    def param_axes(self, name, axes):
        return axes[:-1] if name == "mean" else axes

    def numpy_natural_to_params(self, ctx):
        e = ctx.eta
        lines = [f"precision = -({e['w_j w_l']} + np.swapaxes({e['w_j w_l']}, -1, -2))",
                 "cov = np.linalg.inv(precision)",
                 f"mean = np.einsum('...jl,...l->...j', cov, {e['w_j']})" if "w_j" in e
                 else "mean = np.zeros(cov.shape[:-1])"]
        return lines, {"mean": ("mean", set(ctx.axes[:-1])), "cov": ("cov", set(ctx.axes))}

    def extra_targets(self):
        return {"cov": self.matrix}

    # ---- the chain checker: a symmetric positive definite matrix, draws of the whole vector
    def prepare_check(self, inst, as_q):
        """A symmetric positive definite matrix (one per group, or one shared) for a q factor's
        covariance/precision and for a known (hyper-parameter) one of the model; a latent
        matrix of the model is drawn by its own q factor."""
        v = inst.model.var_of(self.matrix)
        if as_q or v is None or v.kind == "hyper":
            inst.spd_matrix(v if v is not None else self.matrix)

    def sample_q(self, inst, var):
        """Draws of the whole vector of every group (batch element) from N(m_b, V_b)."""
        J = inst.size_of[self.event_plates[0].name]
        pos = self.event_positions[0]
        mats = inst.matrices[str(self.matrix.label)]
        batch = [range(inst.size_of[var.plates[t].name]) for t in self.batch_positions]
        for b in itertools.product(*batch):
            def index(j, b=b):
                ix = list(b)
                ix.insert(pos, j)
                return tuple(ix)
            mean = np.array([inst.param(self, index(j), "mean") for j in range(J)])
            cov = mats if self.shared_matrix else mats[b]
            if self.parametrisation != "cov":
                cov = np.linalg.inv(cov)
            draws = inst.rng.multivariate_normal(mean, cov, size=inst.S)
            for j in range(J):
                inst.set_draws(inst.element(var, index(j)), draws[:, j], float(draws[0, j]))
