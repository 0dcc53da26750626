"""Beta-Bernoulli: theta ~ Beta(a0, b0); x_i | theta ~ Bernoulli(theta); q(theta) = Beta(a, b).
The optimal q is the exact posterior."""
from vi_derivations import Bernoulli, Beta, Model, Plate


def build():
    N = Plate("N", "i")
    M = Model("beta_bernoulli", "Coin with a Beta prior (conjugate pair Beta-Bernoulli)")
    a0, b0 = M.hyper("a0"), M.hyper("b0")
    theta = M.latent("theta", latex=r"\theta")
    x = M.observed("x", (N,))
    M.factor(theta, Beta(a0, b0))
    M.factor(x, Bernoulli(theta))
    a, b = M.variational("a", positive=True), M.variational("b", positive=True)
    M.q(theta, Beta(a, b))
    return M
