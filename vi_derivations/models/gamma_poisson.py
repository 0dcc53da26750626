"""Gamma-Poisson: lam ~ Gamma(a0, b0) (shape, rate); x_i | lam ~ Poisson(lam);
q(lam) = Gamma(a, b).  The optimal q is the exact posterior."""
from vi_derivations import Gamma, Model, Plate, Poisson


def build():
    N = Plate("N", "i")
    M = Model("gamma_poisson", "Poisson counts with a Gamma prior on the rate (conjugate pair)")
    a0, b0 = M.hyper("a0"), M.hyper("b0")
    lam = M.latent("lam", latex=r"\lambda")
    x = M.observed("x", (N,))
    M.factor(lam, Gamma(a0, b0))
    M.factor(x, Poisson(lam))
    a, b = M.variational("a", positive=True), M.variational("b", positive=True)
    M.q(lam, Gamma(a, b))
    return M
