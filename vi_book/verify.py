"""The bookkeeping of a chapter's checks, and the box that reports them.

A chapter makes one :class:`Checks` near its top. Every claim it relies on goes through
:meth:`Checks.check` (an ``assert``: a false claim fails the build) or :meth:`Checks.measure`
(a measured number against a tolerance); :func:`vi_book.display.show_chain` records the engine
chains it displayed. :meth:`Checks.box` ends the chapter with a collapsed "What was verified here"
box that lists them and says, in words, what the check marks beside derivations mean.
"""
from __future__ import annotations

import math

__all__ = ["Checks", "MARKS_IN_WORDS", "verified_box"]

#: What a check mark under a derivation means, in words.
MARKS_IN_WORDS = (
    "A ✔ under a derivation means that every step of it was checked, independently of the algebra "
    "that produced it, on a small instance of the model (every plate given two or three elements, "
    "every symbol a random value): a step written “=” must give the same number as the line before "
    "at random points; a step written “≐” (equal up to a constant) must differ from the line before "
    "by an amount whose derivative in every variational parameter is zero; a step that takes an "
    "expectation must agree with the average over draws from $q$ within six standard errors. "
    "The checks run every time the book is built, and a failure stops the build."
)


def _box(body: str, title: str = "What was verified here") -> str:
    return "\n".join([f":::{{admonition}} {title}", ":class: dropdown", "", body.strip(), "",
                      MARKS_IN_WORDS, ":::"])


def verified_box(body: str, title: str = "What was verified here"):
    """Display ``body`` (Markdown: a list or a table of what was checked) in a collapsed box titled
    ``title``, followed by the check marks explained in words."""
    from IPython.display import Markdown, display
    if not isinstance(body, str) or not body.strip():
        raise ValueError("body must be a non-empty Markdown str")
    if not isinstance(title, str) or not title.strip():
        raise ValueError("title must be a non-empty str")
    display(Markdown(_box(body, title)))


class Checks:
    """The checks of one chapter, in the order they ran."""

    #: The most recently made instance (where :func:`vi_book.show_chain` records by default).
    active = None

    def __init__(self):
        self.claims: list[tuple[str, str]] = []      # (claim, measured value as text)
        self.chains: list[tuple[str, int]] = []      # (chain title, number of steps checked)
        Checks.active = self

    def check(self, condition, claim: str):
        """Assert ``condition`` (the message is ``claim``) and record the claim."""
        if not isinstance(claim, str) or not claim:
            raise ValueError("claim must be a non-empty str")
        assert condition, claim
        self.claims.append((claim, ""))

    def measure(self, claim: str, value, tol: float):
        """Assert ``0 <= value <= tol`` (a measured error within its tolerance) and record both."""
        if not isinstance(claim, str) or not claim:
            raise ValueError("claim must be a non-empty str")
        value = float(value)
        if not (isinstance(tol, (int, float)) and tol >= 0 and math.isfinite(tol)):
            raise ValueError(f"tol must be a finite number >= 0, got {tol!r}")
        assert math.isfinite(value) and 0 <= value <= tol, f"{claim}: measured {value:.3g}, tolerance {tol:.3g}"
        self.claims.append((claim, f"{value:.2g} (≤ {tol:.0e})"))
        return value

    def chain(self, title: str, results):
        """Record an engine chain whose every step was checked (``results``: its step checks)."""
        results = list(results)
        assert results and all(r.checked and r.ok for r in results), f"chain {title} has unchecked steps"
        self.chains.append((title, len(results)))

    def markdown(self) -> str:
        """The box as MyST Markdown: a collapsed admonition."""
        lines = []
        if self.claims:
            lines.append("Each statement below was checked by an `assert` when this page was built:")
            lines.append("")
            lines += [f"{n}. {claim}" + (f" Measured: {value}." if value else "")
                      for n, (claim, value) in enumerate(self.claims, 1)]
            lines.append("")
        if self.chains:
            lines.append("Derivations displayed on this page, each checked step by step:")
            lines.append("")
            lines += [f"- {title} ({steps} steps)" for title, steps in self.chains]
        if not self.claims and not self.chains:
            lines.append("Nothing was recorded on this page.")
        return _box("\n".join(lines))

    def box(self, extra: str = ""):
        """Display the collapsed "What was verified here" box (``extra``: more Markdown, such as
        a table of measured numbers, placed after the list)."""
        from IPython.display import Markdown, display
        if extra:
            body = self.markdown().split("\n", 3)[3].rsplit("\n\n" + MARKS_IN_WORDS, 1)[0]
            display(Markdown(_box(body + "\n\n" + extra)))
        else:
            display(Markdown(self.markdown()))

    def __len__(self):
        return len(self.claims) + len(self.chains)
