"""Hand-written, vectorised NumPy implementations for the book, in two parts.

* :mod:`vi_impl.models` -- one module per model (for example :mod:`vi_impl.models.gmm`, the
  coursework's Gaussian mixture): expected log joint, entropy terms, ELBO, one function per
  CAVI update and a ``fit`` loop. The tests check each against the SymPy derivation engine
  and against an independent numerical route.
* :mod:`vi_impl.theory` -- the theory chapters' tools (KL divergences, grids, exact mixture
  evidence, importance sampling, mean-field Gaussians, stochastic-gradient estimators).

Input validation for both lives in :mod:`vi_impl.validation`; figures in :mod:`vi_impl.plotting`.
"""
