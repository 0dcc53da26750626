"""Latent Dirichlet allocation with Dirichlet-distributed topics (smoothed LDA; Blei, Ng &
Jordan 2003, section 5.4).

beta_k ~ Dirichlet(eta) over the vocabulary V;  theta_d ~ Dirichlet(alpha) over the K topics;
z_dn | theta_d ~ Cat(theta_d);  w_dn | z_dn, beta ~ prod_k Cat(beta_k)^{z_dnk};
q(beta_k) = Dir(lambda_k), q(theta_d) = Dir(gamma_d), q(z_dn) = Cat(phi_dn).
Written with the public API only.
"""
from vi_derivations import Categorical, Dirichlet, Mixture, Model, Plate


def build():
    D, N, K, V = Plate("D", "d"), Plate("N", "n"), Plate("K", "k"), Plate("V", "v")
    d, n, k, v = D.index, N.index, K.index, V.index
    M = Model("lda", "Latent Dirichlet allocation with Dirichlet-distributed topics")
    alpha, eta = M.hyper("alpha"), M.hyper("eta")
    beta = M.latent("beta", (K, V))
    theta = M.latent("theta", (D, K))
    z = M.latent("z", (D, N, K))
    w = M.observed("w", (D, N, V))
    M.factor(beta, Dirichlet(eta, event=V))
    M.factor(theta, Dirichlet(alpha, event=K))
    M.factor(z, Categorical(theta[d, k], event=K))
    M.factor(w, Mixture(z, Categorical(beta[k, v], event=V)))
    lam = M.variational("lam", (K, V), positive=True, latex=r"\lambda")
    gamma = M.variational("gamma", (D, K), positive=True)
    phi = M.variational("phi", (D, N, K), positive=True)
    M.q(beta, Dirichlet(lam[k, v], event=V))
    M.q(theta, Dirichlet(gamma[d, k], event=K))
    M.q(z, Categorical(phi[d, n, k], event=K))
    return M
