"""The chunked map-reduce fit of the full Bayesian mixture equals the in-memory fit and the
engine's generic map-reduce route from the same start."""
import dataclasses
import re

import dask.array as da
import numpy as np
import pytest

from tests.vi_impl.scale.conftest import mixture_data
from tests.vi_impl.scale.test_gmm import rel
from vi_impl.models import bayesian_gmm as bg
from vi_impl.scale import ChunkError, bayesian_gmm
from vi_impl.scale.bayesian_gmm import fit

K = 3
PARAMS = ("alpha", "beta", "m", "W", "nu")
UNEVEN = (400, 7, 600, 1, 492)          # chunk sizes, 1500 rows


@pytest.fixture(scope="module")
def X():
    return mixture_data(1500, seed=3)


@pytest.fixture(scope="module")
def r0(X):
    """Soft random initial responsibilities: a poor start, many sweeps to converge."""
    return np.random.default_rng(1).dirichlet(np.ones(K), size=len(X))


def test_equals_in_memory_fit_same_start_on_uneven_chunks(X, r0, dask_client):
    ref = bg.fit(X, K, init=r0, tol=0, max_iter=12)
    got = fit(da.from_array(X, chunks=(UNEVEN, 2)), K, init=r0, tol=0, max_iter=12,
              client=dask_client)
    assert got.n_iter == ref.n_iter == 12 and got.n_chunks == len(UNEVEN)
    for name in PARAMS:
        assert rel(got[name], ref[name]) < 1e-10, name
    assert rel(got.elbo, ref.elbo) < 1e-10
    assert isinstance(got.r, da.Array) and got.r.chunks[0] == UNEVEN
    assert rel(got.r.compute(), ref.r) < 1e-10
    for f in ("alpha0", "m0", "beta0", "W0", "nu0"):          # the default prior, from chunks
        assert rel(getattr(got.prior, f), getattr(ref.prior, f)) < 1e-10


def test_from_npy_on_disk_and_the_stopping_rule(tmp_path, X):
    path = tmp_path / "x.npy"
    np.save(path, X)
    prior = bg.make_prior(K, 2, m0=X.mean(0) + 1.0, W0=[[0.5, 0.1], [0.1, 0.3]], nu0=4.0,
                          alpha0=0.5, beta0=0.1)
    hard = bg._seed_r(X - X.mean(0), K, np.random.default_rng(0))     # 30 sweeps to converge
    ref = bg.fit(X, K, prior=prior, init=hard)
    got = fit(path, K, prior=prior, init=da.from_array(hard, chunks=500), chunk_rows=700)
    assert got.converged and ref.converged and got.n_iter == ref.n_iter
    assert got.n_chunks == 3 and got.r.chunks[0] == (700, 700, 100)
    for name in PARAMS:
        assert rel(got[name], ref[name]) < 1e-10, name
    assert rel(got.elbo, ref.elbo) < 1e-10
    assert rel(got.r[650:760].compute(), ref.r[650:760]) < 1e-10


def test_default_start_is_the_in_memory_fits_when_the_subsample_is_all_rows(X):
    """Without init: k-means++ on a subsample; with n_sample >= N that is every row, so the
    same int seed gives the in-memory fit's start and fit."""
    ref = bg.fit(X, K, seed=4, tol=0, max_iter=5)
    got = fit(X, K, seed=4, tol=0, max_iter=5, chunk_rows=400)
    assert rel(got.m, ref.m) < 1e-10 and rel(got.elbo, ref.elbo) < 1e-10
    sub = fit(X, K, seed=4, chunk_rows=400, n_sample=300)         # a true subsample
    best = bg.fit(X, K, seed=4).elbo[-1]
    assert sub.converged and abs(sub.elbo[-1] - best) < 1e-6 * abs(best)


def test_equals_the_engines_generic_map_reduce_route(X, r0, dask_client):
    """vi_impl.scale.engine.fit_model on the engine model bayesian_gmm (its Dirichlet
    parameter is named alpha_w), started from q after the first global update."""
    import vi_derivations as vd
    from vi_derivations.mapreduce import map_reduce
    from vi_impl.scale.engine import fit_model

    Xs, r0s = X[:240], r0[:240]
    prior = bg.make_prior(K, 2, m0=Xs.mean(0), W0=0.5 * np.eye(2), nu0=3.0, alpha0=0.5)
    post0 = bg.update_global(prior, *bg.suff_stats(Xs, r0s))
    plan = map_reduce(vd.models.load("bayesian_gmm"))
    fixed = {f: getattr(prior, f) for f in ("alpha0", "m0", "beta0", "W0", "nu0")}
    init = {"alpha_w": post0.alpha, "m": post0.m, "beta": post0.beta, "W": post0.W,
            "nu": post0.nu}
    eng = fit_model(plan.model, {"x": Xs}, fixed, init, chunk_rows=70, max_iter=5, tol=0,
                    plan=plan, client=dask_client)
    got = fit(Xs, K, prior=prior, init=r0s, chunk_rows=70, max_iter=5, tol=0,
              client=dask_client)
    for name in PARAMS:
        assert rel(got[name], eng["alpha_w" if name == "alpha" else name]) < 1e-10, name
    assert rel(got.elbo, eng.elbo) < 1e-10


@pytest.mark.parametrize("bad, what", [(np.nan, "NaN"), (np.inf, "an infinite value"),
                                       (1e200, "1e+200, beyond")])
def test_bad_chunk_is_named(X, r0, bad, what):
    Xb = X.copy()
    Xb[1234, 1] = bad
    with pytest.raises(ChunkError, match=r"^X chunk 2 \(rows 1000:1500\) holds "
                                         + re.escape(what) + r".* row 1234, column 1") as err:
        fit(da.from_array(Xb, chunks=(500, 2)), K, init=r0)
    assert err.value.chunk == 2 and err.value.argument == "X"
    assert isinstance(err.value, ValueError)
    with pytest.raises(ValueError, match="^X (contains|has)"):   # an in-memory array: checked whole
        fit(Xb, K, init=r0)


def test_bad_init_chunk_is_named(X, r0):
    bad = r0.copy()
    bad[620] = [0.5, 0.6, 0.1]
    with pytest.raises(ChunkError, match=r"^init chunk 1 \(rows 500:1000\): init rows must "
                                         r"sum to one .* row 120 sums to .*1.2.* row 500") as err:
        fit(X, K, init=da.from_array(bad, chunks=500), chunk_rows=500)
    assert err.value.argument == "init" and err.value.state is None   # before the first sweep


@pytest.mark.parametrize("bad", [np.nan, 1e200])
def test_bad_chunk_mid_fit_then_fix_and_resume(tmp_path, X, r0, bad, dask_client):
    """The file goes bad after 3 sweeps: the error keeps the last global state; once the file
    is fixed the fit resumes from it and ends exactly where an unbroken fit ends."""
    path = tmp_path / "x.npy"
    np.save(path, X)
    args = dict(init=r0, chunk_rows=600, tol=0, client=dask_client)
    full = fit(path, K, max_iter=8, **args)
    first = fit(path, K, max_iter=3, **args)
    disk = np.load(path, mmap_mode="r+")
    disk[1300, 0] = bad
    disk.flush()
    with pytest.raises(ChunkError, match=r"^X chunk 2 \(rows 1200:1500\) holds .* at row "
                                         r"1300, column 0") as err:
        fit(path, K, chunk_rows=600, tol=0, max_iter=8, resume=first.state, client=dask_client)
    state = err.value.state
    assert len(state.elbo) == 3 and np.array_equal(state.params["W"], first.W)
    disk[1300, 0] = X[1300, 0]
    disk.flush()
    del disk
    done = fit(path, K, chunk_rows=600, tol=0, max_iter=8, resume=state, client=dask_client)
    assert done.n_iter == 8
    for name in PARAMS:
        assert np.array_equal(done[name], full[name])
    assert np.array_equal(done.elbo, full.elbo)
    np.testing.assert_array_equal(done.r.compute(), full.r.compute())


def test_progress_bar(X, r0, dask_client, capsys):
    fit(X, K, init=r0, chunk_rows=500, tol=0, max_iter=2, progress=True, client=dask_client)
    assert capsys.readouterr().out.count("100% Completed") == 4   # 2 passes, then 1 per sweep
    fit(X, K, init=r0, chunk_rows=500, tol=0, max_iter=2)
    assert "Completed" not in capsys.readouterr().out


def test_scheduler_address_string(X, r0, dask_client):
    ref = bg.fit(X, K, init=r0, tol=0, max_iter=2)
    got = fit(X, K, init=r0, tol=0, max_iter=2, chunk_rows=500,
              client=dask_client.scheduler.address)
    assert rel(got.W, ref.W) < 1e-10


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(K=0), ValueError, "^K "), (dict(init=np.full((1500, 2), 0.5)), ValueError, "^init "),
    (dict(init=da.zeros((1500, 2))), ValueError, "^init "),
    (dict(max_iter=0), ValueError, "^max_iter "), (dict(tol=-1.0), ValueError, "^tol "),
    (dict(progress="yes"), ValueError, "^progress "),
    (dict(chunk_rows=0), ValueError, "^chunk_rows "), (dict(prior="flat"), TypeError, "^prior "),
    (dict(prior=bg.make_prior(2, 2)), ValueError, "^prior "),
    (dict(prior=bg.make_prior(K, 3)), ValueError, "^prior "), (dict(seed=-1), ValueError, "^seed "),
    (dict(n_sample=1), ValueError, "^n_sample "),
])
def test_bad_arguments_are_named(X, kwargs, error, match):
    args = dict(K=K)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        fit(X, args.pop("K"), **args)


def test_resume_must_be_an_intact_state_of_the_same_mixture(X, r0):
    state = fit(X, K, init=r0, max_iter=2, tol=0, chunk_rows=500).state
    bad_W = {**state.params, "W": -state.params["W"]}
    for bad in ["x", dataclasses.replace(state, params={}), dataclasses.replace(state, params=bad_W)]:
        with pytest.raises(ValueError, match="^resume "):
            fit(X, K, resume=bad)
    with pytest.raises(ValueError, match="^resume "):
        fit(X, K + 1, resume=state)
    with pytest.raises(ValueError, match="^prior must be the resumed fit's"):
        fit(X, K, resume=state, prior=bg.make_prior(K, 2))


def test_the_fuzz_has_a_valid_call_of_the_new_fit():
    """benchmarks/fuzz_vi_impl.py fuzzes vi_impl.scale.bayesian_gmm.fit (and
    tests/vi_impl/test_robustness.py holds it to zero problems)."""
    from tests.vi_impl.test_robustness import FUZZ, HELD
    assert "vi_impl.scale.bayesian_gmm" in HELD
    assert set(FUZZ._specs("vi_impl.scale.bayesian_gmm")) == set(bayesian_gmm.__all__) == {"fit"}


def test_committed_benchmark_has_the_fields_a_chapter_reads():
    """benchmarks/bench_dask_bayesian_gmm.py wrote benchmarks/results/dask_bayesian_gmm.json
    (timings are not tested)."""
    import json
    from pathlib import Path
    doc = json.loads((Path(__file__).resolve().parents[3] / "benchmarks" / "results"
                      / "dask_bayesian_gmm.json").read_text(encoding="utf-8"))
    assert doc["K"] == 5 and doc["D"] == 2 and doc["in_memory"]["N"] == 10**6
    assert doc["in_memory"]["sec_per_iter"] > 0 and doc["in_memory"]["cpu_per_iter"] > 0
    assert [r["N"] for r in doc["rows"]][:2] == [10**5, 10**6]
    for row in doc["rows"]:
        for key in ("n_chunks", "sec_per_sweep", "cpu_per_sweep", "ratio_wall", "ratio_cpu",
                    "peak_rss_bytes", "first_passes_sec"):
            assert row[key] > 0, (row["N"], key)
