"""Bayesian logistic regression with its prior precision learned (Bishop 2006, section 10.6.2),
by the Jaakkola-Jordan local bound.

alpha ~ Gamma(a0, b0) (shape, rate);  w_j | alpha ~ N(0, 1/alpha), i.e. w ~ N(0, alpha^-1 I);
t_n | w ~ Bernoulli(sigma(sum_j X_nj w_j)) with known covariates X;  the logistic term replaced,
explicitly, by its Jaakkola-Jordan bound with one parameter xi_n per data point
(``M.local_bound``), so the engine's ELBO is the bound-ELBO;  q(w) = N(m, S) with a full
covariance S and q(alpha) = Gamma(a, b).  Names as in :mod:`vi_impl.models.logistic_regression`
(its a0, b0, a, b, m, S, xi, t).  Written with the public API only.
"""
from sympy import Sum

from vi_derivations import Gamma, Model, MvNormal, Normal, Plate
from vi_derivations.local_bound import BernoulliLogit, JaakkolaJordan


def build():
    N, D = Plate("N", "n"), Plate("D", "j")
    n, j = N.index, D.index
    M = Model("logistic_regression_alpha",
              "Bayesian logistic regression, Jaakkola-Jordan bound, prior precision learned (Gamma)")
    a0, b0 = M.hyper("a0"), M.hyper("b0")
    X = M.covariate("X", (N, D))
    alpha = M.latent("alpha")
    w = M.latent("w", (D,))
    t = M.observed("t", (N,))
    M.factor(alpha, Gamma(a0, b0))
    M.factor(w, Normal(0, precision=alpha.symbol))
    l = D.fresh()
    M.factor(t, BernoulliLogit(Sum(X[n, l] * w[l], (l, l.lower, l.upper))))
    xi = M.variational("xi", (N,), positive=True)
    M.local_bound(t, JaakkolaJordan(xi))
    m = M.variational("m", (D,))
    S = M.variational("S", (D, D))
    a, b = M.variational("a", positive=True), M.variational("b", positive=True)
    M.q(w, MvNormal(m[j], cov=S, event=D))
    M.q(alpha, Gamma(a, b))
    return M
