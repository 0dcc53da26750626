"""Independent-route tests for vi_impl.models.normal_normal (lecture notes, exercise 2.5)."""
import numpy as np
import pytest
from scipy import integrate, stats

from vi_impl.models import normal_normal as nn

CASES = [
    (np.array([0.3, -1.2, 2.0, 0.7]), 0.0, 1.0, 1.0),          # the exercise's model
    (np.array([5.1, 4.2, 6.3]), 1.0, 4.0, 0.5),
    (np.array([-0.4]), -2.0, 0.3, 2.5),
]


@pytest.mark.parametrize("x, mu0, tau2, sigma2", CASES)
def test_evidence_and_posterior_by_independent_routes(x, mu0, tau2, sigma2):
    K = x.size
    ref = stats.multivariate_normal.logpdf(x, np.full(K, mu0), sigma2 * np.eye(K) + tau2 * np.ones((K, K)))
    assert np.isclose(nn.log_evidence(x, mu0, tau2, sigma2), ref, rtol=1e-12)
    f = lambda z: stats.norm.pdf(z, mu0, np.sqrt(tau2)) * np.prod(stats.norm.pdf(x, z, np.sqrt(sigma2)))
    Z = integrate.quad(f, -30, 30, points=[x.mean()], limit=200, epsabs=0, epsrel=1e-12)[0]
    assert np.isclose(np.log(Z), ref, rtol=1e-9)
    mean = integrate.quad(lambda z: z * f(z), -30, 30, points=[x.mean()], limit=200, epsabs=0, epsrel=1e-12)[0] / Z
    var = integrate.quad(lambda z: (z - mean) ** 2 * f(z), -30, 30, points=[x.mean()], limit=200, epsabs=0, epsrel=1e-12)[0] / Z
    mp, vp = nn.exact_posterior(x, mu0, tau2, sigma2)
    assert np.isclose(mp, mean, rtol=1e-8, atol=1e-10) and np.isclose(vp, var, rtol=1e-8)
    # the log joint itself, pointwise, against scipy densities
    zs = np.array([-1.0, 0.2, 3.0])
    lj = stats.norm.logpdf(zs, mu0, np.sqrt(tau2)) + stats.norm.logpdf(x[None], zs[:, None], np.sqrt(sigma2)).sum(1)
    np.testing.assert_allclose(nn.log_joint(zs, x, mu0, tau2, sigma2), lj, rtol=1e-12)


@pytest.mark.parametrize("x, mu0, tau2, sigma2", CASES)
def test_elbo_monte_carlo_bound_and_tightness(x, mu0, tau2, sigma2):
    rng = np.random.default_rng(0)
    logZ = stats.multivariate_normal.logpdf(x, np.full(x.size, mu0), sigma2 * np.eye(x.size) + tau2)
    for _ in range(3):
        m, s2 = rng.normal(), rng.uniform(0.05, 2.0)
        S = 100000
        z = m + np.sqrt(s2) * rng.standard_normal(S)
        v = (stats.norm.logpdf(z, mu0, np.sqrt(tau2)) + stats.norm.logpdf(x[None], z[:, None], np.sqrt(sigma2)).sum(1)
             - stats.norm.logpdf(z, m, np.sqrt(s2)))
        L = nn.elbo(m, s2, x, mu0, tau2, sigma2)
        assert abs(L - v.mean()) < 4 * v.std(ddof=1) / np.sqrt(S)
        assert L < logZ
        assert np.isclose(L + nn.kl_to_posterior(m, s2, x, mu0, tau2, sigma2), logZ, rtol=1e-12)
    m_star, s2_star = nn.maximiser(x, mu0, tau2, sigma2)
    assert abs(nn.elbo(m_star, s2_star, x, mu0, tau2, sigma2) - logZ) < 1e-12 * abs(logZ) + 1e-12
    # the maximiser is the exact posterior (checked against quadrature in the test above)
    np.testing.assert_allclose((m_star, s2_star), nn.exact_posterior(x, mu0, tau2, sigma2), rtol=1e-13)


@pytest.mark.parametrize("x, mu0, tau2, sigma2", CASES)
def test_gradient_by_finite_differences_and_zero_at_maximiser(x, mu0, tau2, sigma2):
    h = 1e-6
    L = lambda m, s2: nn.elbo(m, s2, x, mu0, tau2, sigma2)
    for m, s2 in [(0.3, 0.8), (-1.0, 0.1), nn.maximiser(x, mu0, tau2, sigma2)]:
        fd = (-(L(m + h, s2) - L(m - h, s2)) / (2 * h), -(L(m, s2 + h) - L(m, s2 - h)) / (2 * h))
        np.testing.assert_allclose(nn.neg_elbo_grad(m, s2, x, mu0, tau2, sigma2), fd, atol=1e-6)
    m, s2 = nn.maximiser(x, mu0, tau2, sigma2)
    assert abs((L(m + h, s2) - L(m - h, s2)) / (2 * h)) < 1e-6
    assert abs((L(m, s2 + h) - L(m, s2 - h)) / (2 * h)) < 1e-6


def test_two_readings_of_the_elbo():
    x, mu0, tau2, sigma2 = CASES[1]
    m, s2 = 0.4, 0.9
    rng = np.random.default_rng(3)
    z = m + np.sqrt(s2) * rng.standard_normal(200000)
    ell = stats.norm.logpdf(x[None], z[:, None], np.sqrt(sigma2)).sum(1)
    assert abs(nn.expected_log_likelihood(m, s2, x, sigma2) - ell.mean()) < 4 * ell.std() / np.sqrt(z.size)
    kl = integrate.quad(lambda t: stats.norm.pdf(t, m, np.sqrt(s2)) * (stats.norm.logpdf(t, m, np.sqrt(s2))
                        - stats.norm.logpdf(t, mu0, np.sqrt(tau2))), -20, 20)[0]
    assert np.isclose(nn.kl_to_prior(m, s2, mu0, tau2), kl, rtol=1e-8)


def test_gradient_fit_reaches_posterior_monotonically():
    x = np.random.default_rng(1).normal(2.0, 1.0, size=50)
    r = nn.fit(x, max_iter=300, tol=0, seed=4)
    assert r.n_iter == 300 and not r.converged
    assert np.all(np.diff(r.elbo) >= -1e-12 * np.abs(r.elbo[1:]))
    np.testing.assert_allclose((r.m, r.s2), nn.exact_posterior(x), rtol=1e-8)
    assert np.isclose(r.elbo[-1], nn.log_evidence(x), rtol=1e-12)
    r2 = nn.fit(x, 1.0, 3.0, 0.5, max_iter=1000, tol=1e-14, seed=0)
    assert r2.converged and r2.n_iter < 1000
    # a badly scaled start (prior variance far above the posterior's): a plain gradient step
    # would overshoot in log s2; the backtracking keeps the ascent monotone
    xb = np.random.default_rng(2).normal(size=2000)
    r3 = nn.fit(xb, 0.0, 100.0, 1.0, max_iter=400, tol=0, seed=1)
    assert np.all(np.isfinite(r3.elbo)) and np.all(np.diff(r3.elbo) >= -1e-12 * np.abs(r3.elbo[1:]))
    np.testing.assert_allclose((r3.m, r3.s2), nn.exact_posterior(xb, 0.0, 100.0, 1.0), rtol=1e-6)
    # from a variance far below the posterior's, the full Newton step in log s2 overshoots
    r4 = nn.fit(xb, 0.0, 100.0, 1.0, max_iter=200, tol=0, init=(3.0, 1e-9))
    assert r4.elbo[0] >= nn.elbo(3.0, 1e-9, xb, 0.0, 100.0, 1.0)      # the first step too
    assert np.all(np.isfinite(r4.elbo)) and np.all(np.diff(r4.elbo) >= -1e-12 * np.abs(r4.elbo[1:]))
    np.testing.assert_allclose((r4.m, r4.s2), nn.exact_posterior(xb, 0.0, 100.0, 1.0), rtol=1e-6)


@pytest.mark.parametrize("call, name", [
    (lambda: nn.log_evidence(np.array([1.0, np.nan])), "x"),
    (lambda: nn.log_evidence(np.ones((2, 2))), "x"),
    (lambda: nn.log_evidence(np.array([])), "x"),
    (lambda: nn.log_evidence(np.ones(2), tau2=0.0), "tau2"),
    (lambda: nn.log_evidence(np.ones(2), sigma2=-1.0), "sigma2"),
    (lambda: nn.log_evidence(np.ones(2), mu0=np.inf), "mu0"),
    (lambda: nn.elbo(0.0, 0.0, np.ones(2)), "s2"),
    (lambda: nn.elbo(np.nan, 1.0, np.ones(2)), "m"),
    (lambda: nn.fit(np.ones(2), max_iter=0), "max_iter"),
    (lambda: nn.fit(np.ones(2), tol=np.nan), "tol"),
    (lambda: nn.log_joint(np.array([np.inf]), np.ones(2)), "z"),
])
def test_bad_input(call, name):
    with pytest.raises(ValueError, match=name):
        call()


# ----------------------------------------------------------------------------- properties
from hypothesis import given, settings, strategies as st


@settings(max_examples=30)
@given(K=st.integers(1, 50), mu0=st.floats(-5, 5), tau2=st.floats(1e-2, 1e2),
       sigma2=st.floats(1e-2, 1e2), seed=st.integers(0, 2 ** 16))
def test_property_elbo_at_maximiser_is_log_evidence(K, mu0, tau2, sigma2, seed):
    rng = np.random.default_rng(seed)
    x = mu0 + rng.normal(size=K) * np.sqrt(tau2 + sigma2)
    m, s2 = nn.maximiser(x, mu0, tau2, sigma2)
    logZ = nn.log_evidence(x, mu0, tau2, sigma2)
    assert abs(nn.elbo(m, s2, x, mu0, tau2, sigma2) - logZ) <= 1e-10 * max(1.0, abs(logZ))
    assert nn.elbo(m + 0.1, s2, x, mu0, tau2, sigma2) < logZ
    assert nn.elbo(m, 1.5 * s2, x, mu0, tau2, sigma2) < logZ
