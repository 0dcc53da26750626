"""The full Bayesian Gaussian mixture (Bishop 2006, section 10.2).

w ~ Dir(alpha0);  Lambda_k ~ W(W0, nu0);  mu_k | Lambda_k ~ N(m0, (beta0 Lambda_k)^-1);
c_i ~ Cat(w) one-hot;  x_i | c_i ~ prod_k N(mu_k, Lambda_k^-1)^{c_ik};
q(w) prod_k q(mu_k, Lambda_k) prod_i q(c_i) = Dir(alpha) prod_k NW(m_k, beta_k, W_k, nu_k)
prod_i Cat(phi_i).  Lambda is declared over (K, D, E), E the column plate of the D x D matrices;
Lambda, W0 and W are declared symmetric (the displays write W0^-1, not (W0^-1 + W0^-T)/2).
Names follow the book's notation (weights w, indicators c, responsibilities phi); the Python names
of the variational parameters are those of :mod:`vi_impl.models.bayesian_gmm` (``beta``, ``m``,
``W``, ``nu``, responsibilities ``r``) except the Dirichlet parameter ``alpha_w`` (``alpha`` there:
the name ``alpha`` is the prior mean of another engine model).  Written with the public API only.
"""
from vi_derivations import Categorical, Dirichlet, Mixture, Model, Plate
from vi_derivations.wishart import MvNormalPrecision, NormalWishart, Wishart, matrix_plate


def build():
    N, K, D = Plate("N", "i"), Plate("K", "k"), Plate("D", "d")
    E = matrix_plate(D, "E", "e")
    i, k, d, e = N.index, K.index, D.index, E.index
    M = Model("bayesian_gmm", "Full Bayesian Gaussian mixture, Normal-Wishart components (Bishop 10.2)")
    alpha0 = M.hyper("alpha0", (K,), latex=r"\alpha_{0}")
    m0 = M.hyper("m0", (D,), positive=False, latex="m_{0}")
    beta0 = M.hyper("beta0", latex=r"\beta_{0}")
    W0 = M.hyper("W0", (D, E), positive=False, latex="W_{0}", symmetric=True)
    nu0 = M.hyper("nu0", latex=r"\nu_{0}")
    w = M.latent("w", (K,))
    Lam = M.latent("Lambda", (K, D, E), latex=r"\Lambda", symmetric=True)
    mu = M.latent("mu", (K, D), latex=r"\mu")
    c = M.latent("c", (N, K))
    x = M.observed("x", (N, D))
    M.factor(w, Dirichlet(alpha0[k], event=K))
    M.factor(Lam, Wishart(W0[d, e], nu0, event=(D, E)))
    M.factor(mu, MvNormalPrecision(m0[d], Lam[k, d, e], event=(D, E), scale=beta0))
    M.factor(c, Categorical(w[k], event=K))
    M.factor(x, Mixture(c, MvNormalPrecision(mu[k, d], Lam[k, d, e], event=(D, E))))
    alpha = M.variational("alpha_w", (K,), positive=True, latex=r"\alpha")
    m = M.variational("m", (K, D))
    beta = M.variational("beta", (K,), positive=True, latex=r"\beta")
    W = M.variational("W", (K, D, E), positive=False, symmetric=True)
    nu = M.variational("nu", (K,), positive=True, latex=r"\nu")
    r = M.variational("r", (N, K), positive=True, latex=r"\phi")
    nw = NormalWishart(m[k, d], beta[k], W[k, d, e], nu[k], event=(D, E))
    M.q(w, Dirichlet(alpha[k], event=K))
    M.q(mu, nw.normal)
    M.q(Lam, nw.wishart)
    M.q(c, Categorical(r[i, k], event=K))
    return M
