"""An offline text corpus: the docstrings of installed Python packages.

Every module, class and function docstring of the given packages' source files (read with
:mod:`ast`, nothing is imported or downloaded) with at least ``min_tokens`` tokens is one
document. Tokens: lower-case words of 3+ letters (regex ``[a-z]{3,}``), minus scikit-learn's
English stop-word list; the vocabulary keeps words in at least ``min_df`` documents and at most
``max_df`` of them. The corpus depends only on the pinned package versions.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from vi_impl.validation import check_int, check_real

__all__ = ["docstrings", "docstring_corpus"]

_TOKEN = re.compile(r"[a-z]{3,}")


def _check_packages(packages) -> list:
    """A non-empty sequence of package names (a lone string is refused: it is not a list)."""
    if isinstance(packages, (str, bytes)):
        raise ValueError(f"packages must be a sequence of package names, got the string "
                         f"{packages!r} (write ({packages!r},))")
    try:
        names = list(packages)
    except TypeError:
        raise ValueError(f"packages must be a sequence of package names, got "
                         f"{type(packages).__name__}") from None
    if not names:
        raise ValueError("packages must name at least one package")
    for name in names:
        if not isinstance(name, str) or not name:
            raise ValueError(f"packages must hold package names (non-empty strings), got "
                             f"{name!r}")
    return names


def docstrings(packages=("sklearn", "scipy", "numpy")) -> list[str]:
    """Docstrings of every module, class and function in the packages' .py files (sorted
    paths, file order), skipping tests folders."""
    out = []
    for name in _check_packages(packages):
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise ValueError(f"packages: {name!r} is not an installed package")
        root = Path(list(spec.submodule_search_locations)[0])
        for path in sorted(root.rglob("*.py")):
            if "tests" in path.parts:
                continue
            try:
                tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
            except (SyntaxError, ValueError):
                continue
            for node in ast.walk(tree):
                if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                     ast.AsyncFunctionDef)):
                    doc = ast.get_docstring(node)
                    if doc:
                        out.append(doc)
    return out


def docstring_corpus(packages=("sklearn", "scipy", "numpy"), *, min_tokens=40, min_df=10,
                     max_df=0.3):
    """(counts, vocabulary): a CSR document-term count matrix and the list of its words."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    packages = _check_packages(packages)
    min_tokens = check_int("min_tokens", min_tokens)
    min_df = check_int("min_df", min_df)
    max_df = check_real("max_df", max_df)
    if not 0 < max_df <= 1:
        raise ValueError(f"max_df must lie in (0, 1] (a share of the documents), got {max_df!r}")
    docs = []
    for text in docstrings(packages):
        tokens = [t for t in _TOKEN.findall(text.lower()) if t not in ENGLISH_STOP_WORDS]
        if len(tokens) >= min_tokens:
            docs.append(tokens)
    if not docs:
        raise ValueError(f"min_tokens = {min_tokens} leaves no document of {packages}")
    vocab_all = sorted({t for d in docs for t in d})
    index = {w: i for i, w in enumerate(vocab_all)}
    rows, cols = [], []
    for i, d in enumerate(docs):
        rows.extend([i] * len(d))
        cols.extend(index[t] for t in d)
    X = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(docs), len(vocab_all)))
    X.sum_duplicates()
    df = np.asarray((X > 0).sum(axis=0)).ravel()
    keep = (df >= min_df) & (df <= max_df * len(docs))
    if not keep.any():
        which = "min_df" if not (df >= min_df).any() else "max_df"
        raise ValueError(f"{which} leaves no word: min_df = {min_df} and max_df = {max_df} "
                         f"({len(docs)} documents)")
    X = X[:, keep]
    X = X[np.asarray(X.sum(axis=1)).ravel() > 0]
    return sp.csr_matrix(X), [w for w, k in zip(vocab_all, keep) if k]
