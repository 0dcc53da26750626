"""Engine models fitted as a map-reduce on Dask equal the engine's in-memory generated CAVI."""
import dask.array as da
import numpy as np
import pytest

import vi_derivations as vd
from tests.vi_derivations.test_mapreduce import MODELS
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
