r"""Latent Dirichlet allocation by batch CAVI (Blei, Ng & Jordan 2003) and by stochastic VI
(Hoffman et al. 2013, through the generic loop :func:`vi_impl.svi.svi`).

Model, documents d = 1..M, word positions n, topics k = 1..K, vocabulary w = 1..V::

    beta_k ~ Dir(eta 1_V),  theta_d ~ Dir(alpha 1_K),  z_dn ~ Cat(theta_d),  w_dn ~ Cat(beta_{z_dn})

Family q(beta_k) = Dir(lambda_k), q(theta_d) = Dir(gamma_d), q(z_dn) = Cat(phi_dn); the counts
n_dw of a document-term matrix are enough (positions holding the same word share phi_dw).
With E[log theta_dk] = psi(gamma_dk) - psi(sum_j gamma_dj), E[log beta_kw] likewise::

    phi_dwk  propto exp(E[log theta_dk] + E[log beta_kw])
    gamma_dk = alpha + sum_w n_dw phi_dwk
    lambda_kw = eta + sum_d n_dw phi_dwk

The local step (phi, gamma of every document) iterates the first two lines for all documents
at once on the sparse counts (no Python loop over documents), as scikit-learn does with
exp(E log theta) and exp(E log beta); an entry whose normaliser sum_k of their products
underflows (every topic gives the word a tiny E log beta, e.g. lambda_kw = eta << 1) takes the
log-sum-exp route instead, so no count is dropped. The ELBO is the full one, with
phi at its optimum given (gamma, lambda), where sum_k phi (E log theta + E log beta - log phi)
= log sum_k exp(E[log theta_dk] + E[log beta_kw])::

    L = sum_dw n_dw log sum_k exp(E log theta_dk + E log beta_kw)
        + sum_d [log Gamma(K alpha) - K log Gamma(alpha) + sum_k (alpha - gamma_dk) E log theta_dk
                 + sum_k log Gamma(gamma_dk) - log Gamma(sum_k gamma_dk)]
        + sum_k [log Gamma(V eta) - V log Gamma(eta) + sum_w (eta - lambda_kw) E log beta_kw
                 + sum_w log Gamma(lambda_kw) - log Gamma(sum_w lambda_kw)]
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp
from scipy.special import digamma, gammaln

from vi_impl.result import FitResult
from vi_impl.svi import svi
from vi_impl.validation import (
    MAX_COMPONENTS,
    MAX_COUNT,
    as_float_array,
    check_bool,
    check_callable,
    check_int,
    check_nonnegative_scalar,
    check_positive_array,
    check_positive_scalar,
    check_returned_real,
    check_rng,
    check_tol,
)

__all__ = ["e_step", "elbo", "fit_batch", "fit_svi", "svi_parts", "init_lambda",
           "split_heldout", "heldout_log_predictive"]

_TINY = 1e-100
#: Below this the normaliser sum_k exp(E log theta_dk + E log beta_kw) of an entry is too close
#: to underflow (and to _TINY) to be trusted; such entries take the log-sum-exp route.
_LOW = 1e-80


def _check_counts(X, name="X") -> sp.csr_matrix:
    """A document-term count matrix (dense or scipy.sparse) as CSR float64, entries >= 0, at
    least one document and one word."""
    if sp.issparse(X):
        if X.dtype.kind not in "biuf":
            raise ValueError(f"{name} must hold real counts, got a sparse matrix of {X.dtype}")
        if X.ndim != 2 or min(X.shape) < 1:
            raise ValueError(f"{name} must have at least one document and one word, got shape "
                             f"{X.shape}")
        X = sp.csr_matrix(X, dtype=np.float64)
        data = as_float_array(name, X.data, ndim=1)
    else:
        X = sp.csr_matrix(as_float_array(name, X, ndim=2, min_shape=(1, 1)))
        data = X.data
    if data.size and data.min() < 0:
        raise ValueError(f"{name} must hold counts >= 0, got {float(data.min())!r}")
    X.sum_duplicates()
    return X


def _check_lambda(lam, V, name="lam", against="X"):
    lam = as_float_array(name, lam, ndim=2, min_shape=(1, 1))
    if lam.shape[1] != V:
        raise ValueError(f"{name} must have shape (K, {V}) (V = columns of {against}), got "
                         f"{lam.shape}")
    if lam.min() <= 0:
        raise ValueError(f"{name} must be > 0 (Dirichlet parameters)")
    return check_positive_array(name, lam)


def _check_gamma(gamma, M, K):
    gamma = as_float_array("gamma", gamma, ndim=2)
    if gamma.shape != (M, K):
        raise ValueError(f"gamma must have shape ({M}, {K}) (rows of X, rows of lam), got "
                         f"{gamma.shape}")
    if gamma.min() <= 0:
        raise ValueError("gamma must be > 0 (Dirichlet parameters)")
    return check_positive_array("gamma", gamma)


def _check_local(local_max_iter, local_tol):
    return check_int("local_max_iter", local_max_iter), check_tol(local_tol, "local_tol")


def _check_K(K):
    return check_int("K", K, maximum=MAX_COMPONENTS)


def _check_init(init, K, V):
    init = _check_lambda(init, V, name="init")
    if init.shape[0] != K:
        raise ValueError(f"init must have shape (K, V) = ({K}, {V}), got {init.shape}")
    return init


#: Largest count split_heldout draws a binomial of (int64 with room to spare).
_MAX_SPLIT = 2.0 ** 53


def _dirichlet_expectation(a):
    return digamma(a) - digamma(a.sum(axis=1, keepdims=True))


def init_lambda(K, V, seed=0) -> np.ndarray:
    """Random start lambda_kw ~ Gamma(100, 1/100) (Hoffman et al.; scikit-learn does the same)."""
    K = _check_K(K)
    V = check_int("V", V)
    if K * V > MAX_COUNT:
        raise ValueError(f"V = {V} with K = {K} topics makes K * V > {MAX_COUNT:.0e} entries")
    return check_rng("seed", seed).gamma(100.0, 0.01, (K, V))


def _exact_phi(elog_theta_rows, elog_beta_cols):
    """phi of some (document, word) entries from their logits, by log-sum-exp: (n, K)."""
    logits = elog_theta_rows + elog_beta_cols
    logits -= logits.max(axis=1, keepdims=True)
    phi = np.exp(logits)
    return phi / phi.sum(axis=1, keepdims=True)


def _weights(cnt, phinorm):
    """n_dw / phinorm_dw, and the entries whose normaliser underflowed (phinorm below _LOW:
    every exp(E log theta_dk + E log beta_kw) is tiny, e.g. a word every topic gives only its
    prior eta << 1); their weight is set to 0 and their phi is computed exactly instead."""
    w = cnt / phinorm
    if not phinorm.size or phinorm.min() >= _LOW:
        return w, None
    low = np.flatnonzero(phinorm < _LOW)
    w[low] = 0.0
    return w, low


def _local(X, elog_beta, alpha, gamma, max_iter, tol):
    """Vectorised local CAVI: returns gamma (M, K) and sstats (K, V) = sum_d n_dw phi_dwk."""
    exp_elog_beta = np.exp(elog_beta)
    M = X.shape[0]
    K = exp_elog_beta.shape[0]
    rows = np.repeat(np.arange(M), np.diff(X.indptr))
    cols, cnt = X.indices, X.data
    beta_cols = np.ascontiguousarray(exp_elog_beta[:, cols].T)          # (nnz, K)
    gamma = (alpha + np.asarray(X.sum(axis=1)) / K * np.ones((1, K)) if gamma is None
             else gamma.copy())
    lengths = np.diff(X.indptr)
    # The sweep runs over a compacted set of documents (their nonzeros gathered once); it is
    # re-compacted when fewer than 70% of its documents still move by tol or more.
    docs = np.arange(M)
    d_cols, d_cnt, d_beta, d_ptr, d_rows = cols, cnt, beta_cols, X.indptr, rows
    for _ in range(max_iter):
        g = gamma[docs]
        exp_elog_theta = np.exp(_dirichlet_expectation(g))
        phinorm = np.einsum("ik,ik->i", exp_elog_theta[d_rows], d_beta) + _TINY
        w, low = _weights(d_cnt, phinorm)
        S = sp.csr_matrix((w, d_cols, d_ptr), shape=(docs.size, X.shape[1]))
        new = alpha + exp_elog_theta * (S @ exp_elog_beta.T)
        if low is not None:
            phi = _exact_phi(_dirichlet_expectation(g)[d_rows[low]], elog_beta[:, d_cols[low]].T)
            np.add.at(new, d_rows[low], d_cnt[low, None] * phi)
        moving = np.abs(new - g).mean(axis=1) >= tol
        gamma[docs] = new
        n_moving = int(moving.sum())
        if n_moving == 0:
            break
        if n_moving < 0.7 * docs.size:
            sel = np.repeat(moving, lengths[docs])
            d_cols, d_cnt, d_beta = d_cols[sel], d_cnt[sel], d_beta[sel]
            docs = docs[moving]
            d_ptr = np.concatenate([[0], np.cumsum(lengths[docs])])
            d_rows = np.repeat(np.arange(docs.size), lengths[docs])
    exp_elog_theta = np.exp(_dirichlet_expectation(gamma))
    phinorm = np.einsum("ik,ik->i", exp_elog_theta[rows], beta_cols) + _TINY
    w, low = _weights(cnt, phinorm)
    S = sp.csr_matrix((w, cols, X.indptr), shape=X.shape)
    sstats = exp_elog_beta * np.asarray((S.T @ exp_elog_theta).T)
    if low is not None:
        phi = _exact_phi(_dirichlet_expectation(gamma)[rows[low]], elog_beta[:, cols[low]].T)
        np.add.at(sstats.T, cols[low], cnt[low, None] * phi)
    return gamma, sstats


def e_step(X, lam, alpha, *, gamma=None, max_iter: int = 100, tol: float = 1e-3):
    """Local CAVI with lambda fixed: (gamma (M, K), sstats (K, V)). Iterates phi and gamma for
    every document until the largest mean absolute change of a gamma row is below ``tol``
    (or ``max_iter`` sweeps); documents that have settled drop out of the sweeps, as in
    scikit-learn. ``gamma`` warm-starts (default alpha + n_d / K)."""
    X = _check_counts(X)
    lam = _check_lambda(lam, X.shape[1])
    alpha = check_positive_scalar("alpha", alpha)
    if gamma is not None:
        gamma = _check_gamma(gamma, X.shape[0], lam.shape[0])
    max_iter = check_int("max_iter", max_iter)
    tol = check_tol(tol)
    return _local(X, _dirichlet_expectation(lam), alpha, gamma, max_iter, tol)


def _elbo(X, gamma, lam, alpha, eta):
    M, K = gamma.shape
    V = lam.shape[1]
    elog_theta = _dirichlet_expectation(gamma)
    elog_beta = _dirichlet_expectation(lam)
    rows = np.repeat(np.arange(M), np.diff(X.indptr))
    a = elog_theta[rows] + elog_beta[:, X.indices].T                     # (nnz, K)
    amax = a.max(axis=1)
    words = X.data @ (amax + np.log(np.exp(a - amax[:, None]).sum(axis=1)))
    docs = (M * (gammaln(K * alpha) - K * gammaln(alpha)) + ((alpha - gamma) * elog_theta).sum()
            + gammaln(gamma).sum() - gammaln(gamma.sum(axis=1)).sum())
    topics = (K * (gammaln(V * eta) - V * gammaln(eta)) + ((eta - lam) * elog_beta).sum()
              + gammaln(lam).sum() - gammaln(lam.sum(axis=1)).sum())
    return float(words + docs + topics)


def elbo(X, gamma, lam, alpha, eta) -> float:
    """The full ELBO with phi at its optimum given gamma and lambda (module docstring)."""
    X = _check_counts(X)
    lam = _check_lambda(lam, X.shape[1])
    gamma = _check_gamma(gamma, X.shape[0], lam.shape[0])
    return _elbo(X, gamma, lam, check_positive_scalar("alpha", alpha),
                 check_positive_scalar("eta", eta))


def fit_batch(X, K, *, alpha, eta, n_passes: int = 50, init=None, seed=0,
              local_max_iter: int = 100, local_tol: float = 1e-3, warm_start: bool = False,
              monitor=None) -> FitResult:
    """Batch CAVI: each pass runs the local step on every document and then sets
    lambda = eta + sstats; the full ELBO after each pass is the trace.

    ``warm_start=False`` (default; Blei et al. 2003 and scikit-learn do the same) restarts every
    document's gamma at alpha + n_d / K in each pass, so the local optimum it reaches does not
    inherit the assignments made under the first, random lambda. ``warm_start=True`` starts
    from the previous pass's gamma: every step is then a coordinate-ascent step on one ELBO,
    so the trace provably never decreases, but on real corpora the run tends to keep its early
    assignments and stalls at a lower ELBO. ``monitor(lam)`` (optional) is evaluated after
    every pass and returned in ``extra['monitor']`` with the wall and CPU time spent outside it
    and outside the ELBO (``extra['wall']``, ``extra['cpu']``)."""
    X = _check_counts(X)
    K = _check_K(K)
    alpha = check_positive_scalar("alpha", alpha)
    eta = check_positive_scalar("eta", eta)
    n_passes = check_int("n_passes", n_passes)
    local_max_iter, local_tol = _check_local(local_max_iter, local_tol)
    warm_start = check_bool("warm_start", warm_start)
    monitor = check_callable("monitor", monitor, allow_none=True)
    lam = (init_lambda(K, X.shape[1], seed) if init is None
           else _check_init(init, K, X.shape[1]))
    gamma, trace, mon, walls, cpus = None, [], [], [], []
    spent = spent_cpu = 0.0
    t_start, c_start = time.perf_counter(), time.process_time()
    for _ in range(n_passes):
        gamma, sstats = _local(X, _dirichlet_expectation(lam), alpha,
                               gamma if warm_start else None, local_max_iter, local_tol)
        lam = eta + sstats
        t0, c0 = time.perf_counter(), time.process_time()
        trace.append(_elbo(X, gamma, lam, alpha, eta))
        if monitor is not None:
            walls.append(t0 - t_start - spent)
            cpus.append(c0 - c_start - spent_cpu)
            mon.append(check_returned_real("monitor", monitor(lam)))
        spent += time.perf_counter() - t0
        spent_cpu += time.process_time() - c0
    return FitResult(dict(lam=lam, gamma=gamma), np.array(trace), n_passes, False,
                     dict(monitor=np.array(mon), wall=np.array(walls), cpu=np.array(cpus)))


def svi_parts(X, K, alpha, eta, *, local_max_iter: int = 100, local_tol: float = 1e-3):
    """(prior, local_step, batch_stats) of LDA for :func:`vi_impl.svi.svi`: the global
    parameter is {'lam': lambda} (affine in the Dirichlet natural parameter lambda - 1);
    a minibatch is a set of document indices."""
    X = _check_counts(X)
    K = _check_K(K)
    alpha = check_positive_scalar("alpha", alpha)
    eta = check_positive_scalar("eta", eta)
    local_max_iter, local_tol = _check_local(local_max_iter, local_tol)

    def local_step(idx, lam):
        return _local(X[idx], _dirichlet_expectation(lam["lam"]), alpha, None,
                      local_max_iter, local_tol)

    def batch_stats(idx, local):
        return {"lam": local[1]}

    return {"lam": np.full((K, X.shape[1]), eta)}, local_step, batch_stats


def fit_svi(X, K, *, alpha, eta, batch_size, n_steps, tau0=1.0, kappa=0.7, init=None,
            seed=0, monitor=None, monitor_every=0, local_max_iter=100,
            local_tol=1e-3) -> FitResult:
    """Stochastic VI for LDA through the generic :func:`vi_impl.svi.svi` loop."""
    X = _check_counts(X)
    K = _check_K(K)
    rng = check_rng("seed", seed)
    prior, local_step, batch_stats = svi_parts(X, K, alpha, eta,
                                               local_max_iter=local_max_iter,
                                               local_tol=local_tol)
    monitor = check_callable("monitor", monitor, allow_none=True)
    lam0 = init_lambda(K, X.shape[1], rng) if init is None else _check_init(init, K, X.shape[1])
    mon = None if monitor is None else (lambda lam: monitor(lam["lam"]))
    res = svi(prior, local_step, batch_stats, X.shape[0], init={"lam": lam0},
              batch_size=batch_size, n_steps=n_steps, tau0=tau0, kappa=kappa, seed=rng,
              monitor=mon, monitor_every=monitor_every)
    return FitResult(dict(lam=res["lam"]), res.elbo, res.n_iter, False, res.extra)


def split_heldout(X, fraction=0.5, seed=0):
    """Split each document's word occurrences into an observed part and a test part (each
    count n_dw -> Binomial(n_dw, fraction) observed, the rest test)."""
    X = _check_counts(X)
    if X.data.size and (X.data.max() > _MAX_SPLIT or (X.data != np.round(X.data)).any()):
        bad = X.data[(X.data != np.round(X.data)) | (X.data > _MAX_SPLIT)][0]
        raise ValueError(f"X must hold whole counts (at most {_MAX_SPLIT:.0e}) to be split, "
                         f"got {bad!r}")
    fraction = check_nonnegative_scalar("fraction", fraction)
    if fraction > 1:
        raise ValueError(f"fraction must lie in [0, 1], got {fraction!r}")
    rng = check_rng("seed", seed)
    obs = X.copy()
    obs.data = rng.binomial(X.data.astype(np.int64), fraction).astype(float)
    test = X.copy()
    test.data = X.data - obs.data
    obs.eliminate_zeros()
    test.eliminate_zeros()
    return obs, test


def heldout_log_predictive(X_obs, X_test, lam, alpha, *, local_max_iter=100,
                           local_tol=1e-3) -> float:
    """Average log predictive probability per held-out word (Hoffman et al. 2013, sec. 4):
    gamma from the observed part with lambda fixed, then
    sum_dw n^test_dw log sum_k E[theta_dk] E[beta_kw] / sum_dw n^test_dw."""
    X_obs = _check_counts(X_obs, "X_obs")
    X_test = _check_counts(X_test, "X_test")
    lam = _check_lambda(lam, X_obs.shape[1], against="X_obs")
    alpha = check_positive_scalar("alpha", alpha)
    local_max_iter, local_tol = _check_local(local_max_iter, local_tol)
    if X_test.shape != X_obs.shape:
        raise ValueError(f"X_test must have the shape of X_obs {X_obs.shape}, got {X_test.shape}")
    if X_test.data.sum() <= 0:
        raise ValueError("X_test holds no words to predict")
    gamma, _ = _local(X_obs, _dirichlet_expectation(lam), alpha, None,
                      local_max_iter, local_tol)
    e_theta = gamma / gamma.sum(axis=1, keepdims=True)
    e_beta = lam / lam.sum(axis=1, keepdims=True)
    rows = np.repeat(np.arange(X_test.shape[0]), np.diff(X_test.indptr))
    p = np.einsum("ik,ik->i", e_theta[rows], e_beta[:, X_test.indices].T)
    return float(X_test.data @ np.log(p) / X_test.data.sum())
