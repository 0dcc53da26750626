"""Any engine model with a data plate, fitted by CAVI as a map-reduce on Dask.

The plan comes from the derivation (:func:`vi_derivations.mapreduce.map_reduce`): each chunk
updates its local factors and returns the statistics the plan names; the statistics are added
and the global factors and the full ELBO are computed from the totals. Nothing here is specific
to a model: the same few lines scale a model a reader defines in the engine.
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


def _local(plan, names, fixed, j, start, **arrays):
    """The map of one sweep on chunk j: check its data, update its local factors, statistics."""
    chunk = {n: arrays.pop(n) for n in names}
    for n, x in chunk.items():
        check_chunk(n, j, start, x)
    try:
        _, stats = plan.local_step(chunk, arrays, fixed)
    except ValueError as e:
        raise ChunkError(f"chunk {j} (rows {start}:{start + len(next(iter(chunk.values())))}): "
                         f"{e}", j, None) from None
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

    def local(j, start, **arrays):
        return _local(shipped, sp_.data, fixed, j, start, **arrays)

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
