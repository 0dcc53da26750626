"""Model definition: plates, variables (indexed symbols) and factors p(var | parents).

A model is a collection of factors ``p(v | parents)``, one per random variable ``v``.
Every variable is an array over *plates* (symbolic sizes such as N, K, D, each with an
index symbol i, k, d), written as a SymPy ``IndexedBase`` (``x[i, d]``) or, without
plates, as a plain ``Symbol``.  The factor of ``v`` states the distribution of one
element ``v[i, d]`` in terms of the canonical plate indices; the log density of the
model is the sum over all plates of the element log densities.

The mean-field family is declared on the same object with :meth:`Model.q`: one
variational factor per latent variable, of a family from :mod:`vi_derivations.distributions`,
whose parameters are *variational parameters* declared with :meth:`Model.variational`.

Nothing here knows any particular model; see :mod:`vi_derivations.models` for examples.
"""
from __future__ import annotations

from contextlib import contextmanager

import itertools
import re
from dataclasses import dataclass, field

import sympy as sp
from sympy import Idx, Indexed, IndexedBase

__all__ = ["Plate", "Variable", "Factor", "Model", "fresh_index", "plate_of", "SymmetricBase", "is_symmetric"]

_IDX_PLATE: dict = {}
_COUNTER = itertools.count(1)
LATEX_NAMES: dict[str, str] = {}
"""The LaTeX names the printer uses: those of the model in use (the last one declared into,
validated, derived or entered with :meth:`Model.letters`). One Python name may have two letters
in two models (``sigma2`` is the prior variance tau^2 of one mixture and the noise variance
sigma^2 of a regression), so the table is never a union of models."""

_GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
    "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi",
    "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Phi", "Psi", "Omega",
}


def default_latex(name: str) -> str:
    """LaTeX for a variable name: ``sigma2`` -> ``\\sigma^{2}``, ``s2`` -> ``s^{2}``,
    ``m_N`` -> ``m_{N}``, ``a0`` -> ``a_{0}``."""
    m = re.fullmatch(r"([A-Za-z]+)(2)", name)
    if m:
        base = m.group(1)
        base = "\\" + base if base in _GREEK else base
        return base + "^{2}"
    m = re.fullmatch(r"([A-Za-z]+)_?([0-9A-Za-z]+)", name)
    if m and "_" in name or (m and re.fullmatch(r"[A-Za-z]+[0-9]+", name)):
        base, sub = m.group(1), m.group(2)
        base = "\\" + base if base in _GREEK else base
        return f"{base}_{{{sub}}}"
    return "\\" + name if name in _GREEK else name


def _check_name(name, what):
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
        raise ValueError(f"{what}: invalid name {name!r} (use letters, digits and '_')")


class Plate:
    """A replicated axis of size ``size`` (a positive integer symbol like ``N`` or an int)
    with canonical index ``index`` (a SymPy ``Idx`` ranging over 0..size-1 so that it matches
    NumPy positions; the LaTeX printer shows sums as 1..size)."""

    def __init__(self, name: str, index: str, size=None, latex: str | None = None):
        _check_name(name, "Plate name")
        _check_name(index, "Plate index")
        self.name = name
        if size is None:
            self.size = sp.Symbol(name, integer=True, positive=True)
        else:
            if isinstance(size, bool) or not isinstance(size, (int, sp.Integer)) or int(size) < 1:
                raise ValueError(f"Plate {name}: size must be a positive integer or None, got {size!r}")
            self.size = sp.Integer(int(size))
        self.index_name = index
        self.index = self.make_index(index)
        self.latex = latex or name

    def make_index(self, name: str) -> Idx:
        idx = Idx(sp.Symbol(name, integer=True), (0, self.size - 1))
        _IDX_PLATE[idx] = self
        return idx

    def fresh(self) -> Idx:
        """A new dummy index over this plate (used for summations)."""
        return self.make_index(f"{self.index_name}_{next(_COUNTER)}")

    def _key(self):
        return (self.name, self.index_name, self.size)

    def __eq__(self, other):
        """Plates are values: two models that each declare Plate("N", "i") mean the same plate
        (their index symbols are the same SymPy object), so they never interfere."""
        return isinstance(other, Plate) and self._key() == other._key()

    def __hash__(self):
        return hash(("Plate",) + self._key())

    def __repr__(self):
        return f"Plate({self.name!r}, index={self.index_name!r}, size={self.size})"


class SymmetricBase(IndexedBase):
    """The symbol of a matrix quantity declared symmetric in its last two indices
    (X[..., a, b] = X[..., b, a]; ``symmetric=True`` in :meth:`Model.hyper`, :meth:`Model.variational`,
    :meth:`Model.latent`).  The engine's expressions are unchanged; the typeset layer writes X^T as X
    and proves its displays with symmetric values for these symbols only."""

    symmetric = True


def is_symmetric(base) -> bool:
    """True for the symbol (IndexedBase) of a quantity declared symmetric."""
    return isinstance(base, SymmetricBase)


def plate_of(idx) -> Plate:
    """The plate an index (created by a :class:`Plate`) ranges over."""
    try:
        return _IDX_PLATE[idx]
    except KeyError:
        raise ValueError(f"index {idx} was not created by a Plate") from None


def fresh_index(idx) -> Idx:
    return plate_of(idx).fresh()


@dataclass(eq=False)
class Variable:
    """A (possibly plated) quantity of the model.

    kind: 'latent' | 'observed' | 'hyper' (fixed model parameter) | 'covariate' (known
    inputs, not modelled) | 'variational'.
    ``symbol`` is an ``IndexedBase`` when the variable has plates, else a ``Symbol``.
    """

    name: str
    plates: tuple
    kind: str
    latex: str
    symbol: object = field(repr=False)

    def __getitem__(self, idx):
        if not self.plates:
            raise ValueError(f"variable {self.name} has no plates and cannot be indexed")
        if not isinstance(idx, tuple):
            idx = (idx,)
        if len(idx) != len(self.plates):
            raise ValueError(
                f"variable {self.name} has plates {[p.name for p in self.plates]}; "
                f"got {len(idx)} indices")
        return self.symbol[idx]

    @property
    def element(self):
        """The element with canonical indices, e.g. ``mu[k, d]`` (or the symbol itself)."""
        if not self.plates:
            return self.symbol
        return self.symbol[tuple(p.index for p in self.plates)]

    def __repr__(self):
        return f"Variable({self.name!r}, {self.kind}, plates={[p.name for p in self.plates]})"


@dataclass(eq=False)
class Factor:
    """p(var | parents) or q(var): the distribution of one element of ``var``."""

    var: Variable
    dist: object
    label: str

    @property
    def event_plates(self):
        return tuple(self.dist.event_plates)

    @property
    def batch_plates(self):
        ev = self.event_plates
        return tuple(p for p in self.var.plates if p not in ev)


class Model:
    """A probabilistic model (factors p(v | parents)) together with its mean-field family.

    Example (the coursework mixture)::

        N, K, D = Plate("N", "i"), Plate("K", "k"), Plate("D", "d")
        M = Model("mixture")
        sigma2 = M.hyper("sigma2")
        mu = M.latent("mu", (K, D)); c = M.latent("c", (N, K)); x = M.observed("x", (N, D))
        i, k, d = N.index, K.index, D.index
        M.factor(mu, Normal(0, var=sigma2))
        M.factor(c, Categorical(1 / K.size, event=K))
        M.factor(x, Mixture(c, Normal(mu[k, d], var=1)))
        m, s2, pi = M.variational("m", (K, D)), M.variational("s2", (K, D)), M.variational("pi", (N, K))
        M.q(mu, Normal(m[k, d], var=s2[k, d]))
        M.q(c, Categorical(pi[i, k], event=K))
    """

    def __init__(self, name: str, description: str = ""):
        self.name = name
        self.description = description
        self.variables: dict[str, Variable] = {}
        self.factors: list[Factor] = []
        self.qfactors: dict[str, Factor] = {}
        self.bounds: dict = {}          # local bound parameter name -> LocalBound (see local_bound.py)
        self.latex_names: dict[str, str] = {}
        self.version = 0
        self._cache: dict = {}

    # ------------------------------------------------------------------ declarations
    def _declare(self, name, plates, kind, latex, positive=False, symmetric=False):
        _check_name(name, f"{kind} variable")
        if name in self.variables:
            raise ValueError(f"variable {name!r} is declared twice")
        plates = tuple(plates) if isinstance(plates, (tuple, list)) else (plates,)
        for p in plates:
            if not isinstance(p, Plate):
                raise ValueError(f"variable {name!r}: plates must be Plate objects, got {p!r}")
        if kind in ("latent", "observed") and len(set(plates)) < len(plates):
            from .errors import UnsupportedModelError
            rep = [p.name for p in plates if plates.count(p) > 1][0]
            raise UnsupportedModelError(
                f"{kind} variable {name!r}: the plate {rep} is repeated in {[p.name for p in plates]}; a "
                f"random array over ({rep}, {rep}) (e.g. a matrix) is not supported, because its factor would "
                f"be stated for one element with a single index per plate; declare a second plate "
                f"(e.g. Plate('{rep}2', ...)) for the second axis")
        for p in plates:
            for other in self.plates:
                if other != p and (other.index_name == p.index_name or other.name == p.name):
                    raise ValueError(
                        f"plates {other.name} and {p.name} share a name or index symbol")
        if symmetric and (len(plates) < 2 or plates[-1].size != plates[-2].size):
            raise ValueError(f"{kind} variable {name!r}: symmetric=True needs a square matrix, its last two "
                             f"plates of one size (got {[p.name for p in plates]})")
        assumptions = {"positive": True} if positive else {"real": True}
        if plates:
            base = SymmetricBase if symmetric else IndexedBase
            symbol = base(sp.Symbol(name, **assumptions), shape=tuple(p.size for p in plates))
        else:
            symbol = sp.Symbol(name, **assumptions)
        latex = latex or default_latex(name)
        self.latex_names[name] = latex
        self.use_letters()
        v = Variable(name, plates, kind, latex, symbol)
        self.variables[name] = v
        self._touch()
        return v

    def latent(self, name, plates=(), latex=None, symmetric=False) -> Variable:
        """A latent random variable (needs a prior factor and a q factor).  ``symmetric``: a random
        matrix that its prior's family draws symmetric (a Wishart precision)."""
        return self._declare(name, plates, "latent", latex, symmetric=symmetric)

    def observed(self, name, plates=(), latex=None) -> Variable:
        """An observed variable (data; needs a likelihood factor)."""
        return self._declare(name, plates, "observed", latex)

    def hyper(self, name, plates=(), latex=None, positive=True, symmetric=False):
        """A fixed model parameter (hyper-parameter). Returns its Symbol (no plates) or IndexedBase.
        ``symmetric``: a square matrix over its last two plates that is symmetric (a scale matrix
        W0; the generated CAVI refuses a non-symmetric value)."""
        return self._declare(name, plates, "hyper", latex, positive=positive, symmetric=symmetric).symbol

    def covariate(self, name, plates=(), latex=None):
        """Known, fixed data that is not modelled (e.g. the inputs X of a regression)."""
        return self._declare(name, plates, "covariate", latex).symbol

    def variational(self, name, plates=(), latex=None, positive=False, symmetric=False):
        """A variational parameter. Returns its Symbol (no plates) or IndexedBase.  ``symmetric``: a
        matrix its q factor's family keeps symmetric (a Wishart scale, a covariance; :meth:`q`
        refuses any other)."""
        return self._declare(name, plates, "variational", latex, positive=positive, symmetric=symmetric).symbol

    def _touch(self):
        self.version += 1
        self._cache.clear()

    @property
    def plates(self):
        seen = []
        for v in self.variables.values():
            for p in v.plates:
                if p not in seen:
                    seen.append(p)
        return seen

    def var(self, name_or_obj) -> Variable:
        """Look a declared variable up by name, Variable, Symbol or IndexedBase."""
        if isinstance(name_or_obj, Variable):
            name = name_or_obj.name
        elif isinstance(name_or_obj, IndexedBase):
            name = str(name_or_obj.label)
        elif isinstance(name_or_obj, Indexed):
            name = str(name_or_obj.base.label)
        elif isinstance(name_or_obj, sp.Symbol):
            name = name_or_obj.name
        else:
            name = str(name_or_obj)
        if name not in self.variables:
            raise ValueError(f"{name!r} is not a declared variable of model {self.name!r}")
        return self.variables[name]

    # ------------------------------------------------------------------ factors
    def factor(self, var: Variable, dist, label: str | None = None) -> Factor:
        """Add the factor p(var | parents): each element of ``var`` follows ``dist``."""
        var = self._own(var, "factor")
        if var.kind not in ("latent", "observed"):
            raise ValueError(f"factor for {var.name!r}: only latent or observed variables get a distribution")
        if any(f.var is var for f in self.factors):
            raise ValueError(f"variable {var.name!r} already has a factor")
        dist.check_value(var)
        self._check_symmetric(var, dist, f"factor p({var.name} | ...)")
        self._check_expr_vars(dist.all_exprs(), var, f"factor p({var.name} | ...)", dist)
        parents = sorted({self.var_of(s).name for e in dist.all_exprs() for s in self._symbols(e)
                          if self.var_of(s) is not None and self.var_of(s).kind in ("latent", "observed")
                          and self.var_of(s) is not var})
        label = label or (f"p({var.name} | {', '.join(parents)})" if parents else f"p({var.name})")
        f = Factor(var, dist, label)
        self.factors.append(f)
        self._touch()
        return f

    def q(self, var: Variable, dist) -> Factor:
        """Declare the mean-field factor q(var) (elements independent across non-event plates)."""
        if isinstance(var, Variable) and self.variables.get(var.name) is not var:
            raise ValueError(f"q factor for {var.name!r}: no such model variable in {self.name!r}")
        if not isinstance(var, Variable):
            name = getattr(var, "name", str(var))
            if name not in self.variables:
                raise ValueError(f"q factor for {name!r}: no such model variable in {self.name!r}")
            var = self.variables[name]
        if var.kind != "latent":
            raise ValueError(f"q factor for {var.name!r}: only latent variables get a variational factor (it is {var.kind})")
        if var.name in self.qfactors:
            raise ValueError(f"q factor for {var.name!r} declared twice")
        if not getattr(dist, "supports_q", False):
            raise ValueError(f"q factor for {var.name!r}: family {type(dist).__name__} is not supported as a variational factor")
        dist.check_value(var)
        self._check_symmetric(var, dist, f"q({var.name})")
        self._check_expr_vars(dist.all_exprs(), var, f"q({var.name})", dist, q=True)
        used = {getattr(a, "base", a) for e in dist.all_exprs() for a in sp.sympify(e).atoms(Indexed, sp.Symbol)}
        used.add(getattr(dist, "matrix", None))
        for b in self.bounds:
            if self.variables[b].symbol in used:
                raise ValueError(f"q factor for {var.name!r}: {b} is the parameter of a local bound")
        f = Factor(var, dist, f"q({var.name})")
        self.qfactors[var.name] = f
        self._touch()
        return f

    def local_bound(self, var: Variable, bound):
        """Replace the non-conjugate term of the likelihood of ``var`` by the lower bound ``bound``
        (e.g. ``JaakkolaJordan(xi)`` for a ``BernoulliLogit`` factor, :mod:`.local_bound`), whose
        parameter is a variational parameter declared over the plates of ``var``.  The engine then
        derives the bound-ELBO and an update of the bound's parameter."""
        from .errors import UnsupportedModelError
        var = self._own(var, "local_bound")
        f = next((f for f in self.factors if f.var is var), None)
        if f is None:
            raise ValueError(f"local_bound for {var.name!r}: declare its factor p({var.name} | ...) first")
        if not hasattr(f.dist, "attach_bound"):
            raise UnsupportedModelError(
                f"local_bound for {var.name!r}: the factor {f.label} ({f.dist.name}) has no non-conjugate "
                f"term that {type(bound).__name__} bounds")
        base = getattr(bound, "param", None)
        xi = self.var_of(base) if base is not None else None
        if xi is None or xi.kind != "variational":
            raise ValueError(f"local_bound for {var.name!r}: the bound's parameter {base} must be a declared "
                             f"variational parameter")
        if tuple(xi.plates) != tuple(f.batch_plates):
            raise ValueError(f"local_bound for {var.name!r}: the bound's parameter {xi.name} must have the plates "
                             f"{[p.name for p in f.batch_plates]} of {var.name} (one per data point)")
        if xi.name in self.bounds or any(xi.symbol in {getattr(a, 'base', a) for e in q.dist.all_exprs()
                                                        for a in sp.sympify(e).atoms(Indexed, sp.Symbol)}
                                         for q in self.qfactors.values()):
            raise ValueError(f"local_bound for {var.name!r}: {xi.name} already parametrises a q factor or a bound")
        f.dist.attach_bound(bound)
        bound.factor = f
        self.bounds[xi.name] = bound
        self._touch()
        return bound

    def _check_symmetric(self, var, dist, where):
        """A symmetric declaration must be one the family guarantees: a latent matrix drawn symmetric
        (``dist.symmetric_support``), a variational matrix among ``dist.symmetric_matrices()``."""
        if is_symmetric(var.symbol) and not getattr(dist, "symmetric_support", False):
            raise ValueError(f"{where}: {var.name} is declared symmetric but {type(dist).__name__} does not "
                             f"draw symmetric matrices")
        if not where.startswith("q("):
            return
        keep = set(getattr(dist, "symmetric_matrices", lambda: ())())
        used = {getattr(a, "base", a) for e in dist.all_exprs() for a in sp.sympify(e).atoms(Indexed)}
        used.add(getattr(dist, "matrix", None))
        for base in used:
            v = self.var_of(base) if base is not None else None
            if v is not None and v.kind == "variational" and is_symmetric(base) and base not in keep:
                raise ValueError(f"{where}: {v.name} is declared symmetric but {type(dist).__name__} does not "
                                 f"keep it symmetric (only {', '.join(sorted(str(b.label) for b in keep)) or 'none'})")

    def _own(self, var, what):
        if not isinstance(var, Variable) or self.variables.get(var.name) is not var:
            raise ValueError(f"{what}: {var!r} is not a variable declared in model {self.name!r}")
        return var

    @staticmethod
    def _symbols(expr):
        out = set()
        for a in sp.sympify(expr).atoms(Indexed):
            out.add(a.base)
        labels = {ind.base.label for ind in sp.sympify(expr).atoms(Indexed)}
        for s in sp.sympify(expr).free_symbols:
            if isinstance(s, (sp.Symbol,)) and not isinstance(s, Idx) and not isinstance(s, sp.Dummy) and s not in labels:
                out.add(s)
        return out

    def var_of(self, sym):
        """The Variable whose symbol is ``sym`` (IndexedBase, Indexed or Symbol) or None."""
        if isinstance(sym, Indexed):
            sym = sym.base
        if isinstance(sym, IndexedBase):
            name = str(sym.label)
        elif isinstance(sym, sp.Symbol):
            name = sym.name
        else:
            return None
        v = self.variables.get(name)
        if v is not None and (v.symbol == sym or (isinstance(sym, IndexedBase) and isinstance(v.symbol, IndexedBase)
                                                  and v.symbol.args == sym.args)):
            return v      # a symmetric declaration's symbol read by a model that redeclares it (SVI's shadow)
        return None

    def _check_expr_vars(self, exprs, var, where, dist, q=False):
        sizes = {p.size for p in self.plates}
        allowed_idx = {p.index for p in var.plates} | {p.index for p in getattr(dist, 'event_plates_for_check', dist.event_plates)}
        for e in exprs:
            e = sp.sympify(e)
            bound = set()
            for s in e.atoms(sp.Sum):
                bound |= {lim[0] for lim in s.limits}
            for ind in e.atoms(Indexed):
                v = self.var_of(ind.base)
                if v is None:
                    raise ValueError(f"{where}: undeclared variable {ind.base} in the distribution")
                for pos, (ix, pl) in enumerate(zip(ind.indices, v.plates)):
                    if isinstance(ix, Idx):
                        p = plate_of(ix)
                        if p != pl and not (ix.label == pl.index.label and ix.upper == pl.index.upper):
                            raise ValueError(
                                f"{where}: mismatched plates: {ind} uses index {ix} of plate {p.name} "
                                f"at position {pos} where {v.name} has plate {pl.name}")
                        if ix not in allowed_idx and ix not in bound:
                            raise ValueError(
                                f"{where}: index {ix} in {ind} is neither a plate of {var.name} nor summed")
                    elif not ix.is_Integer:
                        raise ValueError(f"{where}: index {ix} of {ind} must be a plate index or an integer")
                if q and v.kind not in ("variational", "hyper"):
                    raise ValueError(f"{where}: parameters of a q factor must be variational parameters, got {v.name}")
            labels = {ind.base.label for ind in e.atoms(Indexed)}
            for s in e.free_symbols:
                if s in labels or isinstance(s, Indexed):
                    continue
                if isinstance(s, Idx):
                    if s not in allowed_idx:
                        raise ValueError(f"{where}: index {s} is neither a plate of {var.name} nor summed")
                    continue
                if s in sizes or isinstance(s, sp.Dummy):
                    continue
                v = self.var_of(s)
                if v is None:
                    raise ValueError(f"{where}: undeclared symbol {s} in the distribution")
                if v.plates:
                    raise ValueError(f"{where}: {s} has plates and must be indexed")
                if q and v.kind not in ("variational", "hyper"):
                    raise ValueError(f"{where}: parameters of a q factor must be variational parameters, got {v.name}")

    # ------------------------------------------------------------------ queries
    def validate(self):
        """Raise ValueError if the model is incomplete: every latent variable needs a factor and a
        q factor, every observed variable a factor."""
        have = {f.var.name for f in self.factors}
        for v in self.variables.values():
            if v.kind in ("latent", "observed") and v.name not in have:
                raise ValueError(f"variable {v.name!r} has no factor p({v.name} | ...)")
            if v.kind == "latent" and v.name not in self.qfactors:
                raise ValueError(f"latent variable {v.name!r} has no variational factor q({v.name})")
        self.use_letters()
        return True

    def use_letters(self):
        """Make this model's LaTeX names the printer's (no other model's name stays in use)."""
        LATEX_NAMES.clear()
        LATEX_NAMES.update(self.latex_names)

    @contextmanager
    def letters(self):
        """``with model.letters():`` print with this model's names, then restore the table."""
        saved = dict(LATEX_NAMES)
        self.use_letters()
        try:
            yield self
        finally:
            LATEX_NAMES.clear()
            LATEX_NAMES.update(saved)

    def of_kind(self, kind):
        return [v for v in self.variables.values() if v.kind == kind]

    def symbols_of_kind(self, kind):
        return {v.symbol for v in self.of_kind(kind)}

    @property
    def latent_names(self):
        return [v.name for v in self.of_kind("latent")]

    def key(self):
        return (id(self), self.version)

    def __repr__(self):
        return f"Model({self.name!r}, variables={list(self.variables)})"
