"""Bayesian logistic regression by the Jaakkola-Jordan local bound (Jaakkola & Jordan 2000;
Bishop 2006, section 10.6).

w_j ~ N(m0_j, v0_j) (a diagonal Gaussian prior);  t_n | w ~ Bernoulli(sigma(sum_j X_nj w_j)) with
known covariates X;  the logistic term is replaced, explicitly, by its Jaakkola-Jordan bound with
one parameter xi_n per data point (``M.local_bound``), so the engine's ELBO is the bound-ELBO, a
lower bound on the ELBO and on log p(t);  structured q(w) = N(m, S) with a full covariance S.
Names as in :mod:`vi_impl.models.logistic_regression` (its m0, S0 = diag(v0), m, S, xi, t).
Written with the public API only.
"""
from sympy import Sum

from vi_derivations import Model, MvNormal, Normal, Plate
from vi_derivations.local_bound import BernoulliLogit, JaakkolaJordan


def build():
    N, D = Plate("N", "n"), Plate("D", "j")
    n, j = N.index, D.index
    M = Model("logistic_regression",
              "Bayesian logistic regression, Jaakkola-Jordan bound, full-covariance q(w)")
    m0 = M.hyper("m0", (D,), positive=False)
    v0 = M.hyper("v0", (D,))
    X = M.covariate("X", (N, D))
    w = M.latent("w", (D,))
    t = M.observed("t", (N,))
    M.factor(w, Normal(m0[j], var=v0[j]))
    l = D.fresh()
    M.factor(t, BernoulliLogit(Sum(X[n, l] * w[l], (l, l.lower, l.upper))))
    xi = M.variational("xi", (N,), positive=True)
    M.local_bound(t, JaakkolaJordan(xi))
    m = M.variational("m", (D,))
    S = M.variational("S", (D, D))
    M.q(w, MvNormal(m[j], cov=S, event=D))
    return M
