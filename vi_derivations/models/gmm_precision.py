"""1-D Gaussian mixture with unknown per-component means and precisions:
tau_k ~ Gamma(a0, b0); mu_k | tau_k ~ N(0, 1/(kappa0 tau_k)); c_i ~ Cat(1/K);
x_i | c_i, mu, tau ~ prod_k N(mu_k, 1/tau_k)^{c_ik};
q(mu_k) q(tau_k) q(c_i) = N(m_k, s2_k) Gamma(a_k, b_k) Cat(pi_i)  (Gamma-Normal precision inside a mixture)."""
from vi_derivations import Categorical, Gamma, Mixture, Model, Normal, Plate


def build():
    N, K = Plate("N", "i"), Plate("K", "k")
    i, k = N.index, K.index
    M = Model("gmm_precision", "1-D mixture with unknown component means and precisions")
    a0, b0, kappa0 = M.hyper("a0"), M.hyper("b0"), M.hyper("kappa0", latex=r"\kappa_{0}")
    tau = M.latent("tau", (K,), latex=r"\tau")
    mu = M.latent("mu", (K,))
    c = M.latent("c", (N, K))
    x = M.observed("x", (N,))
    M.factor(tau, Gamma(a0, b0))
    M.factor(mu, Normal(0, precision=kappa0 * tau[k]))
    M.factor(c, Categorical(1 / K.size, event=K))
    M.factor(x, Mixture(c, Normal(mu[k], precision=tau[k])))
    m, s2 = M.variational("m", (K,)), M.variational("s2", (K,), positive=True)
    a, b = M.variational("a", (K,), positive=True), M.variational("b", (K,), positive=True)
    pi = M.variational("pi", (N, K), positive=True)
    M.q(mu, Normal(m[k], var=s2[k]))
    M.q(tau, Gamma(a[k], b[k]))
    M.q(c, Categorical(pi[i, k], event=K))
    return M
