"""One-dimensional Gaussian mixture with known weights.

mu_k ~ N(0, tau^2);  c_i ~ Cat(w) one-hot;  x_i | c_i, mu ~ prod_k N(mu_k, sigma^2)^{c_ik};
q(mu_k) = N(m_k, s^2_k), q(c_i) = Cat(phi_i).
The Python names are those of :mod:`vi_impl.models.gmm_1d` (m is ``mu_tilde``, s^2 is
``s2_tilde``, c is ``z``, w is ``weights``); the LaTeX names are the book's (``book/notation.md``).
"""
from vi_derivations import Categorical, Mixture, Model, Normal, Plate


def build():
    N, K = Plate("N", "i"), Plate("K", "k")
    i, k = N.index, K.index
    M = Model("gmm_1d", "One-dimensional Gaussian mixture with known weights")
    tau2, sigma2 = M.hyper("tau2"), M.hyper("sigma2")
    weights = M.hyper("weights", (K,), latex=r"w")
    mu = M.latent("mu", (K,))
    z = M.latent("z", (N, K), latex="c")
    x = M.observed("x", (N,))
    M.factor(mu, Normal(0, var=tau2))
    M.factor(z, Categorical(weights[k], event=K))
    M.factor(x, Mixture(z, Normal(mu[k], var=sigma2)))
    mt = M.variational("mu_tilde", (K,), latex="m")
    st = M.variational("s2_tilde", (K,), positive=True, latex="s^{2}")
    phi = M.variational("phi", (N, K), positive=True, latex=r"\phi")
    M.q(mu, Normal(mt[k], var=st[k]))
    M.q(z, Categorical(phi[i, k], event=K))
    return M
