"""Structure of the mixture chapters: the D-dimensional mixture in three pages (book/gmm.ipynb: the
model and its updates; book/gmm_fitting.ipynb: the fit and its checks; book/gmm_exercises.ipynb:
the six functions as exercises), book/gmm_prior_mean.ipynb and book/gmm_1d_vbem.ipynb.

The chapters themselves run under nbval (every check inside them is an assert). These tests guard
what nbval cannot see: the notebooks are stored without outputs, open with "What you will learn"
and close with "What was verified here", carry their exercises with hidden solutions that
contain executable code, cite only keys of book/references.bib, and link only pages that exist.
"""
import json
import re
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parents[2] / "book"
CHAPTERS = {
    # chapter -> exercise labels that must be present (the ELBO, both updates and CAVI; the 1-D CAVI updates)
    "gmm": [],
    "gmm_fitting": [],
    "gmm_exercises": ["ex-gmm-log-joint", "ex-gmm-log-var", "ex-gmm-elbo", "ex-gmm-update-pi",
                      "ex-gmm-update-m", "ex-gmm-update-s2"],
    "gmm_prior_mean": ["ex-gpm-elbo", "ex-gpm-phi", "ex-gpm-mu", "ex-gpm-cavi"],
    "gmm_1d_vbem": ["ex-gmm1d-cavi"],
}


def _cells(name):
    nb = json.loads((BOOK / f"{name}.ipynb").read_text())
    return [(c["cell_type"], "".join(c["source"]), c) for c in nb["cells"]]


@pytest.mark.parametrize("name", sorted(CHAPTERS))
def test_stored_without_outputs(name):
    for kind, _, cell in _cells(name):
        if kind == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


@pytest.mark.parametrize("name", sorted(CHAPTERS))
def test_opens_with_what_you_will_learn_and_closes_with_what_was_verified(name):
    md = [src for kind, src, _ in _cells(name) if kind == "markdown"]
    headings = [line for src in md for line in src.splitlines() if line.startswith("## ")]
    assert headings[0] == "## What you will learn"
    assert headings[-1] == "## What was verified here"


@pytest.mark.parametrize("name", sorted(CHAPTERS))
def test_exercises_have_hidden_solutions_with_code(name):
    cells = _cells(name)
    for label in CHAPTERS[name]:
        starts = [n for n, (k, s, _) in enumerate(cells) if k == "markdown" and f"{{solution-start}} {label}" in s]
        assert any(f":label: {label}" in s for k, s, _ in cells if k == "markdown"), label
        assert len(starts) == 1, label
        assert ":class: dropdown" in cells[starts[0]][1]
        end = next(n for n in range(starts[0] + 1, len(cells)) if "{solution-end}" in cells[n][1])
        assert any(cells[n][0] == "code" for n in range(starts[0] + 1, end)), f"{label}: no code in the solution"


@pytest.mark.parametrize("name", sorted(CHAPTERS))
def test_citations_and_page_links_resolve(name):
    text = "\n".join(s for k, s, _ in _cells(name) if k == "markdown")
    keys = set(re.findall(r"@\w+\{([^,]+),", (BOOK / "references.bib").read_text()))
    cited = re.findall(r"\{cite:[pt]\}`([^`]+)`", text)
    assert cited, "the chapter cites nothing"
    for group in cited:
        for key in group.split(","):
            assert key.strip() in keys, key
    for page in re.findall(r"\{doc\}`(?:[^`<]*<)?([^`>]+)>?`", text):
        assert any((BOOK / f"{page}{ext}").exists() for ext in (".md", ".ipynb")), page


#: The pages of the D-dimensional mixture, in reading order (one chapter split where a reader pauses).
MIXTURE_PAGES = ["gmm", "gmm_fitting", "gmm_exercises"]


def test_the_mixture_pages_follow_each_other_in_the_table_of_contents():
    toc = (BOOK.parent / "_toc.yml").read_text()
    files = re.findall(r"- file: book/(\w+)", toc)
    at = [files.index(p) for p in MIXTURE_PAGES]
    assert at == list(range(at[0], at[0] + len(MIXTURE_PAGES))), at


@pytest.mark.parametrize("name", MIXTURE_PAGES)
def test_each_mixture_page_links_the_other_two(name):
    text = "\n".join(s for k, s, _ in _cells(name) if k == "markdown")
    for other in set(MIXTURE_PAGES) - {name}:
        assert f"{{doc}}`{other}`" in text, other


@pytest.mark.parametrize("name", MIXTURE_PAGES)
def test_no_mixture_page_copies_the_shared_example(name):
    """The data set and the independent routes come from vi_book.mixture_example, not from a copy."""
    code = "\n".join(s for k, s, _ in _cells(name) if k == "code")
    for helper in ("sample_mixture", "sample_log_densities", "log_evidence_by_enumeration", "random_q"):
        assert not re.search(rf"^def {helper}\(", code, re.M), helper
