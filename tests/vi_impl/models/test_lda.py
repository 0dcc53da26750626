"""vi_impl.models.lda: the vectorised local step against a per-document loop, the full ELBO
against a Monte Carlo estimate and against scikit-learn's bound, monotone batch CAVI, one
full-batch SVI step is one CAVI pass, held-out split, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy import stats
from scipy.special import digamma

from vi_impl.models import lda


def _corpus(M=40, V=25, K=3, length=30, seed=0):
    rng = np.random.default_rng(seed)
    beta = rng.dirichlet(np.full(V, 0.2), size=K)
    theta = rng.dirichlet(np.full(K, 0.3), size=M)
    counts = np.array([rng.multinomial(length, theta[d] @ beta) for d in range(M)])
    return sp.csr_matrix(counts.astype(float))


def _per_doc_reference(X, lam, alpha, n_sweeps):
    """Per-document CAVI with explicit phi (M, V, K), n_sweeps sweeps from alpha + n_d / K."""
    Xd = X.toarray()
    M, K = Xd.shape[0], lam.shape[0]
    elog_beta = digamma(lam) - digamma(lam.sum(1, keepdims=True))
    gammas = []
    for d in range(M):
        g = np.full(K, alpha + Xd[d].sum() / K)
        for _ in range(n_sweeps):
            logits = (digamma(g) - digamma(g.sum()))[None, :] + elog_beta.T      # (V, K)
            phi = np.exp(logits - logits.max(1, keepdims=True))
            phi /= phi.sum(1, keepdims=True)
            g = alpha + Xd[d] @ phi
        gammas.append(g)
    return np.array(gammas)


def test_vectorised_local_step_matches_a_per_document_loop():
    X = _corpus()
    lam = lda.init_lambda(3, 25, seed=1) + 2.0
    gamma, _ = lda.e_step(X, lam, 0.3, max_iter=15, tol=0.0)
    np.testing.assert_allclose(gamma, _per_doc_reference(X, lam, 0.3, 15), rtol=1e-10)


def test_full_elbo_matches_monte_carlo():
    X = _corpus(M=4, V=8, K=2, length=6, seed=3)
    alpha, eta = 0.5, 0.3
    lam = lda.init_lambda(2, 8, seed=2) * 3.0
    gamma, _ = lda.e_step(X, lam, alpha, max_iter=3, tol=0.0)
    # phi at its optimum given (gamma, lam)
    elog_theta = digamma(gamma) - digamma(gamma.sum(1, keepdims=True))
    elog_beta = digamma(lam) - digamma(lam.sum(1, keepdims=True))
    Xd = X.toarray()
    rng = np.random.default_rng(0)
    S = 1500
    vals = np.empty(S)
    words = [(d, w, int(n)) for d in range(4) for w in range(8) for n in [Xd[d, w]] if n]
    for s in range(S):
        theta = np.array([rng.dirichlet(g) for g in gamma])
        beta = np.array([rng.dirichlet(l) for l in lam])
        theta = np.clip(theta, 1e-300, None)
        beta = np.clip(beta, 1e-300, None)
        v = sum(stats.dirichlet(np.full(2, alpha)).logpdf(t / t.sum()) -
                stats.dirichlet(g).logpdf(t / t.sum()) for t, g in zip(theta, gamma))
        v += sum(stats.dirichlet(np.full(8, eta)).logpdf(b / b.sum()) -
                 stats.dirichlet(l).logpdf(b / b.sum()) for b, l in zip(beta, lam))
        for d, w, n in words:
            logits = elog_theta[d] + elog_beta[:, w]
            phi = np.exp(logits - logits.max())
            phi /= phi.sum()
            z = rng.choice(2, size=n, p=phi)
            v += (np.log(theta[d, z]) + np.log(beta[z, w]) - np.log(phi[z])).sum()
        vals[s] = v
    se = vals.std(ddof=1) / np.sqrt(S)
    assert abs(vals.mean() - lda.elbo(X, gamma, lam, alpha, eta)) < 4 * se


def test_elbo_equals_sklearn_bound_at_sklearn_parameters():
    from sklearn.decomposition import LatentDirichletAllocation

    X = _corpus(M=60, V=30, K=3, seed=5)
    sk = LatentDirichletAllocation(3, doc_topic_prior=0.2, topic_word_prior=0.1,
                                   learning_method="batch", max_iter=5, random_state=0).fit(X)
    gamma = sk._unnormalized_transform(X)
    ours = lda.elbo(X, gamma, sk.components_, 0.2, 0.1)
    assert ours == pytest.approx(sk.score(X), rel=1e-10)


def test_batch_elbo_never_decreases_with_warm_start():
    X = _corpus(M=50, seed=7)
    res = lda.fit_batch(X, 3, alpha=0.3, eta=0.1, n_passes=25, seed=1, local_tol=1e-6,
                        warm_start=True)
    assert (np.diff(res.elbo) >= -1e-9 * np.abs(res.elbo[1:])).all()
    assert res.elbo[-1] > res.elbo[0]


def test_restarted_local_steps_reach_a_fixed_point():
    X = _corpus(M=50, seed=7)
    res = lda.fit_batch(X, 3, alpha=0.3, eta=0.1, n_passes=60, seed=1, local_tol=1e-8)
    assert res.elbo[-1] > res.elbo[0]
    assert abs(res.elbo[-1] - res.elbo[-2]) < 1e-6 * abs(res.elbo[-1])


def test_one_full_batch_svi_step_is_one_batch_pass():
    X = _corpus(M=30, seed=8)
    lam0 = lda.init_lambda(3, 25, seed=4)
    b = lda.fit_batch(X, 3, alpha=0.3, eta=0.1, n_passes=1, init=lam0)
    s = lda.fit_svi(X, 3, alpha=0.3, eta=0.1, batch_size=30, n_steps=1, tau0=0.0, kappa=1.0,
                    init=lam0)
    np.testing.assert_allclose(s["lam"], b["lam"], rtol=1e-12)


def test_svi_improves_heldout_predictive():
    X = _corpus(M=200, V=25, K=3, seed=9)
    obs, test = lda.split_heldout(X[150:], 0.5, seed=0)
    res = lda.fit_svi(X[:150], 3, alpha=0.3, eta=0.1, batch_size=25, n_steps=60, tau0=4.0,
                      kappa=0.7, seed=0, monitor_every=20,
                      monitor=lambda lam: lda.heldout_log_predictive(obs, test, lam, 0.3))
    start = lda.heldout_log_predictive(obs, test, lda.init_lambda(3, 25, seed=0), 0.3)
    assert res.monitor[-1] > start + 0.1


def test_heldout_split_partitions_the_counts():
    X = _corpus(M=20, seed=1)
    obs, test = lda.split_heldout(X, 0.5, seed=2)
    np.testing.assert_array_equal((obs + test).toarray(), X.toarray())
    assert 0.3 < obs.sum() / X.sum() < 0.7


@pytest.mark.parametrize("call, name", [
    (lambda: lda.e_step(-np.ones((2, 3)), np.ones((2, 3)), 0.1), "X"),
    (lambda: lda.e_step(np.ones((2, 3)), np.ones((2, 4)), 0.1), "lam"),
    (lambda: lda.e_step(np.ones((2, 3)), np.ones((2, 3)), 0.0), "alpha"),
    (lambda: lda.fit_batch(np.ones((2, 3)), 0, alpha=0.1, eta=0.1), "K"),
    (lambda: lda.heldout_log_predictive(np.ones((2, 3)), np.zeros((2, 3)), np.ones((2, 3)),
                                        0.1), "X_test"),
    (lambda: lda.fit_svi(np.ones((2, 3)), 2, alpha=0.1, eta=0.1, batch_size=3, n_steps=1),
     "batch_size"),
])
def test_bad_input_is_named(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_arguments_the_fuzz_found_unchecked_are_refused_by_name():
    """Found by benchmarks/fuzz_vi_impl.py: each was accepted (or failed inside numpy)."""
    X = _corpus(M=6, V=5, seed=2)
    fit = dict(alpha=0.3, eta=0.1, batch_size=3, n_steps=2)
    cases = [
        # a NaN local tolerance stopped every local step after one sweep, silently
        (lambda: lda.fit_svi(X, 3, **fit, local_tol=np.nan), "local_tol"),
        (lambda: lda.svi_parts(X, 3, 0.3, 0.1, local_max_iter=0), "local_max_iter"),
        (lambda: lda.heldout_log_predictive(X, X, np.ones((3, 5)), 0.3, local_tol=-1.0),
         "local_tol"),
        (lambda: lda.fit_batch(X, 3, alpha=0.3, eta=0.1, local_tol=np.inf), "local_tol"),
        # init with 2 topics where K = 3 used to fit 2 topics
        (lambda: lda.fit_batch(X, 3, alpha=0.3, eta=0.1, init=np.ones((2, 5))), "init"),
        (lambda: lda.fit_svi(X, 3, **fit, init=-np.ones((3, 5))), "init"),
        # fractional counts were truncated (0.5 -> 0 observed, 0.5 test)
        (lambda: lda.split_heldout(X * 0.5, 0.5), "X"),
        (lambda: lda.split_heldout(X, 1.5), "fraction"),
        (lambda: lda.split_heldout(X, 0.5 + 0j), "fraction"),
        (lambda: lda.e_step(sp.csr_matrix(X.toarray() + 1j), np.ones((3, 5)), 0.3), "X"),
        (lambda: lda.e_step(X[:4], np.ones((3, 5)), 0.3, gamma=np.ones((6, 3))),
         r"gamma .*rows of X"),
        (lambda: lda.fit_batch(X, 3, alpha=0.3, eta=0.1, n_passes=1,
                               monitor=lambda lam: np.nan), "monitor"),
        (lambda: lda.fit_svi(X, 3, **fit, monitor="heldout"), "monitor"),
    ]
    for call, name in cases:
        with pytest.raises((ValueError, TypeError), match=rf"^{name}\b"):
            call()


def test_words_every_topic_gives_only_a_tiny_prior_are_not_dropped():
    """exp(E log beta_kw) underflows to 0 for every k when lambda_kw << 1 (a start at a small
    prior eta = 1e-3, or a word SVI has not seen for a while): phi was 0, the word's counts were
    lost, and batch CAVI from lambda = eta stayed at the prior (ELBO -3.6e5 instead of -1.2e3)."""
    X = sp.csr_matrix(np.random.default_rng(0).poisson(1.0, size=(30, 12)).astype(float))
    gamma, sstats = lda.e_step(X, np.full((1, 12), 1e-3), 0.5)
    np.testing.assert_allclose(sstats.sum(axis=0), np.asarray(X.sum(axis=0)).ravel(), rtol=1e-12)
    np.testing.assert_allclose(gamma.sum(axis=1), 0.5 + np.asarray(X.sum(axis=1)).ravel(),
                               rtol=1e-12)
    res = lda.fit_batch(X, 2, alpha=0.1, eta=1e-3, n_passes=3, init=np.full((2, 12), 1e-3))
    assert res["lam"].sum() == pytest.approx(2 * 12 * 1e-3 + X.sum(), rel=1e-12)
    assert res.elbo[-1] > -2e3


def test_a_topic_matrix_too_large_to_hold_is_refused_by_name():
    with pytest.raises(ValueError, match="^V = "):
        lda.init_lambda(10**5, 10**6)
