"""vi_book.mixture_example: the shared data set and the independent routes of the mixture pages."""
import numpy as np
import pytest
import scipy.stats as st

import vi_impl.models.gmm as gmm
from vi_book import mixture_example as ex


def test_the_example_data_are_seeded_and_shaped():
    X, labels, mu = ex.example_data()
    X2, _, _ = ex.example_data()
    e = ex.EXAMPLE
    assert X.shape == (e["N"], e["D"]) and labels.shape == (e["N"],) and mu.shape == (e["K"], e["D"])
    np.testing.assert_array_equal(X, X2)
    # each point lies near the mean that made it: unit noise, so within 5 sd in every coordinate
    assert np.abs(X - mu[labels]).max() < 5


def test_random_q_is_a_member_of_the_family():
    m, s2, pi = ex.random_q(7, 3, 2, np.random.default_rng(0))
    assert m.shape == s2.shape == (3, 2) and pi.shape == (7, 3)
    assert np.all(s2 > 0) and np.allclose(pi.sum(axis=1), 1)


def test_monte_carlo_draws_average_to_the_elbo():
    """The mean of log p - log q over draws from q is the full ELBO of vi_impl (within 4 s.e.)."""
    rng = np.random.default_rng(1)
    X, _, _ = ex.sample_mixture(30, 3, 2, 9.0, rng)
    q = ex.random_q(30, 3, 2, rng)
    log_p, log_q = ex.sample_log_densities(X, *q, 9.0, S=4000, rng=rng, chunk=1500)
    w = log_p - log_q
    assert abs(w.mean() - gmm.elbo(X, *q, 9.0, constants=True)) <= 4 * w.std(ddof=1) / np.sqrt(w.size)


def test_enumeration_agrees_with_the_closed_form_for_one_point():
    """One point: x ~ N(0, (1 + sigma2) I) whatever its component."""
    x = np.array([[0.7, -1.2]])
    expected = st.multivariate_normal(np.zeros(2), 5.0 * np.eye(2)).logpdf(x[0])
    assert ex.log_evidence_by_enumeration(x, 3, 4.0) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("call, name, exc", [
    (lambda: ex.sample_mixture(0, 2, 2, 1.0, np.random.default_rng(0)), "N", ValueError),
    (lambda: ex.sample_mixture(5, 2, 2, -1.0, np.random.default_rng(0)), "sigma2", ValueError),
    (lambda: ex.sample_mixture(5, 2, 2, 1.0, 0), "rng", TypeError),
    (lambda: ex.random_q(5, True, 2, np.random.default_rng(0)), "K", ValueError),
    (lambda: ex.sample_log_densities(np.zeros((3, 2)), np.zeros((2, 2)), np.ones((2, 2)),
                                     np.full((3, 2), 0.7), 1.0, 10, np.random.default_rng(0)), "pi", ValueError),
    (lambda: ex.sample_log_densities(np.zeros((3, 2)), np.zeros((2, 2)), -np.ones((2, 2)),
                                     np.full((3, 2), 0.5), 1.0, 10, np.random.default_rng(0)), "s2", ValueError),
    (lambda: ex.sample_log_densities(np.zeros((3, 2)), np.zeros((2, 3)), np.ones((2, 3)),
                                     np.full((3, 2), 0.5), 1.0, 10, np.random.default_rng(0)), "m", ValueError),
    (lambda: ex.log_evidence_by_enumeration(np.zeros((30, 2)), 3, 1.0), "X", ValueError),
    (lambda: ex.log_evidence_by_enumeration(np.array([[np.nan, 0.0]]), 3, 1.0), "X", ValueError),
])
def test_bad_input_names_the_argument(call, name, exc):
    with pytest.raises(exc, match=name):
        call()
