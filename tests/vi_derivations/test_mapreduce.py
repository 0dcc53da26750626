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


def _logistic_data(rng, N=101):
    X = np.column_stack([np.ones(N), rng.normal(size=(N, 2))])
    t = (rng.random(N) < 1 / (1 + np.exp(-X @ np.array([0.5, -1.5, 2.0])))).astype(float)
    return {"X": X, "t": t}


def _logistic(rng):
    return (_logistic_data(rng), {"m0": np.array([0.0, 0.5, 0.0]), "v0": np.array([4.0, 2.0, 3.0])},
            {"m": np.array([0.1, -0.2, 0.3]), "S": np.eye(3)})


def _logistic_alpha(rng):
    return (_logistic_data(rng), {"a0": 1.0, "b0": 2.0},
            {"m": np.array([0.1, -0.2, 0.3]), "S": np.eye(3), "a": 2.5, "b": 1.5})


MODELS = {"poisson_mixture": _poisson, "bernoulli_mixture": _bernoulli, "gmm_1d": _gmm_1d,
          "gmm": _gmm, "dirichlet_mixture": _dirichlet}
# local state is the parameter xi_i of a Jaakkola-Jordan bound, not a q factor
BOUND_MODELS = {"logistic_regression": _logistic, "logistic_regression_alpha": _logistic_alpha}
UNEVEN = [0, 7, 40, 41, 90]           # chunk starts: 7, 33, 1, 49 and 11 rows


def uneven_chunks(data, starts=UNEVEN):
    n = len(next(iter(data.values())))
    cuts = list(starts) + [n]
    return [{k: v[a:b] for k, v in data.items()} for a, b in zip(cuts, cuts[1:])]


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


@pytest.fixture(scope="module")
def bound_plans():
    """One plan per local-bound model, built once for the tests of this module."""
    return {name: map_reduce(vd.models.load(name)) for name in BOUND_MODELS}


@pytest.mark.parametrize("name", sorted(BOUND_MODELS))
def test_local_bound_models_map_reduce_equals_in_memory_generated_cavi(name, bound_plans):
    """Each chunk updates its xi_i from the current q(w) (the engine's derived bound update) and
    returns its statistics; on uneven chunks the sweeps equal the in-memory CAVI in the same
    order (xi, then the global factors) from the same start."""
    plan = bound_plans[name]
    model = plan.model
    assert plan.local_order == () and plan.bound_order == ("xi",)
    assert plan.order == ("xi",) + plan.global_order
    data, fixed, init = BOUND_MODELS[name](np.random.default_rng(4))
    sweeps = 8
    ref = vd.cavi(model, order=plan.order).run({**data, **fixed}, init, max_iter=sweeps, tol=0)
    params, trace = dict(init), []
    for _ in range(sweeps):
        params, value, locals_ = plan.sweep(uneven_chunks(data), params, fixed)
        trace.append(value)
    for p in plan.split.global_params:
        np.testing.assert_allclose(params[p], ref.params[p], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(trace, ref.elbo, rtol=1e-10)
    np.testing.assert_allclose(np.concatenate([lc["xi"] for lc in locals_]), ref.params["xi"],
                               rtol=1e-10)
    assert np.all(np.diff(trace) >= -1e-10 * np.abs(trace[1:]))


@pytest.mark.parametrize("name", sorted(BOUND_MODELS))
def test_each_chunks_statistics_give_the_hand_written_updates_on_that_chunk(name, bound_plans):
    """The statistics of one chunk, alone, are those of a data set made of its rows: the global
    step and the ELBO read from them equal :mod:`vi_impl.models.logistic_regression` on that
    chunk with its xi, and xi is that module's update from the previous q(w) (a wrong or
    misplaced statistic of any chunk, even of one row, fails)."""
    from vi_impl.models import logistic_regression as lr
    plan = bound_plans[name]
    data, fixed, init = BOUND_MODELS[name](np.random.default_rng(7))
    alpha = "a0" in fixed
    for chunk in uneven_chunks(data):
        local, stats = plan.local_step(chunk, init, fixed)
        X, t = chunk["X"], chunk["t"]
        np.testing.assert_allclose(local["xi"], lr.update_xi(X, init["m"], init["S"]), rtol=1e-12)
        new = plan.global_step(stats, init, fixed)
        if alpha:
            m, S = lr.update_w(X, t, local["xi"], e_alpha=init["a"] / init["b"])
            b = fixed["b0"] + (m @ m + np.trace(S)) / 2
            np.testing.assert_allclose([new["a"], new["b"]], [fixed["a0"] + 1.5, b], rtol=1e-10)
            hand = lr.elbo(X, t, m, S, local["xi"], a=new["a"], b=new["b"], a0=fixed["a0"],
                           b0=fixed["b0"])
        else:
            m, S = lr.update_w(X, t, local["xi"], m0=fixed["m0"], S0=np.diag(fixed["v0"]))
            hand = lr.elbo(X, t, m, S, local["xi"], m0=fixed["m0"], S0=np.diag(fixed["v0"]))
        np.testing.assert_allclose(new["m"], m, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(new["S"], S, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(plan.elbo(stats, new, fixed), hand, rtol=1e-10)


def test_logistic_split_and_statistics(bound_plans):
    plan = bound_plans["logistic_regression_alpha"]
    s = split(plan.model)
    assert (s.data, s.local, s.local_bounds, s.global_) == (("X", "t"), (), ("xi",), ("alpha", "w"))
    assert s.local_params == ("xi",) and s.global_params == ("m", "S", "a", "b")
    chunk_names = set(s.data) | set(s.local_params)
    for expr in [plan.elbo_expr] + [e for nat in plan.global_natural.values() for e in nat.values()]:
        assert not {str(a.base.label) for a in expr.atoms(sp.Indexed)} & chunk_names, expr
    # sum_i lambda(xi_i) x_i x_i^T: one statistic over (D, D), its axes the plate's index, primed
    (two,) = [n for n, plates in plan.stat_plates.items() if len(plates) == 2]
    assert [p.name for p in plan.stat_plates[two]] == ["D", "D"]
    d = plan.stat_symbols[two].indices
    assert str(d[0]) == "d" and str(d[1]) == "d'"
    assert {str(a.base.label) for a in plan.stats[two].atoms(sp.Indexed)} == {"X", "xi"}


def _bounded(name, build_likelihood):
    from vi_derivations.local_bound import BernoulliLogit, JaakkolaJordan
    N = Plate("N", "i")
    M = Model(name)
    w = M.latent("w")
    M.factor(w, Normal(0, var=1))
    target = build_likelihood(M, N, w.symbol, BernoulliLogit)
    M.local_bound(target, JaakkolaJordan(M.variational("xi", target.plates, positive=True)))
    M.q(w, Normal(M.variational("mw"), var=M.variational("sw", positive=True)))
    return M


def test_local_bounds_that_cannot_be_split_are_refused_by_name():
    def pooled(M, N, w, logit):        # the logit of t_i reads every x_j: xi_i sums over N
        x, t, j = M.covariate("x", (N,)), M.observed("t", (N,)), N.fresh()
        M.factor(t, logit(w * (x[N.index] + sp.Sum(x[j], (j, 0, N.size - 1)))))
        return t

    def latent(M, N, w, logit):        # the bounded variable is global: so is its xi
        z = M.latent("z")
        M.factor(z, logit(w))
        M.q(z, vd.Bernoulli(M.variational("pz", positive=True)))
        x = M.observed("x", (N,))
        M.factor(x, Normal(z.symbol, var=1))
        return z

    with pytest.raises(UnsupportedModelError, match=r"update of xi sums over the data plate N"):
        split(_bounded("pooled_logit", pooled))
    with pytest.raises(UnsupportedModelError, match=r"parameter xi of the Jaakkola-Jordan bound "
                                                    r"does not run over the data plate N"):
        split(_bounded("latent_logit", latent))


def test_a_statistic_over_a_repeated_plate_splits_linear_regression():
    """Bayesian linear regression with ARD has no local state, but its q(w) reads the D x D
    statistic sum_i x_i x_i^T (axes d, d' on one plate): on uneven chunks the map-reduce
    equals the in-memory generated CAVI."""
    model = vd.models.load("linear_regression_ard")
    plan = map_reduce(model)
    assert plan.split.local_params == () and plan.order == ("w", "alpha")
    rng = np.random.default_rng(9)
    X = rng.normal(size=(101, 3))
    data = {"X": X, "y": X @ np.array([1.0, 0.0, -2.0]) + rng.normal(scale=0.5, size=101)}
    fixed = {"a0": 1.0, "b0": 1.0, "sigma2": 0.25}
    init = {"a": np.full(3, 2.0), "b": np.ones(3)}
    ref = vd.cavi(model, order=plan.order).run({**data, **fixed}, init, max_iter=5, tol=0)
    params, trace = dict(init), []
    for _ in range(5):
        params, value, _ = plan.sweep(uneven_chunks(data), params, fixed)
        trace.append(value)
    for p in plan.split.global_params:
        np.testing.assert_allclose(params[p], ref.params[p], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(trace, ref.elbo, rtol=1e-10)


def _sweeps_equal_cavi(model, data, fixed, init, sweeps=4, rtol=1e-10):
    """Map-reduce sweeps on uneven chunks (one of a single row) against the in-memory CAVI in
    the plan's order, parameters and ELBO."""
    plan = map_reduce(model)
    ref = vd.cavi(model, order=plan.order).run({**data, **fixed}, init, max_iter=sweeps, tol=0)
    params, trace = dict(init), []
    for _ in range(sweeps):
        params, value, _ = plan.sweep(uneven_chunks(data, [0, 1, 2, 30]), params, fixed)
        trace.append(value)
    for p in plan.split.global_params:
        np.testing.assert_allclose(params[p], ref.params[p], rtol=rtol, atol=1e-14)
    np.testing.assert_allclose(trace, ref.elbo, rtol=rtol)
    return plan


def test_a_known_value_per_data_point_is_chunk_data():
    """Regression: a hyper-parameter on the data plate (a Poisson exposure e_i) was neither chunk
    data nor fixed, so every chunk's statistic read the whole array (plate size mismatch)."""
    N = Plate("N", "i")
    M = Model("poisson_exposure")
    lam = M.latent("lam")
    M.factor(lam, vd.Gamma(M.hyper("a0"), M.hyper("b0")))
    e, y = M.hyper("e", (N,), positive=True), M.observed("y", (N,))
    M.factor(y, vd.Poisson(e[N.index] * lam.symbol))
    M.q(lam, vd.Gamma(M.variational("a"), M.variational("b")))
    rng = np.random.default_rng(1)
    ev = rng.uniform(0.5, 2.0, 41)
    plan = _sweeps_equal_cavi(M, {"y": rng.poisson(3 * ev).astype(float), "e": ev},
                              {"a0": 2.0, "b0": 1.0}, {"a": 1.5, "b": 0.7})
    assert plan.split.data == ("e", "y")


def test_a_global_factor_with_coupled_elements_is_updated_one_element_at_a_time():
    """Regression: factorised q(w_d) in a regression with ARD precisions (w_d reads w_l through
    x_id x_il w_d w_l) was updated all at once in the global step (a Jacobi step, not the
    in-memory CAVI's Gauss-Seidel sweep): q(alpha) then differed."""
    M = ard_factorised_model()
    rng = np.random.default_rng(2)
    Xv = rng.normal(size=(41, 3))
    Xv = Xv[:, :1] + 0.3 * Xv          # correlated columns: the elements of q(w) interact
    plan = _sweeps_equal_cavi(M, {"X": Xv, "y": Xv @ np.array([1.0, -1.0, 0.5]) + rng.normal(size=41)},
                              {"a0": 2.0, "b0": 1.0, "s2": 0.5},
                              {"a": np.full(3, 2.0), "b": np.ones(3), "m": np.zeros(3), "v": np.ones(3)})
    assert not plan.schedules["w"].vectorised


def ard_factorised_model():
    """Regression with ARD precisions alpha_d and a fully factorised q(w) (coupled elements)."""
    N, D = Plate("N", "i"), Plate("D", "d")
    M = Model("ard_factorised")
    i, d, j = N.index, D.index, D.fresh()
    al, w = M.latent("al", (D,)), M.latent("w", (D,))
    M.factor(al, vd.Gamma(M.hyper("a0"), M.hyper("b0")))
    M.factor(w, Normal(0, precision=al[d]))
    X, y = M.covariate("X", (N, D)), M.observed("y", (N,))
    M.factor(y, Normal(sp.Sum(X[i, j] * w[j], (j, 0, D.size - 1)), var=M.hyper("s2")))
    M.q(al, vd.Gamma(M.variational("a", (D,))[d], M.variational("b", (D,))[d]))
    M.q(w, Normal(M.variational("m", (D,))[d], var=M.variational("v", (D,), positive=True)[d]))
    return M


def test_the_size_of_a_plate_nested_in_the_data_plate_is_a_statistic():
    """Regression: with groups g as the data plate and points n within them, the ELBO's constant
    G N log(2 pi) / 2 kept N, which no global array carries (missing argument 'N')."""
    G, N = Plate("G", "g"), Plate("N", "n")
    M = Model("grouped_means")
    mu = M.latent("mu", (G,))
    M.factor(mu, Normal(M.hyper("m0"), var=M.hyper("s0")))
    tau = M.latent("tau")
    M.factor(tau, vd.Gamma(M.hyper("a0"), M.hyper("b0")))
    x = M.observed("x", (G, N))
    M.factor(x, Normal(mu[G.index], precision=tau.symbol))
    M.q(mu, Normal(M.variational("m", (G,))[G.index], var=M.variational("v", (G,), positive=True)[G.index]))
    M.q(tau, vd.Gamma(M.variational("a"), M.variational("b")))
    rng = np.random.default_rng(3)
    plan = map_reduce(M)
    assert plan.split.data_plate.name == "G" and plan.split.local == ("mu",)
    _sweeps_equal_cavi(M, {"x": rng.normal(size=(37, 4)) + rng.normal(size=(37, 1))},
                       {"m0": 0.5, "s0": 4.0, "a0": 2.0, "b0": 1.0}, {"a": 2.0, "b": 1.0})
