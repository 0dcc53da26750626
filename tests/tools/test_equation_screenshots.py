"""tools/equation_screenshots.py: the committed before/after screenshots and their JSON.

The tool itself needs Chromium and is run by hand (``python tools/equation_screenshots.py``); this
test only reads what it wrote: one row per display the tool lists, both forms measured, both
PNGs present, and the widths those of the PNGs (cropped with an 8 px margin).
"""
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results" / "equations"


def _tool():
    spec = importlib.util.spec_from_file_location("equation_screenshots", ROOT / "tools" / "equation_screenshots.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def report():
    return json.loads((RESULTS / "equations.json").read_text())


def test_one_row_per_display_of_the_tool_in_its_order(report):
    assert [row["equation"] for row in report["equations"]] == [name for name, _ in _tool().EXAMPLES]


def test_each_form_is_measured_and_photographed(report):
    from PIL import Image
    for row in report["equations"]:
        for which in ("before", "after"):
            form = row[which]
            assert set(form) == {"width_px", "height_px", "png", "latex"}, row["equation"]
            assert isinstance(form["width_px"], int) and form["width_px"] > 0
            assert isinstance(form["height_px"], int) and form["height_px"] > 0
            assert isinstance(form["latex"], str) and form["latex"]
            png = ROOT / form["png"]
            assert png.is_file() and png.parent == RESULTS and png.name.endswith(f"_{which}.png")
            width, height = Image.open(png).size
            assert form["width_px"] <= width <= form["width_px"] + 17, (png.name, width)
        assert row["width_ratio"] == pytest.approx(row["after"]["width_px"] / row["before"]["width_px"], abs=1e-3)


def test_the_typeset_form_is_the_one_the_book_prints(report):
    """Raw and typeset differ, and the typeset mixture displays use the book's letters."""
    rows = {row["equation"]: row for row in report["equations"]}
    assert all(row["before"]["latex"] != row["after"]["latex"] for row in rows.values())
    log_joint = rows["1 gmm log joint, expanded"]["after"]["latex"]
    assert r"\tau^{2}" in log_joint and r"\lVert" in log_joint
    assert r"\pi_{" in rows["5a entropy of q(c) (pi log pi)"]["before"]["latex"]
    assert r"\pi_{" not in rows["5a entropy of q(c) (pi log pi)"]["after"]["latex"]
