"""How much each erratum matters, for ranking them in the appendix.

* ``substantive`` -- the mathematics as printed is wrong in a way a reader would carry into a
  derivation or a result (a sign in the ELBO or a gradient, a wrong estimator, a false
  conclusion about the bound).
* ``reading`` -- the verdict rests on one reading of notation the document does not force
  (the entry's note states the reading and why).
* ``minor`` -- a local slip that the surrounding text repairs or that changes no result
  (a missing conditioning bar, an index range, a normalising constant under "∝").
"""
from __future__ import annotations

LEVELS = ("substantive", "reading", "minor")

#: erratum id -> severity level
SEVERITY: dict[str, str] = {
    "doc000-eq8": "substantive",
    "doc000-eq9": "substantive",
    "doc001-l377-at-convergence": "substantive",
    "doc001-l395-entropy-sign": "substantive",
    "doc001-l411-elbo-kl-prior": "substantive",
    "doc001-l487-product-rule": "substantive",
    "doc001-l535-second-moment": "reading",
    "doc001-l626-bound-tight": "substantive",
    "doc001-l706-ard-prior": "reading",
    "doc002-eq1-5-target": "minor",
    "doc002-eq2-3-bracket": "minor",
    "doc002-eq3-3": "substantive",
    "doc002-eq3-4-3-5": "substantive",
    "doc003-p3-no-factorisation": "minor",
    "doc003-p4-gaussian-kernel": "minor",
    "doc004-eq1": "minor",
    "doc004-l7-conjugate": "minor",
    "doc004-l89-weights": "substantive",
    "doc004-eq14": "minor",
    "doc004-l148-prior": "minor",
    "doc004-eq26-27": "minor",
    "doc004-l190-gradient-sign": "substantive",
    "doc004-ex2-5-joint": "minor",
    "doc004-eq32-33": "substantive",
    "doc004-l221-likelihood-alone": "substantive",
    "doc004-l227-regulariser": "substantive",
    "doc004-eq44": "minor",
    "doc004-eq47": "substantive",
    "doc004-eq49-50": "substantive",
    "doc004-eq52": "substantive",
    "doc004-eq53": "substantive",
    "doc004-eq54": "minor",
    "doc004-eq55": "minor",
    "doc004-eq59": "substantive",
    "doc004-l375-minimise-elbo": "substantive",
    "doc004-eq62": "minor",
}


def severity(entry_id: str) -> str:
    """The severity level of an erratum (KeyError names an erratum without one)."""
    try:
        return SEVERITY[entry_id]
    except KeyError:
        raise KeyError(f"entry_id: erratum {entry_id!r} has no severity in vi_ledger.severity") from None
