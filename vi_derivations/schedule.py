"""Update schedule of one q factor: may its elements be updated at once, or one at a time?

Under the mean-field q, the optimal element q*(z_r) ∝ exp E_{-z_r}[log p] involves another
element z_r' of the *same* factor only through a term of the log joint that contains both
z_r and z_r' (r' != r).  So:

* if no monomial of the (support-reduced) log joint contains two atoms of z whose batch
  indices may differ, the elements are conditionally independent given the other factors;
  updating all of them at once (a Jacobi step) *is* coordinate ascent: ``kind="vectorised"``;
* otherwise the elements are coupled along the plates where the two indices differ
  (e.g. ``X_nj X_nl w_j w_l`` couples w_j and w_l along D): a simultaneous update can
  decrease the ELBO (and diverge), so the elements must be updated one at a time along those
  plates (Gauss-Seidel), still vectorised over the remaining batch plates, which are
  independent blocks: ``kind="sequential"``.

Stable API (imported by the standalone code generator)::

    update_schedule(model, factor_name) -> Schedule
    Schedule.kind     "vectorised" | "sequential"
    Schedule.plates   names of the plates along which elements must be updated one at a
                      time (empty when vectorised), in the order of the factor's plates
    Schedule.positions  axis positions of those plates in the factor's variable
    Schedule.reason   one sentence saying why (naming a coupling term when sequential)
    Schedule.terms    the coupling terms (strings), at most a few

The event plates of a factor (the one-hot K of a Categorical, the J of an MvNormal) are inside
one element and never count as coupling.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import sympy as sp

__all__ = ["Schedule", "update_schedule", "coupled_plates"]


@dataclass(frozen=True)
class Schedule:
    """How to update the elements of one q factor (see the module docstring)."""

    factor: str
    kind: str
    plates: tuple = ()
    positions: tuple = ()
    reason: str = ""
    terms: tuple = ()

    @property
    def vectorised(self) -> bool:
        return self.kind == "vectorised"


def coupled_plates(model, name):
    """(positions of coupled batch plates in the variable, coupling terms as strings)."""
    from .elbo import random_monos
    qf = model.qfactors[name]
    fam = qf.dist
    batch_pos = fam.batch_positions
    positions, terms = set(), []
    for mono in random_monos(model):
        mine = [a for a in mono.atoms if a.var == name]
        if len(mine) < 2:
            continue
        found = False
        for A, B in itertools.combinations(mine, 2):
            ba, bb = fam.batch_of(A.index), fam.batch_of(B.index)
            for pos, u, v in zip(batch_pos, ba, bb):
                if sp.sympify(u) != sp.sympify(v):
                    positions.add(pos)
                    found = True
        if found and len(terms) < 3:
            terms.append(f"{mono.body()} (in {mono.origin})")
    return tuple(sorted(positions)), tuple(terms)


def update_schedule(model, factor_name) -> Schedule:
    """The update schedule of q(factor_name) in ``model`` (cached on the model)."""
    name = model.var(factor_name).name
    if name not in model.qfactors:
        raise ValueError(f"update_schedule: {name!r} has no variational factor q({name})")
    key = ("schedule", name)
    if key in model._cache:
        return model._cache[key]
    v = model.variables[name]
    positions, terms = coupled_plates(model, name)
    if not positions:
        batch = [p.name for p in model.qfactors[name].batch_plates]
        over = f" over {', '.join(batch)}" if batch else ""
        reason = (f"vectorised: no term of the log joint contains two different elements of {name}, so the "
                  f"elements of q({name}){over} are independent given the other factors and updating them "
                  f"at once is coordinate ascent")
        s = Schedule(name, "vectorised", (), (), reason, ())
    else:
        plates = tuple(v.plates[p].name for p in positions)
        reason = (f"sequential over {', '.join(plates)}: the term {terms[0]} couples different elements of "
                  f"{name}, so updating them at once could decrease the ELBO; they are updated one at a "
                  f"time along {', '.join(plates)}"
                  + (" (vectorised over the other plates)" if len(positions) < len(model.qfactors[name].batch_plates) else ""))
        s = Schedule(name, "sequential", plates, positions, reason, terms)
    model._cache[key] = s
    return s
