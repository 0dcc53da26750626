"""Small, fast building blocks for ledger checks.

Symbolic: :func:`is_zero` / :func:`same` (SymPy ``simplify``, falling back to
evaluation at random points to 1e-12 when simplification is inconclusive).
Numerical: Gauss--Hermite expectations under diagonal Gaussians (exact for
polynomials), scipy quadrature, and Monte Carlo agreement within a stated number
of standard errors.  Every random draw uses a fixed seed.
"""
from __future__ import annotations

import itertools
from typing import Callable, Iterable, Sequence

import numpy as np
import sympy as sp
from scipy import integrate, special, stats

SEED = 20240611


def rng(offset: int = 0) -> np.random.Generator:
    """A generator with the ledger's fixed seed (plus ``offset``)."""
    return np.random.default_rng(SEED + offset)


# ----------------------------------------------------------------- symbolic
def numeric_zero(expr, symbols: Sequence[sp.Symbol] | None = None, n: int = 12,
                 tol: float = 1e-12, seed: int = 0, low: float = 0.3, high: float = 2.5) -> bool:
    """``expr`` vanishes at ``n`` random points (all symbols drawn in [low, high])."""
    expr = sp.sympify(expr)
    syms = sorted(expr.free_symbols, key=str) if symbols is None else list(symbols)
    g = rng(seed)
    f = sp.lambdify(syms, expr, modules=["scipy", "numpy"])
    for _ in range(n):
        vals = g.uniform(low, high, size=len(syms))
        v = complex(f(*vals))
        if not np.isfinite(v) or abs(v) > tol * max(1.0, 1.0):
            return False
    return True


def is_zero(expr, numeric_fallback: bool = True) -> bool:
    """SymPy proves ``expr == 0`` (``simplify``); if it cannot decide, random points."""
    expr = sp.sympify(expr)
    s = sp.simplify(expr)
    if s == 0:
        return True
    if s.is_number:
        return bool(abs(complex(s)) < 1e-13)
    return numeric_fallback and numeric_zero(s)


def same(a, b, numeric_fallback: bool = True) -> bool:
    """``a`` and ``b`` are identical expressions (symbolically, else at random points)."""
    return is_zero(sp.sympify(a) - sp.sympify(b), numeric_fallback)


def differs(a, b, seed: int = 1) -> bool:
    """``a - b`` is non-zero at a random point: a refutation of ``a == b``."""
    d = sp.sympify(a) - sp.sympify(b)
    if d == 0:
        return False
    return not numeric_zero(d, n=3, tol=1e-9, seed=seed)


def gaussian_expectation_sym(expr, x: sp.Symbol, mean, var):
    """E[expr] for x ~ N(mean, var), by integration with sympy.stats."""
    from sympy.stats import E, Normal
    X = Normal("X_" + str(x), mean, sp.sqrt(var))
    return sp.simplify(E(expr.subs(x, X)))


# ---------------------------------------------------------------- numerical
def gh_expect(f: Callable[[np.ndarray], np.ndarray], mean: Iterable[float],
              var: Iterable[float], n: int = 24) -> float:
    """E[f(z)] for z ~ N(mean, diag(var)) by tensor Gauss--Hermite (exact for
    polynomials of degree < 2n).  ``f`` takes an array (points, d)."""
    mean = np.atleast_1d(np.asarray(mean, float))
    sd = np.sqrt(np.atleast_1d(np.asarray(var, float)))
    x, w = np.polynomial.hermite_e.hermegauss(n)
    w = w / w.sum()
    d = mean.size
    pts = np.array(list(itertools.product(x, repeat=d)))
    wts = np.prod(np.array(list(itertools.product(w, repeat=d))), axis=1)
    z = mean + sd * pts
    return float(np.sum(wts * f(z)))


def quad(f: Callable[[float], float], a: float = -np.inf, b: float = np.inf, **kw) -> float:
    """One-dimensional integral by adaptive quadrature (scipy)."""
    kw.setdefault("limit", 200)
    kw.setdefault("epsabs", 1e-14)
    kw.setdefault("epsrel", 1e-12)
    return float(integrate.quad(f, a, b, **kw)[0])


def close(a, b, rtol: float = 1e-9, atol: float = 1e-10) -> bool:
    return bool(np.allclose(a, b, rtol=rtol, atol=atol))


def mc_agrees(samples: np.ndarray, target: float, n_se: float = 4.0) -> bool:
    """Monte Carlo mean of ``samples`` within ``n_se`` standard errors of ``target``."""
    s = np.asarray(samples, float).ravel()
    se = s.std(ddof=1) / np.sqrt(s.size)
    return bool(abs(s.mean() - target) <= n_se * se + 1e-12)


def mc_disagrees(samples: np.ndarray, target: float, n_se: float = 8.0) -> bool:
    """Monte Carlo mean of ``samples`` more than ``n_se`` standard errors from ``target``."""
    s = np.asarray(samples, float).ravel()
    se = s.std(ddof=1) / np.sqrt(s.size)
    return bool(abs(s.mean() - target) > n_se * se)


def norm_logpdf(x, mean, var):
    """log N(x | mean, var), elementwise."""
    x, mean, var = np.asarray(x, float), np.asarray(mean, float), np.asarray(var, float)
    return -0.5 * np.log(2 * np.pi * var) - 0.5 * (x - mean) ** 2 / var


def logsumexp(a, axis=None):
    return special.logsumexp(a, axis=axis)


# ------------------------------------------------- the CAVI optimal factor
def cavi_optimal_factor_discrete(seed: int = 0, sizes=(3, 4, 2), trials: int = 200) -> bool:
    """q*(z_1) ∝ exp E_{q_2 q_3}[log p(z, x)] maximises the ELBO over q_1 with q_2,
    q_3 held fixed: checked on a random discrete joint by exact enumeration against
    ``trials`` random competitors and against a direct numerical optimisation."""
    from scipy.optimize import minimize
    g = rng(300 + seed)
    logp = np.log(g.dirichlet(np.ones(int(np.prod(sizes))))).reshape(sizes)
    q2 = g.dirichlet(np.ones(sizes[1]))
    q3 = g.dirichlet(np.ones(sizes[2]))

    def elbo(q1):
        q = q1[:, None, None] * q2[None, :, None] * q3[None, None, :]
        return float(np.sum(q * (logp - np.log(q))))

    expected = np.einsum("ijk,j,k->i", logp, q2, q3)
    qstar = np.exp(expected - special.logsumexp(expected))
    best = elbo(qstar)
    for _ in range(trials):
        if elbo(g.dirichlet(np.ones(sizes[0]))) > best + 1e-12:
            return False
    res = minimize(lambda a: -elbo(np.exp(a - special.logsumexp(a))), np.zeros(sizes[0]),
                   method="BFGS", options={"gtol": 1e-10})
    qopt = np.exp(res.x - special.logsumexp(res.x))
    return bool(np.allclose(qopt, qstar, atol=1e-5) and best >= -res.fun - 1e-10)
