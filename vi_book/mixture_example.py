"""The worked example of the Gaussian mixture, shared by the three pages that use it.

The mixture of :mod:`vi_derivations.models.gmm` (book notation: ``mu_k ~ N(0, tau^2 I_D)``,
``c_i ~ Cat(1/K)``, ``x_i | c_i, mu ~ N(mu_{c_i}, I_D)``) is derived on one page, fitted on the
next and implemented in the exercises of a third. They share one data set and one independent
route to the ELBO, kept here so that no page copies another's code:

* :data:`EXAMPLE` and :func:`example_data` -- the seeded data set of the pages
  (``N = 500`` points, ``K = 5`` components, ``D = 2``, ``tau^2 = 25``);
* :func:`sample_mixture` -- one run of the generative story;
* :func:`random_q` -- a random member ``(m, s2, phi)`` of the mean-field family;
* :func:`sample_log_densities` -- ``log p(X, mu, c)`` and ``log q(mu, c)`` at draws ``(mu, c) ~ q``,
  from ``scipy.stats`` densities (neither the engine nor ``vi_impl``): their difference averages
  to the ELBO;
* :func:`log_evidence_by_enumeration` -- the exact ``log p(X)`` of a data set small enough to sum
  over all ``K**N`` assignments.

Responsibilities are the ``(N, K)`` array ``pi`` (the argument name of ``vi_impl.models.gmm``)
and the prior variance tau^2 is ``sigma2``, as in that module.
"""
from __future__ import annotations

import itertools

import numpy as np

__all__ = ["EXAMPLE", "example_data", "sample_mixture", "random_q", "sample_log_densities",
           "log_evidence_by_enumeration"]

#: The data set of the mixture pages: sizes, prior variance tau^2 (``sigma2``) and seed.
EXAMPLE = {"N": 500, "K": 5, "D": 2, "sigma2": 25.0, "seed": 3}


def _check_size(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return int(value)


def _check_positive(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
            or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _check_rng(rng):
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, not {type(rng).__name__}")
    return rng


def sample_mixture(N, K, D, sigma2, rng):
    """One run of the generative story: ``mu_k ~ N(0, sigma2 I_D)``, ``c_i ~ Cat(1/K)``,
    ``x_i ~ N(mu_{c_i}, I_D)``. Returns ``X`` (N, D), the labels (N,) and the means (K, D)."""
    N, K, D = _check_size("N", N), _check_size("K", K), _check_size("D", D)
    sigma2, rng = _check_positive("sigma2", sigma2), _check_rng(rng)
    mu = rng.normal(0.0, np.sqrt(sigma2), size=(K, D))
    labels = rng.integers(K, size=N)
    X = mu[labels] + rng.normal(size=(N, D))
    return X, labels, mu


def example_data():
    """The data set of the mixture pages, ``sample_mixture`` with the sizes and seed of
    :data:`EXAMPLE`: ``(X, labels, mu)``."""
    e = EXAMPLE
    return sample_mixture(e["N"], e["K"], e["D"], e["sigma2"], np.random.default_rng(e["seed"]))


def random_q(N, K, D, rng):
    """A random point ``(m, s2, pi)`` of the mean-field family: means N(0, 25), variances
    uniform on (0.01, 3), each row of ``pi`` uniform on the simplex."""
    N, K, D, rng = _check_size("N", N), _check_size("K", K), _check_size("D", D), _check_rng(rng)
    m = rng.normal(0.0, 5.0, size=(K, D))
    s2 = rng.uniform(0.01, 3.0, size=(K, D))
    pi = rng.dirichlet(np.ones(K), size=N)
    return m, s2, pi


def _check_q(X, m, s2, pi):
    X = np.asarray(X, dtype=float)
    m, s2, pi = (np.asarray(a, dtype=float) for a in (m, s2, pi))
    if X.ndim != 2 or not np.all(np.isfinite(X)):
        raise ValueError("X must be a finite (N, D) array")
    N, D = X.shape
    if m.ndim != 2 or m.shape[1] != D or not np.all(np.isfinite(m)):
        raise ValueError(f"m must be a finite (K, {D}) array")
    if s2.shape != m.shape or not np.all(s2 > 0) or not np.all(np.isfinite(s2)):
        raise ValueError(f"s2 must be a (K, D) array of finite numbers > 0, like m {m.shape}")
    if pi.shape != (N, m.shape[0]) or not np.all(pi >= 0) or not np.allclose(pi.sum(axis=1), 1.0):
        raise ValueError(f"pi must be an ({N}, {m.shape[0]}) array of rows on the simplex")
    return X, m, s2, pi


def sample_log_densities(X, m, s2, pi, sigma2, S, rng, chunk=2000):
    """``S`` draws ``(mu, c) ~ q``: returns ``log p(X, mu, c)`` and ``log q(mu, c)``, each (S,),
    evaluated with ``scipy.stats`` densities (drawn ``chunk`` at a time to bound memory)."""
    import scipy.stats as st
    X, m, s2, pi = _check_q(X, m, s2, pi)
    sigma2, S = _check_positive("sigma2", sigma2), _check_size("S", S)
    rng, chunk = _check_rng(rng), _check_size("chunk", chunk)
    N, D = X.shape
    K = m.shape[0]
    cdf = np.cumsum(pi, axis=1)
    log_p, log_q = [], []
    for start in range(0, S, chunk):
        n = min(chunk, S - start)
        mu = m + np.sqrt(s2) * rng.standard_normal((n, K, D))                  # mu ~ q(mu)
        u = rng.random((n, N)) * cdf[:, -1]
        c = np.minimum((u[:, :, None] >= cdf[None]).sum(-1), K - 1)          # c_i ~ Cat(pi_i)
        mu_c = np.take_along_axis(mu, c[:, :, None], axis=1)                  # mu_{c_i}: (n, N, D)
        log_p.append(st.norm.logpdf(mu, 0.0, np.sqrt(sigma2)).sum(axis=(1, 2))    # log p(mu)
                     + N * np.log(1.0 / K)                                         # log p(c)
                     + st.norm.logpdf(X[None], mu_c, 1.0).sum(axis=(1, 2)))        # log p(X | mu, c)
        with np.errstate(divide="ignore"):
            log_q.append(st.norm.logpdf(mu, m, np.sqrt(s2)).sum(axis=(1, 2))
                         + np.log(pi[np.arange(N), c]).sum(axis=1))
    return np.concatenate(log_p), np.concatenate(log_q)


def log_evidence_by_enumeration(X, K, sigma2, max_terms=100_000):
    """``log p(X)`` exactly: the log of the sum over all ``K**N`` assignments of
    ``p(c) prod_k p(points of k | c)``. Given the assignments, the ``n`` points of cluster ``k``
    share one mean ``mu_k ~ N(0, sigma2 I)``, so each coordinate of them is jointly
    ``N(0, I_n + sigma2 1 1^T)``. Refuses more than ``max_terms`` assignments."""
    import scipy.stats as st
    from scipy.special import logsumexp
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or not np.all(np.isfinite(X)):
        raise ValueError("X must be a finite (N, D) array")
    K, sigma2 = _check_size("K", K), _check_positive("sigma2", sigma2)
    N = X.shape[0]
    if K ** N > max_terms:
        raise ValueError(f"X: {K}**{N} assignments exceed max_terms = {max_terms}")
    terms = []
    for labels in itertools.product(range(K), repeat=N):
        labels = np.asarray(labels)
        term = N * np.log(1.0 / K)
        for k in range(K):
            Xk = X[labels == k]
            n = len(Xk)
            if n:
                cov = np.eye(n) + sigma2 * np.ones((n, n))
                term += np.sum(st.multivariate_normal(np.zeros(n), cov).logpdf(Xk.T))
        terms.append(term)
    return float(logsumexp(terms))
