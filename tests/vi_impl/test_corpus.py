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


@pytest.mark.parametrize("kwargs, name", [
    (dict(packages="vi_impl"), "packages"),            # a string used to be read letter by letter
    (dict(packages=("vi_impl", float("nan"))), "packages"),        # was an AttributeError
    (dict(packages=()), "packages"),
    (dict(max_df=float("nan")), "max_df"),             # NaN or <= 0 gave an empty corpus
    (dict(max_df=0.0), "max_df"),
    (dict(min_df=10**6), "min_df"),                    # no word is that common: empty corpus
    (dict(min_tokens=10**6), "min_tokens"),
])
def test_arguments_that_leave_nothing_are_refused_by_name(kwargs, name):
    args = dict(packages=("vi_impl",), min_tokens=5, min_df=3, max_df=0.5)
    args.update(kwargs)
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        docstring_corpus(**args)
