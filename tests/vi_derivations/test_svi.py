"""Natural-gradient SVI generated from the derivation: a full-batch step with rho = 1 is the
engine's CAVI sweep; on LDA it agrees step by step with the hand-written loop of
vi_impl.svi; it approaches the batch fixed point; the natural parameters it mixes are those of
the q density (checked against scipy); bad arguments are refused by name."""
import numpy as np
import pytest
import scipy.stats as st
import sympy as sp

import vi_derivations as vd
from tests.vi_derivations.test_mapreduce import BOUND_MODELS, MODELS
from vi_derivations.svi import SVI, natural_of, step_size
from vi_impl.models import lda as lda_impl
from vi_impl.svi import svi as svi_impl


def _lda_data(rng, D=30, N=9, V=12):
    w = np.zeros((D, N, V))
    words = rng.integers(V, size=(D, N))
    w[np.arange(D)[:, None], np.arange(N)[None, :], words] = 1.0
    return w


@pytest.mark.parametrize("name", ["gmm", "poisson_mixture", "dirichlet_mixture"])
def test_full_batch_steps_with_rho_one_are_cavi_sweeps(name):
    model = vd.models.load(name)
    engine = SVI(model)
    data, fixed, init = MODELS[name](np.random.default_rng(2))
    plan = engine.plan
    ref = vd.cavi(model, order=plan.local_order + plan.global_order).run(
        {**data, **fixed}, init, max_iter=4, tol=0)
    params = dict(init)
    for _ in range(4):
        params, _ = engine.step(data, params, fixed, rho=1.0, scale=1.0)
    for p in engine.split.global_params:
        np.testing.assert_allclose(params[p], ref.params[p], rtol=1e-10, atol=1e-12)


def test_bayesian_mixture_full_batch_steps_are_cavi_sweeps_and_minibatches_approach_them():
    # the joint Normal-Wishart factor q(mu, Lambda) steps once, in its natural coordinates
    model = vd.models.load("bayesian_gmm")
    engine = SVI(model, tau0=1.0, kappa=0.6)
    weights = next(n for n, f in model.qfactors.items() if type(f.dist).__name__ == "Dirichlet")
    conc = str(model.qfactors[weights].dist.params["conc"].base.label)
    assert engine.global_factors == [weights, "mu"]
    assert set(engine.split.global_) == {weights, "mu", "Lambda"}
    rng = np.random.default_rng(0)
    K, D, N = 3, 2, 150
    x = rng.normal(size=(N, D)) + np.array([[4.0, 0.0], [-4.0, 1.0], [0, 5.0]])[
        rng.integers(0, 3, N)]
    fixed = {"alpha0": np.full(K, 0.5), "m0": np.zeros(D), "beta0": 1.0, "W0": np.eye(D),
             "nu0": float(D)}
    init = {conc: np.ones(K), "m": x[:K].copy(), "beta": np.ones(K),
            "W": np.tile(np.eye(D), (K, 1, 1)), "nu": np.full(K, D + 1.0)}
    order = engine.plan.local_order + engine.plan.global_order
    generated = vd.cavi(model, order=order)
    ref = generated.run({"x": x, **fixed}, init, max_iter=3, tol=0)
    params = dict(init)
    for _ in range(3):
        params, _ = engine.step({"x": x}, params, fixed, rho=1.0, scale=1.0)
    for p in init:
        np.testing.assert_allclose(params[p], ref.params[p], rtol=1e-10)
    # a half step moves the natural parameters half way (beta, nu and alpha are affine in them)
    half, _ = engine.step({"x": x}, init, fixed, rho=0.5, scale=1.0)
    one, _ = engine.step({"x": x}, init, fixed, rho=1.0, scale=1.0)
    for p in (conc, "beta", "nu"):
        np.testing.assert_allclose(half[p], (init[p] + one[p]) / 2, rtol=1e-12)
    precision = lambda q: np.linalg.inv(q["W"]) + q["beta"][:, None, None] * np.einsum(
        "kd,ke->kde", q["m"], q["m"])
    np.testing.assert_allclose(precision(half), (precision(init) + precision(one)) / 2,
                               rtol=1e-10)
    res = engine.run({"x": x}, fixed, init, batch_size=30, n_steps=300, seed=0,
                     monitor=lambda q: engine.elbo({"x": x}, q, fixed), monitor_every=100)
    start = engine.elbo({"x": x}, init, fixed)
    # SVI ends near a fixed point: batch CAVI from where it stopped gains little
    polish = generated.run({"x": x, **fixed}, {p: res[p] for p in init}, max_iter=200, tol=1e-12)
    assert np.all(res.monitor > start + 2000) and res.monitor[-1] >= res.monitor[0]
    assert 0 <= polish.elbo[-1] - res.monitor[-1] < 0.5


def test_full_batch_lda_step_is_a_cavi_sweep():
    model = vd.models.load("lda")
    engine = SVI(model, local_steps=1, local_tol=0)
    rng = np.random.default_rng(3)
    w = _lda_data(rng)
    fixed = {"alpha": 0.5, "eta": 0.3}
    lam0 = rng.gamma(100.0, 0.01, (3, w.shape[2]))
    plan = engine.plan
    # the SVI local step starts q(z) uniform; give the CAVI sweep the same start
    ref = vd.cavi(model, order=plan.local_order + plan.global_order).run(
        {"w": w, **fixed}, {"lam": lam0, "phi": np.full(w.shape[:2] + (3,), 1 / 3)},
        max_iter=1, tol=0)
    params, local = engine.step({"w": w}, {"lam": lam0}, fixed, rho=1.0, scale=1.0)
    np.testing.assert_allclose(params["lam"], ref.params["lam"], rtol=1e-10)
    np.testing.assert_allclose(local["gamma"], ref.params["gamma"], rtol=1e-10)


@pytest.mark.parametrize("inner", [1, 6])
def test_lda_agrees_step_by_step_with_the_hand_written_svi(inner):
    rng = np.random.default_rng(5)
    w = _lda_data(rng, D=40, N=10, V=15)
    X = w.sum(axis=1)                       # the counts vi_impl reads
    K, alpha, eta = 3, 0.4, 0.2
    lam0 = lda_impl.init_lambda(K, X.shape[1], 1)
    seen_impl, seen_engine = [], []
    prior, local_step, batch_stats = lda_impl.svi_parts(X, K, alpha, eta, local_max_iter=inner,
                                                        local_tol=1e-300)
    svi_impl(prior, local_step, batch_stats, X.shape[0], init={"lam": lam0}, batch_size=8,
             n_steps=12, tau0=2.0, kappa=0.8, seed=11,
             monitor=lambda lam: seen_impl.append(lam["lam"].copy()) or 0.0, monitor_every=1)
    # vi_impl's `inner` sweeps gamma <- phi <- gamma, then phi: inner + 1 engine sweeps
    engine = SVI(vd.models.load("lda"), tau0=2.0, kappa=0.8, local_steps=inner + 1, local_tol=0)
    engine.run({"w": w}, {"alpha": alpha, "eta": eta}, {"lam": lam0}, batch_size=8,
               n_steps=12, seed=11,
               monitor=lambda p: seen_engine.append(p["lam"].copy()) or 0.0, monitor_every=1)
    assert len(seen_engine) == len(seen_impl) == 12
    for a, b in zip(seen_engine, seen_impl):
        np.testing.assert_allclose(a, b, rtol=1e-10)
    assert not np.allclose(seen_engine[0], seen_engine[-1])


def test_approaches_the_batch_fixed_point():
    model = vd.models.load("gmm")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 2)) + np.array([[4.0, 0.0], [-4.0, 1.0], [0, 5.0]])[
        rng.integers(0, 3, 200)]
    fixed = {"sigma2": 25.0}
    init = {"m": np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]), "s2": np.ones((3, 2))}
    batch = vd.cavi(model, order=("c", "mu")).run({"x": x, **fixed}, init, max_iter=300,
                                                   tol=1e-14)
    engine = SVI(model, tau0=1.0, kappa=1.0)
    start = engine.elbo({"x": x}, init, fixed)
    res = engine.run({"x": x}, fixed, init, batch_size=20, n_steps=1000, seed=0,
                     monitor=lambda p: engine.elbo({"x": x}, p, fixed), monitor_every=100)
    gaps = batch.elbo[-1] - res.monitor
    assert batch.elbo[-1] - start > 50                # the start is far from the fixed point
    assert np.all(res.monitor > start)
    assert gaps[-1] < 0.05 and gaps[-5:].mean() < gaps[:2].mean()
    np.testing.assert_allclose(res["m"], batch.params["m"], atol=0.05)


def test_natural_parameters_are_those_of_the_q_density():
    # log q(x) = sum_s eta_s T_s(x) + const: solve for eta from scipy's log densities
    gmm = vd.models.load("gmm")
    nat = natural_of(gmm, "mu")
    m, s2 = 0.7, 2.5
    xs = np.array([-1.0, 0.3, 2.0])
    A = np.column_stack([xs, xs ** 2, np.ones(3)])
    coef = np.linalg.solve(A, st.norm(m, np.sqrt(s2)).logpdf(xs))
    k, d = [p.index for p in gmm.plates if p.name in ("K", "D")]
    values = {str(a.base.label): {"m": m, "s2": s2}[str(a.base.label)]
              for e in nat.values() for a in sp.sympify(e).atoms(sp.Indexed)}
    got = {key: float(sp.sympify(e).replace(lambda a: isinstance(a, sp.Indexed),
                                            lambda a: values[str(a.base.label)]))
           for key, e in nat.items()}
    np.testing.assert_allclose([got["x"], got["x^2"]], coef[:2], rtol=1e-12)
    lda = vd.models.load("lda")
    (expr,) = natural_of(lda, "beta").values()
    lam = np.array([0.8, 2.0, 3.5])
    ps = np.array([[0.2, 0.3, 0.5], [0.6, 0.1, 0.3]])
    diff = st.dirichlet(lam).logpdf(ps[0]) - st.dirichlet(lam).logpdf(ps[1])
    lam_sym = lda.variables["lam"].symbol.label
    eta = [float(expr.replace(lambda a: isinstance(a, sp.Indexed), lambda a: sp.Float(v)))
           for v in lam]
    assert lam_sym.name == "lam"
    np.testing.assert_allclose(np.dot(eta, np.log(ps[0]) - np.log(ps[1])), diff, rtol=1e-12)


def test_formulas_are_exposed():
    engine = SVI(vd.models.load("lda"))
    (hat,) = engine.intermediate["beta"].values()
    tex = vd.latex(hat)
    assert r"\frac{D}{B}" in tex and r"\phi_{bnk}" in tex and "w_{bnv}" in tex
    assert engine.split.data_plate.name == "D" and engine.split.global_ == ("beta",)
    assert vd.latex(engine.schedule) == r"\rho_{t} = \left(t + \tau_{0}\right)^{- \kappa}"
    (upd,) = engine.update["beta"]
    lam, lam_hat, rho = sp.symbols("lam lam_hat rho_t")
    plain = upd.rhs.replace(lambda a: isinstance(a, sp.Indexed),
                            lambda a: sp.Symbol(str(a.base.label)))
    assert sp.simplify(plain.subs(sp.Symbol("rho_t", positive=True), rho)
                       - ((1 - rho) * lam + rho * lam_hat)) == 0


def test_count_statistic_scales_to_the_plate_size():
    engine = SVI(vd.models.load("gmm"))
    (x2,) = [e for k, e in engine.intermediate["mu"].items() if k == "x^2"]
    N = engine.split.data_plate.size
    assert N in x2.free_symbols and engine.minibatch.size in x2.free_symbols


def test_step_sizes_and_bad_arguments_are_refused_by_name():
    assert step_size(3, tau0=1.0, kappa=0.5 + 1e-9) == pytest.approx(4 ** -0.5, rel=1e-8)
    assert step_size(1, tau0=0.0, kappa=1.0) == 1.0
    model = vd.models.load("gmm")
    for kwargs, name in [({"tau0": -1.0}, "tau0"), ({"kappa": 0.5}, "kappa"),
                         ({"kappa": 1.2}, "kappa"), ({"kappa": float("nan")}, "kappa"),
                         ({"tau0": "1"}, "tau0"), ({"local_steps": 0}, "local_steps"),
                         ({"local_tol": -1e-3}, "local_tol"), ({"local_init": 3}, "local_init")]:
        with pytest.raises((ValueError, TypeError), match=f"^{name}"):
            SVI(model, **kwargs)
    with pytest.raises(ValueError, match="^t "):
        step_size(0)
    engine = SVI(model)
    data, fixed, init = MODELS["gmm"](np.random.default_rng(0))
    for kwargs, name in [({"batch_size": 0}, "batch_size"), ({"batch_size": 10_000}, "batch_size"),
                         ({"batch_size": 2.0}, "batch_size"), ({"n_steps": 0}, "n_steps"),
                         ({"seed": "x"}, "seed"), ({"monitor": 1}, "monitor")]:
        args = {"batch_size": 10, "n_steps": 2, **kwargs}
        with pytest.raises((ValueError, TypeError), match=f"^{name}"):
            engine.run(data, fixed, init, **args)
    with pytest.raises(ValueError, match="^data"):
        engine.run({"y": data["x"]}, fixed, init, batch_size=10, n_steps=1)
    with pytest.raises(ValueError, match="^init"):
        engine.run(data, fixed, {"m": init["m"]}, batch_size=10, n_steps=1)
    with pytest.raises(TypeError, match="^fixed"):
        engine.run(data, None, init, batch_size=10, n_steps=1)
    for bad in ([np.array([0.5, 1.0])], [np.array([], dtype=int)], [np.array([10_000])]):
        with pytest.raises(ValueError, match="^batches"):
            engine.run(data, fixed, init, batch_size=10, n_steps=1, batches=bad)
    for kwargs, name in [({"rho": 0.0, "scale": 1.0}, "rho"), ({"rho": 1.5, "scale": 1.0}, "rho"),
                         ({"rho": 0.5, "scale": -1.0}, "scale"),
                         ({"rho": 0.5, "scale": float("inf")}, "scale")]:
        with pytest.raises(ValueError, match=f"^{name}"):
            engine.step(data, init, fixed, **kwargs)


def _ard(rng):
    X = rng.normal(size=(101, 3))
    data = {"X": X, "y": X @ np.array([1.0, 0.0, -2.0]) + rng.normal(scale=0.5, size=101)}
    return data, {"a0": 1.0, "b0": 1.0, "sigma2": 0.25}, {"a": np.full(3, 2.0), "b": np.ones(3)}


@pytest.mark.parametrize("name", ["linear_regression_ard", *BOUND_MODELS])
def test_full_covariance_factors_step_in_natural_coordinates(name):
    # q(w) = N(m, S) with a full covariance: rho = 1 full-batch steps are CAVI sweeps (the
    # local bound's xi, if any, is updated in the local step), and a half step averages the
    # precision S^-1 and the precision-times-mean S^-1 m of the start and the full step.
    model = vd.models.load(name)
    engine = SVI(model)
    data, fixed, init = (_ard if name == "linear_regression_ard" else BOUND_MODELS[name])(
        np.random.default_rng(5))
    targets = [str(eq.lhs.base.label) for eq in engine.update["w"]]
    mean, cov = targets
    D = data["X"].shape[1]
    start = {**init, mean: np.full(D, 0.1), cov: np.eye(D) * 2.0}
    ref = vd.cavi(model, order=engine.plan.order).run({**data, **fixed}, start, max_iter=3, tol=0)
    params = dict(start)
    for _ in range(3):
        params, _ = engine.step(data, params, fixed, rho=1.0, scale=1.0)
    for p in engine.split.global_params:
        np.testing.assert_allclose(params[p], ref.params[p], rtol=1e-10, atol=1e-13)
    half, _ = engine.step(data, start, fixed, rho=0.5, scale=1.0)
    one, _ = engine.step(data, start, fixed, rho=1.0, scale=1.0)
    prec = lambda q: np.linalg.inv(q[cov])                                   # noqa: E731
    np.testing.assert_allclose(prec(half), (prec(start) + prec(one)) / 2, rtol=1e-10)
    np.testing.assert_allclose(prec(half) @ half[mean],
                               (prec(start) @ start[mean] + prec(one) @ one[mean]) / 2,
                               rtol=1e-10)


def test_a_global_factor_with_coupled_elements_is_refused_by_name():
    """Regression: a factorised q(w_d) whose elements interact (x_id x_il w_d w_l) was stepped
    all at once towards its Jacobi target, which is not the CAVI sweep (the rho = 1 step differed
    from it); SVI now refuses it, naming the factor, the plate and the coupling term."""
    from tests.vi_derivations.test_mapreduce import ard_factorised_model
    with pytest.raises(vd.UnsupportedModelError, match=r"q\(w\) are coupled along D .*X\[i"):
        SVI(ard_factorised_model())


def test_a_local_start_that_is_a_covariance_is_asked_for_by_name():
    """Regression: a local sweep that reads a full covariance before it writes it (q(mu_g) with a
    matrix V_g, read by q(Lambda_g) updated first) looked the matrix up among the factor's
    parameters, where it is not declared, and raised StopIteration; it now asks for local_init."""
    from tests.vi_derivations import random_models_extended as rx
    case = rx.random_extended_model(5)
    engine = SVI(case.model, local_steps=1, local_tol=0)
    assert {"V_mu2", "m_mu2"} <= set(engine._needs_start)
    data = {k: case.data[k] for k in engine.split.data}
    fixed = {k: v for k, v in case.data.items() if k not in data}
    glob = {"c_be1": np.ones((case.sizes["K"], case.sizes["V"]))}
    with pytest.raises(ValueError, match=r"^local_init: .* reads (V|m)_mu2 .* q\(mu2\)"):
        engine.step(data, glob, fixed, rho=1.0, scale=1.0)
