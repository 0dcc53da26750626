"""The map-reduce loop of chunked CAVI on Dask: map over row blocks, add, update the globals.

One sweep is one Dask graph: a task per chunk (``local(chunk index, first row, *blocks,
globals)`` -> a dict of statistics) and one task adding them; the client then applies the
global update to the totals. The scheduler is Dask's: ``client=None`` uses the active
``dask.distributed`` client if there is one (else Dask's local threads), a ``Client`` is used
as given, and an address string ("tcp://host:8786") connects to that cluster for the fit.

Nothing is lost on failure: after every sweep the loop holds a :class:`SweepState` (the global
parameters and the ELBO trace so far). A chunk whose data is bad raises :class:`ChunkError`
naming the chunk, its rows and the argument, and carrying ``.state``, the last completed
state; passing it back as ``resume=`` continues the fit exactly where it stopped.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

import dask
import numpy as np
from dask import delayed

from vi_impl.result import elbo_converged
from vi_impl.validation import MAX_ABS

__all__ = ["SweepState", "ChunkError", "check_chunk", "blocks_of", "sweeps", "map_stats"]


@dataclass(frozen=True)
class SweepState:
    """Where a chunked fit stands after ``len(elbo)`` sweeps: ``params`` (the global
    variational parameters), ``elbo`` (tuple, the full ELBO after each sweep) and ``extra``
    (whatever else the next sweep needs, e.g. the centring of the data)."""

    params: dict
    elbo: tuple = ()
    extra: dict = field(default_factory=dict)


class ChunkError(ValueError):
    """Bad data in one chunk: ``chunk`` (its index), ``argument`` (the data array's name) and
    ``state`` (the last completed :class:`SweepState`; pass it as ``resume=`` after fixing)."""

    def __init__(self, message, chunk=None, argument=None, state=None):
        super().__init__(message)
        self.chunk, self.argument, self.state = chunk, argument, state

    def __reduce__(self):  # crosses process boundaries without the state
        return (ChunkError, (str(self), self.chunk, self.argument))


def check_chunk(name: str, chunk: int, start: int, x) -> None:
    """Raise :class:`ChunkError` unless every entry of ``x`` is finite with |x| <= MAX_ABS.
    Two reductions (min and max; NaN propagates through both) and no temporary array."""
    lo, hi = (x.min(), x.max()) if x.size else (0.0, 0.0)
    if -MAX_ABS <= lo and hi <= MAX_ABS:
        return
    flat = np.asarray(x).reshape(len(x), -1)
    bad = ~(np.abs(flat) <= MAX_ABS)
    row, col = map(int, np.argwhere(bad)[0])
    value = flat[row, col]
    what = "NaN" if np.isnan(value) else ("an infinite value" if np.isinf(value)
                                           else f"{value:.3g}, beyond +-{MAX_ABS:g}")
    raise ChunkError(f"{name} chunk {chunk} (rows {start}:{start + len(x)}) holds {what} at row "
                     f"{start + row}, column {col} ({int(bad.sum())} bad entries in this chunk)",
                     chunk, name)


def blocks_of(arrays: dict) -> list:
    """Row blocks of dask arrays that share their row chunks: [(start, {name: Delayed})]."""
    names = list(arrays)
    first = arrays[names[0]]
    for n in names[1:]:
        if arrays[n].chunks[0] != first.chunks[0]:
            raise ValueError(f"{n} must have the same row chunks as {names[0]}, got "
                             f"{arrays[n].chunks[0][:3]}... vs {first.chunks[0][:3]}...")
    delayed_ = {n: a.to_delayed().reshape(len(a.chunks[0]), -1)[:, 0] for n, a in arrays.items()}
    for n, a in arrays.items():
        if a.ndim > 1 and any(len(c) > 1 for c in a.chunks[1:]):
            raise ValueError(f"{n} must be chunked along rows only, got chunks {a.chunks[1:]}")
    starts = np.concatenate([[0], np.cumsum(first.chunks[0])[:-1]]).astype(int)
    return [(int(s), {n: d[j] for n, d in delayed_.items()}) for j, s in enumerate(starts)]


def _add_all(parts):
    total = dict(parts[0])
    for p in parts[1:]:
        for k, v in p.items():
            total[k] = total[k] + v
    return total


@contextlib.contextmanager
def _scheduler(client):
    """Yields a distributed Client (or None: Dask's local scheduler)."""
    if isinstance(client, str):
        from distributed import Client
        with Client(client) as c:
            yield c
        return
    if client is None:
        try:
            from distributed import default_client
            client = default_client()
        except (ImportError, ValueError):
            client = None
    yield client


def _compute(graph, client, progress):
    if client is None:
        if progress:
            from dask.diagnostics import ProgressBar
            with ProgressBar():
                return dask.compute(graph, scheduler="threads")[0]
        return dask.compute(graph, scheduler="threads")[0]
    future = client.compute(graph)
    if progress:
        from distributed import progress as bar
        bar(future, notebook=False)
    return future.result()


def map_stats(blocks, local, args, client=None, progress=False):
    """One map-reduce pass: ``local(j, start, **blocks_j, **args)`` on every chunk, added."""
    shared = {k: delayed(v) if isinstance(v, (dict, np.ndarray)) else v for k, v in args.items()}
    parts = [delayed(local, pure=False)(j, start, **blk, **shared)
             for j, (start, blk) in enumerate(blocks)]
    with _scheduler(client) as c:
        return _compute(delayed(_add_all, pure=False)(parts), c, progress)


def sweeps(blocks, local, update, state, *, max_iter, tol, client=None, progress=False):
    """Run CAVI sweeps until the shared stopping rule or ``max_iter`` sweeps in all.

    ``local(j, start, **blocks_j, **state.params, **state.extra)`` -> statistics of chunk j;
    ``update(stats, state)`` -> (new params, new extra, ELBO). Returns (state, converged,
    seconds): ``seconds`` lists (wall clock, CPU time of this process) of each sweep run here
    (the CPU time includes the workers' only when they run in this process).
    A :class:`ChunkError` leaves with the last completed state attached.
    """
    converged = elbo_converged(list(state.elbo), tol) if state.elbo else False
    seconds = []
    with _scheduler(client) as c:
        while not converged and len(state.elbo) < max_iter:
            tic = time.perf_counter(), time.process_time()
            try:
                stats = map_stats(blocks, local, {**state.params, **state.extra}, c, progress)
            except ChunkError as e:
                raise ChunkError(str(e), e.chunk, e.argument, state) from None
            params, extra, value = update(stats, state)
            state = SweepState(params, state.elbo + (float(value),), extra)
            converged = elbo_converged(list(state.elbo), tol)
            seconds.append((time.perf_counter() - tic[0], time.process_time() - tic[1]))
    return state, converged, seconds
