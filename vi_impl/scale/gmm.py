r"""The coursework mixture (see :mod:`vi_impl.models.gmm`) fitted by CAVI on a chunked array.

A sweep is a map-reduce (:mod:`vi_impl.scale.driver`). Map: chunk j of X, centred on the data
mean c, computes its responsibilities pi_ik from the current q(mu) with the in-memory fit's
fused pass and returns only the statistics

    T_k = sum_{i in chunk} pi_ik [x_i - c, -||x_i - c||^2 / 2, 1]      (K, D + 2)
    lse = sum_{i in chunk} log sum_k exp(logit_ik)                    (scalar)

Reduce: the chunks' statistics are added; then N_k, S_k - N_k c, the new
m_k = S_k / (1/sigma2 + N_k), s2_k = 1 / (1/sigma2 + N_k) and the full ELBO (entropy of q(c)
through sum_ik pi_ik log pi_ik = sum_ik pi_ik logit_ik - lse) follow exactly as in
:func:`vi_impl.models.gmm.fit`; only the order of the floating-point additions differs, so
from the same start the two agree to rounding. The (N, K) responsibilities are never held:
``result.pi`` is a lazy dask array (compute it, or a slice of it, only if you need it).

Before the first sweep one pass computes c (and, without ``init``, draws a uniform subsample
of rows on which :func:`vi_impl.models.gmm.fit` picks the initial means).
"""
from __future__ import annotations

import dask.array as da
import numpy as np

from vi_impl.models import gmm as _gmm
from vi_impl.result import DEFAULT_TOL, FitResult
from vi_impl.scale.data import RowBlock, as_dask, npy_blocks
from vi_impl.scale.driver import ChunkError, SweepState, blocks_of, check_chunk, map_stats, sweeps
from vi_impl.validation import (MAX_ABS, as_float_array, check_bool, check_int,
                                check_positive_scalar, check_rng, check_shape, check_tol)

__all__ = ["fit", "as_chunked"]

# the in-memory fit's fused pass and its ELBO (same module, same formulas; see its docstring)
_stats_pass = _gmm._responsibility_stats
_logit_weights = _gmm._logit_weights
_elbo_from_stats = _gmm._elbo_from_stats
_block_columns = _gmm._block_columns
_FAR = 2 * MAX_ABS                 # |x_id - c_d| above this cannot come from checked data


def as_chunked(X, chunk_rows: int | None = None):
    """X as a dask array chunked along rows only: a dask array (rechunked if ``chunk_rows`` is
    given or its columns are split), a path to a ``.npy`` file (see
    :func:`vi_impl.scale.data.open_npy`) or an in-memory array."""
    if chunk_rows is not None:
        chunk_rows = check_int("chunk_rows", chunk_rows, minimum=1)
    if isinstance(X, da.Array):
        if X.ndim != 2:
            raise ValueError(f"X must be a 2-D array (N, D), got shape {X.shape}")
        if X.dtype.kind == "c":
            raise ValueError("X must be real-valued, got a complex array")
        if X.dtype.kind not in "biuf":
            raise ValueError(f"X must be a real numeric array, got dtype {X.dtype}")
        if min(X.shape) < 1:
            raise ValueError(f"X must have at least one row and one column, got shape {X.shape}")
        if chunk_rows is not None or len(X.chunks[1]) > 1:
            X = X.rechunk({0: chunk_rows or X.chunks[0][0], 1: -1})
        return X
    if isinstance(X, (str, bytes)) or hasattr(X, "__fspath__"):
        return as_dask(npy_blocks(X, chunk_rows or 1_000_000, name="X"))
    X = as_float_array("X", X, ndim=2, min_shape=(1, 1))
    return da.from_array(X, chunks=(chunk_rows or 1_000_000, -1))


def _pieces(x, rows):
    """(first row, rows) of consecutive pieces of chunk x (an array or a RowBlock)."""
    if isinstance(x, RowBlock):
        yield from x.blocks(rows)
    else:
        for a in range(0, len(x), rows):
            yield a, x[a:a + rows]


def _chunk_pass(x, A, c, out=None):
    """The fused pass of the in-memory fit over one chunk x (n, D) (an array, or a RowBlock
    read piece by piece), a cache-sized piece of rows at a time: each piece is centred on c
    and laid out as Z = [x_i - c, -||x_i - c||^2/2, 1] (columns), then
    :func:`vi_impl.models.gmm._responsibility_stats` turns it into T and lse (and the
    responsibilities, into ``out``, if given). Also returns the smallest -||x_i - c||^2 / 2
    (NaN or -inf flag bad data)."""
    n, D = len(x), len(c)
    K = A.shape[0]
    rows = _block_columns(n, K)
    T, lse, low = np.zeros((K, D + 2)), 0.0, np.inf
    Z = np.empty((D + 2, min(n, rows)))
    Z[D + 1] = 1.0
    for a, xb in _pieces(x, rows):
        z = Z[:, :len(xb)]
        np.subtract(xb.T, c[:, None], out=z[:D])
        np.einsum("dn,dn->n", z[:D], z[:D], out=z[D])
        z[D] *= -0.5
        block_low = z[D].min()
        if block_low < low or np.isnan(block_low):           # a NaN stays
            low = block_low
        t, l_sum = _stats_pass(z, A, out=None if out is None else out[a:a + rows])
        T += t
        lse += l_sum
    return T, lse, low


def _rows(X):
    return X.read() if isinstance(X, RowBlock) else X


def _first_pass(j, start, X, seed, frac):
    """Chunk j's row sum and count, after the data check; and a subsample of its rows."""
    X = _rows(X)
    check_chunk("X", j, start, X)
    # (boolean indexing copies; a view such as X[:0] would keep the whole chunk alive)
    sample = X[np.random.default_rng([seed, j]).random(len(X)) < frac] if frac \
        else np.empty((0, X.shape[1]))
    return {"sum": X.sum(axis=0), "n": len(X), "sample": [sample]}  # a list: concatenated


def _weights(mc, s2):
    """The logit weights A = [mc, 1, b] from centred means mc = m - c and variances s2, with
    the in-memory fit's common shift of every logit (it changes neither pi nor the ELBO)."""
    A = _logit_weights(mc, s2)
    A[:, -1] += 0.5 * s2.sum(axis=1).min()
    return A


def _sweep_task(j, start, X, s2, c, mc, **_):
    """The map task of one sweep on chunk j, from the global state."""
    return _sweep_stats(j, start, X, _weights(mc, s2), c)


def _sweep_stats(j, start, X, A, c):
    """The map of one sweep: T and lse of chunk j (see the module docstring)."""
    T, lse, low = _chunk_pass(X, A, c)
    if not low >= -0.5 * len(c) * _FAR**2:            # NaN, inf, or a point absurdly far away
        check_chunk("X", j, start, _rows(X))
        raise ChunkError(f"X chunk {j} (rows {start}:{start + len(X)}) holds a point farther "
                         f"than {_FAR:g} from the data mean", j, "X")
    return {"T": T, "lse": lse}


def _chunk_pi(x, A, c):
    out = np.empty((len(x), A.shape[0]))
    _chunk_pass(x, A, c, out=out)
    return out


def fit(X, K, sigma2, *, init=None, chunk_rows: int | None = None, client=None,
        max_iter: int = 500, tol: float = DEFAULT_TOL, seed=0, n_sample: int = 10_000,
        progress: bool = False, resume: SweepState | None = None) -> FitResult:
    """Fit q(mu, c) of the coursework mixture by CAVI as a map-reduce over row chunks of X.

    ``X``: dask array, ``.npy`` path or array (see :func:`as_chunked`; ``chunk_rows`` sets the
    rows per chunk). Given a path, every map task reads its own rows, so memory holds about
    one chunk per worker thread whatever N. ``init`` (K, D): initial means (as ``init`` of
    :func:`vi_impl.models.gmm.fit`; then the result equals that fit's to rounding); without it,
    :func:`vi_impl.models.gmm.fit` (seeded by ``seed``) on a uniform subsample of about
    ``n_sample`` rows gives them (``seed``: a non-negative int, None or a
    ``numpy.random.Generator``). ``client``: None, a ``distributed.Client`` or a scheduler
    address (see :mod:`vi_impl.scale.driver`). ``progress``: Dask's progress bar per sweep.
    ``resume``: the ``state`` of an earlier result or of a :class:`ChunkError`; the fit goes on
    from it (same X, K, sigma2) up to ``max_iter`` sweeps in all.

    Returns a :class:`vi_impl.result.FitResult`: params ``m``, ``s2`` (K, D) and ``pi`` (a lazy
    (N, K) dask array), the full ELBO after each sweep, and extra ``state`` (for ``resume``),
    ``n_chunks``, ``c`` (the centring) and ``sweep_seconds`` / ``sweep_cpu_seconds`` (wall
    clock / CPU time of this process, each sweep).
    """
    path = X if isinstance(X, (str, bytes)) or hasattr(X, "__fspath__") else None
    X = as_chunked(X, chunk_rows)
    N, D = X.shape
    K = check_int("K", K, minimum=1)
    sigma2 = check_positive_scalar("sigma2", sigma2)
    max_iter = check_int("max_iter", max_iter, minimum=1)
    tol = check_tol(tol)
    progress = check_bool("progress", progress)
    n_sample = check_int("n_sample", n_sample, minimum=K)
    # an int seeds the subsample and the start as it is; None or a Generator gives one
    seed_int = check_int("seed", seed, minimum=0) if isinstance(seed, int) \
        else int(check_rng("seed", seed).integers(2**31))
    if path is None:
        blocks = blocks_of({"X": X})
    else:                       # each map task reads its own rows (see RowBlock)
        blocks = [(b.start, {"X": b}) for b in npy_blocks(path, X.chunks[0][0], name="X")]

    if resume is None:
        if init is not None:
            init = as_float_array("init", init, ndim=2)
            check_shape("init", init, (K, D), meaning="(K, D)")
        frac = 0.0 if init is not None else min(1.0, n_sample / N)
        first = map_stats(blocks, _first_pass, {"seed": seed_int, "frac": frac},
                          client, progress)
        c = first["sum"] / N
        if init is None:
            sample = np.concatenate(first["sample"])
            if len(sample) < K:
                sample = np.asarray(X[:K])
            init = _gmm.fit(sample, K, sigma2, seed=seed_int).m
        resume = SweepState({"m": init, "s2": np.full((K, D), sigma2)}, (),
                            {"c": c, "mc": init - c})
    else:
        _check_resume(resume, K, D)

    def update(stats, state):
        c = state.extra["c"]
        A_prev = _weights(state.extra["mc"], state.params["s2"])
        T, lse = stats["T"], stats["lse"]
        precision = 1.0 / sigma2 + T[:, -1]
        mc = (T[:, :D] - c / sigma2) / precision[:, None]
        s2 = np.repeat((1.0 / precision)[:, None], D, axis=1)
        value = _elbo_from_stats(T, lse, A_prev, mc, s2, c, sigma2, N)
        _check_rounding(T, state.extra["mc"], mc, A_prev[:, -1], N, value)
        extra = {"c": c, "mc": mc, "A": A_prev}
        return {"m": mc + c, "s2": s2}, extra, value

    state, converged, seconds = sweeps(blocks, _sweep_task, update, resume, max_iter=max_iter,
                                       tol=tol, client=client, progress=progress)
    extra = state.extra
    if "A" in extra:
        pi = X.map_blocks(_chunk_pi, extra["A"], extra["c"], dtype=float,
                          chunks=(X.chunks[0], (K,)))
    else:
        pi = None
    return FitResult({"m": state.params["m"], "s2": state.params["s2"], "pi": pi},
                     np.array(state.elbo), len(state.elbo), converged,
                     {"state": state, "n_chunks": len(blocks), "c": extra["c"],
                      "sweep_seconds": np.array([w for w, _ in seconds]),
                      "sweep_cpu_seconds": np.array([c for _, c in seconds])})


def _check_resume(resume, K, D):
    """``resume`` must be the state of an earlier fit of a (K, D) mixture (see :func:`fit`)."""
    def shape(d, key):
        return np.shape(d.get(key)) if isinstance(d, dict) else None
    if not (isinstance(resume, SweepState)
            and shape(resume.params, "m") == shape(resume.params, "s2") == (K, D)
            and shape(resume.extra, "mc") == (K, D) and shape(resume.extra, "c") == (D,)):
        raise ValueError("resume must be the SweepState of an earlier fit of the same "
                         f"(K, D) = ({K}, {D}) mixture, got {type(resume).__name__}")
    arrays = [resume.params["m"], resume.params["s2"], resume.extra["mc"], resume.extra["c"]]
    try:
        ok = all(np.isfinite(np.asarray(a, dtype=float)).all() for a in arrays) \
            and (np.asarray(resume.params["s2"], dtype=float) > 0).all() \
            and np.isfinite(np.asarray(resume.elbo, dtype=float)).all()
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError("resume holds non-finite or non-real parameters (or s2 <= 0); pass "
                         "the state of an earlier fit unchanged")


def _check_rounding(T, mc_prev, mc, b_prev, N, value):
    """The in-memory fit's guard on the fused ELBO's rounding (see vi_impl.models.gmm)."""
    spread = -2.0 * T[:, -2].sum()                       # sum_i ||x_i - c||^2
    far = max((mc_prev**2).sum(axis=1).max(), (mc**2).sum(axis=1).max(), -b_prev.min())
    eps = np.finfo(float).eps
    if not (_gmm._ROUNDING * eps * (spread + N * far) <= _gmm._PRECISION * abs(value)):
        raise ValueError(
            "X is spread so widely relative to its clusters that the chunked ELBO's rounding "
            f"could exceed {_gmm._PRECISION:g} of its value; fit it with "
            "vi_impl.models.gmm.fit (exact squared distances) or rescale X")


