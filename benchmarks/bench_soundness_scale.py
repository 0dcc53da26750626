"""Map-reduce and SVI soundness on random models (outside ``make test``).

For each random model of :mod:`tests.vi_derivations.random_models` (``--old``) and
:mod:`tests.vi_derivations.random_models_extended` (``--extended``) that the in-memory CAVI
accepts, :func:`tests.vi_derivations.soundness_scale.check_scale` runs ``map_reduce`` (sweeps on
random uneven chunks, one of a single row, against ``vd.cavi(model, order=plan.order)``) and
``SVI`` (full-batch rho = 1 steps against the same sweeps, a rho = 1/2 step half way in natural
parameters). Prints counts per kind (right / refused by name / wrong / crashed; a model counts as
right when both are, as refused when either refuses it by name), map_reduce's and SVI's counts
alone, and writes
``benchmarks/results/soundness_scale.json``.

    python benchmarks/bench_soundness_scale.py --old 300 --extended 150
"""
from __future__ import annotations

import argparse
import collections
import json
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.vi_derivations import random_models as rm  # noqa: E402
from tests.vi_derivations import random_models_extended as rx  # noqa: E402
from tests.vi_derivations.soundness_scale import check_scale  # noqa: E402

STATUSES = ("right", "refused", "wrong", "crashed", "skip")


def _timeout(*_):
    raise TimeoutError("over the per-model time limit")


def run(profile, gen, n, limit):
    per_kind = collections.defaultdict(collections.Counter)
    total, bad, alone = collections.Counter(), [], {"map_reduce": collections.Counter(),
                                                     "svi": collections.Counter()}
    signal.signal(signal.SIGALRM, _timeout)
    for seed in range(n):
        case = gen(seed)
        signal.alarm(limit)
        parts = {}
        try:
            status, why = check_scale(case, parts=parts)
        except TimeoutError as e:
            status, why = "crashed", str(e)
        finally:
            signal.alarm(0)
        total[status] += 1
        for what, c in alone.items():
            c[parts.get(what, status)] += 1
        for kind in dict.fromkeys(case.blocks):
            per_kind[kind][status] += 1
        if status in ("wrong", "crashed"):
            bad.append({"seed": seed, "blocks": case.blocks, "status": status, "reason": why[:400]})
            print(f"  {profile} seed {seed} {case.blocks}: {status}: {why[:200]}", flush=True)
    return {"models": n, "counts": {s: total[s] for s in STATUSES},
            "map_reduce_alone": {s: alone["map_reduce"][s] for s in STATUSES},
            "svi_alone": {s: alone["svi"][s] for s in STATUSES},
            "per_kind": {k: {s: c[s] for s in STATUSES} for k, c in sorted(per_kind.items())},
            "wrong_or_crashed": bad}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", type=int, default=300, help="models of the first generator")
    ap.add_argument("--extended", type=int, default=150, help="models of the extended generator")
    ap.add_argument("--limit", type=int, default=120, help="seconds per model")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/soundness_scale.json"))
    a = ap.parse_args(argv)
    t0, c0 = time.perf_counter(), time.process_time()
    out = {"what": "map_reduce and SVI against the in-memory CAVI on random models; skip = "
                   "refused by the generator's design or by the in-memory CAVI (not tried here)"}
    for profile, gen, n in (("old", rm.random_model, a.old),
                            ("extended", rx.random_extended_model, a.extended)):
        if n:
            res = out[profile] = run(profile, gen, n, a.limit)
            print(f"{profile}: {n} models: {res['counts']}")
            print(f"  map_reduce alone: {res['map_reduce_alone']}; SVI alone: {res['svi_alone']}")
            for kind, c in res["per_kind"].items():
                print(f"  {kind:32s} right {c['right']:4d}  refused {c['refused']:4d}  "
                      f"wrong {c['wrong']:3d}  crashed {c['crashed']:3d}  skip {c['skip']:4d}")
    out["wall_seconds"] = round(time.perf_counter() - t0, 1)
    out["cpu_seconds"] = round(time.process_time() - c0, 1)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {a.out} ({out['cpu_seconds']} s CPU)")


if __name__ == "__main__":
    main()
