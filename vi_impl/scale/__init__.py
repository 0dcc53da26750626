"""CAVI past one machine's memory: map-reduce sweeps over chunked data on Dask.

:mod:`.gmm` fits the coursework mixture (hand-coded statistics, the in-memory fit's fused
pass; its ``fit`` is this package's ``fit``); :mod:`.bayesian_gmm` fits the full Bayesian
mixture (``bayesian_gmm.fit``, on the in-memory fit's local pass); :mod:`.engine` runs the
map-reduce that :mod:`vi_derivations.mapreduce` generates for any model with a data plate;
:mod:`.driver` is the loop shared by all three; :mod:`.data` reads ``.npy`` files as chunked
dask arrays.
"""
from .data import open_npy, write_npy
from .driver import ChunkError, SweepState
from .gmm import fit
from . import bayesian_gmm

__all__ = ["fit", "bayesian_gmm", "open_npy", "write_npy", "ChunkError", "SweepState"]
