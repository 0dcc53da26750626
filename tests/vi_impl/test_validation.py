"""Tests for vi_impl.validation: every check names the argument and the problem, and the one
behaviour is the same for models and theory tools (counts refuse floats such as 3.0; one
sum-to-one tolerance, PROB_ATOL)."""

import numpy as np
import pytest

from vi_impl.validation import (
    MAX_ABS, PROB_ATOL, as_float_array, as_positive_array, check_int, check_probability_level,
    check_probability_rows, check_probability_vector, check_rng, check_tol, pick_init,
)


def test_accepts_good_input():
    np.testing.assert_array_equal(as_float_array("a", [1, 2]), [1.0, 2.0])
    assert as_positive_array("v", 2.0) == 2.0
    assert check_int("n", 3) == 3
    assert check_int("n", np.int64(5)) == 5
    assert check_probability_level("level", 0.5) == 0.5
    np.testing.assert_allclose(check_probability_vector("p", [[0.2, 0.8], [1.0, 0.0]], axis=1).sum(1), 1)
    assert check_tol(0) == 0.0
    assert isinstance(check_rng("seed", 3), np.random.Generator)
    g = np.random.default_rng(0)
    assert check_rng("seed", g) is g


def test_one_sum_to_one_tolerance_for_rows_and_vectors():
    ok = np.array([[0.5, 0.5 + 0.5 * PROB_ATOL]])
    bad = np.array([[0.5, 0.5 + 2 * PROB_ATOL]])
    check_probability_rows("phi", ok)
    check_probability_vector("w", ok[0])
    with pytest.raises(ValueError, match="^phi rows must sum to one"):
        check_probability_rows("phi", bad)
    with pytest.raises(ValueError, match="^w must sum to one"):
        check_probability_vector("w", bad[0])


@pytest.mark.parametrize("call, match", [
    (lambda: as_float_array("alpha", [1.0, np.nan]), "^alpha contains NaN"),
    (lambda: as_float_array("alpha", [1.0, np.inf]), "^alpha contains infinite"),
    (lambda: as_float_array("alpha", [[1.0]], ndim=1), "^alpha must be a 1-D array"),
    (lambda: as_float_array("alpha", [], ndim=1, min_size=1), "^alpha must have at least 1"),
    (lambda: as_float_array("alpha", "abc"), "^alpha must be a real numeric array"),
    (lambda: as_float_array("alpha", [1 + 2j]), "^alpha must be real-valued"),
    (lambda: as_float_array("alpha", 1 + 0j), "^alpha must be real-valued"),
    (lambda: as_float_array("alpha", [10 * MAX_ABS]), "^alpha has an entry of magnitude"),
    (lambda: as_positive_array("var", [1.0, 0.0]), "^var has non-positive"),
    (lambda: as_positive_array("var", [1e-300]), "^var has an entry too close to zero"),
    (lambda: check_int("n", 2.5), "^n must be an integer"),
    (lambda: check_int("n", 3.0), "^n must be an integer"),
    (lambda: check_int("n", True), "^n must be an integer"),
    (lambda: check_int("n", 0), "^n must be >= 1"),
    (lambda: check_int("n", -1, minimum=0), "^n must be >= 0"),
    (lambda: check_int("j", 5, minimum=0, maximum=2), "^j must be <= 2"),
    (lambda: check_probability_level("level", 0.0), "^level must lie strictly between 0 and 1"),
    (lambda: check_probability_level("level", "x"), "^level must be a real number"),
    (lambda: check_probability_vector("p", [0.5, 0.6]), "^p must sum to one"),
    (lambda: check_probability_vector("p", [1.5, -0.5]), "^p has negative"),
    (lambda: check_tol(-1.0), "^tol must be >= 0"),
    (lambda: check_tol(1.0), "^tol must be < 1"),
    (lambda: check_tol(float("nan")), "^tol must be finite"),
    (lambda: check_tol("1e-8"), "^tol must be a real number"),
    (lambda: check_rng("seed", -1), "^seed must be non-negative"),
    (lambda: check_rng("seed", 1.5), "^seed must be None, a non-negative integer"),
    (lambda: check_rng("seed", True), "^seed must be None, a non-negative integer"),
    (lambda: check_rng("seed", None, allow_none=False), "^seed must be a non-negative integer"),
])
def test_rejects_bad_input_naming_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_pick_init_takes_one_of_the_two_names():
    assert pick_init(None, "m_init", 3) == 3 and pick_init(4, "m_init", None) == 4
    with pytest.raises(TypeError, match="init"):
        pick_init(1, "m_init", 2)
