"""Mixture of Poissons (counts): lam_k ~ Gamma(a0, b0); c_i ~ Cat(1/K);
x_i | c_i, lam ~ prod_k Poisson(lam_k)^{c_ik};  q(lam_k) = Gamma(a_k, b_k), q(c_i) = Cat(pi_i)
(Gamma-Poisson inside a mixture)."""
from vi_derivations import Categorical, Gamma, Mixture, Model, Plate, Poisson


def build():
    N, K = Plate("N", "i"), Plate("K", "k")
    i, k = N.index, K.index
    M = Model("poisson_mixture", "Mixture of Poissons with Gamma priors on the rates")
    a0, b0 = M.hyper("a0"), M.hyper("b0")
    lam = M.latent("lam", (K,), latex=r"\lambda")
    c = M.latent("c", (N, K))
    x = M.observed("x", (N,))
    M.factor(lam, Gamma(a0, b0))
    M.factor(c, Categorical(1 / K.size, event=K))
    M.factor(x, Mixture(c, Poisson(lam[k])))
    a, b = M.variational("a", (K,), positive=True), M.variational("b", (K,), positive=True)
    pi = M.variational("pi", (N, K), positive=True)
    M.q(lam, Gamma(a[k], b[k]))
    M.q(c, Categorical(pi[i, k], event=K))
    return M
