"""The predictive density of vi_impl.models.bayesian_gmm (a mixture of Student-t's): it
integrates to one (quadrature in 1-D and 2-D), it is the average of the mixture density
sum_k w_k N(x | mu_k, Lambda_k^-1) over draws from q (scipy.stats), each component is
scipy.stats's Student-t, and bad input is refused by name."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import integrate, stats

from vi_impl.models import bayesian_gmm as bg


def _data(N, D, K, seed):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(K, D))
    return centres[rng.integers(K, size=N)] + rng.normal(size=(N, D))


def _post(N, D, K, seed, nu0=None):
    X = _data(N, D, K, seed)
    prior = bg.make_prior(K, D, alpha0=0.5, m0=X.mean(0), beta0=0.5, W0=np.eye(D) / D,
                          nu0=D if nu0 is None else nu0)
    return bg.fit(X, K, prior=prior, seed=seed, n_init=2).posterior


def _density(post):
    return lambda *x: float(np.exp(bg.predictive_logpdf(np.array([x]), post)[0]))


@pytest.mark.parametrize("seed", [0, 1])
def test_integrates_to_one_in_1d(seed):
    post = _post(8, 1, 2, seed, nu0=0.3)           # few points, small nu0: heavy tails
    assert (post.nu + 1 - 1).min() < 10
    total, _ = integrate.quad(_density(post), -np.inf, np.inf, limit=400)
    assert total == pytest.approx(1.0, abs=1e-7)


def _gauss_legendre_2d(logpdf, centre, scale, n=300):
    """Integral over R^2 of exp(logpdf) by x = centre + scale tan(u), u in (-pi/2, pi/2)^2,
    with n-point Gauss-Legendre rules on each axis (one vectorised call)."""
    u, wu = np.polynomial.legendre.leggauss(n)
    u, wu = u * np.pi / 2, wu * np.pi / 2
    x = centre[:, None] + scale * np.tan(u)[None, :]              # (2, n)
    jac = scale / np.cos(u) ** 2                                  # dx/du
    g0, g1 = np.meshgrid(x[0], x[1], indexing="ij")
    dens = np.exp(logpdf(np.c_[g0.ravel(), g1.ravel()])).reshape(n, n)
    return float((wu * jac) @ dens @ (wu * jac))


def test_integrates_to_one_in_2d():
    post = _post(12, 2, 2, seed=3, nu0=1.2)
    assert (post.nu + 1 - 2).min() < 12                           # heavy tails
    centre, scale = post.m.mean(0), 2.0 * np.sqrt(np.linalg.inv(post.W).max() / post.nu.min())
    total = _gauss_legendre_2d(lambda Z: bg.predictive_logpdf(Z, post), centre, scale)
    assert total == pytest.approx(1.0, abs=1e-7)
    # the rule is accurate (scipy's multivariate_t integrates to one with it) and resolves a
    # density whose normaliser is off by a factor of two
    t = stats.multivariate_t(post.m[0], np.linalg.inv(post.W[0]), df=post.nu[0] - 1)
    assert _gauss_legendre_2d(t.logpdf, centre, scale) == pytest.approx(1.0, abs=1e-7)
    off = _gauss_legendre_2d(lambda Z: bg.predictive_logpdf(Z, post) + np.log(2.0), centre, scale)
    assert off == pytest.approx(2.0, abs=1e-6)


def test_is_the_average_of_the_mixture_density_over_q():
    """p(x | X) = E_q[sum_k w_k N(x | mu_k, Lambda_k^-1)], estimated by draws
    (w, mu, Lambda) ~ q with scipy.stats; each point within 4 standard errors."""
    D, K = 2, 2
    post = _post(30, D, K, seed=5)
    Xnew = np.array([[0.0, 0.0], [1.0, -2.0], [3.0, 3.0], [-4.0, 1.0]])
    rng = np.random.default_rng(0)
    S = 1500
    vals = np.zeros((S, len(Xnew)))
    w = stats.dirichlet(post.alpha).rvs(size=S, random_state=rng)
    for k in range(K):
        lam = stats.wishart(df=post.nu[k], scale=post.W[k]).rvs(size=S, random_state=rng)
        cov = np.linalg.inv(lam)
        for s in range(S):
            mu = stats.multivariate_normal(post.m[k], cov[s] / post.beta[k]).rvs(random_state=rng)
            vals[s] += w[s, k] * stats.multivariate_normal.pdf(Xnew, mu, cov[s])
    mean, se = vals.mean(0), vals.std(0, ddof=1) / np.sqrt(S)
    exact = np.exp(bg.predictive_logpdf(Xnew, post))
    z = (mean - exact) / se
    assert np.abs(z).max() < 4.0, z
    # and it is not the density at the posterior means (the check can tell them apart)
    plugin = sum(post.alpha[k] / post.alpha.sum() * stats.multivariate_normal(
        post.m[k], np.linalg.inv(post.nu[k] * post.W[k])).pdf(Xnew) for k in range(K))
    assert np.abs((mean - plugin) / se).max() > 4.0


@pytest.mark.parametrize("D", [1, 3])
def test_one_component_is_scipys_student_t(D):
    post = _post(20, D, 1, seed=D)
    Xnew = _data(6, D, 1, seed=9)
    dof = post.nu[0] + 1 - D
    shape = np.linalg.inv(post.W[0]) * (1 + post.beta[0]) / (dof * post.beta[0])
    if D == 1:
        ref = stats.t(df=dof, loc=post.m[0, 0], scale=np.sqrt(shape[0, 0])).logpdf(Xnew[:, 0])
    else:
        ref = stats.multivariate_t(post.m[0], shape, df=dof).logpdf(Xnew)
    np.testing.assert_allclose(bg.predictive_logpdf(Xnew, post), ref, rtol=1e-11)


@pytest.mark.parametrize("change, name", [
    (dict(nu=np.array([0.5, 3.0])), "post.nu"), (dict(alpha=np.array([1.0, -1.0])), "post.alpha"),
    (dict(beta=np.array([1.0, np.nan])), "post.beta"), (dict(m=np.zeros(2)), "post.m"),
    (dict(W=np.array([np.eye(2), -np.eye(2)])), "post.W"),
])
def test_bad_posterior_is_named(change, name):
    post = _post(10, 2, 2, seed=0)
    with pytest.raises(ValueError, match=f"^{name.split('.')[0]}"):
        bg.predictive_logpdf(np.zeros((1, 2)), dataclasses.replace(post, **change))


def test_bad_points_are_named():
    post = _post(10, 2, 2, seed=0)
    with pytest.raises(ValueError, match="^Xnew"):
        bg.predictive_logpdf(np.zeros((1, 3)), post)
    with pytest.raises(ValueError, match="^Xnew"):
        bg.predictive_logpdf([[np.inf, 0.0]], post)
    with pytest.raises(TypeError, match="^post"):
        bg.predictive_logpdf(np.zeros((1, 2)), {"m": 0})


def test_fields_of_prior_and_posterior_are_checked_by_every_function():
    """A Prior or Posterior edited after construction is refused by name, and a shape that
    disagrees with another argument names where the expected shape comes from."""
    X = _data(10, 2, 2, seed=1)
    prior = bg.make_prior(2, 2)
    post = _post(10, 2, 2, seed=1)
    r = bg.responsibilities(X, post)
    with pytest.raises(ValueError, match=r"^prior\.nu0"):
        bg.elbo(X, dataclasses.replace(prior, nu0=0.5), post, r)
    with pytest.raises(ValueError, match=r"^prior\.alpha0"):
        bg.fit(X, 2, prior=dataclasses.replace(prior, alpha0=np.array([1.0, np.nan])))
    with pytest.raises(ValueError, match=r"^post\.W"):
        bg.responsibilities(X, dataclasses.replace(post, W=np.array([np.eye(2), -np.eye(2)])))
    with pytest.raises(ValueError, match=r"^post\.m.*as in X"):
        bg.responsibilities(X[:, :1], post)
    with pytest.raises(ValueError, match=r"^r must.*row of X"):
        bg.suff_stats(X[:-1], r)
    with pytest.raises(ValueError, match=r"^Nk must.*prior"):
        bg.update_global(bg.make_prior(3, 2), *bg.suff_stats(X, r))
