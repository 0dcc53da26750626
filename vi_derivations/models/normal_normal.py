"""The normal-normal model: a Gaussian mean observed N times.

z ~ N(mu0, tau2);  x_i | z ~ N(z, sigma2) for i = 1..N;  q(z) = N(m, s2).
The optimal q is the exact posterior.  Names as in :mod:`vi_impl.models.normal_normal`.
Written with the public API only.
"""
from vi_derivations import Model, Normal, Plate


def build():
    N = Plate("N", "i")
    M = Model("normal_normal", "Normal mean with a Normal prior, N observations")
    mu0 = M.hyper("mu0", latex=r"\mu_{0}", positive=False)
    tau2 = M.hyper("tau2")
    sigma2 = M.hyper("sigma2")
    z = M.latent("z")
    x = M.observed("x", (N,))
    M.factor(z, Normal(mu0, var=tau2))
    M.factor(x, Normal(z.symbol, var=sigma2))
    m = M.variational("m")
    s2 = M.variational("s2", positive=True)
    M.q(z, Normal(m, var=s2))
    return M
