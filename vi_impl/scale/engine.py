"""Any engine model with a data plate, fitted by CAVI as a map-reduce on Dask.

The plan comes from the derivation (:func:`vi_derivations.mapreduce.map_reduce`): each chunk
updates its local factors (and the parameters of a local bound, e.g. the xi_i of logistic
regression) and returns the statistics the plan names; the statistics are added
and the global factors and the full ELBO are computed from the totals. Nothing here is specific
to a model: the same few lines scale a model a reader defines in the engine.

Each map task first checks its chunk: finite values, and values on the support of their
likelihood (counts for a Poisson, 0/1 for a Bernoulli, ...; the support table of
:mod:`vi_derivations.codegen`). A bad chunk is a :class:`~vi_impl.scale.driver.ChunkError`
naming the argument, the chunk, its rows and the first bad row, carrying the last global state.
"""
from __future__ import annotations

import uuid

import cloudpickle
import dask.array as da
import numpy as np

from vi_derivations.mapreduce import map_reduce
from vi_impl.result import DEFAULT_TOL, FitResult
from vi_impl.scale.driver import ChunkError, SweepState, blocks_of, check_chunk, sweeps
from vi_impl.validation import check_bool, check_int, check_tol

__all__ = ["fit_model"]


_PLANS = {}          # token -> plan, in every process that has run a task of the fit


def _unship(token, payload):
    plan = _PLANS.get(token)
    if plan is None:
        plan = _PLANS[token] = cloudpickle.loads(payload)
    return plan


class _Shipped:
    """A plan that Dask sends with every task but each process unpickles once (it holds
    compiled SymPy expressions: unpickling it per task would cost more than the task)."""

    def __init__(self, plan):
        self.plan, self.token, self.payload = plan, uuid.uuid4().hex, None
        _PLANS[self.token] = plan

    def __getattr__(self, name):
        return getattr(self.__dict__["plan"], name)

    def __reduce__(self):
        if self.payload is None:
            self.payload = cloudpickle.dumps(self.plan)
        return (_unship, (self.token, self.payload))

    def release(self):
        _PLANS.pop(self.token, None)


def _supports(model, names):
    """name -> the support spec of each data array, by the family of its likelihood (or of a
    mixture's component), read by :func:`vi_derivations.codegen._check_support`."""
    factor = {f.var.name: f.dist for f in model.factors}
    specs = {}
    for n in names:
        dist = factor.get(n)
        dist = dist.observation_family if dist is not None else None   # a mixture's component
        support = getattr(dist, "support", None)
        spec = {"support": support}
        v = model.variables[n]
        if support is None and (v.symbol.label if v.plates else v.symbol).is_positive:
            spec["support"] = "positive"
        if support in ("onehot", "simplex"):
            spec["axis"] = list(model.variables[n].plates).index(dist.event_plates[0])
        specs[n] = spec
    return specs


# What each support of codegen's table means, as a test on an array of observations.
_ON_SUPPORT = {
    "binary": ("0 or 1 (Bernoulli observations)", lambda a, ax: np.all((a == 0) | (a == 1))),
    "count": ("non-negative integers (counts)", lambda a, ax: np.all((a >= 0) & (a == np.round(a)))),
    "unit": ("in (0, 1) (Beta observations)", lambda a, ax: np.all((a > 0) & (a < 1))),
    "positive": ("positive", lambda a, ax: np.all(a > 0)),
    "simplex": ("non-negative and sum to one over its axis",
                lambda a, ax: np.all(a >= 0) and np.all(np.abs(a.sum(axis=ax) - 1) <= 1e-8)),
    "onehot": ("one-hot over its axis (Categorical observations)",
               lambda a, ax: np.all((a == 0) | (a == 1)) and np.all(a.sum(axis=ax) == 1)),
}


def _off_support(x, spec):
    """None if every row of x lies on the support ``spec``, else (first bad row, what the
    support is)."""
    if spec["support"] is None:
        return None
    what, on = _ON_SUPPORT[spec["support"]]
    axis = spec.get("axis")
    if on(x, axis):
        return None
    lo, hi = 0, len(x)                      # bisect: the first row that fails the test
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if on(x[lo:mid], axis):
            lo = mid
        else:
            hi = mid
    return lo, what


def _local(plan, names, supports, fixed, j, start, **arrays):
    """The map of one sweep on chunk j: check its data (finite, on the support of its
    likelihood), update its local factors, statistics."""
    chunk = {n: arrays.pop(n) for n in names}
    n_rows = len(next(iter(chunk.values())))
    for n, x in chunk.items():
        check_chunk(n, j, start, x)
        bad = _off_support(np.asarray(x), supports[n])
        if bad is not None:
            raise ChunkError(f"{n} chunk {j} (rows {start}:{start + n_rows}) holds a value off "
                             f"the support of its likelihood at row {start + bad[0]}: {n} must "
                             f"be {bad[1]}", j, n)
    try:
        _, stats = plan.local_step(chunk, arrays, fixed)
    except ValueError as e:
        named = [n for n in names if f"'{n}'" in str(e) or str(e).startswith(f"{n} ")]
        argument = named[0] if len(named) == 1 else None
        raise ChunkError(f"{argument + ' ' if argument else ''}chunk {j} (rows {start}:"
                         f"{start + n_rows}): {e}", j, argument) from None
    return stats


def fit_model(model, data, fixed, init, *, chunk_rows: int | None = None, client=None,
              max_iter: int = 500, tol: float = DEFAULT_TOL, progress: bool = False,
              resume: SweepState | None = None, plan=None) -> FitResult:
    """CAVI for ``model`` over row chunks of its data-plate arrays.

    ``data``: name -> array (dask or NumPy, data plate on axis 0; every data variable of
    the plate's split); ``fixed``: hyper-parameters; ``init``: the global variational
    parameters to start from (the local factors are updated first in every sweep, so they
    need no start). ``plan`` reuses a :class:`~vi_derivations.mapreduce.MapReduce` built
    before. Other arguments as in :func:`vi_impl.scale.gmm.fit`. Returns a
    :class:`vi_impl.result.FitResult` with the global parameters, the full ELBO after each
    sweep and extra ``state`` (for ``resume``) and ``plan``.
    """
    plan = plan or map_reduce(model)
    sp_ = plan.split
    max_iter = check_int("max_iter", max_iter, minimum=1)
    tol = check_tol(tol)
    progress = check_bool("progress", progress)
    if chunk_rows is not None:
        chunk_rows = check_int("chunk_rows", chunk_rows, minimum=1)
    missing = [n for n in sp_.data if n not in data]
    if missing or set(data) - set(sp_.data):
        raise ValueError(f"data must hold exactly the data-plate arrays {list(sp_.data)} of "
                         f"model {model.name!r}, got {sorted(data)}")
    rows = {n: (np.shape(a)[0] if np.ndim(a) else None) for n, a in data.items()}
    if len(set(rows.values())) > 1:
        raise ValueError(f"data: every array must hold the same rows of the data plate "
                         f"{sp_.data_plate.name} on axis 0, got {rows}")
    arrays = {}
    for n, a in data.items():
        if not isinstance(a, da.Array):
            a = np.asarray(a, dtype=float)
            a = da.from_array(a, chunks=(chunk_rows or 1_000_000,) + a.shape[1:])
        elif chunk_rows is not None:
            a = a.rechunk((chunk_rows,) + a.shape[1:])
        arrays[n] = a
    blocks = blocks_of(arrays)
    if resume is None:
        missing = [n for n in sp_.global_params if n not in init]
        if missing:
            raise ValueError(f"init must give the global parameters {list(sp_.global_params)}, "
                             f"missing {missing}")
        resume = SweepState({n: np.asarray(init[n], dtype=float) for n in sp_.global_params})
    fixed = dict(fixed)
    shipped = _Shipped(plan)
    supports = _supports(plan.model, sp_.data)

    def local(j, start, **arrays):
        return _local(shipped, sp_.data, supports, fixed, j, start, **arrays)

    def update(stats, state):
        params = plan.global_step(stats, state.params, fixed)
        return params, {}, plan.elbo(stats, params, fixed)

    try:
        state, converged, seconds = sweeps(blocks, local, update, resume, max_iter=max_iter,
                                           tol=tol, client=client, progress=progress)
    finally:
        shipped.release()
    return FitResult(dict(state.params), np.array(state.elbo), len(state.elbo), converged,
                     {"state": state, "plan": plan, "sweep_seconds": np.array([w for w, _ in seconds]),
                      "sweep_cpu_seconds": np.array([c for _, c in seconds])})
