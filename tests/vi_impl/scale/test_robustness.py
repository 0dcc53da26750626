"""Bad input to vi_impl.scale is refused by a ValueError/TypeError that starts with the
argument's name (the fuzz of benchmarks/fuzz_vi_impl.py found each of these)."""
import dataclasses
import os

import dask.array as da
import numpy as np
import pytest

from tests.vi_impl.scale.conftest import mixture_data
from vi_impl.scale import fit, open_npy, write_npy

X = mixture_data(60, seed=1)


def ones(a, b):
    return np.ones((b - a, 2))


@pytest.mark.parametrize("rows", [-1, 0, 2.5, 3.0, True, None, "abc", 10**30])
def test_write_npy_chunk_rows_is_checked_before_anything_is_written(tmp_path, rows):
    """chunk_rows=-1 used to write a file of zeros without calling make_rows."""
    calls = []
    with pytest.raises(ValueError, match="^chunk_rows must be"):
        write_npy(tmp_path / "w.npy", 6, 2, lambda a, b: calls.append(a) or ones(a, b),
                  chunk_rows=rows)
    assert not calls and not (tmp_path / "w.npy").exists()


@pytest.mark.parametrize("name", ["n_rows", "n_cols"])
@pytest.mark.parametrize("bad", [0, -1, 2.5, 3.0, True, None, "abc", np.nan, 2 + 0j, 10**30])
def test_write_npy_sizes_must_be_positive_integers(tmp_path, name, bad):
    args = dict(n_rows=6, n_cols=2)
    with pytest.raises(ValueError, match=f"^{name} must be"):
        write_npy(tmp_path / "w.npy", make_rows=ones, chunk_rows=4, **{**args, name: bad})


@pytest.mark.parametrize("rows, message", [
    (lambda a, b: np.full((b - a, 2), np.nan), "contains NaN"),
    (lambda a, b: np.full((b - a, 2), np.inf), "contains infinite"),
    (lambda a, b: np.full((b - a, 2), 1e300), "has an entry of magnitude"),
    (lambda a, b: np.zeros(7), "must be a 2-D array"),
    (lambda a, b: np.zeros((b - a, 3)), r"must return shape \(4, 2\)"),
    (lambda a, b: np.zeros((b - a, 2)) + 1j, "must be real-valued"),
    (lambda a, b: "x", "must be a real numeric array"),
])
def test_write_npy_refuses_bad_rows_and_removes_the_partial_file(tmp_path, rows, message):
    """make_rows returning NaN used to be written silently."""
    path = tmp_path / "w.npy"
    with pytest.raises(ValueError, match=r"^make_rows\(0, 4\) " + message):
        write_npy(path, 6, 2, rows, chunk_rows=4)
    assert not path.exists()


@pytest.mark.parametrize("bad", [None, 3.0, "abc"])
def test_write_npy_make_rows_must_be_callable(tmp_path, bad):
    with pytest.raises(TypeError, match="^make_rows must be callable"):
        write_npy(tmp_path / "w.npy", 6, 2, bad)


def test_write_npy_path_must_be_a_writable_file(tmp_path):
    for bad, error, message in [(None, TypeError, "must be a path"), (True, TypeError, "must be a path"),
                                (3, TypeError, "must be a path"),
                                (tmp_path, ValueError, "is a directory"),
                                (tmp_path / "no" / "w.npy", ValueError, "folder that does not exist")]:
        with pytest.raises(error, match="^path .*" + message):
            write_npy(bad, 6, 2, ones)


def test_write_npy_valid_call_unchanged(tmp_path):
    path = write_npy(os.fsencode(tmp_path / "w.npy"), 7, 2, lambda a, b: np.arange(a, b)[:, None]
                     * np.ones(2), chunk_rows=3)
    assert path == str(tmp_path / "w.npy")
    np.testing.assert_array_equal(np.load(path), np.arange(7.0)[:, None] * np.ones(2))


@pytest.mark.parametrize("case", ["missing", "directory", "text", "empty file", "no rows",
                                  "no columns", "bool", "truncated"])
def test_open_npy_refuses_what_is_not_a_readable_2d_array(tmp_path, case):
    """A missing file or a directory gave FileNotFoundError / IsADirectoryError; a text
    file numpy's "magic string" message."""
    path = tmp_path / "f.npy"
    if case == "directory":
        path = tmp_path
    elif case == "text":
        path.write_text("not an array\n")
    elif case == "empty file":
        path.write_bytes(b"")
    elif case == "no rows":
        np.save(path, np.zeros((0, 2)))
    elif case == "no columns":
        np.save(path, np.zeros((3, 0)))
    elif case == "bool":
        np.save(path, np.zeros((3, 2), dtype=bool))
    elif case == "truncated":
        np.save(path, np.zeros((40, 2)))
        path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match="^path "):
        open_npy(path, 2)


@pytest.mark.parametrize("bad", [None, True, 3])
def test_open_npy_path_must_be_a_path(bad):
    with pytest.raises(TypeError, match="^path must be a path"):
        open_npy(bad, 2)


def test_fit_names_X_for_a_bad_file(tmp_path):
    with pytest.raises(ValueError, match="^X .*does not exist"):
        fit(str(tmp_path / "missing.npy"), 2, 1.0)
    (tmp_path / "t.npy").write_text("text")
    with pytest.raises(ValueError, match="^X .*not a readable .npy file"):
        fit(tmp_path / "t.npy", 2, 1.0)


@pytest.mark.parametrize("seed", ["abc", 1.5, [1], -1, True, 2**70, np.float64(2.0)])
def test_fit_seed_is_checked_and_named(seed):
    """seed="abc" or 1.5 gave an unnamed SeedSequence TypeError; seed=[1] was accepted."""
    with pytest.raises(ValueError, match="^seed must be"):
        fit(X, 2, 10.0, seed=seed, max_iter=2)


def test_fit_accepted_seeds_give_the_same_fit_as_before():
    """An int seeds the start as it is; a Generator (or NumPy int) through one draw."""
    a = fit(X, 2, 10.0, seed=3, max_iter=5, chunk_rows=25)
    b = fit(X, 2, 10.0, seed=np.int64(3), max_iter=5, chunk_rows=25)
    c = fit(X, 2, 10.0, seed=np.random.default_rng(3), max_iter=5, chunk_rows=25)
    np.testing.assert_array_equal(b.m, c.m)
    assert np.isfinite(a.m).all() and np.isfinite(a.elbo).all()
    assert fit(X, 2, 10.0, seed=None, max_iter=2).m.shape == (2, 2)


@pytest.mark.parametrize("data, message", [
    (da.from_array(X + 1j, chunks=20), "must be real-valued"),
    (da.from_array(X.astype(str), chunks=20), "must be a real numeric array"),
    (da.from_array(X.astype(object), chunks=20), "must be a real numeric array"),
    (da.from_array(X[:0], chunks=20), "must have at least one row"),
])
def test_fit_refuses_dask_arrays_of_the_wrong_kind(data, message):
    with pytest.raises(ValueError, match="^X " + message):
        fit(data, 2, 10.0)


def test_fit_resume_must_be_an_intact_state():
    good = fit(X, 2, 10.0, tol=0, max_iter=3)
    s = good.state
    for bad in ["x", dataclasses.replace(s, params={}),
                dataclasses.replace(s, extra={"c": s.extra["c"]}),
                dataclasses.replace(s, params={**s.params, "s2": -s.params["s2"]}),
                dataclasses.replace(s, params={**s.params, "m": s.params["m"] * np.nan})]:
        with pytest.raises(ValueError, match="^resume "):
            fit(X, 2, 10.0, resume=bad, max_iter=5)
    resumed = fit(X, 2, 10.0, tol=0, max_iter=6, resume=s)
    np.testing.assert_array_equal(resumed.elbo, fit(X, 2, 10.0, tol=0, max_iter=6).elbo)
