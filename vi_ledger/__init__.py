"""The verification ledger: every mathematical claim of the five syllabus documents,
each with a check that runs (SymPy, the engine, or an independent numerical route).

Quick use::

    from vi_ledger import all_entries, run_check, summary, entries_for
    summary()["total"]            # {'claims': ..., 'verified': ..., 'erratum': ..., 'garble': ...}
    run_check("doc000-eq8")       # CheckResult(passed=True, ...)
    entries_for("elbo")           # entries tagged with a topic, or by id / document prefix

Chapters link the entries they rely on with :func:`ledger_links` (MyST ``{ref}`` links
to the appendix page ``appendix_ledger``) or :func:`ledger_links_html`.
"""
from .registry import (DOCUMENTS, CheckResult, Entry, Status, all_entries, get_entry,
                       run_all, run_check, summary)
from .render import (APPENDIX_PAGE, display_links, entries_for, ledger_links,
                     ledger_links_html, topics)

__all__ = [
    "DOCUMENTS", "CheckResult", "Entry", "Status", "all_entries", "get_entry", "run_all",
    "run_check", "summary", "entries_for", "topics", "ledger_links", "ledger_links_html",
    "display_links", "APPENDIX_PAGE",
]
