"""One result type and one stopping rule for every fit loop of :mod:`vi_impl`.

The field names match the engine's :class:`vi_derivations.cavi.CaviResult`, so a generated
CAVI run and a hand-written one are read the same way.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["FitResult", "DEFAULT_TOL", "elbo_converged"]

#: Default relative tolerance of every fit loop (see :func:`elbo_converged`).
DEFAULT_TOL = 1e-8


def elbo_converged(trace, tol: float) -> bool:
    """The stopping rule shared by every fit loop: the last ELBO change is small relative to
    the ELBO, ``|L_t - L_{t-1}| <= tol * |L_t|``. ``tol = 0`` never stops early."""
    if tol <= 0 or len(trace) < 2:
        return False
    return abs(trace[-1] - trace[-2]) <= tol * abs(trace[-1])


@dataclass(frozen=True)
class FitResult:
    """Output of a fit loop.

    ``params``: parameter name -> final value (the variational parameters, and any model
    parameter the loop learns); ``elbo``: (n_iter,) full ELBO (constants included) after each
    sweep; ``n_iter``: sweeps run; ``converged``: the stopping rule was met.
    Parameters are also readable as ``result["m"]`` and ``result.m``.
    """

    params: dict
    elbo: np.ndarray
    n_iter: int
    converged: bool
    extra: dict = field(default_factory=dict)

    def __getitem__(self, name):
        return self.params[name]

    def __getattr__(self, name):
        params = self.__dict__.get("params")
        if params is not None and name in params:
            return params[name]
        extra = self.__dict__.get("extra")
        if extra is not None and name in extra:
            return extra[name]
        raise AttributeError(f"{type(self).__name__} has no field or parameter {name!r}")
