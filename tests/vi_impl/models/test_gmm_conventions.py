"""The convention on dropped constants, checked without typing in the constants.

constants=False must (a) differ from constants=True by an amount that does not depend on
any variational parameter, and (b) keep no term that is free of variational parameters
(log_joint) / free of both model and variational parameters (log_var). Together with the
Monte Carlo and enumeration tests of the full values, this pins the reduced values down.
"""

from __future__ import annotations

import numpy as np
import pytest

from vi_impl.models import gmm


def _random_q(rng, N, K, D):
    return (rng.normal(scale=3, size=(K, D)), rng.uniform(0.1, 3, size=(K, D)),
            rng.dirichlet(np.full(K, 0.5), size=N))


@pytest.mark.parametrize("seed", range(3))
def test_dropped_terms_do_not_depend_on_variational_parameters(seed):
    rng = np.random.default_rng(seed)
    N, K, D = 30, 4, 3
    X = rng.normal(loc=2.0, scale=4.0, size=(N, D))
    sigma2 = 3.0
    joint_gaps, var_gaps = [], []
    for _ in range(3):
        m, s2, pi = _random_q(rng, N, K, D)
        joint_gaps.append(gmm.log_joint(X, m, s2, pi, sigma2, True)
                          - gmm.log_joint(X, m, s2, pi, sigma2, False))
        var_gaps.append(gmm.log_var(m, s2, pi, True) - gmm.log_var(m, s2, pi, False))
    np.testing.assert_allclose(joint_gaps, joint_gaps[0], rtol=1e-11)
    np.testing.assert_allclose(var_gaps, var_gaps[0], rtol=1e-12)
    # ... and the gap does depend on what it should (data, sigma2): it is not zero.
    other = gmm.log_joint(X + 1, m, s2, pi, 2 * sigma2, True) - gmm.log_joint(
        X + 1, m, s2, pi, 2 * sigma2, False)
    assert abs(other - joint_gaps[0]) > 1.0


def test_reduced_log_joint_keeps_no_constant():
    # With m = 0 and s2 -> 0 every kept term vanishes; a kept constant would remain.
    rng = np.random.default_rng(1)
    X = rng.normal(loc=5.0, size=(12, 2))
    pi = rng.dirichlet(np.ones(3), size=12)
    value = gmm.log_joint(X, np.zeros((3, 2)), np.full((3, 2), 1e-12), pi, 0.7)
    assert abs(value) < 1e-9


def test_reduced_log_var_keeps_no_constant_and_0_log_0_is_0():
    pi = np.eye(3)[[0, 2, 1, 1]]                       # one-hot rows: entropy 0, 0 log 0 = 0
    assert gmm.log_var(np.zeros((3, 2)), np.ones((3, 2)), pi) == 0.0
    full = gmm.log_var(np.zeros((3, 2)), np.ones((3, 2)), pi, constants=True)
    assert np.isfinite(full) and full < 0


def test_elbo_is_log_joint_minus_log_var():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(10, 2))
    m, s2, pi = _random_q(rng, 10, 3, 2)
    for constants in (False, True):
        assert gmm.elbo(X, m, s2, pi, 2.0, constants) == pytest.approx(
            gmm.log_joint(X, m, s2, pi, 2.0, constants) - gmm.log_var(m, s2, pi, constants),
            rel=1e-14)


def test_update_pi_matches_the_coursework_logits_and_survives_large_logits():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(20, 3))
    m, s2, _ = _random_q(rng, 20, 4, 3)
    logits = X @ m.T - 0.5 * (m**2 + s2).sum(axis=1)       # the coursework's p_k
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(gmm.update_pi(X, m, s2), expected, rtol=1e-12, atol=1e-15)
    # Far from the origin the same logits overflow exp (the naive normalisation gives NaN).
    far = gmm.update_pi(X + 1e3, m + 1e3, s2)
    np.testing.assert_allclose(far, expected, rtol=1e-8, atol=1e-12)
    with np.errstate(over="ignore", invalid="ignore"):
        big = (X + 1e3) @ (m + 1e3).T - 0.5 * ((m + 1e3) ** 2 + s2).sum(axis=1)
        assert np.isnan(np.exp(big) / np.exp(big).sum(axis=1, keepdims=True)).any()


def test_empty_components_fall_back_to_the_prior():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(7, 2))
    pi = np.zeros((7, 3))
    pi[:, 0] = 1.0                                      # components 1 and 2 empty
    s2 = gmm.update_s2(X, pi, 4.0)
    m = gmm.update_m(X, pi, 4.0)
    np.testing.assert_allclose(s2[1:], 4.0)            # empty component: back to the prior
    np.testing.assert_allclose(m[1:], 0.0)
    assert (s2[0] < 4.0 / 7).all()                      # 7 points shrink the variance
