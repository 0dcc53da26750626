"""Issue 5: every chapter links the ledger entries it relies on, and marks every engine
derivation chain it displays as checked.

A static check of the chapter notebooks under ``book/`` (the notebooks themselves are run by
nbval, which is where the links are resolved and the badges actually run the step checks):

* each chapter has at least one *generated* ledger link: a call of
  ``vi_ledger.display_links``, ``ledger_links`` or ``ledger_links_html`` in a code
  cell (links typed into markdown do not count); every literal selector passed to it is a
  ledger id, topic or document; and the MyST variants sit in a cell whose outputs MyST-NB
  parses as MyST (cell metadata, notebook metadata, or ``nb_render_markdown_format`` in
  _config.yml), otherwise the ``{ref}`` roles would be printed as text;
* every code cell that renders an engine chain (``<derivation>.chains[...]``,
  ``.chains.items()/.values()``, or ``<derivation>.markdown()``) also runs the ledger's step
  check in the same cell: ``chain_badge(model, name)`` displayed via ``Markdown``/``display``
  (the documented way), or ``check_chain`` / ``check_derivation`` with an ``assert``.
  A chain named by a string literal must be badged by that same name.

The checks are functions returning a list of problems, so the tests at the bottom can show
that they fail on temporary notebooks that lack the links or the badges.
"""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parents[2] / "book"

#: Chapters of the planned table of contents (a missing file is skipped: it is not written yet).
NAMED_CHAPTERS = (
    "approximate_inference", "kl_divergence", "elbo", "mean_field_cavi", "gmm", "gmm_prior_mean",
    "gmm_1d_vbem", "linear_regression_ard", "linear_gaussian_2d", "normal_normal",
    "derive_your_own", "stochastic_vi",
)
#: Notebooks under book/ that are not chapters relying on syllabus claims.
NOT_CHAPTERS = {
    "appendix_ledger",   # the ledger itself: every entry is displayed there
    "benchmarks",        # speed measurements, no mathematical claim of the syllabus
}

LINK_FUNCTIONS = {"display_links", "ledger_links", "ledger_links_html"}
BADGE_FUNCTIONS = {"chain_badge", "check_chain", "check_derivation"}
DISPLAY_FUNCTIONS = {"display", "Math", "Markdown", "HTML", "Latex", "print"}


def chapter_names() -> list[str]:
    found = {p.stem for p in BOOK.glob("*.ipynb")} - NOT_CHAPTERS
    return sorted(found | set(NAMED_CHAPTERS))


# ------------------------------------------------------------------ parsing
def _code(cell) -> str:
    src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    # IPython magics and shell escapes are not Python
    return "\n".join("" if l.lstrip().startswith(("%", "!")) else l for l in src.splitlines())


def _tree(cell):
    try:
        return ast.parse(_code(cell))
    except SyntaxError:
        return None


def _name(func) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _calls(tree, names):
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and _name(n.func) in names]


def _literal_strings(node) -> list[str] | None:
    """String constants in a literal argument (str, or list/tuple/set of str); None if not literal."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        out = []
        for el in node.elts:
            sub = _literal_strings(el)
            if sub is None:
                return None
            out += sub
        return out
    return None


def _book_renders_myst() -> bool:
    """Whether _config.yml makes MyST-NB parse every Markdown output as MyST (nb_render_markdown_format)."""
    config = BOOK.parent / "_config.yml"
    if not config.exists():
        return False
    text = config.read_text(encoding="utf-8")
    return re.search(r"^\s*nb_render_markdown_format:\s*['\"]?myst['\"]?\s*(#.*)?$", text, re.M) is not None


def _myst_cell(nb, cell, book_default=None) -> bool:
    """Whether MyST-NB parses this cell's Markdown outputs as MyST (cell, notebook, then book setting)."""
    cell_fmt = cell.get("metadata", {}).get("mystnb", {}).get("markdown_format")
    nb_fmt = nb.get("metadata", {}).get("mystnb", {}).get("render_markdown_format")
    if cell_fmt is not None:
        return cell_fmt == "myst"
    if nb_fmt is not None:
        return nb_fmt == "myst"
    return _book_renders_myst() if book_default is None else book_default


def _rendered_chains(tree) -> list[str]:
    """Names of the engine chains a cell touches ('*' for a name that is not a string literal)."""
    out = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Subscript) and isinstance(n.value, ast.Attribute) and n.value.attr == "chains":
            key = n.slice
            out.append(key.value if isinstance(key, ast.Constant) and isinstance(key.value, str) else "*")
        elif (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
              and n.func.attr in ("items", "values", "get") and isinstance(n.func.value, ast.Attribute)
              and n.func.value.attr == "chains"):
            out.append("*")
        elif (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "markdown"
              and not n.args and not n.keywords):
            out.append("*")
    return out


def _displays(tree) -> bool:
    for n in ast.walk(tree):
        if isinstance(n, ast.Call):
            name = _name(n.func) or ""
            if name in DISPLAY_FUNCTIONS or "show" in name.lower():
                return True
    return False


def _inside_display(tree, call) -> bool:
    for outer in _calls(tree, {"Markdown", "display", "HTML"}):
        if any(n is call for n in ast.walk(outer)):
            return True
    return False


# ------------------------------------------------------------------ the checks
def link_problems(nb, book_default=None) -> list[str]:
    """Problems with the generated ledger links of one notebook ([] when all is well).

    ``book_default``: whether Markdown outputs are MyST when neither the cell nor the notebook
    says (None: read it from _config.yml)."""
    from vi_ledger import entries_for

    problems, n_links = [], 0
    for idx, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        tree = _tree(cell)
        if tree is None:
            continue
        for call in _calls(tree, LINK_FUNCTIONS):
            n_links += 1
            html = _name(call.func) == "ledger_links_html" or any(
                k.arg == "html" and isinstance(k.value, ast.Constant) and k.value.value is True
                for k in call.keywords)
            if not html and not _myst_cell(nb, cell, book_default):
                problems.append(f"cell {idx}: {_name(call.func)} renders MyST {{ref}} links, but its output is not "
                                f'parsed as MyST: set the cell metadata {{"mystnb": {{"markdown_format": "myst"}}}} '
                                f'(or the notebook\'s "render_markdown_format", or nb_render_markdown_format in _config.yml)')
            if not call.args:
                problems.append(f"cell {idx}: {_name(call.func)}() without any ledger id, topic or document")
            for arg in call.args:
                for sel in _literal_strings(arg) or []:
                    try:
                        entries_for(sel)
                    except ValueError as exc:
                        problems.append(f"cell {idx}: {exc}")
    if n_links == 0:
        problems.append("no generated ledger link (display_links / ledger_links / ledger_links_html in a code cell)")
    return problems


def badge_problems(nb) -> list[str]:
    """Cells that render an engine chain without running the ledger's step check ([] if none)."""
    problems = []
    for idx, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        tree = _tree(cell)
        if tree is None:
            continue
        chains = _rendered_chains(tree)
        if not chains or not _displays(tree):
            continue
        badges = _calls(tree, BADGE_FUNCTIONS)
        has_assert = any(isinstance(n, ast.Assert) for n in ast.walk(tree))
        usable, badged, wildcard = [], set(), False
        for b in badges:
            kind = _name(b.func)
            if kind == "chain_badge" and not _inside_display(tree, b):
                problems.append(f"cell {idx}: chain_badge(...) is computed but not displayed (wrap it in Markdown(...))")
                continue
            if kind in ("check_chain", "check_derivation") and not has_assert:
                problems.append(f"cell {idx}: {kind}(...) without an assert on its result")
                continue
            usable.append(b)
            if kind == "check_derivation":
                wildcard = True
            elif len(b.args) >= 2:
                arg = b.args[1]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    badged.add(arg.value)
                else:
                    wildcard = True
        if not usable:
            problems.append(f"cell {idx}: renders engine chain(s) {sorted(set(chains))} without the ledger's "
                            f"step check (chain_badge)")
            continue
        missing = sorted({c for c in chains if c != "*" and c not in badged}) if not wildcard else []
        if missing:
            problems.append(f"cell {idx}: renders chain(s) {missing} but badges only {sorted(badged)}")
    return problems


def _load(name):
    path = BOOK / f"{name}.ipynb"
    if not path.exists():
        pytest.skip(f"book/{name}.ipynb is not written yet")
    return json.loads(path.read_text(encoding="utf-8"))


# ------------------------------------------------------------------ the chapters
def test_the_chapters_are_found():
    names = chapter_names()
    for core in ("approximate_inference", "kl_divergence", "elbo", "mean_field_cavi", "gmm", "stochastic_vi"):
        assert core in names and (BOOK / f"{core}.ipynb").exists(), core
    assert "appendix_ledger" not in names


@pytest.mark.parametrize("name", chapter_names())
def test_chapter_links_the_ledger(name):
    problems = link_problems(_load(name))
    assert not problems, f"book/{name}.ipynb:\n" + "\n".join(problems)


@pytest.mark.parametrize("name", chapter_names())
def test_every_displayed_chain_is_badged(name):
    problems = badge_problems(_load(name))
    assert not problems, f"book/{name}.ipynb:\n" + "\n".join(problems)


# ------------------------------------------------------------------ the checks can fail
def _nb(*cells, nb_meta=None):
    return {"cells": list(cells), "metadata": nb_meta or {}, "nbformat": 4, "nbformat_minor": 5}


def _code_cell(src, myst=False):
    meta = {"mystnb": {"markdown_format": "myst"}} if myst else {}
    return {"cell_type": "code", "execution_count": None, "metadata": meta, "outputs": [], "source": src}


def _md_cell(src):
    return {"cell_type": "markdown", "metadata": {}, "source": src}


GOOD_LINKS = 'from vi_ledger import display_links\ndisplay_links("doc000-eq8", "kl")'
CHAIN = 'd = vd.derive(M)\ndisplay(Math(d.chains["update_mu"].latex()))'
BADGE = '\ndisplay(Markdown(chain_badge(M, "update_mu")))'


def test_checks_accept_a_good_notebook(tmp_path):
    path = tmp_path / "good.ipynb"
    path.write_text(json.dumps(_nb(_code_cell(CHAIN + BADGE), _code_cell(GOOD_LINKS, myst=True))))
    nb = json.loads(path.read_text())
    assert link_problems(nb) == [] and badge_problems(nb) == []


def test_checks_fail_without_links(tmp_path):
    # typed {ref} links in markdown do not count: the links must come from the registry
    path = tmp_path / "no_links.ipynb"
    path.write_text(json.dumps(_nb(_md_cell("See {ref}`doc000-eq8 <doc000-eq8>`."), _code_cell("x = 1"))))
    problems = link_problems(json.loads(path.read_text()))
    assert problems and "no generated ledger link" in problems[0]


def test_checks_fail_on_unknown_ids_and_missing_myst_metadata():
    problems = link_problems(_nb(_code_cell('display_links("doc000-eq8", "no-such-entry")')), book_default=False)
    assert any("no-such-entry" in p for p in problems)
    assert any("markdown_format" in p for p in problems)
    # the notebook-level or book-level setting, or HTML links, need no cell metadata
    assert link_problems(_nb(_code_cell(GOOD_LINKS), nb_meta={"mystnb": {"render_markdown_format": "myst"}}),
                         book_default=False) == []
    assert link_problems(_nb(_code_cell(GOOD_LINKS)), book_default=True) == []
    assert link_problems(_nb(_code_cell('display_links("kl", html=True)')), book_default=False) == []
    # a cell that asks for commonmark overrides the book's default
    commonmark = _code_cell(GOOD_LINKS)
    commonmark["metadata"] = {"mystnb": {"markdown_format": "commonmark"}}
    assert link_problems(_nb(commonmark), book_default=True)


def test_checks_fail_on_an_unbadged_chain(tmp_path):
    path = tmp_path / "no_badge.ipynb"
    path.write_text(json.dumps(_nb(_code_cell(CHAIN), _code_cell(GOOD_LINKS, myst=True))))
    problems = badge_problems(json.loads(path.read_text()))
    assert problems and "update_mu" in problems[0]
    # other spellings of a displayed chain are caught too
    for src in ('show_chain(derivation.chains[name])',
                'for n, ch in d.chains.items():\n    display(Math(ch.latex()))',
                'display(Markdown(d.markdown()))'):
        assert badge_problems(_nb(_code_cell(src))), src


def test_checks_fail_on_a_badge_for_another_chain_or_an_undisplayed_one():
    wrong = badge_problems(_nb(_code_cell(CHAIN + '\ndisplay(Markdown(chain_badge(M, "update_c")))')))
    assert wrong and "update_mu" in wrong[0]
    hidden = badge_problems(_nb(_code_cell(CHAIN + '\nchain_badge(M, "update_mu")')))
    assert hidden and "not displayed" in hidden[0]
    unasserted = badge_problems(_nb(_code_cell(CHAIN + '\nres = check_chain(M, "update_mu", d.chains["update_mu"])')))
    assert unasserted and "assert" in unasserted[0]
    # the documented equivalents pass
    asserted = CHAIN + '\nassert all(r.checked and r.ok for r in check_chain(M, "update_mu", d.chains["update_mu"]))'
    assert badge_problems(_nb(_code_cell(asserted))) == []
    assert badge_problems(_nb(_code_cell(CHAIN + '\nassert all(r.ok for r in check_derivation(M))'))) == []
