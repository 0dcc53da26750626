"""Independent-route tests for vi_impl.models.linear_gaussian (homework: mean field on a 2-D latent)."""
import numpy as np
import pytest
from scipy import stats

from vi_impl.models import linear_gaussian as lg


def test_exact_posterior_by_numerical_integration():
    """Posterior mean, covariance and evidence by 2-D quadrature of prior x likelihood (one x):
    the trapezoid rule on a wide uniform grid (spectrally accurate for Gaussian integrands)."""
    theta, x = np.array([1.3, -0.7]), 0.9
    t = np.linspace(-9, 9, 721)
    h = t[1] - t[0]
    Z1, Z2 = np.meshgrid(t, t, indexing="ij")
    f = stats.norm.pdf(Z1) * stats.norm.pdf(Z2) * stats.norm.pdf(x, theta[0] * Z1 + theta[1] * Z2, 1)
    Z = f.sum() * h * h
    mom = lambda g: (g * f).sum() * h * h / Z
    mean = np.array([mom(Z1), mom(Z2)])
    cov12 = mom(Z1 * Z2) - mean[0] * mean[1]
    var1 = mom(Z1 * Z1) - mean[0] ** 2
    mu, S = lg.exact_posterior(x, theta)
    np.testing.assert_allclose(mu, mean, atol=1e-10)
    np.testing.assert_allclose([S[0, 1], S[0, 0]], [cov12, var1], atol=1e-10)
    assert np.isclose(lg.log_evidence(x, theta), np.log(Z), rtol=1e-10)


@pytest.mark.parametrize("x, theta", [
    (0.9, np.array([1.3, -0.7])),
    (np.array([0.5, -1.0, 2.0]), np.array([0.4, 1.1])),
    (np.array([0.5, -1.0, 2.0, 0.3]), np.random.default_rng(0).normal(size=(4, 3))),
])
def test_log_evidence_against_scipy_marginal(x, theta):
    xa = np.atleast_1d(x)
    Th = np.broadcast_to(theta, (xa.size, theta.shape[-1]))
    ref = stats.multivariate_normal.logpdf(xa, np.zeros(xa.size), np.eye(xa.size) + Th @ Th.T)
    assert np.isclose(lg.log_evidence(x, theta), ref, rtol=1e-12)


def test_elbo_monte_carlo_and_identity_with_kl():
    rng = np.random.default_rng(1)
    x, theta = np.array([0.5, 1.5]), np.array([0.8, 1.7])
    for _ in range(3):
        m, v = rng.normal(size=2), rng.uniform(0.1, 2, 2)
        S = 100000
        z = m + np.sqrt(v) * rng.standard_normal((S, 2))
        vals = (stats.norm.logpdf(x[None], (z @ theta)[:, None], 1).sum(1)
                + stats.norm.logpdf(z).sum(1) - stats.norm.logpdf(z, m, np.sqrt(v)).sum(1))
        est, se = vals.mean(), vals.std(ddof=1) / np.sqrt(S)
        L = lg.elbo(m, v, x, theta)
        assert abs(L - est) < 4 * se
        # log p(x) = ELBO + KL, with the evidence from scipy (independent of the module)
        # both observations share theta: x ~ N(0, I + (theta^T theta) 1 1^T)
        ref = stats.multivariate_normal.logpdf(x, np.zeros(2), np.eye(2) + (theta @ theta) * np.ones((2, 2)))
        assert L < ref
        assert np.isclose(L + lg.kl_to_posterior(m, v, x, theta), ref, rtol=1e-12)


def test_homework_updates_and_gradient_vanishes():
    x, theta = 1.4, np.array([0.9, -1.6])
    m1, v1 = lg.update_z1(0.3, x, theta)
    assert np.isclose(v1, 1 / (1 + theta[0] ** 2)) and np.isclose(m1, theta[0] * (x - theta[1] * 0.3) / (1 + theta[0] ** 2))
    h = 1e-6
    for j, other in ((0, 0.3), (1, -0.8)):
        m = np.array([0.0, other]) if j == 0 else np.array([other, 0.0])
        mj, vj = lg.update_factor(j, m, x, theta)
        m[j] = mj
        v = np.array([0.7, 0.7]); v[j] = vj
        for arr in (m, v):
            e = np.zeros(2); e[j] = h
            base = arr.copy()
            arr[:] = base + e; up = lg.elbo(m, v, x, theta)
            arr[:] = base - e; dn = lg.elbo(m, v, x, theta)
            arr[:] = base
            assert abs((up - dn) / (2 * h)) < 1e-6
        # away from the update the gradient is not zero
        m_bad = m.copy(); m_bad[j] += 0.5
        e = np.zeros(2); e[j] = h
        assert abs((lg.elbo(m_bad + e, v, x, theta) - lg.elbo(m_bad - e, v, x, theta)) / (2 * h)) > 1e-2


def test_cavi_monotone_and_reaches_closed_form_fixed_point():
    for x, theta in [(1.4, np.array([0.9, -1.6])), (np.array([0.2, 1.0, -0.4]), np.random.default_rng(2).normal(size=(3, 4)))]:
        res = lg.cavi(x, theta, init=np.full(np.shape(theta)[-1], 5.0), max_iter=2000, tol=0)
        assert np.all(np.diff(res.elbo) >= -1e-12 * np.abs(res.elbo[1:]))
        m_fp, v_fp = lg.fixed_point(x, theta)
        np.testing.assert_allclose(res.m, m_fp, atol=1e-8)
        np.testing.assert_allclose(res.v, v_fp, rtol=1e-12)
        mu, S = lg.exact_posterior(x, theta)
        np.testing.assert_allclose(m_fp, mu, atol=1e-10)       # mean field gets the mean right
        assert np.all(v_fp <= np.diag(S) + 1e-15)              # and the variances too small
        kl = lg.kl_to_posterior(res.m, res.v, x, theta)
        n = None if np.ndim(theta) == 2 else np.size(x)
        assert np.isclose(kl, lg.kl_at_fixed_point(theta, n), rtol=1e-6)
        assert kl > 0
        assert np.isclose(lg.elbo(res.m, res.v, x, theta) + kl, lg.log_evidence(x, theta), rtol=1e-12)
    r = lg.cavi(1.0, np.array([1.0, 1.0]), max_iter=9, tol=0)
    assert r.n_iter == 9 and not r.converged


def test_fixed_point_is_exact_iff_theta1_theta2_is_zero():
    for theta in ([0.0, 2.0], [1.5, 0.0]):
        theta = np.array(theta)
        mu, S = lg.exact_posterior(0.7, theta)
        m, v = lg.fixed_point(0.7, theta)
        np.testing.assert_allclose(v, np.diag(S), rtol=1e-12)
        assert abs(lg.kl_at_fixed_point(theta)) < 1e-14
    for theta in ([0.3, 0.2], [-2.0, 1.0], [1e-2, 1e-2]):
        theta = np.array(theta)
        _, S = lg.exact_posterior(0.7, theta)
        _, v = lg.fixed_point(0.7, theta)
        assert np.all(v < np.diag(S))
        # the ratio of variances is 1 - rho^2 (rho: posterior correlation), measured
        rho = S[0, 1] / np.sqrt(S[0, 0] * S[1, 1])
        np.testing.assert_allclose(v / np.diag(S), 1 - rho ** 2, rtol=1e-12)
        kl = lg.kl_at_fixed_point(theta)
        t1, t2 = theta
        assert kl > 0 and np.isclose(kl, 0.5 * np.log((1 + t1 ** 2) * (1 + t2 ** 2) / (1 + t1 ** 2 + t2 ** 2)))


@pytest.mark.parametrize("call, name", [
    (lambda: lg.exact_posterior(np.nan, [1.0, 1.0]), "x"),
    (lambda: lg.exact_posterior(1.0, [1.0, np.inf]), "theta"),
    (lambda: lg.exact_posterior(np.ones((2, 2)), [1.0, 1.0]), "x"),
    (lambda: lg.exact_posterior(np.ones(3), np.ones((2, 2))), "theta"),
    (lambda: lg.elbo([0.0, 0.0], [1.0, 0.0], 1.0, [1.0, 1.0]), "v"),
    (lambda: lg.elbo([0.0], [1.0, 1.0], 1.0, [1.0, 1.0]), "m"),
    (lambda: lg.update_factor(2, [0.0, 0.0], 1.0, [1.0, 1.0]), "j"),
    (lambda: lg.cavi(1.0, [1.0, 1.0], max_iter=0), "max_iter"),
    (lambda: lg.cavi(1.0, [1.0, 1.0], tol=-1.0), "tol"),
    (lambda: lg.kl_at_fixed_point([1.0, 1.0], n=0), "n"),
])
def test_bad_input(call, name):
    with pytest.raises(ValueError, match=name):
        call()


# ----------------------------------------------------------------------------- properties
from hypothesis import given, settings, strategies as st


@settings(max_examples=30)
@given(n=st.integers(1, 5), D=st.integers(1, 4), seed=st.integers(0, 2 ** 16))
def test_property_fixed_point_mean_exact_variance_shrunk(n, D, seed):
    rng = np.random.default_rng(seed)
    theta, x = rng.normal(size=(n, D)) * rng.choice([0.1, 1.0, 5.0]), rng.normal(size=n)
    mu, S = lg.exact_posterior(x, theta)
    m, v = lg.fixed_point(x, theta)
    np.testing.assert_allclose(m, mu, atol=1e-9 * (1 + np.abs(mu).max()))
    assert np.all(v <= np.diag(S) * (1 + 1e-12))
    kl = lg.kl_to_posterior(m, v, x, theta)
    assert kl >= -1e-12 and np.isclose(kl, lg.kl_at_fixed_point(theta), rtol=1e-8, atol=1e-12)
    assert lg.elbo(m, v, x, theta) <= lg.log_evidence(x, theta) + 1e-10
