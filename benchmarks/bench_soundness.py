"""Benchmark (thorough profile): the engine's soundness on random models.

Builds ``--models`` random models (seeds 0..n-1) with ``tests/vi_derivations/random_models.py``
and checks each with ``tests/vi_derivations/soundness.py`` (ELBO against Monte Carlo from
scipy.stats densities, CAVI never decreasing, stationary fixed point, exact evidence where the
model is conjugate, refusals named).  Writes the counts accepted / right / refused / wrong, the
derivation times and every wrong model's reasons to ``--json``.

Run:  nice .venv/bin/python benchmarks/bench_soundness.py [--models 2000] [--start 0]
      [--json benchmarks/results/soundness.json]
The default test run checks the first 200 seeds (tests/vi_derivations/test_random_models.py).
"""
from __future__ import annotations

import argparse
import collections
import datetime as _dt
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")

from tests.vi_derivations.random_models import random_model  # noqa: E402
from tests.vi_derivations.soundness import check_case  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=2000)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "soundness.json"))
    args = ap.parse_args(argv)
    if args.models < 1:
        raise SystemExit("--models must be a positive integer")
    counts = collections.Counter()
    times, wrong, blocks = [], [], collections.Counter()
    t0, c0 = time.perf_counter(), time.process_time()
    for seed in range(args.start, args.start + args.models):
        try:
            case = random_model(seed)
            v = check_case(case)
        except Exception as e:  # noqa: BLE001 - a crash of the generator or checker is counted, not hidden
            counts["checker_error"] += 1
            wrong.append({"seed": seed, "blocks": [], "reasons": [f"{type(e).__name__}: {e}"]})
            continue
        blocks.update(v.blocks)
        counts[v.status] += 1
        counts["accepted"] += v.accepted
        counts["exact_checked"] += v.exact_checked
        counts["converged"] += v.converged and v.accepted
        if v.accepted and v.derive_seconds:
            times.append(v.derive_seconds)
        if v.status == "wrong":
            wrong.append({"seed": seed, "blocks": v.blocks, "reasons": v.reasons})
            print(f"WRONG seed {seed} {v.blocks}: {v.reasons}", flush=True)
        done = seed - args.start + 1
        if done % 100 == 0:
            print(f"{done} models: {dict(counts)}", flush=True)
            _write(args, counts, times, wrong, blocks, done, t0, c0)
    c = _write(args, counts, times, wrong, blocks, args.models, t0, c0)["counts"]
    print(f"{args.models} models: accepted {c['accepted']}, right {c['right']}, refused {c['refused']}, "
          f"wrong {c['wrong']} (checker errors {c['checker_error']})")
    return 0 if c["wrong"] == 0 and c["checker_error"] == 0 else 1


def _write(args, counts, times, wrong, blocks, done, t0, c0):
    """Write the results so far (every 100 models, so an interrupted run keeps its counts)."""
    times = sorted(times)
    out = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": platform.platform(),
        "models": done,
        "seeds": [args.start, args.start + done - 1],
        "counts": {k: counts[k] for k in ("accepted", "right", "refused", "wrong", "checker_error",
                                          "exact_checked", "converged")},
        "derivation_seconds": {
            "total": sum(times), "median": times[len(times) // 2] if times else None,
            "p95": times[int(0.95 * (len(times) - 1))] if times else None, "max": times[-1] if times else None},
        "wall_seconds": time.perf_counter() - t0,
        "cpu_seconds": time.process_time() - c0,
        "blocks": dict(sorted(blocks.items())),
        "wrong": wrong,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    return out


if __name__ == "__main__":
    sys.exit(main())
