"""The Wishart family, the Gaussian with a random precision matrix and the joint Normal–Wishart
factor (:mod:`vi_derivations.wishart`) against scipy.stats: log densities with every constant,
moments (scipy's mean, Monte Carlo within 4 standard errors), entropies (scipy's), and the
named refusals of what the moment and statistic tables do not hold."""
import numpy as np
import pytest
import sympy as sp
from scipy import stats

import vi_derivations as vd
from vi_derivations import Model, MvNormal, Normal, NonConjugateError, Plate, UnsupportedExpectationError
from vi_derivations.distributions import LogDet
from vi_derivations.wishart import MvNormalPrecision, NormalWishart, Wishart, matrix_plate

S = 40_000


def _spd(rng, D):
    A = rng.normal(size=(D, D))
    return A @ A.T / D + 0.5 * np.eye(D)


def _model(joint):
    """Lambda_k ~ W(W0, nu0), mu_k | Lambda_k ~ N(m0, (beta0 Lambda_k)^-1), x_i ~ N(mu_1, Lambda_1^-1);
    q = Normal–Wishart (``joint``) or q(Lambda) Wishart, q(mu) a full-covariance Gaussian."""
    N, K, D = Plate("N", "i"), Plate("K", "k"), Plate("D", "d")
    E = matrix_plate(D, "E", "e")
    k, d, e = K.index, D.index, E.index
    M = Model("wishart_test")
    W0, nu0 = M.hyper("W0", (D, E), positive=False), M.hyper("nu0")
    m0, beta0 = M.hyper("m0", (D,), positive=False), M.hyper("beta0")
    Lam, mu = M.latent("Lambda", (K, D, E)), M.latent("mu", (K, D))
    x = M.observed("x", (N, D))
    M.factor(Lam, Wishart(W0[d, e], nu0, event=(D, E)))
    M.factor(mu, MvNormalPrecision(m0[d], Lam[k, d, e], event=(D, E), scale=beta0))
    M.factor(x, MvNormalPrecision(mu[0, d], Lam[0, d, e], event=(D, E)))
    W, nu = M.variational("W", (K, D, E)), M.variational("nu", (K,), positive=True)
    m = M.variational("m", (K, D))
    if joint:
        beta = M.variational("beta", (K,), positive=True)
        nw = NormalWishart(m[k, d], beta[k], W[k, d, e], nu[k], event=(D, E))
        M.q(mu, nw.normal)
        M.q(Lam, nw.wishart)
    else:
        V = M.variational("V", (K, D, D))
        M.q(mu, MvNormal(m[k, d], cov=V, event=D))
        M.q(Lam, Wishart(W[k, d, e], nu[k], event=(D, E)))
    return M, (k, d, e), (Lam.symbol, mu.symbol)


@pytest.fixture(scope="module")
def joint():
    return _model(True)


@pytest.fixture(scope="module")
def mean_field():
    return _model(False)


def _params(rng, K=2, D=3):
    return dict(W=np.array([_spd(rng, D) for _ in range(K)]), nu=rng.uniform(D + 0.5, D + 4, K),
                m=rng.normal(size=(K, D)), beta=rng.uniform(0.5, 3, K))


def test_wishart_log_density_has_every_constant():
    """The engine's log W(Lambda | W, nu) equals scipy.stats.wishart.logpdf."""
    rng = np.random.default_rng(0)
    M, (k, d, e), (Lam, _) = _model(False)
    fam = M.qfactors["Lambda"].dist
    f = vd.to_numpy(fam.log_density(Lam[k, d, e]), M, out=(k,))
    for D in (1, 2, 4):
        p = _params(rng, D=D)
        L = np.array([_spd(rng, D) for _ in range(2)])
        got = f(W=p["W"], nu=p["nu"], Lambda=L)
        want = [stats.wishart(df=p["nu"][j], scale=p["W"][j]).logpdf(L[j]) for j in range(2)]
        np.testing.assert_allclose(got, want, rtol=1e-11)


def test_precision_normal_log_density_has_every_constant(joint):
    """log N(mu | m0, (beta0 Lambda)^-1) as the engine writes it equals scipy's."""
    M, (k, d, e), (Lam, mu) = joint
    f_mu = next(fa for fa in M.factors if fa.var.name == "mu")
    g = vd.to_numpy(f_mu.dist.log_density(mu[k, d]), M, out=(k,))
    rng = np.random.default_rng(1)
    D = 3
    L, mv, m0 = np.array([_spd(rng, D) for _ in range(2)]), rng.normal(size=(2, D)), rng.normal(size=D)
    got = g(Lambda=L, mu=mv, m0=m0, beta0=1.7)
    want = [stats.multivariate_normal(m0, np.linalg.inv(1.7 * L[j])).logpdf(mv[j]) for j in range(2)]
    np.testing.assert_allclose(got, want, rtol=1e-11)


def test_wishart_mean_log_det_and_entropy_against_scipy(mean_field):
    """E[Lambda] = scipy's mean; E[log|Lambda|] within 4 standard errors of a Monte Carlo
    average over scipy's draws; E_q[log q] = -scipy's entropy."""
    M, (k, d, e), (Lam, _) = mean_field
    rng = np.random.default_rng(2)
    p = _params(rng)
    mean = vd.to_numpy(vd.expect(Lam[k, d, e], M), M, out=(k, d, e))(W=p["W"], nu=p["nu"])
    eld = vd.to_numpy(vd.expect(LogDet(Lam, k), M), M, out=(k,))(W=p["W"], nu=p["nu"])
    neg_h = vd.to_numpy(M.qfactors["Lambda"].dist.neg_entropy(), M, out=(k,))(W=p["W"], nu=p["nu"])
    for j in range(2):
        w = stats.wishart(df=p["nu"][j], scale=p["W"][j])
        np.testing.assert_allclose(mean[j], w.mean(), rtol=1e-12)
        ld = np.linalg.slogdet(w.rvs(S, random_state=rng))[1]
        assert abs(ld.mean() - eld[j]) < 4 * ld.std() / np.sqrt(S)
        np.testing.assert_allclose(neg_h[j], -w.entropy(), rtol=1e-11)


def _draw_nw(p, j, rng, n=S):
    L = stats.wishart(df=p["nu"][j], scale=p["W"][j]).rvs(n, random_state=rng)
    C = np.linalg.cholesky(np.linalg.inv(p["beta"][j] * L))
    return p["m"][j] + np.einsum("sde,se->sd", C, rng.standard_normal((n, L.shape[-1]))), L


def test_normal_wishart_moments_against_monte_carlo(joint):
    """E[mu^T Lambda mu], E[(Lambda mu)_d] and E[log|Lambda|] of the joint factor against
    Monte Carlo draws mu | Lambda ~ N(m, (beta Lambda)^-1), Lambda ~ scipy's Wishart."""
    M, (k, d, e), (Lam, mu) = joint
    rng = np.random.default_rng(3)
    p = _params(rng)
    quad = sp.Sum(mu[k, d] * Lam[k, d, e] * mu[k, e], (d, 0, d.upper), (e, 0, e.upper))
    lmu = sp.Sum(Lam[k, d, e] * mu[k, e], (e, 0, e.upper))
    fq = vd.to_numpy(vd.expect(quad, M), M, out=(k,))(**p)
    fl = vd.to_numpy(vd.expect(lmu, M), M, out=(k, d))(**p)
    for j in range(2):
        m_s, L_s = _draw_nw(p, j, rng)
        q_s = np.einsum("sd,sde,se->s", m_s, L_s, m_s)
        assert abs(q_s.mean() - fq[j]) < 4 * q_s.std() / np.sqrt(S)
        l_s = np.einsum("sde,se->sd", L_s, m_s)
        z = np.abs(l_s.mean(0) - fl[j]) / (l_s.std(0) / np.sqrt(S))
        assert np.all(z < 4), z


def test_normal_wishart_entropy_is_minus_mean_log_density(joint):
    """E_q[log q(mu, Lambda)] (sum of the two parts) equals the Monte Carlo mean of scipy's
    log N(mu | m, (beta Lambda)^-1) + log W(Lambda | W, nu)."""
    M, (k, d, e), _ = joint
    rng = np.random.default_rng(4)
    p = _params(rng)
    neg_h = sum(vd.to_numpy(M.qfactors[n].dist.neg_entropy(), M, out=(k,))(**p) for n in ("mu", "Lambda"))
    for j in range(2):
        m_s, L_s = _draw_nw(p, j, rng, 4000)
        lq = np.array([stats.multivariate_normal(p["m"][j], np.linalg.inv(p["beta"][j] * L)).logpdf(mm)
                       for mm, L in zip(m_s, L_s)])
        lq += stats.wishart(df=p["nu"][j], scale=p["W"][j]).logpdf(np.moveaxis(L_s, 0, -1))
        assert abs(lq.mean() - neg_h[j]) < 4 * lq.std() / np.sqrt(len(lq))


def test_mean_field_wishart_and_gaussian_updates_are_derived(mean_field):
    """With q(mu) q(Lambda) factorised, the engine derives a Wishart and a Gaussian update
    (the contracted quadratic form is not needed: E[mu_d mu_e] E[Lambda_de] entrywise)."""
    M = mean_field[0]
    ups = {u.var: u for u in vd.derive_updates(M)}
    assert ups["Lambda"].family.name == "Wishart" and set(ups["Lambda"].params) == {"scale", "dof"}
    assert ups["mu"].family.name == "MvNormal"


def test_refusals_name_the_term(joint, mean_field):
    M, (k, d, e), (Lam, mu) = joint
    d2 = d.__class__(sp.Symbol("d2", integer=True), (0, d.upper))
    with pytest.raises(UnsupportedExpectationError, match="Wishart"):
        vd.expect(Lam[k, d, e] * Lam[k, d, e], mean_field[0])          # second moments: not in the table
    with pytest.raises(UnsupportedExpectationError, match="NormalWishart"):
        vd.expect(mu[k, d] * mu[k, e] * Lam[k, d, e], M)                # entrywise, not summed
    with pytest.raises(UnsupportedExpectationError, match="NormalWishart"):
        vd.expect(mu[k, d] * mu[k, d2], M)                             # mu mu without Lambda
    # a prior that puts mu^2 (without Lambda) into log p: no Normal–Wishart statistic
    N, K, D = Plate("N", "i"), Plate("K", "k"), Plate("D", "d")
    E = matrix_plate(D, "E", "e")
    k, d, e = K.index, D.index, E.index
    B = Model("bad")
    Lam2, mu2 = B.latent("Lambda", (K, D, E)), B.latent("mu", (K, D))
    x = B.observed("x", (N, D))
    B.factor(Lam2, Wishart(B.hyper("W0", (D, E), positive=False)[d, e], B.hyper("nu0"), event=(D, E)))
    B.factor(mu2, Normal(0, var=1))
    B.factor(x, MvNormalPrecision(mu2[0, d], Lam2[0, d, e], event=(D, E)))
    nw = NormalWishart(B.variational("m", (K, D))[k, d], B.variational("beta", (K,))[k],
                       B.variational("W", (K, D, E))[k, d, e], B.variational("nu", (K,))[k], event=(D, E))
    B.q(mu2, nw.normal)
    B.q(Lam2, nw.wishart)
    with pytest.raises(NonConjugateError, match=r"mu\[k, d\]\*\*2|statistics"):
        vd.derive_update(B, "mu")


def test_malformed_declarations_are_refused():
    D = Plate("D", "d")
    E = matrix_plate(D, "E", "e")
    W0 = sp.IndexedBase("W0")
    with pytest.raises(ValueError, match="column plate"):
        Wishart(W0[D.index, E.index], 3, event=(D, D))
    with pytest.raises(ValueError, match="scale"):
        Wishart(W0[E.index, D.index], 3, event=(D, E))
    J = Plate("J", "j", 2)
    J2 = matrix_plate(J, "J2", "j2")
    with pytest.raises(ValueError, match="dof"):
        Wishart(W0[J.index, J2.index], 0.5, event=(J, J2))


def test_a_weighted_quadratic_form_is_refused_by_name():
    """x ~ N(diag(c) mu, Lambda^-1) puts c_d mu_d Lambda_de c_e mu_e into log p: not a multiple of
    mu^T Lambda mu, so the Normal–Wishart update is refused, naming the factor and the term."""
    N, D = Plate("N", "i"), Plate("D", "d")
    E = matrix_plate(D, "E", "e")
    d, e = D.index, E.index
    B = Model("weighted")
    c = B.hyper("c", (D,))
    Lam, mu = B.latent("Lambda", (D, E)), B.latent("mu", (D,))
    x = B.observed("x", (N, D))
    B.factor(Lam, Wishart(B.hyper("W0", (D, E), positive=False)[d, e], B.hyper("nu0"), event=(D, E)))
    B.factor(mu, MvNormalPrecision(B.hyper("m0", (D,), positive=False)[d], Lam[d, e], event=(D, E),
                                   scale=B.hyper("beta0")))
    B.factor(x, MvNormalPrecision(c[d] * mu[d], Lam[d, e], event=(D, E)))
    nw = NormalWishart(B.variational("m", (D,))[d], B.variational("beta"), B.variational("W", (D, E))[d, e],
                       B.variational("nu"), event=(D, E))
    B.q(mu, nw.normal)
    B.q(Lam, nw.wishart)
    with pytest.raises(NonConjugateError, match=r"p\(x \| Lambda, mu\).*not a multiple of the statistic"):
        vd.derive_update(B, "Lambda")
