"""Engine models fitted as a map-reduce on Dask equal the engine's in-memory generated CAVI."""
import dask.array as da
import numpy as np
import pytest

import vi_derivations as vd
from tests.vi_derivations.test_mapreduce import BOUND_MODELS, MODELS, UNEVEN
from vi_derivations.mapreduce import map_reduce
from vi_impl.scale import ChunkError
from vi_impl.scale.engine import fit_model

SWEEPS = 6


@pytest.fixture(scope="module")
def plans():
    return {}


def _plan(plans, name):
    if name not in plans:
        plans[name] = map_reduce(vd.models.load(name))
    return plans[name]


@pytest.mark.parametrize("name", ["poisson_mixture", "bernoulli_mixture"])
def test_dask_fit_equals_generated_cavi(name, plans, dask_client):
    plan = _plan(plans, name)
    data, fixed, init = MODELS[name](np.random.default_rng(5))
    ref = vd.cavi(plan.model, order=plan.local_order + plan.global_order).run(
        {**data, **fixed}, init, max_iter=SWEEPS, tol=0)
    got = fit_model(plan.model, data, fixed, init, chunk_rows=30, max_iter=SWEEPS, tol=0,
                    client=dask_client, plan=plan)
    assert got.n_iter == SWEEPS and got.state.elbo == tuple(got.elbo)
    for p in plan.split.global_params:
        np.testing.assert_allclose(got[p], ref.params[p], rtol=1e-10)
    np.testing.assert_allclose(got.elbo, ref.elbo, rtol=1e-10)


def test_bad_chunk_then_resume(plans):
    plan = _plan(plans, "poisson_mixture")
    data, fixed, init = MODELS["poisson_mixture"](np.random.default_rng(6))
    full = fit_model(plan.model, data, fixed, init, chunk_rows=30, max_iter=SWEEPS, tol=0,
                     plan=plan)
    part = fit_model(plan.model, data, fixed, init, chunk_rows=30, max_iter=2, tol=0, plan=plan)
    bad = data["x"].copy()
    bad[65] = np.inf
    with pytest.raises(ChunkError, match=r"x chunk 2 \(rows 60:90\) holds an infinite value at "
                                         r"row 65") as err:
        fit_model(plan.model, {"x": da.from_array(bad, chunks=30)}, fixed, None,
                  max_iter=SWEEPS, tol=0, plan=plan, resume=part.state)
    assert err.value.argument == "x" and len(err.value.state.elbo) == 2
    done = fit_model(plan.model, data, fixed, None, chunk_rows=30, max_iter=SWEEPS, tol=0,
                     plan=plan, resume=err.value.state)
    assert np.array_equal(done.elbo, full.elbo) and np.array_equal(done.a, full.a)


def test_arguments_are_checked(plans):
    plan = _plan(plans, "poisson_mixture")
    data, fixed, init = MODELS["poisson_mixture"](np.random.default_rng(6))
    with pytest.raises(ValueError, match=r"data must hold exactly the data-plate arrays \['x'\]"):
        fit_model(plan.model, {"y": data["x"]}, fixed, init, plan=plan)
    with pytest.raises(ValueError, match=r"init must give the global parameters \['a', 'b'\]"):
        fit_model(plan.model, data, fixed, {"a": init["a"]}, plan=plan)
    with pytest.raises(ValueError, match="chunk_rows"):
        fit_model(plan.model, data, fixed, init, chunk_rows=0, plan=plan)
    x2 = np.stack([data["x"], data["x"]], axis=1)
    with pytest.raises(ChunkError, match="^x chunk 0 .*argument 'x' must have 1 axes") as err:
        fit_model(plan.model, {"x": x2}, fixed, init, plan=plan)
    assert err.value.argument == "x"


@pytest.mark.parametrize("name, bad_value, what", [
    ("poisson_mixture", -1.0, "non-negative integers"), ("poisson_mixture", 2.5, "non-negative integers"),
    ("bernoulli_mixture", 0.5, "0 or 1"),
])
def test_data_off_the_likelihood_support_is_a_chunk_error_and_resumes(plans, name, bad_value, what):
    """Finite data off the support (a negative or fractional count, a Bernoulli 0.5) would give
    NaN statistics or silently a wrong fit: the chunk names itself, the argument and the row,
    and the fit resumes from the last global state once the data are fixed."""
    plan = _plan(plans, name)
    data, fixed, init = MODELS[name](np.random.default_rng(6))
    full = fit_model(plan.model, data, fixed, init, chunk_rows=30, max_iter=4, tol=0, plan=plan)
    part = fit_model(plan.model, data, fixed, init, chunk_rows=30, max_iter=2, tol=0, plan=plan)
    bad = data["x"].copy()
    bad[71] = bad_value
    with pytest.raises(ChunkError, match=r"^x chunk 2 \(rows 60:90\) holds a value off the "
                                         r"support of its likelihood at row 71: x must be "
                                         + what) as err:
        fit_model(plan.model, {"x": bad}, fixed, None, chunk_rows=30, max_iter=4, tol=0,
                  plan=plan, resume=part.state)
    assert (err.value.chunk, err.value.argument) == (2, "x")
    assert err.value.state is not None and len(err.value.state.elbo) == 2
    done = fit_model(plan.model, data, fixed, None, chunk_rows=30, max_iter=4, tol=0,
                     plan=plan, resume=err.value.state)
    assert np.array_equal(done.elbo, full.elbo)


def test_progress_bar_on_a_distributed_client(plans, dask_client, capsys):
    plan = _plan(plans, "poisson_mixture")
    data, fixed, init = MODELS["poisson_mixture"](np.random.default_rng(6))
    fit_model(plan.model, data, fixed, init, chunk_rows=30, max_iter=2, tol=0, plan=plan,
              client=dask_client, progress=True)
    out = capsys.readouterr().out
    assert out.count("100% Completed") == 2         # one bar per sweep, each run to the end


def _dask_uneven(data):
    sizes = tuple(np.diff(UNEVEN + [len(data["t"])]))
    return {k: da.from_array(v, chunks=(sizes,) + v.shape[1:]) for k, v in data.items()}


@pytest.mark.parametrize("name", sorted(BOUND_MODELS))
def test_dask_fit_of_a_local_bound_model_equals_generated_cavi(name, plans, dask_client):
    """Logistic regression on Dask: each task updates its rows' xi_i and returns their
    statistics; on uneven chunks the fit equals the in-memory CAVI in the plan's order."""
    plan = _plan(plans, name)
    data, fixed, init = BOUND_MODELS[name](np.random.default_rng(5))
    ref = vd.cavi(plan.model, order=plan.order).run({**data, **fixed}, init, max_iter=SWEEPS, tol=0)
    got = fit_model(plan.model, _dask_uneven(data), fixed, init, max_iter=SWEEPS, tol=0,
                    client=dask_client, plan=plan)
    for p in plan.split.global_params:
        np.testing.assert_allclose(got[p], ref.params[p], rtol=1e-10)
    np.testing.assert_allclose(got.elbo, ref.elbo, rtol=1e-10)


@pytest.mark.parametrize("argument, row, column, bad_value, message", [
    ("X", 65, 1, np.inf, r"^X chunk 2 \(rows 60:90\) holds an infinite value at row 65, column 1"),
    ("X", 61, 2, np.nan, r"^X chunk 2 \(rows 60:90\) holds NaN at row 61, column 2"),
    ("t", 71, None, 0.5, r"^t chunk 2 \(rows 60:90\) holds a value off the support of its "
                         r"likelihood at row 71: t must be 0 or 1"),
    ("t", 88, None, -1.0, r"^t chunk 2 \(rows 60:90\) holds a value off the support"),
])
def test_bad_chunk_of_a_local_bound_model_is_named_and_resumes(plans, argument, row, column,
                                                               bad_value, message):
    """As for the mixtures: a bad value in any data array of logistic regression (covariates
    or labels) names the array, the chunk and the row, and the fit resumes from the last
    global state once the data are fixed."""
    plan = _plan(plans, "logistic_regression")
    data, fixed, init = BOUND_MODELS["logistic_regression"](np.random.default_rng(6))
    full = fit_model(plan.model, data, fixed, init, chunk_rows=30, max_iter=4, tol=0, plan=plan)
    part = fit_model(plan.model, data, fixed, init, chunk_rows=30, max_iter=2, tol=0, plan=plan)
    bad = {k: v.copy() for k, v in data.items()}
    bad[argument][(row, column) if column is not None else row] = bad_value
    with pytest.raises(ChunkError, match=message) as err:
        fit_model(plan.model, bad, fixed, None, chunk_rows=30, max_iter=4, tol=0, plan=plan,
                  resume=part.state)
    assert (err.value.chunk, err.value.argument) == (2, argument)
    assert len(err.value.state.elbo) == 2
    done = fit_model(plan.model, data, fixed, None, chunk_rows=30, max_iter=4, tol=0,
                     plan=plan, resume=err.value.state)
    assert np.array_equal(done.elbo, full.elbo) and np.array_equal(done.S, full.S)


def test_local_bound_model_arguments_are_checked(plans):
    plan = _plan(plans, "logistic_regression")
    data, fixed, init = BOUND_MODELS["logistic_regression"](np.random.default_rng(6))
    with pytest.raises(ValueError, match=r"data must hold exactly the data-plate arrays "
                                         r"\['X', 't'\]"):
        fit_model(plan.model, {"X": data["X"]}, fixed, init, plan=plan)
    with pytest.raises(ValueError, match=r"^data: every array must hold the same rows of the "
                                         r"data plate N on axis 0, got \{'X': 100, 't': 101\}"):
        fit_model(plan.model, {"X": data["X"][:-1], "t": data["t"]}, fixed, init, plan=plan)
    with pytest.raises(ValueError, match=r"init must give the global parameters \['m', 'S'\]"):
        fit_model(plan.model, data, fixed, {"m": init["m"]}, plan=plan)
    with pytest.raises(ChunkError, match="^X chunk 0 .*argument 'X' must have 2 axes") as err:
        fit_model(plan.model, {"X": data["X"][:, 0], "t": data["t"]}, fixed, init, plan=plan)
    assert err.value.argument == "X"
