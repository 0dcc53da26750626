"""The rewrite pipeline: an engine expression in the shape a textbook prints (unproved here;
:func:`vi_derivations.typeset.typeset` proves it or falls back to the raw form).

Named functions (:mod:`.functions`), matrix forms (:mod:`.matrix`), plate sums (:mod:`.sums`),
quadratic forms of one vector added up (:mod:`.forms`), then term-level algebra (:mod:`.algebra`),
each pass applied over the whole expression.
"""
from __future__ import annotations

import sympy as sp
from sympy import Sum

from .algebra import (_group_args, _log_of_inverse, collect_constants, merge_logs, over_common_denominator,
                      positive_denominators)
from .forms import merge_quadratic_forms
from .functions import name_functions
from .matrix import matrix_forms
from .sums import cancel_plate_sums, join_plate_sums, merge_matrix_sums, merge_plate_sums, regroup_sum

__all__ = ["rewrite", "regroup_sum", "merge_logs", "positive_denominators"]


def rewrite(expr):
    """The textbook form of ``expr`` (unproved: see :func:`vi_derivations.typeset.typeset`)."""
    e = matrix_forms(name_functions(expr))
    e = merge_plate_sums(e)
    e = cancel_plate_sums(e)
    e = e.replace(lambda x: isinstance(x, sp.Add), merge_matrix_sums)
    e = e.replace(lambda x: isinstance(x, Sum), regroup_sum)
    e = e.replace(lambda x: isinstance(x, sp.Add), merge_quadratic_forms)
    e = e.replace(lambda x: isinstance(x, sp.Add), join_plate_sums)
    e = e.replace(lambda x: isinstance(x, sp.Add), merge_logs)
    e = e.replace(lambda x: isinstance(x, sp.log), _log_of_inverse)
    e = e.replace(lambda x: isinstance(x, sp.exp), _group_args)
    e = e.replace(lambda x: isinstance(x, sp.Add), lambda a: over_common_denominator(a, require_square=True))
    e = positive_denominators(e)
    inner = e.args[0] if type(e).__name__ == "Expect" and len(e.args) == 1 else None   # E_q[...] of a whole sum
    return e.func(collect_constants(inner)) if inner is not None else collect_constants(e)
