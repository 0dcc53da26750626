"""The tutorial's multivariate mixture: prior mean alpha, observation variance lambda2, and an
isotropic q(mu_k) = N(m_k, s2_k I) (one variance per component, shared across dimensions).

mu_kd ~ N(alpha_d, sigma2);  c_i ~ Cat(1/K);  x_i | c_i, mu ~ prod_k N(mu_k, lambda2 I)^{c_ik};
q(mu_kd) = N(m_kd, s2_k), q(c_i) = Cat(phi_i).  With alpha = 0, lambda2 = 1 and s2_k repeated
over d this is the coursework model.  The engine accepts the shared s2_k only because the
derived optimal variance of mu_kd does not depend on d.
"""
from vi_derivations import Categorical, Mixture, Model, Normal, Plate


def build():
    N, K, D = Plate("N", "i"), Plate("K", "k"), Plate("D", "d")
    i, k, d = N.index, K.index, D.index
    M = Model("gmm_prior_mean", "Gaussian mixture with prior mean alpha, observation variance "
              "lambda2 and isotropic q(mu_k) (tutorial)")
    alpha = M.hyper("alpha", (D,), positive=False)
    sigma2 = M.hyper("sigma2")
    lambda2 = M.hyper("lambda2")
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
