"""Chunked data on disk: a ``.npy`` file read as a ``dask.array``, one row block per task.

Each task reads its rows straight from the file (one ``read`` at the block's byte offset: the
array is C-ordered, so a block of rows is one contiguous byte range), so a worker holds only
the chunks it is working on, and a task's description is (path, offset, rows) — small to send
to any worker of a cluster that sees the same file system. (``da.from_array`` on a
``numpy.memmap`` would instead ship the whole array when the graph goes to another process.)
"""
from __future__ import annotations

import contextlib
import os

import dask.array as da
import numpy as np
from dask import delayed

from vi_impl.validation import as_float_array, check_callable, check_int, check_path

__all__ = ["open_npy", "npy_blocks", "as_dask", "RowBlock", "write_npy", "row_chunks"]


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


def _header(path, name):
    """(shape, dtype, fortran_order, byte offset of the data) of a ``.npy`` file; a file that
    is not one (or cannot be read) is refused naming the argument ``name``."""
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                    else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read(fh)
            return shape, dtype, fortran, fh.tell()
    except (ValueError, TypeError, SyntaxError, EOFError, OSError) as exc:
        raise ValueError(f"{name} {path!r} is not a readable .npy file "
                         f"({type(exc).__name__}: {exc})") from None


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


def _check_file(path, name):
    """(shape, dtype, data offset) of the .npy file ``path`` after checking it holds a
    non-empty 2-D real C-ordered array and is as long as its header says."""
    path = check_path(name, path)
    shape, dtype, fortran, offset = _header(path, name)
    if len(shape) != 2 or not (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)) \
            or fortran:
        raise ValueError(f"{name} {path!r} must hold a 2-D real (integer or float) C-ordered array, got shape "
                         f"{shape} of {dtype}{' (Fortran order)' if fortran else ''}")
    if min(shape) < 1:
        raise ValueError(f"{name} {path!r} must hold at least one row and one column, got shape "
                         f"{shape}")
    size = os.path.getsize(path)
    if size < offset + shape[0] * shape[1] * dtype.itemsize:
        raise ValueError(f"{name} {path!r} is shorter than its header says ({size} bytes for a "
                         f"{shape} array of {dtype})")
    return path, shape, dtype, offset


def npy_blocks(path, chunk_rows: int, *, name: str = "path") -> list:
    """The row blocks of the 2-D ``.npy`` file at ``path`` as :class:`RowBlock` objects
    (``name``: the argument the path came in as, for error messages)."""
    chunk_rows = check_int("chunk_rows", chunk_rows, minimum=1)
    path, shape, dtype, offset = _check_file(path, name)
    return [RowBlock(path, offset, a, b, shape[1], dtype.str)
            for a, b in row_chunks(shape[0], chunk_rows)]


def as_dask(blocks) -> da.Array:
    """Row blocks (see :func:`npy_blocks`) as one dask array, a read task per block."""
    return da.concatenate([da.from_delayed(delayed(RowBlock.read, pure=True)(b),
                                           shape=(len(b), b.n_cols), dtype=np.float64)
                           for b in blocks], axis=0)


def open_npy(path, chunk_rows: int):
    """The 2-D float ``.npy`` file at ``path`` as a dask array chunked by ``chunk_rows`` rows.
    The header is checked here (a non-empty 2-D real C-ordered array, as long as it says); the
    values are read, and checked by the fits, chunk by chunk."""
    return as_dask(npy_blocks(path, chunk_rows))


def write_npy(path, n_rows: int, n_cols: int, make_rows, chunk_rows: int = 1_000_000):
    """Write an (n_rows, n_cols) float64 ``.npy`` file block by block (never all in memory):
    ``make_rows(start, stop)`` returns the rows start..stop-1, an array of shape
    (stop - start, n_cols) of finite reals of magnitude <= MAX_ABS (anything else is refused,
    naming ``make_rows``, and the partly written file is removed). Returns the path."""
    path = check_path("path", path, exists=False)
    n_rows = check_int("n_rows", n_rows, minimum=1)
    n_cols = check_int("n_cols", n_cols, minimum=1)
    make_rows = check_callable("make_rows", make_rows)
    chunk_rows = check_int("chunk_rows", chunk_rows, minimum=1)
    try:
        out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64,
                                        shape=(n_rows, n_cols))
    except (OSError, OverflowError, ValueError) as exc:
        raise ValueError(f"path {path!r} cannot hold an ({n_rows}, {n_cols}) float64 array "
                         f"({type(exc).__name__}: {exc})") from None
    done = False
    try:
        for a, b in row_chunks(n_rows, chunk_rows):
            what = f"make_rows({a}, {b})"
            rows = as_float_array(what, make_rows(a, b), ndim=2)
            if rows.shape != (b - a, n_cols):
                raise ValueError(f"{what} must return shape {(b - a, n_cols)}, got {rows.shape}")
            out[a:b] = rows
        out.flush()
        done = True
    finally:
        del out
        if not done:
            with contextlib.suppress(OSError):
                os.remove(path)
    return path
