"""Unknown mean and precision: tau ~ Gamma(a0, b0); mu | tau ~ N(mu0, 1/(kappa0 tau));
x_i | mu, tau ~ N(mu, 1/tau);  mean field q(mu) q(tau) = N(m, s2) Gamma(a, b)
(Normal-Normal mean and Gamma-Normal precision conjugate pairs)."""
from vi_derivations import Gamma, Model, Normal, Plate


def build():
    N = Plate("N", "i")
    M = Model("normal_gamma", "Normal data with unknown mean and precision, factorised q(mu) q(tau)")
    mu0 = M.hyper("mu0", positive=False, latex=r"\mu_{0}")
    kappa0, a0, b0 = M.hyper("kappa0", latex=r"\kappa_{0}"), M.hyper("a0"), M.hyper("b0")
    tau = M.latent("tau", latex=r"\tau")
    mu = M.latent("mu", latex=r"\mu")
    x = M.observed("x", (N,))
    M.factor(tau, Gamma(a0, b0))
    M.factor(mu, Normal(mu0, precision=kappa0 * tau.symbol))
    M.factor(x, Normal(mu.symbol, precision=tau.symbol))
    m, s2 = M.variational("m"), M.variational("s2", positive=True)
    a, b = M.variational("a", positive=True), M.variational("b", positive=True)
    M.q(mu, Normal(m, var=s2))
    M.q(tau, Gamma(a, b))
    return M
