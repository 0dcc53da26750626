"""Displays that use X^T = X for matrices a model declares symmetric (vi_derivations.typeset.symmetry).

The proof may use the symmetry only of what is declared: the same display against the engine's
expression with the matrix declared plain (or with non-symmetric values) must fail.  Each display of
the Bayesian mixture is also re-evaluated on random symmetric positive-definite matrices.
"""
import numpy as np
import pytest
import sympy as sp
from sympy import Indexed, IndexedBase

import vi_derivations as vd
from vi_derivations.distributions import MatrixInverse
from vi_derivations.model import SymmetricBase, is_symmetric
from vi_derivations.render import latex
from vi_derivations.typeset import _REWRITE, cache_clear, proved_equal, typeset, unfold
from vi_derivations.typeset.definitions import definitions, expand_definitions
from vi_derivations.typeset.proof import Point, _Eval
from vi_derivations.typeset.rewrite import rewrite
from vi_derivations.typeset.symmetry import canonical
from vi_derivations.wishart import matrix_plate


@pytest.fixture(scope="module")
def gmm():
    model = vd.models.load("bayesian_gmm")
    return model, vd.derive(model)


def _w_update(gmm):
    model, d = gmm
    (u,) = [u for u in d.updates if u.var == "mu"]
    eq = [e for e in u.assignments if len(e.lhs.indices) == 3][0]
    return model, u, eq


def _plain(expr):
    """``expr`` with every symmetric declaration dropped (the same names, plain IndexedBase)."""
    bases = {b for b in sp.sympify(expr).atoms(IndexedBase) if is_symmetric(b)}
    return sp.sympify(expr).xreplace({b: IndexedBase(b.label, shape=b.shape) for b in bases})


def test_the_wishart_scale_update_reads_w0_inverse_once(gmm):
    model, u, eq = _w_update(gmm)
    ts = typeset(eq, given=u.assignments)
    tex = latex(eq, model=model, given=u.assignments)
    assert ts.proved
    assert r"^{-\top}" not in tex and r"\frac{W_{0}^{-1}}{2}" not in tex
    assert tex.count(r"W_{0}^{-1}") == 1 and tex.startswith(r"W_{k} = \left(W_{0}^{-1} + ")
    # the engine's own expression still holds both halves (W0^-1 + W0^-T)/2
    invs = [n for n in sp.preorder_traversal(eq.rhs) if isinstance(n, MatrixInverse) and isinstance(n.args[0], Indexed)]
    assert len(invs) == 2 and invs[0].args[3:] == invs[1].args[3:][::-1]


def test_the_proof_does_not_accept_the_symmetry_of_an_undeclared_matrix(gmm):
    model, u, eq = _w_update(gmm)
    defs = tuple(df for df in definitions(u.assignments) if df[0] != eq.lhs.base)
    shown = expand_definitions(unfold(typeset(eq, given=u.assignments).display.rhs), defs)
    assert proved_equal(shown, eq.rhs, trials=3, seed=5)
    # the same display against the same engine expression with W0 declared plain: refused
    assert not proved_equal(_plain(shown), _plain(eq.rhs), trials=3, seed=5)
    # and the plain expression is not collapsed: its display keeps W0^-T
    cache_clear()
    plain = _plain(eq)
    assert canonical(plain) == plain
    tex = latex(plain, model=model, given=tuple(_plain(a) for a in u.assignments))
    assert r"W_{0}^{-\top}" in tex


def test_a_rewrite_that_treats_a_plain_matrix_as_symmetric_falls_back(gmm, monkeypatch):
    model, u, eq = _w_update(gmm)
    plain = _plain(eq)
    given = tuple(_plain(a) for a in u.assignments)
    fake = {}

    def as_symmetric(e):      # the W0 of the plain expression passed off as symmetric
        bases = {b for b in e.atoms(IndexedBase) if str(b.label) == "W0"}
        fake.update({b: SymmetricBase(b.label, shape=b.shape) for b in bases})
        return _plain(rewrite(canonical(e.xreplace(fake))))

    cache_clear()
    monkeypatch.setitem(_REWRITE, "fn", as_symmetric)
    ts = typeset(plain, given=given)
    assert fake and ts.rewritten and not ts.proved and ts.display == ts.tidy
    halves = [n for n in sp.preorder_traversal(ts.display.rhs) if isinstance(n, MatrixInverse)
              and isinstance(n.args[0], Indexed) and str(n.args[0].base.label) == "W0"]
    assert len(halves) == 2                       # the raw form, both halves of (W0^-1 + W0^-T)/2, is shown
    monkeypatch.setitem(_REWRITE, "fn", rewrite)
    cache_clear()


def test_a_trace_of_two_plain_matrices_needs_a_transpose():
    D = vd.Plate("D", "d")
    E = matrix_plate(D, "E", "e")
    d, e = D.index, E.index
    A, B = IndexedBase(sp.Symbol("A", real=True)), IndexedBase(sp.Symbol("B", real=True))
    raw = sp.Sum(A[d, e] * B[d, e], (d, 0, D.size - 1), (e, 0, D.size - 1))
    assert r"\operatorname{tr}" not in latex(raw)          # sum_de A_de B_de is tr(A B^T), not tr(A B)
    S = SymmetricBase(sp.Symbol("S", real=True))
    raw_s = raw.xreplace({B: S})
    ts = typeset(raw_s)
    assert ts.proved and r"\operatorname{tr}" in latex(raw_s)
    assert not proved_equal(_plain(unfold(ts.display)), _plain(raw_s), trials=3)


def _spd(rng, D):
    a = rng.normal(size=(D, D))
    return a @ a.T / D + 0.5 * np.eye(D)


class _Arrays(Point):
    """A point with given arrays: symmetric positive-definite matrices where declared symmetric."""

    def __init__(self, seed, arrays, sizes):
        super().__init__(seed)
        self.arrays, self.sizes = arrays, sizes

    def size(self, sym):
        return self.sizes[sym.name]

    def value(self, key, positive):
        if isinstance(key, tuple) and len(key) == 2 and key[0] in self.arrays:
            return float(self.arrays[key[0]][key[1]])
        return super().value(key, positive)


def _mixture_arrays(rng, sizes, symmetric=True):
    N, K, D = sizes["N"], sizes["K"], sizes["D"]
    mats = lambda n: np.stack([_spd(rng, D) for _ in range(n)])
    out = {"W0": _spd(rng, D), "W": mats(K), "Lambda": mats(K), "x": rng.normal(size=(N, D)),
           "m": rng.normal(size=(K, D)), "m0": rng.normal(size=D), "mu": rng.normal(size=(K, D)),
           "r": rng.dirichlet(np.ones(K), N), "c": rng.dirichlet(np.ones(K), N),
           "alpha0": rng.uniform(0.5, 2, K), "alpha_w": rng.uniform(0.5, 2, K), "beta": rng.uniform(0.5, 2, K),
           "nu": rng.uniform(D, D + 2, K), "w": rng.dirichlet(np.ones(K))}
    if not symmetric:
        out["W0"] = out["W0"] + np.triu(rng.normal(size=(D, D)), 1)
    return {k: {tuple(int(i) for i in ix): v for ix, v in np.ndenumerate(a)} for k, a in out.items()}


def _displays(gmm):
    model, d = gmm
    for key, ch in d.chains.items():
        for n, st in enumerate(ch.steps):
            yield f"{key}[{n}]", st.expr, ()
    for u in d.updates:
        for eq in u.assignments:
            yield f"{u.var}:{eq.lhs}", eq, tuple(u.assignments)


def test_every_mixture_display_equals_the_engine_on_symmetric_positive_definite_matrices(gmm):
    rng = np.random.default_rng(11)
    sizes = {"N": 4, "K": 2, "D": 3}
    arrays = _mixture_arrays(rng, sizes)
    checked = 0
    for label, expr, given in _displays(gmm):
        ts = typeset(expr, given=given)
        if not ts.proved:
            continue
        defs = tuple(df for df in definitions(given) if not isinstance(expr, sp.Eq) or df[0] != expr.lhs.base)
        raw = expr.rhs if isinstance(expr, sp.Eq) else expr
        shown = expand_definitions(unfold(ts.display.rhs if isinstance(expr, sp.Eq) else ts.display), defs)
        ev = _Eval(_Arrays(("spd", label), arrays, sizes))
        a, b = ev.num(raw, {}), ev.num(shown, {})
        assert abs(a - b) <= 1e-9 * (1 + abs(a) + abs(b)), label
        checked += 1
    assert checked > 20


def test_the_short_forms_need_the_symmetry_they_use(gmm):
    """With a non-symmetric W0 the displays that use W0^T = W0 differ from the engine's expression."""
    rng = np.random.default_rng(12)
    sizes = {"N": 4, "K": 2, "D": 3}
    arrays = _mixture_arrays(rng, sizes, symmetric=False)
    model, u, eq = _w_update(gmm)
    defs = tuple(df for df in definitions(u.assignments) if df[0] != eq.lhs.base)
    shown = expand_definitions(unfold(typeset(eq, given=u.assignments).display.rhs), defs)
    env = {eq.lhs.indices[0]: 1, eq.lhs.indices[1]: 0, eq.lhs.indices[2]: 2}
    ev = _Eval(_Arrays("nonsym", arrays, sizes))
    a, b = ev.num(_plain(eq.rhs), env), ev.num(_plain(shown), env)
    assert abs(a - b) > 1e-6 * (1 + abs(a))


def test_terms_equal_by_symmetry_and_renaming_are_added_up():
    D = vd.Plate("D", "d")
    d, e = D.index, D.fresh()
    f = D.fresh()
    mu = IndexedBase(sp.Symbol("mu", real=True))
    L = SymmetricBase(sp.Symbol("L", real=True))
    raw = sp.Sum(L[d, e] * mu[e], (e, 0, D.size - 1)) + sp.Sum(L[f, d] * mu[f], (f, 0, D.size - 1))
    out = canonical(raw)
    assert isinstance(out, sp.Mul) and out.args[0] == 2 and proved_equal(out, raw, trials=3)
    plain = _plain(raw)
    assert canonical(plain) == plain                       # L_fd is not L_df for a plain L
    assert not proved_equal(_plain(out), plain, trials=3)
