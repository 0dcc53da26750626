"""Ledger entries, one module per seed document."""
from __future__ import annotations


def collect():
    from . import (doc000_coursework, doc001_slides, doc002_tutorial,
                   doc003_homework, doc004_lecture_notes)
    out = []
    for mod in (doc000_coursework, doc001_slides, doc002_tutorial,
                doc003_homework, doc004_lecture_notes):
        out.extend(mod.BOOK.entries)
    return out
