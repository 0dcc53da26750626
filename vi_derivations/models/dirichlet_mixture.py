"""Gaussian mixture with unknown weights: theta ~ Dirichlet(alpha0); c_i | theta ~ Cat(theta);
mu_kd ~ N(0, tau^2); x_i | c_i, mu ~ prod_k N(mu_k, sigma^2 I)^{c_ik};
q(theta) q(c) q(mu) = Dir(gamma) prod_i Cat(phi_i) prod_kd N(m_kd, s^2_kd)
(Dirichlet-Categorical inside a mixture).  Python names: tau^2 is ``sigma2``, sigma^2 is ``lambda2``,
phi is ``pi``; the LaTeX names are the book's (``book/notation.md``)."""
from vi_derivations import Categorical, Dirichlet, Mixture, Model, Normal, Plate


def build():
    N, K, D = Plate("N", "i"), Plate("K", "k"), Plate("D", "d")
    i, k, d = N.index, K.index, D.index
    M = Model("dirichlet_mixture", "Gaussian mixture with Dirichlet-distributed weights")
    alpha0 = M.hyper("alpha0", latex=r"\alpha_{0}")
    sigma2, lambda2 = M.hyper("sigma2", latex=r"\tau^{2}"), M.hyper("lambda2", latex=r"\sigma^{2}")
    theta = M.latent("theta", (K,), latex=r"\theta")
    mu = M.latent("mu", (K, D))
    c = M.latent("c", (N, K))
    x = M.observed("x", (N, D))
    M.factor(theta, Dirichlet(alpha0, event=K))
    M.factor(c, Categorical(theta[k], event=K))
    M.factor(mu, Normal(0, var=sigma2))
    M.factor(x, Mixture(c, Normal(mu[k, d], var=lambda2)))
    g = M.variational("g", (K,), positive=True, latex=r"\gamma")
    m, s2 = M.variational("m", (K, D)), M.variational("s2", (K, D), positive=True)
    pi = M.variational("pi", (N, K), positive=True)
    M.q(theta, Dirichlet(g[k], event=K))
    M.q(c, Categorical(pi[i, k], event=K))
    M.q(mu, Normal(m[k, d], var=s2[k, d]))
    return M
