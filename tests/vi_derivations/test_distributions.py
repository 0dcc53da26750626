"""The engine's moment and entropy tables (and model log densities) against sympy.stats.

Every expectation the engine uses comes from a family's moment table; here each entry is
compared with sympy.stats' own expectation (numerical quadrature of the integral sympy.stats
sets up), at parameter values that are not special.  Entropies are checked as
E_q[log q] = E[log density] under sympy.stats.
"""
import numpy as np
import pytest
import sympy as sp
from sympy import Rational as R
from sympy import stats as st

import vi_derivations as vd
from vi_derivations import Model, Plate

TOL = 1e-9


def _stats_E(expr):
    v = st.E(expr, evaluate=False)
    if isinstance(v, st.Expectation):
        v = v.rewrite(sp.Integral)
    return float(sp.N(v, 20))


def _stats_quad(fn, rv, lo, hi):
    """E[fn(X)] by scipy quadrature of sympy.stats' density of X on (lo, hi)."""
    from scipy import integrate
    t = sp.Symbol("t", positive=True)
    dens = sp.lambdify(t, st.density(rv)(t), "mpmath")
    f = sp.lambdify(t, fn(t), "mpmath")
    val, _ = integrate.quad(lambda u: float(f(u) * dens(u)), lo, hi, epsabs=0, epsrel=1e-12, limit=200)
    return val


def _scalar_model(family_factory, q_params):
    """A model with one scalar latent z (and a dummy prior from the same family)."""
    M = Model("moments")
    syms = {n: M.variational(n, positive=pos) for n, pos in q_params}
    z = M.latent("z")
    return M, z, syms


def _engine(expr, M, values):
    e = vd.expect(expr, M)
    return float(sp.N(e.subs(values), 20))


def _neg_entropy(M, values):
    return float(sp.N(vd.log_var(M, constants=True).subs(values), 20))


def test_normal_moments_and_entropy():
    M, z, s = _scalar_model(None, [("m", False), ("v", True)])
    M.factor(z, vd.Normal(0, var=1))
    M.q(z, vd.Normal(s["m"], var=s["v"]))
    vals = {s["m"]: R(1, 3), s["v"]: R(9, 4)}
    Z = st.Normal("Z", R(1, 3), R(3, 2))
    zz = z.symbol
    for e_eng, e_st in [(zz, Z), (zz**2, Z**2), (zz**3, Z**3), (zz**4, Z**4)]:
        assert abs(_engine(e_eng, M, vals) - _stats_E(e_st)) < TOL
    assert abs(_neg_entropy(M, vals) - _stats_E(sp.log(st.density(Z)(Z)))) < TOL


def test_normal_precision_log_density_matches_stats():
    x, mu, tau = sp.symbols("x mu tau", positive=True)
    Z = st.Normal("Z", mu, 1 / sp.sqrt(tau))
    ld = vd.Normal(mu, precision=tau).log_density(x)
    for xv, mv, tv in [(0.3, -1.2, 2.5), (2.0, 0.5, 0.7)]:
        ref = sp.log(st.density(Z)(x)).subs({x: xv, mu: mv, tau: tv})
        assert abs(float(ld.subs({x: xv, mu: mv, tau: tv})) - float(ref)) < TOL


def test_gamma_moments_and_entropy():
    M, t, s = _scalar_model(None, [("a", True), ("b", True)])
    M.factor(t, vd.Gamma(1, 1))
    M.q(t, vd.Gamma(s["a"], s["b"]))
    vals = {s["a"]: R(3, 2), s["b"]: R(2)}
    T = st.Gamma("T", R(3, 2), R(1, 2))  # shape, scale = 1/rate
    tt = t.symbol
    for e_eng, e_st in [(tt, T), (tt**2, T**2), (sp.log(tt), sp.log(T))]:
        assert abs(_engine(e_eng, M, vals) - _stats_E(e_st)) < TOL
    assert abs(_neg_entropy(M, vals) - _stats_E(sp.log(st.density(T)(T)))) < TOL
    # model log density
    x = sp.Symbol("x", positive=True)
    ld = vd.Gamma(R(3, 2), 2).log_density(x)
    assert abs(float(ld.subs(x, 0.7)) - float(sp.log(st.density(T)(x)).subs(x, 0.7))) < TOL


def test_beta_moments_and_entropy():
    M, t, s = _scalar_model(None, [("a", True), ("b", True)])
    M.factor(t, vd.Beta(1, 1))
    M.q(t, vd.Beta(s["a"], s["b"]))
    vals = {s["a"]: R(3, 2), s["b"]: R(5, 2)}
    B = st.Beta("B", R(3, 2), R(5, 2))
    tt = t.symbol
    for e_eng, e_st in [(tt, B), (sp.log(tt), sp.log(B)), (sp.log(1 - tt), sp.log(1 - B))]:
        assert abs(_engine(e_eng, M, vals) - _stats_E(e_st)) < TOL
    assert abs(_neg_entropy(M, vals) - _stats_E(sp.log(st.density(B)(B)))) < TOL


def test_bernoulli_moments_and_entropy():
    M, b, s = _scalar_model(None, [("p", True)])
    M.factor(b, vd.Bernoulli(R(1, 2)))
    M.q(b, vd.Bernoulli(s["p"]))
    p = R(1, 3)
    X = st.Bernoulli("X", p)
    assert abs(_engine(b.symbol, M, {s["p"]: p}) - float(st.E(X))) < TOL
    ref = float(st.E(sp.Piecewise((sp.log(p), sp.Eq(X, 1)), (sp.log(1 - p), True))))
    assert abs(_neg_entropy(M, {s["p"]: p}) - ref) < TOL
    # b^2 = b on the support: the moment of b^3 is p
    assert abs(_engine(b.symbol**3, M, {s["p"]: p}) - float(st.E(X**3))) < TOL


def test_poisson_log_density_matches_stats():
    lam = R(5, 2)
    P = st.Poisson("P", lam)
    x = sp.Symbol("x", integer=True, nonnegative=True)
    ld = vd.Poisson(lam).log_density(x)
    for xv in range(0, 7):
        assert abs(float(sp.exp(ld.subs(x, xv))) - float(st.density(P)(xv))) < TOL


def test_categorical_one_hot_moments_and_entropy():
    K = Plate("K", "k", size=3)
    M = Model("cat")
    pi = M.variational("pi", (K,), positive=True)
    c = M.latent("c", (K,))
    k = K.index
    M.factor(c, vd.Categorical(R(1, 3), event=K))
    M.q(c, vd.Categorical(pi[k], event=K))
    probs = [R(1, 5), R(1, 2), R(3, 10)]
    C = st.FiniteRV("C", {0: probs[0], 1: probs[1], 2: probs[2]})
    vals = {pi[j]: probs[j] for j in range(3)}
    ind = lambda j: sp.Piecewise((1, sp.Eq(C, j)), (0, True))
    for a in range(3):
        assert abs(_engine(c[a], M, vals) - float(st.E(ind(a)))) < TOL
        for b in range(3):
            assert abs(_engine(c[a] * c[b], M, vals) - float(st.E(ind(a) * ind(b)))) < TOL
    ent = float(st.E(sp.Piecewise(*[(sp.log(probs[j]), sp.Eq(C, j)) for j in range(3)])))
    got = float(sp.N(vd.log_var(M, constants=True).doit().subs(vals)))
    assert abs(got - ent) < TOL


def test_dirichlet_moments_match_beta_marginals():
    # Dirichlet(alpha) marginal: theta_k ~ Beta(alpha_k, alpha_0 - alpha_k); K=2 entropy = Beta entropy
    K = Plate("K", "k", size=2)
    M = Model("dir")
    al = M.variational("al", (K,), positive=True)
    th = M.latent("th", (K,))
    k = K.index
    M.factor(th, vd.Dirichlet(1, event=K))
    M.q(th, vd.Dirichlet(al[k], event=K))
    a = [R(3, 2), R(7, 3)]
    vals = {al[0]: a[0], al[1]: a[1]}
    for j in range(2):
        B = st.Beta("B", a[j], sum(a) - a[j])
        assert abs(float(sp.N(vd.expect(sp.log(th[j]), M).doit().subs(vals))) - _stats_quad(sp.log, B, 0, 1)) < TOL
        assert abs(float(sp.N(vd.expect(th[j], M).doit().subs(vals))) - _stats_quad(lambda t: t, B, 0, 1)) < TOL
    B = st.Beta("B", a[0], a[1])
    got = float(sp.N(vd.log_var(M, constants=True).doit().subs(vals)))
    # density of (theta_1, 1 - theta_1) w.r.t. Lebesgue measure on theta_1
    ref = _stats_quad(lambda t: sp.log(st.density(B)(t)), B, 0, 1)
    assert abs(got - ref) < TOL


def test_mvnormal_second_moment_and_entropy():
    J = Plate("J", "j", size=2)
    M = Model("mvn")
    mN = M.variational("mN", (J,))
    V = M.variational("V", (J, J))
    w = M.latent("w", (J,))
    j = J.index
    L0 = M.hyper("L0", (J, J))
    M.factor(w, vd.MvNormal(0, precision=L0, event=J))
    M.q(w, vd.MvNormal(mN[j], cov=V, event=J))
    mean = [R(1, 2), R(-1, 3)]
    cov = sp.Matrix([[R(2), R(1, 2)], [R(1, 2), R(1)]])
    W = st.MultivariateNormal("W", mean, cov)
    vals = {mN[0]: mean[0], mN[1]: mean[1]}
    vals.update({V[a, b]: cov[a, b] for a in range(2) for b in range(2)})
    # reference: sympy.stats' joint density of W, integrated on a fine grid (Simpson)
    from scipy import integrate
    x1, x2 = sp.symbols("x1 x2", real=True)
    dens = st.density(W)(x1, x2)
    grid = np.linspace(-14, 14, 1201)
    X1, X2 = grid[:, None], grid[None, :]
    p = sp.lambdify((x1, x2), dens, "numpy")(X1, X2)
    E = lambda f: integrate.simpson(integrate.simpson(f * p, x=grid, axis=1), x=grid)
    coords = [X1 + 0 * X2, X2 + 0 * X1]
    for a in range(2):
        assert abs(float(sp.N(vd.expect(w[a], M).subs(vals))) - E(coords[a])) < 1e-8
        for b in range(2):
            got = float(sp.N(vd.expect(w[a] * w[b], M).subs(vals)))
            assert abs(got - E(coords[a] * coords[b])) < 1e-8
    # entropy: E_q[log q] = -J/2 (1 + log 2 pi) - 1/2 log det V, versus the same integral
    with np.errstate(divide="ignore", invalid="ignore"):
        ref = E(np.where(p > 0, np.log(np.where(p > 0, p, 1.0)), 0.0))
    from vi_derivations.numeric import compile_expr
    g = compile_expr(vd.log_var(M, constants=True), M)
    got = g(mN=np.array([0.5, -1 / 3]), V=np.array(cov, dtype=float))
    assert abs(got - ref) < 1e-7
