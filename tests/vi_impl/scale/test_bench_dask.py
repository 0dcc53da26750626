"""benchmarks/bench_dask.py: its data blocks are reproducible, and the committed results
file has the fields the chapter book/vi_at_scale.ipynb reads (timings are not tested)."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]
RESULTS = ROOT / "benchmarks" / "results" / "dask.json"


def _script():
    spec = importlib.util.spec_from_file_location("bench_dask", ROOT / "benchmarks" / "bench_dask.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_data_blocks_are_reproducible():
    bench = _script()
    a, b = bench.make_rows(1_000_000, 1_000_010), bench.make_rows(1_000_000, 1_000_010)
    assert a.shape == (10, bench.D) and np.array_equal(a, b)
    assert not np.array_equal(a, bench.make_rows(0, 10))
    assert bench.chunk_rows_for(10, 2_000_000) == 5 and bench.chunk_rows_for(10**8, 4_000_000) == 4_000_000


@pytest.mark.skipif(not RESULTS.is_file(), reason="benchmarks/results/dask.json not measured yet")
def test_committed_results_have_the_fields_the_chapter_reads():
    doc = json.loads(RESULTS.read_text(encoding="utf-8"))
    for key in ("date", "machine", "K", "D", "in_memory", "rows"):
        assert key in doc, key
    for key in ("cpus", "dask", "load_average_1min"):
        assert key in doc["machine"], key
    for key in ("N", "sec_per_iter", "cpu_per_iter"):
        assert doc["in_memory"][key] > 0, key
    assert doc["rows"] and [r["N"] for r in doc["rows"]] == sorted(r["N"] for r in doc["rows"])
    for row in doc["rows"]:
        for key in ("N", "n_chunks", "sec_per_sweep", "cpu_per_sweep", "ratio_cpu", "ratio_wall",
                    "peak_rss_bytes", "first_pass_sec"):
            assert isinstance(row[key], (int, float)) and row[key] > 0, (row["N"], key)
