"""Benchmark: how long the SymPy engine takes to derive every model in the book.

For every name in ``vi_derivations.models.available()``:

* **cold**: in a fresh Python process (nothing imported, nothing cached), the time of
  ``vd.derive(model)`` + rendering every chain's LaTeX (``chain.latex()``) + generating the
  CAVI (``vd.cavi(model)``, which writes and execs the NumPy code). The import of
  ``vi_derivations`` (SymPy included) and building the model object (``models.load``) are
  timed separately in the same process: import is paid once per process, not per model.
* **cached**: the same three steps again, on the same model object, in the same process
  (the derivation is cached on the model; rendering and CAVI generation are redone).

Issue 6 target: the cold times add up to at most 10 s.

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_engine.py [--models NAME ...]
      [--json benchmarks/results/engine.json] [--repeats R]
It prints a Markdown table with the totals. It is not a test: timings depend on the machine and
its load (with ``--repeats R`` each model's cold run is repeated in R fresh processes and the
minimum is kept).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import time

TARGET_COLD_TOTAL_S = 10.0
ROW_FIELDS = ("model", "import_s", "build_s", "cold_s", "cached_s", "cold_cpu_s", "cached_cpu_s",
              "n_chains", "n_updates", "cold_derive_s", "cold_latex_s", "cold_cavi_s",
              "cached_derive_s", "cached_latex_s", "cached_cavi_s")


def _clocks():
    return time.perf_counter(), time.process_time()


def _since(start):
    wall, cpu = _clocks()
    return wall - start[0], cpu - start[1]


def pipeline(model):
    """Derive ``model``, render every chain's LaTeX and generate its CAVI.

    Returns ``(counts, phases)``: the numbers of chains and updates, and the wall and CPU
    seconds of each phase (``derive``, ``latex``, ``cavi``).
    """
    import vi_derivations as vd

    phases = {}
    t = _clocks()
    d = vd.derive(model)
    phases["derive"] = _since(t)
    t = _clocks()
    rendered = [chain.latex() for chain in d.chains.values()]
    phases["latex"] = _since(t)
    if not all(isinstance(s, str) and s for s in rendered):
        raise RuntimeError(f"{model.name}: a chain rendered to an empty string")
    t = _clocks()
    vd.cavi(model)
    phases["cavi"] = _since(t)
    return (len(d.chains), len(d.updates)), phases


def measure_in_this_process(name):
    """Time import, model build, cold pipeline and cached pipeline for one model.

    Only cold when called first thing in a fresh process: use :func:`measure_cold` for that.
    Returns a dict with the keys of ``ROW_FIELDS``: wall seconds (``*_s``), CPU seconds of this
    process (``*_cpu_s``, not inflated by other processes on a shared machine) and, for the
    cold run, the wall seconds of each phase (``cold_derive_s``, ``cold_latex_s``,
    ``cold_cavi_s``).
    """
    t = _clocks()
    import vi_derivations as vd                          # timed import (SymPy included)
    t_import = _since(t)

    t = _clocks()
    model = vd.models.load(name)
    t_build = _since(t)

    (n_chains, n_updates), cold = pipeline(model)
    _, cached = pipeline(model)
    row = dict(model=name, import_s=t_import[0], build_s=t_build[0],
               cold_s=sum(w for w, _ in cold.values()),
               cached_s=sum(w for w, _ in cached.values()),
               cold_cpu_s=sum(c for _, c in cold.values()),
               cached_cpu_s=sum(c for _, c in cached.values()),
               n_chains=n_chains, n_updates=n_updates)
    for phase, (wall, _) in cold.items():
        row[f"cold_{phase}_s"] = wall
    for phase, (wall, _) in cached.items():
        row[f"cached_{phase}_s"] = wall
    return row


def measure_cold(name, python=sys.executable, timeout=300):
    """Run :func:`measure_in_this_process` for ``name`` in a fresh interpreter; return its row."""
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); import bench_engine as b; "
            "print(json.dumps(b.measure_in_this_process(sys.argv[2])))")
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    out = subprocess.run([python, "-c", code, here, name], capture_output=True, text=True,
                         timeout=timeout, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"measuring {name!r} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def machine_info():
    import numpy
    import sympy
    return dict(cores=os.cpu_count(), python=platform.python_version(),
                sympy=sympy.__version__, numpy=numpy.__version__,
                processor=platform.processor() or platform.machine(),
                omp_num_threads=os.environ.get("OMP_NUM_THREADS"),
                load_average_1min=round(os.getloadavg()[0], 2))


def run(names=None, repeats=1):
    """Cold + cached rows for ``names`` (default: every model), each the minimum over repeats."""
    import vi_derivations as vd
    names = list(names) if names else vd.models.available()
    rows = []
    for name in names:
        runs = [measure_cold(name) for _ in range(repeats)]
        best = min(runs, key=lambda r: r["cold_s"])
        best = dict(best, cached_s=min(r["cached_s"] for r in runs),
                    import_s=min(r["import_s"] for r in runs))
        rows.append(best)
        print(f"done {name}: cold {best['cold_s']:.3f} s", file=sys.stderr, flush=True)
    return rows


def summary(rows):
    cold_total = sum(r["cold_s"] for r in rows)
    return dict(cold_total_s=cold_total, cached_total_s=sum(r["cached_s"] for r in rows),
                cold_cpu_total_s=sum(r["cold_cpu_s"] for r in rows),
                cold_derive_total_s=sum(r["cold_derive_s"] for r in rows),
                cold_latex_total_s=sum(r["cold_latex_s"] for r in rows),
                cold_cavi_total_s=sum(r["cold_cavi_s"] for r in rows),
                build_total_s=sum(r["build_s"] for r in rows),
                import_median_s=sorted(r["import_s"] for r in rows)[len(rows) // 2],
                target_cold_total_s=TARGET_COLD_TOTAL_S,
                target_met=cold_total <= TARGET_COLD_TOTAL_S)


def table(rows):
    lines = ["| model | chains | updates | build s | cold s (CPU s) | derive / LaTeX / CAVI s "
             "| cached ms | import s |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['n_chains']} | {r['n_updates']} | {r['build_s']:.3f} | "
                     f"{r['cold_s']:.3f} ({r['cold_cpu_s']:.3f}) | {r['cold_derive_s']:.3f} / "
                     f"{r['cold_latex_s']:.3f} / {r['cold_cavi_s']:.3f} | "
                     f"{r['cached_s'] * 1e3:.1f} | {r['import_s']:.2f} |")
    s = summary(rows)
    lines.append(f"| **total** | | | {s['build_total_s']:.3f} | **{s['cold_total_s']:.2f}** "
                 f"({s['cold_cpu_total_s']:.2f}) | {s['cold_derive_total_s']:.2f} / "
                 f"{s['cold_latex_total_s']:.2f} / {s['cold_cavi_total_s']:.2f} | "
                 f"{s['cached_total_s'] * 1e3:.1f} | (median {s['import_median_s']:.2f}) |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="*", help="model names (default: all available)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="fresh processes per model (minimum kept)")
    parser.add_argument("--json", type=str, help="write date, machine and rows to this file")
    args = parser.parse_args(argv)

    rows = run(args.models, args.repeats)
    s = summary(rows)
    print(table(rows))
    print(f"\nCold total {s['cold_total_s']:.2f} s wall, {s['cold_cpu_total_s']:.2f} s CPU (target <= {TARGET_COLD_TOTAL_S:g} s: "
          f"{'met' if s['target_met'] else 'NOT met'}); import of vi_derivations, paid once "
          f"per process, {s['import_median_s']:.2f} s (median).")
    if args.json:
        doc = dict(date=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                   machine=machine_info(), repeats=args.repeats,
                   what=("cold_s: wall seconds of derive + every chain's LaTeX + vd.cavi in a "
                         "fresh process (cold_cpu_s: CPU seconds of that process); cached_s: the "
                         "same again in that process; import_s and build_s (models.load) timed "
                         "separately; the target applies to the sum of cold_s"),
                   summary=s, rows=rows)
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=1)
            fh.write("\n")
    return rows


if __name__ == "__main__":
    main()
