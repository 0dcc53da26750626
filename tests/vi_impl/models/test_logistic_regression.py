"""vi_impl.models.logistic_regression: the Jaakkola-Jordan bound (property), monotone bound,
stationarity, and the variational posterior against independent routes: 2-D quadrature of the
exact posterior and a random-walk Metropolis sampler on scikit-learn's breast-cancer data."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import gammaln, log_expit, logsumexp

from vi_impl.models import logistic_regression as lr


@given(z=st.floats(-50, 50), xi=st.floats(1e-8, 50))
def test_bound_below_log_sigmoid_and_tight_at_abs_z(z, xi):
    assert lr.jj_log_sigmoid_bound(z, xi) <= log_expit(z) + 1e-12
    assert lr.jj_log_sigmoid_bound(z, abs(z)) == pytest.approx(log_expit(z), abs=1e-12)


def test_bound_curvature_exceeds_the_log_sigmoid_curvature():
    xi = np.linspace(0.01, 20, 200)
    assert (2 * lr.jj_lambda(xi) >= np.exp(log_expit(xi) + log_expit(-xi))).all()


def _toy(N=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, 2))
    t = (rng.uniform(size=N) < 1 / (1 + np.exp(-(X @ [1.5, -1.0])))).astype(float)
    return X, t


def _grid_posterior(X, t, log_prior, centre, half_width, n=301):
    g0 = np.linspace(centre[0] - half_width[0], centre[0] + half_width[0], n)
    g1 = np.linspace(centre[1] - half_width[1], centre[1] + half_width[1], n)
    W = np.stack(np.meshgrid(g0, g1, indexing="ij"), -1).reshape(-1, 2)
    Z = W @ X.T
    log_post = log_prior(W) + (t * log_expit(Z) + (1 - t) * log_expit(-Z)).sum(1)
    cell = (g0[1] - g0[0]) * (g1[1] - g1[0])
    log_evidence = logsumexp(log_post) + np.log(cell)
    p = np.exp(log_post - logsumexp(log_post))
    mean = p @ W
    cov = (W - mean).T @ ((W - mean) * p[:, None])
    return log_evidence, mean, cov, W, p


@pytest.mark.parametrize("learned", [False, True])
def test_two_dimensional_quadrature(learned):
    X, t = _toy()
    if learned:
        a0, b0 = 2.0, 2.0
        res = lr.fit(X, t, a0=a0, b0=b0, tol=1e-12)

        def log_prior(W):     # alpha integrated out: a Student-t prior
            return (gammaln(a0 + 1) - gammaln(a0) - np.log(2 * np.pi * b0)
                    - (a0 + 1) * np.log1p((W ** 2).sum(1) / (2 * b0)))
    else:
        res = lr.fit(X, t, S0=4.0 * np.eye(2), tol=1e-12)

        def log_prior(W):
            return -np.log(2 * np.pi * 4.0) - (W ** 2).sum(1) / 8.0
    sd = np.sqrt(np.diag(res.S))
    log_ev, mean, cov, W, p = _grid_posterior(X, t, log_prior, res.m, 10 * sd)
    assert res.elbo[-1] < log_ev                                # a lower bound ...
    assert log_ev - res.elbo[-1] < 1.0                          # ... and a close one
    assert (np.abs(res.m - mean) < 0.3 * np.sqrt(np.diag(cov))).all()
    # q(w) is narrower than the posterior: the bound's curvature 2 lam(xi) exceeds
    # sigmoid'(xi) = sigmoid(xi) sigmoid(-xi) for xi > 0; here by less than a factor 2 in sd
    ratio = np.sqrt(np.diag(res.S) / np.diag(cov))
    assert ((0.5 < ratio) & (ratio < 1.0)).all()
    Xnew = np.random.default_rng(5).normal(size=(20, 2))
    exact = np.exp(log_expit(W @ Xnew.T)).T @ p
    assert np.abs(lr.predict_proba(Xnew, res.m, res.S) - exact).max() < 0.03


def _breast_cancer():
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    X = data.data[:, [1, 4, 8, 9]]                     # texture, smoothness, symmetry, fractal dim.
    X = (X - X.mean(0)) / X.std(0)
    return np.c_[np.ones(len(X)), X], data.target.astype(float)


def test_breast_cancer_against_random_walk_metropolis():
    X, t = _breast_cancer()
    a0, b0 = 1.0, 1.0
    res = lr.fit(X, t, a0=a0, b0=b0, tol=1e-12)
    M = X.shape[1]

    def log_target(w):        # alpha integrated out: multivariate Student-t prior
        z = X @ w
        return (-(a0 + M / 2) * np.log1p(w @ w / (2 * b0))
                + (t * log_expit(z) + (1 - t) * log_expit(-z)).sum())

    rng = np.random.default_rng(0)
    step = np.linalg.cholesky(res.S) * 2.38 / np.sqrt(M)
    w, lp = res.m.copy(), log_target(res.m)
    draws = []
    for i in range(12000):
        prop = w + step @ rng.normal(size=M)
        lp_prop = log_target(prop)
        if np.log(rng.uniform()) < lp_prop - lp:
            w, lp = prop, lp_prop
        if i >= 2000 and i % 2 == 0:
            draws.append(w)
    draws = np.array(draws)
    sd = draws.std(0)
    assert (np.abs(res.m - draws.mean(0)) < 0.3 * sd).all()
    ratio = np.sqrt(np.diag(res.S)) / sd                # narrower, as in the 2-D check
    assert ((0.5 < ratio) & (ratio < 1.0)).all()
    mc = (1 / (1 + np.exp(-(draws @ X[::10].T)))).mean(0)
    assert np.abs(lr.predict_proba(X[::10], res.m, res.S) - mc).max() < 0.03


@pytest.mark.parametrize("kwargs", [dict(a0=1e-2, b0=1e-4), dict(S0=np.eye(5))])
def test_bound_never_decreases_and_is_stationary(kwargs):
    X, t = _breast_cancer()
    res = lr.fit(X, t, tol=0, max_iter=200, **kwargs)
    assert (np.diff(res.elbo) >= -1e-10 * np.abs(res.elbo[1:])).all()
    extra = (dict(a=res.a, b=res.b, a0=kwargs["a0"], b0=kwargs["b0"]) if "a0" in kwargs
             else dict(m0=np.zeros(5), S0=kwargs["S0"]))

    def f(m, xi):
        return lr.elbo(X, t, m, res.S, xi, **extra)

    h = 1e-5
    for i in range(5):
        e = np.zeros(5)
        e[i] = h
        assert abs(f(res.m + e, res.xi) - f(res.m - e, res.xi)) / (2 * h) < 1e-5
    for n in range(0, len(t), 57):
        e = np.zeros(len(t))
        e[n] = h
        assert abs(f(res.m, res.xi + e) - f(res.m, res.xi - e)) / (2 * h) < 1e-5


def test_fit_is_the_public_updates_in_turn():
    X, t = _breast_cancer()
    res = lr.fit(X, t, a0=0.5, b0=0.5, tol=0, max_iter=3)
    xi, a, b = np.ones(len(t)), 0.5 + 2.5, 0.5
    for _ in range(3):
        m, S = lr.update_w(X, t, xi, e_alpha=a / b)
        b = 0.5 + 0.5 * (m @ m + np.trace(S))
        xi = lr.update_xi(X, m, S)
    np.testing.assert_allclose(res.m, m, rtol=1e-12)
    np.testing.assert_allclose(res.xi, xi, rtol=1e-12)
    assert res.b == pytest.approx(b, rel=1e-12)
    # the xi update is the exact maximiser of the bound in xi (Bishop 10.163)
    z2 = np.einsum("nd,de,ne->n", X, S + np.outer(m, m), X)
    np.testing.assert_allclose(xi ** 2, z2, rtol=1e-12)


@pytest.mark.parametrize("kwargs, name", [
    (dict(X=np.ones(3), t=np.ones(3)), "X"), (dict(X=np.ones((3, 2)), t=np.ones(2)), "t"),
    (dict(X=np.ones((3, 2)), t=np.array([0.0, 1.0, 2.0])), "t"),
    (dict(X=np.ones((3, 2)), t=np.ones(3), a0=0.0), "a0"),
    (dict(X=np.ones((3, 2)), t=np.ones(3), S0=-np.eye(2)), "S0"),
])
def test_bad_input_is_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        lr.fit(**kwargs)


@pytest.mark.parametrize("call, name", [
    (lambda: lr.jj_lambda(None), "xi"), (lambda: lr.jj_lambda([np.nan]), "xi"),
    (lambda: lr.jj_log_sigmoid_bound(np.ones(2), np.ones(3)), "z"),
    (lambda: lr.update_xi(np.ones((3, 2)), np.zeros(2), -np.eye(2)), "S"),
    (lambda: lr.update_xi(np.ones((3, 2)), np.zeros(3), np.eye(3)), "X"),
    (lambda: lr.elbo(np.ones((3, 2)), np.ones(3), np.zeros(2), np.zeros((2, 2)), np.ones(3),
                     a=1.0, b=1.0, a0=1.0, b0=1.0), "S"),
    (lambda: lr.predict_proba(np.ones((3, 2)), np.zeros(3), np.eye(3)), "m"),
])
def test_bad_input_of_the_pieces_is_named(call, name):
    with pytest.raises(ValueError, match=name):
        call()
