"""Independent-route tests for vi_impl.models.gmm_1d (the slides' 1-D mixture, VBEM and EM)."""
import itertools

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp, softmax

from vi_impl.models import gmm_1d as g


def _problem(seed=0, N=6, K=2):
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(-2, 1, N // 2), rng.normal(2.5, 1, N - N // 2)])
    mu = rng.normal(size=K)
    s2 = rng.uniform(0.2, 1.5, size=K)
    phi = rng.dirichlet(np.ones(K), size=N)
    w = rng.dirichlet(3 * np.ones(K))
    return x, mu, s2, phi, w, 4.0, 0.8


def _sample_q(mu, s2, phi, S, rng):
    K = mu.shape[0]
    m = mu[None] + np.sqrt(s2)[None] * rng.standard_normal((S, K))
    u = rng.random((S, phi.shape[0], 1))
    z = np.minimum((u > np.cumsum(phi, 1)[None]).sum(-1), K - 1)
    return m, z


def test_expectation_table_by_monte_carlo():
    x, mu, s2, phi, *_ = _problem(1, N=5, K=3)
    rng = np.random.default_rng(0)
    S = 200000
    m, z = _sample_q(mu, s2, phi, S, rng)
    E = g.expectations(mu, s2, phi)
    mz = np.take_along_axis(m, z, axis=1)                   # mu_{z_n}, (S, N)
    checks = {
        "E[mu_k]": m, "E[mu_k^2]": m ** 2, "E[z_n]": z + 1.0,
        "E[z_nk]": (z[:, :, None] == np.arange(3)).astype(float),
        "E[mu_z_n]": mz, "E[mu_z_n^2]": mz ** 2,
    }
    for key, draws in checks.items():
        est, se = draws.mean(0), draws.std(0, ddof=1) / np.sqrt(S)
        assert np.all(np.abs(est - E[key]) < 4.5 * se + 1e-12), key


def test_full_elbo_matches_monte_carlo():
    for seed in range(3):
        x, mu, s2, phi, w, tau2, sigma2 = _problem(seed, N=7, K=3)
        rng = np.random.default_rng(seed + 100)
        S = 40000
        m, z = _sample_q(mu, s2, phi, S, rng)
        logp = (stats.norm.logpdf(m, 0, np.sqrt(tau2)).sum(1) + np.log(w[z]).sum(1)
                + stats.norm.logpdf(x[None], np.take_along_axis(m, z, 1), np.sqrt(sigma2)).sum(1))
        logq = stats.norm.logpdf(m, mu, np.sqrt(s2)).sum(1) + np.log(phi[np.arange(7), z]).sum(1)
        v = logp - logq
        est, se = v.mean(), v.std(ddof=1) / np.sqrt(S)
        assert abs(g.elbo(x, mu, s2, phi, w, tau2, sigma2) - est) < 4 * se


def _log_evidence(x, w, tau2, sigma2):
    """log p(x | w): sum over all K^N assignments; given z, each cluster's points are
    jointly N(0, sigma2 I + tau2 11^T)."""
    K, N = w.shape[0], x.shape[0]
    out = []
    for z in itertools.product(range(K), repeat=N):
        z = np.array(z)
        t = np.log(w[z]).sum()
        for k in range(K):
            idx = np.flatnonzero(z == k)
            if idx.size:
                cov = sigma2 * np.eye(idx.size) + tau2 * np.ones((idx.size, idx.size))
                t += stats.multivariate_normal.logpdf(x[idx], np.zeros(idx.size), cov)
        out.append(t)
    return logsumexp(out)


def test_elbo_below_enumerated_evidence_and_gap_shrinks():
    x, mu, s2, phi, w, tau2, sigma2 = _problem(2, N=7, K=2)
    logZ = _log_evidence(x, w, tau2, sigma2)
    assert g.elbo(x, mu, s2, phi, w, tau2, sigma2) < logZ
    res = g.fit(x, 2, w, tau2, sigma2, max_iter=30, tol=0, seed=0)
    gaps = logZ - res.elbo
    assert np.all(gaps >= -1e-10) and gaps[-1] < gaps[0]
    assert gaps[-1] < 0.5                                   # well-separated data: nearly tight


def _fd(f, v, h=1e-6):
    out = np.zeros_like(v)
    for i in np.ndindex(v.shape):
        e = np.zeros_like(v)
        e[i] = h
        out[i] = (f(v + e) - f(v - e)) / (2 * h)
    return out


def test_gradient_vanishes_at_each_update():
    x, mu, s2, phi, w, tau2, sigma2 = _problem(3, N=9, K=3)
    L = lambda mu_, s2_, phi_, w_=w: g.elbo(x, mu_, s2_, phi_, w_, tau2, sigma2)
    phi_new = g.update_phi(x, mu, s2, w, sigma2)
    assert np.abs(_fd(lambda e: L(mu, s2, softmax(e, axis=1)), np.log(phi_new))).max() < 1e-6
    assert np.abs(_fd(lambda e: L(mu, s2, softmax(e, axis=1)), np.log(phi))).max() > 1e-3
    assert np.abs(_fd(lambda v: L(mu, v, phi), g.update_s2(phi, tau2, sigma2))).max() < 1e-6
    assert np.abs(_fd(lambda v: L(v, s2, phi), g.update_mu(x, phi, tau2, sigma2))).max() < 1e-6
    # VBEM M-step: the weights maximise the ELBO on the simplex (logit parametrisation)
    w_new = g.update_weights(phi)
    assert np.abs(_fd(lambda e: L(mu, s2, phi, softmax(e)), np.log(w_new))).max() < 1e-6
    assert np.abs(_fd(lambda e: L(mu, s2, phi, softmax(e)), np.log(w))).max() > 1e-3


def test_cavi_and_vbem_never_decrease_elbo():
    rng = np.random.default_rng(4)
    x = np.concatenate([rng.normal(-4, 1, 150), rng.normal(0, 1, 50), rng.normal(5, 1, 100)])
    w = np.array([0.2, 0.3, 0.5])
    r = g.fit(x, 3, w, 25.0, 1.0, max_iter=60, tol=0, seed=1)
    assert np.all(np.diff(r.elbo) >= -1e-10 * np.abs(r.elbo[1:]))
    v = g.vbem(x, 3, 25.0, 1.0, max_iter=80, tol=0, seed=1)
    assert np.all(np.diff(v.elbo) >= -1e-10 * np.abs(v.elbo[1:]))
    # step by step inside VBEM: every single update is an ascent step
    mu, s2, wt = np.array([-1.0, 0.5, 1.0]), np.ones(3), np.full(3, 1 / 3)
    phi = g.update_phi(x, mu, s2, wt, 1.0)
    prev = g.elbo(x, mu, s2, phi, wt, 25.0, 1.0)
    for _ in range(20):
        phi = g.update_phi(x, mu, s2, wt, 1.0); a = g.elbo(x, mu, s2, phi, wt, 25.0, 1.0)
        s2 = g.update_s2(phi, 25.0, 1.0); b = g.elbo(x, mu, s2, phi, wt, 25.0, 1.0)
        mu = g.update_mu(x, phi, 25.0, 1.0); c = g.elbo(x, mu, s2, phi, wt, 25.0, 1.0)
        wt = g.update_weights(phi); d = g.elbo(x, mu, s2, phi, wt, 25.0, 1.0)
        for cur in (a, b, c, d):
            assert cur >= prev - 1e-10 * abs(prev)
            prev = cur
    # learning the weights recovers the generating proportions (sorted by mean)
    order = np.argsort(v.mu_tilde)
    np.testing.assert_allclose(v.weights[order], [0.5, 1 / 6, 1 / 3], atol=0.05)


def test_em_loglik_never_decreases_and_estep_is_exact():
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.normal(-3, 1, 120), rng.normal(2, 1, 80)])
    for tau2 in (None, 4.0):
        res = g.em(x, 2, 1.0, tau2=tau2, max_iter=60, tol=0, seed=2)
        assert np.all(np.diff(res.elbo) >= -1e-10 * np.abs(res.elbo[1:]))
    # the E-step makes the bound tight: F(r_exact) = log p(x | mu, w) (independent: scipy)
    mu, w = np.array([-2.0, 1.0]), np.array([0.3, 0.7])
    ll_scipy = np.log((w[None] * stats.norm.pdf(x[:, None], mu[None], 1.0)).sum(1)).sum()
    assert np.isclose(g.log_likelihood(x, mu, w, 1.0), ll_scipy, rtol=1e-12)
    r = g.em_e_step(x, mu, w, 1.0)
    assert np.isclose(g.em_free_energy(x, mu, w, r, 1.0), ll_scipy, rtol=1e-12)
    r_other = softmax(np.log(r) + rng.normal(size=r.shape), axis=1)
    assert g.em_free_energy(x, mu, w, r_other, 1.0) < ll_scipy
    # EM's M-step maximises F over (mu, w): finite-difference gradient vanishes there
    mu_new, w_new = g.em_m_step(x, r)
    assert np.abs(_fd(lambda v: g.em_free_energy(x, v, w_new, r, 1.0), mu_new)).max() < 1e-5
    assert np.abs(_fd(lambda e: g.em_free_energy(x, mu_new, softmax(e), r, 1.0), np.log(w_new))).max() < 1e-5
    # VBEM approaches EM as the posterior over the means concentrates (large N): same means
    v = g.vbem(x, 2, 100.0, 1.0, max_iter=200, seed=2)
    e = g.em(x, 2, 1.0, max_iter=200, seed=2)
    np.testing.assert_allclose(np.sort(v.mu_tilde), np.sort(e.mu), atol=0.05)


def test_fit_loop_contract():
    x = _problem(0, N=40, K=2)[0]
    w = np.array([0.5, 0.5])
    r = g.fit(x, 2, w, 4.0, 1.0, max_iter=13, tol=0, seed=0)
    assert r.n_iter == 13 and r.elbo.shape == (13,) and not r.converged
    r1 = g.fit(x, 2, w, 4.0, 1.0, max_iter=1000, tol=1e-12, seed=0)
    assert r1.converged
    assert g.fit(x, 2, w, 4.0, 1.0, max_iter=30, n_init=3, seed=0).elbo[-1] >= \
        g.fit(x, 2, w, 4.0, 1.0, max_iter=30, n_init=1, seed=0).elbo[-1]
    np.testing.assert_array_equal(g.vbem(x, 2, 4.0, 1.0, seed=7).mu_tilde,
                                  g.vbem(x, 2, 4.0, 1.0, seed=7).mu_tilde)
    v = g.vbem(x, 2, 4.0, 1.0, max_iter=11, tol=0, seed=0)
    e = g.em(x, 2, 1.0, max_iter=12, tol=0, seed=0)
    assert (v.n_iter, v.elbo.size, e.n_iter, e.elbo.size) == (11, 11, 12, 12)
    assert not v.converged and not e.converged
    assert g.vbem(x, 2, 4.0, 1.0, max_iter=5000, tol=1e-12, seed=0).converged
    assert g.em(x, 2, 1.0, max_iter=5000, tol=1e-12, seed=0).converged
    assert g.em(x, 2, 1.0, max_iter=30, n_init=3, seed=0).elbo[-1] >= \
        g.em(x, 2, 1.0, max_iter=30, n_init=1, seed=0).elbo[-1]


@pytest.mark.parametrize("change, name", [
    (dict(x=np.array([0.0, np.inf, 1.0, 2.0, 3.0, 4.0])), "x"),
    (dict(x=np.ones((6, 1))), "x"),
    (dict(s2=np.array([1.0, 0.0])), "s2_tilde"),
    (dict(phi=np.full((6, 2), 0.3)), "phi"),
    (dict(w=np.array([0.6, 0.6])), "weights"),
    (dict(w=np.array([1.2, -0.2])), "weights"),
    (dict(tau2=0.0), "tau2"),
    (dict(sigma2=np.nan), "sigma2"),
    (dict(mu=np.array([0.0, np.nan])), "mu_tilde"),
])
def test_bad_input(change, name):
    x, mu, s2, phi, w, tau2, sigma2 = _problem(0)
    a = dict(x=x, mu=mu, s2=s2, phi=phi, w=w, tau2=tau2, sigma2=sigma2)
    a.update(change)
    with pytest.raises(ValueError, match=name):
        g.elbo(a["x"], a["mu"], a["s2"], a["phi"], a["w"], a["tau2"], a["sigma2"])


def test_bad_input_fit_and_em():
    x = _problem(0)[0]
    with pytest.raises(ValueError, match="K"):
        g.fit(x, 0, np.ones(1), 1.0, 1.0)
    with pytest.raises(ValueError, match="weights"):
        g.fit(x, 2, np.array([0.2, 0.2]), 1.0, 1.0)
    with pytest.raises(ValueError, match="tol"):
        g.vbem(x, 2, 1.0, 1.0, tol=-1)
    with pytest.raises(ValueError, match="sigma2"):
        g.em(x, 2, -1.0)
    with pytest.raises(ValueError, match="r"):
        g.em_m_step(x, np.full((6, 2), 0.2))


# ----------------------------------------------------------------------------- properties
from hypothesis import given, settings, strategies as st


@settings(max_examples=25)
@given(N=st.integers(1, 30), K=st.integers(1, 4), scale=st.sampled_from([1e-2, 1.0, 1e4]),
       seed=st.integers(0, 2 ** 16))
def test_property_vbem_and_em_monotone(N, K, scale, seed):
    rng = np.random.default_rng(seed)
    x = scale * (rng.normal(size=N) + rng.integers(0, 3, N) * 4)
    v = g.vbem(x, K, (10 * scale) ** 2, scale ** 2, max_iter=20, tol=0, seed=seed)
    assert np.all(np.isfinite(v.elbo)) and np.all(np.diff(v.elbo) >= -1e-10 * np.abs(v.elbo[1:]))
    np.testing.assert_allclose(v.weights.sum(), 1.0)
    e = g.em(x, K, scale ** 2, tau2=(10 * scale) ** 2, max_iter=20, tol=0, seed=seed)
    assert np.all(np.isfinite(e.elbo))
    assert np.all(np.diff(e.elbo) >= -1e-10 * np.abs(e.elbo[1:]))
