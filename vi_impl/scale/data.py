"""Chunked data on disk: a ``.npy`` file read as a ``dask.array``, one row block per task.

Each task reads its rows straight from the file (one ``read`` at the block's byte offset: the
array is C-ordered, so a block of rows is one contiguous byte range), so a worker holds only
the chunks it is working on, and a task's description is (path, offset, rows) — small to send
to any worker of a cluster that sees the same file system. (``da.from_array`` on a
``numpy.memmap`` would instead ship the whole array when the graph goes to another process.)
"""
from __future__ import annotations

import os

import dask.array as da
import numpy as np
from dask import delayed

from vi_impl.validation import check_int

__all__ = ["open_npy", "npy_blocks", "RowBlock", "write_npy", "row_chunks"]


def row_chunks(n_rows: int, chunk_rows: int) -> list:
    """[(start, stop), ...] covering range(n_rows) in blocks of at most ``chunk_rows``."""
    return [(a, min(a + chunk_rows, n_rows)) for a in range(0, n_rows, chunk_rows)]


def _read_rows(path, offset, start, stop, n_cols, dtype):
    """Rows start..stop-1 of the C-ordered array whose data begin at byte ``offset``."""
    dtype = np.dtype(dtype)
    with open(path, "rb") as fh:
        fh.seek(offset + start * n_cols * dtype.itemsize)
        block = np.fromfile(fh, dtype=dtype, count=(stop - start) * n_cols)
    if block.size != (stop - start) * n_cols:
        raise ValueError(f"path {path!r} is shorter than its header says (rows {start}:{stop})")
    return block.reshape(stop - start, n_cols).astype(np.float64, copy=False)


def _header(path):
    """(shape, dtype, fortran_order, byte offset of the data) of a ``.npy`` file."""
    with open(path, "rb") as fh:
        version = np.lib.format.read_magic(fh)
        read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                else np.lib.format.read_array_header_2_0)
        shape, fortran, dtype = read(fh)
        return shape, dtype, fortran, fh.tell()


class RowBlock:
    """Rows start..stop-1 of a ``.npy`` file, read when :meth:`read` is called. Handed to a
    map task *instead of* the data, so the task reads its own rows: a worker then holds only
    the chunks its threads are working on (a separate read task per chunk lets the scheduler
    read chunks ahead of the tasks that consume them)."""

    __slots__ = ("path", "offset", "start", "stop", "n_cols", "dtype")

    def __init__(self, path, offset, start, stop, n_cols, dtype):
        self.path, self.offset, self.start, self.stop = path, offset, start, stop
        self.n_cols, self.dtype = n_cols, dtype

    def __reduce__(self):
        return (RowBlock, (self.path, self.offset, self.start, self.stop, self.n_cols,
                           self.dtype))

    def __len__(self):
        return self.stop - self.start

    def read(self):
        return _read_rows(self.path, self.offset, self.start, self.stop, self.n_cols, self.dtype)

    def blocks(self, rows: int):
        """Yield (first row within this block, rows) for consecutive pieces of at most ``rows``
        rows, each read into one reused buffer (valid until the next piece): a cache-sized
        piece is then processed while it is still in the cache."""
        dtype = np.dtype(self.dtype)
        buf = np.empty(min(rows, len(self)) * self.n_cols, dtype=dtype)
        with open(self.path, "rb") as fh:
            fh.seek(self.offset + self.start * self.n_cols * dtype.itemsize)
            for a in range(0, len(self), rows):
                n = min(rows, len(self) - a)
                piece = buf[:n * self.n_cols]
                if fh.readinto(piece) != piece.nbytes:
                    raise ValueError(f"path {self.path!r} is shorter than its header says "
                                     f"(rows {self.start + a}:{self.start + a + n})")
                yield a, piece.reshape(n, self.n_cols).astype(np.float64, copy=False)


def _check_file(path):
    shape, dtype, fortran, offset = _header(path)
    if len(shape) != 2 or not (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)) \
            or fortran:
        raise ValueError(f"path {path!r} must hold a 2-D real (integer or float) C-ordered array, got shape "
                         f"{shape} of {dtype}{' (Fortran order)' if fortran else ''}")
    return shape, dtype, offset


def npy_blocks(path, chunk_rows: int) -> list:
    """The row blocks of the 2-D ``.npy`` file at ``path`` as :class:`RowBlock` objects."""
    path = os.fspath(path)
    chunk_rows = check_int("chunk_rows", chunk_rows, minimum=1)
    shape, dtype, offset = _check_file(path)
    return [RowBlock(path, offset, a, b, shape[1], dtype.str)
            for a, b in row_chunks(shape[0], chunk_rows)]


def open_npy(path, chunk_rows: int):
    """The 2-D float ``.npy`` file at ``path`` as a dask array chunked by ``chunk_rows`` rows."""
    blocks = [da.from_delayed(delayed(RowBlock.read, pure=True)(b), shape=(len(b), b.n_cols),
                              dtype=np.float64)
              for b in npy_blocks(path, chunk_rows)]
    return da.concatenate(blocks, axis=0)


def write_npy(path, n_rows: int, n_cols: int, make_rows, chunk_rows: int = 1_000_000):
    """Write an (n_rows, n_cols) float64 ``.npy`` file block by block (never all in memory):
    ``make_rows(start, stop)`` returns the rows start..stop-1."""
    path = os.fspath(path)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(n_rows, n_cols))
    try:
        for a, b in row_chunks(n_rows, chunk_rows):
            out[a:b] = make_rows(a, b)
        out.flush()
    finally:
        del out
    return path
