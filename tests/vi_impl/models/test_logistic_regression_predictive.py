"""vi_impl.models.logistic_regression: the predictive probability (quadrature and probit), the
trace of E[alpha], and the hand-written twin against the engine's derivations (the packaged models
with a fixed diagonal prior and with a learned precision, and the latter written again here with the
engine's public API)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats
from scipy.special import expit
from sympy import Sum

import vi_derivations as vd
from vi_impl.models import logistic_regression as lr


@pytest.mark.parametrize("mu, s", [(0.0, 0.0), (0.5, 0.01), (-3.0, 1.0), (10.0, 3.0), (2.0, 4.99),
                                   (0.1, 5.01), (-1.0, 10.0), (4.0, 50.0), (0.3, 1e3), (-20.0, 1e5)])
def test_quadrature_predictive_against_scipy_quad(mu, s):
    x = np.array([[1.0]])
    got = lr.predict_proba(x, np.array([mu]), np.array([[s * s]]), method="quadrature")[0]
    if s == 0:
        ref = expit(mu)
    else:
        # pieces split where the integrand changes scale: the Gaussian's centre and the
        # sigmoid's transition (|a| < 50)
        cuts = sorted({mu - 14 * s, mu + 14 * s} | {c for c in (mu, -50.0, 0.0, 50.0)
                                                    if abs(c - mu) < 14 * s})
        ref = sum(integrate.quad(lambda a: expit(a) * stats.norm.pdf(a, mu, s), lo, hi,
                                 epsabs=1e-16, epsrel=1e-13, limit=1000)[0]
                  for lo, hi in zip(cuts[:-1], cuts[1:]))
    assert got == pytest.approx(ref, abs=1e-12)


def test_predictive_against_monte_carlo_and_probit_close():
    rng = np.random.default_rng(0)
    m, A = rng.normal(size=3), rng.normal(size=(3, 3))
    S = A @ A.T + 0.2 * np.eye(3)
    Xnew = rng.normal(size=(6, 3)) * 2
    quad = lr.predict_proba(Xnew, m, S, method="quadrature")
    draws = stats.multivariate_normal(m, S).rvs(size=200_000, random_state=1)
    p = expit(draws @ Xnew.T)
    se = p.std(0) / np.sqrt(len(p))
    assert (np.abs(quad - p.mean(0)) < 4 * se).all()
    probit = lr.predict_proba(Xnew, m, S)
    # the probit approximation is close, not exact (error below 0.02 for any mean and variance)
    assert 0 < np.abs(probit - quad).max() < 0.02


def test_e_alpha_trace_is_the_sequence_of_the_public_updates():
    rng = np.random.default_rng(2)
    X = np.c_[np.ones(50), rng.normal(size=(50, 2))]
    t = (rng.uniform(size=50) < expit(X @ [0.5, 2.0, -1.0])).astype(float)
    res = lr.fit(X, t, a0=0.5, b0=0.5, tol=0, max_iter=5)
    xi, a, b, seq = np.ones(50), 0.5 + 1.5, 0.5, []
    for _ in range(5):
        m, S = lr.update_w(X, t, xi, e_alpha=a / b)
        b = 0.5 + 0.5 * (m @ m + np.trace(S))
        seq.append(a / b)
        xi = lr.update_xi(X, m, S)
    np.testing.assert_allclose(res.e_alpha_trace, seq, rtol=1e-12)
    assert res.e_alpha_trace[-1] == res.e_alpha
    assert "e_alpha_trace" not in lr.fit(X, t, S0=np.eye(3), max_iter=3).extra


@pytest.mark.parametrize("kwargs, name", [(dict(method="exact"), "method"), (dict(method=1), "method"),
                                          (dict(S=-np.eye(2)), "S")])
def test_predictive_bad_input_is_named(kwargs, name):
    args = dict(Xnew=np.ones((3, 2)), m=np.zeros(2), S=np.eye(2)) | kwargs
    with pytest.raises(ValueError, match=f"^{name}"):
        lr.predict_proba(**args)


# ----------------------------------------------------------------------------- the engine
def _learned_precision_model():
    """alpha ~ Gamma(a0, b0), w | alpha ~ N(0, I / alpha), t ~ BernoulliLogit(w^T x), with the
    Jaakkola-Jordan bound; q(w) = N(m, S), q(alpha) = Gamma(a, b)."""
    from vi_derivations.local_bound import BernoulliLogit, JaakkolaJordan

    N, D = vd.Plate("N", "n"), vd.Plate("D", "j")
    n, j = N.index, D.index
    M = vd.Model("logistic_regression_learned_precision", "logistic regression, learned alpha")
    a0, b0 = M.hyper("a0"), M.hyper("b0")
    X = M.covariate("X", (N, D))
    alpha, w, t = M.latent("alpha"), M.latent("w", (D,)), M.observed("t", (N,))
    M.factor(alpha, vd.Gamma(a0, b0))
    M.factor(w, vd.Normal(0, precision=alpha.symbol))
    k = D.fresh()
    M.factor(t, BernoulliLogit(Sum(X[n, k] * w[k], (k, k.lower, k.upper))))
    M.local_bound(t, JaakkolaJordan(M.variational("xi", (N,), positive=True)))
    m, S = M.variational("m", (D,)), M.variational("S", (D, D))
    M.q(w, vd.MvNormal(m[j], cov=S, event=D))
    M.q(alpha, vd.Gamma(M.variational("a", positive=True), M.variational("b", positive=True)))
    return M


def _problem(seed):
    r = np.random.default_rng(seed)
    N, D = int(r.integers(2, 25)), int(r.integers(1, 5))
    X = r.normal(size=(N, D))
    t = (r.uniform(size=N) < 0.5).astype(float)
    A = r.normal(size=(D, D))
    return X, t, r.normal(size=D), A @ A.T / D + 0.3 * np.eye(D), r.uniform(0.2, 3, N), r


def _close(a, b, rtol=1e-10):
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert np.abs(a - b).max() <= rtol * max(np.abs(b).max(), 1e-300)


def test_packaged_engine_model_equals_the_twin():
    M = vd.models.load("logistic_regression")
    f_elbo = vd.to_numpy(vd.elbo(M, constants=True), M)
    f_w = vd.update(M, "w").numeric()
    f_xi = [u for u in vd.derive(M).updates if getattr(u, "var", None) == "xi"][0].numeric()
    for seed in range(6):
        X, t, m, S, xi, r = _problem(seed)
        m0, v0 = r.normal(size=m.size), r.uniform(0.3, 3, m.size)
        _close(f_elbo(X=X, t=t, m=m, S=S, xi=xi, m0=m0, v0=v0),
               lr.elbo(X, t, m, S, xi, m0=m0, S0=np.diag(v0)))
        upd = f_w(X=X, t=t, xi=xi, m0=m0, v0=v0)
        mi, Si = lr.update_w(X, t, xi, m0=m0, S0=np.diag(v0))
        _close(upd["m"], mi)
        _close(upd["S"], Si)
        _close(f_xi(X=X, m=m, S=S)["xi"], lr.update_xi(X, m, S))


@pytest.mark.parametrize("packaged", [False, True])
def test_learned_precision_engine_model_equals_the_twin(packaged):
    M = vd.models.load("logistic_regression_alpha") if packaged else _learned_precision_model()
    f_elbo = vd.to_numpy(vd.elbo(M, constants=True), M)
    f_w, f_alpha = vd.update(M, "w").numeric(), vd.update(M, "alpha").numeric()
    for seed in range(6):
        X, t, m, S, xi, r = _problem(10 + seed)
        a, b, a0, b0 = r.uniform(0.5, 3, 4)
        _close(f_elbo(X=X, t=t, m=m, S=S, xi=xi, a=a, b=b, a0=a0, b0=b0),
               lr.elbo(X, t, m, S, xi, a=a, b=b, a0=a0, b0=b0))
        mi, Si = lr.update_w(X, t, xi, e_alpha=a / b)
        upd = f_w(X=X, t=t, xi=xi, a=a, b=b)
        _close(upd["m"], mi)
        _close(upd["S"], Si)
        ab = f_alpha(m=m, S=S, a0=a0, b0=b0)
        assert ab["a"] == pytest.approx(a0 + m.size / 2, rel=1e-12)
        assert ab["b"] == pytest.approx(b0 + 0.5 * (m @ m + np.trace(S)), rel=1e-12)
