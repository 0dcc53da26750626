"""Numerical tools of the theory chapters: exact evidence by enumeration, grids, KL
divergences, importance sampling, mean-field Gaussians and stochastic-gradient estimators."""
