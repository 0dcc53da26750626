"""The benchmark scripts' measuring code and the committed result files' schemas.

No timing is asserted (timings are not tests): the engine benchmark's core function must return
positive times with every field, and each JSON file in benchmarks/results/ that exists must have
the fields and types that book/benchmarks.ipynb reads (a malformed file fails here).
"""

from __future__ import annotations

import copy
import datetime as dt
import importlib.util
import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"


def _load_script(name):
    # benchmarks/ holds scripts, not a package: load the module from its file.
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench_engine = _load_script("bench_engine")
bench_gmm = _load_script("bench_gmm")
bench_suite_times = _load_script("bench_suite_times")


# ---------------------------------------------------------------- schemas
def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_header(doc, machine_fields):
    if not isinstance(doc, dict):
        raise ValueError("the document is not a JSON object")
    for key in ("date", "machine", "rows"):
        if key not in doc:
            raise ValueError(f"missing top-level field {key!r}")
    try:
        dt.datetime.fromisoformat(doc["date"])
    except (TypeError, ValueError):
        raise ValueError(f"date {doc['date']!r} is not ISO 8601") from None
    for key, kind in machine_fields.items():
        if not kind(doc["machine"].get(key)):
            raise ValueError(f"machine.{key} missing or of the wrong type")
    if not isinstance(doc["rows"], list) or not doc["rows"]:
        raise ValueError("rows must be a non-empty list")


def _check_rows(rows, fields):
    for i, row in enumerate(rows):
        for key, (kind, nullable) in fields.items():
            if key not in row:
                raise ValueError(f"rows[{i}] has no field {key!r}")
            v = row[key]
            if v is None and nullable:
                continue
            if not kind(v):
                raise ValueError(f"rows[{i}].{key} = {v!r} has the wrong type")
            if kind is _is_num and v < 0:
                raise ValueError(f"rows[{i}].{key} = {v!r} is negative")


_str = lambda v: isinstance(v, str) and bool(v)                          # noqa: E731

GMM_ROW = dict(
    N=(_is_int, False), K=(_is_int, False), D=(_is_int, False), threads=(_is_int, False),
    ours_per_iter_s=(_is_num, True), sklearn_per_iter_s=(_is_num, True), speedup=(_is_num, True),
    floor_s=(_is_num, True), floor_gemm_s=(_is_num, True), gemm_rate_fma_per_s=(_is_num, True),
    floor_without_gemm_s=(_is_num, True), ratio_to_floor=(_is_num, True),
    ours_to_convergence_s=(_is_num, True), ours_n_iter=(_is_int, True),
    peak_mem_bytes=(_is_int, True), mem_budget_bytes=(_is_int, True),
    fixed_point_max_abs_diff_means=(_is_num, True))
ENGINE_ROW = {k: ((_str if k == "model" else _is_int if k.startswith("n_") else _is_num), False)
              for k in bench_engine.ROW_FIELDS}
SUITE_ROW = dict(target=(_str, False), wall_s=(_is_num, False), returncode=(_is_int, False),
                 target_s=(_is_num, False), setup_s=(_is_num, False), met=(lambda v: isinstance(v, bool), False))


def check_gmm(doc):
    _check_header(doc, dict(cores=_is_int, python=_str, numpy=_str, sklearn=_str))
    _check_rows(doc["rows"], GMM_ROW)
    for i, row in enumerate(doc["rows"]):
        if row["threads"] < 1:
            raise ValueError(f"rows[{i}].threads = {row['threads']} is not a thread count")
        parts = [row[k] for k in ("floor_without_gemm_s", "floor_gemm_s", "floor_s")]
        if None not in parts and abs(parts[0] + parts[1] - parts[2]) > 1e-9 * parts[2]:
            raise ValueError(f"rows[{i}]: floor_s is not floor_without_gemm_s + floor_gemm_s")


def check_engine(doc):
    _check_header(doc, dict(cores=_is_int, python=_str, sympy=_str))
    _check_rows(doc["rows"], ENGINE_ROW)
    if "summary" not in doc or not _is_num(doc["summary"].get("cold_total_s")):
        raise ValueError("summary.cold_total_s missing")
    total = sum(r["cold_s"] for r in doc["rows"])
    if abs(doc["summary"]["cold_total_s"] - total) > 1e-9 * max(1.0, total):
        raise ValueError("summary.cold_total_s is not the sum of the rows' cold_s")


def check_suite(doc):
    _check_header(doc, dict(cores=_is_int, python=_str))
    _check_rows(doc["rows"], SUITE_ROW)


CHECKS = {"gmm.json": check_gmm, "engine.json": check_engine, "suite_times.json": check_suite}


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_committed_result_file_conforms(name):
    path = RESULTS / name
    if not path.is_file():
        pytest.skip(f"benchmarks/results/{name} not measured yet")
    CHECKS[name](json.loads(path.read_text(encoding="utf-8")))


def test_gmm_floor_must_be_its_parts():
    doc = _valid("gmm")
    doc["rows"][0]["floor_s"] = 2.0
    with pytest.raises(ValueError, match="floor_s"):
        check_gmm(doc)


# ---------------------------------------------------------------- the gmm benchmark
def test_gmm_benchmark_measures_a_small_size_and_writes_a_valid_file(tmp_path):
    out = tmp_path / "gmm.json"
    rows = bench_gmm.main(["--sizes", "20000", "--configs", "3,2", "--repeats", "2",
                           "--no-sklearn", "--json", str(out)])
    doc = json.loads(out.read_text(encoding="utf-8"))
    check_gmm(doc)
    (row,) = doc["rows"]
    assert (row["N"], row["K"], row["D"], row["threads"]) == (20000, 3, 2, 1)
    assert row["ours_per_iter_s"] == rows[0]["ours_iter"] and row["sklearn_per_iter_s"] is None
    assert row["floor_gemm_s"] == pytest.approx(2 * 20000 * 2 * 3 / row["gemm_rate_fma_per_s"])
    # --merge keeps a row measured at another size and replaces the one measured again.
    bench_gmm.main(["--sizes", "10000", "--configs", "3,2", "--repeats", "2",
                    "--no-sklearn", "--json", str(out), "--merge"])
    merged = json.loads(out.read_text(encoding="utf-8"))
    check_gmm(merged)
    assert sorted(r["N"] for r in merged["rows"]) == [10000, 20000]
    assert [r for r in merged["rows"] if r["N"] == 20000] == doc["rows"]
    assert merged["earlier_runs"][0]["date"] == doc["date"]


# ---------------------------------------------------------------- the engine benchmark
def test_engine_benchmark_measures_one_model_and_writes_a_valid_file(tmp_path):
    out = tmp_path / "engine.json"
    rows = bench_engine.main(["--models", "normal_normal", "--json", str(out)])
    assert [r["model"] for r in rows] == ["normal_normal"]
    row = rows[0]
    assert set(bench_engine.ROW_FIELDS) <= set(row)
    for key in bench_engine.ROW_FIELDS:
        if key.endswith("_s"):
            assert row[key] > 0, key
    assert row["n_chains"] >= 3 and row["n_updates"] >= 1
    # The cold time is the sum of its phases.
    phases = row["cold_derive_s"] + row["cold_latex_s"] + row["cold_cavi_s"]
    assert abs(row["cold_s"] - phases) < 1e-9
    doc = json.loads(out.read_text(encoding="utf-8"))
    check_engine(doc)
    assert doc["rows"] == rows


def _valid(kind):
    if kind == "engine":
        row = {k: (1 if k.startswith("n_") else 0.5) for k in bench_engine.ROW_FIELDS}
        row["model"] = "m"
        return dict(date="2026-11-21T16:00:00+00:00",
                    machine=dict(cores=2, python="3.11.7", sympy="1.14.0"),
                    summary=dict(cold_total_s=0.5), rows=[row])
    if kind == "gmm":
        row = {k: (1 if kind_ is _is_int else 0.5) for k, (kind_, _) in GMM_ROW.items()}
        row["sklearn_per_iter_s"] = None                     # null where not measured
        row["floor_s"] = 1.0                                 # = 0.5 + 0.5, its two parts
        return dict(date="2026-11-21T16:00:00", rows=[row],
                    machine=dict(cores=2, python="3.11.7", numpy="2.4.6", sklearn="1.9.1"))
    return dict(date="2026-11-21T16:00:00", machine=dict(cores=2, python="3.11.7"),
                rows=[dict(target="book", wall_s=100.0, returncode=0, target_s=240.0,
                           setup_s=3.0, met=True)])


@pytest.mark.parametrize("kind,check", [("engine", check_engine), ("gmm", check_gmm),
                                        ("suite", check_suite)])
def test_schema_checks_reject_malformed_files(kind, check):
    check(_valid(kind))                                      # the valid document passes
    breakages = [
        lambda d: d.pop("date"),
        lambda d: d.__setitem__("date", "yesterday"),
        lambda d: d.__setitem__("rows", []),
        lambda d: d["machine"].pop("cores"),
        lambda d: d["rows"][0].pop(next(iter(d["rows"][0]))),
        lambda d: d["rows"][0].__setitem__(
            [k for k, v in d["rows"][0].items() if _is_num(v) and not _is_int(v)][0], "fast"),
    ]
    for n, breakage in enumerate(breakages):
        doc = copy.deepcopy(_valid(kind))
        breakage(doc)
        with pytest.raises(ValueError):
            check(doc)
            pytest.fail(f"breakage {n} not detected")


def test_engine_summary_must_match_rows():
    doc = _valid("engine")
    doc["summary"]["cold_total_s"] = 0.1
    with pytest.raises(ValueError, match="sum"):
        check_engine(doc)


# ---------------------------------------------------------------- the suite-time benchmark
def test_suite_benchmark_reuses_the_venv_the_makefile_would_accept():
    # The stamp the script requires must be the one the Makefile computes, or the script would
    # let `make` pip-install into the shared venv (or refuse a good one).
    made = subprocess.run(["make", "-s", "-p", "-n", "help"], cwd=ROOT, capture_output=True,
                          text=True).stdout
    stamp = next(l for l in made.splitlines() if l.startswith("VENV_STAMP :="))
    assert stamp.split(":=")[1].strip() == ".venv/" + bench_suite_times.stamp_name(ROOT)
    assert bench_suite_times.TARGET_S == 240


def test_suite_table_reports_a_failed_or_slow_target():
    rows = [dict(target="book", wall_s=100.0, target_s=240.0, returncode=0, met=True, setup_s=2.0),
            dict(target="test", wall_s=300.0, target_s=240.0, returncode=0, met=False, setup_s=2.0)]
    text = bench_suite_times.table(rows)
    assert "| make book | 100 | 240 | 0 | yes |" in text
    assert "| make test | 300 | 240 | 0 | NO |" in text
