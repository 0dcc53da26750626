"""vi_impl.theory.logistic_exact: the exact posterior of Bayesian logistic regression.

Its pieces against routes that share no code with it: scipy.stats densities, scipy.integrate
quadrature of the alpha integral, Gauss-Legendre quadrature of the evidence, and sampler against grid."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from vi_impl.theory import logistic_exact as le


def _toy(N=40, seed=0, w=(1.0, -1.5)):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, len(w)))
    t = (rng.uniform(size=N) < 1 / (1 + np.exp(-(X @ np.asarray(w))))).astype(float)
    return X, t


def test_log_likelihood_against_scipy_bernoulli():
    X, t = _toy(N=15, w=(0.5, 2.0, -1.0))
    W = np.random.default_rng(1).normal(size=(7, 3)) * 3
    p = 1 / (1 + np.exp(-(W @ X.T)))
    ref = stats.bernoulli.logpmf(t, p).sum(1)
    np.testing.assert_allclose(le.log_likelihood(W, X, t), ref, rtol=1e-12)
    assert le.log_likelihood(W[0], X, t) == pytest.approx(ref[0], rel=1e-12)


def test_log_prior_gaussian_against_scipy():
    W = np.random.default_rng(2).normal(size=(5, 2))
    m0, S0 = np.array([0.3, -1.0]), np.array([[2.0, 0.5], [0.5, 1.0]])
    np.testing.assert_allclose(le.log_prior(W, m0=m0, S0=S0),
                               stats.multivariate_normal(m0, S0).logpdf(W), rtol=1e-12)


@pytest.mark.parametrize("M", [1, 2, 3])
def test_student_prior_is_the_alpha_integral(M):
    a0, b0 = 1.7, 0.6
    W = np.random.default_rng(M).normal(size=(3, M)) * 2
    # the marginal of N(0, I / alpha) under alpha ~ Gamma(a0, b0): Student-t, 2 a0 degrees of
    # freedom, scale matrix (b0 / a0) I
    np.testing.assert_allclose(le.log_prior(W, a0=a0, b0=b0),
                               stats.multivariate_t(np.zeros(M), b0 / a0 * np.eye(M), df=2 * a0)
                               .logpdf(W), rtol=1e-11)
    for w in W[:1]:
        def integrand(alpha):
            return (np.exp(-0.5 * alpha * (w @ w)) * (alpha / (2 * np.pi)) ** (M / 2)
                    * stats.gamma.pdf(alpha, a0, scale=1 / b0))
        ref = integrate.quad(integrand, 0, np.inf, epsabs=0, epsrel=1e-11, limit=200)[0]
        assert le.log_prior(w, a0=a0, b0=b0) == pytest.approx(np.log(ref), rel=1e-9)


def _gauss_legendre_2d(f, lo=-12.0, hi=12.0, panels=6, order=60):
    """sum of f over a tensor Gauss-Legendre rule on [lo, hi]^2 (f: (G, 2) -> (G,))."""
    x, wt = np.polynomial.legendre.leggauss(order)
    edges = np.linspace(lo, hi, panels + 1)
    nodes = np.concatenate([(a + b) / 2 + (b - a) / 2 * x for a, b in zip(edges[:-1], edges[1:])])
    weights = np.tile(wt, panels) * (hi - lo) / panels / 2
    P = np.stack(np.meshgrid(nodes, nodes, indexing="ij"), -1).reshape(-1, 2)
    return np.outer(weights, weights).ravel() @ f(P)


@pytest.mark.parametrize("prior", [dict(S0=np.diag([4.0, 2.0]), m0=np.array([0.5, 0.0])),
                                   dict(a0=2.0, b0=3.0)])
def test_grid_evidence_and_moments_against_gauss_legendre(prior):
    X, t = _toy(N=8, seed=3)
    g = le.grid_posterior(X, t, [0.0, 0.0], [9.0, 9.0], n=401, **prior)
    dens = (stats.multivariate_normal(prior["m0"], prior["S0"]) if "S0" in prior else
            stats.multivariate_t(np.zeros(2), prior["b0"] / prior["a0"] * np.eye(2),
                                 df=2 * prior["a0"]))

    def joint(W):
        p = 1 / (1 + np.exp(-(W @ X.T)))
        return np.exp(stats.bernoulli.logpmf(t, p).sum(1) + dens.logpdf(W))

    Z = _gauss_legendre_2d(joint)
    mean = np.array([_gauss_legendre_2d(lambda W, k=k: W[:, k] * joint(W)) for k in (0, 1)]) / Z
    assert g.log_evidence == pytest.approx(np.log(Z), abs=1e-5)
    np.testing.assert_allclose(g.mean, mean, atol=1e-4)
    assert g.weights.sum() == pytest.approx(1.0, abs=1e-12)
    # predictive: sum of weight * sigmoid on the grid equals its quadrature
    x = np.array([0.7, -0.4])
    num = _gauss_legendre_2d(lambda W: joint(W) / (1 + np.exp(-(W @ x))))
    assert le.grid_predict_proba(g, x[None])[0] == pytest.approx(num / Z, abs=1e-5)


@pytest.mark.parametrize("prior", [dict(S0=4.0 * np.eye(2)), dict(a0=2.0, b0=2.0)])
def test_sampler_against_the_grid(prior):
    X, t = _toy(N=60)
    g = le.grid_posterior(X, t, [0.0, 0.0], [6.0, 6.0], n=301, **prior)
    d = le.sample(X, t, n_samples=20_000, burn_in=3_000, seed=4, **prior)
    assert 0.15 < d.acceptance < 0.6
    se = le.batch_means_se(d.w)
    assert (np.abs(d.w.mean(0) - g.mean) < 5 * se).all()
    np.testing.assert_allclose(d.w.std(0), np.sqrt(np.diag(g.cov)), rtol=0.08)
    if "a0" in prior:       # E[alpha | t] = E[(a0 + M/2) / (b0 + w^T w / 2) | t] on the grid
        exact = g.weights @ ((2.0 + 1.0) / (2.0 + 0.5 * (g.points ** 2).sum(1)))
        assert abs(d.alpha.mean() - exact) < 5 * le.batch_means_se(d.alpha)
    else:
        assert d.alpha is None


def test_sampler_is_reproducible_and_seeded():
    X, t = _toy(N=20)
    a = le.sample(X, t, S0=np.eye(2), n_samples=200, burn_in=50, seed=7)
    b = le.sample(X, t, S0=np.eye(2), n_samples=200, burn_in=50, seed=7)
    np.testing.assert_array_equal(a.w, b.w)
    assert a.w.shape == (200, 2)


def test_batch_means_se_of_independent_draws():
    x = np.random.default_rng(5).normal(size=(40_000, 2))
    np.testing.assert_allclose(le.batch_means_se(x, 40), 1 / np.sqrt(40_000), rtol=0.35)


@pytest.mark.parametrize("call, name", [
    (lambda X, t: le.sample(X, t), "a0"),
    (lambda X, t: le.sample(X, t, a0=1.0, b0=1.0, S0=np.eye(2)), "S0"),
    (lambda X, t: le.sample(X, t, S0=-np.eye(2)), "S0"),
    (lambda X, t: le.sample(X, t, m0=np.zeros(2), a0=1.0, b0=1.0), "m0"),
    (lambda X, t: le.sample(X, t[:-1], S0=np.eye(2)), "t"),
    (lambda X, t: le.sample(X, t + 0.5, S0=np.eye(2)), "t"),
    (lambda X, t: le.sample(X, t, S0=np.eye(2), n_samples=0), "n_samples"),
    (lambda X, t: le.sample(X, t, S0=np.eye(2), seed="x"), "seed"),
    (lambda X, t: le.grid_posterior(np.c_[X, X], t, [0, 0, 0, 0], [1, 1, 1, 1], S0=np.eye(4)), "X"),
    (lambda X, t: le.grid_posterior(X, t, [0, 0], [1, -1], S0=np.eye(2)), "half_width"),
    (lambda X, t: le.grid_posterior(X, t, [0], [1, 1], S0=np.eye(2)), "centre"),
    (lambda X, t: le.log_likelihood(np.zeros(3), X, t), "W"),
    (lambda X, t: le.batch_means_se(np.zeros(3), 5), "draws"),
])
def test_bad_input_is_named(call, name):
    X, t = _toy(N=10)
    with pytest.raises(ValueError, match=f"^{name}"):
        call(X, t)


def test_grid_predict_needs_a_grid():
    with pytest.raises(TypeError, match="^grid"):
        le.grid_predict_proba({"weights": 1}, np.zeros((1, 2)))
