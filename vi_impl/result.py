"""One result type and one stopping rule for every fit loop of :mod:`vi_impl`.

The field names match the engine's :class:`vi_derivations.cavi.CaviResult`, so a generated
CAVI run and a hand-written one are read the same way.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["FitResult", "DEFAULT_TOL", "elbo_converged", "step_converged"]

#: Default relative tolerance of every fit loop (see :func:`elbo_converged`).
DEFAULT_TOL = 1e-8

# ELBO changes below this many units of rounding (relative to |L|) carry no information.
_ROUNDING_ULPS = 64.0


def _settled(d1, d0, scale, floor) -> bool:
    """|d1| <= scale, and either |d1| <= floor (rounding) without growing (d1 <= 2 |d0| + 4 ulp),
    or the changes shrink (0 <= d1 < d0) with the projected remaining change d1 r / (1 - r),
    r = d1 / d0 (Aitken), <= scale."""
    if not abs(d1) <= scale:
        return False
    if abs(d1) <= floor and d1 <= 2.0 * abs(d0) + floor / 16:
        return True
    if not 0 <= d1 < d0:
        return False
    r = d1 / d0
    return d1 * r / (1.0 - r) <= scale


def elbo_converged(trace, tol: float) -> bool:
    """The stopping rule shared by every fit loop of :mod:`vi_impl`.

    With increments d_t = L_t - L_{t-1} of the ELBO trace, the run has converged when

    * the last increment is small, |d_t| <= tol |L_t|; and
    * the optimiser is not on a flat stretch it is about to leave: either d_t is at the
      level of rounding (|d_t| <= 64 eps |L_t|, nothing measurable is left to gain) and not
      more than twice d_{t-1} (growing increments, even tiny ones, mean the iterate is
      accelerating away from a saddle), or the increments shrink (0 <= d_t < d_{t-1}) and the gain still to come if they keep
      shrinking at the same rate r = d_t / d_{t-1}, d_t r / (1 - r) (Aitken), is also
      <= tol |L_t|.

    Both conditions must hold at the last two iterations (a plateau where the increments
    shrink for one sweep and then grow again is not convergence). Near a saddle the ELBO is
    flat and then its increments grow as the iterate leaves it, so the second condition fails
    there. The rule needs four ELBO values; ``tol = 0`` never stops early.
    """
    if tol <= 0 or len(trace) < 4:
        return False
    return all(_settled(trace[t] - trace[t - 1], trace[t - 1] - trace[t - 2],
                        tol * abs(trace[t]), _ROUNDING_ULPS * np.finfo(float).eps * abs(trace[t]))
               for t in (-1, -2))


def step_converged(steps, scale: float, tol: float) -> bool:
    """The same rule for the parameters, used *in addition* by loops whose ELBO is quadratic
    in them (near the optimum an ELBO change of tol allows parameter errors of sqrt(tol)).

    ``steps``: the largest absolute parameter change of each iteration so far; ``scale``: the
    size of the parameters (e.g. 1 + max |m|). Converged when the last step is <= tol scale
    and the steps shrink fast enough that the projected remaining change (Aitken) is too,
    or the last step is at the level of rounding (64 eps scale).
    """
    if tol <= 0 or len(steps) < 2:
        return False
    return _settled(steps[-1], steps[-2], tol * scale,
                    _ROUNDING_ULPS * np.finfo(float).eps * scale)


@dataclass(frozen=True)
class FitResult:
    """Output of a fit loop.

    ``params``: parameter name -> final value (the variational parameters, and any model
    parameter the loop learns); ``elbo``: (n_iter,) full ELBO (constants included) after each
    sweep; ``n_iter``: sweeps run; ``converged``: the stopping rule was met; ``extra``:
    anything else a loop reports (restart ELBOs, timings, traces of the parameters).
    Parameters and extras are also readable as attributes (``result.m``), parameters as
    ``result["m"]``.
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
