"""Hypothesis properties of vi_impl.models.lda: the fit does not depend on the order of the
documents or the labels of the topics, warm-started batch CAVI never lowers the ELBO, every
phi row lies on the simplex (read off gamma and the statistics), a document's local step does
not depend on the other documents, and SVI's noisy step is unbiased and with rho = 1 on the
full corpus is one batch pass.

Profiles as in tests/conftest.py; the default (ci) keeps this file to a few seconds.
"""
from __future__ import annotations

import itertools
import os

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from vi_impl.models import lda
from vi_impl.svi import svi

THOROUGH = os.environ.get("HYPOTHESIS_PROFILE", "ci") == "thorough"
examples = settings(max_examples=1000 if THOROUGH else 12)
seeds = st.integers(0, 2**32 - 1)
alphas = st.sampled_from([1e-3, 0.1, 0.5, 2.0, 50.0])
etas = st.sampled_from([1e-3, 0.05, 1.0, 20.0])


def _corpus(seed, M=None, V=None):
    """A small random corpus: M documents over V words, counts from a random topic model, some
    documents and words possibly empty."""
    r = np.random.default_rng(seed)
    M = M or int(r.integers(2, 12))
    V = V or int(r.integers(2, 9))
    K0 = int(r.integers(1, 4))
    beta = r.dirichlet(np.full(V, 0.3), size=K0)
    theta = r.dirichlet(np.full(K0, 0.5), size=M)
    lengths = r.integers(0, 30, size=M)
    lengths[0] = max(lengths[0], 1)
    counts = np.array([r.multinomial(n, t @ beta) for n, t in zip(lengths, theta)], dtype=float)
    return sp.csr_matrix(counts)


@examples
@given(seeds, st.integers(1, 4), alphas, etas)
def test_fit_is_invariant_to_the_order_of_documents_and_topics(seed, K, alpha, eta):
    X = _corpus(seed)
    M, V = X.shape
    r = np.random.default_rng(seed + 1)
    docs, topics = r.permutation(M), r.permutation(K)
    lam0 = lda.init_lambda(K, V, seed=seed)
    a = lda.fit_batch(X, K, alpha=alpha, eta=eta, n_passes=4, init=lam0)
    b = lda.fit_batch(X[docs], K, alpha=alpha, eta=eta, n_passes=4, init=lam0[topics])
    np.testing.assert_allclose(b["lam"], a["lam"][topics], rtol=1e-9)
    np.testing.assert_allclose(b["gamma"], a["gamma"][docs][:, topics], rtol=1e-9)
    np.testing.assert_allclose(b.elbo, a.elbo, rtol=1e-11)


@examples
@given(seeds, st.integers(1, 4), alphas, etas)
def test_warm_started_batch_cavi_never_lowers_the_elbo(seed, K, alpha, eta):
    X = _corpus(seed)
    res = lda.fit_batch(X, K, alpha=alpha, eta=eta, n_passes=12, seed=seed, local_tol=1e-10,
                        local_max_iter=200, warm_start=True)
    assert np.isfinite(res.elbo).all() and not res.converged
    assert (np.diff(res.elbo) >= -1e-10 * np.abs(res.elbo[1:])).all()


@examples
@given(seeds, st.integers(1, 5), alphas, st.sampled_from([1e-3, 1.0, 1e3]))
def test_every_phi_row_lies_on_the_simplex(seed, K, alpha, lam_scale):
    """gamma_dk = alpha + sum_w n_dw phi_dwk and sstats_kw = sum_d n_dw phi_dwk, so rows of
    phi summing to one means gamma rows sum to K alpha + n_d and sstats columns to the word
    counts; gamma_dk >= alpha and sstats >= 0 means phi >= 0."""
    X = _corpus(seed)
    lam = lda.init_lambda(K, X.shape[1], seed=seed) * lam_scale
    gamma, sstats = lda.e_step(X, lam, alpha, max_iter=int(seed % 7) + 1, tol=0.0)
    n_d = np.asarray(X.sum(axis=1)).ravel()
    n_w = np.asarray(X.sum(axis=0)).ravel()
    np.testing.assert_allclose(gamma.sum(axis=1), K * alpha + n_d, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(sstats.sum(axis=0), n_w, rtol=1e-12, atol=1e-12)
    assert (gamma >= alpha).all() and (sstats >= 0).all()


@examples
@given(seeds, st.integers(1, 4), alphas)
def test_a_documents_local_step_does_not_depend_on_the_others(seed, K, alpha):
    X = _corpus(seed)
    lam = lda.init_lambda(K, X.shape[1], seed=seed)
    rows = np.flatnonzero(np.random.default_rng(seed).random(X.shape[0]) < 0.5)
    g_all, _ = lda.e_step(X, lam, alpha, max_iter=15, tol=0.0)
    g_some, _ = lda.e_step(X[rows], lam, alpha, max_iter=15, tol=0.0) if rows.size else (g_all[:0], 0)
    np.testing.assert_allclose(g_some, g_all[rows], rtol=1e-13)


@examples
@given(seeds, st.integers(1, 4), alphas, etas)
def test_svi_with_rho_one_on_the_full_corpus_is_a_batch_pass(seed, K, alpha, eta):
    X = _corpus(seed)
    lam0 = lda.init_lambda(K, X.shape[1], seed=seed)
    batch = lda.fit_batch(X, K, alpha=alpha, eta=eta, n_passes=1, init=lam0)
    step = lda.fit_svi(X, K, alpha=alpha, eta=eta, batch_size=X.shape[0], n_steps=1, tau0=0.0,
                       kappa=1.0, init=lam0, seed=seed)
    np.testing.assert_allclose(step["lam"], batch["lam"], rtol=1e-14)


@examples
@given(seeds, st.integers(1, 3), st.integers(1, 4))
def test_the_noisy_natural_gradient_is_unbiased(seed, K, B):
    """Over every minibatch of B documents, the mean of lambda_hat = prior + (M / B) sstats(batch)
    is the full-corpus lambda_hat; and one SVI step with rho = 1 lands on the lambda_hat of
    the minibatch it drew."""
    X = _corpus(seed, M=6)
    M, V = X.shape
    prior, local_step, batch_stats = lda.svi_parts(X, K, 0.5, 0.1, local_tol=0.0,
                                                   local_max_iter=10)
    lam = {"lam": lda.init_lambda(K, V, seed=seed)}

    def lam_hat(idx):
        return prior["lam"] + M / len(idx) * batch_stats(idx, local_step(idx, lam))["lam"]

    subsets = [np.array(s) for s in itertools.combinations(range(M), B)]
    mean = sum(lam_hat(s) for s in subsets) / len(subsets)
    np.testing.assert_allclose(mean, lam_hat(np.arange(M)), rtol=1e-11)
    drawn = []

    def recording_step(idx, lam_):
        drawn.append(idx)
        return local_step(idx, lam_)

    res = svi(prior, recording_step, batch_stats, M, init=lam, batch_size=B, n_steps=1,
              tau0=0.0, kappa=1.0, seed=seed)
    np.testing.assert_allclose(res["lam"], lam_hat(drawn[0]), rtol=1e-14)
