"""The worked example of the "derive your own model" pages, shared by the three pages that use it.

Event counts in groups (book notation): ``beta ~ Gamma(c0, d0)``, ``lambda_g | beta ~
Gamma(a0, beta)`` for ``g = 1..G``, ``y_gi | lambda_g ~ Poisson(lambda_g)`` for ``i = 1..N``
(shape-rate Gammas), with the mean-field family ``q(beta) = Gamma(c, d)``,
``q(lambda_g) = Gamma(a_g, b_g)``. The model is derived by hand on one page, fitted on the
next, and extended in the exercise of a third; they share it and one data set, kept here so that
no page copies another's code:

* :func:`poisson_groups` -- the model and its mean-field family, declared for the engine;
* :data:`EXAMPLE` and :func:`example_data` -- the seeded data set (``G = 10`` machines observed
  on ``N = 5`` days, rates drawn with ``beta = 0.5``).
"""
from __future__ import annotations

import numpy as np

from vi_derivations import Gamma, Model, Plate, Poisson

__all__ = ["EXAMPLE", "example_data", "poisson_groups"]

#: The data set of the pages: sizes, hyper-parameters, the true shared rate and the seed.
EXAMPLE = {"G": 10, "N": 5, "a0": 4.0, "c0": 2.0, "d0": 2.0, "beta": 0.5, "seed": 3}


def poisson_groups():
    """Event counts of G machines on N days: Gamma rates lambda_g whose common rate beta is learned;
    q(beta, lambda) = Gamma(beta | c, d) prod_g Gamma(lambda_g | a_g, b_g)."""
    G, N = Plate("G", "g"), Plate("N", "i")      # machines g = 1..G, days i = 1..N
    g = G.index

    M = Model("poisson_groups", "Event counts in groups; Gamma rates whose common rate beta is learned")
    a0 = M.hyper("a0", latex="a_{0}")
    c0 = M.hyper("c0", latex="c_{0}")
    d0 = M.hyper("d0", latex="d_{0}")
    beta = M.latent("beta")
    lam = M.latent("lam", (G,), latex=r"\lambda")
    y = M.observed("y", (G, N))

    M.factor(beta, Gamma(c0, d0))                 # beta ~ Gamma(c0, d0)
    M.factor(lam, Gamma(a0, beta.symbol))         # lambda_g | beta ~ Gamma(a0, beta)
    M.factor(y, Poisson(lam[g]))                  # y_gi | lambda_g ~ Poisson(lambda_g)

    a = M.variational("a", (G,), positive=True)
    b = M.variational("b", (G,), positive=True)
    c = M.variational("c", positive=True)
    d = M.variational("d", positive=True)
    M.q(lam, Gamma(a[g], b[g]))                   # q(lambda_g) = Gamma(a_g, b_g)
    M.q(beta, Gamma(c, d))                        # q(beta) = Gamma(c, d)
    return M


def example_data():
    """The data set of the pages, drawn from the model with the values of :data:`EXAMPLE`:
    ``(Y, lam_true)``, the ``(G, N)`` counts (as floats) and the ``G`` true rates."""
    e = EXAMPLE
    rng = np.random.default_rng(e["seed"])
    lam_true = rng.gamma(e["a0"], 1 / e["beta"], size=e["G"])
    Y = rng.poisson(lam_true[:, None], size=(e["G"], e["N"])).astype(float)
    return Y, lam_true
