"""The engine's logistic regression by the Jaakkola-Jordan bound against the hand-written twin
(vi_impl.models.logistic_regression), and its bound-ELBO against the exact log evidence computed
by two-dimensional quadrature (scipy.integrate.simpson on a fine grid) on tiny data."""
import numpy as np
import pytest
from scipy import integrate
from scipy.special import expit, log_expit

import vi_derivations as vd
from vi_derivations.local_bound import derive_bound_update
from vi_impl.models import logistic_regression as impl

RTOL = 1e-10


@pytest.fixture(scope="module")
def M():
    return vd.models.load("logistic_regression")


def rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert a.shape == b.shape
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def problem(seed, N=15, D=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, D))
    t = (rng.random(N) < expit(X @ rng.normal(size=D))).astype(float)
    m0, v0 = rng.normal(size=D), rng.uniform(0.5, 3.0, D)
    A = rng.normal(size=(D, D))
    return X, t, m0, v0, dict(m=rng.normal(size=D), S=A @ A.T / D + 0.2 * np.eye(D),
                              xi=rng.uniform(0.2, 3.0, N))


@pytest.mark.parametrize("seed", range(3))
def test_updates_and_bound_elbo_equal_the_twin(M, seed):
    X, t, m0, v0, p = problem(seed)
    new = vd.update(M, "w").numeric()(X=X, t=t, m0=m0, v0=v0, xi=p["xi"])
    m, S = impl.update_w(X, t, p["xi"], m0=m0, S0=np.diag(v0))
    assert rel(new["m"], m) <= RTOL and rel(new["S"], S) <= RTOL
    xi = derive_bound_update(M, "xi").numeric()(X=X, m=p["m"], S=p["S"])["xi"]
    assert rel(xi, impl.update_xi(X, p["m"], p["S"])) <= RTOL
    L = vd.cavi(M).elbo(dict(X=X, t=t, m0=m0, v0=v0), p)
    ref = impl.elbo(X, t, p["m"], p["S"], p["xi"], m0=m0, S0=np.diag(v0))
    assert abs(L - ref) <= RTOL * abs(ref)


def test_generated_cavi_follows_the_twin_and_never_decreases(M):
    X, t, m0, v0, _ = problem(7, N=40)
    res = vd.cavi(M).run(dict(X=X, t=t, m0=m0, v0=v0), dict(xi=np.ones(len(t))), tol=0, max_iter=40)
    hand = impl.fit(X, t, m0=m0, S0=np.diag(v0), tol=0, max_iter=40)
    assert rel(res.elbo, hand.elbo) <= RTOL
    for k in ("m", "S", "xi"):
        assert rel(res[k], hand.params[k]) <= 1e-8, k
    assert np.all(np.diff(res.elbo) >= -1e-10 * np.abs(res.elbo[1:]))
    assert res.elbo[-1] - res.elbo[0] > 1e-3          # the check can fail: the bound really moves


def log_evidence(X, t, m0, v0, n=401):
    """log p(t) = log of the integral over w in R^2 of p(w) p(t | w): composite Simpson rule
    (scipy.integrate.simpson) on an n x n grid over +-10 prior standard deviations, the
    integrand scaled by its largest value on the grid."""
    sd = np.sqrt(v0)
    g1 = np.linspace(m0[0] - 10 * sd[0], m0[0] + 10 * sd[0], n)
    g2 = np.linspace(m0[1] - 10 * sd[1], m0[1] + 10 * sd[1], n)
    W1, W2 = np.meshgrid(g1, g2, indexing="ij")
    lp = -0.5 * ((W1 - m0[0]) ** 2 / v0[0] + (W2 - m0[1]) ** 2 / v0[1] + np.log(4 * np.pi ** 2 * v0[0] * v0[1]))
    s = W1[..., None] * X[:, 0] + W2[..., None] * X[:, 1]
    logf = lp + np.sum(t * log_expit(s) + (1 - t) * log_expit(-s), axis=-1)
    c = logf.max()
    return c + np.log(integrate.simpson(integrate.simpson(np.exp(logf - c), x=g2, axis=1), x=g1))


def test_quadrature_is_converged():
    rng = np.random.default_rng(2)
    X, t = rng.normal(size=(5, 2)), np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    m0, v0 = np.zeros(2), np.array([4.0, 2.0])
    assert abs(log_evidence(X, t, m0, v0) - log_evidence(X, t, m0, v0, n=201)) <= 1e-9


def test_bound_elbo_is_below_the_exact_evidence_and_the_gap_shrinks_where_the_bound_is_tight(M):
    """A narrower prior concentrates q(w), so E[(w^T x)^2] approaches (m^T x)^2 and the bound on
    every logistic term becomes tight: the gap log p(t) - L(q, xi) shrinks towards 0."""
    rng = np.random.default_rng(11)
    X = rng.normal(size=(6, 2)) * 1.5
    t = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.0])
    m0 = np.array([0.3, -0.2])
    g = vd.cavi(M)
    gaps = []
    for scale in (4.0, 1.0, 0.1, 0.01):
        v0 = scale * np.array([1.0, 0.7])
        res = g.run(dict(X=X, t=t, m0=m0, v0=v0), dict(xi=np.ones(6)), tol=1e-14, max_iter=2000)
        gaps.append(log_evidence(X, t, m0, v0) - res.elbo[-1])
    assert all(gap > 0 for gap in gaps), gaps
    assert all(a > b for a, b in zip(gaps, gaps[1:])), gaps
    assert gaps[-1] < 1e-2 * gaps[0], gaps
