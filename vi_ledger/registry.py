"""The ledger's data model: one :class:`Entry` per mathematical claim of the syllabus.

An entry records where the claim sits in a seed document (file, equation or
section, line), the claim itself (our own transcription), its status, and the
checks that decide it:

* ``verified`` -- ``check()`` must return ``True`` (the claim holds);
* ``erratum``  -- ``original()`` must return ``False`` (the claim as printed is
  false, shown by a computed value) and ``check()`` must return ``True`` (the
  correction holds). An ``original()`` that raises has not refuted anything: the
  exception (a typo, a ``1/0``) is a failure of the check itself;
* ``garble``   -- the printed text is extraction damage; ``intended`` says what
  it must have been and ``check()`` must return ``True`` on that.

Checks are plain functions returning ``bool``.  They never read the seed files:
the registry stores the claims itself.
"""
from __future__ import annotations

import enum
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional, Union

__all__ = [
    "Status", "Entry", "CheckResult", "DocumentBook", "DOCUMENTS",
    "all_entries", "get_entry", "run_check", "run_all", "summary",
]


class Status(str, enum.Enum):
    """What the ledger concluded about a claim."""

    VERIFIED = "verified"
    ERRATUM = "erratum"
    GARBLE = "garble"

    def __str__(self) -> str:  # pragma: no cover - cosmetic
        return self.value


#: The five syllabus documents, in ledger order: file name -> short title.
DOCUMENTS: dict[str, str] = {
    "000_1458e46accab4e32.txt": "Coursework: mean-field VI for a Gaussian mixture",
    "001_63c54bfc729c6f44.txt": "Lecture slides: variational inference, VB-EM, ARD",
    "002_7d41b84efe753b85.txt": "Tutorial: closed-form ELBO and CAVI for a multivariate mixture",
    "003_f0faaa88f60744cd.txt": "Homework: KL of Gaussians, KL(p‖q) fit, 2-D mean field",
    "004_3a736a8280323391.txt": "Lecture notes: stochastic variational inference",
}

Text = Union[str, Callable[[], str]]

#: Ledger ids double as Sphinx labels and HTML anchors: docutils keeps such ids unchanged.
ID_PATTERN = re.compile(r"doc\d{3}(-[a-z0-9]+)+")


@dataclass(frozen=True)
class Entry:
    """One claim of one seed document and the checks that decide it.

    ``id`` is stable and anchor-friendly (``doc000-eq8``); ``line`` is the
    1-based line of the claim in the seed file and ``marker`` a short fragment
    of that line (used only by a test that checks the location when the seeds
    are present).  ``correction`` / ``intended`` may be callables so the text
    shown is produced by the derivation (SymPy), not typed in.
    """

    id: str
    doc: str
    line: int
    marker: str
    location: str
    claim: str
    status: Status
    check: Callable[[], bool]
    method: str
    route: str = "sympy"
    topics: tuple[str, ...] = ()
    original: Optional[Callable[[], bool]] = None
    correction: Optional[Text] = None
    intended: Optional[Text] = None
    why: str = ""
    note: str = ""
    lines: tuple[int, ...] = ()

    @property
    def doc_prefix(self) -> str:
        return "doc" + self.doc[:3]

    def correction_text(self) -> str:
        c = self.correction
        return c() if callable(c) else (c or "")

    def intended_text(self) -> str:
        c = self.intended
        return c() if callable(c) else (c or "")

    def all_lines(self) -> tuple[int, ...]:
        return (self.line,) + tuple(l for l in self.lines if l != self.line)


@dataclass
class CheckResult:
    """Outcome of running one entry's checks."""

    entry_id: str
    status: Status
    passed: bool
    check_ok: bool
    original_refuted: Optional[bool]
    seconds: float
    detail: str = ""


class DocumentBook:
    """Collects the entries of one document through small decorators.

    >>> B = DocumentBook("003_f0faaa88f60744cd.txt")
    >>> @B.verified("doc003-x", line=1, marker="KL", location="...", claim="...", method="...")
    ... def _():
    ...     return True
    """

    def __init__(self, doc: str):
        if doc not in DOCUMENTS:
            raise ValueError(f"doc: unknown seed document {doc!r}")
        self.doc = doc
        self.entries: list[Entry] = []
        self._pending: dict[str, dict] = {}

    def _add(self, **kw) -> Entry:
        e = Entry(doc=self.doc, **kw)
        if any(x.id == e.id for x in self.entries):
            raise ValueError(f"id: duplicate ledger id {e.id!r}")
        if not e.id.startswith("doc" + self.doc[:3] + "-"):
            raise ValueError(f"id: {e.id!r} must start with 'doc{self.doc[:3]}-'")
        if not ID_PATTERN.fullmatch(e.id):
            raise ValueError(f"id: {e.id!r} is not anchor-friendly (lower-case letters, digits, single hyphens)")
        self.entries.append(e)
        return e

    def verified(self, id: str, **kw):
        def deco(fn):
            self._add(id=id, status=Status.VERIFIED, check=fn, **kw)
            return fn
        return deco

    def garble(self, id: str, **kw):
        if "intended" not in kw:
            raise ValueError("intended: a garble entry must say what was meant")
        def deco(fn):
            self._add(id=id, status=Status.GARBLE, check=fn, **kw)
            return fn
        return deco

    def erratum(self, id: str, *, original: Callable[[], bool], **kw):
        """Register an erratum: the decorated function checks the correction,
        ``original`` evaluates the statement as printed (must come out False)."""
        if "correction" not in kw:
            raise ValueError("correction: an erratum needs its corrected statement")
        def deco(fn):
            self._add(id=id, status=Status.ERRATUM, check=fn, original=original, **kw)
            return fn
        return deco


# --------------------------------------------------------------------------- API
_CACHE: Optional[list[Entry]] = None


def all_entries() -> list[Entry]:
    """Every ledger entry, in document order then line order."""
    global _CACHE
    if _CACHE is None:
        from .entries import collect
        entries = collect()
        ids = [e.id for e in entries]
        dup = [i for i, c in Counter(ids).items() if c > 1]
        if dup:
            raise ValueError(f"ledger ids are not unique: {dup}")
        _CACHE = sorted(entries, key=lambda e: (e.doc, e.line, e.id))
    return list(_CACHE)


def get_entry(entry_id: str) -> Entry:
    for e in all_entries():
        if e.id == entry_id:
            return e
    raise KeyError(f"no ledger entry with id {entry_id!r}")


def _call(fn: Callable[[], bool]) -> tuple[Optional[bool], str]:
    try:
        out = fn()
    except Exception as exc:  # a raising check counts as "does not hold"
        return None, f"{type(exc).__name__}: {exc}"
    import numpy as np
    if not isinstance(out, (bool, np.bool_)):
        return None, f"check returned {type(out).__name__}, not bool"
    return bool(out), ""


def run_check(entry: Union[Entry, str]) -> CheckResult:
    """Run an entry's checks.  ``passed`` is True when

    * verified / garble: ``check()`` returned True;
    * erratum: ``check()`` (the correction) returned True **and** ``original()``
      returned False: the printed statement is refuted by a computed value. If
      ``original()`` raises, the check has failed (``original_refuted`` is None): an
      exception refutes nothing.
    """
    e = get_entry(entry) if isinstance(entry, str) else entry
    t0 = time.perf_counter()
    ok, detail = _call(e.check)
    refuted: Optional[bool] = None
    if e.status is Status.ERRATUM:
        orig, d2 = _call(e.original)
        refuted = None if orig is None else orig is False
        if orig is True:
            detail = (detail + "; " if detail else "") + "original statement was NOT refuted"
        elif d2:
            detail = (detail + "; " if detail else "") + f"the check of the original failed ({d2})"
    passed = bool(ok) and (e.status is not Status.ERRATUM or refuted is True)
    return CheckResult(e.id, e.status, passed, bool(ok), refuted,
                       time.perf_counter() - t0, detail)


def run_all(entries: Optional[Iterable[Entry]] = None) -> list[CheckResult]:
    return [run_check(e) for e in (all_entries() if entries is None else entries)]


def summary(entries: Optional[Iterable[Entry]] = None) -> dict[str, dict[str, int]]:
    """Counts by document and status: ``{doc: {"claims", "verified", "erratum", "garble"}}``
    plus a ``"total"`` row."""
    es = all_entries() if entries is None else list(entries)
    out: dict[str, dict[str, int]] = {}
    for doc in DOCUMENTS:
        row = {"claims": 0, **{s.value: 0 for s in Status}}
        for e in es:
            if e.doc == doc:
                row["claims"] += 1
                row[e.status.value] += 1
        out[doc] = row
    out["total"] = {k: sum(out[d][k] for d in DOCUMENTS) for k in out[next(iter(DOCUMENTS))]}
    return out
