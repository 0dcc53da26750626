"""Tests for vi_impl.theory.kl: closed forms against quadrature and Monte Carlo, fits, landscapes."""

import numpy as np
import pytest
from scipy import integrate, stats

from vi_impl.theory.kl import (fit_gaussian, gaussian_logpdf, kl_diag_gaussians, kl_discrete,
                               kl_landscape, kl_on_grid, kl_quadrature, mixture_logpdf)


def test_kl_discrete_known_values_and_properties():
    p = np.array([0.5, 0.5])
    q = np.array([0.9, 0.1])
    direct = 0.5 * np.log(0.5 / 0.9) + 0.5 * np.log(0.5 / 0.1)
    assert kl_discrete(p, q) == pytest.approx(direct, rel=1e-14)
    assert kl_discrete(p, p) == 0.0
    assert kl_discrete([1.0, 0.0], [0.5, 0.5]) == pytest.approx(np.log(2))
    assert kl_discrete([0.5, 0.5], [1.0, 0.0]) == np.inf
    rng = np.random.default_rng(0)
    for _ in range(200):
        a, b = rng.dirichlet(np.ones(5)), rng.dirichlet(np.ones(5))
        assert kl_discrete(a, b) > 0


@pytest.mark.parametrize("seed", range(4))
def test_kl_diag_gaussians_against_quadrature_in_2d(seed):
    rng = np.random.default_rng(seed)
    mu1, mu2 = rng.normal(size=2), rng.normal(size=2)
    v1, v2 = rng.uniform(0.3, 2.0, size=2), rng.uniform(0.3, 2.0, size=2)
    p = stats.multivariate_normal(mu1, np.diag(v1))
    q = stats.multivariate_normal(mu2, np.diag(v2))

    def integrand(y, x):
        pt = np.array([x, y])
        return np.exp(p.logpdf(pt)) * (p.logpdf(pt) - q.logpdf(pt))

    val, _ = integrate.dblquad(integrand, -12, 12, -12, 12, epsabs=1e-11, epsrel=1e-11)
    assert kl_diag_gaussians(mu1, v1, mu2, v2) == pytest.approx(val, rel=1e-7, abs=1e-9)


def test_kl_diag_gaussians_against_monte_carlo_in_6d():
    rng = np.random.default_rng(7)
    d = 6
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    v1, v2 = rng.uniform(0.5, 2, d), rng.uniform(0.5, 2, d)
    x = mu1 + np.sqrt(v1) * rng.standard_normal((400_000, d))
    lr = (stats.norm.logpdf(x, mu1, np.sqrt(v1)) - stats.norm.logpdf(x, mu2, np.sqrt(v2))).sum(1)
    se = lr.std() / np.sqrt(lr.size)
    assert abs(kl_diag_gaussians(mu1, v1, mu2, v2) - lr.mean()) < 4 * se


def test_kl_diag_gaussians_zero_iff_equal_and_broadcast():
    assert kl_diag_gaussians([1.0, 2.0], [1.0, 3.0], [1.0, 2.0], [1.0, 3.0]) == 0.0
    assert kl_diag_gaussians([1.0], [1.0], [1.0], [1.1]) > 0
    out = kl_diag_gaussians(np.zeros((4, 3)), np.ones((4, 3)), np.ones(3), np.ones(3))
    assert out.shape == (4,)
    np.testing.assert_allclose(out, 1.5)     # 3 coordinates, each (0-1)^2/2


def test_kl_quadrature_matches_closed_form_and_is_asymmetric():
    lp = lambda x: stats.norm.logpdf(x, 0.0, 1.0)
    lq = lambda x: stats.norm.logpdf(x, 1.0, 2.0)
    assert kl_quadrature(lp, lq) == pytest.approx(kl_diag_gaussians(0.0, 1.0, 1.0, 4.0), rel=1e-9)
    assert kl_quadrature(lq, lp) == pytest.approx(kl_diag_gaussians(1.0, 4.0, 0.0, 1.0), rel=1e-9)
    assert abs(kl_quadrature(lp, lq) - kl_quadrature(lq, lp)) > 0.1


def test_kl_on_grid_matches_quadrature():
    x = np.linspace(-15, 15, 20001)
    lp = mixture_logpdf(x, [0.3, 0.7], [-2.0, 1.5], [0.5, 1.0])
    lq = gaussian_logpdf(x, 0.2, 1.7)
    ref = kl_quadrature(lambda t: mixture_logpdf(t, [0.3, 0.7], [-2.0, 1.5], [0.5, 1.0]),
                        lambda t: gaussian_logpdf(t, 0.2, 1.7))
    assert kl_on_grid(x, lp, lq) == pytest.approx(ref, rel=1e-7)


def test_mixture_logpdf_matches_scipy():
    x = np.linspace(-3, 3, 7)
    ref = np.log(0.25 * stats.norm.pdf(x, -1, 0.5) + 0.75 * stats.norm.pdf(x, 2, 1.5))
    np.testing.assert_allclose(mixture_logpdf(x, [0.25, 0.75], [-1, 2], [0.5, 1.5]), ref,
                               rtol=1e-12)


def _bimodal_grid():
    x = np.linspace(-12, 12, 6001)
    w, mu, sd = np.array([0.4, 0.6]), np.array([-2.5, 2.0]), np.array([0.7, 0.9])
    return x, mixture_logpdf(x, w, mu, sd), w, mu, sd


def test_forward_fit_matches_moments():
    x, lt, w, mu, sd = _bimodal_grid()
    mean = np.sum(w * mu)
    var = np.sum(w * (sd ** 2 + mu ** 2)) - mean ** 2
    fit = fit_gaussian(x, lt, "forward", init=(1.0, 0.5))
    assert fit.success
    assert fit.mean == pytest.approx(mean, abs=1e-5)
    assert fit.sd ** 2 == pytest.approx(var, rel=1e-5)


def test_reverse_fit_seeks_a_mode():
    x, lt, w, mu, sd = _bimodal_grid()
    left = fit_gaussian(x, lt, "reverse", init=(-2.0, -0.5))
    right = fit_gaussian(x, lt, "reverse", init=(2.0, -0.5))
    assert left.mean == pytest.approx(mu[0], abs=0.05)
    assert right.mean == pytest.approx(mu[1], abs=0.05)
    assert left.sd == pytest.approx(sd[0], rel=0.05)
    # the heavier mode is the better local optimum of KL(q || p)
    assert right.kl < left.kl
    # each reverse fit is a local minimum: perturbing it increases the divergence
    for f in (left, right):
        for dm, dl in ((0.05, 0), (-0.05, 0), (0, 0.05), (0, -0.05)):
            lq = gaussian_logpdf(x, f.mean + dm, f.sd * np.exp(dl))
            assert kl_on_grid(x, lq, lt - np.log(np.trapezoid(np.exp(lt), x))) > f.kl


def test_landscape_agrees_with_pointwise_kl():
    x, lt, *_ = _bimodal_grid()
    means, log_sds = np.array([-1.0, 0.5]), np.array([0.0, 0.7])
    for direction in ("forward", "reverse"):
        L = kl_landscape(x, lt, means, log_sds, direction)
        assert L.shape == (2, 2)
        for i, l in enumerate(log_sds):
            for j, m in enumerate(means):
                lq = gaussian_logpdf(x, m, np.exp(l))
                ref = kl_on_grid(x, lt, lq) if direction == "forward" else kl_on_grid(x, lq, lt)
                assert L[i, j] == pytest.approx(ref, rel=1e-9)


@pytest.mark.parametrize("call, match", [
    (lambda: kl_discrete([0.5, 0.6], [0.5, 0.5]), "p"),
    (lambda: kl_discrete([0.5, 0.5], [0.2, 0.3, 0.5]), "same length"),
    (lambda: kl_diag_gaussians([0.0], [-1.0], [0.0], [1.0]), "var1"),
    (lambda: kl_diag_gaussians([0.0], [1.0], [np.nan], [1.0]), "mu2"),
    (lambda: kl_diag_gaussians([0.0, 1.0], [1.0, 1.0], [0.0, 1.0, 2.0], [1.0]), "broadcast"),
    (lambda: fit_gaussian(np.linspace(0, 1, 5), np.zeros(5), "sideways"), "direction"),
    (lambda: fit_gaussian(np.linspace(0, 1, 5), np.zeros(4), "forward"), "log_target"),
    (lambda: fit_gaussian(np.linspace(1, 0, 5), np.zeros(5), "forward"), "increasing"),
    (lambda: kl_on_grid([0, 1], [0, 0], [0, 0, 0]), "^log_q must have the grid.s shape"),
    (lambda: mixture_logpdf(0.0, [0.5, 0.5], [0.0, 1.0], [1.0, 0.0]), "sds"),
    (lambda: kl_quadrature(1.0, lambda x: x), "log_p"),
])
def test_rejects_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
