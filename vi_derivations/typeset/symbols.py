"""The symbol table: one meaning per letter in every display.

A model quantity whose LaTeX name is a letter the displays also use for something else (the
constant pi, Euler's e, the digamma psi, the gamma function Gamma, the Kronecker delta) gets
a fixed replacement (responsibilities named pi are shown as phi, as in the book's notation);
:func:`symbol_table` checks, per model, that the result still
gives every quantity its own letter.
"""
from __future__ import annotations

from ..model import LATEX_NAMES

__all__ = ["RESERVED", "display_name", "symbol_table"]

RESERVED = {r"\pi": "the constant pi", "e": "Euler's number", r"\psi": "the digamma function",
            r"\Gamma": "the gamma function", r"\delta": "the Kronecker delta"}
_REPLACEMENT = {r"\pi": r"\phi", "e": r"\epsilon", r"\psi": r"\chi", r"\Gamma": r"\Xi", r"\delta": r"\zeta"}


def display_name(name, latex=None):
    """The LaTeX a quantity called ``name`` is displayed with (its own unless reserved)."""
    latex = LATEX_NAMES.get(name, name) if latex is None else latex
    if latex not in RESERVED:
        return latex
    return _REPLACEMENT[latex]


def symbol_table(model):
    """Rows (name, kind, LaTeX declared, LaTeX displayed, reason) for every model quantity; raises
    ValueError if two quantities would still be displayed with the same letter."""
    rows, seen = [], {}
    for name, v in model.variables.items():
        shown = display_name(name, v.latex)
        reason = f"{v.latex} is {RESERVED[v.latex]}" if v.latex in RESERVED else ""
        if shown in seen:
            raise ValueError(f"model {model.name}: {name} and {seen[shown]} are both displayed as {shown}")
        seen[shown] = name
        rows.append((name, v.kind, v.latex, shown, reason))
    return rows
