"""vi_impl.models.gmm checked by routes that use neither the engine nor vi_impl's formulas.

* Monte Carlo: sample (mu, c) from q, evaluate log p(X, mu, c) - log q(mu, c) with
  scipy.stats densities; the mean agrees with ``elbo(..., constants=True)`` within 4 standard
  errors.
* Exact evidence by enumeration (N <= 7): log p(X) = log sum over all K^N assignments of
  p(c) prod_k prod_d N(x_{S_k, d}; 0, I + sigma2 11^T), with mu integrated out per component
  and dimension (scipy.stats.multivariate_normal). The full ELBO stays below it, the gap
  shrinks under CAVI, and with K = 1 (where mean field is exact) the gap closes.
* Finite differences: at the output of each update the ELBO's gradient with respect to that
  block vanishes (pi: along the simplex, through a softmax parametrisation).
* CAVI never decreases the ELBO; fit() runs exactly the same iteration as the step functions.
"""

from __future__ import annotations

import functools
import itertools
import math
import os

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp, softmax

from vi_impl.models import gmm

from tests.vi_impl.models._gmm_sweeps import elbo_after_each_update

MC_SAMPLES = 40_000
Z_MAX = 4.0


def _problem(rng, N, K, D, spread=3.0):
    centres = rng.normal(scale=spread, size=(K, D))
    X = centres[rng.integers(K, size=N)] + rng.normal(size=(N, D))
    m = rng.normal(scale=spread, size=(K, D))
    s2 = rng.uniform(0.05, 2.0, size=(K, D))
    pi = rng.dirichlet(np.full(K, 0.7), size=N)
    return X, m, s2, pi


# ----------------------------------------------------------------------------- Monte Carlo
def monte_carlo_elbo(X, m, s2, pi, sigma2, n_samples, rng):
    """Mean and standard error of log p(X, mu, c) - log q(mu, c) over (mu, c) ~ q."""
    N, D = X.shape
    K = m.shape[0]
    mu = rng.normal(m, np.sqrt(s2), size=(n_samples, K, D))
    u = rng.random((n_samples, N, 1))
    c = np.minimum((u > np.cumsum(pi, axis=1)[None]).sum(axis=2), K - 1)   # (S, N) labels
    mu_of_point = np.take_along_axis(mu, c[:, :, None], axis=1)           # (S, N, D)

    log_prior_mu = stats.norm.logpdf(mu, loc=0.0, scale=math.sqrt(sigma2)).sum(axis=(1, 2))
    log_prior_c = N * math.log(1.0 / K)
    log_lik = stats.norm.logpdf(X[None], loc=mu_of_point, scale=1.0).sum(axis=(1, 2))
    log_q_mu = stats.norm.logpdf(mu, loc=m, scale=np.sqrt(s2)).sum(axis=(1, 2))
    log_q_c = np.log(pi[np.arange(N)[None, :], c]).sum(axis=1)
    w = log_prior_mu + log_prior_c + log_lik - log_q_mu - log_q_c
    return w.mean(), w.std(ddof=1) / math.sqrt(n_samples)


@pytest.mark.parametrize("N,K,D,sigma2,seed", [(12, 3, 2, 4.0, 0), (8, 1, 3, 0.5, 1),
                                               (15, 4, 1, 25.0, 2)])
def test_full_elbo_matches_monte_carlo(N, K, D, sigma2, seed):
    rng = np.random.default_rng(seed)
    X, m, s2, pi = _problem(rng, N, K, D)
    exact = gmm.elbo(X, m, s2, pi, sigma2, constants=True)
    mean, se = monte_carlo_elbo(X, m, s2, pi, sigma2, MC_SAMPLES, rng)
    z = (mean - exact) / se
    assert abs(z) < Z_MAX, f"ELBO {exact} vs Monte Carlo {mean} +- {se} (z = {z:.2f})"
    # The test has the power to see a dropped constant of order one (e.g. -N log K or
    # -KD/2 (1 + log 2 pi)): the standard error is much smaller than those terms.
    assert se < 0.25


def test_full_elbo_matches_monte_carlo_at_the_cavi_optimum():
    rng = np.random.default_rng(3)
    X, *_ = _problem(rng, 20, 3, 2)
    fit = gmm.fit(X, 3, 9.0, tol=1e-12, seed=3)
    mean, se = monte_carlo_elbo(X, fit.m, fit.s2, fit.pi, 9.0, MC_SAMPLES, rng)
    assert abs(mean - fit.elbo[-1]) < Z_MAX * se


# ----------------------------------------------------------------------------- enumeration
def exact_log_evidence(X, K, sigma2):
    """log p(X) by summing over all K^N assignments, mu_k integrated out in closed form.

    Given the assignment, coordinate d of the points of component k is jointly Gaussian:
    x_{S_k, d} ~ N(0, I + sigma2 11^T) (independent across k and d).
    """
    N, D = X.shape
    cache: dict[tuple[int, ...], float] = {}

    def log_marginal(members):
        if members not in cache:
            if not members:
                cache[members] = 0.0
            else:
                n = len(members)
                cov = np.eye(n) + sigma2 * np.ones((n, n))
                cache[members] = sum(
                    stats.multivariate_normal(mean=np.zeros(n), cov=cov).logpdf(X[list(members), d])
                    for d in range(D))
        return cache[members]

    terms = []
    for labels in itertools.product(range(K), repeat=N):
        groups = [tuple(i for i in range(N) if labels[i] == k) for k in range(K)]
        terms.append(N * math.log(1.0 / K) + sum(log_marginal(g) for g in groups))
    return logsumexp(terms)


def test_enumeration_matches_a_direct_sum_on_one_point():
    # One point: p(x) = sum_k (1/K) N(x; 0, (1 + sigma2) I) = N(x; 0, (1 + sigma2) I).
    x = np.array([[0.3, -1.2]])
    direct = stats.multivariate_normal(np.zeros(2), 3.5 * np.eye(2)).logpdf(x[0])
    assert exact_log_evidence(x, 3, 2.5) == pytest.approx(direct, rel=1e-12)


@pytest.mark.parametrize("N,K,D,sigma2,seed", [(6, 3, 2, 9.0, 0), (7, 2, 1, 4.0, 1),
                                               (5, 4, 2, 1.0, 2)])
def test_elbo_below_exact_evidence_and_gap_shrinks_under_cavi(N, K, D, sigma2, seed):
    rng = np.random.default_rng(seed)
    X, m, s2, pi = _problem(rng, N, K, D)
    log_evidence = exact_log_evidence(X, K, sigma2)
    gaps = [log_evidence - gmm.elbo(X, m, s2, pi, sigma2, constants=True)]
    for _ in range(30):
        pi = gmm.update_pi(X, m, s2)
        gaps.append(log_evidence - gmm.elbo(X, m, s2, pi, sigma2, constants=True))
        s2 = gmm.update_s2(X, pi, sigma2)
        m = gmm.update_m(X, pi, sigma2)
        gaps.append(log_evidence - gmm.elbo(X, m, s2, pi, sigma2, constants=True))
    gaps = np.array(gaps)
    assert (gaps > 0).all(), f"ELBO above the exact log evidence: gaps {gaps.min()}"
    assert (np.diff(gaps) <= 1e-12 * np.abs(gaps[:-1]) + 1e-12).all(), "the gap grew"
    assert gaps[-1] < 0.5 * gaps[0]


def test_gap_closes_when_mean_field_is_exact():
    # K = 1: the posterior over mu is Gaussian and factorises over d, so CAVI's q is exact and
    # the full ELBO equals log p(X). This pins down every constant of the full ELBO.
    rng = np.random.default_rng(5)
    X = rng.normal(loc=1.5, size=(6, 3))
    log_evidence = exact_log_evidence(X, 1, 2.0)
    fit = gmm.fit(X, 1, 2.0, max_iter=3, tol=0)
    assert fit.elbo[-1] == pytest.approx(log_evidence, abs=1e-10)
    assert gmm.elbo(X, fit.m, fit.s2, fit.pi, 2.0, constants=True) == pytest.approx(
        log_evidence, abs=1e-10)


# ----------------------------------------------------------------------------- finite differences
def _fd_gradient(f, x, h):
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[idx] = h if np.isscalar(h) else h[idx]
        g[idx] = (f(x + step) - f(x - step)) / (2 * step[idx])
    return g


@pytest.fixture
def fd_problem():
    rng = np.random.default_rng(11)
    X, m, s2, pi = _problem(rng, 9, 3, 2)
    return X, m, s2, pi, 3.0


def test_fd_gradient_in_m_vanishes_at_update_m(fd_problem):
    X, m, s2, pi, sigma2 = fd_problem
    f = lambda mm: gmm.elbo(X, mm, s2, pi, sigma2)          # noqa: E731
    g_opt = _fd_gradient(f, gmm.update_m(X, pi, sigma2), 1e-5)
    g_random = _fd_gradient(f, m, 1e-5)
    assert np.linalg.norm(g_random) > 1.0
    assert np.linalg.norm(g_opt) < 1e-6 * np.linalg.norm(g_random)


def test_fd_gradient_in_s2_vanishes_at_update_s2(fd_problem):
    X, m, s2, pi, sigma2 = fd_problem
    f = lambda ss: gmm.elbo(X, m, ss, pi, sigma2, constants=True)   # noqa: E731
    s2_opt = gmm.update_s2(X, pi, sigma2)
    g_opt = _fd_gradient(f, s2_opt, 1e-4 * s2_opt)
    g_random = _fd_gradient(f, s2, 1e-4 * s2)
    assert np.linalg.norm(g_random) > 1.0
    assert np.linalg.norm(g_opt) < 1e-6 * np.linalg.norm(g_random)


def test_fd_gradient_in_pi_vanishes_at_update_pi_along_the_simplex(fd_problem):
    X, m, s2, pi, sigma2 = fd_problem
    # pi = softmax(eta) row-wise keeps every row on the simplex.
    f = lambda eta: gmm.elbo(X, m, s2, softmax(eta, axis=1), sigma2)   # noqa: E731
    eta_opt = np.log(gmm.update_pi(X, m, s2))
    g_opt = _fd_gradient(f, eta_opt, 1e-5)
    g_random = _fd_gradient(f, np.log(pi), 1e-5)
    assert np.linalg.norm(g_random) > 1.0
    assert np.linalg.norm(g_opt) < 1e-6 * np.linalg.norm(g_random)


# ----------------------------------------------------------------------------- monotone CAVI
@pytest.mark.parametrize("seed", range(4))
def test_cavi_never_decreases_the_elbo(seed):
    rng = np.random.default_rng(seed)
    N, K, D = rng.integers(1, 40), rng.integers(1, 6), rng.integers(1, 4)
    X, m, s2, pi = _problem(rng, N, K, D)
    sigma2 = 10.0 ** rng.uniform(-2, 2)
    values = elbo_after_each_update(X, m, s2, pi, sigma2, sweeps=25)
    values = np.array(values)
    assert (np.diff(values) >= -1e-12 * np.abs(values[1:])).all()


# ----------------------------------------------------------------------------- fit vs steps
def _step_functions_iteration(X, m0, sigma2, n_iter):
    """fit's iteration written with the public step functions: (pi, m, s2, ELBO trace)."""
    m, s2 = m0, np.full_like(m0, sigma2)
    trace = []
    for _ in range(n_iter):
        pi = gmm.update_pi(X, m, s2)
        m, s2 = gmm.update_m(X, pi, sigma2), gmm.update_s2(X, pi, sigma2)
        trace.append(gmm.elbo(X, m, s2, pi, sigma2, constants=True))
    return pi, m, s2, trace


def test_fit_runs_exactly_the_step_functions_iteration():
    rng = np.random.default_rng(21)
    X, m0, _, _ = _problem(rng, 300, 4, 3)
    sigma2 = 5.0
    result = gmm.fit(X, 4, sigma2, max_iter=7, tol=0, m_init=m0)
    pi, m, s2, trace = _step_functions_iteration(X, m0, sigma2, 7)
    assert result.n_iter == 7 and not result.converged
    np.testing.assert_allclose(result.pi, pi, rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.m, m, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(result.s2, s2, rtol=1e-12)
    np.testing.assert_allclose(result.elbo, trace, rtol=1e-12)


@pytest.mark.parametrize("N,K,D,spread", [(600, 20, 50, 4.0), (400, 3, 50, 6.0),
                                           (500, 30, 10, 12.0)])
def test_fit_runs_the_step_functions_iteration_when_most_logits_underflow(N, K, D, spread):
    # Clusters so far apart that most exp(logit) fall below the smallest normal double (the
    # fit loop raises those logits to a floor to keep exp and the products off their slow
    # path); both ways of weighting the second product (exp(L) or Z by 1/row sum) are used.
    rng = np.random.default_rng(N + K + D)
    X, m0, _, _ = _problem(rng, N, K, D, spread=spread)
    m0 = X[rng.choice(N, size=K, replace=False)]
    sigma2 = 50.0
    d2 = ((X[:, None, :] - m0[None]) ** 2).sum(axis=2)
    assert (d2 > 2 * 750).mean() > 0.3          # exp(-d2 / 2) really underflows, mostly
    result = gmm.fit(X, K, sigma2, max_iter=6, tol=0, init=m0)
    assert result.route == "fused"
    pi, m, s2, trace = _step_functions_iteration(X, m0, sigma2, 6)
    np.testing.assert_allclose(result.pi, pi, rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.m, m, rtol=1e-12, atol=1e-12 * np.abs(m).max())
    np.testing.assert_allclose(result.s2, s2, rtol=1e-12)
    np.testing.assert_allclose(result.elbo, trace, rtol=1e-12)


@pytest.mark.parametrize("K,D", [(1, 1), (3, 1), (4, 6), (6, 4), (2, 2)])
def test_every_layout_of_the_fused_pass_runs_the_step_functions_iteration(K, D, monkeypatch):
    # The fused pass stores Z's row of ones or adds it per block, and weights exp(L) or Z by
    # 1/row sum; these (K, D) cover the three combinations that occur (next test).
    rng = np.random.default_rng(10 * K + D)
    monkeypatch.setattr(gmm, "_BLOCK_BYTES", 1024)          # blocks of 1024 columns
    X, _, _, _ = _problem(rng, 3000, K, D, spread=5.0)      # three blocks, the last ragged
    m0 = X[rng.choice(len(X), size=K, replace=False)]
    result = gmm.fit(X, K, 20.0, max_iter=5, tol=0, init=m0)
    assert result.route == "fused" and gmm._block_columns(len(X), K) < len(X)
    pi, m, s2, trace = _step_functions_iteration(X, m0, 20.0, 5)
    np.testing.assert_allclose(result.pi, pi, rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.m, m, rtol=1e-12, atol=1e-12 * np.abs(m).max())
    np.testing.assert_allclose(result.elbo, trace, rtol=1e-12)


def test_the_layout_cases_cover_every_combination():
    seen = {(gmm._stores_ones(K, D), gmm._weights_scaled(K, D))
            for K, D in [(1, 1), (3, 1), (4, 6), (6, 4), (2, 2)]}
    assert seen == {(False, True), (False, False), (True, True)}   # stored => weights scaled


@pytest.mark.parametrize("n_threads", [2, 3, 64])
def test_threaded_pass_gives_the_serial_fit_to_rounding(n_threads, monkeypatch):
    # Each thread takes a contiguous range of whole blocks (here 1024 columns; 5000 rows:
    # five blocks, the last ragged); more threads than blocks use one per block.
    monkeypatch.setattr(gmm, "_BLOCK_BYTES", 1024)
    rng = np.random.default_rng(n_threads)
    X, _, _, _ = _problem(rng, 5000, 4, 3, spread=4.0)
    serial = gmm.fit(X, 4, 10.0, max_iter=8, tol=0, seed=3, n_threads=1)
    threaded = gmm.fit(X, 4, 10.0, max_iter=8, tol=0, seed=3, n_threads=n_threads)
    again = gmm.fit(X, 4, 10.0, max_iter=8, tol=0, seed=3, n_threads=n_threads)
    np.testing.assert_allclose(threaded.m, serial.m, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(threaded.pi, serial.pi, rtol=0, atol=1e-13)
    np.testing.assert_allclose(threaded.elbo, serial.elbo, rtol=1e-13)
    assert np.array_equal(threaded.elbo, again.elbo)       # same thread count, same numbers
    with gmm._stats_runner(5000, 4, n_threads) as run:     # the threaded pass really ran
        assert isinstance(run, functools.partial) and run.func is gmm._threaded_stats
        assert len(run.args[1]) == min(n_threads, 5)


def test_default_thread_count_follows_the_blas_limit():
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1, user_api="blas"):
        assert gmm._default_threads() == 1
    with threadpool_limits(2, user_api="blas"):
        assert gmm._default_threads() == min(2, os.cpu_count())


def test_fit_converges_restarts_keep_the_best_and_seed_reproduces():
    rng = np.random.default_rng(4)
    X, *_ = _problem(rng, 400, 5, 2, spread=4.0)
    a = gmm.fit(X, 5, 10.0, tol=1e-10, n_init=4, seed=7)
    b = gmm.fit(X, 5, 10.0, tol=1e-10, n_init=4, seed=7)
    assert a.converged and a.n_iter < 500
    assert a.elbo[-1] == b.elbo[-1] and np.array_equal(a.m, b.m)
    assert len(a.final_elbos) == 4 and a.elbo[-1] == a.final_elbos.max()
    assert abs(a.elbo[-1] - a.elbo[-2]) < 1e-10 * abs(a.elbo[-1])
    assert (np.diff(a.elbo) >= -1e-12 * np.abs(a.elbo[1:])).all()
    singles = [gmm.fit(X, 5, 10.0, tol=1e-10, seed=s).elbo[-1] for s in range(6)]
    assert len(set(np.round(singles, 6))) > 1, "different seeds should give different starts"


def test_fit_is_accurate_far_from_the_origin():
    rng = np.random.default_rng(8)
    X, m0, _, _ = _problem(rng, 200, 3, 2)
    near = gmm.fit(X, 3, 1e12, tol=0, max_iter=40, m_init=m0)
    far = gmm.fit(X + 1e6, 3, 1e12, tol=0, max_iter=40, m_init=m0 + 1e6)
    # sigma2 = 1e12 makes the prior negligible, so shifting the data shifts the means of the
    # occupied components (an empty one stays at the prior mean, 0) and keeps pi.
    occupied = near.pi.sum(axis=0) > 0.5
    assert occupied.sum() >= 2
    np.testing.assert_allclose(far.m[occupied] - 1e6, near.m[occupied], atol=1e-6)
    np.testing.assert_allclose(far.pi, near.pi, atol=1e-7)
    assert np.isfinite(far.elbo).all()
    assert far.elbo[-1] == pytest.approx(gmm.elbo(X + 1e6, far.m, far.s2, far.pi, 1e12, True),
                                         rel=1e-9)


# ----------------------------------------------------------------------------- hard data
def test_fit_on_widely_spread_tight_clusters_keeps_a_monotone_exact_trace():
    # Tight pairs 5e5 apart: the fused ELBO would be a difference of numbers ~ 1e12 (its
    # rounding ~ 1e-4 swamps the ELBO's changes); fit must still give a monotone trace that
    # equals the directly computed ELBO.
    rng = np.random.default_rng(9)
    X = np.repeat([[0.0], [5e5], [1e6]], 2, axis=0) + 1e-3 * rng.normal(size=(6, 1))
    for K in (2, 3):
        result = gmm.fit(X, K, 1e12, max_iter=30, tol=0, seed=1)
        assert (np.diff(result.elbo) >= -1e-10 * np.abs(result.elbo[1:])).all()
        direct = gmm.elbo(X, result.m, result.s2, result.pi, 1e12, constants=True)
        assert result.elbo[-1] == pytest.approx(direct, rel=1e-12)


def test_fit_on_points_far_from_every_start_has_no_overflow():
    # Two points ~770 apart with sigma2 = 1: logits of order 1e5 (found by hypothesis: the
    # fused exp overflowed into a NaN ELBO before the overflow check existed).
    X = np.array([[-132.10486329130188], [640.422650443282]])
    result = gmm.fit(X, 2, 1.0, max_iter=30, tol=0, seed=0)
    assert result.route == "fused"            # handled by the block-wise log-sum-exp fallback
    assert np.isfinite(result.elbo).all() and np.isfinite(result.m).all()
    assert (np.diff(result.elbo) >= -1e-10 * np.abs(result.elbo[1:])).all()
    np.testing.assert_allclose(result.pi.sum(axis=1), 1.0, atol=1e-12)
