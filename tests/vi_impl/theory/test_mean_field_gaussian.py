"""Tests for vi_impl.theory.mean_field_gaussian (mean field fitted to a Gaussian target).

Independent routes: the KL is checked by Monte Carlo with scipy.stats; the CAVI fixed point and
each coordinate step are checked against direct numerical optimisation of the KL (scipy.optimize),
which uses neither the update formula nor the fit loop; the 2-D variance ratio against a SymPy
derivation done inside the test.
"""
import numpy as np
import pytest
import sympy as sp
from scipy import optimize, stats

from vi_impl.theory import mean_field_gaussian as mfg


def random_spd(rng, D, cond=20.0):
    Q, _ = np.linalg.qr(rng.standard_normal((D, D)))
    eig = np.exp(rng.uniform(0, np.log(cond), D))
    return (Q * eig) @ Q.T


def kl_diag_vs_full_reference(m, v, mu, Sigma):
    """KL(N(m, diag v) || N(mu, Sigma)) written out once here, for the optimiser route."""
    D = len(m)
    P = np.linalg.inv(Sigma)
    d = mu - m
    return 0.5 * (np.sum(np.diag(P) * v) + d @ P @ d - D
                  + np.linalg.slogdet(Sigma)[1] - np.sum(np.log(v)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kl_gaussians_matches_monte_carlo(seed):
    rng = np.random.default_rng(seed)
    D = 3
    m_q, m_p = rng.standard_normal(D), rng.standard_normal(D)
    S_q, S_p = random_spd(rng, D, 5.0), random_spd(rng, D, 5.0)
    z = rng.multivariate_normal(m_q, S_q, size=200_000)
    terms = stats.multivariate_normal(m_q, S_q).logpdf(z) - stats.multivariate_normal(m_p, S_p).logpdf(z)
    se = terms.std(ddof=1) / np.sqrt(len(terms))
    assert abs(mfg.kl_gaussians(m_q, S_q, m_p, S_p) - terms.mean()) < 4 * se


def test_kl_is_zero_only_at_equality():
    rng = np.random.default_rng(3)
    S = random_spd(rng, 4)
    mu = rng.standard_normal(4)
    assert abs(mfg.kl_gaussians(mu, S, mu, S)) < 1e-12
    assert mfg.kl_gaussians(mu + 0.1, S, mu, S) > 1e-4


@pytest.mark.parametrize("seed", range(5))
def test_fixed_point_equals_direct_kl_minimiser(seed):
    rng = np.random.default_rng(seed)
    D = int(rng.integers(2, 5))
    Sigma = random_spd(rng, D)
    mu = rng.standard_normal(D) * 3
    res = mfg.fit_mean_field_gaussian(mu, Sigma, init=rng.standard_normal(D) * 5)
    assert res.converged

    def objective(theta):
        return kl_diag_vs_full_reference(theta[:D], np.exp(theta[D:]), mu, Sigma)

    opt = optimize.minimize(objective, np.zeros(2 * D), method="BFGS", options={"gtol": 1e-10})
    np.testing.assert_allclose(res.m, opt.x[:D], atol=1e-5)
    np.testing.assert_allclose(res.v, np.exp(opt.x[D:]), rtol=1e-5)
    # the ELBO reported is minus that KL
    assert abs(res.elbo[-1] + objective(np.concatenate([res.m, np.log(res.v)]))) < 1e-9


@pytest.mark.parametrize("seed", range(4))
def test_each_cavi_step_is_the_coordinate_maximiser(seed):
    rng = np.random.default_rng(10 + seed)
    D = 3
    Sigma = random_spd(rng, D)
    mu = rng.standard_normal(D)
    Lambda = np.linalg.inv(Sigma)
    v = mfg.mean_field_variances(Sigma)
    m = rng.standard_normal(D) * 4
    new = mfg.cavi_sweep(m, mu, Lambda)
    current = m.copy()
    for j in range(D):  # reproduce the sweep by 1-D numerical maximisation, in order
        def neg(mj, j=j):
            trial = current.copy()
            trial[j] = mj
            return kl_diag_vs_full_reference(trial, v, mu, Sigma)
        current[j] = optimize.minimize_scalar(neg, tol=1e-12).x
    np.testing.assert_allclose(new, current, atol=1e-6)


@pytest.mark.parametrize("seed", range(6))
def test_elbo_never_decreases_and_is_below_zero(seed):
    rng = np.random.default_rng(20 + seed)
    D = int(rng.integers(2, 7))
    Sigma = random_spd(rng, D, cond=200.0)
    mu = rng.standard_normal(D)
    res = mfg.fit_mean_field_gaussian(mu, Sigma, init=rng.standard_normal(D) * 10, tol=0, max_iter=40,
                                      order=rng.permutation(D))
    e = np.r_[res.elbo_start, res.elbo]
    assert len(e) == 41 and res.n_iter == 40
    assert np.all(np.diff(e) >= -1e-12 * np.abs(e[:-1]).max())
    assert np.all(e <= 1e-12)


def test_variance_ratio_two_d_matches_sympy_derivation():
    rho, s2 = sp.symbols("rho sigma2", positive=True)
    Sig = s2 * sp.Matrix([[1, rho], [rho, 1]])
    ratio_expr = sp.simplify((1 / Sig.inv()[0, 0]) / Sig[0, 0])
    f = sp.lambdify((rho, s2), ratio_expr)
    for r in [-0.95, -0.3, 0.0, 0.5, 0.9, 0.99]:
        S = 2.5 * np.array([[1.0, r], [r, 1.0]])
        np.testing.assert_allclose(mfg.variance_ratio(S), f(abs(r), 2.5) * np.ones(2), rtol=1e-12)
    # the ratio is < 1 whenever there is correlation, 1 without
    assert np.all(mfg.variance_ratio(np.eye(3)) == 1.0)


@pytest.mark.parametrize("seed", range(3))
def test_variance_ratio_general_is_one_minus_multiple_correlation(seed):
    rng = np.random.default_rng(40 + seed)
    Sigma = random_spd(rng, 4)
    for j in range(4):
        others = [k for k in range(4) if k != j]
        s_jo = Sigma[j, others]
        r2 = s_jo @ np.linalg.solve(Sigma[np.ix_(others, others)], s_jo) / Sigma[j, j]
        assert abs(mfg.variance_ratio(Sigma)[j] - (1 - r2)) < 1e-10


def test_mean_field_mean_is_exact_mean():
    Sigma = np.array([[2.0, 1.5], [1.5, 2.0]])
    mu = np.array([1.0, -3.0])
    res = mfg.fit_mean_field_gaussian(mu, Sigma, init=np.array([10.0, 10.0]))
    np.testing.assert_allclose(res.m, mu, atol=1e-8)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(mu=[0.0, 0.0], Sigma=[[1.0, 2.0], [0.0, 1.0]]), "Sigma"),      # not symmetric
        (dict(mu=[0.0, 0.0], Sigma=[[1.0, 2.0], [2.0, 1.0]]), "Sigma"),      # not PD
        (dict(mu=[0.0, np.nan], Sigma=np.eye(2)), "mu"),
        (dict(mu=[0.0, 0.0, 0.0], Sigma=np.eye(2)), "Sigma"),
        (dict(mu=[0.0, 0.0], Sigma=np.eye(2), init=[1.0]), "^init"),
        (dict(mu=[0.0, 0.0], Sigma=np.eye(2), max_iter=0), "max_iter"),
        (dict(mu=[0.0, 0.0], Sigma=np.eye(2), tol=-1.0), "tol"),
        (dict(mu=[0.0, 0.0], Sigma=np.eye(2), order=[0, 0]), "order"),
    ],
)
def test_bad_input_raises_value_error_naming_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        mfg.fit_mean_field_gaussian(**kwargs)


def test_elbo_rejects_non_positive_variances():
    with pytest.raises(ValueError, match="v"):
        mfg.elbo([0.0, 0.0], [1.0, 0.0], [0.0, 0.0], np.eye(2))


# --------------------------------------------------------------------------- property tests
from hypothesis import given, settings, strategies as hst
from hypothesis.extra.numpy import arrays


@settings(max_examples=60, deadline=None)
@given(
    D=hst.integers(1, 5),
    data=hst.data(),
)
def test_property_cavi_monotone_and_shrinks(D, data):
    """For any SPD target: ELBO never decreases, stays <= 0, and 0 < v_j <= Sigma_jj."""
    B = data.draw(arrays(float, (D, D), elements=hst.floats(-3, 3)))
    Sigma = B @ B.T + 0.05 * np.eye(D)
    mu = data.draw(arrays(float, (D,), elements=hst.floats(-1e3, 1e3)))
    m0 = data.draw(arrays(float, (D,), elements=hst.floats(-1e3, 1e3)))
    res = mfg.fit_mean_field_gaussian(mu, Sigma, init=m0, tol=0, max_iter=15)
    e = np.r_[res.elbo_start, res.elbo]
    assert np.all(np.isfinite(e))
    scale = max(1.0, np.abs(e).max())
    assert np.all(np.diff(e) >= -1e-9 * scale)
    assert np.all(e <= 1e-9 * scale)
    assert np.all(res.v > 0) and np.all(res.v <= np.diag(Sigma) * (1 + 1e-9))
