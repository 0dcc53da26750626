"""Latent Dirichlet allocation with fixed (known) topics (Blei, Ng & Jordan 2003).

theta_d ~ Dirichlet(alpha) over the K topics;  z_dn | theta_d ~ Cat(theta_d) one-hot;
w_dn | z_dn ~ prod_k Cat(beta_k)^{z_dnk}, a one-hot word over the vocabulary V, with known
topic-word probabilities beta_kv;  q(theta_d) = Dir(gamma_d), q(z_dn) = Cat(phi_dn).
A mixture whose component has its own event plate (V).  Written with the public API only.
"""
from vi_derivations import Categorical, Dirichlet, Mixture, Model, Plate


def build():
    D, N, K, V = Plate("D", "d"), Plate("N", "n"), Plate("K", "k"), Plate("V", "v")
    d, n, k, v = D.index, N.index, K.index, V.index
    M = Model("lda_fixed_topics", "Latent Dirichlet allocation with known topics beta")
    alpha = M.hyper("alpha")
    beta = M.hyper("beta", (K, V))
    theta = M.latent("theta", (D, K))
    z = M.latent("z", (D, N, K))
    w = M.observed("w", (D, N, V))
    M.factor(theta, Dirichlet(alpha, event=K))
    M.factor(z, Categorical(theta[d, k], event=K))
    M.factor(w, Mixture(z, Categorical(beta[k, v], event=V)))
    gamma = M.variational("gamma", (D, K), positive=True)
    phi = M.variational("phi", (D, N, K), positive=True)
    M.q(theta, Dirichlet(gamma[d, k], event=K))
    M.q(z, Categorical(phi[d, n, k], event=K))
    return M
