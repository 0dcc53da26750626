"""Bayesian logistic regression by the Jaakkola-Jordan local bound (Jaakkola & Jordan 2000;
Bishop 2006, section 10.6).

w_d ~ N(m0_d, v0_d) (a diagonal Gaussian prior);  t_i | w ~ Bernoulli(sigma(sum_d X_id w_d)) with
known covariates X;  the logistic term is replaced, explicitly, by its Jaakkola-Jordan bound with
one parameter xi_i per data point (``M.local_bound``), so the engine's ELBO is the bound-ELBO, a
lower bound on the ELBO and on log p(t);  structured q(w) = N(m, S) with a full covariance S.
Names as in :mod:`vi_impl.models.logistic_regression` (its m0, S0 = diag(v0), m, S, xi, t).
Written with the public API only.
"""
from sympy import Sum

from vi_derivations import Model, MvNormal, Normal, Plate
from vi_derivations.local_bound import BernoulliLogit, JaakkolaJordan


def build():
    N, D = Plate("N", "i"), Plate("D", "d")
    M = Model("logistic_regression",
              "Bayesian logistic regression, Jaakkola-Jordan bound, full-covariance q(w)")
    m0 = M.hyper("m0", (D,), positive=False)
    v0 = M.hyper("v0", (D,))
    w = M.latent("w", (D,))
    M.factor(w, Normal(m0[D.index], var=v0[D.index]))
    bounded_likelihood(M, N, D, w)
    return M


def bounded_likelihood(M, N, D, w):
    """t_i ~ Bernoulli(sigma(sum_d X_id w_d)) with known X, its Jaakkola-Jordan bound with
    parameters xi_i, and q(w) = N(m, S) (full covariance): the part shared with
    :mod:`.logistic_regression_alpha`."""
    i, d = N.index, D.index
    X = M.covariate("X", (N, D))
    t = M.observed("t", (N,))
    l = D.fresh()
    M.factor(t, BernoulliLogit(Sum(X[i, l] * w[l], (l, l.lower, l.upper))))
    M.local_bound(t, JaakkolaJordan(M.variational("xi", (N,), positive=True)))
    M.q(w, MvNormal(M.variational("m", (D,))[d], cov=M.variational("S", (D, D)), event=D))
