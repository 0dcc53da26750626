"""Grid integration and the curse of dimensionality: how few bins carry the mass.

A product grid in ``D`` dimensions with ``n`` bins per axis has ``n**D`` bins. For a target
whose density factorises over the axes (for instance a Gaussian with diagonal covariance,
expressed in its own standardised coordinates), the probability of a bin is the product of
one-dimensional bin probabilities. :func:`relevant_bins` finds the smallest number of bins
whose total probability reaches a given level (the *relevant* bins), exactly, without
listing the ``n**D`` bins: bins whose multiset of one-dimensional masses is the same have
the same mass, so it is enough to enumerate compositions of ``D`` over the distinct
one-dimensional masses (``C(D + J - 1, J - 1)`` of them for ``J`` distinct masses).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln
from scipy.stats import norm

from vi_impl.validation import (
    as_float_array, check_int, check_nonnegative_scalar, check_positive_scalar,
    check_probability_level,
)

__all__ = ["RelevantBins", "gaussian_bin_masses", "relevant_bins", "compositions"]


@dataclass(frozen=True)
class RelevantBins:
    """``n_relevant`` bins (of ``n_total = n**D``) hold at least ``captured >= level`` of the
    mass; ``fraction = n_relevant / n_total``. Counts are floats (they can exceed 2**63)."""

    dim: int
    level: float
    n_relevant: float
    n_total: float
    fraction: float
    captured: float


def gaussian_bin_masses(n_bins: int, half_width: float = 6.0) -> np.ndarray:
    """Probabilities of ``n_bins`` equal bins covering ``[-half_width, half_width]`` under N(0, 1).

    They are renormalised to sum to one (the grid's own distribution; the mass outside the
    range, ``2 Phi(-half_width)``, is about 2e-9 for the default). Differences of the normal
    CDF are taken on the side of the origin where they are accurate, so the bins are
    exactly mirror-symmetric.
    """
    n_bins = check_int("n_bins", n_bins, minimum=1)
    half_width = check_positive_scalar("half_width", half_width)
    edges = np.linspace(-half_width, half_width, n_bins + 1)
    # mass of [a, b] computed from the tail nearer to the bin: symmetric to the last bit.
    a, b = edges[:-1], edges[1:]
    lower = np.where(b <= 0, norm.cdf(b) - norm.cdf(a), norm.sf(a) - norm.sf(b))
    mid = (a < 0) & (b > 0)
    lower[mid] = 1.0 - norm.cdf(a[mid]) - norm.sf(b[mid])
    return lower / lower.sum()


def compositions(total: int, parts: int) -> np.ndarray:
    """All vectors of ``parts`` non-negative integers summing to ``total``, shape ``(C, parts)``
    with ``C = comb(total + parts - 1, parts - 1)`` (stars and bars)."""
    total = check_int("total", total, minimum=0)
    parts = check_int("parts", parts, minimum=1)
    n_rows = math.comb(total + parts - 1, parts - 1)
    out = np.empty((n_rows, parts), dtype=np.int64)
    for row, bars in enumerate(itertools.combinations(range(total + parts - 1), parts - 1)):
        prev = -1
        for j, bar in enumerate(bars):
            out[row, j] = bar - prev - 1
            prev = bar
        out[row, parts - 1] = total + parts - 2 - prev
    return out


def relevant_bins(masses_1d, dim: int, level: float = 0.99, *, rtol: float = 1e-12,
                  max_groups: int = 3_000_000) -> RelevantBins:
    """Smallest number of bins of the product grid ``masses_1d``^``dim`` holding ``level`` of
    the mass.

    ``masses_1d``: probabilities ``(n,)`` of the one-dimensional bins (non-negative, summing to
    one). A bin of the ``dim``-dimensional grid picks one 1-D bin per axis and has the product
    mass. Bins are taken greedily from the heaviest down (which is optimal), and the last
    group of equal-mass bins is taken only as far as needed.
    """
    m = as_float_array("masses_1d", masses_1d, ndim=1, min_size=1)
    if np.any(m < 0):
        raise ValueError("masses_1d must be non-negative")
    if not np.isclose(m.sum(), 1.0, rtol=0, atol=1e-9):
        raise ValueError(f"masses_1d must sum to one, got {float(m.sum())!r}")
    dim = check_int("dim", dim, minimum=1)
    level = check_probability_level("level", level)
    rtol = check_nonnegative_scalar("rtol", rtol)
    max_groups = check_int("max_groups", max_groups, minimum=1)
    n_bins = m.size
    m = m[m > 0]
    # group equal 1-D masses (up to rtol): value v_j appears mult_j times on one axis
    order = np.sort(m)[::-1]
    values, mult = [order[0]], [1]
    for v in order[1:]:
        if abs(v - values[-1]) <= rtol * values[-1]:
            mult[-1] += 1
        else:
            values.append(v)
            mult.append(1)
    values = np.asarray(values)
    mult = np.asarray(mult, dtype=np.float64)
    n_groups = math.comb(dim + len(values) - 1, len(values) - 1)
    if n_groups > max_groups:
        raise ValueError(f"dim={dim} with {len(values)} distinct bin masses needs {n_groups} "
                         f"groups (> max_groups={max_groups}); use fewer bins or a lower dim")
    comp = compositions(dim, len(values)).astype(np.float64)   # (G, J) counts per value
    log_mass = comp @ np.log(values)                               # mass of one bin in group
    # number of bins in the group: multinomial(dim; comp) * prod mult_j^comp_j
    log_count = gammaln(dim + 1.0) - gammaln(comp + 1.0).sum(axis=1) + comp @ np.log(mult)
    order = np.argsort(-log_mass, kind="stable")
    log_mass, log_count = log_mass[order], log_count[order]
    count = np.rint(np.exp(log_count))              # integers; exact below 2**53
    group_mass = np.exp(log_mass + log_count)
    cum = np.cumsum(group_mass)
    total = float(cum[-1])
    target = level * total
    g = int(np.searchsorted(cum, target, side="left"))
    g = min(g, len(cum) - 1)
    before = float(cum[g - 1]) if g > 0 else 0.0
    need = math.ceil((target - before) / math.exp(log_mass[g]) - 1e-9)
    need = int(min(max(need, 1), round(count[g])))
    n_relevant = float(count[:g].sum() + need)
    captured = (before + need * math.exp(log_mass[g])) / total
    n_total = float(n_bins) ** dim
    return RelevantBins(dim=dim, level=level, n_relevant=n_relevant, n_total=n_total,
                        fraction=n_relevant / n_total, captured=captured)
