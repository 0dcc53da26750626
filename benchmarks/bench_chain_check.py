"""Run the step checker (:mod:`vi_derivations.chain_check`) over every chain of every engine
model and of random models, and count the outcomes.

Each chain (log joint, expected log joint, expected log q, ELBO, each update) of a model the
engine accepts is classified as
``checked`` (every step decided and holds), ``unavailable`` (a step the checker cannot decide,
reported in words: CheckUnavailable / an unchecked step), ``not_implemented`` (a
NotImplementedError escaped), ``other_exception`` (any other exception) or ``fails`` (a decided
step that does not hold: an engine or checker bug).  Models the engine refuses are counted as
``refused``.  Writes ``benchmarks/results/chain_check.json`` under the key given by ``--label``
(e.g. ``before`` / ``after``), keeping the other keys.

    python benchmarks/bench_chain_check.py --label after --random 100 --extended 100

(about 300 s CPU per 100 random models, 600 s per 100 extended ones); the results are written
after every model, so a run cut short still counts.  ``--from-log`` counts a printed run.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
import traceback
import warnings
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import vi_derivations as vd  # noqa: E402
from vi_derivations import chain_check  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "chain_check.json"
REFUSALS = (vd.NonConjugateError, vd.UnsupportedModelError)


def classify_chain(model, name, chain):
    """(outcome, detail) of one chain."""
    unavailable = getattr(chain_check, "CheckUnavailable", ())
    try:
        res = chain_check.check_chain(model, name, chain)
    except NotImplementedError as exc:
        return "not_implemented", f"{exc}"
    except unavailable as exc:  # type: ignore[misc]
        return "unavailable", f"{exc}"
    except Exception as exc:  # noqa: BLE001
        return "other_exception", f"{type(exc).__name__}: {exc}"
    bad = [r for r in res if r.checked and not r.ok]
    if bad:
        return "fails", "; ".join(f"[{r.step}] {r.relation}: {r.detail}" for r in bad)[:400]
    unchecked = [r for r in res if not r.checked]
    if unchecked:
        d = "; ".join(f"[{r.step}] {r.relation}: {r.detail}" for r in unchecked)[:400]
        # check_chain reports a NotImplementedError by its message alone, CheckUnavailable and
        # any other exception as "<type>: <message>"
        kinds = {"unavailable" if r.detail.startswith("CheckUnavailable:") else
                 "other_exception" if re.match(r"^[A-Za-z_]\w*: ", r.detail) else "not_implemented"
                 for r in unchecked}
        for k in ("other_exception", "not_implemented", "unavailable"):
            if k in kinds:
                return k, d
    return "checked", ""


def classify_model(label, model):
    try:
        d = vd.derive(model)
    except REFUSALS as exc:
        return {"model": label, "outcome": "refused", "detail": f"{type(exc).__name__}: {exc}"[:200], "chains": {}}
    except Exception as exc:  # noqa: BLE001
        return {"model": label, "outcome": "derive_error", "detail": f"{type(exc).__name__}: {exc}"[:200], "chains": {}}
    chains = {}
    for name, chain in d.chains.items():
        chains[name] = classify_chain(model, name, chain)
    order = ["fails", "other_exception", "not_implemented", "unavailable", "checked"]
    worst = min((o for o, _ in chains.values()), key=order.index, default="checked")
    return {"model": label, "outcome": worst, "chains": {k: list(v) for k, v in chains.items()}}


def cases(n_random, n_extended, start):
    from tests.vi_derivations.random_models import random_model
    from tests.vi_derivations.random_models_extended import random_extended_model
    for name in vd.models.available():
        yield f"models/{name}", lambda name=name: vd.models.load(name)
    for s in range(start, start + n_random):
        yield f"random/{s}", lambda s=s: random_model(s)
    for s in range(start, start + n_extended):
        yield f"extended/{s}", lambda s=s: random_extended_model(s)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--label", default="after")
    ap.add_argument("--random", type=int, default=150)
    ap.add_argument("--extended", type=int, default=150)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--only", default=None, help="a prefix of the labels to run (e.g. models/)")
    ap.add_argument("--from-log", default=None, help="count the outcomes printed by an earlier run")
    ap.add_argument("--n-models", type=int, default=None, help="with --from-log: the models the run went through")
    a = ap.parse_args(argv)
    if a.from_log:          # runs before this script printed refusals: --n-models counts them
        rows = rows_from_log(a.from_log)
        rows += [{"model": "(not printed)", "outcome": "refused", "chains": {}}] * max(0, (a.n_models or 0) - len(rows))
        return write(a.label, rows, a, None)
    rows, t0 = [], time.process_time()
    for label, make in cases(a.random, a.extended, a.start):
        if a.only and not label.startswith(a.only):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                obj = make()
                if hasattr(obj, "model"):        # a random case: skip the deliberately non-conjugate ones
                    if obj.refusal is not None or obj.refusal_at_build is not None:
                        rows.append({"model": label, "outcome": "refused", "chains": {}})
                        print(f"{label:16s} refused", flush=True)
                        continue
                    obj = obj.model
                row = classify_model(label, obj)
            except Exception as exc:  # noqa: BLE001
                row = {"model": label, "outcome": "other_exception",
                       "detail": traceback.format_exception_only(exc)[-1][:200], "chains": {}}
        rows.append(row)
        print(f"{label:16s} {row['outcome']:16s} " + "; ".join(
            f"{k}:{v[0]}" for k, v in row["chains"].items() if v[0] != "checked"), flush=True)
        write(a.label, rows, a, time.process_time() - t0)     # after every model: a partial run counts
    print(json.dumps({k: v for k, v in json.loads(OUT.read_text())[a.label].items()
                      if k in ("models_by_outcome", "chains_not_checked_by_outcome", "n_models", "cpu_seconds")}))


def rows_from_log(path):
    """Rows from the printed lines of a run (``label outcome chain:outcome; ...``)."""
    rows = []
    for line in Path(path).read_text().splitlines():
        parts = line.split(None, 2)
        if len(parts) < 2 or "/" not in parts[0] or parts[0].startswith("{"):
            continue
        chains = {}
        for item in (parts[2].split("; ") if len(parts) > 2 else []):
            k, _, o = item.partition(":")
            if o.strip() in ("fails", "other_exception", "not_implemented", "unavailable"):   # not a cut one
                chains[k.strip()] = [o.strip(), "(from the log)"]
        rows.append({"model": parts[0], "outcome": parts[1], "chains": chains})
    return rows


def write(label, rows, a, cpu):
    models = Counter(r["outcome"] for r in rows)
    section = {"models_by_outcome": dict(models),
               "chains_not_checked_by_outcome": dict(Counter(v[0] for r in rows for v in r["chains"].values()
                                                            if v[0] != "checked")),
               "n_models": len(rows), "cpu_seconds": None if cpu is None else round(cpu, 1),
               "args": vars(a),
               "not_checked": [r for r in rows if r["outcome"] not in ("checked", "refused")]}
    data = json.loads(OUT.read_text()) if OUT.exists() else {}
    data[label] = section
    OUT.write_text(json.dumps(data, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
