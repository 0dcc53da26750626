"""Hand-written, vectorised NumPy implementations for the book, in two parts.

* :mod:`vi_impl.models` -- one module per model (for example :mod:`vi_impl.models.gmm`, the
  coursework's Gaussian mixture): expected log joint, entropy terms, ELBO, one function per
  CAVI update and a ``fit`` loop. The tests check each against the SymPy derivation engine
  and against an independent numerical route.
* :mod:`vi_impl.theory` -- the theory chapters' tools (KL divergences, grids, exact mixture
  evidence, importance sampling, mean-field Gaussians, stochastic-gradient estimators).

Both share one vocabulary: input validation in :mod:`vi_impl.validation` (bad input raises a
ValueError/TypeError naming the argument), and one result type, default tolerance and stopping
rule for every fit loop in :mod:`vi_impl.result`. Figures are in :mod:`vi_impl.plotting`.
"""
