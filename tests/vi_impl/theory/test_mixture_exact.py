"""Tests for vi_impl.theory.mixture_exact: exact evidence and KL by enumeration, checked by
independent routes (scipy's multivariate normal, Monte Carlo over the prior and over q)."""

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

from vi_impl.theory.mixture_exact import (enumerate_assignments, kl_meanfield_to_posterior,
                                          log_evidence, log_joint_marginal,
                                          posterior_assignments,
                                          posterior_means_given_assignments)


def _log_joint_full(X, mu, c, sigma2, K):
    """log p(X, mu, c) straight from the model's densities (mu: (S, K, D), c: (S, N))."""
    S = mu.shape[0]
    lp_mu = stats.norm.logpdf(mu, 0.0, np.sqrt(sigma2)).sum(axis=(1, 2))
    chosen = mu[np.arange(S)[:, None], c]                       # (S, N, D)
    lp_x = stats.norm.logpdf(X[None], chosen, 1.0).sum(axis=(1, 2))
    return lp_mu + lp_x - X.shape[0] * np.log(K)


def test_enumerate_assignments_is_complete():
    a = enumerate_assignments(3, 2)
    assert a.shape == (8, 3)
    assert len({tuple(r) for r in a}) == 8
    assert a.min() == 0 and a.max() == 1


def test_single_cluster_evidence_matches_multivariate_normal():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5, 3))
    s2 = 1.7
    cov = np.eye(5) + s2 * np.ones((5, 5))
    ref = sum(stats.multivariate_normal(np.zeros(5), cov).logpdf(X[:, d]) for d in range(3))
    assert log_evidence(X, 1, s2) == pytest.approx(ref, rel=1e-12)


def test_evidence_matches_monte_carlo_over_the_prior():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(4, 2)) * 2
    K, s2 = 3, 4.0
    mu = rng.normal(scale=np.sqrt(s2), size=(400_000, K, 2))
    ll = stats.norm.logpdf(X[None, :, None, :], mu[:, None, :, :], 1.0).sum(-1)   # (S, N, K)
    lik = (logsumexp(ll, axis=2) - np.log(K)).sum(axis=1)
    w = np.exp(lik - lik.max())
    est, se = w.mean(), w.std() / np.sqrt(w.size)
    exact = np.exp(log_evidence(X, K, s2) - lik.max())
    assert abs(est - exact) < 4 * se


def test_log_joint_marginal_matches_gaussian_marginal_per_assignment():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(4, 2))
    c = np.array([[0, 1, 0, 1]])
    s2 = 0.8
    ref = -4 * np.log(2)
    for k in (0, 1):
        idx = c[0] == k
        cov = np.eye(idx.sum()) + s2 * np.ones((idx.sum(), idx.sum()))
        ref += sum(stats.multivariate_normal(np.zeros(idx.sum()), cov).logpdf(X[idx, d])
                   for d in range(2))
    assert log_joint_marginal(X, c, 2, s2)[0] == pytest.approx(ref, rel=1e-12)


def test_posterior_over_assignments_normalised_and_label_symmetric():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(4, 2))
    a, lp = posterior_assignments(X, 2, 1.0)
    assert logsumexp(lp) == pytest.approx(0.0, abs=1e-12)
    swapped = 1 - a                                  # relabel clusters: same posterior mass
    idx = {tuple(r): i for i, r in enumerate(a)}
    perm = np.array([idx[tuple(r)] for r in swapped])
    np.testing.assert_allclose(lp, lp[perm], rtol=1e-12)


def test_kl_zero_for_exact_posterior_with_one_cluster():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(3, 2))
    a = enumerate_assignments(3, 1)
    mean, var = posterior_means_given_assignments(X, a, 1, 2.0)
    kl = kl_meanfield_to_posterior(X, mean[0], np.repeat(var[0][:, None], 2, axis=1),
                                   np.ones((3, 1)), 2.0)
    assert kl == pytest.approx(0.0, abs=1e-12)


def test_kl_matches_monte_carlo_over_q():
    rng = np.random.default_rng(5)
    N, K, D, s2 = 4, 2, 2, 3.0
    X = np.concatenate([rng.normal(-2, 1, (2, D)), rng.normal(2, 1, (2, D))])
    m = rng.normal(size=(K, D))
    s2q = rng.uniform(0.2, 1.0, size=(K, D))
    pi = rng.dirichlet(np.ones(K), size=N)
    exact = kl_meanfield_to_posterior(X, m, s2q, pi, s2)
    S = 200_000
    mu = m + np.sqrt(s2q) * rng.standard_normal((S, K, D))
    c = (rng.random((S, N, 1)) > np.cumsum(pi, axis=1)[None]).sum(axis=2)
    log_q = (stats.norm.logpdf(mu, m, np.sqrt(s2q)).sum(axis=(1, 2))
             + np.log(pi)[np.arange(N), c].sum(axis=1))
    log_post = _log_joint_full(X, mu, c, s2, K) - log_evidence(X, K, s2)
    d = log_q - log_post
    assert exact > 0
    assert abs(d.mean() - exact) < 4 * d.std() / np.sqrt(S)


@pytest.mark.parametrize("call, match", [
    (lambda: enumerate_assignments(30, 3), "too large"),
    (lambda: enumerate_assignments(0, 3), "N"),
    (lambda: log_evidence(np.zeros(3), 2, 1.0), "X"),
    (lambda: log_evidence(np.zeros((3, 1)), 2, -1.0), "sigma2"),
    (lambda: log_evidence(np.full((3, 1), np.nan), 2, 1.0), "X"),
    (lambda: log_joint_marginal(np.zeros((3, 1)), np.zeros((2, 3), int) + 5, 2, 1.0),
     "assignments"),
    (lambda: kl_meanfield_to_posterior(np.zeros((2, 1)), np.zeros((2, 1)), np.ones((2, 1)),
                                       np.full((2, 2), 0.6), 1.0), "pi"),
    (lambda: kl_meanfield_to_posterior(np.zeros((2, 1)), np.zeros((2, 1)), np.zeros((2, 1)),
                                       np.full((2, 2), 0.5), 1.0), "s2"),
    (lambda: kl_meanfield_to_posterior(np.zeros((2, 1)), np.zeros((2, 2)), np.ones((2, 2)),
                                       np.full((2, 2), 0.5), 1.0), "m"),
])
def test_rejects_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_posterior_of_means_matches_gaussian_conditioning():
    """p(mu_k | c, X) by conditioning the joint Gaussian of (mu_kd, x_{S_k, d}) with linear algebra."""
    rng = np.random.default_rng(6)
    X = rng.normal(size=(5, 2))
    c = np.array([[0, 1, 1, 0, 1]])
    s2 = 2.5
    mean, var = posterior_means_given_assignments(X, c, 3, s2)
    for k in range(3):
        idx = np.flatnonzero(c[0] == k)
        n = idx.size
        cov_x = np.eye(n) + s2 * np.ones((n, n))
        cov_mx = s2 * np.ones(n)
        gain = np.linalg.solve(cov_x, cov_mx) if n else np.zeros(0)
        for d in range(2):
            assert mean[0, k, d] == pytest.approx(gain @ X[idx, d] if n else 0.0, abs=1e-12)
        assert var[0, k] == pytest.approx(s2 - (cov_mx @ gain if n else 0.0), rel=1e-12)
