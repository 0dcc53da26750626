"""Soundness on random models: every model the generator produces is either derived right
(ELBO = Monte Carlo from scipy.stats densities, CAVI never decreasing, stationary fixed point,
exact evidence where conjugate) or refused by a named NonConjugateError / UnsupportedModelError.
The default profile checks SEEDS models; ``benchmarks/bench_soundness.py`` runs the thorough one."""
import collections

import numpy as np
import pytest

from tests.vi_derivations.random_models import CONJUGATE, REFUSALS, random_model
from tests.vi_derivations.soundness import check_case

SEEDS = 200


@pytest.mark.parametrize("seed", range(SEEDS))
def test_random_model_is_right_or_refused_by_name(seed):
    v = check_case(random_model(seed))
    assert v.status in ("right", "refused"), f"seed {seed} {v.blocks}: {v.reasons}"


def test_the_profile_covers_every_block_and_refusal():
    seen = collections.Counter()
    for seed in range(SEEDS):
        seen.update(random_model(seed).blocks)
    for blk in CONJUGATE + REFUSALS:
        assert seen[blk.__name__] > 0, blk.__name__
    assert sum(seen[b.__name__] for b in REFUSALS) >= 15


def test_the_checks_can_fail():
    """A wrong log joint, a wrong evidence and a missing refusal are each reported as wrong."""
    case = next(c for c in map(random_model, range(50)) if c.refusal is None and c.exact and c.evidence_terms)
    good = check_case(case)
    assert good.status == "right" and good.exact_checked
    case.logp_terms.append(lambda L, D: np.full(len(next(iter(L.values()))), 0.5))
    assert any("Monte Carlo" in r for r in check_case(case).reasons)
    case = next(c for c in map(random_model, range(50)) if c.refusal is None and c.exact and c.evidence_terms)
    case.evidence_terms.append(lambda D: 1e-3)
    assert any("exact log evidence" in r for r in check_case(case).reasons)
    case = next(c for c in map(random_model, range(50)) if c.refusal is None)
    case.refusal = ((Exception,), ("never",))
    assert check_case(case).status == "wrong"
