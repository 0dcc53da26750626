"""Bayesian Gaussian mixture with known unit observation variance and equal weights.

mu_kd ~ N(0, tau^2);  c_i ~ Cat(1/K) one-hot;  x_i | c_i, mu ~ prod_k N(mu_k, I_D)^{c_ik};
q(mu_kd) = N(m_kd, s^2_kd);  q(c_i) = Cat(phi_i).
The Python names are those of :mod:`vi_impl.models.gmm` (the prior variance tau^2 is ``sigma2``,
the responsibilities phi are ``pi``); the LaTeX names are the book's (``book/notation.md``).
Written with the public API only.
"""
from vi_derivations import Categorical, Mixture, Model, Normal, Plate


def build():
    N, K, D = Plate("N", "i"), Plate("K", "k"), Plate("D", "d")
    i, k, d = N.index, K.index, D.index
    M = Model("gmm", "Bayesian Gaussian mixture with known unit observation variance and equal weights")
    sigma2 = M.hyper("sigma2", latex=r"\tau^{2}")
    mu = M.latent("mu", (K, D))
    c = M.latent("c", (N, K))
    x = M.observed("x", (N, D))
    M.factor(mu, Normal(0, var=sigma2))
    M.factor(c, Categorical(1 / K.size, event=K))
    M.factor(x, Mixture(c, Normal(mu[k, d], var=1)))
    m = M.variational("m", (K, D))
    s2 = M.variational("s2", (K, D), positive=True)
    pi = M.variational("pi", (N, K), positive=True)
    M.q(mu, Normal(m[k, d], var=s2[k, d]))
    M.q(c, Categorical(pi[i, k], event=K))
    return M
