"""The generated CAVI's contract: update order, stopping rule, result, source, input checks."""
import ast

import numpy as np
import pytest

import vi_derivations as vd
from vi_derivations.cavi import CaviResult, GeneratedCAVI, cavi, generate_cavi


@pytest.fixture(scope="module")
def pm():
    return cavi(vd.models.load("gmm_prior_mean"), order=["c", "mu"])


def pm_data(seed=0, N=40, K=3, D=2):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, D)) + 4 * rng.integers(0, K, size=N)[:, None]
    data = dict(x=X, alpha=np.zeros(D), sigma2=4.0, lambda2=1.0)
    init = dict(m=X[rng.choice(N, K, replace=False)], s2=np.ones(K))
    return data, init


def test_exported_from_the_package():
    assert vd.cavi is cavi and vd.generate_cavi is generate_cavi and vd.CaviResult is CaviResult


def test_default_order_is_the_declaration_order_and_order_is_checked():
    M = vd.models.load("gmm_prior_mean")
    assert cavi(M).order == tuple(M.qfactors) == ("mu", "c")
    assert generate_cavi(M, order=("c", "mu")).order == ("c", "mu")
    for bad in (["c"], ["c", "mu", "c"], ["c", "nu"]):
        with pytest.raises(ValueError, match="order must list every q factor"):
            cavi(M, order=bad)


def test_required_init_follows_the_order():
    M = vd.models.load("gmm_prior_mean")
    assert set(cavi(M, order=["c", "mu"]).required_init) == {"m", "s2"}
    assert set(cavi(M).required_init) == {"phi"}


def test_run_returns_parameters_trace_and_status(pm):
    data, init = pm_data()
    res = pm.run(data, init, tol=1e-12, max_iter=500)
    assert isinstance(res, CaviResult)
    assert set(res.params) == {"m", "s2", "phi"}
    assert res.params["m"].shape == (3, 2) and res.params["s2"].shape == (3,) and res.params["phi"].shape == (40, 3)
    assert res.converged and res.n_iter == len(res.elbo) < 500
    assert abs(res.elbo[-1] - res.elbo[-2]) <= 1e-12 * abs(res.elbo[-1])
    assert res.order == ("c", "mu")
    # the reported ELBO is the full ELBO at the returned parameters
    assert res.elbo[-1] == pytest.approx(pm.elbo(data, res.params), rel=1e-14)
    # input arrays are not modified
    d2, i2 = pm_data()
    np.testing.assert_array_equal(init["m"], i2["m"])


def test_tol_zero_runs_exactly_max_iter_sweeps(pm):
    data, init = pm_data()
    res = pm.run(data, init, tol=0, max_iter=7)
    assert res.n_iter == 7 and len(res.elbo) == 7 and not res.converged


def test_one_sweep_equals_the_updates_in_order(pm):
    data, init = pm_data(1)
    M = pm.model
    swept = pm.sweep(data, init)
    phi = vd.update(M, "c").numeric()(x=data["x"], m=init["m"], s2=init["s2"], lambda2=data["lambda2"])["phi"]
    mu = vd.update(M, "mu").numeric()(x=data["x"], phi=phi, alpha=data["alpha"], sigma2=data["sigma2"],
                                      lambda2=data["lambda2"])
    np.testing.assert_array_equal(swept["phi"], phi)
    np.testing.assert_array_equal(swept["m"], mu["m"])
    np.testing.assert_array_equal(swept["s2"], mu["s2"])
    res = pm.run(data, init, tol=0, max_iter=1)
    np.testing.assert_array_equal(res.params["m"], mu["m"])


def test_source_is_readable_python_and_is_what_runs(pm):
    src = pm.source()
    tree = ast.parse(src)
    names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert {"update_c", "update_mu", "elbo", "sweep", "fit"} <= names
    assert src.index("update_c(params, data)\n    update_mu") > 0   # the sweep follows the order
    for u in pm.updates.values():
        for eq in u.assignments:   # every update formula is shown
            assert str(eq.lhs.base.label) in src
    assert "phi[i, k] = exp(" in src
    assert pm.namespace["fit"].__code__.co_filename.startswith("<generated CAVI")


def test_bad_inputs_raise_value_errors_naming_the_argument(pm):
    data, init = pm_data()
    cases = [
        (dict(data, x=data["x"][:, 0]), init, "'x' must have 2 axes"),
        (dict(data, sigma2=-1.0), init, "'sigma2' must be positive"),
        (dict(data, lambda2=0.0), init, "'lambda2' must be positive"),
        (dict(data, x=np.where(np.eye(40, 2) > 0, np.nan, data["x"])), init, "'x' contains NaN"),
        ({k: v for k, v in data.items() if k != "alpha"}, init, "missing 'alpha'"),
        (dict(data, bogus=1.0), init, "'bogus' is not an observed"),
        (dict(data, m=init["m"]), init, "'m' is not an observed.*variational"),
        (data, {"m": init["m"]}, "init: missing 's2'"),
        (data, dict(init, s2=-init["s2"]), "'s2' must be positive"),
        (data, dict(init, m=init["m"][:2]), "plate K"),
        (data, dict(init, phi=np.full((40, 3), 0.5)), "'phi' must sum to one over the plate K"),
        (data, dict(init, x=data["x"]), "init: 'x' is not a variational parameter"),
    ]
    for d, i, msg in cases:
        with pytest.raises(ValueError, match=msg):
            pm.run(d, i, max_iter=2)
    for kw, msg in ((dict(max_iter=0), "max_iter"), (dict(max_iter=2.5), "max_iter"),
                    (dict(tol=-1.0), "tol"), (dict(tol=np.nan), "tol")):
        with pytest.raises(ValueError, match=msg):
            pm.run(data, init, **kw)


def test_impossible_data_is_an_error_not_a_nan():
    """Bernoulli 'counts' above 1 would give an improper optimal Beta (b < 0): a ValueError naming
    the data (refused on the likelihood's support before any update), never a NaN ELBO."""
    G, N = vd.Plate("G", "g"), vd.Plate("N", "n")
    M = vd.Model("bb", "Beta-Bernoulli")
    a0, b0 = M.hyper("a0"), M.hyper("b0")
    th = M.latent("theta", (G,))
    x = M.observed("x", (G, N))
    M.factor(th, vd.Beta(a0, b0))
    M.factor(x, vd.Bernoulli(th[G.index]))
    a, b = M.variational("a", (G,), positive=True), M.variational("b", (G,), positive=True)
    M.q(th, vd.Beta(a[G.index], b[G.index]))
    g = cavi(M)
    with pytest.raises(ValueError, match="data: 'x' must be 0 or 1"):
        g.run(dict(x=np.array([[5.0, 7.0]]), a0=1.0, b0=1.0), {}, max_iter=3)


def test_every_book_model_generates_valid_source():
    for name in vd.models.available():
        g = cavi(vd.models.load(name))
        assert isinstance(g, GeneratedCAVI)
        compile(g.source(), name, "exec")


def test_responsibilities_that_underflow_to_zero_give_a_finite_elbo():
    """0 log 0 = 0: far-apart clusters make some responsibilities exactly 0; the ELBO stays finite and
    equals the hand-coded one (scipy.special.xlogy)."""
    from vi_impl.models import gmm as impl
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(size=(20, 2)), rng.normal(size=(20, 2)) + 200]
    g = cavi(vd.models.load("gmm"), order=["c", "mu"])
    res = g.run(dict(x=X, sigma2=100.0), dict(m=X[[0, 25]], s2=np.full((2, 2), 100.0)), tol=1e-12)
    assert np.sum(res.params["pi"] == 0) > 0
    assert np.all(np.isfinite(res.elbo))
    ref = impl.elbo(X, res.params["m"], res.params["s2"], res.params["pi"], 100.0, constants=True)
    assert res.elbo[-1] == pytest.approx(ref, rel=1e-12)


def _support_cases():
    out = []
    for name in vd.models.available():
        M = vd.models.load(name)
        for f in M.factors:
            if f.var.kind == "observed" and f.dist.observation_family.support in ("binary", "count", "onehot"):
                out.append((name, f.var.name))
    return out


@pytest.mark.parametrize("name, observed", _support_cases())
def test_observations_off_their_likelihoods_support_are_refused_by_name(name, observed):
    """The in-process CAVI refuses data its likelihood cannot have produced (a label of 0.5, a
    count of 2.5, a word that is not one-hot) instead of fitting them silently."""
    from tests.vi_derivations.test_codegen import problem
    M = vd.models.load(name)
    g = vd.cavi(M)
    data, init = problem(M, g, np.random.default_rng(3))[:2]
    bad = dict(data)
    arr = np.array(bad[observed], dtype=float)
    arr.flat[0] += 0.5
    bad[observed] = arr
    with pytest.raises(ValueError, match=f"data: '{observed}' must be"):
        g.run(bad, init, max_iter=1)
