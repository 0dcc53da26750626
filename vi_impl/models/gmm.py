r"""Mean-field CAVI for the D-dimensional Bayesian Gaussian mixture, hand-coded in NumPy.

Model (known unit observation variance, fixed uniform weights), k = 1..K, i = 1..N, d = 1..D::

    mu_kd          ~ N(0, sigma2)
    c_i            ~ Cat(1/K, ..., 1/K)                 (one-hot, c_ik in {0, 1})
    x_i | c_i, mu  ~ prod_k N(mu_k, I_D) ** c_ik

Mean-field family::

    q(mu_kd) = N(m_kd, s2_kd),        q(c_i) = Cat(pi_i)

Arrays: ``X`` (N, D), ``m`` (K, D), ``s2`` (K, D) *variances*, ``pi`` (N, K) with rows on
the simplex, ``sigma2 > 0``. (``pi`` is this module's name for the responsibilities, phi in the book.)

The full expectations (``constants=True``), with ``N_k = sum_i pi_ik``::

    E[log p(mu)]       = -KD/2 log(2 pi sigma2) - 1/(2 sigma2) sum_kd (m_kd^2 + s2_kd)
    E[log p(c)]        = -N log K
    E[log p(X | c,mu)] = -ND/2 log(2 pi) - 1/2 sum_ik pi_ik sum_d ((x_id - m_kd)^2 + s2_kd)
    E[log q(mu)]       = -1/2 sum_kd (log(2 pi s2_kd) + 1)
    E[log q(c)]        = sum_ik pi_ik log pi_ik                 (0 log 0 = 0)

``elbo = log_joint - log_var`` is then a true lower bound on log p(X).

Convention on dropped constants (``constants=False``; the same as the derivation engine's):

* ``log_joint`` drops every additive term that has no variational parameter in it, after
  using the one-hot identity sum_k c_ik = 1 (so sum_k pi_ik a_i with a_i free of k counts as a
  constant). Dropped: -KD/2 log(2 pi sigma2), -N log K, -ND/2 log(2 pi) and
  -1/2 sum_id x_id^2. Kept::

      -1/(2 sigma2) sum_kd (m_kd^2 + s2_kd) + sum_ik pi_ik sum_d (x_id m_kd - (m_kd^2 + s2_kd)/2)

* ``log_var`` drops the terms with neither model nor variational parameters,
  -KD/2 (1 + log 2 pi). Kept: -1/2 sum_kd log s2_kd + sum_ik pi_ik log pi_ik.

CAVI updates (each one maximises the ELBO in its block with the others held fixed)::

    pi_ik  propto exp( sum_d (x_id m_kd - (m_kd^2 + s2_kd)/2) )
           = softmax_k( -1/2 sum_d ((x_id - m_kd)^2 + s2_kd) )       (same up to a per-row constant)
    s2_kd  = 1 / (1/sigma2 + N_k)
    m_kd   = (sum_i pi_ik x_id) / (1/sigma2 + N_k)

The public per-step functions below follow these formulas directly. :func:`fit` runs the same
iteration through a private fused pass over the data (see :func:`_responsibility_stats`) that
reuses the log-normaliser and the sufficient statistics N_k, S_k = sum_i pi_ik x_i for the
updates *and* the ELBO; the tests check that both routes agree. (For data whose spread would
make the fused ELBO's rounding visible, fit falls back to the per-step functions.)
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy.special import xlogy

from vi_impl.result import DEFAULT_TOL, FitResult, elbo_converged
from vi_impl.validation import (
    MAX_COMPONENTS,
    as_float_array,
    check_bool,
    check_int,
    check_positive_array,
    check_positive_scalar,
    check_probability_rows,
    check_rng,
    check_shape,
    check_tol,
    pick_init,
)

__all__ = [
    "log_joint",
    "log_var",
    "elbo",
    "update_pi",
    "update_m",
    "update_s2",
    "fit",
    "GMMResult",
]

_LOG_2PI = math.log(2.0 * math.pi)


# --------------------------------------------------------------------------- validation
def _check_X(X) -> np.ndarray:
    return as_float_array("X", X, ndim=2, min_shape=(1, 1))


def _check_m(m, D: int | None) -> np.ndarray:
    m = as_float_array("m", m, ndim=2, min_shape=(1, 1))
    if D is not None:
        check_shape("m", m, (None, D), meaning="(K, D) with D the number of columns of X")
    return m


def _check_s2(s2, K: int, D: int) -> np.ndarray:
    s2 = as_float_array("s2", s2, ndim=2)
    check_shape("s2", s2, (K, D), meaning="(K, D), the same as m")
    return check_positive_array("s2", s2)


def _check_pi(pi, N: int | None, K: int | None) -> np.ndarray:
    pi = as_float_array("pi", pi, ndim=2, min_shape=(1, 1))
    check_shape("pi", pi, (N, K), meaning="(N, K): one row per row of X, one column per row of m")
    return check_probability_rows("pi", pi)


# --------------------------------------------------------------------------- the ELBO
# Each public function validates its input and calls a private function that holds the math
# (the fit loop's reference path calls the private ones directly).
def log_joint(X, m, s2, pi, sigma2, constants: bool = False) -> float:
    """E_q[log p(X, mu, c)] for the mixture.

    ``constants=False`` (the convention shared with the engine) drops every term
    without a variational parameter after using sum_k pi_ik = 1: the value is
    ``-sum(m**2 + s2)/(2 sigma2) + sum_ik pi_ik sum_d (x_id m_kd - (m_kd^2 + s2_kd)/2)``.
    ``constants=True`` returns the full expectation (see the module docstring); it is computed
    from E||x_i - mu_k||^2 = ||x_i - m_k||^2 + sum_d s2_kd, which stays accurate for data far
    from the origin.
    """
    X = _check_X(X)
    N, D = X.shape
    m = _check_m(m, D)
    K = m.shape[0]
    s2 = _check_s2(s2, K, D)
    pi = _check_pi(pi, N, K)
    sigma2 = check_positive_scalar("sigma2", sigma2)
    constants = check_bool("constants", constants)
    return _log_joint(X, m, s2, pi, sigma2, constants)


def _log_joint(X, m, s2, pi, sigma2, constants):
    N, D = X.shape
    K = m.shape[0]
    second_moment = m**2 + s2                               # E[mu_kd^2], (K, D)
    prior = -second_moment.sum() / (2.0 * sigma2)
    if not constants:
        Nk = pi.sum(axis=0)                                 # (K,)
        S = pi.T @ X                                        # (K, D): sum_i pi_ik x_i
        likelihood = (S * m).sum() - 0.5 * (Nk * second_moment.sum(axis=1)).sum()
        return float(prior + likelihood)

    prior -= 0.5 * K * D * math.log(2.0 * math.pi * sigma2)
    assignments = -N * math.log(K)
    # sum_ik pi_ik E||x_i - mu_k||^2, one component at a time (no N x K x D temporary).
    expected_sq = sum(pi[:, k] @ ((X - m[k]) ** 2).sum(axis=1) for k in range(K))
    expected_sq += pi.sum(axis=0) @ s2.sum(axis=1)
    likelihood = -0.5 * N * D * _LOG_2PI - 0.5 * expected_sq
    return float(prior + assignments + likelihood)


def log_var(m, s2, pi, constants: bool = False) -> float:
    """E_q[log q(mu, c)] = sum_kd E[log N(mu_kd; m_kd, s2_kd)] + sum_ik pi_ik log pi_ik.

    ``constants=False`` drops -KD/2 (1 + log 2 pi), the only term with neither model nor
    variational parameters, and returns ``-1/2 sum log s2 + sum pi log pi`` (0 log 0 = 0).
    """
    m = _check_m(m, None)
    K, D = m.shape
    s2 = _check_s2(s2, K, D)
    pi = _check_pi(pi, None, K)
    constants = check_bool("constants", constants)
    return _log_var(s2, pi, constants)


def _log_var(s2, pi, constants):
    value = -0.5 * np.log(s2).sum() + xlogy(pi, pi).sum()
    if constants:
        value -= 0.5 * s2.size * (1.0 + _LOG_2PI)
    return float(value)


def elbo(X, m, s2, pi, sigma2, constants: bool = False) -> float:
    """ELBO = E_q[log p(X, mu, c)] - E_q[log q(mu, c)], both with the same ``constants`` flag.

    With ``constants=True`` this is a lower bound on log p(X); with ``constants=False`` it
    differs from that by a constant that depends only on X, N, K, D and sigma2.
    """
    return log_joint(X, m, s2, pi, sigma2, constants) - log_var(m, s2, pi, constants)


# --------------------------------------------------------------------------- CAVI updates
def update_pi(X, m, s2) -> np.ndarray:
    """Optimal q(c_i) given q(mu): pi_ik = softmax_k(-1/2 sum_d ((x_id - m_kd)^2 + s2_kd)).

    This equals the expanded form exp(sum_d x_id m_kd - (m_kd^2 + s2_kd)/2), normalised,
    because the two logits differ by -1/2 ||x_i||^2, a constant in k. The normalisation is the
    log-sum-exp trick (shift each row by its largest logit), so nothing overflows or
    underflows. Returns an (N, K) array.
    """
    X = _check_X(X)
    D = X.shape[1]
    m = _check_m(m, D)
    K = m.shape[0]
    s2 = _check_s2(s2, K, D)
    return _update_pi(X, m, s2)


def _update_pi(X, m, s2):
    K = m.shape[0]
    logits = np.empty((X.shape[0], K))
    for k in range(K):                    # a loop over components, never over data points
        logits[:, k] = -0.5 * (((X - m[k]) ** 2).sum(axis=1) + s2[k].sum())
    # Log-sum-exp in place: pi_ik = exp(l_ik - max_k l_ik) / sum_k exp(l_ik - max_k l_ik).
    # (Dividing by the sum, rather than subtracting the log-normaliser, keeps every row summing
    # to one to rounding even when the logits are huge.)
    logits -= logits.max(axis=1, keepdims=True)
    pi = np.exp(logits, out=logits)
    pi /= pi.sum(axis=1, keepdims=True)
    return pi


def _check_update_args(X, pi, sigma2):
    X = _check_X(X)
    pi = _check_pi(pi, X.shape[0], None)
    return X, pi, check_positive_scalar("sigma2", sigma2)


def _precision(pi, sigma2):
    """Posterior precision of every mu_kd: 1/sigma2 + N_k, with N_k = sum_i pi_ik. (K,)"""
    return 1.0 / sigma2 + pi.sum(axis=0)


def update_m(X, pi, sigma2) -> np.ndarray:
    """Optimal mean of q(mu_kd): m_kd = sum_i pi_ik x_id / (1/sigma2 + N_k). Returns (K, D).

    (Completing the square: the natural parameters of q*(mu_kd) are eta = sum_i pi_ik x_id and
    precision Lambda = 1/sigma2 + N_k; m = eta / Lambda.)
    """
    X, pi, sigma2 = _check_update_args(X, pi, sigma2)
    return _update_m(X, pi, sigma2)


def _update_m(X, pi, sigma2):
    return (pi.T @ X) / _precision(pi, sigma2)[:, None]


def update_s2(X, pi, sigma2) -> np.ndarray:
    """Optimal variance of q(mu_kd): s2_kd = 1 / (1/sigma2 + N_k), the same for every d. (K, D)."""
    X, pi, sigma2 = _check_update_args(X, pi, sigma2)
    return _update_s2(X, pi, sigma2)


def _update_s2(X, pi, sigma2):
    return np.repeat((1.0 / _precision(pi, sigma2))[:, None], X.shape[1], axis=1)


# --------------------------------------------------------------------------- fitting
class GMMResult(FitResult):
    """Result of :func:`fit` (the restart with the highest final ELBO): the shared
    :class:`vi_impl.result.FitResult` under this module's name.

    params m, s2 : (K, D) parameters of q(mu) after the last iteration.
    params pi    : (N, K) responsibilities of the last iteration (computed from the q(mu) that
                   preceded the last m/s2 update, exactly as in the iteration).
    elbo  : (n_iter,) full ELBO (constants=True) after each iteration, at (m, s2, pi) of that
            iteration; non-decreasing up to rounding.
    n_iter, converged : iterations run; whether the stopping rule stopped the run.
    extra final_elbos : (n_init,) final ELBO of every restart, in the order they were run.
    extra route : "fused" (the blocked pass over the data) or "reference" (the per-step
            functions, used when the data's spread makes the fused ELBO's rounding too large).
    All of these read as attributes: ``result.m``, ``result.final_elbos``.
    """


# Columns per block of the fused pass: the (K, block) work arrays then stay in the CPU cache.
_BLOCK_BYTES = 1 << 17


def _block_columns(N: int, K: int) -> int:
    return max(1024, min(N, _BLOCK_BYTES // (8 * K) * 8))


def _augmented_data(X: np.ndarray, K: int):
    """The layout the fit loop works on: ``Z`` (D+2, N) or (D+1, N), and the data mean ``c``.

    Column i of Z is [x_i - c, -||x_i - c||^2 / 2, 1]. With A_k = [m_k - c, 1, b_k] and
    b_k = -(||m_k - c||^2 + sum_d s2_kd)/2 (:func:`_logit_weights`), the product A_k . Z_i
    equals -1/2 (||x_i - m_k||^2 + sum_d s2_kd): the responsibility logit up to a constant per
    data point. Centring on c keeps the rounding at the scale of the data's spread, not of its
    distance from the origin.
    The row of ones is stored only where the statistics product weights exp(L) (2K <= D+2,
    :func:`_responsibility_stats`) and D >= 2, so that Z never exceeds twice X: it then folds
    b into the logits' product and N_k into the statistics' product (two passes fewer over
    each block). Otherwise the pass adds it per block.
    """
    N, D = X.shape
    c = X.mean(axis=0)
    Z = np.empty((D + 2 if _stores_ones(K, D) else D + 1, N))
    np.subtract(X.T, c[:, None], out=Z[:D])
    np.einsum("dn,dn->n", Z[:D], Z[:D], out=Z[D])
    Z[D] *= -0.5
    if Z.shape[0] == D + 2:
        Z[D + 1] = 1.0
    return Z, c


def _weights_scaled(K: int, D: int) -> bool:
    """Whether the statistics product weights the K rows of exp(L) by 1/row sum (else the
    D+2 rows of Z): whichever is fewer, counting the N_k row sums weighting exp(L) needs."""
    return 2 * K <= D + 2


def _stores_ones(K: int, D: int) -> bool:
    return _weights_scaled(K, D) and D >= 2


def _logit_weights(mc: np.ndarray, s2: np.ndarray):
    """A (K, D+2) = [mc_k, 1, b_k] of :func:`_augmented_data` for centred means mc = m - c
    and variances s2."""
    K, D = mc.shape
    A = np.empty((K, D + 2))
    A[:, :D] = mc
    A[:, D] = 1.0
    A[:, D + 1] = -0.5 * ((mc**2).sum(axis=1) + s2.sum(axis=1))
    return A


def _responsibility_stats(Z, A, out=None):
    """One fused, blocked pass over the data: responsibilities -> sufficient statistics.

    With logits L_kj = A_k . Z_j (Z's row of ones implied if absent), the responsibilities are
    pi_jk = exp(L_kj - lse_j). Returns ``(T, lse_sum)``: T = pi^T Z^T, shape (K, D+2), whose
    columns are S_k - N_k c = sum_j pi_jk (x_j - c) (the first D), R_k = sum_j pi_jk Z_Dj,
    and N_k (the last); and lse_sum = sum_j lse_j. Because sum_k pi_jk = 1,
        sum_jk pi_jk log pi_jk = sum_jk pi_jk L_kj - sum_j lse_j = sum(A * T) - lse_sum,
    so the fit loop gets the entropy of q(c) without another pass. The responsibilities are
    stored only when ``out`` (N, K) is given.
    Each block costs two matrix products with N_block * K * (D+2) multiply-adds each (one for
    the logits, one for all statistics at once) and a few passes over the (K, block) work array
    while it is in cache; no array of size N*K*D and nothing of size N*K is allocated.
    Each column is shifted by its largest logit before exp (the log-sum-exp trick), so every
    row sum is at least 1: nothing underflows for a point far from every component.
    """
    N = Z.shape[1]
    K, J = A.shape
    D = J - 2
    ones_stored = Z.shape[0] == J
    W, b = (A, None) if ones_stored else (A[:, :-1], A[:, -1:])
    cols = _block_columns(N, K)
    scale_exp = _weights_scaled(K, D)
    T = np.zeros((K, J))
    lse_sum = 0.0
    e_buf, s_buf, shift_buf = np.empty((K, cols)), np.empty(cols), np.empty(cols)
    z_buf = None if scale_exp else np.empty((J, cols))
    for start in range(0, N, cols):
        z = Z[:, start:start + cols]
        n = z.shape[1]
        e, s, shift = e_buf[:, :n], s_buf[:n], shift_buf[:n]
        np.matmul(W, z, out=e)
        if b is not None:
            e += b
        np.max(e, axis=0, out=shift)
        e -= shift
        _exp_clamped(e)
        np.sum(e, axis=0, out=s)
        lse_sum += shift.sum() + np.log(s, out=shift).sum()
        np.divide(1.0, s, out=s)                # s = 1 / row sum from here on
        if scale_exp:
            e *= s                              # pi^T for this block
            if ones_stored:
                T += e @ z.T
            else:
                T[:, :-1] += e @ z.T
                T[:, -1] += e.sum(axis=1)
        else:
            zw = z_buf[:, :n]                   # zw = [Z; 1] / row sum for this block
            zw[-1] = s
            np.multiply(z[:J - 1], s, out=zw[:-1])
            T += e @ zw.T
            if out is not None:
                e *= s                          # pi^T for this block
        if out is not None:
            out[start:start + n] = e.T
    return T, lse_sum


@contextlib.contextmanager
def _stats_runner(N: int, K: int, n_threads: int):
    """Yields the pass ``stats(Z, A, out=None) -> (T, lse_sum)`` a fit uses: the single-thread
    :func:`_responsibility_stats`, or, when ``n_threads`` > 1 and there are at least two
    blocks, the same pass over contiguous ranges of whole blocks, one per thread, with BLAS
    held to one thread meanwhile (the products are too thin to gain from more) and the
    ranges' statistics added in range order (so a given thread count always gives the same
    numbers; different counts differ by rounding)."""
    cols = _block_columns(N, K)
    n_blocks = -(-N // cols)
    threads = min(n_threads, n_blocks)
    if threads <= 1:
        yield _responsibility_stats
        return
    from threadpoolctl import threadpool_limits

    edges = [cols * (n_blocks * t // threads) for t in range(threads)] + [N]
    ranges = list(zip(edges[:-1], edges[1:]))
    with ThreadPoolExecutor(threads) as pool, threadpool_limits(1, user_api="blas"):
        yield functools.partial(_threaded_stats, pool, ranges)


def _threaded_stats(pool, ranges, Z, A, out=None):
    def part(bounds):
        a, b = bounds
        return _responsibility_stats(Z[:, a:b], A, None if out is None else out[a:b])
    parts = list(pool.map(part, ranges))
    return sum(T for T, _ in parts), sum(lse for _, lse in parts)


def _default_threads() -> int:
    """The BLAS thread limit in force (threadpoolctl), else 1: ``fit`` runs its pass on that
    many threads, so a limit set for BLAS (``threadpool_limits``, OMP_NUM_THREADS) holds."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:                                  # pragma: no cover
        return 1
    counts = [i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"]
    return max(1, min(max(counts, default=1), os.cpu_count() or 1))


# exp(x) for x below about -708 is subnormal or zero, and numpy's exp (about 20x) and the matrix
# products take a slow path on such numbers. Logits below _EXP_FLOOR are raised to it:
# exp(-700) ~ 1e-304 against a row sum of at least 1 (after the max-shift) moves a
# responsibility by at most K * 1e-304 and the statistics by that times |Z|.
_EXP_FLOOR = -700.0


def _exp_clamped(e):
    """exp(max(e, _EXP_FLOOR)) in place."""
    np.maximum(e, _EXP_FLOOR, out=e)
    np.exp(e, out=e)


def _weighted_logit_sum(A, T) -> float:
    """sum_jk pi_jk L_kj (L = A Z) from the statistics T of :func:`_responsibility_stats`."""
    return float((A * T).sum())


_U64 = np.uint64


def _splitmix64(h: np.ndarray) -> np.ndarray:
    """The SplitMix64 finaliser, elementwise on uint64 (wrapping arithmetic)."""
    h = h + _U64(0x9E3779B97F4A7C15)
    h ^= h >> _U64(30)
    h *= _U64(0xBF58476D1CE4E5B9)
    h ^= h >> _U64(27)
    h *= _U64(0x94D049BB133111EB)
    h ^= h >> _U64(31)
    return h


def _row_hashes(X: np.ndarray) -> np.ndarray:
    """A 64-bit hash of the bytes of each row of X (exact integer arithmetic, so a row's hash
    does not depend on where the row sits in X)."""
    X = np.ascontiguousarray(X)
    weights = _splitmix64(np.arange(X.shape[1], dtype=np.uint64)) | _U64(1)
    with np.errstate(over="ignore"):
        return _splitmix64(X.view(np.uint64) @ weights)


def _row_uniforms(hashes: np.ndarray, key: np.uint64) -> np.ndarray:
    """One uniform number in (0, 1) per row, from the row's hash and a seeded key."""
    return ((_splitmix64(hashes ^ key) >> _U64(11)).astype(np.float64) + 0.5) * 2.0**-53


def _seed_means(Z, D, hashes, K, rng):
    """k-means++ seeding on the centred data Z[:D] (Z[D] = -||x - c||^2 / 2); returns K data
    points (centred).

    The first centre is a uniformly random data point, each next one a data point drawn with
    probability proportional to its squared distance d2_i to the nearest centre chosen so far.
    Each draw is an "exponential race": with E_i = -log U_i ~ Exp(1) the point maximising
    d2_i / E_i wins with probability d2_i / sum_j d2_j. U_i comes from a hash of row i's
    values and a key drawn from ``rng``, so the chosen points depend on the data set and the
    seed, not on the order of the rows.
    """
    chosen = [int(np.argmin(_row_uniforms(hashes, rng.integers(2**63, dtype=np.uint64))))]
    nearest = np.full(Z.shape[1], np.inf)
    for _ in range(1, K):
        x = Z[:D, chosen[-1]]
        d2 = x @ Z[:D]                         # ||z - x||^2 = -2 Z_D - 2 z.x + ||x||^2
        d2 *= -2.0
        d2 -= 2.0 * Z[D]
        d2 += x @ x
        np.maximum(d2, 0.0, out=d2)
        np.minimum(nearest, d2, out=nearest)
        race = -np.log(_row_uniforms(hashes, rng.integers(2**63, dtype=np.uint64)))
        if nearest.max() > 0:
            np.divide(nearest, race, out=race)
            chosen.append(int(np.argmax(race)))
        else:                                  # every point coincides with a chosen centre
            chosen.append(int(np.argmin(race)))
    return Z[:D, np.array(chosen)].T.copy()


def _elbo_from_stats(T, lse_sum, A_prev, mc, s2, c, sigma2, N) -> float:
    """Full ELBO at (pi, m, s2) from the statistics T of the pass that produced pi.

    pi came from the logit weights A_prev; (mc + c, s2) are the means/variances updated
    from pi.
    E[log p(X | c, mu)] = -ND/2 log 2 pi + sum_jk pi_jk L_kj with L the logits of (mc, s2).
    """
    K, D = mc.shape
    m = mc + c
    prior = -0.5 * K * D * math.log(2.0 * math.pi * sigma2) - (m**2 + s2).sum() / (2.0 * sigma2)
    assignments = -N * math.log(K)
    likelihood = -0.5 * N * D * _LOG_2PI + _weighted_logit_sum(_logit_weights(mc, s2), T)
    entropy_mu = 0.5 * (np.log(s2).sum() + K * D * (1.0 + _LOG_2PI))
    neg_entropy_c = _weighted_logit_sum(A_prev, T) - lse_sum
    return float(prior + assignments + likelihood + entropy_mu - neg_entropy_c)


# The fused ELBO is a difference of sums of size ~ N * (spread of the data)^2; its rounding
# error is below _ROUNDING * eps * (sum_i ||x_i - c||^2 + N max_k (||m_k - c||^2, |b_k|)).
# When that bound exceeds _PRECISION * |ELBO| (widely spread data with tight components),
# fit() switches to the reference path, which evaluates every squared distance directly.
_ROUNDING = 16.0
_PRECISION = 1e-12


def _cavi(Z, c, mc0, sigma2, max_iter, tol, stats):
    """Fused CAVI from centred means mc0, with the pass ``stats`` (:func:`_stats_runner`):
    each iteration updates pi, then m and s2, then the ELBO. Returns None if the fused ELBO cannot be trusted to _PRECISION (see above) or is
    not finite."""
    K, D = mc0.shape
    N = Z.shape[1]
    eps = np.finfo(float).eps
    spread = -2.0 * Z[D].sum()                # sum_i ||x_i - c||^2
    mc = mc0
    s2 = np.full((K, D), sigma2)      # equal across k, so it does not affect the first pi
    trace = []
    converged = False
    for _ in range(max_iter):
        A_prev = _logit_weights(mc, s2)
        # Shifting every logit by the same constant changes neither pi nor the entropy
        # identity. Removing the smallest -sum_d s2_kd / 2 stops a large common variance
        # (e.g. the initial s2 = sigma2) from cancelling in the entropy.
        A_prev[:, -1] += 0.5 * s2.sum(axis=1).min()
        T, lse_sum = stats(Z, A_prev)
        precision = 1.0 / sigma2 + T[:, -1]                     # 1/sigma2 + N_k
        mc_next = (T[:, :D] - c / sigma2) / precision[:, None]  # m - c, with m = S / precision
        s2 = np.repeat((1.0 / precision)[:, None], D, axis=1)
        trace.append(_elbo_from_stats(T, lse_sum, A_prev, mc_next, s2, c, sigma2, N))
        far = max((mc**2).sum(axis=1).max(), (mc_next**2).sum(axis=1).max(), -A_prev[:, -1].min())
        if not (_ROUNDING * eps * (spread + N * far) <= _PRECISION * abs(trace[-1])):
            return None
        mc = mc_next
        if elbo_converged(trace, tol):
            converged = True
            break
    return dict(m=mc + c, s2=s2, trace=np.array(trace), converged=converged,
                weights=A_prev, route="fused")


def _cavi_reference(X, m0, sigma2, max_iter, tol):
    """The same iteration through the per-step functions (exact squared distances)."""
    m = m0
    s2 = np.full(m0.shape, sigma2)
    trace = []
    converged = False
    for _ in range(max_iter):
        pi = _update_pi(X, m, s2)
        m, s2 = _update_m(X, pi, sigma2), _update_s2(X, pi, sigma2)
        trace.append(_log_joint(X, m, s2, pi, sigma2, True) - _log_var(s2, pi, True))
        if elbo_converged(trace, tol):
            converged = True
            break
    return dict(m=m, s2=s2, trace=np.array(trace), converged=converged, pi=pi,
                route="reference")


def fit(X, K, sigma2, *, max_iter: int = 500, tol: float = DEFAULT_TOL, n_init: int = 1,
        seed=0, init=None, m_init=None, n_threads: int | None = None) -> GMMResult:
    """Fit q(mu, c) by CAVI; return the restart with the highest final (full) ELBO.

    Each iteration updates pi (given q(mu)), then s2 and m (given pi), then records the full
    ELBO (``constants=True``). The stopping rule is :func:`vi_impl.result.elbo_converged`
    (a small relative change that is not a flat stretch about to be left); with ``tol=0`` it
    runs exactly ``max_iter`` iterations.

    Initialisation: k-means++ seeding picks K data points as the initial m (the first one
    uniformly, each next one with probability proportional to the squared distance to the
    nearest point chosen so far), drawn from ``seed`` (an int, None or a numpy Generator;
    restarts draw in turn from the same generator). Each draw uses per-row random numbers
    made from a hash of the row's values and the seed, so the result does not depend on the
    order of the rows of X. ``init`` (K, D) means replace the seeding (every restart then
    starts there; ``m_init`` is the same argument's older name). The initial s2 is sigma2 everywhere; being equal across components, it does not
    change the first pi.

    The iteration runs through a fused, blocked pass (:func:`_responsibility_stats`) over a
    centred, transposed copy of X with one or two extra rows (memory at most twice X, plus the
    (N, K) pi returned); it computes the same quantities as
    :func:`update_pi`, :func:`update_m`, :func:`update_s2` and :func:`elbo`. For data so
    widely spread, relative to its clusters, that the fused ELBO's rounding could exceed 1e-12
    of its value, a restart runs instead through those per-step functions themselves (slower;
    exact squared distances); ``result.route`` says which route produced the result.

    ``n_threads``: threads for the fused pass (each takes a contiguous range of blocks; the
    result differs between thread counts only by rounding). None: the BLAS thread limit in
    force (threadpoolctl), so ``threadpool_limits(1)`` or OMP_NUM_THREADS=1 keeps it serial.
    """
    X = _check_X(X)
    N, D = X.shape
    K = check_int("K", K, maximum=MAX_COMPONENTS)
    sigma2 = check_positive_scalar("sigma2", sigma2)
    max_iter = check_int("max_iter", max_iter, minimum=1)
    tol = check_tol(tol)
    n_init = check_int("n_init", n_init, minimum=1)
    rng = check_rng("seed", seed)
    init_name = "m_init" if m_init is not None else "init"
    m_init = pick_init(init, "m_init", m_init)
    if m_init is not None:
        m_init = as_float_array(init_name, m_init, ndim=2)
        check_shape(init_name, m_init, (K, D), meaning="(K, D)")

    n_threads = _default_threads() if n_threads is None \
        else check_int("n_threads", n_threads, minimum=1)

    Z, c = _augmented_data(X, K)
    hashes = _row_hashes(X) if m_init is None else None
    best = None
    final_elbos = []
    with _stats_runner(N, K, n_threads) as stats:
        for _ in range(n_init):
            mc0 = (m_init - c) if m_init is not None else _seed_means(Z, D, hashes, K, rng)
            run = _cavi(Z, c, mc0, sigma2, max_iter, tol, stats)
            if run is None:
                run = _cavi_reference(X, mc0 + c, sigma2, max_iter, tol)
            final_elbos.append(run["trace"][-1])
            if best is None or run["trace"][-1] > best["trace"][-1]:
                best = run
        del hashes

        pi = best.get("pi")
        if pi is None:
            pi = np.empty((N, K))
            stats(Z, best["weights"], out=pi)
    return GMMResult(dict(m=best["m"], s2=best["s2"], pi=pi), best["trace"],
                     len(best["trace"]), best["converged"],
                     dict(final_elbos=np.array(final_elbos), route=best["route"]))
