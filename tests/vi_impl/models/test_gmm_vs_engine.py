"""The engine's derived ELBO pieces and CAVI updates for the coursework mixture, turned into
NumPy, agree with the hand-written vi_impl.models.gmm to 1e-10 relative, on random sizes/parameters."""
import numpy as np
import pytest

import vi_derivations as vd

gmm_impl = pytest.importorskip("vi_impl.models.gmm")

RTOL = 1e-10


@pytest.fixture(scope="module")
def engine():
    M = vd.models.load("gmm")
    fns = {}
    for c in (True, False):
        fns["log_joint", c] = vd.to_numpy(vd.log_joint(M, constants=c), M)
        fns["log_var", c] = vd.to_numpy(vd.log_var(M, constants=c), M)
        fns["elbo", c] = vd.to_numpy(vd.elbo(M, constants=c), M)
    upd = {u.var: u.numeric() for u in vd.derive_updates(M)}
    return M, fns, upd


def _random_problem(seed):
    rng = np.random.default_rng(seed)
    N, K, D = rng.integers(1, 40), rng.integers(1, 7), rng.integers(1, 5)
    X = rng.normal(scale=rng.uniform(0.5, 5), size=(N, D)) + rng.normal(size=D) * 3
    m = rng.normal(scale=2, size=(K, D))
    s2 = rng.uniform(0.05, 3.0, size=(K, D))
    pi = rng.dirichlet(np.ones(K) * rng.uniform(0.3, 3), size=N)
    sigma2 = float(rng.uniform(0.2, 10))
    return X, m, s2, pi, sigma2


def _close(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    scale = max(np.max(np.abs(b)), 1e-300)
    return np.max(np.abs(a - b)) <= RTOL * scale


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("constants", [True, False])
def test_elbo_pieces_match_impl(engine, seed, constants):
    M, fns, _ = engine
    X, m, s2, pi, sigma2 = _random_problem(seed)
    args = dict(x=X, m=m, s2=s2, pi=pi, sigma2=sigma2)
    lj = fns["log_joint", constants](**args)
    lv = fns["log_var", constants](m=m, s2=s2, pi=pi)
    el = fns["elbo", constants](**args)
    assert _close(lj, gmm_impl.log_joint(X, m, s2, pi, sigma2, constants=constants))
    assert _close(lv, gmm_impl.log_var(m, s2, pi, constants=constants))
    assert _close(el, gmm_impl.elbo(X, m, s2, pi, sigma2, constants=constants))


@pytest.mark.parametrize("seed", range(12))
def test_updates_match_impl(engine, seed):
    M, _, upd = engine
    X, m, s2, pi, sigma2 = _random_problem(seed)
    new_mu = upd["mu"](x=X, pi=pi, sigma2=sigma2)
    new_c = upd["c"](x=X, m=m, s2=s2)
    assert _close(new_mu["m"], gmm_impl.update_m(X, pi, sigma2))
    assert _close(new_mu["s2"], gmm_impl.update_s2(X, pi, sigma2))
    assert _close(new_c["pi"], gmm_impl.update_pi(X, m, s2))
    assert new_mu["m"].shape == m.shape and new_c["pi"].shape == pi.shape


def test_symbolic_update_expressions_match_impl(engine):
    """The displayed update formulas (not only the natural-parameter route) evaluate to vi_impl."""
    M, _, _ = engine
    X, m, s2, pi, sigma2 = _random_problem(99)
    for u in vd.derive_updates(M):
        for eq in u.assignments:
            name = str(eq.lhs.base.label)
            f = vd.to_numpy(eq.rhs, M, out=eq.lhs.indices)
            val = f(x=X, m=m, s2=s2, pi=pi, sigma2=sigma2) if name != "pi" else f(x=X, m=m, s2=s2)
            ref = {"m": lambda: gmm_impl.update_m(X, pi, sigma2),
                   "s2": lambda: gmm_impl.update_s2(X, pi, sigma2),
                   "pi": lambda: gmm_impl.update_pi(X, m, s2)}[name]()
            assert _close(val, ref), name
