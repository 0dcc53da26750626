"""Issue 10, sections 3 and 5: the chapters show mathematics before code and legible figures.

Static checks of the chapter notebooks (nbval runs them; the browser test measures the built pages):

* the book's helpers come from ``vi_book``: no chapter defines its own copy of a display helper;
* a cell that draws a figure hides its input (tag ``hide-input`` or ``remove-input``);
* a chapter that draws uses ``vi_book.setup_figures`` (150 dpi, legible mathtext labels), sets no
  lower resolution, and lays out at most two panels a row;
* no figure labels a quantity as a negative divergence ("- KL");
* every chapter ends with its "What was verified here" list in a collapsed box.

Each check is a function returning problems, and the tests at the bottom show that each can fail.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parents[2] / "book"
NOT_CHAPTERS = {"appendix_ledger", "benchmarks"}
#: Chapters written by another hand during the conversion, not yet converted (they still fail
#: these checks; remove a name once its chapter passes).
NOT_YET_CONVERTED: set = set()
HIDDEN = {"hide-input", "remove-input", "remove-cell"}
HELPERS = ("show_chain", "latex_rows", "visual_width", "rows_of", "show_source", "show_rows", "show_sum")
DRAWS = re.compile(r"\bplt\.(subplots|figure|plot|scatter|hist|imshow|contour|semilogy|loglog)\b|\bvb\.panels\(|"
                   r"\bax\w*(\[\d\])?\.(plot|scatter|hist|imshow|contour|contourf|fill_between|errorbar|bar)\(")
WIDE = re.compile(r"subplots\(\s*\d+\s*,\s*([3-9])|add_gridspec\(\s*\d+\s*,\s*([3-9])|subplots\(\s*ncols\s*=\s*([3-9])")
LOW_DPI = re.compile(r"""["']figure\.dpi["']\s*[:\]]\s*=?\s*(\d+)""")
NEGATIVE_KL = re.compile(r"""label\s*=\s*r?f?["'][^"']*(^|[\s$(])[-−]\s*\\?(mathrm\{)?KL""")


def chapters() -> list:
    return [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason="not converted yet")) if n in NOT_YET_CONVERTED
            else n for n in sorted(p.stem for p in BOOK.glob("*.ipynb") if p.stem not in NOT_CHAPTERS)]


def _src(cell) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _code(nb):
    return [(n, _src(c), set(c.get("metadata", {}).get("tags", [])))
            for n, c in enumerate(nb["cells"]) if c["cell_type"] == "code"]


def style_problems(nb) -> list[str]:
    problems = []
    code = _code(nb)
    draws = False
    for n, src, tags in code:
        for helper in HELPERS:
            if re.search(rf"^def {helper}\(", src, re.M):
                problems.append(f"cell {n}: defines its own {helper}; use vi_book's")
        if DRAWS.search(src):
            draws = True
            if not tags & HIDDEN:
                problems.append(f"cell {n}: draws a figure but shows its input (tag it hide-input)")
        for m in WIDE.finditer(src):
            problems.append(f"cell {n}: {m.group(0)!r} puts more than two panels in a row")
        for m in LOW_DPI.finditer(src):
            if int(m.group(1)) < 150:
                problems.append(f"cell {n}: figure.dpi {m.group(1)} < 150")
        if NEGATIVE_KL.search(src):
            problems.append(f"cell {n}: a label shows a negative KL")
    if draws and not any("setup_figures()" in src for _, src, _ in code):
        problems.append("draws figures without vi_book.setup_figures()")
    text = "\n".join(_src(c) for c in nb["cells"])
    boxed = ("verified_box(" in text or ".box(" in text
             or re.search(r":::\{admonition\} What was verified here\n:class: dropdown", text))
    if not boxed:
        problems.append('no collapsed "What was verified here" box')
    return problems


@pytest.mark.parametrize("name", chapters())
def test_chapter_style(name):
    nb = json.loads((BOOK / f"{name}.ipynb").read_text(encoding="utf-8"))
    problems = style_problems(nb)
    assert not problems, f"book/{name}.ipynb:\n" + "\n".join(problems)


def _nb(*cells):
    return {"cells": list(cells), "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def _cell(src, tags=(), kind="code"):
    cell = {"cell_type": kind, "metadata": {"tags": list(tags)} if tags else {}, "source": src}
    if kind == "code":
        cell.update(outputs=[], execution_count=None)
    return cell


GOOD = [_cell("import vi_book as vb\nvb.setup_figures()"),
        _cell("fig, axes = vb.panels(3)\naxes[0].plot([0, 1])", tags=["hide-input"]),
        _cell("checks.box()")]


def test_a_good_chapter_passes():
    assert style_problems(_nb(*GOOD)) == []


@pytest.mark.parametrize("bad, words", [
    (_cell("def show_chain(chain):\n    pass"), "defines its own show_chain"),
    (_cell("fig, ax = plt.subplots()\nax.plot([0, 1])"), "shows its input"),
    (_cell("fig, ax = plt.subplots(1, 3, figsize=(9, 3))", tags=["hide-input"]), "more than two panels"),
    (_cell('plt.rcParams["figure.dpi"] = 90'), "figure.dpi 90"),
    (_cell('ax.plot(t, -kl, label=r"$-\\mathrm{KL}(q \\| p)$")', tags=["hide-input"]), "negative KL"),
])
def test_each_check_can_fail(bad, words):
    problems = style_problems(_nb(*GOOD, bad))
    assert any(words in p for p in problems), problems


def test_missing_style_and_box_are_caught():
    problems = style_problems(_nb(_cell("fig, ax = plt.subplots()", tags=["hide-input"])))
    assert any("setup_figures" in p for p in problems) and any("collapsed" in p for p in problems)
