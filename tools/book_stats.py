"""Measure the book's chapters: references to the source documents, and code a reader sees.

    python tools/book_stats.py            # table per chapter
    python tools/book_stats.py --list     # also every reference, with its cell and context

For every notebook and Markdown page under book/ (the errata appendix is counted apart):

* ``refs``: mentions of the course documents the book grew from (the lecture notes, the slides,
  the homework, the tutorial, the coursework, "problem N", "course document(s)", "syllabus",
  ledger ids such as ``doc001-l39-bayes``, calls that display ledger links), in the text the
  reader sees: markdown cells, and code cells whose input is shown;
* ``html refs``: the same patterns in the built page's text (``_build/html/book/<name>.html``,
  when it exists), which also counts what code cells print;
* ``visible`` / ``hidden`` code lines: lines of code cells shown to the reader, and lines of
  cells whose input is hidden (tags ``hide-input``, ``remove-input``, ``remove-cell``, ``hide-cell``).
"""
from __future__ import annotations

import argparse
import html
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
APPENDIX = {"appendix_ledger"}
HIDDEN_TAGS = {"hide-input", "remove-input", "remove-cell", "hide-cell"}

PATTERN = re.compile(
    r"lecture[- ]notes?|lecture slides?|\bslides?\b|homework|\btutorial'?s?\b|coursework|"
    r"\bproblems? \d+|course documents?|course material|\bsyllabus\b|\bdoc00\d(-[\w-]+)?\b|"
    r"display_links|ledger_links",
    re.IGNORECASE)


def find_refs(text: str, code: bool = False):
    """The matches of PATTERN in ``text``; in code, a match that is part of an identifier of the
    implementation (``as_coursework``, ``gmm.coursework_elbo``) is not a reference a reader sees."""
    out = []
    for m in PATTERN.finditer(text):
        before = text[m.start() - 1] if m.start() else " "
        after = text[m.end()] if m.end() < len(text) else " "
        if m.group(0).endswith("_links"):
            pass   # a call that displays ledger links always counts
        elif code and (before in "_." or before.isalnum() or after in "_(" or after.isalnum()):
            continue
        out.append(m)
    return out


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _hidden(cell) -> bool:
    return bool(HIDDEN_TAGS & set(cell.get("metadata", {}).get("tags", [])))


def page_stats(path: Path) -> dict:
    """Counts for one page (notebook or Markdown) and the references found, with context."""
    found, visible, hidden = [], 0, 0
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    else:
        cells = [{"cell_type": "markdown", "source": path.read_text(encoding="utf-8")}]
    for n, cell in enumerate(cells):
        text = _source(cell)
        if cell["cell_type"] == "code":
            lines = sum(1 for line in text.splitlines() if line.strip())
            if _hidden(cell):
                hidden += lines
                continue
            visible += lines
        for m in find_refs(text, code=cell["cell_type"] == "code"):
            a, b = max(0, m.start() - 40), min(len(text), m.end() + 40)
            found.append((n, m.group(0), text[a:b].replace("\n", " ")))
    built = ROOT / "_build" / "html" / "book" / (path.stem + ".html")
    html_refs = None
    if built.exists():
        page = built.read_text(encoding="utf-8", errors="replace")
        main = page.split('<main', 1)[-1]
        text = html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style)\b.*?</\1>", " ", main, flags=re.S)))
        html_refs = len(PATTERN.findall(text))
    return {"refs": len(found), "html_refs": html_refs, "visible": visible, "hidden": hidden, "found": found}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--list", action="store_true", help="print every reference with its context")
    ap.add_argument("--json", type=Path, help="also write the table as JSON to this file")
    args = ap.parse_args(argv)
    pages = sorted(BOOK.glob("*.ipynb")) + sorted(BOOK.glob("*.md"))
    rows = {p.stem: page_stats(p) for p in pages}
    print(f"{'page':26s} {'refs':>5s} {'html refs':>9s} {'visible':>8s} {'hidden':>7s}")
    totals = {"refs": 0, "html_refs": 0, "visible": 0, "hidden": 0}
    for name, r in rows.items():
        hr = "-" if r["html_refs"] is None else str(r["html_refs"])
        print(f"{name:26s} {r['refs']:5d} {hr:>9s} {r['visible']:8d} {r['hidden']:7d}"
              + ("   (errata appendix: references belong here)" if name in APPENDIX else ""))
        if name not in APPENDIX:
            for key in totals:
                totals[key] += r[key] or 0
    print(f"{'total outside the appendix':26s} {totals['refs']:5d} {totals['html_refs']:9d} "
          f"{totals['visible']:8d} {totals['hidden']:7d}")
    if args.list:
        for name, r in rows.items():
            if name in APPENDIX:
                continue
            for cell, word, context in r["found"]:
                print(f"{name} cell {cell}: [{word}] ...{context}...")
    if args.json:
        args.json.write_text(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "found"} for k, v in rows.items()},
                                        indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
