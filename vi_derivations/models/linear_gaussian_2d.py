"""A latent linear-Gaussian model with two latent coordinates.

z1, z2 ~ N(0, 1);  x_i | z ~ N(theta1 z1 + theta2 z2, 1) for i = 1..N;
mean field q(z1, z2) = N(z1 | m1, v1) N(z2 | m2, v2): two q factors, so that a CAVI sweep
updates z1 and then z2 (coordinate ascent), as in :func:`vi_impl.models.linear_gaussian.cavi`.
Names as in :mod:`vi_impl.models.linear_gaussian` (its m = (m1, m2), v = (v1, v2),
theta = (theta1, theta2)).  Written with the public API only.
"""
from vi_derivations import Model, Normal, Plate


def build():
    N = Plate("N", "i")
    M = Model("linear_gaussian_2d",
              "Two latent Gaussians observed through x ~ N(theta1 z1 + theta2 z2, 1)")
    theta1 = M.hyper("theta1", latex=r"\theta_{1}", positive=False)
    theta2 = M.hyper("theta2", latex=r"\theta_{2}", positive=False)
    z1 = M.latent("z1", latex="z_{1}")
    z2 = M.latent("z2", latex="z_{2}")
    x = M.observed("x", (N,))
    M.factor(z1, Normal(0, var=1))
    M.factor(z2, Normal(0, var=1))
    M.factor(x, Normal(theta1 * z1.symbol + theta2 * z2.symbol, var=1))
    m1 = M.variational("m1", latex="m_{1}")
    v1 = M.variational("v1", latex="v_{1}", positive=True)
    m2 = M.variational("m2", latex="m_{2}")
    v2 = M.variational("v2", latex="v_{2}", positive=True)
    M.q(z1, Normal(m1, var=v1))
    M.q(z2, Normal(m2, var=v2))
    return M
