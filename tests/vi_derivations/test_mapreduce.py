"""The engine's map-reduce form of CAVI: the split, the statistics, and equality with the
engine's in-memory generated CAVI (the independent route) on four models."""
import numpy as np
import pytest
import sympy as sp

import vi_derivations as vd
from vi_derivations import Model, Normal, Plate, UnsupportedModelError
from vi_derivations.mapreduce import map_reduce, plate_of_index, split


def _poisson(rng):
    x = np.concatenate([rng.poisson(2.0, 60), rng.poisson(9.0, 40)]).astype(float)
    return {"x": x}, {"a0": 1.0, "b0": 1.0}, {"a": np.array([2.0, 5.0, 10.0]), "b": np.ones(3)}


def _bernoulli(rng):
    theta = np.array([[0.9, 0.1, 0.8], [0.2, 0.7, 0.1]])
    x = (rng.random((90, 3)) < theta[rng.integers(0, 2, 90)]).astype(float)
    return ({"x": x}, {"a0": 1.0, "b0": 1.0},
            {"a": np.array([[3.0, 1.0, 2.0], [1.0, 2.0, 1.0]]), "b": np.array([[1.0, 2.0, 1.0], [2.0, 1.0, 3.0]])})


def _gmm_1d(rng):
    x = np.concatenate([rng.normal(-2, 1, 50), rng.normal(3, 1, 50)])
    return ({"x": x}, {"tau2": 10.0, "sigma2": 1.0, "weights": np.array([0.5, 0.5])},
            {"mu_tilde": np.array([-0.5, 0.5]), "s2_tilde": np.array([1.0, 1.0])})


def _gmm(rng):
    x = rng.normal(size=(80, 2)) + np.array([[3.0, 0.0], [-3.0, 1.0]])[rng.integers(0, 2, 80)]
    return ({"x": x}, {"sigma2": 5.0},
            {"m": np.array([[1.0, 0.0], [-1.0, 0.5]]), "s2": np.ones((2, 2))})


def _dirichlet(rng):
    x = rng.normal(size=(70, 2)) + np.array([[3.0, 0.0], [-3.0, 1.0]])[rng.integers(0, 2, 70)]
    return ({"x": x}, {"alpha0": 1.0, "sigma2": 5.0, "lambda2": 1.0},
            {"g": np.array([1.0, 2.0]), "m": np.array([[1.0, 0.0], [-1.0, 0.5]]),
             "s2": np.ones((2, 2))})


MODELS = {"poisson_mixture": _poisson, "bernoulli_mixture": _bernoulli, "gmm_1d": _gmm_1d,
          "gmm": _gmm, "dirichlet_mixture": _dirichlet}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_map_reduce_equals_in_memory_generated_cavi(name):
    model = vd.models.load(name)
    plan = map_reduce(model)
    data, fixed, init = MODELS[name](np.random.default_rng(4))
    sweeps = 8
    ref = vd.cavi(model, order=plan.local_order + plan.global_order).run(
        {**data, **fixed}, init, max_iter=sweeps, tol=0)
    n = len(data["x"])
    chunks = [{k: v[a:a + 37] for k, v in data.items()} for a in range(0, n, 37)]
    params, trace = dict(init), []
    for _ in range(sweeps):
        params, value, locals_ = plan.sweep(chunks, params, fixed)
        trace.append(value)
    for p in plan.split.global_params:
        np.testing.assert_allclose(params[p], ref.params[p], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(trace, ref.elbo, rtol=1e-10)
    (local,) = plan.split.local_params
    np.testing.assert_allclose(np.concatenate([lc[local] for lc in locals_]), ref.params[local],
                               rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("name, local, global_, params", [
    ("gmm", ("c",), ("mu",), ("m", "s2")),
    ("poisson_mixture", ("c",), ("lam",), ("a", "b")),
    ("bernoulli_mixture", ("c",), ("theta",), ("a", "b")),
])
def test_split(name, local, global_, params):
    s = split(vd.models.load(name))
    assert s.data_plate.name == "N" and s.data == ("x",)
    assert s.local == local and s.global_ == global_ and s.global_params == params


def test_statistics_are_sums_over_the_data_plate_only():
    model = vd.models.load("gmm")
    plan = map_reduce(model)
    for definition in plan.stats.values():
        assert isinstance(definition, sp.Sum) and len(definition.limits) == 1
        assert plate_of_index(model, definition.limits[0][0]) == plan.split.data_plate
    chunk_names = set(plan.split.data) | set(plan.split.local_params)
    rewritten = [plan.elbo_expr] + [e for nat in plan.global_natural.values()
                                    for e in nat.values()]
    for expr in rewritten:
        names = {str(a.base.label) for a in expr.atoms(sp.Indexed)}
        assert not names & chunk_names, expr
        assert plan.split.data_plate.size not in expr.free_symbols
    # the ELBO of the mixture needs sum_i pi_ik x_id, sum_i pi_ik, sum_i pi_ik log pi_ik, N and
    # sum_i x_id^2: five statistics, and the global update the first two
    assert len(plan.stats) == 5


def test_unsupported_splits_are_explained():
    N = Plate("N", "i")
    M = Model("all_local")
    z = M.latent("z", (N,))
    x = M.observed("x", (N,))
    M.factor(z, Normal(0, var=1))
    M.factor(x, Normal(z[N.index], var=1))
    mz, sz = M.variational("mz", (N,)), M.variational("sz", (N,), positive=True)
    M.q(z, Normal(mz[N.index], var=sz[N.index]))
    with pytest.raises(UnsupportedModelError, match="no global factor"):
        split(M)
    with pytest.raises(ValueError, match="data_plate 'Q' is not a plate"):
        split(vd.models.load("gmm"), data_plate="Q")
    with pytest.raises(UnsupportedModelError, match="does not run over the data plate K"):
        split(vd.models.load("gmm"), data_plate="K")


def test_terms_that_are_not_sums_of_per_chunk_sums_are_rejected():
    from vi_derivations.mapreduce import _Rewriter
    model = vd.models.load("gmm")
    s = split(model)
    plates = {p.name: p for p in model.plates}
    x, m = model.variables["x"].symbol, model.variables["m"].symbol
    i, j = plates["N"].fresh(), plates["N"].fresh()
    k, d = plates["K"].index, plates["D"].index
    top = plates["N"].size - 1
    rw = _Rewriter(model, s)
    with pytest.raises(UnsupportedModelError, match="does not factorise"):
        rw.rewrite(sp.Sum(sp.exp(x[i, d] * m[k, d]), (i, 0, top)))
    with pytest.raises(UnsupportedModelError, match="multiplies two sums over the data plate"):
        rw.rewrite(sp.Sum(x[i, d] * sp.Sum(x[j, d], (j, 0, top)), (i, 0, top)))
    with pytest.raises(UnsupportedModelError, match="outside a sum over the data plate"):
        rw.rewrite(x[plates["N"].index, d] * m[k, d])
    # a separable sum becomes a global factor times a named statistic
    out = rw.rewrite(sp.Sum(x[i, d] * m[k, d], (i, 0, top)))
    (stat,) = rw.stats.values()
    assert out == m[k, d] * sp.IndexedBase(sp.Symbol(stat[0], real=True))[d]


def test_lda_documents_are_the_data_plate_and_word_positions_fold_into_statistics():
    model = vd.models.load("lda")
    plan = map_reduce(model)
    assert plan.split.data_plate.name == "D" and plan.split.local == ("theta", "z")
    assert plan.split.global_ == ("beta",)
    # sum over documents d and their word positions n: one K x V statistic
    (name,) = [n for n, definition in plan.stats.items() if definition.has(sp.Symbol("w"))
               or "w" in {str(a.base.label) for a in definition.atoms(sp.Indexed)}]
    assert [p.name for p in plan.stat_plates[name]] == ["K", "V"]
    assert [plate_of_index(model, lim[0]).name for lim in plan.stats[name].limits] == ["D", "N"]
    # equal sums written with different dummy indices are one statistic
    assert len(set(plan.stats.values())) == len(plan.stats)
    rng = np.random.default_rng(8)
    D, N, K, V = 23, 6, 3, 9
    w = np.zeros((D, N, V))
    w[np.arange(D)[:, None], np.arange(N)[None, :], rng.integers(V, size=(D, N))] = 1.0
    fixed = {"alpha": 0.5, "eta": 0.3}
    init = {"lam": rng.gamma(100.0, 0.01, (K, V)), "phi": np.full((D, N, K), 1 / K)}
    sweeps = 4
    ref = vd.cavi(model, order=plan.local_order + plan.global_order).run(
        {"w": w, **fixed}, init, max_iter=sweeps, tol=0)
    params, phi, trace = {"lam": init["lam"]}, init["phi"], []
    for _ in range(sweeps):
        chunks = [{"w": w[a:a + 5], "phi": phi[a:a + 5]} for a in range(0, D, 5)]
        params, value, locals_ = plan.sweep(chunks, params, fixed)
        phi = np.concatenate([lc["phi"] for lc in locals_])
        trace.append(value)
    np.testing.assert_allclose(params["lam"], ref.params["lam"], rtol=1e-10)
    np.testing.assert_allclose(trace, ref.elbo, rtol=1e-10)
