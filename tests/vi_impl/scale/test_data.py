"""Reading .npy files as chunked dask arrays."""
import numpy as np
import pytest

from vi_impl.scale import open_npy, write_npy
from vi_impl.scale.data import npy_blocks, row_chunks


def test_blocks_are_the_rows_of_the_file(tmp_path):
    X = np.arange(70.0).reshape(35, 2)
    np.save(tmp_path / "x.npy", X)
    A = open_npy(tmp_path / "x.npy", 10)
    assert A.chunks == ((10, 10, 10, 5), (2,))
    assert np.array_equal(A.compute(scheduler="sync"), X)
    np.save(tmp_path / "i.npy", X.astype(np.int32))          # integers are read as floats
    assert open_npy(tmp_path / "i.npy", 8).dtype == np.float64
    assert np.array_equal(open_npy(tmp_path / "i.npy", 8).compute(scheduler="sync"), X)


def test_write_npy_block_by_block(tmp_path):
    path = write_npy(tmp_path / "w.npy", 25, 3, lambda a, b: np.full((b - a, 3), float(a)),
                     chunk_rows=10)
    X = np.load(path)
    assert X.shape == (25, 3) and X[9, 0] == 0.0 and X[10, 2] == 10.0 and X[24, 1] == 20.0
    assert row_chunks(25, 10) == [(0, 10), (10, 20), (20, 25)]


@pytest.mark.parametrize("array", [np.zeros(5), np.zeros((3, 2), dtype=complex),
                                   np.asfortranarray(np.zeros((3, 2)))])
def test_unsupported_files_name_the_path(tmp_path, array):
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(ValueError, match="path .*bad.npy"):
        open_npy(tmp_path / "bad.npy", 2)


@pytest.mark.parametrize("rows", [0, -1, 2.5, True])
def test_chunk_rows_must_be_a_positive_integer(tmp_path, rows):
    np.save(tmp_path / "x.npy", np.zeros((3, 2)))
    with pytest.raises(ValueError, match="chunk_rows"):
        open_npy(tmp_path / "x.npy", rows)


def test_truncated_file_is_reported(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((40, 2)))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match="shorter than its header"):
        open_npy(path, 10).compute(scheduler="sync")


def test_row_block_pieces_equal_the_block(tmp_path):
    X = np.arange(46.0).reshape(23, 2)
    np.save(tmp_path / "x.npy", X)
    (block,) = npy_blocks(tmp_path / "x.npy", 100)
    pieces = [(a, p.copy()) for a, p in block.blocks(5)]
    assert [a for a, _ in pieces] == [0, 5, 10, 15, 20]
    assert np.array_equal(np.concatenate([p for _, p in pieces]), X)
    assert np.array_equal(block.read(), X) and len(block) == 23
