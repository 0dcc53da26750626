"""The slides' one-dimensional mixture with known weights.

mu_k ~ N(0, tau2);  z_n ~ Cat(weights);  x_n | z_n, mu ~ prod_k N(mu_k, sigma2)^{z_nk};
q(mu_k) = N(mu_tilde_k, s2_tilde_k), q(z_n) = Cat(phi_n).
"""
from vi_derivations import Categorical, Mixture, Model, Normal, Plate


def build():
    N, K = Plate("N", "n"), Plate("K", "k")
    n, k = N.index, K.index
    M = Model("gmm_1d", "One-dimensional Gaussian mixture with known weights (slides)")
    tau2, sigma2 = M.hyper("tau2"), M.hyper("sigma2")
    weights = M.hyper("weights", (K,), latex=r"w")
    mu = M.latent("mu", (K,))
    z = M.latent("z", (N, K))
    x = M.observed("x", (N,))
    M.factor(mu, Normal(0, var=tau2))
    M.factor(z, Categorical(weights[k], event=K))
    M.factor(x, Mixture(z, Normal(mu[k], var=sigma2)))
    mt = M.variational("mu_tilde", (K,), latex=r"\tilde{\mu}")
    st = M.variational("s2_tilde", (K,), positive=True, latex=r"\tilde{s}^{2}")
    phi = M.variational("phi", (N, K), positive=True, latex=r"\phi")
    M.q(mu, Normal(mt[k], var=st[k]))
    M.q(z, Categorical(phi[n, k], event=K))
    return M
