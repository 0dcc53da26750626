"""Tests for vi_impl.theory.validation: every check names the argument and the problem."""

import numpy as np
import pytest

from vi_impl.theory.validation import (finite_array, positive_array, positive_int,
                                       probability_level, probability_vector)


def test_accepts_good_input():
    np.testing.assert_array_equal(finite_array("a", [1, 2]), [1.0, 2.0])
    assert positive_array("v", 2.0) == 2.0
    assert positive_int("n", 3) == 3
    assert positive_int("n", 4.0) == 4
    assert positive_int("n", np.int64(5)) == 5
    assert probability_level("level", 0.5) == 0.5
    np.testing.assert_allclose(probability_vector("p", [[0.2, 0.8], [1.0, 0.0]], axis=1).sum(1), 1)


@pytest.mark.parametrize("call, match", [
    (lambda: finite_array("alpha", [1.0, np.nan]), "alpha contains NaN"),
    (lambda: finite_array("alpha", [1.0, np.inf]), "alpha contains NaN or infinite"),
    (lambda: finite_array("alpha", [[1.0]], ndim=1), "alpha must have 1 dimension"),
    (lambda: finite_array("alpha", [], ndim=1), "alpha must have at least 1"),
    (lambda: finite_array("alpha", "abc"), "alpha must be numeric"),
    (lambda: positive_array("var", [1.0, 0.0]), "var must be strictly positive"),
    (lambda: positive_int("n", 2.5), "n must be an integer"),
    (lambda: positive_int("n", True), "n must be an integer"),
    (lambda: positive_int("n", 0), "n must be >= 1"),
    (lambda: positive_int("n", -1, minimum=0), "n must be >= 0"),
    (lambda: probability_level("level", 0.0), "level must lie strictly between 0 and 1"),
    (lambda: probability_level("level", "x"), "level must be a number"),
    (lambda: probability_vector("p", [0.5, 0.6]), "p must sum to one"),
    (lambda: probability_vector("p", [1.5, -0.5]), "p has negative"),
])
def test_rejects_bad_input_naming_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
