"""Shared test helper: coordinate ascent on the coursework mixture, one step at a time."""
from __future__ import annotations

from vi_impl.models import gmm


def elbo_after_each_update(X, m, s2, pi, sigma2, sweeps):
    """Full ELBO at the start and after each of the pi, m and s2 updates of every sweep.

    Returns a list of 1 + 3 * sweeps floats (constants included), in the order computed.
    """
    values = [gmm.elbo(X, m, s2, pi, sigma2, constants=True)]
    for _ in range(sweeps):
        pi = gmm.update_pi(X, m, s2)
        values.append(gmm.elbo(X, m, s2, pi, sigma2, constants=True))
        m = gmm.update_m(X, pi, sigma2)
        values.append(gmm.elbo(X, m, s2, pi, sigma2, constants=True))
        s2 = gmm.update_s2(X, pi, sigma2)
        values.append(gmm.elbo(X, m, s2, pi, sigma2, constants=True))
    return values
