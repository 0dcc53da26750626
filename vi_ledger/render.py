"""Rendering the ledger for the book, and links from chapters to it.

The appendix page (``book/appendix_ledger.ipynb``) displays the Markdown produced
here in cells whose metadata asks MyST-NB to parse outputs as MyST
(``{"mystnb": {"markdown_format": "myst"}}``): every entry then carries a Sphinx
label equal to its id (``(doc000-eq8)=``), math is ``$...$`` and links are
``{ref}`` roles that ``jupyter-book build -W -n`` checks.

Chapters use :func:`ledger_links` (MyST, same cell metadata) or
:func:`ledger_links_html` (plain HTML anchors, no metadata needed).
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Optional, Union

from .registry import DOCUMENTS, CheckResult, Entry, Status, all_entries, summary
from .severity import LEVELS, severity

__all__ = [
    "APPENDIX_PAGE", "topics", "entries_for", "ledger_links", "ledger_links_html", "display_links",
    "summary_markdown", "errata_markdown", "garble_markdown", "document_markdown", "status_icon",
]

#: The appendix page (file name without extension, next to the chapters in ``book/``).
APPENDIX_PAGE = "appendix_ledger"

Selector = Union[str, Entry, Iterable[Union[str, Entry]]]

_ICON = {Status.VERIFIED: "✔ verified", Status.ERRATUM: "✘ erratum", Status.GARBLE: "⚠ garble"}


def status_icon(status: Status) -> str:
    return _ICON[status]


def topics() -> list[str]:
    """Every topic tag used by some entry (for :func:`entries_for`)."""
    return sorted({t for e in all_entries() for t in e.topics})


def _flatten(sel) -> list:
    if isinstance(sel, (str, Entry)):
        return [sel]
    if not isinstance(sel, Iterable):
        raise ValueError(f"topic_or_ids: expected str, Entry or an iterable of them, got {type(sel).__name__}")
    out = []
    for s in sel:
        out.extend(_flatten(s))
    return out


#: Ids of entries merged into another one (old id -> the entry that now holds the claim), so
#: links written before the merge still resolve.
RETIRED = {"doc004-l130-positive-valued": "doc004-l130-divergence"}


def entries_for(*selectors: Selector) -> list[Entry]:
    """Entries selected by id (``"doc000-eq8"``; a retired id selects its successor, see
    :data:`RETIRED`), topic (``"elbo"``, see :func:`topics`), document (``"doc003"`` or the
    file name), or any iterable of these; in ledger order, without duplicates.  An unknown
    selector raises ``ValueError`` naming it."""
    es = all_entries()
    by_id = {e.id: e for e in es}
    tags = set(topics())
    chosen: set[str] = set()
    for s in _flatten(selectors):
        if isinstance(s, Entry):
            chosen.add(s.id)
        elif not isinstance(s, str):
            raise ValueError(f"topic_or_ids: expected str or Entry, got {type(s).__name__}")
        elif s in by_id:
            chosen.add(s)
        elif s in RETIRED:
            chosen.add(RETIRED[s])
        elif s in tags:
            chosen.update(e.id for e in es if s in e.topics)
        elif s in DOCUMENTS or (len(s) == 6 and s.startswith("doc") and s[3:].isdigit()):
            doc = s if s in DOCUMENTS else next((d for d in DOCUMENTS if d.startswith(s[3:])), None)
            if doc is None:
                raise ValueError(f"topic_or_ids: no seed document {s!r}")
            chosen.update(e.id for e in es if e.doc == doc)
        else:
            raise ValueError(f"topic_or_ids: {s!r} is neither a ledger id, a topic ({', '.join(sorted(tags))}) nor a document")
    return [e for e in es if e.id in chosen]


def _short_doc(doc: str) -> str:
    return DOCUMENTS[doc].split(":")[0]


def _line_desc(e: Entry) -> str:
    return f"{_short_doc(e.doc)} ({e.doc[:3]}), {e.location}"


def ledger_links(*selectors: Selector) -> str:
    """A Markdown (MyST) bullet list of ``{ref}`` links to the appendix entries, one per
    selected entry: id, status and where the claim sits.  Display it with
    ``IPython.display.Markdown`` in a cell with metadata
    ``{"mystnb": {"markdown_format": "myst"}}`` (or paste it into a markdown cell)."""
    lines = [f"- {{ref}}`{e.id} <{e.id}>` ({e.status.value}): {_line_desc(e)}" for e in entries_for(*selectors)]
    return "\n".join(lines) + "\n"


def ledger_links_html(*selectors: Selector, page: str = APPENDIX_PAGE) -> str:
    """The same list as HTML (anchors ``{page}.html#{id}``): needs no cell metadata,
    but the links are not checked by Sphinx."""
    import html
    items = "".join(
        f'<li><a href="{page}.html#{e.id}"><code>{e.id}</code></a> ({e.status.value}): {html.escape(_line_desc(e))}</li>'
        for e in entries_for(*selectors))
    return f'<ul class="ledger-links">{items}</ul>'


def display_links(*selectors: Selector, html: bool = False):
    """Display the links in a notebook (Markdown with ``{ref}`` roles, or HTML)."""
    from IPython.display import HTML, Markdown, display
    display(HTML(ledger_links_html(*selectors)) if html else Markdown(ledger_links(*selectors)))


# ------------------------------------------------------------------ appendix
def _result_text(r: Optional[CheckResult]) -> str:
    if r is None:
        return "not run"
    if r.status is Status.ERRATUM:
        core = ("printed statement refuted, correction holds" if r.passed else
                f"FAILED ({'correction does not hold' if not r.check_ok else 'printed statement not refuted'})")
    else:
        core = "check passed" if r.passed else "check FAILED"
    return f"{core} ({r.seconds:.2f} s)"


def summary_markdown(results: Optional[dict[str, CheckResult]] = None) -> str:
    """Counts by document and status (a Markdown table), with the checks passed in this run."""
    counts = summary()
    head = "| Document | Claims | Verified | Errata | Garble | Checks passed |\n|---|---:|---:|---:|---:|---:|\n"
    rows = []
    for doc, title in DOCUMENTS.items():
        c = counts[doc]
        passed = "–" if results is None else str(sum(1 for e in all_entries() if e.doc == doc and results[e.id].passed))
        rows.append(f"| `{doc[:3]}` {title} | {c['claims']} | {c['verified']} | {c['erratum']} | {c['garble']} | {passed} |")
    t = counts["total"]
    passed = "–" if results is None else str(sum(r.passed for r in results.values()))
    rows.append(f"| **Total** | **{t['claims']}** | **{t['verified']}** | **{t['erratum']}** | **{t['garble']}** | **{passed}** |")
    return head + "\n".join(rows) + "\n"


def _math(tex: str, indent: str = "") -> str:
    """A display-math block (its own paragraph), laid out for the book's column by the book's
    own line breaking (:func:`vi_book.display.fit_display`: rows at relations and terms; only
    layout markup is added); what still does not fit scrolls instead of being cut off."""
    from vi_book.display import fit_display
    body = fit_display(" ".join(tex.split("\n")))
    return f"\n\n{indent}$$\n{indent}{body}\n{indent}$$\n\n"


_LEVEL_TITLE = {
    "substantive": "Substantive errata: the mathematics as printed is wrong where a reader would use it",
    "reading": "Errata that rest on a reading of the notation (the reading is stated)",
    "minor": "Minor errata: slips that the surrounding text repairs or that change no result",
}


def _as_printed(e: Entry) -> str:
    """The document's own words (the entry's verbatim fragment of the line), then the
    ledger's transcription, labelled as such."""
    words = e.marker.replace("`", "'")
    return (f"**As printed** (line {e.line}, the document's words): ``{words}``\n\n"
            f"**Transcribed** (the ledger's paraphrase of the claim):{_math(e.claim)}")


def errata_markdown(results: Optional[dict[str, CheckResult]] = None) -> str:
    """One warning box per erratum, ranked by severity (substantive, reading-dependent, minor;
    see :mod:`vi_ledger.severity`), each under a heading: the statement as printed (the
    document's words) and as transcribed, the correction, why, how it was shown and the
    result of this run."""
    errata = [e for e in all_entries() if e.status is Status.ERRATUM]
    blocks = []
    for level in LEVELS:
        chosen = [e for e in errata if severity(e.id) == level]
        if not chosen:
            continue
        blocks.append(f"### {_LEVEL_TITLE[level]} ({len(chosen)})\n")
        for e in chosen:
            r = None if results is None else results[e.id]
            note = f"**Note:** {e.note}\n\n" if e.note else ""
            blocks.append(
                f":::{{admonition}} {e.id}: {_short_doc(e.doc)} ({e.doc[:3]}), {e.location}\n"
                f":class: warning\n\n"
                f"{_as_printed(e)}"
                f"**Correction:**{_math(e.correction_text())}"
                f"**Why:** {e.why}\n\n{note}"
                f"**How it was shown:** {e.method} (route: {e.route}). "
                f"**This build:** {_result_text(r)}. {{ref}}`Ledger entry <{e.id}>`.\n"
                f":::\n")
    return "\n".join(blocks)


def garble_markdown(results: Optional[dict[str, CheckResult]] = None) -> str:
    """One note per extraction-garble entry: what was printed and what must have been meant."""
    blocks = []
    for e in all_entries():
        if e.status is not Status.GARBLE:
            continue
        r = None if results is None else results[e.id]
        blocks.append(
            f":::{{admonition}} {e.id}: {_short_doc(e.doc)} ({e.doc[:3]}), {e.location}\n"
            f":class: note\n\n"
            f"**As extracted** (line {e.line}, the document's words): ``{e.marker.replace('`', chr(39))}``\n\n"
            f"**Transcribed** (the ledger's reading of the damaged line):{_math(e.claim)}"
            f"**Intended:**{_math(e.intended_text())}"
            f"**Check of the intended statement:** {e.method}. **This build:** {_result_text(r)}.\n"
            f":::\n")
    return "\n".join(blocks)


def document_markdown(doc: str, results: Optional[dict[str, CheckResult]] = None) -> str:
    """Every entry of one document, in order of appearance, each with its label
    (the anchor chapters link to), status, location, claim, method and result."""
    if doc not in DOCUMENTS:
        raise ValueError(f"doc: unknown seed document {doc!r}")
    blocks = []
    for e in all_entries():
        if e.doc != doc:
            continue
        r = None if results is None else results[e.id]
        ind = "  "
        extra = ""
        if e.status is Status.ERRATUM:
            extra = f"{ind}Correction:{_math(e.correction_text(), ind)}"
        elif e.status is Status.GARBLE:
            extra = f"{ind}Intended:{_math(e.intended_text(), ind)}"
        note = f"\n\n{ind}Note: {e.note}" if e.note else ""
        lines = ", ".join(str(l) for l in e.all_lines())
        blocks.append(
            f"({e.id})=\n"
            f"`{e.id}` · **{status_icon(e.status)}** · {e.location} (line{'s' if len(e.all_lines()) > 1 else ''} {lines})\n"
            f": Claim:{_math(e.claim, ind)}{extra}"
            f"{ind}*Checked by:* {e.method} (route: {e.route}). *This build:* {_result_text(r)}.{note}\n")
    return "\n".join(blocks)
