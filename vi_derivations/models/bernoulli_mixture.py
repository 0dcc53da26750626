"""Mixture of Bernoullis (binary data): theta_kd ~ Beta(a0, b0); c_i ~ Cat(1/K);
x_id | c_i, theta ~ prod_k Bernoulli(theta_kd)^{c_ik};  q(theta_kd) = Beta(a_kd, b_kd), q(c_i) = Cat(pi_i)
(Beta-Bernoulli inside a mixture)."""
from vi_derivations import Bernoulli, Beta, Categorical, Mixture, Model, Plate


def build():
    N, K, D = Plate("N", "i"), Plate("K", "k"), Plate("D", "d")
    i, k, d = N.index, K.index, D.index
    M = Model("bernoulli_mixture", "Mixture of multivariate Bernoullis with Beta priors")
    a0, b0 = M.hyper("a0"), M.hyper("b0")
    theta = M.latent("theta", (K, D), latex=r"\theta")
    c = M.latent("c", (N, K))
    x = M.observed("x", (N, D))
    M.factor(theta, Beta(a0, b0))
    M.factor(c, Categorical(1 / K.size, event=K))
    M.factor(x, Mixture(c, Bernoulli(theta[k, d])))
    a, b = M.variational("a", (K, D), positive=True), M.variational("b", (K, D), positive=True)
    pi = M.variational("pi", (N, K), positive=True)
    M.q(theta, Beta(a[k, d], b[k, d]))
    M.q(c, Categorical(pi[i, k], event=K))
    return M
