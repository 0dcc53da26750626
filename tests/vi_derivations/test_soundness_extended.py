"""Soundness on the extended random models (:mod:`tests.vi_derivations.random_models_extended`):
Wishart / Normal–Wishart factors, MvNormalPrecision, the Jaakkola–Jordan bound, LDA-style
documents and their non-conjugate variants.  Each accepted model is checked by
:func:`tests.vi_derivations.soundness.check_case` (Monte Carlo ELBO from scipy.stats, CAVI ascent,
stationary fixed point, exact evidence or the bound below it, the generated module against the
engine); ``benchmarks/bench_soundness.py --extended`` runs the long profile."""
import collections

import numpy as np
import pytest

from tests.vi_derivations import random_models_extended as rx
from tests.vi_derivations.soundness import check_case, check_codegen

SEEDS = 7       # seed % 7 picks the first kind: every kind once (with a second kind or block at times)


@pytest.mark.parametrize("seed", range(SEEDS))
def test_extended_random_model_is_right_or_refused_by_name(seed):
    v = check_case(rx.random_extended_model(seed))
    assert v.status in ("right", "refused"), f"seed {seed} {v.blocks}: {v.reasons}"


def test_the_profile_covers_every_kind():
    seen = collections.Counter()
    for seed in range(SEEDS):
        seen.update(rx.random_extended_model(seed).blocks)
    for kind in rx.KINDS:
        assert seen[kind.__name__] >= 1, kind.__name__


def _case(kind, want, seeds=range(100, 160)):
    for seed in seeds:
        case = rx.random_extended_model(seed, p_refusal=0, kind=kind)
        if len(case.blocks) == 1 and want(case):
            return case
    raise AssertionError(f"no {kind.__name__} case in {seeds}")


def _start(case, seed=0):
    rng, P = np.random.default_rng(seed), {}
    for spec in case.qspecs:
        P.update(spec.random_params(rng))
    return P


def test_generated_module_of_a_wishart_batched_over_the_data_plate_follows_the_engine():
    """Regression: Lambda over (G, D, E) with x over (G, T, D) made G a data plate, and the module
    moved G after the matrix axes of W (slogdet of a (D, E, G) array)."""
    case = _case(rx.kind_wishart, lambda c: c.sizes["G"] > 1 and len(c.qspecs[0].shape) == 3)
    assert check_codegen(case, _start(case)) is None


def test_generated_module_of_a_joint_normal_wishart_without_batch_plate_follows_the_engine():
    """Regression: a Normal–Wishart factor with no batch plate had float natural parameters,
    and its map indexed them (nw_beta[..., None])."""
    case = _case(rx.kind_normal_wishart, lambda c: c.qspecs[0].family == "NormalWishart"
                 and len(c.qspecs[0].shape) == 1)
    assert check_codegen(case, _start(case)) is None


def test_the_new_checks_can_fail():
    """A wrong Wishart log joint fails Monte Carlo; an exact evidence too low for a bound-ELBO is
    reported; a refusal that never comes is wrong."""
    case = _case(rx.kind_wishart, lambda c: True)
    good = check_case(case)
    assert good.status == "right" and good.exact_checked
    case.logp_terms.append(lambda L, D: -0.3 * np.linalg.det(L[case.qspecs[0].var]).reshape(len(L[case.qspecs[0].var]), -1).sum(1))
    assert any("Monte Carlo" in r for r in check_case(case).reasons)
    case = _case(rx.kind_logistic, lambda c: c.evidence_ok and c.evidence_terms)
    v = check_case(case)
    assert v.status == "right" and v.exact_checked, v.reasons
    case.evidence_terms.append(lambda D: -5.0)
    assert any("above the exact log evidence" in r for r in check_case(case).reasons)
    case = _case(rx.kind_known_precision, lambda c: True)
    case.refusal = ((Exception,), ("never",))
    assert check_case(case).status == "wrong"
