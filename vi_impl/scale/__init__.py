"""CAVI past one machine's memory: map-reduce sweeps over chunked data on Dask.

:mod:`.gmm` fits the coursework mixture (hand-coded statistics, the in-memory fit's fused
pass); :mod:`.engine` runs the map-reduce that :mod:`vi_derivations.mapreduce` generates for
any model with a data plate; :mod:`.driver` is the loop shared by both; :mod:`.data` reads
``.npy`` files as chunked dask arrays.
"""
from .data import open_npy, write_npy
from .driver import ChunkError, SweepState
from .gmm import fit

__all__ = ["fit", "open_npy", "write_npy", "ChunkError", "SweepState"]
