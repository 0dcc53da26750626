"""Laying the engine's LaTeX out on the page.

A display is ``lhs rel rhs``. The right-hand side comes from the engine (``vi_derivations.latex``,
which prints the proved textbook form of an expression) or is a LaTeX string; a long one is broken
at its top-level ``+`` and ``-`` signs into rows of at most ``budget`` typeset characters, so an
equation fits a phone's column (about 40 characters at 400 px) instead of running off it. Every
row is then fitted to the laptop column (:data:`vi_book.layout.LINE_EM`, from MathJax widths measured
in Chromium): a row still too wide is broken inside, at its relations, its terms, its widest
bracket or its widest fraction (:func:`vi_book.layout.fit_row`), so no display needs a scroll bar
at 1280 px.
:func:`show_chain` prints a derivation chain of the engine and checks every step of it
(:func:`vi_derivations.chain_check.check_chain`) before anything is shown: a step that fails or
cannot be checked raises ``AssertionError`` and so fails the build.
"""
from __future__ import annotations

import inspect
import re

from .layout import LINE_EM, _cut, _relation_cuts, fit_row, typeset_em

__all__ = ["RELATION", "break_latex", "visual_width", "aligned", "fit_display", "show", "show_equations",
           "show_chain", "chain_mark", "badge_words", "show_source", "BUDGET"]

#: The symbol printed between two steps of a chain ("\doteq": equal up to an additive constant).
RELATION = {"=": "=", "=support": "=", "=E": "=", "+const": r"\doteq", ">=": r"\geq"}
#: Typeset characters per row: what fits a 400 px column at MathJax's display size.
BUDGET = 34

_OPEN = {"{": "}", "(": ")", "[": "]"}
_CLOSE = set(_OPEN.values())


def visual_width(tex: str) -> int:
    """A rough count of the characters a LaTeX string occupies when typeset (a fraction counts
    its longer half, a command one character, braces and scripts nothing)."""
    if not isinstance(tex, str):
        raise TypeError(f"tex must be a str, not {type(tex).__name__}")
    prev = None
    while prev != tex:   # innermost fractions first
        prev = tex
        tex = re.sub(r"\\[dt]?frac\{([^{}]*)\}\{([^{}]*)\}", lambda g: max(g.groups(), key=len), tex)
    tex = re.sub(r"\\substack\{[^{}]*\}", "xxxxx", tex)
    tex = re.sub(r"\\(left|right|big|Big|bigg|Bigg)\b\\?.?", "", tex)
    tex = re.sub(r"\\(quad|qquad)\b", "xx", tex)
    tex = re.sub(r"\\(,|;|!|:)", "", tex)
    tex = re.sub(r"\\(operatorname|mathrm|mathbb|mathcal|text|boldsymbol)\{([^{}]*)\}", r"\2", tex)
    tex = re.sub(r"\\[a-zA-Z]+", "x", tex)
    return len(re.sub(r"[{}^_ &]", "", tex))


def _terms(tex: str) -> list[str]:
    """The top-level terms of a LaTeX sum, each with its sign (``"- a"``, ``"+ b"``; the first
    keeps its own sign or none). Signs inside braces, brackets, parentheses or a
    ``\\left ... \\right`` pair do not split, nor does a unary sign after another operator."""
    terms, start, depth, i = [], 0, 0, 0
    n = len(tex)
    while i < n:
        ch = tex[i]
        if tex.startswith(r"\left", i) and not tex[i + 5:i + 6].isalpha():
            depth += 1
            i += 6
            continue
        if tex.startswith(r"\right", i) and not tex[i + 6:i + 7].isalpha():
            depth -= 1
            i += 7
            continue
        if tex.startswith(r"\begin", i) or tex.startswith(r"\end", i):   # an environment is one group
            depth += 1 if tex[i + 1] == "b" else -1
            i += 6 if tex[i + 1] == "b" else 4
            continue
        if ch == "\\":                       # a command or an escaped character: skip it whole
            j = i + 1
            while j < n and tex[j].isalpha():
                j += 1
            i = max(j, i + 2)
            continue
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth -= 1
        elif ch in "+-" and depth == 0:
            before = tex[start:i].strip()
            if before and not re.search(r"(=|\\doteq|[-+(,&]|\\cdot|\\times)$", before):
                terms.append(before)
                start = i
        i += 1
    terms.append(tex[start:].strip())
    return [t for t in terms if t]


def break_latex(tex: str, budget: int = BUDGET) -> list[str]:
    """Rows of a long LaTeX sum, broken before a top-level ``+``/``-`` so that no row is wider
    than ``budget`` typeset characters unless a single term is (which then has a row of its own)."""
    if not isinstance(tex, str):
        raise TypeError(f"tex must be a str, not {type(tex).__name__}")
    if not isinstance(budget, int) or budget < 8:
        raise ValueError(f"budget must be an int >= 8, got {budget!r}")
    wrapped = re.fullmatch(r"(\\mathbb\{E\}_\{[^{}]*\})\\left\[(.*)\\right\]", tex.strip(), re.S)
    if wrapped and len(_terms(tex)) == 1 and visual_width(tex) > budget:   # E_q[long sum]: open it up
        rows = break_latex(wrapped.group(2), budget - 3)
        rows[0] = wrapped.group(1) + r"\Big[" + rows[0]
        rows[-1] += r"\Big]"
        return rows
    rows, row = [], ""
    for term in _terms(tex):
        piece = term if not row else " " + (term if term[0] in "+-" else "+ " + term)
        if row and visual_width(row + piece) > budget:
            rows.append(row)
            row = term
        else:
            row += piece
    rows.append(row)
    return rows


def _tex(obj) -> str:
    if isinstance(obj, str):
        return obj
    from vi_derivations import latex
    return latex(obj)


def _rows(obj, budget: int) -> list[str]:
    """Rows of a right-hand side: the engine's own break between the terms of its typeset form
    (``vi_derivations.render.latex_rows``) for an expression, :func:`break_latex` for LaTeX."""
    if not isinstance(obj, str):
        try:
            from vi_derivations.render import latex_rows
            rows = latex_rows(obj, budget)
            if rows and all(isinstance(r, str) and r for r in rows):
                return rows
        except (ImportError, TypeError, ValueError, AttributeError):   # a shape the engine does not break
            pass
    return break_latex(_tex(obj), budget)


_LEAD = re.compile(r"^(=|\\doteq|\\approx|\\leq|\\geq|\\propto|\\leftarrow|\\Longrightarrow|\\Rightarrow)\s*")


def _continued(fitted) -> str:
    """Continuation rows after the first: a row that starts with a relation is aligned on it,
    any other is indented (one more ``\\quad`` per bracket level it sits in), and a leading
    ``+``/``-`` gets an empty operand ``{}`` before it so that it is spaced as the binary sign it is."""
    return "".join(r"\\ &" + t if ind == 0 and _LEAD.match(t) else r"\\ &\qquad " + r"\quad " * ind
                   + ("{} " if t[:1] in "+-" else "") + t for ind, t in fitted)


def _equation(left: str, rel: str, rows: list[str], more=()) -> str:
    """The aligned rows of ``left rel rows`` (then of each ``(rel, rows)`` of ``more``, a chain
    ``left = a = b``): a wide left side gives its own relations rows of their own
    (``KL = E[.] - E[.]`` / ``= ...``), and every row is fitted to the column
    (:func:`vi_book.layout.fit_row`), continuation rows indented."""
    lines = [(rel, rows), *more]
    if typeset_em(left) > LINE_EM * 0.4:
        pieces = _cut(left, _relation_cuts(left))
        if len(pieces) > 1 and all(_LEAD.match(p) for p in pieces[1:]):
            left = pieces[0]
            lines = [(_LEAD.match(p).group(1), [p[_LEAD.match(p).end():]]) for p in pieces[1:]] + lines
    avail = max(LINE_EM / 3, LINE_EM - typeset_em(left) - 3.0)   # the \qquad, a "{}" before a sign
    body = []
    for k, (r, rws) in enumerate(lines):
        fitted = [(ind, t) for row in rws for ind, t in fit_row(row, avail)]
        body.append((left + " " if k == 0 else "") + f"&{r} {fitted[0][1]}" + _continued(fitted[1:]))
    return r"\\ ".join(body)


def aligned(lhs, rhs, rel: str = "=", budget: int = BUDGET) -> str:
    """``\\begin{aligned} lhs &rel row_1 \\\\ &\\qquad row_2 ... \\end{aligned}``: the LaTeX of one
    display, the right-hand side broken into rows (``lhs``, ``rhs``: SymPy objects or LaTeX)."""
    left = _tex(lhs)
    rows = _rows(rhs, max(8, budget - visual_width(left) // 2))
    return r"\begin{aligned}" + _equation(left, rel, rows) + r"\end{aligned}"


_ALIGNED = re.compile(r"\s*\\begin\{aligned\}(.*)\\end\{aligned\}\s*", re.S)


def fit_display(tex: str, budget: int = BUDGET) -> str:
    """The LaTeX of a whole display ``tex`` laid out for the column: an ``aligned`` block has each
    of its rows fitted; otherwise a long sum is broken at its terms into rows of ``budget``
    characters and, when it is still too wide, at its top-level relations and inside (see
    :func:`_equation`). A display that fits is returned unchanged."""
    if not isinstance(tex, str):
        raise TypeError(f"tex must be a str, not {type(tex).__name__}")
    whole = _ALIGNED.fullmatch(tex)
    if whole and not re.search(r"\\(begin|end)\{aligned\}", whole.group(1)):
        if typeset_em(tex) <= LINE_EM:
            return tex
        from .layout import _split_top
        lines = [_split_top(line, "&") for line in _split_top(whole.group(1), r"\\")]
        if any(len(cells) > 2 for cells in lines):
            return tex
        width = max(typeset_em(cells[0]) for cells in lines if len(cells) == 2) if any(
            len(c) == 2 for c in lines) else 0.0
        avail = max(LINE_EM / 3, LINE_EM - width - 3.0)
        body = []
        for cells in lines:
            head, rest = (cells[0], cells[1]) if len(cells) == 2 else ("", cells[0])
            gap = re.match(r"\s*(\[[^\]]*\])?", head if len(cells) == 2 else rest)
            if len(cells) == 2:
                head = head[gap.end():]
            else:
                rest = rest[gap.end():]
            indent = re.match(r"\s*((\\q?quad\s*)*)", rest)
            fitted = fit_row(rest[indent.end():].strip(), avail - 2.0 * bool(indent.group(1)))
            body.append((gap.group(1) or "") + f"{head}&{indent.group(1)}{fitted[0][1]}" + _continued(fitted[1:]))
        return r"\begin{aligned}" + r"\\".join(body) + r"\end{aligned}"
    rows = break_latex(tex, budget)
    if len(rows) == 1 and typeset_em(tex) <= LINE_EM:
        return tex
    pieces = _cut(tex, _relation_cuts(tex))
    if len(pieces) > 1 and _LEAD.match(pieces[1]):
        lines = []                                     # (relation, right-hand side) of each step
        for piece in pieces[1:]:
            m = _LEAD.match(piece)
            if m:
                lines.append([m.group(1), piece[m.end():]])
            else:                                      # ", \qquad" or a note: stays with its step
                lines[-1][1] += " " + piece
        left = pieces[0]
        size = max(8, budget - visual_width(left) // 2)
        (rel, first), *more = lines
        return r"\begin{aligned}" + _equation(left, rel, break_latex(first, size),
                                              [(r, break_latex(t, size)) for r, t in more]) + r"\end{aligned}"
    if typeset_em(tex) <= LINE_EM and len(rows) > 1:
        return r"\begin{aligned}&" + rows[0] + "".join(rf"\\ &\qquad {r}" for r in rows[1:]) + r"\end{aligned}"
    fitted = [(ind, t) for row in rows for ind, t in fit_row(row, LINE_EM - 3.0)]
    return r"\begin{aligned}&" + fitted[0][1] + _continued(fitted[1:]) + r"\end{aligned}"


def _display(obj):
    from IPython.display import display
    display(obj)


def show(lhs, rhs=None, rel: str = "=", budget: int = BUDGET) -> None:
    """Display ``lhs rel rhs`` (or the display ``lhs`` alone, laid out by :func:`fit_display`), a long
    right-hand side broken into rows that fit the column."""
    from IPython.display import Math
    if rhs is None:
        _display(Math(fit_display(_tex(lhs), budget)))
    else:
        _display(Math(aligned(lhs, rhs, rel, budget)))


def show_update(update, rel: str = r"\leftarrow", budget: int = BUDGET) -> None:
    """Display every assignment of an engine update (a CAVI update or a bound parameter's), each
    with the engine's rows; a matrix or statistic another assignment of the same update defines is
    written by that assignment's symbol (``m = S (...)``), as the engine proves it under that
    definition (``vi_derivations.latex(..., given=...)``)."""
    from IPython.display import Math
    from vi_derivations.render import latex, latex_rows
    given = tuple(update.assignments)
    body = []
    for eq in given:
        whole = latex(eq, given=given)              # "lhs = rhs", the lhs in the display's own form
        left, rhs = whole.split(" = ", 1) if " = " in whole else (latex(eq.lhs), whole)
        try:
            rows = latex_rows(eq, max(8, budget - visual_width(left) // 2), given=given)
            rows[0] = rows[0].split(" = ", 1)[1] if rows[0].startswith(left + " = ") else rows[0]
            rhs_rows = rows if "".join(rows) == rhs else break_latex(rhs, budget)
        except (TypeError, ValueError, AttributeError):   # a shape the engine does not break
            rhs_rows = break_latex(rhs, budget)
        body.append(_equation(left, rel, rhs_rows))
    _display(Math(r"\begin{aligned}" + r"\\[2pt] ".join(body) + r"\end{aligned}"))


def show_equations(pairs, rel: str = "=", budget: int = BUDGET) -> None:
    """Display several ``(lhs, rhs)`` pairs as one aligned block, each right-hand side broken."""
    from IPython.display import Math
    pairs = list(pairs)
    if not pairs:
        raise ValueError("pairs must hold at least one (lhs, rhs) pair")
    body = []
    for lhs, rhs in pairs:
        left = _tex(lhs)
        rows = _rows(rhs, max(8, budget - visual_width(left) // 2))
        body.append(_equation(left, rel, rows))
    _display(Math(r"\begin{aligned}" + r"\\[2pt] ".join(body) + r"\end{aligned}"))


_HOW = {
    "=": "equal at random points",
    "=support": "equal at random points where every indicator is one-hot",
    "=E": "the average of the previous line under draws from q matches it",
    "+const": "the difference has zero derivative in every variational parameter",
    ">=": "the new line is below the previous one at random points (a lower bound)",
}


def badge_words(n_steps: int) -> str:
    """The words of the mark under a checked derivation of ``n_steps`` steps: what was checked, by
    whom and when (the collapsed box at the end of a page says how each kind of step is checked)."""
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
        raise ValueError(f"n_steps must be an int >= 1, got {n_steps!r}")
    which = "The one step" if n_steps == 1 else f"Each of the {n_steps} steps"
    return f"{which} checked at random points by the engine when this page was built."


def check_words(relations) -> str:
    """How the steps of a chain were checked, in words (``relations``: the step relations)."""
    return "; ".join(f"“{RELATION[r].replace(chr(92) + 'doteq', '≐')}” steps: {_HOW[r]}"
                     for r in sorted(set(relations)) if r in _HOW)


def _use_letters_of(model) -> None:
    """Print with ``model``'s own LaTeX names. The engine's printer reads one table of names that
    the most recently built model filled in; two models may give one Python name two letters
    (``sigma2`` is the prior variance tau^2 of one mixture and the noise variance sigma^2 of
    another), so a chain is shown with the names of the model it belongs to."""
    model.use_letters()


def show_chain(model, name: str, derivation=None, budget: int = BUDGET, checks=None, title: str | None = None,
               exact: bool = False):
    """Check every step of the engine's chain ``name`` for ``model``, then display it: its title,
    one display per step (a step that leaves the expression unchanged is skipped) and a one-line
    mark saying how many steps were checked. ``exact``: leave out the steps that drop additive
    constants (for a quantity whose value matters, such as a divergence). Returns the step checks."""
    from IPython.display import Markdown

    import vi_derivations as vd
    from vi_derivations.chain_check import check_chain

    from .verify import Checks

    derivation = vd.derive(model) if derivation is None else derivation
    if name not in derivation.chains:
        raise ValueError(f"name must be one of the derivation's chains {sorted(derivation.chains)}, got {name!r}")
    _use_letters_of(model)
    chain = derivation.chains[name]
    if exact:
        from vi_derivations.derivation import Chain
        chain = Chain(chain.title, chain.lhs, [st for st in chain.steps if st.relation != "+const"], chain.wrt)
    results = check_chain(model, name, chain)
    bad = [r for r in results if not (r.checked and r.ok)]
    assert not bad, f"chain {name}: " + "; ".join(f"step {r.step} ({r.relation}): {r.detail}" for r in bad)
    _display(Markdown(f"**{title or chain.title}**"))
    lhs, previous, shown = _tex(chain.lhs), None, 0
    for step in chain.steps:
        tex = _tex(step.expr)
        if tex == previous:
            continue
        previous, shown = tex, shown + 1
        note = step.text[:1].upper() + step.text[1:] + "." if step.text else ""
        if note:
            _display(Markdown(f"*{note}*"))
        rows = _rows(step.expr, max(8, budget - (visual_width(lhs) // 2 if shown == 1 else 2)))
        left = lhs if shown == 1 else r"\phantom{=}"
        from IPython.display import Math
        _display(Math(r"\begin{aligned}" + _equation(left, RELATION[step.relation], rows) + r"\end{aligned}"))
    _display(Markdown(f"✔ *{badge_words(len(results))}*"))
    book = checks if checks is not None else Checks.active
    if book is not None:
        book.chain(title or chain.title, results)
    return results


def chain_mark(model, name: str) -> str:
    """Check every step of the engine's chain ``name`` for ``model`` (``AssertionError`` if one
    fails or cannot be checked) and return the one-line Markdown mark shown under a derivation."""
    import vi_derivations as vd
    from vi_derivations.chain_check import check_chain

    from .verify import Checks

    derivation = vd.derive(model)
    if name not in derivation.chains:
        raise ValueError(f"name must be one of the derivation's chains {sorted(derivation.chains)}, got {name!r}")
    results = check_chain(model, name, derivation.chains[name])
    bad = [r for r in results if not (r.checked and r.ok)]
    assert not bad, f"chain {name}: " + "; ".join(f"step {r.step} ({r.relation}): {r.detail}" for r in bad)
    if Checks.active is not None:
        Checks.active.chain(derivation.chains[name].title, results)
    words = badge_words(len(results))
    return f"✔ *{derivation.chains[name].title}: {words[0].lower()}{words[1:]}*"


def show_source(*functions) -> None:
    """Display the source of each function (read from the package, so the page cannot drift from
    the code the tests run), followed by the private worker ``_name`` it hands over to, if any."""
    from IPython.display import Markdown
    if not functions:
        raise ValueError("functions must name at least one function")
    blocks = []
    for f in functions:
        if not callable(f):
            raise TypeError(f"functions must be callables, got {type(f).__name__}")
        blocks.append(inspect.getsource(f).rstrip())
        worker = getattr(inspect.getmodule(f), "_" + f.__name__, None)
        if callable(worker):
            blocks.append(inspect.getsource(worker).rstrip())
    _display(Markdown("```python\n" + "\n\n\n".join(blocks) + "\n```"))
