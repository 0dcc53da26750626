r"""Named functions a textbook prints by name: Jaakkola and Jordan's
``lambda(xi) = tanh(xi/2) / (4 xi)`` (:meth:`vi_derivations.local_bound.JaakkolaJordan.lam`) and
the log-sigmoid ``log sigma(u) = -log(1 + e^-u)`` (:meth:`~vi_derivations.local_bound.JaakkolaJordan.log_sigmoid`).

:func:`name_functions` writes ``c tanh(u/2) u^p`` (p != 0) as ``4 c u^(p+1) lambda(u)`` and
``log(1 + e^-u)`` as ``-log sigma(u)``; both forms unfold to the engine's own definitions, so
:mod:`.proof` checks every use.
"""
from __future__ import annotations

import sympy as sp

from .forms import _Form

__all__ = ["JJLambda", "LogSigmoid", "name_functions"]


class JJLambda(_Form):
    """lambda(u) = tanh(u/2) / (4 u), the curvature of the Jaakkola-Jordan bound."""
    nargs = 1

    def unfold(self):
        from ..local_bound import JaakkolaJordan
        return JaakkolaJordan.lam(self.args[0])

    def _latex(self, printer, exp=None):
        tex = r"\lambda\left(" + printer._print(self.args[0]) + r"\right)"
        return tex if exp is None else tex + "^{" + exp + "}"


class LogSigmoid(_Form):
    """log sigma(u) = -log(1 + e^-u), sigma the logistic sigmoid."""
    nargs = 1

    def unfold(self):
        from ..local_bound import JaakkolaJordan
        return JaakkolaJordan.log_sigmoid(self.args[0])

    def _latex(self, printer, exp=None):
        tex = r"\log\sigma\left(" + printer._print(self.args[0]) + r"\right)"
        return tex if exp is None else r"\left(" + tex + r"\right)^{" + exp + "}"


def _log_sigmoid(f):
    """log(1 + e^-u) -> -log sigma(u)."""
    a = f.args[0]
    if isinstance(a, sp.Add) and len(a.args) == 2 and sp.S.One in a.args:
        e = [t for t in a.args if t != 1][0]
        if isinstance(e, sp.exp):
            return -LogSigmoid(-e.args[0])
    return f


def _name_in_mul(m):
    fs = list(sp.Mul.make_args(m))
    for g in fs:
        if not isinstance(g, sp.tanh):
            continue
        u = 2 * g.args[0]
        if not u.is_positive:
            continue
        p = sum(f.exp for f in fs if isinstance(f, sp.Pow) and f.base == u and f.exp.is_Integer) \
            + sum(1 for f in fs if f == u)
        if p == 0:
            continue
        rest = [f for f in fs if f is not g and f != u and not (isinstance(f, sp.Pow) and f.base == u)]
        return sp.Mul(4, *rest, u ** (p + 1), JJLambda(u))
    return m


def name_functions(expr):
    """``tanh(u/2) / u`` (times any power of u) written with lambda(u), ``log(1 + e^-u)`` with
    log sigma(u)."""
    out = expr.replace(lambda e: isinstance(e, sp.log), _log_sigmoid)
    out = out.replace(lambda e: isinstance(e, sp.Mul) and e.has(sp.tanh), _name_in_mul)
    if isinstance(out.as_coeff_Mul()[1], (JJLambda, LogSigmoid)):   # the definition itself: "lambda = lambda"
        return expr
    return out
