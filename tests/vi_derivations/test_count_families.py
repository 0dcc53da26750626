"""Exponential, Binomial and Multinomial: log densities against scipy.stats, and their conjugate
updates giving the exact posterior (ELBO = log evidence computed by quadrature or a Polya urn)."""
import numpy as np
import pytest
import scipy.integrate as si
import scipy.stats as st
import sympy as sp
from scipy.special import gammaln

import vi_derivations as vd


def _value(fam, var, x, params):
    expr = fam.log_density(var.element if var.plates else var.symbol)
    return float(sp.N(expr.doit().xreplace(params | x)))


def test_log_densities_match_scipy():
    M = vd.Model("dens")
    lam, n, p = sp.symbols("lam n p", positive=True)
    x = M.observed("x")
    assert _value(vd.Exponential(lam), x, {x.symbol: 0.7}, {lam: 1.3}) == pytest.approx(
        st.expon.logpdf(0.7, scale=1 / 1.3), rel=1e-12)
    assert _value(vd.Binomial(5, p), x, {x.symbol: 2}, {p: 0.3}) == pytest.approx(
        st.binom.logpmf(2, 5, 0.3), rel=1e-12)
    V = vd.Plate("V", "v", size=3)
    M2 = vd.Model("mult")
    pr = M2.hyper("pr", (V,))
    y = M2.observed("y", (V,))
    fam = vd.Multinomial(pr[V.index], event=V)
    fam.check_value(y)
    expr = fam.log_density(y.element).doit()
    vals = {y.symbol[j]: c for j, c in enumerate([2, 0, 3])} | {pr[j]: q for j, q in enumerate([0.2, 0.5, 0.3])}
    assert float(sp.N(expr.xreplace(vals))) == pytest.approx(st.multinomial.logpmf([2, 0, 3], 5, [0.2, 0.5, 0.3]),
                                                             rel=1e-12)


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="rate"):
        vd.Exponential(-1)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        vd.Binomial(2.5, 0.3)
    with pytest.raises(ValueError, match="event"):
        vd.Multinomial(0.5, event="V")


def test_exponential_likelihood_with_exponential_prior_is_exact():
    N = vd.Plate("N", "i")
    M = vd.Model("exp_exp")
    lam, y = M.latent("lam"), M.observed("y", (N,))
    M.factor(lam, vd.Exponential(M.hyper("b0")))
    M.factor(y, vd.Exponential(lam.symbol))
    M.q(lam, vd.Gamma(M.variational("a", positive=True), M.variational("b", positive=True)))
    Y = np.array([0.3, 1.2, 0.8, 2.0])
    res = vd.cavi(M).run(dict(y=Y, b0=1.5), {}, max_iter=3)
    f = lambda t: np.exp(st.expon.logpdf(t, scale=1 / 1.5) + st.expon.logpdf(Y, scale=1 / t).sum())
    exact = np.log(si.quad(f, 0, np.inf, epsabs=0, epsrel=1e-12)[0])
    assert res.elbo[-1] == pytest.approx(exact, rel=1e-9)


def test_beta_binomial_and_dirichlet_multinomial_are_exact():
    N, V = vd.Plate("N", "i"), vd.Plate("V", "v")
    M = vd.Model("beta_binomial")
    th, x = M.latent("th"), M.observed("x", (N,))
    M.factor(th, vd.Beta(2, 3))
    M.factor(x, vd.Binomial(M.hyper("n", (N,))[N.index], th.symbol))
    M.q(th, vd.Beta(M.variational("a", positive=True), M.variational("b", positive=True)))
    nn, X = np.array([3.0, 5, 2]), np.array([1.0, 4, 2])
    res = vd.cavi(M).run(dict(x=X, n=nn), {}, max_iter=3)
    f = lambda t: np.exp(st.beta.logpdf(t, 2, 3) + st.binom.logpmf(X, nn, t).sum())
    assert res.elbo[-1] == pytest.approx(np.log(si.quad(f, 0, 1, epsabs=0, epsrel=1e-12)[0]), rel=1e-9)

    M = vd.Model("dirichlet_multinomial")
    p, y = M.latent("p", (V,)), M.observed("y", (N, V))
    M.factor(p, vd.Dirichlet(1.5, event=V))
    M.factor(y, vd.Multinomial(p[V.index], event=V))
    M.q(p, vd.Dirichlet(M.variational("c", (V,), positive=True)[V.index], event=V))
    Y = np.array([[1.0, 2, 0], [0, 1, 3]])
    res = vd.cavi(M).run(dict(y=Y), {}, max_iter=3)
    alpha, exact = np.full(3, 1.5), 0.0
    for row in Y:  # each row: Dirichlet-multinomial given the rows before it
        n = row.sum()
        exact += (gammaln(n + 1) - gammaln(row + 1).sum() + gammaln(alpha.sum()) - gammaln(alpha.sum() + n)
                  + (gammaln(alpha + row) - gammaln(alpha)).sum())
        alpha = alpha + row
    assert res.elbo[-1] == pytest.approx(exact, rel=1e-12)
