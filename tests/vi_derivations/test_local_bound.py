"""Local variational bounds (:mod:`vi_derivations.local_bound`): the Jaakkola-Jordan bound itself,
checked with NumPy/SciPy and not with the engine's expression; the opt-in (a BernoulliLogit
likelihood without a bound is refused by name); the derived xi update is a maximiser of the
engine's bound-ELBO (finite differences); and a factorised Normal q(w) works with the bound."""
import numpy as np
import pytest
import sympy as sp
from scipy.special import expit, log_expit
from sympy import Sum

import vi_derivations as vd
from vi_derivations.local_bound import BernoulliLogit, JaakkolaJordan, derive_bound_update

S_GRID = np.concatenate([-np.geomspace(1e-3, 80, 60), [0.0], np.geomspace(1e-3, 80, 60)])
XI_GRID = np.geomspace(1e-3, 80, 70)


def independent_bound(s, xi):
    """log sigma(xi) + (s - xi)/2 - lambda(xi)(s^2 - xi^2), lambda = (sigma(xi) - 1/2)/(2 xi)."""
    lam = (expit(xi) - 0.5) / (2 * xi)
    return log_expit(xi) + (s - xi) / 2 - lam * (s ** 2 - xi ** 2)


def engine_bound():
    s, x = sp.symbols("s x", real=True)
    return sp.lambdify((s, x), JaakkolaJordan(sp.Symbol("xi")).lower(s, x), "numpy")


def test_the_bound_is_below_log_sigmoid_everywhere_and_tight_at_xi_equal_abs_s():
    s, xi = np.meshgrid(S_GRID, XI_GRID)
    gap = log_expit(s) - independent_bound(s, xi)
    assert np.all(gap >= -1e-12 * np.maximum(1.0, np.abs(log_expit(s))))
    assert gap.max() > 1.0                       # the check can fail: the bound is not trivially tight
    s1 = S_GRID[S_GRID != 0]
    tight = log_expit(s1) - independent_bound(s1, np.abs(s1))
    assert np.max(np.abs(tight)) <= 1e-12 * max(1.0, np.abs(log_expit(s1)).max())


def test_the_engines_bound_is_the_jaakkola_jordan_bound():
    f = engine_bound()
    s, xi = np.meshgrid(S_GRID, XI_GRID)
    ref = independent_bound(s, xi)
    assert np.max(np.abs(f(s, xi) - ref)) <= 1e-9 * np.abs(ref).max()
    assert np.all(f(s, xi) <= log_expit(s) + 1e-9)


def _model(bound=True, q="MvNormal"):
    N, D = vd.Plate("N", "n"), vd.Plate("D", "j")
    n, j = N.index, D.index
    M = vd.Model("lr")
    X = M.covariate("X", (N, D))
    w, t = M.latent("w", (D,)), M.observed("t", (N,))
    M.factor(w, vd.Normal(0, var=M.hyper("v0")))
    l = D.fresh()
    M.factor(t, BernoulliLogit(Sum(X[n, l] * w[l], (l, l.lower, l.upper))))
    if bound:
        M.local_bound(t, JaakkolaJordan(M.variational("xi", (N,), positive=True)))
    if q == "MvNormal":
        M.q(w, vd.MvNormal(M.variational("m", (D,))[j], cov=M.variational("S", (D, D)), event=D))
    else:
        M.q(w, vd.Normal(M.variational("m", (D,))[j], var=M.variational("s2", (D,), positive=True)[j]))
    return M


def test_without_the_bound_the_logistic_likelihood_is_refused_by_name():
    with pytest.raises(vd.NonConjugateError, match=r"factor p\(t \| w\), variable t: the term .*exp.*w"):
        vd.derive(_model(bound=False))


def test_a_scalar_logit_without_the_bound_is_refused_by_name():
    N = vd.Plate("N", "n")
    M = vd.Model("lr1")
    u = M.covariate("u", (N,))
    w, t = M.latent("w"), M.observed("t", (N,))
    M.factor(w, vd.Normal(0, var=1))
    M.factor(t, BernoulliLogit(w.symbol * u[N.index]))
    M.q(w, vd.Normal(M.variational("mw"), var=M.variational("sw", positive=True)))
    with pytest.raises(vd.NonConjugateError, match=r"q\(w\).*p\(t \| w\).*exp"):
        vd.update(M, "w")


def test_other_non_conjugate_terms_stay_refused_with_a_bound_in_the_model():
    """A bound on the logistic term does not make a latent variance conjugate to a Normal q."""
    M = _model()
    v = M.latent("v")
    M.factor(v, vd.Gamma(2, 1))
    y = M.observed("y", (M.plates[0],))
    M.factor(y, vd.Normal(0, var=v.symbol))
    M.q(v, vd.Normal(M.variational("mv"), var=M.variational("sv", positive=True)))
    with pytest.raises(vd.NonConjugateError, match=r"q\(v\)"):
        vd.update(M, "v")


def test_a_bound_does_not_make_a_logit_that_is_not_linear_in_w_conjugate():
    """With the bound in place, eta = exp(w) u_n gives eta^2 = exp(2 w) u_n^2: refused, naming q(w)."""
    N = vd.Plate("N", "n")
    M = vd.Model("lr_exp")
    u = M.covariate("u", (N,))
    w, t = M.latent("w"), M.observed("t", (N,))
    M.factor(w, vd.Normal(0, var=1))
    M.factor(t, BernoulliLogit(sp.exp(w.symbol) * u[N.index]))
    M.local_bound(t, JaakkolaJordan(M.variational("xi", (N,), positive=True)))
    M.q(w, vd.Normal(M.variational("mw"), var=M.variational("sw", positive=True)))
    with pytest.raises(vd.NonConjugateError, match=r"q\(w\).*p\(t \| w\).*exp\(w\)"):
        vd.update(M, "w")


def test_a_bound_with_a_q_family_that_has_no_square_is_refused_by_name():
    N = vd.Plate("N", "n")
    M = vd.Model("lr_gamma")
    u = M.covariate("u", (N,))
    w, t = M.latent("w"), M.observed("t", (N,))
    M.factor(w, vd.Gamma(2, 1))
    M.factor(t, BernoulliLogit(w.symbol * u[N.index]))
    M.local_bound(t, JaakkolaJordan(M.variational("xi", (N,), positive=True)))
    M.q(w, vd.Gamma(M.variational("a", positive=True), M.variational("b", positive=True)))
    with pytest.raises(vd.NonConjugateError, match=r"q\(w\).*p\(t \| w\).*w\*\*2"):
        vd.update(M, "w")


def test_bad_bounds_are_refused_by_name():
    N = vd.Plate("N", "n")
    M = vd.Model("bad")
    w, y = M.latent("w"), M.observed("y", (N,))
    M.factor(w, vd.Normal(0, var=1))
    M.factor(y, vd.Normal(w.symbol, var=1))
    xi = M.variational("xi", (N,), positive=True)
    with pytest.raises(vd.UnsupportedModelError, match=r"local_bound for 'y'.*Normal"):
        M.local_bound(y, JaakkolaJordan(xi))
    M2 = _model(bound=False)
    with pytest.raises(ValueError, match=r"local_bound for 't'.*plates"):
        M2.local_bound(M2.var("t"), JaakkolaJordan(M2.variational("xi", ())))
    with pytest.raises(ValueError, match=r"local_bound for 't'.*variational parameter"):
        M2.local_bound(M2.var("t"), JaakkolaJordan(M2.var("X").symbol))
    M3 = _model()
    with pytest.raises(ValueError, match="already"):
        M3.local_bound(M3.var("t"), JaakkolaJordan(M3.variational("xi2", (M3.plates[0],), positive=True)))
    with pytest.raises(TypeError, match="xi"):
        JaakkolaJordan(1.5)
    M4 = vd.Model("reuse")
    u = M4.covariate("u", (N,))
    w4, t4, v4 = M4.latent("w"), M4.observed("t", (N,)), M4.latent("v", (N,))
    M4.factor(w4, vd.Normal(0, var=1))
    M4.factor(v4, vd.Normal(0, var=1))
    M4.factor(t4, BernoulliLogit(w4.symbol * u[N.index] + v4[N.index]))
    xi4 = M4.variational("xi", (N,), positive=True)
    M4.local_bound(t4, JaakkolaJordan(xi4))
    with pytest.raises(ValueError, match=r"q factor for 'v': xi is the parameter of a local bound"):
        M4.q(v4, vd.Normal(xi4[N.index], var=1))


def _data(rng, N=12, D=3):
    X = rng.normal(size=(N, D))
    t = (rng.random(N) < expit(X @ rng.normal(size=D))).astype(float)
    return X, t


@pytest.mark.parametrize("q", ["MvNormal", "Normal"])
def test_the_derived_xi_update_maximises_the_bound_elbo(q):
    """Finite differences of the engine's bound-ELBO in each xi_n vanish at the update, and moving
    any xi_n away from it lowers the bound-ELBO."""
    rng = np.random.default_rng(3)
    M = _model(q=q)
    X, t = _data(rng)
    N, D = X.shape
    data = dict(X=X, t=t, v0=2.0)
    if q == "MvNormal":
        A = rng.normal(size=(D, D))
        params = dict(m=rng.normal(size=D), S=A @ A.T / D + 0.3 * np.eye(D))
    else:
        params = dict(m=rng.normal(size=D), s2=rng.uniform(0.2, 1.0, D))
    xi = derive_bound_update(M, "xi").numeric()(X=X, **params)["xi"]
    assert xi.shape == (N,) and np.all(xi > 0)
    elbo = vd.to_numpy(vd.elbo(M, constants=True), M)
    L0 = elbo(**data, **params, xi=xi)
    h = 1e-5
    for k in range(N):
        e = np.zeros(N)
        e[k] = h
        up, down = elbo(**data, **params, xi=xi + e), elbo(**data, **params, xi=xi - e)
        assert abs(up - down) / (2 * h) <= 1e-6 * max(1.0, abs(L0))
        for step in (0.05, -0.05):
            e[k] = step * xi[k]
            assert elbo(**data, **params, xi=xi + e) < L0


def test_factorised_normal_q_with_the_bound_ascends_and_stays_below_the_full_covariance_optimum():
    rng = np.random.default_rng(5)
    X, t = _data(rng, N=25, D=3)
    data = dict(X=X, t=t, v0=1.5)
    full = vd.cavi(_model()).run(data, dict(xi=np.ones(len(t))), tol=1e-13, max_iter=500)
    mf = vd.cavi(_model(q="Normal")).run(data, dict(xi=np.ones(len(t)), m=np.zeros(3)), tol=0, max_iter=40)
    for res in (full, mf):
        assert np.all(np.diff(res.elbo) >= -1e-10 * np.abs(res.elbo[1:]))
    assert mf.elbo[-1] <= full.elbo[-1] + 1e-9 * abs(full.elbo[-1])
    assert full.elbo[-1] - mf.elbo[-1] > 1e-6        # correlated X: the mean field is strictly worse
    # both ends at stationary xi: xi_n^2 = E[(w^T x_n)^2] under each q, computed here with NumPy
    e_full = np.einsum("nj,jl,nl->n", X, full["S"] + np.outer(full["m"], full["m"]), X)
    e_mf = (X @ mf["m"]) ** 2 + (X ** 2) @ mf["s2"]
    np.testing.assert_allclose(full["xi"] ** 2, e_full, rtol=1e-10)
    np.testing.assert_allclose(mf["xi"] ** 2, e_mf, rtol=1e-10)


def test_the_derivation_shows_the_bound_as_a_step_and_says_the_elbo_is_a_bound():
    M = _model()
    d = vd.derive(M)
    rel = [s.relation for s in d.chains["log_joint"].steps]
    assert rel[1] == ">=" and "\\geq" in d.chains["log_joint"].latex()
    assert d.chains["elbo"].steps[0].relation == ">=" and "bound-ELBO" in d.chains["elbo"].steps[0].text
    assert {"bound_terms_xi", "update_xi"} <= set(d.chains)
    assert any(getattr(u, "var", None) == "xi" for u in d.updates)


def test_the_chain_checker_rejects_a_reversed_bound():
    """The checker's '>=' holds for log p >= log h and fails for the reversed claim log h >= log p."""
    from vi_derivations.chain_check import check_chain
    from vi_derivations.derivation import Chain, Step
    M = _model()
    exact, bound = [s.expr for s in vd.derive(M).chains["log_joint"].steps[:2]]
    ok = check_chain(M, "bound", Chain("", sp.Symbol("L"), [Step("", exact), Step("", bound, ">=")]))
    bad = check_chain(M, "reversed", Chain("", sp.Symbol("L"), [Step("", bound), Step("", exact, ">=")]))
    assert ok[0].checked and ok[0].ok
    assert bad[0].checked and not bad[0].ok


def test_a_scalar_weight_gets_a_positive_xi_and_a_bound_below_the_evidence():
    """logit = w u_n with a scalar w: the moments enter through q's own parameters (no plate
    sum), and xi_n = sqrt(u_n^2 E[w^2]) must stay positive for negative u_n (the unsquared root
    u_n sqrt(E[w^2]) is a stationary point too). The fitted bound-ELBO lies below the log
    evidence by quadrature, and xi is at its stationary point."""
    from scipy import integrate
    N = vd.Plate("N", "n")
    M = vd.Model("logistic_scalar")
    u = M.covariate("u", (N,))
    w, t = M.latent("w"), M.observed("t", (N,))
    M.factor(w, vd.Normal(0, var=1))
    M.factor(t, BernoulliLogit(w.symbol * u[N.index]))
    M.local_bound(t, JaakkolaJordan(M.variational("xi", (N,), positive=True)))
    M.q(w, vd.Normal(M.variational("mw"), var=M.variational("sw", positive=True)))
    rng = np.random.default_rng(0)
    uu = rng.normal(size=40)
    tt = (rng.random(40) < expit(1.5 * uu)).astype(float)
    res = vd.cavi(M).run({"u": uu, "t": tt}, {"xi": np.ones(40)}, max_iter=300, tol=1e-13)
    xi, m, s2 = res.params["xi"], res.params["mw"], res.params["sw"]
    assert (xi > 0).all() and (uu < 0).any()
    np.testing.assert_allclose(xi ** 2, uu ** 2 * (m ** 2 + s2), rtol=1e-12)
    assert (np.diff(res.elbo) >= -1e-10 * np.abs(res.elbo[1:])).all()
    evidence, _ = integrate.quad(lambda v: np.exp(
        np.sum(tt * log_expit(v * uu) + (1 - tt) * log_expit(-v * uu)) - v * v / 2)
        / np.sqrt(2 * np.pi), -20, 20, limit=200)
    assert res.elbo[-1] < np.log(evidence) < res.elbo[-1] + 1.0
