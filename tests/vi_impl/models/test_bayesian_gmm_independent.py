"""Independent routes for vi_impl.models.bayesian_gmm: Monte Carlo ELBO from scipy.stats
densities, exact evidence (chain rule of Student-t predictives; enumeration of z for K = 2),
finite-difference stationarity of the fixed point, scikit-learn's fixed point."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats
from scipy.special import gammaln, logsumexp, xlogy

from vi_impl.models import bayesian_gmm as bg


def _data(N, D, K, seed):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(K, D))
    return centres[rng.integers(K, size=N)] + rng.normal(size=(N, D))


def _prior(K, D, seed=1):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(D, D))
    return bg.make_prior(K, D, alpha0=rng.uniform(0.5, 2.0, K), m0=rng.normal(size=D),
                         beta0=0.7, W0=A @ A.T / D + 0.5 * np.eye(D), nu0=D + 1.5)


def _evidence_chain(X, m0, beta0, W0, nu0):
    """log p(X) of one Normal-Wishart cluster as prod_n p(x_n | x_<n), each a Student-t
    (scipy.stats.multivariate_t), with the posterior tracked in the scatter-matrix form."""
    D = X.shape[1]
    m, beta, S, nu = np.array(m0, float), float(beta0), np.linalg.inv(W0), float(nu0)
    total = 0.0
    for x in X:
        dof = nu + 1 - D
        total += stats.multivariate_t(loc=m, shape=S * (beta + 1) / (beta * dof),
                                      df=dof).logpdf(x)
        S = S + beta / (beta + 1) * np.outer(x - m, x - m)
        m = (beta * m + x) / (beta + 1)
        beta, nu = beta + 1, nu + 1
    return total


def test_k1_elbo_equals_exact_evidence():
    X = _data(25, 3, 1, seed=3)
    prior = _prior(1, 3)
    res = bg.fit(X, 1, prior=prior, tol=0, max_iter=3)
    exact = _evidence_chain(X, prior.m0, prior.beta0, prior.W0, prior.nu0)
    assert res.elbo[-1] == pytest.approx(exact, rel=0, abs=1e-8)
    assert bg.log_evidence_k1(X, prior) == pytest.approx(exact, rel=0, abs=1e-8)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_elbo_below_exact_evidence_k2(seed):
    N, D = 6, 2
    X = _data(N, D, 2, seed)
    prior = _prior(2, D, seed)
    a0 = prior.alpha0
    terms = []
    for z in itertools.product([0, 1], repeat=N):
        z = np.array(z)
        counts = np.bincount(z, minlength=2)
        log_pz = (gammaln(a0.sum()) - gammaln(a0.sum() + N)
                  + (gammaln(a0 + counts) - gammaln(a0)).sum())
        log_px = sum(_evidence_chain(X[z == k], prior.m0, prior.beta0, prior.W0, prior.nu0)
                     for k in range(2) if counts[k])
        terms.append(log_pz + log_px)
    exact = logsumexp(terms)
    res = bg.fit(X, 2, prior=prior, n_init=3, seed=seed)
    assert res.elbo[-1] < exact
    assert exact - res.elbo[-1] < 5.0           # a bound, and not a vacuous one


def test_monte_carlo_elbo_within_4_standard_errors():
    rng = np.random.default_rng(7)
    N, D, K = 20, 2, 3
    X = _data(N, D, K, seed=5)
    prior = _prior(K, D)
    res = bg.fit(X, K, prior=prior, max_iter=4, tol=0)    # not at the optimum: any q will do
    post, r = res.posterior, res.r
    S = 400
    vals = np.empty(S)
    for s in range(S):
        pi = rng.dirichlet(post.alpha)
        lam = [stats.wishart(df=post.nu[k], scale=post.W[k]).rvs(random_state=rng)
               for k in range(K)]
        mu = [rng.multivariate_normal(post.m[k], np.linalg.inv(post.beta[k] * lam[k]))
              for k in range(K)]
        z = np.array([rng.choice(K, p=row) for row in r])
        log_p = stats.dirichlet(prior.alpha0).logpdf(pi) + np.log(pi[z]).sum()
        log_q = stats.dirichlet(post.alpha).logpdf(pi) + np.log(r[np.arange(N), z]).sum()
        for k in range(K):
            cov0 = np.linalg.inv(prior.beta0 * lam[k])
            covq = np.linalg.inv(post.beta[k] * lam[k])
            log_p += (stats.multivariate_normal(prior.m0, cov0).logpdf(mu[k])
                      + stats.wishart(df=prior.nu0, scale=prior.W0).logpdf(lam[k]))
            log_q += (stats.multivariate_normal(post.m[k], covq).logpdf(mu[k])
                      + stats.wishart(df=post.nu[k], scale=post.W[k]).logpdf(lam[k]))
            if (z == k).any():
                log_p += stats.multivariate_normal(mu[k], np.linalg.inv(lam[k])).logpdf(
                    X[z == k]).sum()
        vals[s] = log_p - log_q
    se = vals.std(ddof=1) / np.sqrt(S)
    assert abs(vals.mean() - bg.elbo(X, prior, post, r)) < 4 * se


def _flat_elbo(X, prior, K, D):
    iu = np.triu_indices(D)

    def unpack(theta):
        i = 0
        out = []
        for size in (K, K, K * D, K, K * len(iu[0]), X.shape[0] * K):
            out.append(theta[i:i + size])
            i += size
        alpha, beta, m, nu, w, logits = out
        W = np.zeros((K, D, D))
        W[:, iu[0], iu[1]] = w.reshape(K, -1)
        W = W + np.triu(W, 1).transpose(0, 2, 1)
        logits = logits.reshape(-1, K)
        r = np.exp(logits - logsumexp(logits, axis=1, keepdims=True))
        return bg.Posterior(alpha, beta, m.reshape(K, D), W, nu), r

    def pack(post, r):
        return np.concatenate([post.alpha, post.beta, post.m.ravel(), post.nu,
                               post.W[:, iu[0], iu[1]].ravel(), np.log(r).ravel()])

    return (lambda theta: bg.elbo(X, prior, *unpack(theta))), pack


def _fd_grad(f, theta, h=1e-5):
    g = np.empty_like(theta)
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = h * max(1.0, abs(theta[i]))
        g[i] = (f(theta + e) - f(theta - e)) / (2 * e[i])
    return g


def test_fixed_point_is_stationary_by_finite_differences():
    N, D, K = 15, 2, 2
    X = _data(N, D, K, seed=11)
    prior = _prior(K, D)
    res = bg.fit(X, K, prior=prior, tol=0, max_iter=3000)
    f, pack = _flat_elbo(X, prior, K, D)
    theta = pack(res.posterior, res.r)
    g = _fd_grad(f, theta)
    assert np.abs(g).max() < 1e-5
    # the same check fails away from the fixed point (it can fail)
    moved = theta + 0.01 * np.random.default_rng(0).normal(size=theta.size)
    assert np.abs(_fd_grad(f, moved)).max() > 1e-2


def test_predictive_matches_scipy_student_t_mixture():
    X = _data(40, 3, 2, seed=2)
    res = bg.fit(X, 2, prior=_prior(2, 3))
    post = res.posterior
    Xnew = _data(5, 3, 2, seed=9)
    D = 3
    w = post.alpha / post.alpha.sum()
    dens = np.zeros(len(Xnew))
    for k in range(2):
        dof = post.nu[k] + 1 - D
        shape = np.linalg.inv(post.W[k]) * (1 + post.beta[k]) / (dof * post.beta[k])
        dens += w[k] * stats.multivariate_t(post.m[k], shape, df=dof).pdf(Xnew)
    np.testing.assert_allclose(bg.predictive_logpdf(Xnew, post), np.log(dens), rtol=1e-10)


def test_same_fixed_point_as_sklearn():
    from sklearn.mixture import BayesianGaussianMixture

    N, D, K = 300, 2, 3
    X = _data(N, D, K, seed=4)
    prior = _prior(K, D)
    rng = np.random.default_rng(0)
    r0 = rng.dirichlet(np.ones(K), size=N)

    class SharedStart(BayesianGaussianMixture):
        def _initialize_parameters(self, X, random_state, xp=None):
            self._initialize(X, r0)

    sk = SharedStart(n_components=K, covariance_type="full",
                     weight_concentration_prior_type="dirichlet_distribution",
                     weight_concentration_prior=prior.alpha0[0], mean_prior=prior.m0,
                     mean_precision_prior=prior.beta0, degrees_of_freedom_prior=prior.nu0,
                     covariance_prior=np.linalg.inv(prior.W0), reg_covar=0.0, tol=1e-15,
                     max_iter=5000, n_init=1)
    prior = bg.make_prior(K, D, alpha0=prior.alpha0[0], m0=prior.m0, beta0=prior.beta0,
                          W0=prior.W0, nu0=prior.nu0)
    sk.fit(X)
    ours = bg.fit(X, K, prior=prior, init=r0, tol=0, max_iter=400)
    np.testing.assert_allclose(ours.m, sk.means_, atol=1e-8)
    np.testing.assert_allclose(ours.alpha, sk.weight_concentration_, rtol=1e-8)
    np.testing.assert_allclose(ours.nu, sk.degrees_of_freedom_, rtol=1e-8)
    np.testing.assert_allclose(np.linalg.inv(ours.W),
                               sk.covariances_ * sk.degrees_of_freedom_[:, None, None],
                               rtol=1e-8)


def test_predictive_density_integrates_to_one():
    from scipy.integrate import quad

    X = _data(12, 1, 2, seed=6)
    res = bg.fit(X, 2, prior=bg.make_prior(2, 1, alpha0=0.3, W0=[[0.5]], nu0=1.2))
    total, err = quad(lambda x: np.exp(bg.predictive_logpdf([[x]], res.posterior)[0]),
                      -np.inf, np.inf, limit=200)
    assert total == pytest.approx(1.0, abs=1e-7)


def test_entropy_parts_match_scipy():
    """E[log q(pi)] = -H[Dir(alpha)] exactly; E[log q(mu, Lambda)] against scipy's Wishart
    entropy plus the Gaussian part, with E[log|Lambda|] from Wishart draws (4 s.e.)."""
    N, D, K = 30, 3, 2
    X = _data(N, D, K, seed=12)
    prior = _prior(K, D)
    res = bg.fit(X, K, prior=prior, max_iter=5, tol=0)
    post = res.posterior
    parts = bg.elbo_parts(X, prior, post, res.r)
    assert parts["log_q_pi"] == pytest.approx(-stats.dirichlet(post.alpha).entropy(), abs=1e-10)
    rng = np.random.default_rng(3)
    total, var = 0.0, 0.0
    for k in range(K):
        W = stats.wishart(df=post.nu[k], scale=post.W[k])
        logdets = np.linalg.slogdet(W.rvs(size=20000, random_state=rng))[1]
        total += (-W.entropy() - 0.5 * D * (1 + np.log(2 * np.pi)) + 0.5 * D * np.log(post.beta[k])
                  + 0.5 * logdets.mean())
        var += 0.25 * logdets.var(ddof=1) / logdets.size
    assert abs(parts["log_q_mu_lam"] - total) < 4 * np.sqrt(var)
    assert abs(parts["log_q_z"] - xlogy(res.r, res.r).sum()) < 1e-10
