"""Properties of vi_impl.models.bayesian_gmm: monotone ELBO, the fit loop's statistics route
against direct formulas, translation equivariance, switched-off components, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import digamma

from vi_impl.models import bayesian_gmm as bg


def _data(N, D, K, seed, spread=3.0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=spread, size=(K, D))
    return centres[rng.integers(K, size=N)] + rng.normal(size=(N, D))


@settings(max_examples=15)
@given(seed=st.integers(0, 10_000), K=st.integers(1, 4), D=st.integers(1, 3),
       shift=st.floats(-1e3, 1e3))
def test_elbo_never_decreases(seed, K, D, shift):
    X = _data(40, D, 3, seed) + shift
    res = bg.fit(X, K, tol=0, max_iter=60, seed=seed)
    steps = np.diff(res.elbo)
    assert (steps >= -1e-9 * np.abs(res.elbo[1:])).all()


def test_fit_trace_is_the_public_elbo_and_r_is_the_direct_softmax():
    X = _data(50, 3, 3, seed=1) + 100.0
    res = bg.fit(X, 3, tol=0, max_iter=7)
    post = res.posterior
    assert res.elbo[-1] == pytest.approx(bg.elbo(X, res.prior, post, res.r), rel=1e-12)
    # direct (N, K, D) route for log rho, written from the formulas
    D = 3
    e_log_pi = digamma(post.alpha) - digamma(post.alpha.sum())
    e_log_det = np.array([digamma((post.nu[k] + 1 - np.arange(1, D + 1)) / 2).sum()
                          + D * np.log(2) + np.linalg.slogdet(post.W[k])[1] for k in range(3)])
    diff = X[:, None, :] - post.m[None]
    quad = np.einsum("nkd,kde,nke->nk", diff, post.W, diff)
    log_rho = e_log_pi + 0.5 * e_log_det - D / (2 * post.beta) - 0.5 * post.nu * quad
    r = np.exp(log_rho - log_rho.max(1, keepdims=True))
    r /= r.sum(1, keepdims=True)
    np.testing.assert_allclose(bg.responsibilities(X, post), r, atol=1e-12)


def test_translation_equivariance():
    X = _data(60, 2, 2, seed=3)
    prior = bg.make_prior(2, 2, m0=[0.3, -0.2], W0=0.5 * np.eye(2))
    shifted = bg.make_prior(2, 2, m0=[1000.3, -5000.2], W0=0.5 * np.eye(2))
    a = bg.fit(X, 2, prior=prior, seed=0)
    b = bg.fit(X + [1000.0, -5000.0], 2, prior=shifted, seed=0)
    np.testing.assert_allclose(b.m - [1000.0, -5000.0], a.m, atol=1e-8)
    assert b.elbo[-1] == pytest.approx(a.elbo[-1], rel=1e-10)


def test_small_alpha0_switches_components_off():
    X = _data(300, 2, 2, seed=8, spread=6.0)
    res = bg.fit(X, 6, prior=bg.make_prior(6, 2, alpha0=1e-3, m0=X.mean(0),
                                           W0=np.linalg.inv(np.cov(X.T)) / 2), seed=1)
    weights = res.alpha / res.alpha.sum()
    assert (weights > 0.05).sum() == 2
    assert res.alpha.min() < 1e-2


@pytest.mark.parametrize("kwargs, name", [
    (dict(alpha0=-1.0), "alpha0"), (dict(beta0=0.0), "beta0"), (dict(nu0=0.5), "nu0"),
    (dict(W0=[[1.0, 2.0], [2.0, 1.0]]), "W0"), (dict(W0=[[1.0, 0.5], [0.0, 1.0]]), "W0"),
    (dict(m0=[0.0]), "m0"),
])
def test_bad_prior_is_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        bg.make_prior(2, 2, **kwargs)


@pytest.mark.parametrize("X, K, kwargs, name", [
    ([1.0, 2.0], 2, {}, "X"), ([[np.nan, 1.0]], 1, {}, "X"), ([[1.0, 2.0]], 0, {}, "K"),
    ([[1.0, 2.0]], 2.0, {}, "K"), ([[1.0, 2.0]], 1, dict(tol=2.0), "tol"),
    ([[1.0, 2.0]], 1, dict(init=[[0.5]]), "init"), ([[1.0, 2.0]], 1, dict(seed=-1), "seed"),
])
def test_bad_fit_input_is_named(X, K, kwargs, name):
    with pytest.raises(ValueError, match=name):
        bg.fit(X, K, **kwargs)


def test_wrong_prior_type_is_a_type_error():
    with pytest.raises(TypeError, match="prior"):
        bg.fit(np.zeros((3, 2)), 1, prior={"alpha0": 1})
