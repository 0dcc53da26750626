"""Bayesian logistic regression with its prior precision learned (Bishop 2006, section 10.6.2),
by the Jaakkola-Jordan local bound.

alpha ~ Gamma(a0, b0) (shape, rate);  w_d | alpha ~ N(0, 1/alpha), i.e. w ~ N(0, alpha^-1 I);
t_i | w ~ Bernoulli(sigma(sum_d X_id w_d)) with known covariates X;  the logistic term replaced,
explicitly, by its Jaakkola-Jordan bound with one parameter xi_i per data point
(``M.local_bound``), so the engine's ELBO is the bound-ELBO;  q(w) = N(m, S) with a full
covariance S and q(alpha) = Gamma(a, b).  Names as in :mod:`vi_impl.models.logistic_regression`
(its a0, b0, a, b, m, S, xi, t).  Written with the public API only.
"""
from vi_derivations import Gamma, Model, Normal, Plate
from vi_derivations.models.logistic_regression import bounded_likelihood


def build():
    N, D = Plate("N", "i"), Plate("D", "d")
    M = Model("logistic_regression_alpha",
              "Bayesian logistic regression, Jaakkola-Jordan bound, prior precision learned (Gamma)")
    a0, b0 = M.hyper("a0"), M.hyper("b0")
    alpha = M.latent("alpha")
    w = M.latent("w", (D,))
    M.factor(alpha, Gamma(a0, b0))
    M.factor(w, Normal(0, precision=alpha.symbol))
    bounded_likelihood(M, N, D, w)
    a, b = M.variational("a", positive=True), M.variational("b", positive=True)
    M.q(alpha, Gamma(a, b))
    return M
