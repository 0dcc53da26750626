"""Multivariate Gaussian mixture with a prior mean, an observation variance and an isotropic
q(mu_k) = N(m_k, s^2_k I) (one variance per component, shared across dimensions).

mu_kd ~ N(mu0_d, tau^2);  c_i ~ Cat(1/K);  x_i | c_i, mu ~ prod_k N(mu_k, sigma^2 I)^{c_ik};
q(mu_kd) = N(m_kd, s^2_k), q(c_i) = Cat(phi_i).  With mu0 = 0, sigma^2 = 1 and s^2_k repeated
over d this is the model of :mod:`.gmm`.  The engine accepts the shared s^2_k only because the
derived optimal variance of mu_kd does not depend on d.
The Python names are those of :mod:`vi_impl.models.gmm_prior_mean` (mu0 is ``alpha``, tau^2 is
``sigma2``, sigma^2 is ``lambda2``); the LaTeX names are the book's (``book/notation.md``).
"""
from vi_derivations import Categorical, Mixture, Model, Normal, Plate


def build():
    N, K, D = Plate("N", "i"), Plate("K", "k"), Plate("D", "d")
    i, k, d = N.index, K.index, D.index
    M = Model("gmm_prior_mean", "Gaussian mixture with a prior mean, an observation variance "
              "and isotropic q(mu_k)")
    alpha = M.hyper("alpha", (D,), positive=False, latex=r"\mu_{0}")
    sigma2 = M.hyper("sigma2", latex=r"\tau^{2}")
    lambda2 = M.hyper("lambda2", latex=r"\sigma^{2}")
    mu = M.latent("mu", (K, D))
    c = M.latent("c", (N, K))
    x = M.observed("x", (N, D))
    M.factor(mu, Normal(alpha[d], var=sigma2))
    M.factor(c, Categorical(1 / K.size, event=K))
    M.factor(x, Mixture(c, Normal(mu[k, d], var=lambda2)))
    m = M.variational("m", (K, D))
    s2 = M.variational("s2", (K,), positive=True)
    phi = M.variational("phi", (N, K), positive=True, latex=r"\phi")
    M.q(mu, Normal(m[k, d], var=s2[k]))
    M.q(c, Categorical(phi[i, k], event=K))
    return M
