"""Hypothesis properties shared by the implementations of vi_impl (the model-specific ones live
beside each model's tests): every fit loop's ELBO trace is finite and never decreases, a
converged run satisfies the stopping rule, the same seed gives the same fit, mixtures are
equivariant under shifting the data (with a prior too broad to pull); and the theory tools'
defining properties (KL >= 0 and 0 at equality, ESS in [1, S], relevant bins monotone in the
level, exact evidence = log-sum-exp over assignments >= any ELBO); the generic SVI loop's step
is the convex combination (1 - rho) lambda + rho lambda_hat (model-specific SVI properties:
tests/vi_impl/models/test_lda_properties.py).

Profiles as in tests/conftest.py; the default (ci) keeps this file to a few seconds.
"""
from __future__ import annotations

import os

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from vi_impl.models import gmm_1d, gmm_prior_mean, linear_gaussian, linear_regression_ard, normal_normal
from vi_impl.result import elbo_converged
from vi_impl.svi import step_sizes, svi
from vi_impl.theory import grid, importance_sampling, kl, mixture_exact

THOROUGH = os.environ.get("HYPOTHESIS_PROFILE", "ci") == "thorough"
examples = settings(max_examples=1000 if THOROUGH else 15)
seeds = st.integers(0, 2**32 - 1)


def _nondecreasing(trace, rel=1e-9):
    trace = np.asarray(trace)
    return bool((np.diff(trace) >= -rel * np.abs(trace[1:]) - 1e-12).all())


def _clusters(seed, n=24, d=None):
    r = np.random.default_rng(seed)
    centres = r.normal(scale=r.choice([1.0, 5.0, 50.0]), size=3)
    x = centres[r.integers(3, size=n)] + r.normal(size=n)
    return x if d is None else np.c_[x, r.normal(size=n)]


@examples
@given(seeds, st.sampled_from([0.0, 1e3, -3e5]), st.integers(1, 4))
def test_mixture_fits_are_monotone_and_shift_equivariant(seed, offset, K):
    x = _clusters(seed)
    for res in (gmm_1d.vbem(x + offset, K, 1e14, 1.0, seed=seed, max_iter=40),
                gmm_1d.em(x + offset, K, 1.0, seed=seed, max_iter=40),
                gmm_prior_mean.fit(np.c_[x, x[::-1]] + offset, K, offset, 1e14, 1.0, seed=seed,
                                   max_iter=40)):
        assert np.isfinite(res.elbo).all() and _nondecreasing(res.elbo)
        assert not res.converged or elbo_converged(list(res.elbo), 1e-8)
        np.testing.assert_allclose(res.phi.sum(1), 1.0, atol=1e-12)
    a = gmm_1d.vbem(x, K, 1e14, 1.0, seed=seed, max_iter=20, tol=0)
    b = gmm_1d.vbem(x + offset, K, 1e14, 1.0, max_iter=20, tol=0, init=a.mu_tilde + offset)
    c = gmm_1d.vbem(x, K, 1e14, 1.0, max_iter=20, tol=0, init=a.mu_tilde)
    used = c.weights > 1e-9          # a component with no data sits at the prior mean, 0
    np.testing.assert_allclose(b.mu_tilde[used] - offset, c.mu_tilde[used], atol=1e-6 * (1 + abs(offset)))
    np.testing.assert_allclose(b.phi, c.phi, atol=1e-6)


@examples
@given(seeds)
def test_same_seed_same_fit(seed):
    x = _clusters(seed)
    for fit in (lambda: gmm_1d.fit(x, 2, [0.5, 0.5], 10.0, 1.0, seed=seed, n_init=2),
                lambda: gmm_prior_mean.fit(x[:, None], 2, seed=seed, n_init=2),
                lambda: normal_normal.fit(x, seed=seed)):
        np.testing.assert_array_equal(fit().elbo, fit().elbo)


@examples
@given(seeds, st.integers(1, 5), st.integers(1, 6))
def test_gaussian_models_reach_their_closed_form(seed, D, n):
    r = np.random.default_rng(seed)
    theta, x = r.normal(size=(n, D)), r.normal(scale=3, size=n)
    res = linear_gaussian.cavi(x, theta, max_iter=20000)
    m_fp, v_fp = linear_gaussian.fixed_point(x, theta)
    assert res.converged and _nondecreasing(res.elbo)
    np.testing.assert_allclose(res.m, m_fp, atol=1e-6 * (1 + np.abs(m_fp).max()))
    nn = normal_normal.fit(x, float(r.normal()), float(r.uniform(0.1, 5)), float(r.uniform(0.1, 5)))
    assert nn.converged and _nondecreasing(nn.elbo)
    X = r.normal(size=(n + 3, D))
    ard = linear_regression_ard.fit(X, X @ r.normal(size=D) + r.normal(size=n + 3), 1.0)
    assert np.isfinite(ard.elbo).all() and _nondecreasing(ard.elbo)


@examples
@given(seeds, st.integers(1, 6))
def test_kl_is_nonnegative_and_zero_at_equality(seed, D):
    r = np.random.default_rng(seed)
    p, q = r.dirichlet(np.ones(D + 1)), r.dirichlet(np.ones(D + 1))
    assert kl.kl_discrete(p, q) >= -1e-15 and abs(kl.kl_discrete(p, p)) < 1e-15
    m1, m2, v1, v2 = r.normal(size=D), r.normal(size=D), r.uniform(0.1, 3, D), r.uniform(0.1, 3, D)
    assert kl.kl_diag_gaussians(m1, v1, m2, v2) >= 0 and abs(kl.kl_diag_gaussians(m1, v1, m1, v1)) < 1e-14


@examples
@given(seeds, st.integers(2, 200))
def test_effective_sample_size_is_between_one_and_s(seed, S):
    lw = np.random.default_rng(seed).normal(scale=5, size=S)
    ess = importance_sampling.effective_sample_size(lw)
    assert 1 - 1e-9 <= ess <= S + 1e-9
    assert abs(importance_sampling.effective_sample_size(np.zeros(S)) - S) < 1e-9 * S


@examples
@given(st.integers(2, 9), st.integers(1, 4), st.floats(0.05, 0.95), st.floats(0.05, 0.95))
def test_relevant_bins_grow_with_the_level(n_bins, dim, a, b):
    masses = grid.gaussian_bin_masses(n_bins)
    lo, hi = sorted((a, b))
    r_lo, r_hi = grid.relevant_bins(masses, dim, lo), grid.relevant_bins(masses, dim, hi)
    assert r_lo.n_relevant <= r_hi.n_relevant <= r_hi.n_total
    assert r_lo.captured >= lo - 1e-12 and r_hi.captured >= hi - 1e-12


@examples
@given(seeds, st.integers(1, 5), st.integers(1, 3))
def test_exact_evidence_bounds_every_elbo(seed, N, K):
    r = np.random.default_rng(seed)
    X = r.normal(scale=2, size=(N, 1))
    ev = mixture_exact.log_evidence(X, K, 4.0)
    m, s2 = r.normal(size=(K, 1)), r.uniform(0.2, 2, size=(K, 1))
    pi = r.dirichlet(np.ones(K), size=N)
    from vi_impl.models import gmm
    assert gmm.elbo(X, m, s2, pi, 4.0, constants=True) <= ev + 1e-10
    assert mixture_exact.kl_meanfield_to_posterior(X, m, s2, pi, 4.0) >= -1e-10


@examples
@given(seeds, st.integers(1, 30), st.floats(0.0, 50.0), st.floats(0.51, 1.0), st.integers(1, 12))
def test_full_batch_svi_contracts_towards_the_posterior_by_the_step_sizes(seed, N, tau0, kappa,
                                                                          n_steps):
    """x_n ~ N(mu, 1/p), mu ~ N(0, 1/p0) in natural parameters (h, J), no local variables: with
    the whole data as the batch, lambda_hat is the exact posterior lambda*, so after t steps
    lambda_t - lambda* = prod_s (1 - rho_s) (lambda_0 - lambda*); the loop never claims
    convergence, and it takes the step sizes of :func:`step_sizes`."""
    r = np.random.default_rng(seed)
    x, p, p0 = r.normal(size=N) * 10 ** r.uniform(-3, 3), 10 ** r.uniform(-2, 2), 10 ** r.uniform(-2, 2)
    prior = dict(h=np.array(0.0), J=np.array(p0))
    exact = dict(h=p * x.sum(), J=p0 + N * p)
    init = dict(h=np.array(r.normal() * 100), J=np.array(r.uniform(0.1, 100)))
    res = svi(prior, lambda idx, lam: None, lambda idx, local: dict(h=p * x[idx].sum(), J=p * len(idx)),
              N, init=init, batch_size=N, n_steps=n_steps, tau0=tau0, kappa=kappa, seed=seed)
    rho = step_sizes(n_steps, tau0, kappa)
    np.testing.assert_array_equal(res.rho, rho)
    shrink = np.prod(1.0 - rho)
    for key in ("h", "J"):
        want = exact[key] + shrink * (init[key] - exact[key])
        assert abs(res[key] - want) <= 1e-12 * (abs(exact[key]) + abs(init[key]))
    assert not res.converged and res.n_iter == n_steps
