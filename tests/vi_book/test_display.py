"""vi_book.display: long displays broken at top-level signs, chains shown only when checked."""
import re

import pytest
import sympy as sp

import vi_book.display as vbd
from vi_book import Checks, break_latex, show_chain, visual_width


def _join(rows):
    return " ".join(rows)


def _strip(tex):
    return re.sub(r"\s+", "", tex)


@pytest.mark.parametrize("tex", [
    r"a + b - c",
    r"-\frac{K D}{2} \log 2 \pi \tau^{2} - \frac{1}{2 \tau^{2}} \sum_{k} \lVert \mu_{k} \rVert^{2} - N \log K"
    r" - \frac{N D}{2} \log 2 \pi - \frac{1}{2} \sum_{i} \sum_{k} c_{ik} \lVert x_{i} - \mu_{k} \rVert^{2}",
    r"\left(a + b\right) - e^{-x + y} + \frac{a - b}{c + d} - \log\left(1 - \phi_{ik}\right)",
])
@pytest.mark.parametrize("budget", [8, 12, 40, 400])
def test_rows_put_back_together_give_the_display(tex, budget):
    rows = break_latex(tex, budget)
    assert _strip(_join(rows)) == _strip(tex)


def test_no_sign_inside_a_group_breaks_a_row():
    tex = r"\left(a + b + c + d + e + f\right) + e^{-x + y - z + w} + \frac{a - b - c}{c + d + e}"
    rows = break_latex(tex, 8)
    assert rows == [r"\left(a + b + c + d + e + f\right)", r"+ e^{-x + y - z + w}", r"+ \frac{a - b - c}{c + d + e}"]


def test_rows_respect_the_budget_when_every_term_fits():
    terms = [rf"\frac{{a_{{{n}}}}}{{2}} x_{{{n}}}" for n in range(30)]
    rows = break_latex(" + ".join(terms), 20)
    assert len(rows) > 3 and all(visual_width(r) <= 20 for r in rows)


def test_a_unary_minus_after_an_operator_is_not_a_break():
    assert break_latex(r"a = -b", 8) == [r"a = -b"]
    assert break_latex(r"aaaa \cdot -bbbb + cccc", 8) == [r"aaaa \cdot -bbbb", r"+ cccc"]


def test_an_expectation_of_a_long_sum_is_opened_up():
    inner = " + ".join(rf"x_{{{n}}} y_{{{n}}}" for n in range(20))
    rows = break_latex(rf"\mathbb{{E}}_{{q}}\left[{inner}\right]", 30)
    assert len(rows) > 1 and rows[0].startswith(r"\mathbb{E}_{q}\Big[") and rows[-1].endswith(r"\Big]")


def test_visual_width_counts_a_fraction_by_its_longer_half():
    assert visual_width(r"\frac{abc}{d}") == 3
    assert visual_width(r"\frac{\frac{ab}{c}}{d}") == 2
    assert visual_width(r"\alpha_{k} + \beta^{2}") == 5   # alpha, k, +, beta, 2


@pytest.mark.parametrize("call, name, exc", [
    (lambda: break_latex(3), "tex", TypeError),
    (lambda: break_latex("a", 2), "budget", ValueError),
    (lambda: visual_width(None), "tex", TypeError),
    (lambda: vbd.show_source(), "functions", ValueError),
    (lambda: vbd.show_source(3), "functions", TypeError),
    (lambda: vbd.show_equations([]), "pairs", ValueError),
])
def test_bad_input_names_the_argument(call, name, exc):
    with pytest.raises(exc, match=name):
        call()


@pytest.fixture
def shown(monkeypatch):
    out = []
    monkeypatch.setattr(vbd, "_display", out.append)
    return out


def test_show_chain_checks_then_displays_and_records(shown):
    import vi_derivations as vd
    model = vd.models.load("normal_normal")
    checks = Checks()
    results = show_chain(model, "log_joint")
    assert results and all(r.checked and r.ok for r in results)
    texts = [getattr(o, "data", "") for o in shown]
    assert texts[0].startswith("**") and "✔" in texts[-1]
    assert "checked at random points by the engine" in texts[-1] and "ledger" not in texts[-1]
    assert any(r"\begin{aligned}" in t for t in texts)
    assert checks.chains and checks.chains[0][1] == len(results)


def test_show_chain_prints_the_letters_of_its_own_model(shown):
    """sigma2 is the prior variance tau^2 of the mixture "gmm" and the noise variance sigma^2 of
    "gmm_1d": a chain of gmm shown after gmm_1d was built still reads tau^2."""
    import vi_derivations as vd
    gmm = vd.models.load("gmm")
    vd.models.load("gmm_1d")
    show_chain(gmm, "log_joint")
    maths = " ".join(getattr(o, "data", "") for o in shown if r"\begin{aligned}" in getattr(o, "data", ""))
    assert r"\tau^{2}" in maths and r"\sigma^{2}" not in maths


def test_show_chain_refuses_a_chain_whose_step_fails(shown, monkeypatch):
    import vi_derivations as vd
    from vi_derivations import chain_check
    model = vd.models.load("normal_normal")
    derivation = vd.derive(model)
    chain = derivation.chains["log_joint"]
    broken = vd.derivation.Chain(chain.title, chain.lhs,
                                 chain.steps[:-1] + [vd.derivation.Step("wrong", chain.steps[-1].expr + 1, "=")],
                                 chain.wrt)
    fake = type("D", (), {"chains": {"log_joint": broken}})()
    with pytest.raises(AssertionError, match="log_joint"):
        show_chain(model, "log_joint", derivation=fake)
    assert not shown   # nothing was displayed
    with pytest.raises(ValueError, match="name"):
        show_chain(model, "no_such_chain", derivation=derivation)


def test_show_breaks_a_sympy_sum(shown):
    x = sp.symbols("x0:30")
    vbd.show("f", sp.Add(*[xi**2 / 3 for xi in x]), budget=20)
    assert shown[0].data.count(r"\\") >= 3


def test_show_chain_exact_leaves_out_the_constant_dropping_steps(shown):
    import vi_derivations as vd
    model = vd.models.load("normal_normal")
    full = show_chain(model, "expected_log_joint")
    n_shown = len(shown)
    exact = show_chain(model, "expected_log_joint", exact=True)
    assert any(r.relation == "+const" for r in full) and not any(r.relation == "+const" for r in exact)
    assert len(exact) < len(full) and len(shown) - n_shown < n_shown


def test_an_environment_is_never_broken():
    tex = r"\begin{matrix}a + b & c - d\end{matrix} + e"
    assert break_latex(tex, 8) == [r"\begin{matrix}a + b & c - d\end{matrix}", "+ e"]


def test_chain_mark_checks_and_records():
    import vi_derivations as vd
    from vi_book import chain_mark
    model = vd.models.load("normal_normal")
    checks = Checks()
    mark = chain_mark(model, "log_var")
    assert mark.startswith("✔") and "checked at random points by the engine" in mark and checks.chains
    assert "ledger" not in mark and f"each of the {checks.chains[0][1]} steps" in mark
    with pytest.raises(ValueError, match="name"):
        chain_mark(model, "no_such_chain")


@pytest.mark.parametrize("n, words", [(1, "The one step checked"), (7, "Each of the 7 steps checked")])
def test_badge_words_say_what_was_checked(n, words):
    assert vbd.badge_words(n).startswith(words) and "at random points by the engine" in vbd.badge_words(n)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "3"])
def test_badge_words_refuse_a_bad_count(bad):
    with pytest.raises(ValueError, match="n_steps"):
        vbd.badge_words(bad)


def test_every_relation_of_the_engine_is_shown_and_explained():
    from vi_derivations.derivation import _REL
    from vi_book.display import _HOW, RELATION
    assert set(_REL) <= set(RELATION) and set(_REL) <= set(_HOW)
    assert all(RELATION[r] == _REL[r] for r in _REL)


def test_show_update_writes_a_sibling_definition_by_its_symbol(monkeypatch):
    import vi_derivations as vd
    import vi_book.display as display
    shown = []
    monkeypatch.setattr(display, "_display", lambda m: shown.append(m.data))
    update = vd.update(vd.models.load("logistic_regression"), "w")
    display.show_update(update)
    (tex,) = shown
    rows = tex.split(r"\\[2pt]")
    assert len(rows) == len(update.assignments) == 2
    mean, cov = rows
    assert r"\leftarrow S " in mean and r"^{-1}" not in mean      # m = S (...), the inverse named
    assert r"^{-1}" in cov and tex.count("{") == tex.count("}")
    assert len(re.findall(r"\\left(?![a-z])", tex)) == len(re.findall(r"\\right(?![a-z])", tex))


def test_a_display_that_fits_the_column_is_left_as_it_is():
    assert vbd.fit_display(r"a = b + c") == r"a = b + c"
    with pytest.raises(TypeError, match="tex"):
        vbd.fit_display(None)


def test_a_wide_relation_chain_is_aligned_on_its_relations():
    from vi_book.layout import LINE_EM, strip_layout, typeset_em
    side = " + ".join(rf"\frac{{x_{{{n}}}}}{{2}}" for n in range(12))
    tex = rf"f(x) = {side} = {side}"
    out = vbd.fit_display(tex)
    assert out.startswith(r"\begin{aligned}f(x) &= ") and r"\\ &= " in out
    assert all(typeset_em(row) <= LINE_EM for row in out.split(r"\\"))
    assert strip_layout(out) == strip_layout(tex)


def test_an_aligned_block_keeps_its_rows_and_breaks_a_long_note():
    from vi_book.layout import LINE_EM, typeset_em
    note = r"\quad\text{(" + " ".join(["keep the terms that involve the variable"] * 3) + ")}"
    tex = r"\begin{aligned}\log q(z) &\doteq a + b" + note + r"\\ &= c\end{aligned}"
    out = vbd.fit_display(tex)
    assert out.count("&") >= 4 and r"&= c" in out and typeset_em(out) <= LINE_EM


def test_every_display_of_a_chain_fits_the_laptop_column(shown, monkeypatch):
    """The chain of the logistic model's expected log joint (one display 39 em wide before): each
    display fits the column and, with its line markup removed, is the display laid out on one line."""
    import vi_derivations as vd
    from vi_book.layout import LINE_EM, strip_layout, typeset_em
    model = vd.models.load("logistic_regression")
    derivation = vd.derive(model)
    show_chain(model, "expected_log_joint", derivation)
    fitted = [o.data for o in shown if r"\begin{aligned}" in getattr(o, "data", "")]
    shown.clear()
    monkeypatch.setattr(vbd, "LINE_EM", 1e9)          # the same chain, never broken for the column
    show_chain(model, "expected_log_joint", derivation)
    wide = [o.data for o in shown if r"\begin{aligned}" in getattr(o, "data", "")]
    assert len(fitted) == len(wide) >= 3
    assert max(typeset_em(t) for t in wide) > LINE_EM  # the test exercises a break
    assert all(typeset_em(t) <= LINE_EM for t in fitted)
    assert [strip_layout(t) for t in fitted] == [strip_layout(t) for t in wide]
