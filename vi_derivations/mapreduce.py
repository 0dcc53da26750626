r"""CAVI as a map-reduce, generated from a model's derivation.

In a conjugate-exponential model whose plates split into a *data plate* (i = 1..N) carrying
the observed variables and the *local* latent variables (one per data point, e.g. the mixture
indicators c_i), and *global* latent variables that carry no data plate (e.g. the component
means), a CAVI sweep that updates the local factors first is

* **map**: each chunk of data points updates its local factors q(z_i) from the current global
  factors (they depend on nothing else), then returns its *expected sufficient statistics*:
  the sums over its points i of every data-plate sum that the global updates and the ELBO read;
* **reduce**: the statistics of all chunks are added (every one is a sum over i, so the total
  is exact), then the global factors are updated and the ELBO is evaluated from the totals.

A *local bound* (:mod:`vi_derivations.local_bound`, e.g. the Jaakkola-Jordan bound of a
logistic likelihood) carries a variational parameter per data point (xi_i) that is not a q
factor. It is local state like a local factor: the map updates it on its chunk by the engine's
derived bound update (:func:`vi_derivations.local_bound.derive_bound_update`) after the local
factors, from the current global factors, and the statistics the reduce needs are sums over
the chunk's points of what it appears in (for logistic regression lambda(xi_i) x_i x_i^T and
(t_i - 1/2) x_i, and the bound-ELBO's per-point terms).

:func:`split` finds the split (a public function: natural-gradient SVI needs the same one).
:func:`map_reduce` builds the plan: it rewrites every derived global update and the full ELBO
(``constants=True``) so that each sum over the data plate becomes a statistic, pulling the
factors that do not depend on i out of the sum (the summand is expanded into monomials; a
monomial whose data-dependent part also holds a global parameter, e.g. exp(x_i m_k), is not
separable and raises :class:`UnsupportedModelError`). The plate size N itself is the statistic
sum_i 1. Statistics are compiled with :func:`vi_derivations.to_numpy` and evaluated on one
chunk at a time; the rewritten updates run through the same exponential-family maps as
``Update.numeric()``. The result of a sweep equals the engine's in-memory generated CAVI
(:func:`vi_derivations.cavi` with the local factors first in ``order``) up to rounding.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import sympy as sp
from sympy import Idx, Indexed, Sum

from .cavi import GeneratedCAVI, _write
from .elbo import elbo as _elbo_expr
from .errors import UnsupportedModelError
from .local_bound import derive_bound_update
from .model import Model
from .numeric import compile_expr, plate_sizes
from .schedule import update_schedule
from .updates import derive_update

__all__ = ["Split", "split", "MapReduce", "map_reduce"]


@dataclass(frozen=True)
class Split:
    """The global/local split of a model along its data plate.

    ``data_plate``: the plate of the data points; ``data``: observed variables, covariates and
    hyper-parameters on it; ``local``/``global_``: latent variables with / without the data plate;
    ``local_params``/``global_params``: variational parameters with / without it; ``fixed``:
    hyper-parameters (and covariates off the data plate), read by every step;
    ``local_bounds``: the parameters of local bounds (each on the data plate, also in
    ``local_params``), updated in the map after the local factors.
    """

    data_plate: object
    data: tuple
    local: tuple
    global_: tuple
    local_params: tuple
    global_params: tuple
    fixed: tuple
    local_bounds: tuple = ()


def split(model, data_plate=None) -> Split:
    """Split ``model`` into a data plate with local variables, and global variables.

    ``data_plate`` (a Plate or its name) defaults to the first plate of the first observed
    variable (every model in :mod:`vi_derivations.models` puts the data points on axis 0).
    Raises :class:`UnsupportedModelError` when some observed variable does not run over the
    data plate, when no latent variable is global, or when a local factor's CAVI update
    sums over the data plate (the local factors would then not be independent given the
    global ones, and a chunk could not update its own). A local bound's parameter is local
    state of the map; one that does not run over the data plate, or whose derived update sums
    over it, raises :class:`UnsupportedModelError` naming it.
    """
    model.validate()
    observed = [v for v in model.variables.values() if v.kind == "observed"]
    if not observed:
        raise UnsupportedModelError(f"model {model.name!r} has no observed variable to split")
    if data_plate is None:
        if not observed[0].plates:
            raise UnsupportedModelError(
                f"model {model.name!r}: observed variable {observed[0].name!r} has no plate")
        plate = observed[0].plates[0]
    else:
        name = getattr(data_plate, "name", data_plate)
        found = [p for p in model.plates if p.name == name]
        if not found:
            raise ValueError(f"data_plate {name!r} is not a plate of model {model.name!r} "
                             f"({', '.join(p.name for p in model.plates)})")
        plate = found[0]
    on = lambda v: plate in v.plates  # noqa: E731
    for v in observed:
        if not on(v):
            raise UnsupportedModelError(
                f"model {model.name!r}: observed variable {v.name!r} does not run over the data "
                f"plate {plate.name}")
    latent = [v for v in model.variables.values() if v.kind == "latent"]
    local = tuple(v.name for v in latent if on(v))
    global_ = tuple(v.name for v in latent if not on(v))
    if not global_:
        raise UnsupportedModelError(
            f"model {model.name!r}: every latent variable runs over the data plate {plate.name}; "
            "there is no global factor to reduce into")
    variational = [v for v in model.variables.values() if v.kind == "variational"]
    result = Split(
        data_plate=plate,
        # a hyper-parameter on the data plate (a known per-point value, e.g. an exposure) is
        # chunk data like a covariate
        data=tuple(v.name for v in model.variables.values()
                   if v.kind in ("observed", "covariate", "hyper") and on(v)),
        local=local, global_=global_,
        local_params=tuple(v.name for v in variational if on(v)),
        global_params=tuple(v.name for v in variational if not on(v)),
        fixed=tuple(v.name for v in model.variables.values()
                    if v.kind in ("hyper", "covariate") and not on(v)),
        local_bounds=tuple(getattr(model, "bounds", {})))
    for name in result.local_bounds:
        if not on(model.variables[name]):
            raise UnsupportedModelError(
                f"model {model.name!r}: the parameter {name} of the {model.bounds[name].name} does "
                f"not run over the data plate {plate.name}; it is not local state of a chunk")
    updates = [(f"q({n})", derive_update(model, n).natural.values()) for n in local]
    updates += [(n, [derive_bound_update(model, n).assignments[0].rhs])
                for n in result.local_bounds]
    for what, exprs in updates:
        for expr in exprs:
            if any(plate_of_index(model, ix) == plate for s in sp.sympify(expr).atoms(Sum)
                   for ix in (lim[0] for lim in s.limits)):
                raise UnsupportedModelError(
                    f"model {model.name!r}: the update of {what} sums over the data plate "
                    f"{plate.name}; its elements are coupled, so chunks cannot update them alone")
    return result


def plate_of_index(model, ix):
    """The plate of ``model`` that the index ``ix`` (canonical or a summation dummy) runs over."""
    if not isinstance(ix, Idx):
        return None
    hits = [p for p in model.plates
            if sp.simplify(ix.upper - (p.size - 1)) == 0 and ix.lower == 0
            and str(ix.label).split("_")[0].rstrip("'") == p.index_name]
    return hits[0] if len(hits) == 1 else None


def stat_axes(plates):
    """The canonical free indices of a statistic over ``plates``: each plate's own index, primed
    for each further axis on the same plate (d, d', d'' as the engine writes a matrix)."""
    seen, out = {}, []
    for p in plates:
        n = seen[p] = seen.get(p, -1) + 1
        out.append(p.index if n == 0 else p.make_index(p.index_name + "'" * n))
    return tuple(out)


class _Rewriter:
    """Rewrites expressions so that every sum over the data plate is a named statistic."""

    def __init__(self, model, sp_split):
        self.model = model
        self.split = sp_split
        self.plate = sp_split.data_plate
        self.size = self.plate.size
        self.chunk_names = set(sp_split.data) | set(sp_split.local_params)
        self.global_names = set(sp_split.global_params)
        self.stats = {}            # canonical Sum expression -> (name, plates)
        taken = set(model.variables)
        # sizes of plates nested in the data plate (word positions within a document): only a
        # chunk's arrays tell them, so they enter the reduce as statistics (sum_i sum_n 1)
        self.nested_sizes = {p.size: p for p in model.plates
                             if not p.size.is_Integer and self._nested_plate(p)}
        self.prefix = next(p for p in ("T", "Tstat", "Tmr") if not any(
            n.startswith(p) and n[len(p):].isdigit() for n in taken))

    def _names(self, e):
        out = set()
        for a in sp.sympify(e).atoms(Indexed):
            out.add(str(a.base.label))
        for s in sp.sympify(e).free_symbols:
            if isinstance(s, sp.Symbol) and not isinstance(s, Idx):
                out.add(s.name)
        return out

    def _on_plate(self, e, i):
        """e depends on the data plate: it reads the index i or a chunk-local array."""
        e = sp.sympify(e)
        return ((i is not None and i in e.free_symbols) or bool(self._names(e) & self.chunk_names)
                or bool(e.free_symbols & set(self.nested_sizes)))

    def rewrite(self, e):
        e = sp.sympify(e)
        if isinstance(e, Sum):
            data_ix = [lim for lim in e.limits if plate_of_index(self.model, lim[0]) == self.plate]
            if data_ix:
                others = tuple(lim for lim in e.limits if lim not in data_ix)
                return self._split_sum(e.function, data_ix[0][0], others)
            return Sum(self.rewrite(e.function), *e.limits)
        if isinstance(e, sp.Mul):
            # a nested plate's size times a sum over the data plate (or times N_data = sum_i 1)
            # moves into that sum: sum_i N_n f_i, a statistic each chunk computes
            nested = [a for a in e.args if not a.has(Sum)
                      and a.free_symbols & set(self.nested_sizes)]
            sums = [a for a in e.args if isinstance(a, Sum) and any(
                plate_of_index(self.model, lim[0]) == self.plate for lim in a.limits)]
            if nested and (sums or self.size in e.args):
                target = sums[0] if sums else self.size
                body = Sum(sp.Integer(1), (self.plate.index, 0, self.size - 1)) if not sums \
                    else target
                rest = [a for a in e.args if a is not target and a not in nested]
                moved = Sum(body.function * sp.Mul(*nested), *body.limits)
                return self.rewrite(sp.Mul(*rest)) * self.rewrite(moved)
        if e.is_Atom or isinstance(e, Indexed):
            if e == self.size:
                return self._stat(sp.Integer(1), None, self.plate.index)
            if e in self.nested_sizes:
                raise UnsupportedModelError(
                    f"model {self.model.name!r}: the size {e} of the plate "
                    f"{self.nested_sizes[e].name}, nested in the data plate {self.plate.name}, is "
                    "used outside a sum over the data plate; no chunk statistic carries it")
            if self._on_plate(e, None):
                raise UnsupportedModelError(
                    f"model {self.model.name!r}: {e} is used outside a sum over the data plate")
            return e
        if not (self._names(e) & self.chunk_names) and self.size not in e.free_symbols \
                and not e.free_symbols & set(self.nested_sizes):
            return e
        return e.func(*[self.rewrite(a) for a in e.args])

    def _split_sum(self, body, i, others):
        body = sp.expand(body, deep=False, power_exp=False, power_base=False, log=False)
        total = sp.Integer(0)
        for mono in sp.Add.make_args(body):
            local, glob = [], []
            for f in sp.Mul.make_args(mono):
                (local if self._on_plate(f, i) else glob).append(f)
            local = sp.Mul(*local)
            if any(plate_of_index(self.model, lim[0]) == self.plate
                   for inner in local.atoms(Sum) for lim in inner.limits):
                raise UnsupportedModelError(
                    f"model {self.model.name!r}: the term {mono} multiplies two sums over the "
                    f"data plate {self.plate.name}; it is not a sum of per-chunk sums")
            if self._names(local) & self.global_names:
                raise UnsupportedModelError(
                    f"model {self.model.name!r}: the term {mono} mixes data and global "
                    "parameters in a way that does not factorise; it is not a map-reduce")
            glob = sp.Mul(*glob)
            # a sum over a plate nested in the data plate (word positions n within document d)
            # that only the data-dependent part reads moves into the statistic
            inner = tuple(lim for lim in others if lim[0] in local.free_symbols
                          and lim[0] not in glob.free_symbols and self._nested(lim[0]))
            term = glob * self._stat(local, i, self.plate.index, inner)
            used = [lim for lim in others if lim[0] in term.free_symbols]
            # a summation over another plate whose index the term no longer reads multiplies it
            for lim in others:
                if lim not in used and lim not in inner:
                    term = term * (lim[2] - lim[1] + 1)
            total += Sum(self.rewrite(term), *used) if used else self.rewrite(term)
        return total

    def _nested(self, ix):
        """ix runs over a plate nested in the data plate: every variable on it is on both."""
        p = plate_of_index(self.model, ix)
        return p is not None and self._nested_plate(p)

    def _nested_plate(self, p):
        return p != self.plate and all(self.plate in v.plates
                                       for v in self.model.variables.values() if p in v.plates)

    def _canonical_dummies(self, e):
        """Rename the dummy index of every inner sum to one name per plate (when that plate has
        one dummy), so that equal statistics written with different dummies share a name."""
        dummies = {}
        for s in e.atoms(Sum):
            for lim in s.limits:
                p = plate_of_index(self.model, lim[0])
                if p is not None and lim[0] != p.index:
                    dummies.setdefault(p, set()).add(lim[0])
        return e.xreplace({next(iter(ixs)): p.make_index(f"{p.index_name}_s")
                           for p, ixs in dummies.items() if len(ixs) == 1})

    def _stat(self, local, i, canonical_i, inner=()):
        """The statistic sum_i [sum_inner] local (free indices kept) as an indexed symbol."""
        if i is not None:
            local = local.xreplace({i: canonical_i})
        limits = [(canonical_i, 0, self.size - 1)]
        for ix, lo, hi in inner:
            p = plate_of_index(self.model, ix)
            if p.index not in local.free_symbols:      # canonical dummy: equal sums share a name
                local, ix = local.xreplace({ix: p.index}), p.index
            limits.append((ix, lo, hi))
        bound = {lim[0] for lim in limits}
        free = sorted({s for s in local.free_symbols if isinstance(s, Idx) and s not in bound},
                      key=str)
        plates = [plate_of_index(self.model, ix) for ix in free]
        if any(p is None for p in plates):
            raise UnsupportedModelError(
                f"model {self.model.name!r}: cannot name the axes of the statistic sum over "
                f"{self.plate.name} of {local}")
        order = sorted(range(len(free)), key=lambda n: self.model.plates.index(plates[n]))
        free, plates = [free[n] for n in order], [plates[n] for n in order]
        axes = stat_axes(plates)          # a plate met twice (x_id x_id'): d, then d'
        canon = self._canonical_dummies(local.xreplace(dict(zip(free, axes))))
        key = Sum(canon, *limits)
        if key not in self.stats:
            self.stats[key] = (f"{self.prefix}{len(self.stats) + 1}", tuple(plates))
        name = self.stats[key][0]
        if not plates:
            return sp.Symbol(name, real=True)
        return sp.IndexedBase(sp.Symbol(name, real=True))[tuple(free)]


class MapReduce:
    """The map-reduce form of CAVI for ``model`` (see the module docstring).

    ``split``: the :class:`Split`; ``local_order`` / ``bound_order`` / ``global_order``: the
    local factors, the local bounds' parameters and the global factors in the order a sweep
    updates them, and ``order`` all three (the ``order`` of :func:`vi_derivations.cavi` that
    the map-reduce equals); ``stats``: statistic name (T1, T2, ...) -> its definition,
    a SymPy sum over the data plate (free indices = the statistic's axes); ``stat_symbols``:
    name -> the statistic as it appears in the rewritten expressions (e.g. ``T1[k, d]``);
    ``global_natural``: global factor -> natural parameters written in the statistics;
    ``global_updates``: global factor -> its family's parameters (the update) written in
    the statistics; ``elbo_expr``: the full ELBO written in the statistics and the global
    parameters.

    The three numerical steps, arrays passed by the model's names:

    * :meth:`local_step` (one chunk): local parameters (the local factors', then the local
      bounds') and the chunk's statistics (one
      :meth:`local_sweep`, then :meth:`statistics`);
    * :meth:`global_step` (summed statistics): updated global parameters;
    * :meth:`elbo` (summed statistics, new global parameters): the full ELBO.

    Stochastic VI uses the same pieces: the statistics of a minibatch of B points, scaled by
    N / B (the count statistic too), give :meth:`global_step` the intermediate global
    parameters towards which a natural-gradient step moves.
    """

    def __init__(self, model, data_plate=None):
        self.model = model
        self.split = split(model, data_plate)
        sp_ = self.split
        order = [n for n in model.qfactors]
        self.local_order = tuple(n for n in order if n in sp_.local)
        self.bound_order = sp_.local_bounds
        self.global_order = tuple(n for n in order if n in sp_.global_)
        rw = _Rewriter(model, sp_)
        self._local_fns = {n: derive_update(model, n).numeric() for n in self.local_order}
        self._local_fns.update({n: derive_bound_update(model, n).numeric()
                                for n in self.bound_order})
        # a factor whose elements are coupled (e.g. q(w_d) reading w_l, l != d) is updated one
        # element at a time along the coupled plates, as the in-memory CAVI does (a Jacobi step
        # of all elements at once is not coordinate ascent)
        self.schedules = {n: update_schedule(model, n)
                          for n in self.local_order + self.global_order}
        self._axes = {}
        for n, sch in self.schedules.items():
            if not sch.vectorised:
                view = type("_View", (), {})()
                view.updates, view.schedules, view.model = ({n: derive_update(model, n)},
                                                            {n: sch}, model)
                self._axes[n] = GeneratedCAVI._axes(view, n)
        self.global_natural = {}
        updates = {}
        for n in self.global_order:
            u = derive_update(model, n)
            new = copy.copy(u)
            new.natural = {k: rw.rewrite(e) for k, e in u.natural.items()}
            self.global_natural[n] = new.natural
            updates[n] = new
        self.global_updates = {n: u.family.natural_to_params(u.natural, u.event_reps)
                               for n, u in updates.items()}
        self.elbo_expr = rw.rewrite(_elbo_expr(model, constants=True))
        self.stats = {name: key for key, (name, _) in rw.stats.items()}
        # the statistics and the global step's arguments live in a companion model
        self.stat_model = shadow = Model(f"{model.name}_stats")
        for v in model.variables.values():
            if model.plates and sp_.data_plate in v.plates:
                continue
            shadow.hyper(v.name, v.plates, latex=v.latex, positive=False)
        for key, (name, plates) in rw.stats.items():
            shadow.hyper(name, plates, latex=f"T_{{{name[len(rw.prefix):]}}}", positive=False)
        for n, u in updates.items():
            u.model = shadow
        self._global_fns = {n: u.numeric() for n, u in updates.items()}
        self._elbo_fn = compile_expr(self.elbo_expr, shadow)
        self._stat_fns = {}
        self._floor = {}
        for key, (name, plates) in rw.stats.items():
            self._stat_fns[name] = compile_expr(key, model, stat_axes(plates))
            logged = set()
            for lg in key.atoms(sp.log):
                logged |= rw._names(lg.args[0])
            self._floor[name] = tuple(n for n in logged if n in sp_.local_params)
        self.stat_plates = {name: plates for _, (name, plates) in rw.stats.items()}
        self.stat_symbols = {
            name: (shadow.variables[name].symbol[stat_axes(plates)] if plates
                   else shadow.variables[name].symbol)
            for _, (name, plates) in rw.stats.items()}

    @property
    def order(self):
        """Every update of one sweep in its order: local factors, local bounds, global factors."""
        return self.local_order + self.bound_order + self.global_order

    # --------------------------------------------------------------- numerical steps
    def local_step(self, chunk, params, fixed):
        """Update the local factors on one chunk, then compute its statistics.

        ``chunk``: the data arrays of these points (data plate on axis 0); ``params``: the
        global variational parameters; ``fixed``: hyper-parameters. Returns
        ``(local, stats)``: the chunk's local parameters and statistic name -> array.
        """
        local = self.local_sweep(chunk, params, fixed)
        return local, self.statistics({**chunk, **local}, params, fixed)

    def local_sweep(self, chunk, params, fixed):
        """One pass of the local updates (local factors in q order, then the local bounds'
        parameters) on one chunk; ``params`` may hold the current local parameters (a local
        update may read another local factor's)."""
        args = {**fixed, **params, **chunk}
        local = {}
        for n in self.local_order + self.bound_order:
            local.update(self._update(n, self._local_fns[n], args))
            args.update(local)
        return local

    def _update(self, n, fn, args):
        """The new parameters of q(n) from ``args``: all elements at once, or one element at a
        time along the coupled plates of its schedule (each element reading the ones before)."""
        sch = self.schedules.get(n)
        if sch is None or sch.vectorised:
            return fn(**args)
        axes = self._axes[n]
        cur = {k: (np.array(v, dtype=float) if k in axes else v) for k, v in args.items()}
        known = plate_sizes(self.model, {k: v for k, v in cur.items()
                                         if k in self.model.variables})
        by_name = {p.name: p for p in self.model.plates}
        sizes = [int(by_name[p].size) if by_name[p].size.is_Integer else known[by_name[p].size]
                 for p in sch.plates]
        out = {}
        for at in np.ndindex(*sizes):
            new = fn(**cur)
            _write(cur, new, at, axes)
            out.update({k: cur[k] for k in new})
        return out

    def statistics(self, chunk, params, fixed, names=None):
        """The chunk's statistics (all, or those in ``names``); ``chunk`` holds its data and
        local parameters, ``params`` the global ones."""
        args = {**fixed, **params, **chunk}
        stats = {}
        tiny = np.finfo(float).tiny
        for name, f in self._stat_fns.items():
            if names is not None and name not in names:
                continue
            a = dict(args)
            for p in self._floor[name]:
                a[p] = np.maximum(a[p], tiny)
            stats[name] = f(**a)
        return stats

    def global_step(self, stats, params, fixed):
        """Global variational parameters from the summed statistics (updated in q order)."""
        params = dict(params)
        for n in self.global_order:
            params.update(self._update(n, self._global_fns[n], {**fixed, **params, **stats}))
        return params

    def elbo(self, stats, params, fixed) -> float:
        """The full ELBO (constants=True) from the summed statistics and global parameters."""
        return float(self._elbo_fn(**fixed, **params, **stats))

    @staticmethod
    def add(a, b):
        """The reduce: statistics of two sets of chunks -> statistics of their union."""
        return {k: a[k] + b[k] for k in a}

    def sweep(self, chunks, params, fixed):
        """One serial sweep over a list of chunks (the map-reduce without a scheduler).
        Returns ``(params, elbo, locals)``."""
        total, locals_ = None, []
        for chunk in chunks:
            local, stats = self.local_step(chunk, params, fixed)
            locals_.append(local)
            total = stats if total is None else self.add(total, stats)
        params = self.global_step(total, params, fixed)
        return params, self.elbo(total, params, fixed), locals_


def map_reduce(model, data_plate=None) -> MapReduce:
    """The map-reduce plan of CAVI for ``model`` (see :class:`MapReduce`)."""
    return MapReduce(model, data_plate)
