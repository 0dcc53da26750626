"""vi_book.verify: a false claim fails, the box lists what ran and explains the marks."""
import pytest

from vi_book import Checks
from vi_book.verify import MARKS_IN_WORDS


def test_a_false_claim_fails_and_is_not_recorded():
    c = Checks()
    with pytest.raises(AssertionError, match="two is odd"):
        c.check(2 % 2 == 1, "two is odd")
    assert len(c) == 0


def test_a_measurement_outside_its_tolerance_fails():
    c = Checks()
    assert c.measure("error small", 1e-12, 1e-10) == 1e-12
    for bad in (1e-3, float("nan"), -1.0):
        with pytest.raises(AssertionError):
            c.measure("error small", bad, 1e-10)
    with pytest.raises(ValueError, match="tol"):
        c.measure("x", 0.0, float("inf"))
    with pytest.raises(ValueError, match="claim"):
        c.check(True, "")


def test_the_box_is_collapsed_and_lists_the_checks_in_order():
    c = Checks()
    c.check(True, "first claim")
    c.measure("second claim", 3e-15, 1e-10)

    class R:
        checked = ok = True

    c.chain("The log joint", [R(), R()])
    md = c.markdown()
    assert md.startswith(":::{admonition} What was verified here\n:class: dropdown")
    assert md.index("first claim") < md.index("second claim") < md.index("The log joint (2 steps)")
    assert MARKS_IN_WORDS in md and md.rstrip().endswith(":::")


def test_a_chain_with_an_unchecked_step_is_refused():
    class R:
        checked, ok = False, True

    with pytest.raises(AssertionError):
        Checks().chain("t", [R()])
    with pytest.raises(AssertionError):
        Checks().chain("t", [])


def test_the_newest_checks_is_active():
    a = Checks()
    b = Checks()
    assert Checks.active is b and a is not b


def test_the_box_takes_an_extra_table_and_a_bare_body(monkeypatch):
    import IPython.display

    from vi_book import verified_box
    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda o: shown.append(o.data))
    c = Checks()
    c.check(True, "a claim")
    c.box("| check | measured |\n|:--|--:|\n| x | 1 |")
    verified_box("- one thing")
    assert shown[0].count(":::{admonition}") == 1 and shown[0].index("a claim") < shown[0].index("| x | 1 |")
    assert shown[0].count(MARKS_IN_WORDS) == 1 and shown[0].rstrip().endswith(":::")
    assert shown[1].startswith(":::{admonition} What was verified here") and "- one thing" in shown[1]
    with pytest.raises(ValueError, match="body"):
        verified_box("  ")
