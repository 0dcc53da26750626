"""Map-reduce and SVI on random models (:mod:`tests.vi_derivations.soundness_scale`): every model
that ``map_reduce`` splits sweeps on random uneven chunks (one of a single row) exactly as the
in-memory CAVI in the plan's order, and SVI's full-batch rho = 1 steps are those sweeps with a
rho = 1/2 step half way in natural parameters; every other model is refused by name.  A cheap
subset; ``benchmarks/bench_soundness_scale.py`` runs a few hundred models."""
import pytest

from tests.vi_derivations import random_models as rm
from tests.vi_derivations import random_models_extended as rx
from tests.vi_derivations.soundness_scale import check_scale

# mixtures with Poisson counts (2), an exposure per point (21), a grouped regression with ARD
# (31: groups are the data plate), PPCA (46: split; SVI refuses its coupled q(W) by name), two
# non-conjugate models (10, 16); a Wishart (0), LDA with grouped Normal-Wishart (5), a scaled
# precision (6)
OLD = [2, 10, 16, 21, 31, 46]
EXTENDED = [0, 5, 6]


@pytest.mark.parametrize("gen, seed", [("old", s) for s in OLD] + [("extended", s) for s in EXTENDED])
def test_map_reduce_and_svi_equal_cavi_or_refuse_by_name(gen, seed):
    case = (rm.random_model if gen == "old" else rx.random_extended_model)(seed)
    status, why = check_scale(case)
    assert status in ("right", "refused"), f"{gen} seed {seed} {case.blocks}: {status}: {why}"


def test_the_check_can_fail():
    """A map-reduce that drops a chunk is reported as wrong."""
    from vi_derivations import mapreduce
    case = rm.random_model(21)
    assert check_scale(case)[0] == "right"
    sweep = mapreduce.MapReduce.sweep
    try:
        mapreduce.MapReduce.sweep = lambda self, chunks, p, f: sweep(self, chunks[:-1] or chunks, p, f)
        status, why = check_scale(case)
    finally:
        mapreduce.MapReduce.sweep = sweep
    assert status in ("wrong", "crashed") and "map-reduce" in why or "plan.sweep" in why
