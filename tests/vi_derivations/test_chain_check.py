"""The engine's chain checker (:mod:`vi_derivations.chain_check`): every step of every chain
of every engine model is decided and holds, and a corrupted step of each relation is rejected."""
from __future__ import annotations

import warnings

import pytest


def _quiet(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn()


def _model_names():
    try:
        import vi_derivations as vd
        return list(vd.models.available())
    except Exception as exc:  # reported by the test below, not at collection
        return [f"<engine models unavailable: {type(exc).__name__}>"]


@pytest.mark.parametrize("name", _model_names())
def test_every_engine_chain_step_is_checked(name):
    """Each consecutive pair of steps of every chain the engine renders is decided (no
    unchecked step) and holds."""
    import vi_derivations as vd
    from vi_derivations.chain_check import check_derivation
    model = vd.models.load(name)
    res = _quiet(lambda: check_derivation(model))
    assert res, f"{name}: no derivation steps found"
    unchecked = [f"{r.chain}[{r.step}] {r.relation}: {r.detail}" for r in res if not r.checked]
    assert not unchecked, f"{name}: unchecked steps: {unchecked}"
    failing = [f"{r.chain}[{r.step}] {r.relation}: {r.detail}" for r in res if not r.ok]
    assert not failing, f"{name}: steps that do not hold: {failing}"


def test_chain_checker_catches_broken_steps():
    """Corrupt one step of each relation type and the checker must reject it."""
    import copy
    import sympy as sp
    import vi_derivations as vd
    from vi_derivations.chain_check import check_chain
    model = vd.models.load("gmm")
    chains = vd.derive(model).chains

    def broken(name, n, change):
        ch = copy.deepcopy(chains[name])
        ch.steps[n].expr = change(ch.steps[n].expr)
        return _quiet(lambda: check_chain(model, name, ch))[n - 1]

    m = [v for v in model.variables.values() if v.name == "m"][0]
    k, d = (p.index for p in m.plates)
    some_m = sp.Sum(m.symbol[k, d] ** 2, (k, 0, k.upper), (d, 0, d.upper))
    r = broken("log_joint", 1, lambda e: e + sp.Rational(1, 3))                 # '=' off by a constant
    assert r.checked and not r.ok
    r = broken("expected_log_joint", 1, lambda e: 1.2 * e)                       # '=E' wrong expectation
    assert r.checked and not r.ok
    r = broken("elbo", 1, lambda e: e + some_m)                                  # '+const' adds a parameter term
    assert r.checked and not r.ok
    r = broken("update_mu", 2, lambda e: e + chains["update_mu"].wrt[0])         # update: extra term in mu_kd
    assert r.checked and not r.ok
