"""Completeness of the ledger: every displayed equation of the seed documents is either
the location of a ledger entry or listed here as a non-claim (a definition, a model
specification, an empty slide build-up, notation), with the reason; and every
mathematical claim made in prose that :data:`PROSE_CLAIMS` lists is the location of an
entry (prose is not split automatically: the list is read by hand).

:func:`display_units` splits a seed text into displayed equations (a ``$$...$$``
block, with its equation-number line); :func:`uncovered` lists the units that neither an
entry nor :data:`NON_CLAIMS` accounts for.  The seeds are read only by these helpers,
never by the checks.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

from .registry import DOCUMENTS, all_entries

_DEF = "definition (not a claim)"
_MODEL = "model specification (definition)"
_FAMILY = "variational family (definition)"
_EMPTY = "empty slide build-up (the filled-in version is an entry)"
_NOTATION = "notation"

#: {document: {line: reason}} for displayed equations that are not claims.
NON_CLAIMS: dict[str, dict[int, str]] = {
    "000_1458e46accab4e32.txt": {31: _MODEL, 33: _MODEL, 35: _MODEL, 45: _FAMILY, 49: _FAMILY},
    "001_63c54bfc729c6f44.txt": {
        81: _MODEL, 93: _MODEL, 84: _NOTATION, 202: _FAMILY, 214: _FAMILY,
        235: "definition of KL", 244: "definition of KL", 258: "definition of KL",
        286: "definition of the variational objective", 299: "definition of the variational objective",
        362: "definition of the ELBO", 372: "definition of the ELBO", 437: _MODEL, 449: _MODEL,
        441: _EMPTY, 453: _FAMILY, 459: "definition of the ELBO", 467: "definition of the ELBO",
        587: "definition of the ELBO", 479: "definition of expectation", 483: "definition of expectation",
        **{ln: _EMPTY for ln in (497, 499, 501, 503, 505, 507, 517, 519, 521, 523, 525, 537, 539, 541, 543)},
        **{ln: _FAMILY for ln in (513, 531, 549, 557, 569, 577, 768)},
        737: _NOTATION, 747: _NOTATION, 772: "definition of the ELBO", 780: "definition of the ELBO",
    },
    "002_7d41b84efe753b85.txt": {23: _MODEL, 25: _MODEL, 27: _MODEL, 31: _NOTATION, 39: _FAMILY, 43: _FAMILY},
    "003_f0faaa88f60744cd.txt": {13: _NOTATION, 21: "definition of KL", 100: _MODEL, 126: _FAMILY},
    "004_3a736a8280323391.txt": {
        162: _FAMILY, 225: "definition of the regulariser R", 233: "definition of the ELBO gradient",
        288: "definition of the SGD update (names: see doc004-eq47)", 355: "a goal, not a claim",
    },
}

#: {document: {line: what the prose claims}}: mathematical claims outside displayed equations.
PROSE_CLAIMS: dict[str, dict[int, str]] = {
    "001_63c54bfc729c6f44.txt": {
        341: "the ELBO is tight when q ≈ p(z|x), then L(q) ≈ log p(x)",
        626: "at convergence of VI the bound is tight, L(q) ≈ log p(x)",
        644: "VB-EM M-step uses L(q) ≈ log p(x)", 655: "VB-EM M-step uses L(q) ≈ log p(x)",
        667: "VB-EM M-step uses L(q) ≈ log p(x)",
        642: "VB-EM alternates the two steps until convergence",
    },
    "000_1458e46accab4e32.txt": {53: "π_i ∈ [0, 1]^K are the variational parameters of Cat(π_i)"},
    "004_3a736a8280323391.txt": {
        7: "exact Bayesian inference is possible only with conjugate priors",
        22: "the evidence integral is analytic only when the prior is conjugate",
        94: "Exercise 2.3: the variance of the importance weights",
        130: "a divergence is positive-valued and zero iff the distributions are identical",
        308: "discrete distributions cannot be reparameterised exactly",
    },
}


def uncovered_prose() -> dict[str, list[int]]:
    """Lines of :data:`PROSE_CLAIMS` that no entry covers."""
    covered: dict[str, set[int]] = {d: set() for d in DOCUMENTS}
    for e in all_entries():
        covered[e.doc].update(e.all_lines())
    return {doc: sorted(set(lines) - covered[doc]) for doc, lines in PROSE_CLAIMS.items()}


_NUMBER_ONLY = re.compile(r"^\s*,?\s*(\$\$)?\s*\(\d+\)\s*(\$\$)?\s*$")


def display_units(text: str) -> list[tuple[int, ...]]:
    """Displayed equations as tuples of 1-based line numbers (a ``$$`` block plus a
    following equation-number line such as ``(12)``)."""
    lines = text.splitlines()
    units: list[list[int]] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if _NUMBER_ONLY.match(line) and units:
            units[-1].append(i + 1)
            i += 1
            continue
        if "$$" in line:
            unit = [i + 1]
            if line.count("$$") == 1:                 # a block that closes on a later line
                j = i + 1
                while j < len(lines) and "$$" not in lines[j]:
                    unit.append(j + 1)
                    j += 1
                if j < len(lines):
                    unit.append(j + 1)
                i = j
            units.append(unit)
        i += 1
    return [tuple(u) for u in units]


def uncovered(seed_dir: Path) -> dict[str, list[tuple[int, ...]]]:
    """Display units of each seed file accounted for by no entry and no NON_CLAIMS line."""
    covered: dict[str, set[int]] = {d: set(NON_CLAIMS.get(d, {})) for d in DOCUMENTS}
    for e in all_entries():
        covered[e.doc].update(e.all_lines())
    out = {}
    for doc in DOCUMENTS:
        text = (Path(seed_dir) / doc).read_text(encoding="utf-8")
        out[doc] = [u for u in display_units(text) if not covered[doc] & set(u)]
    return out
