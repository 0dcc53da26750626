"""Tests for vi_impl.theory.grid: relevant bins of a product grid, checked by brute force."""

import itertools
import math

import numpy as np
import pytest
from scipy.stats import norm

from vi_impl.theory.grid import compositions, gaussian_bin_masses, relevant_bins


def _brute_force(masses, dim, level):
    allm = np.array([np.prod(c) for c in itertools.product(masses, repeat=dim)])
    s = np.sort(allm)[::-1]
    return int(np.searchsorted(np.cumsum(s), level * s.sum() * (1 - 1e-15)) + 1)


@pytest.mark.parametrize("n_bins, dim, level", [(7, 1, 0.9), (10, 2, 0.99), (9, 3, 0.95),
                                                (12, 3, 0.99), (6, 4, 0.5)])
def test_matches_brute_force_on_gaussian_grids(n_bins, dim, level):
    m = gaussian_bin_masses(n_bins, 4.0)
    r = relevant_bins(m, dim, level)
    assert r.n_relevant == _brute_force(m, dim, level)
    assert r.n_total == n_bins ** dim
    assert r.captured >= level - 1e-12


def test_matches_brute_force_on_asymmetric_masses():
    rng = np.random.default_rng(0)
    m = rng.dirichlet(np.ones(6))
    for dim in (1, 2, 3):
        assert relevant_bins(m, dim, 0.9).n_relevant == _brute_force(m, dim, 0.9)


def test_gaussian_bin_masses_are_symmetric_and_match_cdf():
    m = gaussian_bin_masses(11, 5.0)
    assert m.sum() == pytest.approx(1.0, abs=1e-15)
    np.testing.assert_allclose(m, m[::-1], rtol=1e-12)
    edges = np.linspace(-5, 5, 12)
    ref = np.diff(norm.cdf(edges))
    np.testing.assert_allclose(m, ref / ref.sum(), rtol=1e-9)


def test_fraction_shrinks_with_dimension():
    m = gaussian_bin_masses(12)
    fr = [relevant_bins(m, d, 0.99).fraction for d in range(1, 9)]
    assert all(b < a for a, b in zip(fr, fr[1:]))


def test_compositions_count_and_sum():
    c = compositions(5, 3)
    assert c.shape == (math.comb(7, 2), 3)
    assert np.all(c.sum(axis=1) == 5)
    assert len({tuple(r) for r in c}) == c.shape[0]


@pytest.mark.parametrize("kwargs, match", [
    (dict(masses_1d=[0.5, 0.6], dim=2), "masses_1d"),
    (dict(masses_1d=[1.5, -0.5], dim=2), "masses_1d"),
    (dict(masses_1d=[0.5, 0.5], dim=0), "dim"),
    (dict(masses_1d=[0.5, 0.5], dim=2.5), "dim"),
    (dict(masses_1d=[0.5, 0.5], dim=2, level=1.0), "level"),
    (dict(masses_1d=[0.5, np.nan], dim=2), "masses_1d"),
])
def test_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        relevant_bins(**kwargs)


def test_bin_masses_reject_bad_input():
    with pytest.raises(ValueError, match="n_bins"):
        gaussian_bin_masses(0)
    with pytest.raises(ValueError, match="half_width"):
        gaussian_bin_masses(10, -1.0)
