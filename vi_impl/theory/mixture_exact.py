"""Exact inference in the coursework's Bayesian Gaussian mixture by enumerating assignments.

Model (the coursework's, ``../shared/seeds/000``): for ``k = 1..K`` the means
``mu_k ~ N(0, sigma2 I_D)``; for ``i = 1..N`` the assignments ``c_i ~ Cat(1/K)`` and
``x_i | c_i, mu ~ N(mu_{c_i}, I_D)``.

Given a full assignment ``c`` the means are independent a posteriori and can be integrated
out in closed form: within cluster ``k`` (``n_k`` points, per-coordinate sum ``S_kd``, sum of
squares ``Q_k``), each coordinate's data vector is ``N(0, I + sigma2 1 1^T)``. Hence
``log p(X, c)`` is available for each of the ``K**N`` assignments, and

* ``log p(X) = logsumexp_c log p(X, c)`` (the evidence, exact),
* ``p(c | X) = p(X, c) / p(X)`` and ``p(mu_k | c, X) = N(S_k / (1/sigma2 + n_k), 1/(1/sigma2 + n_k) I)``,
* for a mean-field ``q(mu, c) = prod_k N(mu_k | m_k, diag s2_k) prod_i Cat(c_i | pi_i)`` the
  divergence ``KL(q || p(mu, c | X)) = KL(q(c) || p(c | X)) + E_{q(c)} sum_k KL(q(mu_k) || p(mu_k | c, X))``
  is an exact finite sum.

The cost is ``K**N`` terms: that is the point (see the book's chapter on approximate inference).
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from vi_impl.theory.kl import kl_diag_gaussians
from vi_impl.validation import as_float_array, as_positive_array, check_int, check_probability_vector

__all__ = [
    "enumerate_assignments",
    "log_joint_marginal",
    "log_evidence",
    "posterior_assignments",
    "posterior_means_given_assignments",
    "kl_meanfield_to_posterior",
]

MAX_ASSIGNMENTS = 5_000_000


def _check_X(X) -> np.ndarray:
    return as_float_array("X", X, ndim=2, min_size=1)


def _check_sigma2(sigma2) -> float:
    arr = as_positive_array("sigma2", sigma2)
    if arr.ndim != 0 and arr.size != 1:
        raise ValueError(f"sigma2 must be a scalar, got shape {arr.shape}")
    return float(arr.reshape(()))


def enumerate_assignments(N: int, K: int) -> np.ndarray:
    """All ``K**N`` assignments as an int array ``(K**N, N)`` with entries in ``0..K-1``
    (row ``r`` is ``r`` written in base ``K``, most significant digit first)."""
    N = check_int("N", N, minimum=1)
    K = check_int("K", K, minimum=1)
    if N * np.log(K) > np.log(MAX_ASSIGNMENTS) + 1e-9:   # decide before computing K**N
        raise ValueError(f"K**N assignments exceeds {MAX_ASSIGNMENTS}; N={N}, K={K} is too"
                         " large to enumerate")
    M = K ** N
    if M > MAX_ASSIGNMENTS:
        raise ValueError(f"K**N = {M} assignments exceeds {MAX_ASSIGNMENTS}; N={N}, K={K} is "
                         "too large to enumerate")
    r = np.arange(M)
    powers = K ** np.arange(N - 1, -1, -1)
    return (r[:, None] // powers[None, :]) % K


def _cluster_stats(X, assignments, K):
    onehot = (assignments[:, :, None] == np.arange(K)[None, None, :]).astype(np.float64)  # (M,N,K)
    counts = onehot.sum(axis=1)                                   # (M, K)
    sums = np.einsum("mnk,nd->mkd", onehot, X)                    # (M, K, D)
    sq = onehot.transpose(0, 2, 1) @ np.einsum("nd,nd->n", X, X)  # (M, K)
    return counts, sums, sq


def _check_assignments(assignments, N, K):
    if isinstance(assignments, (str, bytes)):
        raise ValueError("assignments must be an integer array, got a string")
    a = np.asarray(assignments)
    if a.ndim != 2 or a.shape[1] != N:
        raise ValueError(f"assignments must have shape (M, {N}) with {N} the rows of X, got"
                         f" {a.shape}")
    if not np.issubdtype(a.dtype, np.integer) or a.size == 0 or a.min() < 0 or a.max() >= K:
        raise ValueError(f"assignments must be integers in 0..{K - 1}")
    return a


def log_joint_marginal(X, assignments, K: int, sigma2: float) -> np.ndarray:
    """``log p(X, c)`` with the means integrated out, one value per row of ``assignments``.

    ``X``: (N, D). ``assignments``: (M, N) ints in ``0..K-1``. Includes every constant,
    including ``-N log K`` from the uniform prior on assignments.
    """
    X = _check_X(X)
    K = check_int("K", K, minimum=1)
    sigma2 = _check_sigma2(sigma2)
    N, D = X.shape
    a = _check_assignments(assignments, N, K)
    counts, sums, sq = _cluster_stats(X, a, K)
    denom = 1.0 + counts * sigma2                                  # (M, K)
    quad = sq - sigma2 * np.einsum("mkd,mkd->mk", sums, sums) / denom
    per_cluster = (-0.5 * counts * D * np.log(2 * np.pi) - 0.5 * D * np.log(denom)
                   - 0.5 * quad)
    return per_cluster.sum(axis=1) - N * np.log(K)


def log_evidence(X, K: int, sigma2: float) -> float:
    """Exact ``log p(X)``: log-sum-exp of :func:`log_joint_marginal` over all ``K**N`` assignments."""
    X = _check_X(X)
    a = enumerate_assignments(X.shape[0], K)
    return float(logsumexp(log_joint_marginal(X, a, K, sigma2)))


def posterior_assignments(X, K: int, sigma2: float):
    """Return ``(assignments (K**N, N), log p(c | X) (K**N,))``: the exact posterior over assignments."""
    X = _check_X(X)
    a = enumerate_assignments(X.shape[0], K)
    lj = log_joint_marginal(X, a, K, sigma2)
    return a, lj - logsumexp(lj)


def posterior_means_given_assignments(X, assignments, K: int, sigma2: float):
    """Conjugate posterior of the means given each assignment.

    Returns ``(mean (M, K, D), var (M, K))``: ``p(mu_k | c, X) = N(mean[m, k], var[m, k] I_D)``
    with precision ``1/sigma2 + n_k`` and mean ``S_k / (1/sigma2 + n_k)``.
    """
    X = _check_X(X)
    K = check_int("K", K, minimum=1)
    sigma2 = _check_sigma2(sigma2)
    a = _check_assignments(assignments, X.shape[0], K)
    counts, sums, _ = _cluster_stats(X, a, K)
    prec = 1.0 / sigma2 + counts
    return sums / prec[:, :, None], 1.0 / prec


def kl_meanfield_to_posterior(X, m, s2, pi, sigma2: float) -> float:
    """Exact ``KL(q || p(mu, c | X))`` for the mean-field family of the coursework.

    ``m`` (K, D) and ``s2`` (K, D): means and variances of ``q(mu_kd) = N(m_kd, s2_kd)``;
    ``pi`` (N, K): rows of ``q(c_i) = Cat(pi_i)``, summing to one. Uses the chain rule
    ``KL(q(c) q(mu) || p(c|X) p(mu|c,X)) = KL(q(c) || p(c|X)) + E_{q(c)}[KL(q(mu) || p(mu|c,X))]``
    over all ``K**N`` assignments.
    """
    X = _check_X(X)
    N, D = X.shape
    m = as_float_array("m", m, ndim=2, min_size=1)
    K = m.shape[0]
    if m.shape != (K, D):
        raise ValueError(f"m must have shape (K, {D}) with {D} the columns of X, got {m.shape}")
    s2 = as_positive_array("s2", s2, ndim=2)
    if s2.shape != m.shape:
        raise ValueError(f"s2 must have the shape of m {m.shape}, got {s2.shape}")
    pi = check_probability_vector("pi", pi, axis=1)
    if pi.shape != (N, K):
        raise ValueError(f"pi must have shape ({N}, {K}): one row per row of X, one column per"
                         f" row of m; got {pi.shape}")
    sigma2 = _check_sigma2(sigma2)
    a, log_post_c = posterior_assignments(X, K, sigma2)
    with np.errstate(divide="ignore"):
        log_q_c = np.log(pi)[np.arange(N)[None, :], a].sum(axis=1)     # (M,)
    q_c = np.exp(log_q_c)
    keep = q_c > 0
    kl_c = float(np.sum(q_c[keep] * (log_q_c[keep] - log_post_c[keep])))
    post_mean, post_var = posterior_means_given_assignments(X, a[keep], K, sigma2)
    kl_mu = kl_diag_gaussians(m[None], s2[None], post_mean,
                              np.broadcast_to(post_var[:, :, None], post_mean.shape))  # (M', K)
    return kl_c + float(np.sum(q_c[keep] * np.sum(kl_mu, axis=1)))
