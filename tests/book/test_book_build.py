"""The book is part of the product: it must build with no warning, list every
chapter, cite only known references and carry its own MathJax.

The build here is the same full `-W -n --keep-going --all` build as `make book`,
into _build/html (tests/test_browser.py then opens what it produced).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import BUILD_HTML, ROOT, build_book, toc_docnames

pytestmark = pytest.mark.book

REQUIRED_BIB_KEYS = {
    "bishop2006", "blei2017", "winn2005", "hoffman2013", "kingma2014", "williams1992",
    "minka2001", "hoffman2018", "jordan1999", "wainwright2008", "ranganath2014",
    "titsias2014", "murphy2012", "tipping2001", "mackay1992",
}


def _source_of(docname: str) -> Path | None:
    for suffix in (".md", ".ipynb"):
        path = ROOT / f"{docname}{suffix}"
        if path.exists():
            return path
    return None


def test_toc_entries_exist_and_every_page_is_listed():
    listed = toc_docnames()
    assert len(listed) == len(set(listed)), f"_toc.yml lists a page twice: {listed}"
    missing = [name for name in listed if _source_of(name) is None]
    assert not missing, f"_toc.yml lists pages that do not exist: {missing}"
    pages = {
        p.relative_to(ROOT).with_suffix("").as_posix()
        for p in (ROOT / "book").rglob("*")
        if p.suffix in {".md", ".ipynb"} and not any(part.startswith(".") for part in p.parts)
    }
    orphans = sorted(pages - set(listed))
    # only_build_toc_files is on: a page missing from the toc would silently vanish from the book.
    assert not orphans, f"pages under book/ missing from _toc.yml: {orphans}"


def test_bibliography_has_every_key_the_book_uses():
    import pybtex.database

    bib = pybtex.database.parse_file(str(ROOT / "book" / "references.bib"))
    keys = set(bib.entries)
    assert REQUIRED_BIB_KEYS <= keys, f"missing entries: {sorted(REQUIRED_BIB_KEYS - keys)}"
    for key, entry in bib.entries.items():
        assert entry.fields.get("title"), f"{key}: no title"
        assert entry.fields.get("year"), f"{key}: no year"
        assert entry.persons.get("author"), f"{key}: no author"
    cited: set[str] = set()
    cite_role = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]+)`")
    for path in (ROOT / "book").rglob("*"):
        if path.suffix in {".md", ".ipynb"}:
            for group in cite_role.findall(path.read_text(encoding="utf-8")):
                cited.update(k.strip() for k in group.split(","))
    unknown = sorted(cited - keys)
    assert not unknown, f"cited but not in book/references.bib: {unknown}"


# Printed by every ipykernel 7 kernel on its own stderr when started over TCP (as
# nbclient does); it is about the kernel transport, not about the book.
KNOWN_KERNEL_NOISE = re.compile(r"^\[IPKernelApp\] WARNING \| Kernel is running over TCP without encryption")


ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def warning_lines(output: str) -> list[str]:
    """Lines of the build log that report a warning or an error (colour codes removed)."""
    return [
        line
        for line in ANSI_ESCAPE.sub("", output).splitlines()
        if ("WARNING" in line or "ERROR" in line) and not KNOWN_KERNEL_NOISE.match(line.strip())
    ]


def test_warning_filter_keeps_sphinx_warnings():
    log = (
        "\x1b[91m[IPKernelApp] WARNING | Kernel is running over TCP without encryption. All communication ...\n"
        "\x1b[91mbook/gmm.ipynb:12: WARNING: undefined label: 'eq-elbo'\x1b[39;49;00m\n"
        "reading sources... [ 50%] book/intro\n"
    )
    assert warning_lines(log) == ["book/gmm.ipynb:12: WARNING: undefined label: 'eq-elbo'"]


def test_book_builds_with_no_warning():
    result = build_book()
    output = result.stdout + result.stderr
    warnings = warning_lines(output)
    assert result.returncode == 0, "jupyter-book build failed:\n" + "\n".join(warnings or output.splitlines()[-60:])
    assert not warnings, "the build printed warnings:\n" + "\n".join(warnings)
    for name in toc_docnames():
        assert (BUILD_HTML / f"{name}.html").exists(), f"{name}.html was not built"


def test_built_pages_load_mathjax_from_the_build_not_a_cdn():
    pages = [BUILD_HTML / f"{name}.html" for name in toc_docnames()]
    assert pages and all(p.exists() for p in pages), "build the book first (test_book_builds_with_no_warning)"
    script = re.compile(r'<script[^>]*src="([^"]*tex-mml-chtml\.js)[^"]*"', re.IGNORECASE)
    pages_with_math = 0
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert "cdn.jsdelivr.net" not in html and "mathjax@3" not in html, f"{page.name} refers to a MathJax CDN"
        if 'class="math' not in html:
            continue  # Sphinx loads MathJax only on pages that have math
        pages_with_math += 1
        sources = script.findall(html)
        assert len(sources) == 1, f"{page.name}: expected one MathJax script, found {sources}"
        target = (page.parent / sources[0].split("?")[0]).resolve()
        assert target.is_file(), f"{page.name}: MathJax script {sources[0]} is not in the build"
        assert BUILD_HTML.resolve() in target.parents
    assert pages_with_math, "no page has math: the MathJax set-up is not exercised"
    fonts = list((BUILD_HTML / "mathjax" / "output" / "chtml" / "fonts").rglob("*.woff"))
    assert fonts, "MathJax CHTML fonts are missing from the build"


PLOTTING_CALL = re.compile(r"\bplt\.(plot|subplots|figure|scatter|hist|imshow|contour|semilogy|loglog)\b|\.plot\(")


def test_chapters_that_plot_show_their_figures():
    """A notebook that draws must show an image in its page. (With MPLBACKEND=Agg
    in the kernel's environment, for instance, every figure silently disappears.)"""
    import json

    checked = 0
    for name in toc_docnames():
        source = _source_of(name)
        if source is None or source.suffix != ".ipynb":
            continue
        cells = json.loads(source.read_text(encoding="utf-8"))["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        if not PLOTTING_CALL.search(code):
            continue
        page = BUILD_HTML / f"{name}.html"
        assert page.exists(), f"{name}.html was not built"
        images = re.findall(r'<img[^>]+src="([^"]*_images/[^"]+)"', page.read_text(encoding="utf-8"))
        assert images, f"{name} plots, but its page shows no figure"
        checked += 1
    print(f"{checked} plotting chapters show their figures")
