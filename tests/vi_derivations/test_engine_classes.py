"""Regression tests for the classes of model that the engine once derived silently wrong:
a Mixture whose component has its own event plate (LDA), a full-covariance q factor with a batch
plate, variables over a repeated plate, plates shared by two models, and unnamed refusals.
Every expected value is computed here by an independent route (enumeration, scipy.stats, a
hand-written NumPy loop), never copied from the engine."""
import itertools

import numpy as np
import pytest
import scipy.stats as st
import sympy as sp
from scipy.special import digamma, logsumexp
from sympy import Sum

import vi_derivations as vd


# ----------------------------------------------------------------------------- 1. event-plated mixture
def two_categoricals():
    N, K, V = vd.Plate("N", "n"), vd.Plate("K", "k"), vd.Plate("V", "v")
    n, k, v = N.index, K.index, V.index
    M = vd.Model("two_categoricals")
    beta = M.hyper("beta", (K, V))
    z = M.latent("z", (N, K))
    w = M.observed("w", (N, V))
    M.factor(z, vd.Categorical(1 / K.size, event=K))
    M.factor(w, vd.Mixture(z, vd.Categorical(beta[k, v], event=V)))
    pi = M.variational("pi", (N, K), positive=True)
    M.q(z, vd.Categorical(pi[n, k], event=K))
    return M


@pytest.mark.parametrize("word", [0, 1, 2])
def test_two_categorical_components_over_three_symbols(word):
    B = np.array([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]])
    W = np.eye(3)[[word]]
    res = vd.cavi(two_categoricals()).run(dict(beta=B, w=W), {}, max_iter=3)
    resp = B[:, word] / B[:, word].sum()  # beta_1[w] / (beta_1[w] + beta_2[w]), by hand
    np.testing.assert_allclose(res.params["pi"][0], resp, rtol=1e-12)
    log_evidence = logsumexp([np.log(0.5) + np.log(B[c, word]) for c in range(2)])  # enumeration
    assert res.elbo[-1] == pytest.approx(log_evidence, rel=1e-12)


def test_two_categorical_components_several_observations_match_enumeration():
    rng = np.random.default_rng(3)
    B = rng.dirichlet(np.ones(4), size=3)
    words = rng.integers(0, 4, size=5)
    res = vd.cavi(two_categoricals()).run(dict(beta=B, w=np.eye(4)[words]), {}, max_iter=3)
    # exact: the observations are independent given nothing shared, so log p = sum_n log sum_k p_k B_kw
    exact = sum(logsumexp(np.log(B[:, wn]) - np.log(3)) for wn in words)
    assert res.elbo[-1] == pytest.approx(exact, rel=1e-12)


def test_mvnormal_component_is_refused_by_name():
    N, K, J = vd.Plate("N", "n"), vd.Plate("K", "k"), vd.Plate("J", "j")
    M = vd.Model("mv_mixture")
    mu, P = M.hyper("mu0", (K, J)), M.hyper("P", (J, J))
    c, x = M.latent("c", (N, K)), M.observed("x", (N, J))
    M.factor(c, vd.Categorical(1 / K.size, event=K))
    with pytest.raises(vd.UnsupportedModelError, match=r"p\(x \| \.\.\.\).*MvNormal"):
        M.factor(x, vd.Mixture(c, vd.MvNormal(mu[K.index, J.index], precision=P, event=J)))


def lda_by_hand(W, alpha, beta=None, eta=None, lam=None, iters=300):
    """Blei, Ng & Jordan's coordinate ascent for LDA, written directly in NumPy."""
    Dn, Nn, Vn = W.shape
    words = W.argmax(-1)
    K = beta.shape[0] if beta is not None else lam.shape[0]
    gamma = np.ones((Dn, K))
    for _ in range(iters):
        if beta is not None:
            elog_beta = np.log(beta)
        else:
            elog_beta = digamma(lam) - digamma(lam.sum(1, keepdims=True))
        logphi = digamma(gamma)[:, None, :] + elog_beta[:, words].transpose(1, 2, 0)
        phi = np.exp(logphi - logsumexp(logphi, axis=-1, keepdims=True))
        gamma = alpha + phi.sum(1)
        if beta is None:
            lam = eta + np.einsum("dnk,dnv->kv", phi, W)
    return phi, gamma, lam


@pytest.mark.parametrize("name", ["lda_fixed_topics", "lda"])
def test_lda_matches_the_hand_written_updates(name):
    rng = np.random.default_rng(4)
    Dn, Nn, K, V = 3, 5, 2, 4
    W = np.eye(V)[rng.integers(0, V, size=(Dn, Nn))]
    M = vd.models.load(name)
    data, init = dict(w=W, alpha=0.7), dict(gamma=np.ones((Dn, K)))
    if name == "lda":
        data["eta"] = 0.4
        init["lam"] = 1 + rng.random((K, V))
        phi, gamma, lam = lda_by_hand(W, 0.7, eta=0.4, lam=init["lam"].copy())
    else:
        data["beta"] = rng.dirichlet(np.ones(V), size=K)
        phi, gamma, lam = lda_by_hand(W, 0.7, beta=data["beta"])
    res = vd.cavi(M, order=["z", "theta"] + (["beta"] if name == "lda" else [])).run(data, init, max_iter=300, tol=0)
    trace = res.elbo
    assert np.all(trace[1:] - trace[:-1] >= -1e-10 * np.abs(trace[1:]))
    np.testing.assert_allclose(res.params["gamma"], gamma, rtol=1e-8)
    np.testing.assert_allclose(res.params["phi"], phi, rtol=1e-8, atol=1e-12)
    if name == "lda":
        np.testing.assert_allclose(res.params["lam"], lam, rtol=1e-8)


# ----------------------------------------------------------------------------- 3. MvNormal with batch plates
def grouped_regression(prior):
    G, N, J = vd.Plate("G", "g"), vd.Plate("N", "n"), vd.Plate("J", "j")
    g, n, j = G.index, N.index, J.index
    M = vd.Model("grouped_regression")
    X = M.covariate("X", (G, N, J))
    w, y = M.latent("w", (G, J)), M.observed("y", (G, N))
    if prior == "normal":
        M.factor(w, vd.Normal(0, var=1))
    else:
        L = M.hyper("L", (J, J) if prior == "shared" else (G, J, J))
        M.factor(w, vd.MvNormal(0, precision=L, event=J))
    l = J.fresh()
    M.factor(y, vd.Normal(Sum(X[g, n, l] * w[g, l], (l, l.lower, l.upper)), var=1))
    m, V = M.variational("m", (G, J)), M.variational("V", (G, J, J))
    M.q(w, vd.MvNormal(m[g, j], cov=V, event=J))
    return M


@pytest.mark.parametrize("prior", ["normal", "shared", "batched"])
def test_one_full_covariance_gaussian_per_group_reaches_the_exact_evidence(prior):
    rng = np.random.default_rng(5)
    G, N, J = 3, 4, 2
    X, y = rng.normal(size=(G, N, J)), rng.normal(size=(G, N))
    A = rng.normal(size=(J, J))
    P = A @ A.T + np.eye(J)
    Ps = {"normal": [np.eye(J)] * G, "shared": [P] * G, "batched": [P * (g + 1) for g in range(G)]}[prior]
    data = dict(X=X, y=y)
    if prior != "normal":
        data["L"] = P if prior == "shared" else np.stack(Ps)
    M = grouped_regression(prior)
    assert "LogDet(V, g" in str(vd.elbo(M, constants=True))  # a log det per group, not G log det V
    res = vd.cavi(M).run(data, {}, max_iter=3)
    exact = sum(st.multivariate_normal(np.zeros(N), X[g] @ np.linalg.inv(Ps[g]) @ X[g].T + np.eye(N)).logpdf(y[g])
                for g in range(G))
    assert res.elbo[-1] == pytest.approx(exact, rel=1e-12)
    for g in range(G):  # q(w_g) is the exact posterior of group g
        Vg = np.linalg.inv(Ps[g] + X[g].T @ X[g])
        np.testing.assert_allclose(res.params["V"][g], Vg, rtol=1e-10)
        np.testing.assert_allclose(res.params["m"][g], Vg @ X[g].T @ y[g], rtol=1e-10)


def test_shared_covariance_for_a_batched_q_factor_is_refused():
    G, J = vd.Plate("G", "g"), vd.Plate("J", "j")
    M = vd.Model("bad_q")
    w, y = M.latent("w", (G, J)), M.observed("y", (G, J))
    M.factor(w, vd.Normal(0, var=1))
    M.factor(y, vd.Normal(w[G.index, J.index], var=1))
    m, V = M.variational("m", (G, J)), M.variational("V", (J, J))
    M.q(w, vd.MvNormal(m[G.index, J.index], cov=V, event=J))
    with pytest.raises(vd.UnsupportedModelError, match=r"q\(w\).*V.*G"):
        vd.update(M, "w")


# ----------------------------------------------------------------------------- 4. repeated plates
@pytest.mark.parametrize("kind", ["latent", "observed"])
def test_variable_over_a_repeated_plate_is_refused_by_name(kind):
    K = vd.Plate("K", "k")
    M = vd.Model("repeated")
    with pytest.raises(vd.UnsupportedModelError, match=r"'A'.*plate K is repeated"):
        getattr(M, kind)("A", (K, K))


def test_matrices_over_a_repeated_plate_are_still_allowed_as_parameters():
    K = vd.Plate("K", "k")
    M = vd.Model("params")
    M.hyper("P", (K, K))
    M.variational("V", (K, K))


# ----------------------------------------------------------------------------- plates owned by models
def normal_mean(name, N):
    M = vd.Model(name)
    mu, x = M.latent("mu"), M.observed("x", (N,))
    M.factor(mu, vd.Normal(0, var=1))
    M.factor(x, vd.Normal(mu, var=1))
    M.q(mu, vd.Normal(M.variational("m"), var=M.variational("s", positive=True)))
    return M


def test_two_models_with_a_plate_named_N_do_not_interfere():
    N1 = vd.Plate("N", "i")
    N2 = vd.Plate("N", "i")  # created before the first model uses N1
    A, B = normal_mean("A", N1), normal_mean("B", N2)
    x = np.array([1.0, 2.0, 4.0])
    for M in (A, B):
        out = vd.update(M, "mu").numeric()(x=x)
        assert out["m"] == pytest.approx(x.sum() / 4) and out["s"] == pytest.approx(1 / 4)


def test_latex_names_belong_to_the_model():
    N = vd.Plate("N", "i")
    A, B = vd.Model("A"), vd.Model("B")
    A.hyper("lam", latex=r"\lambda")
    B.hyper("lam", latex=r"\ell")
    assert A.latex_names["lam"] == r"\lambda" and B.latex_names["lam"] == r"\ell"


# ----------------------------------------------------------------------------- named refusals
def test_vector_logistic_regression_is_a_named_non_conjugate_error():
    N, D = vd.Plate("N", "n"), vd.Plate("D", "j")
    M = vd.Model("logistic")
    X = M.covariate("X", (N, D))
    w, y = M.latent("w", (D,)), M.observed("y", (N,))
    M.factor(w, vd.Normal(0, var=1))
    l = D.fresh()
    M.factor(y, vd.Bernoulli(1 / (1 + sp.exp(-Sum(X[N.index, l] * w[l], (l, l.lower, l.upper))))))
    M.q(w, vd.Normal(M.variational("m", (D,))[D.index], var=M.variational("s2", (D,), positive=True)[D.index]))
    with pytest.raises(vd.NonConjugateError, match=r"factor p\(y \| w\), variable y: the term .*exp.*w"):
        vd.derive(M)


def test_unsupported_expectation_is_a_non_conjugate_error():
    assert issubclass(vd.UnsupportedExpectationError, vd.NonConjugateError)


def test_a_certain_binary_switch_keeps_the_elbo_finite():
    """q(s) = Bernoulli(p) with p = expit(eta) that rounds to 1: the entropy stays finite and the
    ELBO equals the exact evidence by enumeration (found by the random-model profile)."""
    N = vd.Plate("N", "i")
    M = vd.Model("switch")
    s, x = M.latent("s", (N,)), M.observed("x", (N,))
    M.factor(s, vd.Bernoulli(M.hyper("rho")))
    M.factor(x, vd.Normal(s[N.index] * M.hyper("mu0", positive=False), var=1))
    M.q(s, vd.Bernoulli(M.variational("p", (N,), positive=True)[N.index]))
    X = np.array([30.0, 0.1, 29.0])
    res = vd.cavi(M).run(dict(x=X, rho=0.5, mu0=30.0), {}, max_iter=3)
    exact = sum(logsumexp([np.log(0.5) + st.norm.logpdf(xi, 0, 1), np.log(0.5) + st.norm.logpdf(xi, 30, 1)])
                for xi in X)
    assert np.isfinite(res.elbo[-1]) and res.elbo[-1] == pytest.approx(exact, rel=1e-12)


def test_dirichlet_components_over_an_event_plate_match_enumeration():
    N, K, V = vd.Plate("N", "n"), vd.Plate("K", "k"), vd.Plate("V", "v")
    M = vd.Model("dirichlet_components")
    a = M.hyper("a", (K, V))
    z, x = M.latent("z", (N, K)), M.observed("x", (N, V))
    M.factor(z, vd.Categorical(1 / K.size, event=K))
    M.factor(x, vd.Mixture(z, vd.Dirichlet(a[K.index, V.index], event=V)))
    M.q(z, vd.Categorical(M.variational("p", (N, K), positive=True)[N.index, K.index], event=K))
    A, X = np.array([[1.0, 2, 3], [4, 1, 0.5]]), np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    res = vd.cavi(M).run(dict(a=A, x=X), {}, max_iter=3)
    exact = sum(logsumexp([np.log(0.5) + st.dirichlet.logpdf(xn, A[c]) for c in range(2)]) for xn in X)
    assert res.elbo[-1] == pytest.approx(exact, rel=1e-12)
