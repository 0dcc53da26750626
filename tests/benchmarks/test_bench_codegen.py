"""benchmarks/bench_codegen.py: the committed results are well formed and the script runs."""
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results" / "codegen.json"


def check(doc, sizes=(10**5, 10**6)):
    assert doc["target_ratio"] == 1.5
    assert [r["N"] for r in doc["rows"]] == list(sizes)
    for r in doc["rows"]:
        assert r["K"] == 5 and r["D"] == 2 and r["sweeps"] >= 1 and r["repeats"] >= 1
        assert r["generated_ms"] > 0 and r["hand_ms"] > 0
        assert abs(r["ratio"] - r["generated_ms"] / r["hand_ms"]) <= 1e-9 * r["ratio"]
        # the two implementations ran the same iteration
        assert r["max_rel_diff_m"] <= 1e-10 and r["max_rel_diff_elbo"] <= 1e-10
    assert doc["engine_in_process"]["engine_ms"] > 0
    assert "clock" in doc and "machine" in doc


def test_committed_results_conform():
    if not RESULTS.is_file():
        pytest.skip("benchmarks/results/codegen.json not measured yet")
    check(json.loads(RESULTS.read_text(encoding="utf-8")))


def test_the_script_measures_small_sizes_and_writes_a_valid_file(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bench_codegen
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    out = tmp_path / "codegen.json"
    assert bench_codegen.main(["--quick", "--sizes", "2000,4000", "--out", str(out)]) == 0
    check(json.loads(out.read_text(encoding="utf-8")), sizes=(2000, 4000))
