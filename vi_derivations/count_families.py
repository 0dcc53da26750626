"""Three more families for the model role, each defined here and nowhere else: adding a family
that only appears in p (a prior or a likelihood) is a :class:`~vi_derivations.distributions.Family`
subclass with ``log_density``, its ``support`` (the generated code checks its data against it)
and ``support_reduce`` if the support gives identities; the expansion, expectations, updates,
generated code and chain checker need no change (see the protocol in
:class:`~vi_derivations.distributions.Family`).

* Exponential(rate):  log p(x) = log rate - rate x  (x > 0);
* Binomial(n, p):     log p(x) = log C(n, x) + x log p + (n - x) log(1 - p)  (x = 0..n);
* Multinomial(probs) over an event plate V: counts x_v with total n = sum_v x_v,
  log p(x) = log Gamma(n + 1) - sum_v log Gamma(x_v + 1) + sum_v x_v log p_v.

Conjugate priors: Gamma for an Exponential rate, Beta for a Binomial probability, Dirichlet for
Multinomial probabilities; the q factors are then Gamma, Beta and Dirichlet.
"""
from __future__ import annotations

import sympy as sp
from sympy import Sum, log, loggamma

from .distributions import Family, _lim
from .model import Plate

__all__ = ["Exponential", "Binomial", "Multinomial"]


class Exponential(Family):
    """Exponential(rate) for x > 0: log p = log rate - rate x. (Model role.)"""

    name = "Exponential"
    supports_q = False
    support = "positive"
    param_names = ("rate",)

    def __init__(self, rate):
        super().__init__(rate=rate)
        r = self.params["rate"]
        if r.is_number and not r.is_positive:
            raise ValueError(f"Exponential: rate must be positive, got {r}")

    def log_density(self, x):
        r = self.params["rate"]
        return log(r) - r * x


class Binomial(Family):
    """Binomial(n, p) for counts x = 0..n: log p = log C(n, x) + x log p + (n - x) log(1 - p).
    (Model role; ``n`` is a known number or hyper-parameter, possibly per element.)"""

    name = "Binomial"
    supports_q = False
    support = "count"
    param_names = ("n", "p")

    def __init__(self, n, p):
        super().__init__(n=n, p=p)
        nn = self.params["n"]
        if nn.is_number and not (nn.is_integer and nn.is_positive):
            raise ValueError(f"Binomial: n must be a positive integer, got {nn}")

    def draw_in_support(self, rng):
        return float(rng.integers(0, 4))

    def prepare_check(self, inst, as_q):
        """Known n at least the checker's counts (0..3), a known p inside (0, 1)."""
        inst.set_within(self.params["n"], 4, 7)
        inst.set_within(self.params["p"], 0.05, 0.95)

    def log_density(self, x):
        n, p = self.params["n"], self.params["p"]
        return (loggamma(n + 1) - loggamma(x + 1) - loggamma(n - x + 1)
                + x * log(p) + (n - x) * log(1 - p))


class Multinomial(Family):
    """Multinomial over the event plate: counts x_v, n = sum_v x_v,
    log p = log Gamma(n + 1) - sum_v log Gamma(x_v + 1) + sum_v x_v log p_v. (Model role.)"""

    name = "Multinomial"
    supports_q = False
    support = "count"
    param_names = ("probs",)

    def __init__(self, probs, event: Plate):
        if not isinstance(event, Plate):
            raise ValueError("Multinomial: event= must be the Plate the counts run over")
        super().__init__(probs=probs)
        self.event_plates = (event,)

    def draw_in_support(self, rng):
        return float(rng.integers(0, 4))

    def log_density(self, x):
        v = self.event_plates[0].index
        u = self.event_plates[0].fresh()
        total = Sum(x.xreplace({v: u}), _lim(u))
        return loggamma(total + 1) - Sum(loggamma(x + 1), _lim(v)) + Sum(x * log(self.params["probs"]), _lim(v))
