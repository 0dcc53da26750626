"""Benchmark (thorough profile): the engine's soundness on random models.

Builds ``--models`` random models (seeds 0..n-1) with ``tests/vi_derivations/random_models.py``
and checks each with ``tests/vi_derivations/soundness.py`` (ELBO against Monte Carlo from
scipy.stats densities, CAVI never decreasing, stationary fixed point, exact evidence where the
model is conjugate, refusals named).  Writes the counts accepted / right / refused / wrong, the
derivation times and every wrong model's reasons to ``--json``.  Then ``--extended`` models of
``tests/vi_derivations/random_models_extended.py`` (Wishart / Normal–Wishart, MvNormalPrecision,
the Jaakkola–Jordan bound, LDA-style documents, their non-conjugate variants; also checked: the
bound-ELBO below the exact evidence and the generated NumPy module against the engine), written
to the section ``extended`` of the same file with the counts per kind (``refused``: every
refusal by name; ``incomplete``: those of models meant to be accepted, with their reasons).
``--models 0`` or ``--extended 0`` skips a profile and keeps its section of an existing file.

Run:  nice .venv/bin/python benchmarks/bench_soundness.py [--models 2000] [--start 0]
      [--extended 300] [--json benchmarks/results/soundness.json]
The default test run checks the first 200 seeds (tests/vi_derivations/test_random_models.py) and
12 extended ones (tests/vi_derivations/test_soundness_extended.py).
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
from tests.vi_derivations.random_models_extended import random_extended_model  # noqa: E402
from tests.vi_derivations.soundness import check_case  # noqa: E402

PROFILES = {"base": random_model, "extended": random_extended_model}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=2000)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--extended", type=int, default=300)
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "soundness.json"))
    args = ap.parse_args(argv)
    if args.models < 0 or args.extended < 0 or args.models + args.extended < 1:
        raise SystemExit("--models and --extended must be integers >= 0, not both 0")
    bad = 0
    for profile, n in (("base", args.models), ("extended", args.extended)):
        if n:
            bad += _run(args, profile, n)
    return 1 if bad else 0


def _run(args, profile, n_models):
    """Check ``n_models`` models of ``profile``; returns the number of wrong or crashed ones."""
    make = PROFILES[profile]
    counts, kinds = collections.Counter(), collections.defaultdict(collections.Counter)
    times, wrong, blocks, incomplete = [], [], collections.Counter(), []
    t0, c0 = time.perf_counter(), time.process_time()
    for seed in range(args.start, args.start + n_models):
        try:
            case = make(seed)
            v = check_case(case)
        except Exception as e:  # noqa: BLE001 - a crash of the generator or checker is counted, not hidden
            counts["checker_error"] += 1
            wrong.append({"seed": seed, "blocks": [], "reasons": [f"{type(e).__name__}: {e}"]})
            continue
        blocks.update(v.blocks)
        kind = next((b for b in v.blocks if not b.startswith("refuse_")), v.blocks[0])
        kinds[kind if profile == "extended" else "all"][v.status] += 1
        counts[v.status] += 1
        if v.status == "refused" and case.refusal is None:      # sound but incomplete: said why
            counts["incomplete"] += 1
            kinds[kind]["incomplete"] += 1
            incomplete.append({"seed": seed, "blocks": v.blocks, "reason": v.reasons[0][:300]})
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
            print(f"{profile}: {done} models: {dict(counts)}", flush=True)
            _write(args, profile, counts, kinds, times, wrong, blocks, done, t0, c0, incomplete)
    c = _write(args, profile, counts, kinds, times, wrong, blocks, n_models, t0, c0, incomplete)["counts"]
    print(f"{profile}: {n_models} models: accepted {c['accepted']}, right {c['right']}, refused {c['refused']}, "
          f"wrong {c['wrong']} (checker errors {c['checker_error']})")
    return c["wrong"] + c["checker_error"]


def _write(args, profile, counts, kinds, times, wrong, blocks, done, t0, c0, incomplete):
    """Write the results so far (every 100 models, so an interrupted run keeps its counts); the
    other profile's section of an existing file is kept."""
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
    if profile == "extended":
        out["counts"]["incomplete"] = counts["incomplete"]
        out["kinds"] = {k: {s: c[s] for s in ("right", "refused", "incomplete", "wrong")}
                        for k, c in sorted(kinds.items())}
        out["incomplete"] = incomplete
    path = Path(args.json)
    old = json.loads(path.read_text()) if path.exists() else {}
    if profile == "base":
        doc = dict(out, extended=old["extended"]) if "extended" in old else out
    else:
        doc = dict(old, extended=out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return out


if __name__ == "__main__":
    sys.exit(main())
