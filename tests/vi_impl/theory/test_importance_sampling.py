"""Tests for vi_impl.theory.importance_sampling (theory chapter "Why approximate inference")."""

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

from vi_impl.theory.importance_sampling import (effective_sample_size, importance_estimate,
                                         importance_sampling, log_importance_weights)


def _normal_normal(rng, n=5):
    """z ~ N(0, 1), x_i | z ~ N(z, 1): evidence is N(0, I + 1 1^T) (scipy, independent route)."""
    x = rng.normal(0.7, 1.0, size=n)
    log_evidence = stats.multivariate_normal(np.zeros(n), np.eye(n) + np.ones((n, n))).logpdf(x)

    def log_joint(z):
        z = np.asarray(z)
        return stats.norm.logpdf(z) + stats.norm.logpdf(x[None, :], loc=z[:, None]).sum(axis=1)

    return x, log_evidence, log_joint


def test_estimator_is_unbiased_and_consistent():
    rng = np.random.default_rng(1)
    x, log_ev, log_joint = _normal_normal(rng)
    q = stats.norm(0.3, 0.8)
    res = importance_sampling(log_joint, lambda r, n: q.rvs(size=n, random_state=r), q.logpdf,
                              200_000, rng)
    assert abs(res.estimate - np.exp(log_ev)) < 4 * res.std_error
    assert abs(res.log_estimate - log_ev) < 0.02
    # many independent small-sample estimates average to the evidence (unbiasedness)
    ests = np.array([importance_sampling(log_joint, lambda r, n: q.rvs(size=n, random_state=r),
                                         q.logpdf, 5, rng).estimate for _ in range(4000)])
    se = ests.std(ddof=1) / np.sqrt(ests.size)
    assert abs(ests.mean() - np.exp(log_ev)) < 4 * se


def test_estimate_matches_plain_average_and_std_error():
    rng = np.random.default_rng(2)
    lw = rng.normal(size=50)
    w = np.exp(lw)
    res = importance_estimate(lw)
    assert res.estimate == pytest.approx(w.mean(), rel=1e-12)
    assert res.std_error == pytest.approx(w.std(ddof=1) / np.sqrt(w.size), rel=1e-10)
    assert res.n == 50


def test_estimate_is_stable_for_huge_log_weights():
    lw = np.array([-1000.0, -1001.0, -1000.5])
    res = importance_estimate(lw)
    expected = logsumexp(lw) - np.log(3)
    assert res.log_estimate == pytest.approx(expected, rel=1e-12)
    assert np.isfinite(res.log_std_error)
    shifted = importance_estimate(lw + 2000.0)
    assert shifted.log_estimate == pytest.approx(expected + 2000.0, rel=1e-12)


def test_effective_sample_size_bounds_and_formula():
    rng = np.random.default_rng(3)
    lw = rng.normal(scale=2.0, size=100)
    w = np.exp(lw)
    assert effective_sample_size(lw) == pytest.approx(w.sum() ** 2 / (w ** 2).sum(), rel=1e-12)
    assert effective_sample_size(np.zeros(37)) == pytest.approx(37.0)
    one_dominates = np.full(10, -500.0)
    one_dominates[4] = 0.0
    assert effective_sample_size(one_dominates) == pytest.approx(1.0, abs=1e-12)
    # invariance to a common scale
    assert effective_sample_size(lw + 123.0) == pytest.approx(effective_sample_size(lw), rel=1e-12)


def test_log_weights_allow_zero_target_and_subtract():
    lw = log_importance_weights([0.0, -np.inf, 2.0], [1.0, 0.5, -1.0])
    assert lw[0] == -1.0 and lw[1] == -np.inf and lw[2] == 3.0


@pytest.mark.parametrize("bad, match", [
    (dict(log_target=[0.0, np.nan], log_proposal=[0.0, 0.0]), "log_target"),
    (dict(log_target=[0.0, 1.0], log_proposal=[0.0, -np.inf]), "log_proposal"),
    (dict(log_target=[0.0, 1.0], log_proposal=[0.0]), "same shape"),
    (dict(log_target=[[0.0]], log_proposal=[[0.0]]), "log_target"),
])
def test_log_weights_reject_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        log_importance_weights(**bad)


def test_reject_bad_input_elsewhere():
    with pytest.raises(ValueError, match="log_weights"):
        importance_estimate([1.0])
    with pytest.raises(ValueError, match="log_weights"):
        effective_sample_size([-np.inf, -np.inf])
    with pytest.raises(ValueError, match="log_weights"):
        importance_estimate([0.0, np.inf])
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="n_samples"):
        importance_sampling(lambda z: z, lambda r, n: r.normal(size=n), lambda z: z, 1, rng)
    with pytest.raises(ValueError, match="n_samples"):
        importance_sampling(lambda z: z, lambda r, n: r.normal(size=n), lambda z: z, 2.5, rng)
    with pytest.raises(ValueError, match="^seed"):
        importance_sampling(lambda z: z, lambda r, n: r.normal(size=n), lambda z: z, 10, -1)
    with pytest.raises(ValueError, match="^seed"):
        importance_sampling(lambda z: z, lambda r, n: r.normal(size=n), lambda z: z, 10, None)
    # an int seed is as good as a generator: same draws
    a = importance_sampling(lambda z: -z**2, lambda r, n: r.normal(size=n), lambda z: -z**2 / 2, 10, 3)
    b = importance_sampling(lambda z: -z**2, lambda r, n: r.normal(size=n), lambda z: -z**2 / 2, 10,
                            np.random.default_rng(3))
    np.testing.assert_array_equal(a.log_weights, b.log_weights)
    with pytest.raises(ValueError, match="sample_proposal"):
        importance_sampling(lambda z: z, lambda r, n: r.normal(size=n - 1), lambda z: z, 10, rng)
