"""Structure of the three Gaussian-model chapters (book conventions that nbval does not check).

For book/linear_regression_ard.ipynb, book/linear_gaussian_2d.ipynb and book/normal_normal.ipynb:
"What you will learn" opens the chapter and "What was verified here" closes it; the notebook is
committed without outputs; every {doc} link names a page that exists; every {cite} key is in
book/references.bib; every exercise has a hidden (dropdown) solution with executable code inside it.
"""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "book"
CHAPTERS = ["linear_regression_ard", "linear_gaussian_2d", "normal_normal"]


def _cells(name):
    return json.loads((BOOK / f"{name}.ipynb").read_text())["cells"]


def _text(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


@pytest.mark.parametrize("name", CHAPTERS)
def test_opens_with_what_you_will_learn_and_closes_with_what_was_verified(name):
    cells = _cells(name)
    first_md = next(_text(c) for c in cells if c["cell_type"] == "markdown")
    assert first_md.lstrip().startswith("# ") and "## What you will learn" in first_md
    headings = [h for c in cells if c["cell_type"] == "markdown"
                for h in re.findall(r"^## (.+)$", _text(c), flags=re.M)]
    assert headings[0] == "What you will learn"
    assert headings[-1] == "What was verified here"


@pytest.mark.parametrize("name", CHAPTERS)
def test_committed_without_outputs(name):
    for c in _cells(name):
        if c["cell_type"] == "code":
            assert c["outputs"] == [] and c["execution_count"] is None


@pytest.mark.parametrize("name", CHAPTERS)
def test_links_and_citations_resolve(name):
    text = "\n".join(_text(c) for c in _cells(name))
    docs = set(re.findall(r"\{doc\}`(?:[^`<]*<)?([^`<>]+)>?`", text))
    assert docs, "a chapter links at least one other page"
    for target in docs:
        assert (BOOK / f"{target}.ipynb").exists() or (BOOK / f"{target}.md").exists(), target
    keys = set(re.findall(r"@\w+\{(\w+),", (BOOK / "references.bib").read_text()))
    cited = {k.strip() for group in re.findall(r"\{cite:[pt]\}`([^`]+)`", text) for k in group.split(",")}
    assert cited and cited <= keys, cited - keys


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_exercise_has_a_hidden_executable_solution(name):
    cells = _cells(name)
    labels = [m for c in cells if c["cell_type"] == "markdown"
              for m in re.findall(r"\{exercise\}[^\n]*\n:label: ([\w-]+)", _text(c))]
    assert labels
    for label in labels:
        start = next(k for k, c in enumerate(cells)
                     if re.search(r"\{solution-start\} " + re.escape(label) + r"\s*\n:class: dropdown", _text(c)))
        end = next(k for k, c in enumerate(cells) if k > start and "{solution-end}" in _text(c))
        assert any(c["cell_type"] == "code" and "assert" in _text(c) for c in cells[start + 1:end]), label
