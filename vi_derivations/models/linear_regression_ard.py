"""Bayesian linear regression with automatic relevance determination.

alpha_d ~ Gamma(a0, b0) (shape, rate);  w_d | alpha_d ~ N(0, 1/alpha_d), i.e. w ~ N(0, diag(alpha)^-1);
y_i | w ~ N(sum_d X_id w_d, sigma2) with known covariates X (not modelled) and known sigma2;
structured q(w) = N(m, V) with a full covariance V;  q(alpha_d) = Gamma(a_d, b_d).
Names as in :mod:`vi_impl.models.linear_regression_ard`.  Written with the public API only.
"""
from sympy import Sum

from vi_derivations import Gamma, Model, MvNormal, Normal, Plate


def build():
    N, D = Plate("N", "i"), Plate("D", "d")
    i, d = N.index, D.index
    M = Model("linear_regression_ard",
              "Bayesian linear regression with ARD priors, full-covariance q(w)")
    a0, b0, sigma2 = M.hyper("a0"), M.hyper("b0"), M.hyper("sigma2")
    X = M.covariate("X", (N, D))
    alpha = M.latent("alpha", (D,))
    w = M.latent("w", (D,))
    y = M.observed("y", (N,))
    M.factor(alpha, Gamma(a0, b0))
    M.factor(w, Normal(0, precision=alpha[d]))
    l = D.fresh()
    M.factor(y, Normal(Sum(X[i, l] * w[l], (l, l.lower, l.upper)), var=sigma2))
    m = M.variational("m", (D,))
    V = M.variational("V", (D, D))
    a = M.variational("a", (D,), positive=True)
    b = M.variational("b", (D,), positive=True)
    M.q(w, MvNormal(m[d], cov=V, event=D))
    M.q(alpha, Gamma(a[d], b[d]))
    return M
