"""Generated CAVI on conjugate models outside the syllabus, checked against the exact posterior.

With a single q factor per group and a conjugate prior, the optimal q is the exact posterior,
and at the optimum the full ELBO equals the log evidence.  The exact posterior comes from
the conjugate closed form via scipy.stats, the evidence from numerical quadrature
(scipy.integrate.quad) -- neither uses the engine.  A sabotaged update must be caught.
"""
import numpy as np
import pytest
from scipy import integrate, stats

import vi_derivations as vd
from vi_derivations import Bernoulli, Beta, Gamma, Model, Plate, Poisson
from vi_derivations.cavi import cavi


def beta_bernoulli():
    G, N = Plate("G", "g"), Plate("N", "n")
    g = G.index
    M = Model("beta_bernoulli_groups", "Bernoulli trials in groups with Beta success probabilities")
    a0, b0 = M.hyper("a0"), M.hyper("b0")
    theta = M.latent("theta", (G,))
    x = M.observed("x", (G, N))
    M.factor(theta, Beta(a0, b0))
    M.factor(x, Bernoulli(theta[g]))
    a, b = M.variational("a", (G,), positive=True), M.variational("b", (G,), positive=True)
    M.q(theta, Beta(a[g], b[g]))
    return M


def gamma_poisson():
    G, N = Plate("G", "g"), Plate("N", "n")
    g, n = G.index, N.index
    M = Model("gamma_poisson_exposure", "Poisson counts with exposures t and Gamma group rates")
    a0, b0 = M.hyper("a0"), M.hyper("b0")
    t = M.covariate("t", (G, N))
    lam = M.latent("lam", (G,))
    y = M.observed("y", (G, N))
    M.factor(lam, Gamma(a0, b0))
    M.factor(y, Poisson(t[g, n] * lam[g]))
    a, b = M.variational("a", (G,), positive=True), M.variational("b", (G,), positive=True)
    M.q(lam, Gamma(a[g], b[g]))
    return M


def log_quad(logf, lo, hi, mode):
    """log of the integral of exp(logf) over (lo, hi), scaled at ``mode`` to avoid underflow."""
    c = logf(mode)
    val = sum(integrate.quad(lambda u: np.exp(logf(u) - c), a, b, limit=200, epsabs=0, epsrel=1e-12)[0]
              for a, b in ((lo, mode), (mode, hi)))
    return c + np.log(val)


def bb_problem(seed):
    rng = np.random.default_rng(seed)
    G, N = int(rng.integers(1, 6)), int(rng.integers(1, 30))
    a0, b0 = float(rng.uniform(0.5, 4)), float(rng.uniform(0.5, 4))
    p = rng.beta(2, 3, size=G)
    x = (rng.uniform(size=(G, N)) < p[:, None]).astype(float)
    return dict(x=x, a0=a0, b0=b0)


def check_beta_bernoulli(gen, data):
    x, a0, b0 = data["x"], data["a0"], data["b0"]
    G, N = x.shape
    res = gen.run(data, {}, tol=0, max_iter=3)
    s = x.sum(1)
    exact = stats.beta(a0 + s, b0 + N - s)
    q = stats.beta(res.params["a"], res.params["b"])
    np.testing.assert_allclose(q.mean(), exact.mean(), rtol=1e-12)
    np.testing.assert_allclose(q.var(), exact.var(), rtol=1e-12)
    np.testing.assert_allclose(q.ppf([0.05, 0.5, 0.95][1]), exact.ppf(0.5), rtol=1e-10)
    # full ELBO at the optimum = log evidence (by quadrature over each theta_g)
    logev = 0.0
    for gi in range(G):
        def logf(th, gi=gi):
            return stats.beta.logpdf(th, a0, b0) + stats.bernoulli.logpmf(x[gi], th).sum()
        mode = np.clip((a0 + s[gi] - 1) / (a0 + b0 + N - 2), 1e-3, 1 - 1e-3) if a0 + b0 + N > 2 else 0.5
        logev += log_quad(logf, 0.0, 1.0, mode)
    np.testing.assert_allclose(res.elbo[-1], logev, rtol=1e-9)
    assert np.ptp(res.elbo) <= 1e-12 * abs(res.elbo[-1])   # exact after the first sweep


def gp_problem(seed):
    rng = np.random.default_rng(50 + seed)
    G, N = int(rng.integers(1, 6)), int(rng.integers(1, 20))
    a0, b0 = float(rng.uniform(0.5, 4)), float(rng.uniform(0.2, 3))
    t = rng.uniform(0.2, 3, size=(G, N))
    lam = rng.gamma(3.0, 1.0, size=G)
    y = rng.poisson(t * lam[:, None]).astype(float)
    return dict(y=y, t=t, a0=a0, b0=b0)


def check_gamma_poisson(gen, data):
    y, t, a0, b0 = data["y"], data["t"], data["a0"], data["b0"]
    G, N = y.shape
    res = gen.run(data, {}, tol=0, max_iter=3)
    shape, rate = a0 + y.sum(1), b0 + t.sum(1)
    exact = stats.gamma(shape, scale=1 / rate)
    q = stats.gamma(res.params["a"], scale=1 / res.params["b"])
    np.testing.assert_allclose(q.mean(), exact.mean(), rtol=1e-12)
    np.testing.assert_allclose(q.var(), exact.var(), rtol=1e-12)
    logev = 0.0
    for gi in range(G):
        def logf(lam, gi=gi):
            return stats.gamma.logpdf(lam, a0, scale=1 / b0) + stats.poisson.logpmf(y[gi], t[gi] * lam).sum()
        mode = max(shape[gi] - 1, 1e-3) / rate[gi]
        logev += log_quad(logf, 0.0, np.inf, mode)
    np.testing.assert_allclose(res.elbo[-1], logev, rtol=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_beta_bernoulli_generated_cavi_is_the_exact_posterior(seed):
    check_beta_bernoulli(cavi(beta_bernoulli()), bb_problem(seed))


@pytest.mark.parametrize("seed", range(4))
def test_gamma_poisson_generated_cavi_is_the_exact_posterior(seed):
    check_gamma_poisson(cavi(gamma_poisson()), gp_problem(seed))


def _sabotage(gen, name, param, factor):
    """Replace the generated update of q(name) by one whose ``param`` is off by ``factor``."""
    good = gen.namespace["_UPDATE"][name]

    def bad(**arrays):
        out = good(**arrays)
        out[param] = out[param] * factor
        return out

    gen.namespace["_UPDATE"] = dict(gen.namespace["_UPDATE"], **{name: bad})
    return gen


@pytest.mark.parametrize("param", ["a", "b"])
def test_a_wrong_update_is_caught(param):
    """The checks above fail when one updated parameter is wrong by 1e-6 relative."""
    with pytest.raises(AssertionError):
        check_beta_bernoulli(_sabotage(cavi(beta_bernoulli()), "theta", param, 1 + 1e-6), bb_problem(0))
    with pytest.raises(AssertionError):
        check_gamma_poisson(_sabotage(cavi(gamma_poisson()), "lam", param, 1 + 1e-6), gp_problem(0))


def test_sabotage_reaches_the_code_that_runs():
    """The generated module looks its updates up at call time, so the sabotage above is real."""
    gen = _sabotage(cavi(beta_bernoulli()), "theta", "a", 2.0)
    data = bb_problem(1)
    s = data["x"].sum(1)
    res = gen.run(data, {}, tol=0, max_iter=1)
    np.testing.assert_allclose(res.params["a"], 2 * (data["a0"] + s))


@pytest.mark.parametrize("seed", range(3))
def test_registered_conjugate_models_reach_the_exact_posterior(seed):
    """The book's own single-factor conjugate models (vi_derivations/models/) through the generated CAVI."""
    rng = np.random.default_rng(70 + seed)
    n = int(rng.integers(1, 40))
    a0, b0 = float(rng.uniform(0.5, 3)), float(rng.uniform(0.5, 3))
    x = (rng.uniform(size=n) < 0.3).astype(float)
    res = cavi(vd.models.load("beta_bernoulli")).run(dict(x=x, a0=a0, b0=b0), {}, tol=0, max_iter=2)
    exact = stats.beta(a0 + x.sum(), b0 + n - x.sum())
    q = stats.beta(res.params["a"], res.params["b"])
    np.testing.assert_allclose([q.mean(), q.var()], [exact.mean(), exact.var()], rtol=1e-12)
    logev = log_quad(lambda th: stats.beta.logpdf(th, a0, b0) + stats.bernoulli.logpmf(x, th).sum(), 0.0, 1.0,
                     exact.mean())
    np.testing.assert_allclose(res.elbo[-1], logev, rtol=1e-9)

    counts = rng.poisson(4.0, size=n).astype(float)
    res = cavi(vd.models.load("gamma_poisson")).run(dict(x=counts, a0=a0, b0=b0), {}, tol=0, max_iter=2)
    exact = stats.gamma(a0 + counts.sum(), scale=1 / (b0 + n))
    q = stats.gamma(res.params["a"], scale=1 / res.params["b"])
    np.testing.assert_allclose([q.mean(), q.var()], [exact.mean(), exact.var()], rtol=1e-12)
    logev = log_quad(lambda lam: stats.gamma.logpdf(lam, a0, scale=1 / b0) + stats.poisson.logpmf(counts, lam).sum(),
                     0.0, np.inf, exact.mean())
    np.testing.assert_allclose(res.elbo[-1], logev, rtol=1e-9)
