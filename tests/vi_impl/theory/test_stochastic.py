"""Tests for vi_impl.theory.stochastic (Monte Carlo ELBO, gradient estimators, SGA, Bernoulli score).

Independent route for every expectation: Gauss-Hermite quadrature (numpy.polynomial.hermite_e)
of the ELBO of a non-Gaussian 2-D log joint, and central finite differences of that quadrature
for the exact gradient. Neither uses the estimators under test.
"""
import numpy as np
import pytest
from numpy.polynomial.hermite_e import hermegauss

from vi_impl.theory import stochastic as st

# A non-conjugate, non-Gaussian 2-D log joint (a "banana" with quartic tails), known gradient.
A = np.array([[1.5, 0.6], [0.6, 1.0]])
b = np.array([0.7, -0.4])


def log_joint(z):
    return -0.5 * np.einsum("si,ij,sj->s", z, A, z) + z @ b - 0.05 * z[:, 0] ** 4 + 0.3 * np.sin(z[:, 1])


def grad_log_joint(z):
    g = -z @ A + b
    g[:, 0] -= 0.2 * z[:, 0] ** 3
    g[:, 1] += 0.3 * np.cos(z[:, 1])
    return g


def elbo_quadrature(m, log_s, n=60):
    x, w = hermegauss(n)
    w = w / w.sum()
    e1, e2 = np.meshgrid(x, x, indexing="ij")
    W = np.outer(w, w).ravel()
    z = np.column_stack([m[0] + np.exp(log_s[0]) * e1.ravel(), m[1] + np.exp(log_s[1]) * e2.ravel()])
    entropy = np.sum(log_s) + (1 + np.log(2 * np.pi))  # D = 2
    return W @ log_joint(z) + entropy


def grad_quadrature(m, log_s, h=1e-5):
    theta = np.concatenate([m, log_s])
    g = np.empty(4)
    for i in range(4):
        tp, tm = theta.copy(), theta.copy()
        tp[i] += h
        tm[i] -= h
        g[i] = (elbo_quadrature(tp[:2], tp[2:]) - elbo_quadrature(tm[:2], tm[2:])) / (2 * h)
    return g


M0 = np.array([0.4, -0.8])
LS0 = np.array([-0.3, 0.2])


@pytest.mark.parametrize("entropy", ["analytic", "mc"])
def test_mc_elbo_unbiased(entropy):
    est = st.mc_elbo(log_joint, M0, LS0, 100_000, 0, entropy=entropy)
    assert abs(est.value - elbo_quadrature(M0, LS0)) < 4 * est.stderr
    assert est.terms.shape == (100_000,)


def test_mc_elbo_with_exact_posterior_has_zero_variance():
    # If q is the exact posterior of a Gaussian model, log p(x,z) - log q(z) = log p(x) for every z.
    mu, s = np.array([1.0, -2.0]), np.array([0.5, 2.0])

    def lj(z):
        return np.sum(-0.5 * ((z - mu) / s) ** 2 - np.log(s) - 0.5 * np.log(2 * np.pi), axis=1) + 3.0

    est = st.mc_elbo(lj, mu, np.log(s), 50, 1, entropy="mc")
    assert np.allclose(est.terms, 3.0, atol=1e-12)


@pytest.mark.parametrize(
    "make", [
        lambda S, seed: st.reparam_grad_samples(grad_log_joint, M0, LS0, S, seed),
        lambda S, seed: st.score_grad_samples(log_joint, M0, LS0, S, seed),
        lambda S, seed: st.score_grad_samples(log_joint, M0, LS0, S, seed, baseline="loo"),
        lambda S, seed: st.score_grad_samples(log_joint, M0, LS0, S, seed, baseline=-3.0),
    ],
    ids=["reparam", "score", "score-loo", "score-const"],
)
def test_gradient_estimators_unbiased(make):
    exact = grad_quadrature(M0, LS0)
    samples = make(400_000, 7)
    mean, se = st.estimate(samples)
    assert np.all(np.abs(mean - exact) < 4 * se), (mean, exact, se)


def test_gradient_estimators_detect_wrong_gradient():
    # Guard that the 4-s.e. criterion has power: a reparameterisation estimate that forgets the
    # entropy's +1 must be rejected.
    exact = grad_quadrature(M0, LS0)
    samples = st.reparam_grad_samples(grad_log_joint, M0, LS0, 100_000, 3)
    samples[:, 2:] -= 1.0
    mean, se = st.estimate(samples)
    assert np.any(np.abs(mean - exact) > 4 * se)


def test_leave_one_out_baseline_reduces_variance():
    far = np.array([2.0, 1.5])
    plain = st.score_grad_samples(log_joint, far, LS0, 20_000, 11)
    loo = st.score_grad_samples(log_joint, far, LS0, 20_000, 11, baseline="loo")
    assert np.all(loo.var(axis=0) < 0.8 * plain.var(axis=0))


def test_reparameterisation_beats_score_function_variance():
    rep = st.reparam_grad_samples(grad_log_joint, M0, LS0, 20_000, 5)
    sco = st.score_grad_samples(log_joint, M0, LS0, 20_000, 5)
    assert np.all(rep.var(axis=0) < sco.var(axis=0))


def test_seeded_reproducibility():
    a = st.reparam_grad_samples(grad_log_joint, M0, LS0, 10, 123)
    b_ = st.reparam_grad_samples(grad_log_joint, M0, LS0, 10, 123)
    c = st.reparam_grad_samples(grad_log_joint, M0, LS0, 10, 124)
    assert np.array_equal(a, b_) and not np.array_equal(a, c)


def test_log_q_and_entropy_against_scipy():
    from scipy import stats
    rng = np.random.default_rng(0)
    z = rng.standard_normal((5, 2))
    ref = stats.norm(M0, np.exp(LS0)).logpdf(z).sum(axis=1)
    np.testing.assert_allclose(st.log_q(z, M0, LS0), ref, rtol=1e-12)
    assert abs(st.gaussian_entropy(LS0) - stats.norm(M0, np.exp(LS0)).entropy().sum()) < 1e-12


# --------------------------------------------------------------------------- SGA on a conjugate model
X = np.array([0.3, 1.9, 1.1, 2.4, 0.8])


def nn_log_joint(z):  # z ~ N(0, 1), x_k | z ~ N(z, 1)
    return -0.5 * z[:, 0] ** 2 - 0.5 * np.sum((X - z[:, [0]]) ** 2, axis=1) - 0.5 * (len(X) + 1) * np.log(2 * np.pi)


def nn_grad(z):
    return (-z[:, 0] + np.sum(X - z[:, [0]], axis=1))[:, None]


def exact_posterior():
    # by conjugacy, computed here from the precision/information form, not from the module
    prec = 1.0 + len(X)
    return X.sum() / prec, 1.0 / prec


@pytest.mark.parametrize("optimizer, lr", [("adam", 0.05), ("robbins-monro", 0.1)])
def test_sga_reaches_exact_posterior(optimizer, lr):
    mean, var = exact_posterior()
    res = st.fit_sga(lambda m, ls, rng: st.reparam_grad_samples(nn_grad, m, ls, 8, rng).mean(axis=0),
                     np.array([-4.0]), np.array([1.5]), n_steps=4000, seed=0, optimizer=optimizer,
                     lr=lr, decay=0.01, average_last=1000)
    assert abs(res.m[0] - mean) < 0.02
    assert abs(np.exp(2 * res.log_s[0]) - var) < 0.02 * var + 0.005
    assert res.trace.shape == (4001, 2)


# --------------------------------------------------------------------------- Bernoulli
W = np.array([1.0, -2.0, 0.5])


def f_bern(z):
    return (z @ W) ** 2 - 3 * z[:, 0] * z[:, 2]


def test_bernoulli_exact_grad_matches_finite_differences():
    import itertools
    eta = np.array([0.3, -1.0, 2.0])
    states = np.array(list(itertools.product([0.0, 1.0], repeat=3)))

    def expectation(e):
        p = 1 / (1 + np.exp(-e))
        q = np.prod(np.where(states == 1, p, 1 - p), axis=1)
        return q @ f_bern(states)

    h = 1e-6
    fd = np.array([(expectation(eta + h * np.eye(3)[i]) - expectation(eta - h * np.eye(3)[i])) / (2 * h)
                   for i in range(3)])
    np.testing.assert_allclose(st.bernoulli_exact_grad(f_bern, eta), fd, atol=1e-7)


@pytest.mark.parametrize("baseline", [None, "loo"])
def test_bernoulli_score_unbiased(baseline):
    eta = np.array([0.3, -1.0, 2.0])
    mean, se = st.estimate(st.bernoulli_score_grad_samples(f_bern, eta, 200_000, 2, baseline=baseline))
    assert np.all(np.abs(mean - st.bernoulli_exact_grad(f_bern, eta)) < 4 * se)


def test_bernoulli_exact_grad_stable_for_extreme_logits():
    g = st.bernoulli_exact_grad(f_bern, np.array([800.0, -800.0, 0.0]))
    assert np.all(np.isfinite(g))


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: st.mc_elbo(log_joint, [0.0, np.nan], LS0, 10, 0), "m"),
        (lambda: st.mc_elbo(log_joint, M0, [0.0], 10, 0), "log_s"),
        (lambda: st.mc_elbo(log_joint, M0, LS0, 1, 0), "n_samples"),
        (lambda: st.mc_elbo(log_joint, M0, LS0, 10, -1), "seed"),
        (lambda: st.mc_elbo(log_joint, M0, LS0, 10, 0, entropy="x"), "entropy"),
        (lambda: st.mc_elbo(lambda z: np.zeros(3), M0, LS0, 10, 0), "log_joint"),
        (lambda: st.mc_elbo(lambda z: np.full(len(z), np.nan), M0, LS0, 10, 0), "log_joint"),
        (lambda: st.reparam_grad_samples(lambda z: z[:, :1], M0, LS0, 10, 0), "grad_log_joint"),
        (lambda: st.score_grad_samples(log_joint, M0, LS0, 10, 0, baseline="mean"), "baseline"),
        (lambda: st.fit_sga(lambda m, s, r: np.zeros(4), M0, LS0, n_steps=0, seed=0), "n_steps"),
        (lambda: st.fit_sga(lambda m, s, r: np.zeros(4), M0, LS0, n_steps=5, seed=0, lr=-1), "lr"),
        (lambda: st.fit_sga(lambda m, s, r: np.zeros(3), M0, LS0, n_steps=5, seed=0), "grad_fn"),
        (lambda: st.fit_sga(lambda m, s, r: np.zeros(4), M0, LS0, n_steps=5, seed=0, optimizer="sgd"),
         "optimizer"),
        (lambda: st.bernoulli_exact_grad(f_bern, np.zeros(17)), "logits"),
        (lambda: st.bernoulli_score_grad_samples(f_bern, [np.inf, 0, 0], 10, 0), "logits"),
    ],
)
def test_bad_input(call, name):
    with pytest.raises(ValueError, match=name):
        call()
