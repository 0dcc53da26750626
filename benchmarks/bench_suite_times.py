"""Benchmark: wall time of ``make book`` and ``make test`` on a clean clone.

Issue 6 target: at most 4 minutes each on 2 cores.

What it does, for each target (``book``, ``test``), in a fresh ``git clone`` of the repository
(the committed state at ``--ref``, default HEAD: uncommitted changes are NOT measured) in a
temporary folder:

1. reuses an existing project venv (default ``<repo>/.venv``) through a symlink
   ``<clone>/.venv -> VENV``. The Makefile's venv step is skipped when the venv holds the stamp
   ``.installed-<hash of requirements.txt + pyproject.toml>``; the script checks that the clone's
   stamp name is present in the venv and refuses otherwise (a stale stamp would make ``make``
   pip-install into the shared venv and re-point its editable install at the temporary clone).
   The venv's editable install points at the original checkout, so ``PYTHONPATH=<clone>`` is
   set (and checked: ``vi_impl`` and ``vi_derivations`` must import from the clone, also in a
   notebook kernel, which inherits the environment). With ``--fresh-venv`` the clone gets its own
   venv instead, built by ``make venv`` and timed separately (needs PyPI).
2. ``make setup`` (venv check + MathJax from the npm registry into the clone's ``_mathjax``;
   ``make test`` also runs ``make browser``) is timed separately as ``setup_s``: it is network
   and cache bound, not the project's work.
3. ``make <target>`` is timed (wall clock, ``time.perf_counter``) with ``CI=true`` as in
   ``.ci/run``; the exit code and the last lines of its output are recorded.

Each target gets its own clone, so ``make test`` does not profit from the book built by
``make book``. The results go to ``benchmarks/results/suite_times.json`` (``--json``) and a
table is printed. Run it on an otherwise idle machine: the project's ``make test`` uses both
cores (``pytest -n 2``) and the book build executes every notebook.

Run:  .venv/bin/python benchmarks/bench_suite_times.py [--targets book test]
      [--venv PATH | --fresh-venv] [--ref HEAD] [--json benchmarks/results/suite_times.json]
      [--keep] [--log FILE]
      .venv/bin/python benchmarks/bench_suite_times.py --check-only   # set-up only, seconds
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

TARGET_S = 240.0          # issue 6: at most 4 minutes each
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def stamp_name(root):
    """The Makefile's venv stamp for ``root``: sha256 of requirements.txt + pyproject.toml."""
    h = hashlib.sha256()
    for f in ("requirements.txt", "pyproject.toml"):
        with open(os.path.join(root, f), "rb") as fh:
            h.update(fh.read())
    return ".installed-" + h.hexdigest()[:16]


def sh(cmd, cwd, env, log=None, check=True):
    """Run ``cmd``; return (wall seconds, return code, tail of the combined output)."""
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    wall = time.perf_counter() - t0
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"$ {' '.join(cmd)}  ({wall:.1f} s, rc={out.returncode})\n{out.stdout}\n")
    if check and out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed (rc={out.returncode}):\n{out.stdout[-3000:]}")
    return wall, out.returncode, "\n".join(out.stdout.strip().splitlines()[-8:])


def fresh_clone(repo, ref, dest):
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", repo, dest], check=True)
    subprocess.run(["git", "-C", dest, "checkout", "--quiet", "--detach", ref], check=True)
    return subprocess.run(["git", "-C", dest, "rev-parse", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()


def clone_env(clone):
    env = dict(os.environ)
    env.update(CI="true", PYTHONPATH=clone)
    env.pop("VIRTUAL_ENV", None)          # the Makefile sets it to the clone's .venv
    return env


def check_imports_from_clone(clone, env):
    code = ("import os, vi_impl, vi_derivations; "
            "print(os.path.realpath(vi_impl.__file__)); print(os.path.realpath(vi_derivations.__file__))")
    # Run from book/, like a notebook kernel (its working directory is the notebook's folder).
    out = subprocess.run([os.path.join(clone, ".venv", "bin", "python"), "-c", code],
                         cwd=os.path.join(clone, "book"), env=env, check=True,
                         capture_output=True, text=True).stdout.split()
    real = os.path.realpath(clone)
    bad = [p for p in out if not p.startswith(real + os.sep)]
    if bad:
        raise RuntimeError(f"the package imports from outside the clone: {bad}")


def time_target(target, args, log):
    tmp = tempfile.mkdtemp(prefix=f"suite_{target}_")
    clone = os.path.join(tmp, "repo")
    row = dict(target=target, target_s=TARGET_S)
    try:
        t0 = time.perf_counter()
        row["commit"] = fresh_clone(args.repo, args.ref, clone)
        row["clone_s"] = time.perf_counter() - t0
        env = clone_env(clone)
        if args.fresh_venv:
            row["venv"] = "fresh (make venv in the clone)"
            row["venv_s"], _, _ = sh(["make", "venv"], clone, env, log)
        else:
            venv = os.path.realpath(args.venv)
            stamp = stamp_name(clone)
            if not os.path.exists(os.path.join(venv, stamp)):
                raise RuntimeError(
                    f"{venv} has no {stamp}: its packages do not match the clone's pins. Run "
                    f"`make venv` in the repository first, or use --fresh-venv.")
            os.symlink(venv, os.path.join(clone, ".venv"))
            # make compares modification times: the fresh clone's requirements.txt and
            # pyproject.toml are newer than the venv's stamp, which would re-run the install
            # into the shared venv. Date them back to the stamp's time (contents are equal).
            t_stamp = os.stat(os.path.join(venv, stamp)).st_mtime - 1
            for f in ("requirements.txt", "pyproject.toml"):
                os.utime(os.path.join(clone, f), (t_stamp, t_stamp))
            if subprocess.run(["make", "-q", "venv"], cwd=clone, env=env).returncode != 0:
                raise RuntimeError("make still considers the reused venv out of date; refusing "
                                   "to let it install into the shared venv")
            row["venv"] = f"reused via symlink ({venv})"
            row["venv_s"] = None
        check_imports_from_clone(clone, env)
        if args.check_only:
            row["check_only"] = True
            return row
        setup = ["make", "setup", "browser"] if target == "test" else ["make", "setup"]
        row["setup_s"], _, _ = sh(setup, clone, env, log)
        load_before = os.getloadavg()[0]
        row["wall_s"], row["returncode"], row["tail"] = sh(["make", target], clone, env, log,
                                                           check=False)
        row["load_average_1min_before"] = round(load_before, 2)
        row["load_average_1min_after"] = round(os.getloadavg()[0], 2)
        row["met"] = row["returncode"] == 0 and row["wall_s"] <= TARGET_S
    finally:
        if args.keep:
            row["kept"] = clone
        else:
            # The symlinked venv is removed as a link; its target is untouched.
            shutil.rmtree(tmp, ignore_errors=True)
    return row


def machine_info():
    return dict(cores=os.cpu_count(), python=platform.python_version(),
                processor=platform.processor() or platform.machine(),
                make_jobs_pytest=os.environ.get("PYTEST_N", "2 (Makefile default)"))


def table(rows):
    lines = ["| target | wall s | target s | exit code | met | setup s (not counted) |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| make {r['target']} | {r['wall_s']:.0f} | {r['target_s']:.0f} | "
                     f"{r['returncode']} | {'yes' if r['met'] else 'NO'} | {r['setup_s']:.0f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--targets", nargs="*", default=["book", "test"], choices=["book", "test"])
    parser.add_argument("--repo", default=REPO, help="repository to clone (default: this one)")
    parser.add_argument("--ref", default="HEAD", help="commit to measure (default HEAD)")
    parser.add_argument("--venv", default=os.path.join(REPO, ".venv"),
                        help="existing project venv to reuse (default <repo>/.venv)")
    parser.add_argument("--fresh-venv", action="store_true",
                        help="build a venv in each clone (make venv), timed separately")
    parser.add_argument("--json", default=os.path.join(REPO, "benchmarks", "results",
                                                       "suite_times.json"))
    parser.add_argument("--log", default=None, help="append every command's output here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary clones")
    parser.add_argument("--check-only", action="store_true",
                        help="clone, reuse the venv and check imports, but run no make target "
                             "and write no JSON (seconds; to try the set-up)")
    args = parser.parse_args(argv)

    rows = []
    for target in args.targets:
        print(f"timing make {target} ...", file=sys.stderr, flush=True)
        rows.append(time_target(target, args, args.log))
        if args.check_only:
            print(f"  set-up OK: {rows[-1]}", file=sys.stderr)
            continue
        print(f"  {rows[-1]['wall_s']:.0f} s, rc={rows[-1]['returncode']}", file=sys.stderr)
    if args.check_only:
        return rows
    print(table(rows))
    doc = dict(date=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
               machine=machine_info(),
               what=("wall seconds of `make <target>` with CI=true in a fresh git clone of the "
                     "committed state, the project venv reused (setup_s: make setup, MathJax "
                     "download and browser check, timed separately and not counted)"),
               rows=rows)
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=1)
        fh.write("\n")
    return rows


if __name__ == "__main__":
    main()
