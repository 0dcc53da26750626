"""Tests of the verification ledger (vi_ledger).

Every entry's check runs here, parametrised by the entry id so a failure names the
claim.  Errata are tested twice: the statement as printed must be refuted and the
correction must hold.  The seed documents are used only to confirm locations and
coverage, and only when ``../shared/seeds`` sits beside the repository.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

from vi_ledger import (DOCUMENTS, Status, all_entries, entries_for, get_entry,
                                   ledger_links, ledger_links_html, run_check, summary, topics)
from vi_ledger import render
from vi_ledger.coverage import NON_CLAIMS, PROSE_CLAIMS, display_units, uncovered, uncovered_prose
from vi_ledger.severity import LEVELS, SEVERITY
from vi_ledger.registry import ID_PATTERN, DocumentBook

REPO = Path(__file__).resolve().parents[2]
SEEDS = REPO.parent / "shared" / "seeds"
ENTRIES = all_entries()
ERRATA = [e for e in ENTRIES if e.status is Status.ERRATUM]

needs_seeds = pytest.mark.skipif(not SEEDS.is_dir(), reason="../shared/seeds is not beside the repository")


def _quiet(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn()


# ------------------------------------------------------------------ the checks themselves
@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_entry_check_holds(entry):
    """verified: the claim holds; erratum: the correction holds; garble: the intended statement holds."""
    out = _quiet(entry.check)
    assert isinstance(out, bool) or type(out).__name__ == "bool", f"{entry.id}: check returned {type(out)}"
    assert out, f"{entry.id} ({entry.status.value}): check failed: {entry.method}"


@pytest.mark.parametrize("entry", ERRATA, ids=[e.id for e in ERRATA])
def test_erratum_original_is_refuted(entry):
    """The statement as printed must come out False under its check: refuted by a computed
    value. An original() that raises refutes nothing (the exception fails this test)."""
    out = _quiet(entry.original)
    assert out is False or (type(out).__name__ == "bool" and not out), f"{entry.id}: the printed statement was not refuted"


# ------------------------------------------------------------------ structure of the registry
def test_every_document_is_covered_and_counts_add_up():
    counts = summary()
    for doc in DOCUMENTS:
        assert counts[doc]["claims"] >= 8, f"{doc}: too few entries"
        assert counts[doc]["claims"] == sum(counts[doc][s.value] for s in Status)
    assert counts["total"]["claims"] == len(ENTRIES) >= 100
    assert counts["total"]["erratum"] == len(ERRATA) > 0


def test_entries_are_well_formed():
    ids = [e.id for e in ENTRIES]
    assert len(ids) == len(set(ids))
    for e in ENTRIES:
        assert ID_PATTERN.fullmatch(e.id) and e.id.startswith("doc" + e.doc[:3] + "-"), e.id
        assert e.doc in DOCUMENTS and e.line >= 1 and e.marker and e.location and e.claim and e.method, e.id
        assert callable(e.check), e.id
        if e.status is Status.ERRATUM:
            assert callable(e.original) and e.why and e.correction_text(), e.id
        else:
            assert e.original is None, e.id
        if e.status is Status.GARBLE:
            assert e.intended_text(), e.id


def _balanced(tex: str) -> bool:
    depth = 0
    for i, ch in enumerate(tex):
        if ch == "{" and (i == 0 or tex[i - 1] != "\\"):
            depth += 1
        elif ch == "}" and (i == 0 or tex[i - 1] != "\\"):
            depth -= 1
        if depth < 0:
            return False
    return depth == 0 and "$" not in tex


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_latex_is_balanced(entry):
    for tex in (entry.claim, entry.correction_text() if entry.correction else "", entry.intended_text() if entry.intended else ""):
        assert _balanced(tex), f"{entry.id}: unbalanced braces or a '$' in {tex!r}"


def test_run_check_flags_an_unrefuted_erratum_and_a_failing_check():
    """run_check must not pass an erratum whose printed statement holds, nor a false check,
    nor an erratum whose printed statement could not be evaluated (it raised)."""
    book = DocumentBook("003_f0faaa88f60744cd.txt")
    book.erratum("doc003-fake-erratum", original=lambda: True, line=1, marker="x", location="x",
                 claim="x", correction="y", why="w", method="m")(lambda: True)
    book.verified("doc003-fake-false", line=1, marker="x", location="x", claim="x", method="m")(lambda: False)
    book.verified("doc003-fake-raises", line=1, marker="x", location="x", claim="x", method="m")(lambda: 1 / 0)
    book.erratum("doc003-fake-raising-original", original=lambda: 1 / 0, line=1, marker="x", location="x",
                 claim="x", correction="y", why="w", method="m")(lambda: True)
    res = {e.id: run_check(e) for e in book.entries}
    assert not res["doc003-fake-erratum"].passed and res["doc003-fake-erratum"].original_refuted is False
    assert not res["doc003-fake-false"].passed
    assert not res["doc003-fake-raises"].passed and "ZeroDivisionError" in res["doc003-fake-raises"].detail
    # an exception while evaluating the printed statement is a broken check, not a refutation
    assert not res["doc003-fake-raising-original"].passed
    assert res["doc003-fake-raising-original"].original_refuted is None
    assert "ZeroDivisionError" in res["doc003-fake-raising-original"].detail


def test_document_book_rejects_bad_entries():
    book = DocumentBook("000_1458e46accab4e32.txt")
    with pytest.raises(ValueError, match="id"):
        book.verified("doc001-wrong-doc", line=1, marker="x", location="x", claim="x", method="m")(lambda: True)
    with pytest.raises(ValueError, match="anchor"):
        book.verified("doc000-Eq.8", line=1, marker="x", location="x", claim="x", method="m")(lambda: True)
    with pytest.raises(ValueError, match="correction"):
        book.erratum("doc000-x", original=lambda: False, line=1, marker="x", location="x", claim="x", method="m")
    with pytest.raises(ValueError, match="doc"):
        DocumentBook("999_nothing.txt")


# ------------------------------------------------------------------ chapters' helpers and rendering
def test_entries_for_selects_by_id_topic_and_document():
    assert [e.id for e in entries_for("doc000-eq8")] == ["doc000-eq8"]
    kl = entries_for("kl")
    assert kl and all("kl" in e.topics for e in kl)
    doc3 = entries_for("doc003")
    assert {e.doc for e in doc3} == {"003_f0faaa88f60744cd.txt"} and len(doc3) == summary()["003_f0faaa88f60744cd.txt"]["claims"]
    both = entries_for(["doc000-eq8", "doc000-eq9"], "doc000-eq8")
    assert [e.id for e in both] == ["doc000-eq8", "doc000-eq9"]
    assert "elbo" in topics()
    with pytest.raises(ValueError, match="topic_or_ids"):
        entries_for("no-such-thing")
    with pytest.raises(ValueError, match="topic_or_ids"):
        entries_for(42)


def test_link_helpers_point_at_the_appendix_anchors():
    md = ledger_links("doc000-eq8", "doc003-p1-kl-1d")
    assert md.count("{ref}`") == 2 and "<doc000-eq8>" in md and "(erratum)" in md
    html = ledger_links_html("doc000-eq8")
    assert 'href="appendix_ledger.html#doc000-eq8"' in html


def test_appendix_markdown_labels_every_entry_once():
    full = "".join(render.document_markdown(doc) for doc in DOCUMENTS)
    labels = re.findall(r"^\(([a-z0-9-]+)\)=$", full, flags=re.M)
    assert sorted(labels) == sorted(e.id for e in ENTRIES)
    errata = render.errata_markdown()
    assert errata.count(":::{admonition}") == len(ERRATA)
    table = render.summary_markdown()
    rows = [r for r in table.splitlines() if r.startswith("|")]
    assert all(r.count("|") == rows[0].count("|") for r in rows), "a '|' inside a cell breaks the table"
    assert f"**{len(ENTRIES)}**" in table


# ------------------------------------------------------------------ against the seed documents (when present)
@needs_seeds
@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_location_exists_in_seed(entry):
    lines = (SEEDS / entry.doc).read_text(encoding="utf-8").splitlines()
    assert entry.marker in lines[entry.line - 1], f"{entry.id}: marker not on line {entry.line} of {entry.doc}"
    assert all(1 <= ln <= len(lines) for ln in entry.all_lines()), entry.id


@needs_seeds
def test_every_displayed_equation_is_accounted_for():
    assert {p.name for p in SEEDS.glob("0*.txt")} == set(DOCUMENTS)
    missing = {d: u for d, u in uncovered(SEEDS).items() if u}
    assert not missing, f"displayed equations with no ledger entry and no NON_CLAIMS reason: {missing}"
    for doc, table in NON_CLAIMS.items():
        units = display_units((SEEDS / doc).read_text(encoding="utf-8"))
        starts = {ln for u in units for ln in u}
        assert set(table) <= starts, f"{doc}: NON_CLAIMS lists lines that are no displayed equation"


def test_display_units_parser():
    text = "a\n$$x=1$$\n (2)\n$$\\begin{aligned}\ny\n\\end{aligned}$$\nb\n"
    assert display_units(text) == [(2, 3), (4, 5, 6)]





# ------------------------------------------------------------------ issue 12: severity, prose, as printed
def test_every_erratum_has_a_severity_and_the_appendix_ranks_them():
    assert set(SEVERITY) == {e.id for e in ERRATA}
    assert set(SEVERITY.values()) <= set(LEVELS)
    md = render.errata_markdown()
    positions = [md.index(e.id + ":") for e in ERRATA]
    order = sorted(ERRATA, key=lambda e: md.index(e.id + ":"))
    ranks = [LEVELS.index(SEVERITY[e.id]) for e in order]
    assert ranks == sorted(ranks) and len(set(positions)) == len(ERRATA)
    for e in ERRATA:
        if SEVERITY[e.id] == "reading":
            assert "Reading" in e.note, f"{e.id}: a reading-dependent erratum must state its reading"


def test_as_printed_is_the_documents_words_and_the_transcription_is_labelled():
    md = render.errata_markdown()
    for e in ERRATA:
        assert f"``{e.marker.replace('`', chr(39))}``" in md, e.id
    assert md.count("the ledger's paraphrase") == len(ERRATA)


def test_claims_made_in_prose_are_covered():
    assert all(not lines for lines in uncovered_prose().values()), uncovered_prose()
    assert sum(len(v) for v in PROSE_CLAIMS.values()) >= 10


def test_re_examined_verdicts():
    """Issue 12: four doubtful errata re-examined (see each entry's note for the reason)."""
    assert get_entry("doc001-l144-mc-index").status is Status.GARBLE
    assert get_entry("doc000-l53-simplex").status is Status.VERIFIED
    assert get_entry("doc001-l579-second-moment-selected").status is Status.VERIFIED
    assert "doc004-l130-positive-valued" not in {e.id for e in ENTRIES}
    assert [e.id for e in entries_for("doc004-l130-positive-valued")] == ["doc004-l130-divergence"]
    assert "Reading" in get_entry("doc004-l130-divergence").note
    assert "Reading" in get_entry("doc001-l535-second-moment").note
