"""vi_impl.corpus: the docstring corpus is a count matrix over a filtered vocabulary."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from vi_impl.corpus import docstring_corpus, docstrings


def test_docstring_corpus_of_this_package():
    texts = docstrings(("vi_impl",))
    X, vocab = docstring_corpus(("vi_impl",), min_tokens=5, min_df=3, max_df=0.5)
    assert len(texts) > 50
    assert X.shape[1] == len(vocab) > 20
    assert vocab == sorted(vocab) and not set(vocab) & ENGLISH_STOP_WORDS
    assert all(len(w) >= 3 and w.isalpha() for w in vocab)
    df = np.asarray((X > 0).sum(axis=0)).ravel()
    assert df.min() >= 3 and df.max() <= 0.5 * len(texts)
    assert (X.data > 0).all() and np.allclose(X.data, np.round(X.data))


def test_unknown_package_is_named():
    with pytest.raises(ValueError, match="packages"):
        docstrings(("no_such_package_here",))
