r"""The full Bayesian mixture (see :mod:`vi_impl.models.bayesian_gmm`) fitted by CAVI on a
chunked array.

A sweep is a map-reduce (:mod:`vi_impl.scale.driver`). Map: chunk j of X, centred on the data
mean c, is laid out as the in-memory fit's design rows Z_i = [(x_i - c)_d (x_i - c)_e (d <= e),
x_i - c, 1] and the in-memory fit's local pass turns the coefficients of log rho (from the
current q(pi), q(mu_k, Lambda_k)) into responsibilities r_ik and returns only

    G_k = sum_{i in chunk} r_ik Z_i                  (K, P): the chunk's N_k, S_x,k, S_xx,k
    lse = sum_{i in chunk} log sum_k exp(log rho_ik)  (scalar)

Reduce: the chunks' statistics are added; the Dirichlet and Normal-Wishart updates and the
full ELBO (sum_ik r_ik log r_ik = sum_k G_k . coef_k - lse, as log rho is linear in Z) follow
exactly as in :func:`vi_impl.models.bayesian_gmm.fit`; only the order of the floating-point
additions differs, so from the same start the two agree to rounding. The (N, K)
responsibilities are never held: ``result.r`` is a lazy dask array.

Before the sweeps one pass checks the data and computes c (and, with no ``prior``, the data
covariance of the default prior; with no ``init``, a uniform subsample of rows on which
k-means++ picks K centres), and one pass adds the statistics of the initial responsibilities.
"""
from __future__ import annotations

import numbers

import dask.array as da
import numpy as np

from vi_impl.models import bayesian_gmm as _bg
from vi_impl.result import DEFAULT_TOL, FitResult
from vi_impl.scale.data import npy_blocks
from vi_impl.scale.driver import ChunkError, SweepState, blocks_of, check_chunk, map_stats, sweeps
from vi_impl.scale.gmm import _pieces, _rows, as_chunked
from vi_impl.validation import (MAX_ABS, as_float_array, check_bool, check_int, check_rng,
                                check_shape, check_tol)

__all__ = ["fit"]

_PARAMS = ("alpha", "beta", "m", "W", "nu")
_PIECE_ROWS = 16_384               # rows of a chunk processed at a time (cache-sized design)


def _chunk_pass(x, coef, c, j, start, out=None):
    """The in-memory fit's local pass over chunk j (an array or a RowBlock), a piece of rows at
    a time: (G, lse) of the chunk (module docstring), the responsibilities into ``out`` if
    given. Each piece is checked first (NaN, inf, |x| > MAX_ABS: a ChunkError naming X)."""
    D = len(c)
    P = D * (D + 1) // 2 + D + 1
    G, lse = np.zeros((coef.shape[0], P)), 0.0
    for a, xb in _pieces(x, _PIECE_ROWS):
        _check_piece(x, xb, j, start)
        Zt, _ = _bg._design(xb - c)
        A, g, s = _bg._local_pass(coef, Zt)
        G += g
        lse += s
        if out is not None:
            out[a:a + len(xb)] = A.T
    return G, lse


def _check_piece(x, xb, j, start):
    """Two reductions over a piece xb of chunk x; if it holds NaN, inf or |x| > MAX_ABS, the
    ChunkError of :func:`vi_impl.scale.driver.check_chunk` for the whole chunk."""
    if not (-MAX_ABS <= xb.min() and xb.max() <= MAX_ABS):          # NaN fails both
        check_chunk("X", j, start, _rows(x))


def _first_pass(j, start, X, seed, frac, moments):
    """Chunk j checked; its row sum and count, (rows, mean, scatter) if ``moments``, and a
    uniform subsample of its rows with probability ``frac``."""
    X = _rows(X)
    check_chunk("X", j, start, X)
    out = {"sum": X.sum(axis=0), "n": len(X)}
    if moments:                                            # a list: concatenated
        mean = X.mean(axis=0) if len(X) else np.zeros(X.shape[1])
        out["moments"] = [(len(X), mean, (X - mean).T @ (X - mean))]
    if frac:
        out["sample"] = [X[np.random.default_rng([seed, j]).random(len(X)) < frac]]
    return out


def _start_pass(j, start, X, c, K, centres=None, init=None):
    """G = r0^T Z of chunk j for the initial responsibilities r0: the chunk of ``init``
    (checked: a ChunkError naming init), or each row assigned to its nearest centre; a piece
    of rows at a time, as a sweep."""
    if init is not None:
        try:
            init = _bg._check_r(init, len(X), K, name="init")
        except (ValueError, TypeError) as exc:
            raise ChunkError(f"init chunk {j} (rows {start}:{start + len(X)}): {exc} (rows "
                             f"counted from the chunk's first, row {start})", j, "init") from None
    G = np.zeros((K, len(c) * (len(c) + 1) // 2 + len(c) + 1))
    for a, xb in _pieces(X, _PIECE_ROWS):
        _check_piece(X, xb, j, start)
        xc = xb - c
        Zt, _ = _bg._design(xc)
        r0 = _bg._nearest(xc, centres) if init is None else init[a:a + len(xb)]
        G += r0.T @ Zt.T
    return {"G": G}


def _sweep_task(j, start, X, coef, c, **_):
    """The map of one sweep on chunk j: G and lse (see the module docstring)."""
    G, lse = _chunk_pass(X, coef, c, j, start)
    return {"G": G, "lse": lse}


def _chunk_r(x, coef, c, block_info=None):
    loc = block_info[0] if block_info else {"chunk-location": (0,), "array-location": [(0,)]}
    out = np.empty((len(x), coef.shape[0]))
    _chunk_pass(x, coef, c, loc["chunk-location"][0], loc["array-location"][0][0], out=out)
    return out


def fit(X, K, *, prior=None, init=None, chunk_rows: int | None = None, client=None,
        max_iter: int = 500, tol: float = DEFAULT_TOL, seed=0, n_sample: int = 10_000,
        progress: bool = False, resume: SweepState | None = None) -> FitResult:
    """Fit the full Bayesian mixture by CAVI as a map-reduce over row chunks of X.

    ``X``: dask array, ``.npy`` path or array (see :func:`vi_impl.scale.gmm.as_chunked`;
    ``chunk_rows`` sets the rows per chunk). ``prior``: a
    :class:`vi_impl.models.bayesian_gmm.Prior` (default: the in-memory fit's, from the data
    mean and covariance). ``init``: (N, K) initial responsibilities (array or dask array), as
    ``init`` of :func:`vi_impl.models.bayesian_gmm.fit` (then the result equals that fit's to
    rounding); without it, k-means++ (seeded by ``seed``) on a uniform subsample of about
    ``n_sample`` rows picks K centres and each row starts assigned to the nearest (with
    N <= n_sample: the in-memory fit's start for the same int ``seed``). ``client``: None, a
    ``distributed.Client`` or a scheduler address. ``progress``: Dask's progress bar per pass.
    ``resume``: the ``state`` of an earlier result or of a :class:`ChunkError`; the fit goes on
    from it (same X, K; the state's prior) up to ``max_iter`` sweeps in all. One run (no
    ``n_init``).

    Returns a :class:`vi_impl.result.FitResult`: params ``alpha``, ``beta``, ``m``, ``W``,
    ``nu`` and ``r`` (a lazy (N, K) dask array: the responsibilities of the last sweep), the
    full ELBO after each sweep, and extra ``state`` (for ``resume``), ``prior``,
    ``posterior``, ``n_chunks``, ``c`` (the centring), ``sweep_seconds`` /
    ``sweep_cpu_seconds`` (wall clock / CPU time of this process, each sweep).
    """
    path = X if isinstance(X, (str, bytes)) or hasattr(X, "__fspath__") else None
    X = as_chunked(X, chunk_rows)
    N, D = X.shape
    K = check_int("K", K, minimum=1)
    max_iter = check_int("max_iter", max_iter, minimum=1)
    tol = check_tol(tol)
    progress = check_bool("progress", progress)
    n_sample = check_int("n_sample", n_sample, minimum=K)
    rng = check_rng("seed", seed)            # an int gives the in-memory fit's generator
    seed_int = int(seed) if isinstance(seed, numbers.Integral) else int(rng.integers(2**31))
    if prior is not None:
        prior = _bg._check_prior(prior, D)
        if prior.K != K:
            raise ValueError(f"prior has K = {prior.K} components but K = {K}")
    if path is None:
        blocks = blocks_of({"X": X})
    else:                       # each map task reads its own rows (see RowBlock)
        blocks = [(b.start, {"X": b}) for b in npy_blocks(path, X.chunks[0][0], name="X")]
    iu = np.triu_indices(D)

    if resume is None:
        init = _check_init(init, X, K)
        frac = 0.0 if init is not None else min(1.0, n_sample / N)
        first = map_stats(blocks, _first_pass, {"seed": seed_int, "frac": frac,
                                                "moments": prior is None}, client, progress)
        c = first["sum"] / N
        if prior is None:
            scatter = sum(M2 + n * np.outer(mean - c, mean - c)
                          for n, mean, M2 in first["moments"])
            prior = _bg._moment_prior(c, scatter / (N - 1) if N > 1 else np.zeros((D, D)), K)
        if init is None:
            sample = np.concatenate(first["sample"])
            if len(sample) < K:
                sample = np.asarray(X[:K])
            args = {"c": c, "K": K, "centres": _bg._seed_centres(sample - c, K, rng)}
            start_blocks = blocks
        else:
            args = {"c": c, "K": K}
            rows = init.rechunk((X.chunks[0], -1)).to_delayed()[:, 0]
            start_blocks = [(s, {**blk, "init": rows[j]}) for j, (s, blk) in enumerate(blocks)]
        G0 = map_stats(start_blocks, _start_pass, args, client, progress)["G"]
        post = _bg._update(_bg._shifted(prior, c), *_bg._unpack_stats(G0, iu, D))
        resume = SweepState(_params(post, c), (),
                            {"c": c, "prior": prior, "coef": _bg._coef(post, iu)})
    else:
        _check_resume(resume, K, D, prior)
        prior = resume.extra["prior"]
    c = resume.extra["c"]
    pc = _bg._shifted(prior, c)

    def update(stats, state):
        G, coef = stats["G"], state.extra["coef"]
        Nk, Sx, Sxx = _bg._unpack_stats(G, iu, D)
        post = _bg._update(pc, Nk, Sx, Sxx)
        value = _bg._total(_bg._elbo_parts(pc, post, Nk, Sx, Sxx,
                                           float((G * coef).sum() - stats["lse"])))
        extra = {"c": c, "prior": prior, "coef": _bg._coef(post, iu), "coef_prev": coef}
        return _params(post, c), extra, value

    state, converged, seconds = sweeps(blocks, _sweep_task, update, resume, max_iter=max_iter,
                                       tol=tol, client=client, progress=progress)
    params = dict(state.params)
    coef_prev = state.extra.get("coef_prev")
    params["r"] = None if coef_prev is None else X.map_blocks(
        _chunk_r, coef_prev, c, dtype=float, chunks=(X.chunks[0], (K,)))
    return FitResult(params, np.array(state.elbo), len(state.elbo), converged,
                     {"state": state, "prior": prior, "n_chunks": len(blocks), "c": c,
                      "posterior": _bg.Posterior(*(state.params[p] for p in _PARAMS)),
                      "sweep_seconds": np.array([w for w, _ in seconds]),
                      "sweep_cpu_seconds": np.array([t for _, t in seconds])})


def _params(post, c):
    """The global parameters in the data's coordinates (post is centred on c)."""
    return {"alpha": post.alpha, "beta": post.beta, "m": post.m + c, "W": post.W,
            "nu": post.nu}


def _check_init(init, X, K):
    """None, or init as a dask array (N, K) of X's row chunks; an in-memory init is checked
    whole (finite probability rows), a dask init chunk by chunk in the start pass."""
    if init is None:
        return None
    N = X.shape[0]
    if isinstance(init, da.Array):
        if init.shape != (N, K):
            raise ValueError(f"init must have shape (N, K) = ({N}, {K}), got {init.shape}")
        if init.dtype.kind not in "biuf":
            raise ValueError(f"init must be a real numeric array, got dtype {init.dtype}")
        return init
    return da.from_array(_bg._check_r(init, N, K, name="init"), chunks=(X.chunks[0], -1))


def _check_resume(resume, K, D, prior):
    """``resume`` must be the intact state of an earlier fit of a (K, D) mixture, and a
    ``prior`` given with it the state's own."""
    params = getattr(resume, "params", None)
    extra = getattr(resume, "extra", None)
    if not (isinstance(resume, SweepState) and isinstance(params, dict)
            and isinstance(extra, dict) and all(p in params for p in _PARAMS)
            and isinstance(extra.get("prior"), _bg.Prior) and np.shape(extra.get("c")) == (D,)
            and np.shape(extra.get("coef")) == (K, D * (D + 1) // 2 + D + 1)):
        raise ValueError("resume must be the SweepState of an earlier fit of the same "
                         f"(K, D) = ({K}, {D}) mixture, got {type(resume).__name__}")
    try:
        _bg._check_post(_bg.Posterior(*(params[p] for p in _PARAMS)), K, D)
        _bg._check_prior(extra["prior"], D)
        as_float_array("c", extra["c"], ndim=1)
        as_float_array("coef", extra["coef"], ndim=2)
        as_float_array("elbo", np.asarray(resume.elbo, dtype=float), ndim=1)
        check_shape("alpha0", extra["prior"].alpha0, (K,), meaning="(K,)")
    except (ValueError, TypeError) as exc:
        raise ValueError(f"resume holds a bad state ({exc}); pass the state of an earlier fit "
                         "unchanged") from None
    if prior is not None and not all(np.array_equal(getattr(prior, f), getattr(extra["prior"], f))
                                     for f in ("alpha0", "m0", "beta0", "W0", "nu0")):
        raise ValueError("prior must be the resumed fit's prior (or None: the state's is used)")
