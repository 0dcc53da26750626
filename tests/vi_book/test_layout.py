"""vi_book.layout: the typeset-width estimate and the breaking of a row too wide for the column."""
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vi_book.layout import EM_PX, LINE_EM, fit_row, strip_layout, typeset_em

# Displays measured in Chromium (MathJax 3.2.2 CHTML, the book's theme, 1280 px window): the width
# of the typeset mjx-math element in px, read from _build/html/_screenshots/overflow.json's run.
MEASURED_PX = [
    (r"\log p(x) = \frac{\log{\left(\sigma^{2} \right)}}{2} - \frac{\log{\left(N \tau^{2} + \sigma^{2} \right)}}{2}"
     r" + \frac{- N \sigma^{2} \tau^{2} \left(\log{\left(\sigma^{2} \right)} + \log{\left(2 \right)} + \log{\left(\pi"
     r" \right)}\right) - S_{xx} \tau^{2} - \mu_{0}^{2} \sigma^{2} + \frac{\left(S_{x} \tau^{2} + \mu_{0} \sigma^{2}"
     r"\right)^{2}}{N \tau^{2} + \sigma^{2}}}{2 \sigma^{2} \tau^{2}}", 966),
    (r"\operatorname{Var}[\hat g_{\text{rep}, \ell}] = \left(N^{2} m^{2} - 2 N S_{1} m + 2 N m^{2} + S_{1}^{2}"
     r" - 2 S_{1} m + m^{2} + \left(2 N^{2} + 4 N + 2\right) e^{2 \ell}\right) e^{2 \ell}", 751),
    (r"\begin{aligned}A(\lambda_{0}) &= - \log\Gamma\left(lam_{00} + lam_{01} + lam_{02}\right) + \log\Gamma\left("
     r"lam_{00}\right) + \log\Gamma\left(lam_{01}\right) + \log\Gamma\left(lam_{02}\right)\end{aligned}", 773),
    (r"\mathcal{L}_j + \lambda\Big(\sum_a q_a - 1\Big) = e_{1} q_{1} + e_{2} q_{2} + e_{3} q_{3} + \lambda \left("
     r"q_{1} + q_{2} + q_{3} - 1\right) - q_{1} \log{\left(q_{1} \right)} - q_{2} \log{\left(q_{2} \right)} - q_{3}"
     r" \log{\left(q_{3} \right)}", 881),
    (r"\begin{aligned}\mathbb{E}_q[\log q(w, \alpha)] &= \sum_{d} \left(\left(a_{d} - 1\right) \psi\left(a_{d}"
     r"\right) + \log b_{d} - \log\Gamma\left(a_{d}\right) - a_{d}\right) - \frac{D}{2} \log 2 \pi - \frac{D}{2}"
     r" - \frac{\log\lvert V\rvert}{2}\end{aligned}", 787),
]


@pytest.mark.parametrize("tex, px", MEASURED_PX)
def test_the_estimate_is_calibrated_on_widths_measured_in_the_browser(tex, px):
    """The estimate is within 15 % of MathJax's width and under it by at most 8 % (the margin
    LINE_EM keeps below the 676 px column)."""
    estimate = typeset_em(tex) * EM_PX
    assert 0.85 * px <= estimate <= 1.15 * px / 0.92
    assert estimate >= px * 0.92


def test_widths_follow_the_typesetting_rules():
    assert typeset_em(r"\frac{abc}{d}") == pytest.approx(typeset_em("abc") + 0.24)
    assert typeset_em("x^{abc}") < typeset_em("xabc")                  # scripts are smaller
    assert typeset_em(r"a + b") > typeset_em(r"ab") + 0.78              # spacing around a binary +
    assert typeset_em(r"\begin{aligned}a &= bbbb \\ cccccc &= d\end{aligned}") == pytest.approx(
        typeset_em("cccccc") + typeset_em("= bbbb"))                    # widest cell of each column
    with pytest.raises(TypeError, match="tex"):
        typeset_em(None)
    with pytest.raises(TypeError, match="row"):
        fit_row(3)


def _balanced(row: str) -> bool:
    """Braces balanced and every \\left matched by a \\right inside the row (an aligned row must be)."""
    depth = 0
    for ch in re.sub(r"\\[{}]", "", row):
        depth += (ch == "{") - (ch == "}")
        if depth < 0:
            return False
    lefts = len(re.findall(r"\\left(?![a-zA-Z])", row))
    return depth == 0 and lefts == len(re.findall(r"\\right(?![a-zA-Z])", row))


GROUPS = [r"\frac{a_{1} + b}{c - d}", r"\sqrt{x + y - 1}", r"x_{i + 1}", r"\left(u - v\right)^{2}",
          r"\log\left(1 + e^{-t}\right)", r"\mathbb{E}_{q}\left[z - m\right]", r"\beta_{0} m_{0}"]


def _sum(indices) -> str:
    return " ".join((("- " if k % 3 == 1 else "+ ") if n else "") + GROUPS[k % len(GROUPS)] + f" y_{{{n}}}"
                    for n, k in enumerate(indices))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 20), min_size=2, max_size=40), st.floats(8.0, 40.0))
def test_a_long_sum_breaks_at_top_level_terms_only(indices, avail):
    tex = _sum(indices)
    rows = fit_row(tex, avail)
    texts = [r for _, r in rows]
    assert strip_layout(" ".join(texts)) == strip_layout(tex)            # the same mathematics
    assert all(_balanced(r) for r in texts)                             # never inside a group
    assert all(r[0] in "+-" for r in texts[1:])                         # each row starts a term
    terms = len(indices)
    for r in texts:                                                     # a row is whole terms
        assert r.strip() in tex
    if typeset_em(tex) <= avail:
        assert texts == [tex]
    assert all(typeset_em(r) <= avail or r.count(" y_{") == 1 for r in texts)
    assert len(texts) <= terms


def test_a_row_that_fits_is_left_alone():
    assert fit_row("a + b", 30) == [(0, "a + b")]


def test_a_wide_bracket_is_opened_with_fixed_size_delimiters():
    inner = " + ".join(rf"c_{{{n}}} \log x_{{{n}}}" for n in range(12))
    tex = rf"\sum_{{k}} \left({inner}\right) - N"
    rows = fit_row(tex, 20)
    texts = [r for _, r in rows]
    assert len(texts) > 2 and all(_balanced(r) for r in texts)
    assert re.match(r"\\sum_\{k\} \\(Big|bigg)l\(", texts[0]) and re.search(r"\\(Big|bigg)r\)", texts[-2])
    assert [ind for ind, _ in rows][1:-1] == [1] * (len(rows) - 2)          # inside the bracket: indented
    assert strip_layout(" ".join(texts)) == strip_layout(tex)
    assert all(typeset_em(r) <= 20 for r in texts)


def test_a_bracket_of_one_wide_term_is_opened_inside():
    """E[sum_k (a long sum)]: the outer bracket holds one term; the break goes inside the inner one,
    and both pairs of delimiters become fixed-size so that each row is balanced."""
    inner = " + ".join(rf"c_{{ik}} \log w_{{{n}}}" for n in range(10))
    tex = rf"\mathbb{{E}}_{{q}}\left[\sum_{{k}} \left({inner}\right)\right]"
    texts = [r for _, r in fit_row(tex, 22)]
    assert len(texts) > 1 and all(_balanced(r) for r in texts)
    assert strip_layout(" ".join(texts)) == strip_layout(tex)


def test_a_wide_fraction_has_its_numerator_stacked():
    num = " + ".join(rf"a_{{{n}}} b_{{{n}}}" for n in range(14))
    tex = rf"\frac{{{num}}}{{2 \sigma^{{2}}}}"
    (row,) = [r for _, r in fit_row(tex, 18)]
    assert row.startswith(r"\frac{\begin{aligned}") and row.count(r"\\") >= 2
    assert typeset_em(row) <= 18 and _balanced(row)
    assert strip_layout(row) == strip_layout(tex)


def test_a_relation_chain_breaks_before_its_relations():
    lhs = " + ".join(f"x_{{{n}}}" for n in range(8))
    tex = rf"{lhs} = {lhs} \quad\Longrightarrow\quad y = 0"
    texts = [r for _, r in fit_row(tex, 14)]
    assert any(t.startswith("=") for t in texts) and any(t.startswith(r"\quad\Longrightarrow") for t in texts)
    assert strip_layout(" ".join(texts)) == strip_layout(tex)


def test_inequalities_notes_and_parenthetical_remarks_are_break_points():
    # \le, \ne (\leftarrow stays whole), a "\ \text{...}" note (its space stays on the
    # row before) and a parenthesis after \quad; not inside a brace group
    from vi_book.layout import _relation_cuts
    tex = r"a \le b \ne c,\ \text{with equality}\ d \leftarrow e \quad(\text{see}) {f \le g}"
    rows = [tex[i:j].strip() for i, j in zip([0] + _relation_cuts(tex),
                                             _relation_cuts(tex) + [len(tex)])]
    assert rows == [r"a", r"\le b", "\\ne c,\\", r"\text{with equality}\ d", r"\leftarrow e",
                    r"\quad(\text{see}) {f \le g}"]
    lhs = " + ".join(f"x_{{{n}}}" for n in range(6))
    wide = rf"{lhs} \le {lhs} \ne y,\ \text{{with equality}}\ z = 0"
    texts = [r for _, r in fit_row(wide, 14)]
    assert any(t.startswith(r"\le") for t in texts) and any(t.startswith(r"\ne") for t in texts)
    assert strip_layout(" ".join(texts)) == strip_layout(wide)


def test_a_long_note_is_cut_between_words():
    tex = r"a = b \quad\text{(" + " ".join(["word"] * 30) + ")}"
    texts = [r for _, r in fit_row(tex, 20)]
    assert len(texts) > 2 and all(_balanced(t) for t in texts)
    assert " ".join(re.findall(r"\\text\{([^}]*)\}", " ".join(texts))) == "(" + " ".join(["word"] * 30) + ")"


def test_the_line_width_fits_the_measured_column():
    """676 px is the width of a code cell's display at a 1280 px window (measured)."""
    assert LINE_EM * EM_PX / 0.92 <= 676
