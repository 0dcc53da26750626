"""The chunked map-reduce fit of the coursework mixture equals the in-memory fit."""
import re

import dask.array as da
import numpy as np
import pytest

from tests.vi_impl.scale.conftest import mixture_data
from vi_impl.models import gmm
from vi_impl.scale import ChunkError, fit, open_npy

K, SIGMA2 = 3, 10.0


def rel(a, b):
    return np.max(np.abs(np.asarray(a) - b)) / np.max(np.abs(b))


@pytest.fixture(scope="module")
def X():
    return mixture_data(2500, seed=3)


@pytest.fixture(scope="module")
def start(X):
    return X[[0, 1, 2]] + 0.5          # a deliberately poor start: many sweeps to converge


@pytest.mark.parametrize("chunk_rows", [700, 2500])
def test_equals_in_memory_fit_same_start(X, start, chunk_rows, dask_client):
    ref = gmm.fit(X, K, SIGMA2, init=start, tol=0, max_iter=25)
    got = fit(da.from_array(X, chunks=(chunk_rows, 2)), K, SIGMA2, init=start, tol=0,
              max_iter=25, client=dask_client)
    assert got.n_iter == ref.n_iter == 25
    assert got.n_chunks == -(-len(X) // chunk_rows)
    for name in ("m", "s2"):
        assert rel(got[name], ref[name]) < 1e-10
    assert rel(got.elbo, ref.elbo) < 1e-10
    assert rel(got.pi.compute(), ref.pi) < 1e-10


def test_stopping_rule_matches_and_pi_stays_lazy(X, start):
    ref = gmm.fit(X, K, SIGMA2, init=start)
    got = fit(X, K, SIGMA2, init=start, chunk_rows=600)       # Dask's local threads
    assert got.converged and ref.converged and got.n_iter == ref.n_iter
    assert rel(got.m, ref.m) < 1e-10
    assert isinstance(got.pi, da.Array) and got.pi.chunks[0] == (600,) * 4 + (100,)


def test_from_npy_on_disk(tmp_path, X, start, dask_client):
    path = tmp_path / "x.npy"
    np.save(path, X)
    ref = gmm.fit(X, K, SIGMA2, init=start, tol=0, max_iter=10)
    got = fit(path, K, SIGMA2, init=start, chunk_rows=1000, tol=0, max_iter=10,
              client=dask_client)
    assert rel(got.m, ref.m) < 1e-10 and rel(got.elbo, ref.elbo) < 1e-10
    assert open_npy(path, 1000).chunks[0] == (1000, 1000, 500)


def test_default_start_reaches_the_same_optimum(X):
    """Without init the start comes from a fit on a subsample; on clustered data the chunked
    fit then reaches the in-memory fit's optimum."""
    got = fit(X, K, SIGMA2, chunk_rows=1000, n_sample=500)
    ref = gmm.fit(X, K, SIGMA2)
    order = np.lexsort(got.m.T), np.lexsort(ref.m.T)
    assert got.converged
    # both stop at an ELBO change of 1e-8 relative: parameters agree to about sqrt(1e-8)
    assert rel(got.m[order[0]], ref.m[order[1]]) < 1e-3
    assert abs(got.elbo[-1] - ref.elbo[-1]) < 1e-8 * abs(ref.elbo[-1])


@pytest.mark.parametrize("bad, what", [(np.nan, "NaN"), (np.inf, "an infinite value"),
                                       (1e200, "1e+200, beyond")])
def test_bad_chunk_is_named(X, start, bad, what):
    Xb = X.copy()
    Xb[1234, 1] = bad
    with pytest.raises(ChunkError, match=r"X chunk 2 \(rows 1000:1500\) holds " + re.escape(what) + r".* row 1234, "
                                         r"column 1") as err:
        fit(da.from_array(Xb, chunks=(500, 2)), K, SIGMA2, init=start)
    assert err.value.chunk == 2 and err.value.argument == "X"
    assert isinstance(err.value, ValueError)
    with pytest.raises(ValueError, match="^X (contains|has)"):       # an in-memory array: checked whole
        fit(Xb, K, SIGMA2, init=start)


def test_bad_chunk_mid_fit_then_fix_and_resume(tmp_path, X, start, dask_client):
    """The data on disk goes bad after 4 sweeps: the error keeps the last global state; once
    the file is fixed the fit resumes from it and ends exactly where an unbroken fit ends."""
    path = tmp_path / "x.npy"
    np.save(path, X)
    full = fit(path, K, SIGMA2, init=start, chunk_rows=800, tol=0, max_iter=12,
               client=dask_client)
    first = fit(path, K, SIGMA2, init=start, chunk_rows=800, tol=0, max_iter=4,
                client=dask_client)
    disk = np.load(path, mmap_mode="r+")
    disk[2000, 0] = np.nan
    disk.flush()
    with pytest.raises(ChunkError, match=r"X chunk 2 \(rows 1600:2400\) holds NaN") as err:
        fit(path, K, SIGMA2, chunk_rows=800, tol=0, max_iter=12, resume=first.state,
            client=dask_client)
    state = err.value.state
    assert len(state.elbo) == 4 and np.array_equal(state.params["m"], first.m)
    disk[2000, 0] = X[2000, 0]
    disk.flush()
    del disk
    done = fit(path, K, SIGMA2, chunk_rows=800, tol=0, max_iter=12, resume=state,
               client=dask_client)
    assert done.n_iter == 12
    assert np.array_equal(done.m, full.m) and np.array_equal(done.elbo, full.elbo)


def test_progress_bar(X, start, capsys):
    fit(X, K, SIGMA2, init=start, chunk_rows=1000, tol=0, max_iter=2, progress=True)
    out = capsys.readouterr().out
    assert out.count("100% Completed") == 3          # the first pass and one bar per sweep
    fit(X, K, SIGMA2, init=start, chunk_rows=1000, tol=0, max_iter=2)
    assert "Completed" not in capsys.readouterr().out


def test_progress_bar_on_a_distributed_client(X, start, dask_client, capsys):
    fit(X, K, SIGMA2, init=start, chunk_rows=1000, tol=0, max_iter=2, progress=True,
        client=dask_client)
    assert capsys.readouterr().out.count("100% Completed") == 3


@pytest.mark.parametrize("kwargs, match", [
    (dict(K=0), "K"), (dict(sigma2=-1.0), "sigma2"), (dict(init=np.zeros((2, 2))), "init"),
    (dict(max_iter=0), "max_iter"), (dict(tol=-1.0), "tol"), (dict(progress="yes"), "progress"),
    (dict(chunk_rows=0), "chunk"),
])
def test_bad_arguments_are_named(X, kwargs, match):
    args = dict(K=K, sigma2=SIGMA2)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        fit(X, args.pop("K"), args.pop("sigma2"), **args)


def test_resume_of_another_shape_is_rejected(X, start):
    state = fit(X, K, SIGMA2, init=start, max_iter=2, tol=0).state
    with pytest.raises(ValueError, match="resume"):
        fit(X, K + 1, SIGMA2, resume=state)
    with pytest.raises(ValueError, match="X must be a 2-D"):
        fit(np.zeros(5), K, SIGMA2)


def test_scheduler_address_string(X, start, dask_client):
    """Given an address, the fit connects its own client to that scheduler (as on a cluster)."""
    ref = gmm.fit(X, K, SIGMA2, init=start, tol=0, max_iter=3)
    got = fit(X, K, SIGMA2, init=start, tol=0, max_iter=3, chunk_rows=1000,
              client=dask_client.scheduler.address)
    assert rel(got.m, ref.m) < 1e-10


def test_nan_in_an_early_piece_of_a_large_chunk(tmp_path):
    """A chunk is processed in cache-sized pieces; a NaN in the first piece is still reported
    after later, clean pieces (the sweep's check, not only the first pass's)."""
    Xl = mixture_data(60_000, seed=5)
    path = tmp_path / "x.npy"
    np.save(path, Xl)
    state = fit(path, K, SIGMA2, init=Xl[:K], chunk_rows=60_000, tol=0, max_iter=1).state
    disk = np.load(path, mmap_mode="r+")
    disk[10, 0] = np.nan
    disk.flush()
    del disk
    with pytest.raises(ChunkError, match=r"X chunk 0 \(rows 0:60000\) holds NaN at row 10, "):
        fit(path, K, SIGMA2, chunk_rows=60_000, tol=0, max_iter=3, resume=state)
