"""Generated CAVI (vi_derivations.cavi) vs the hand-coded CAVI of vi_impl, model by model.

For every model in ``vd.models.available()`` that has a hand-coded counterpart (a module
``vi_impl.models.<name>``), both runs start from the same state and sweep in the same order; they
must reach the same fixed point (1e-8 relative) with the same ELBO trace, and the generated
full-ELBO trace must never decrease (beyond 1e-10 relative).
"""
import importlib.util

import numpy as np
import pytest
import sympy as sp

import vi_derivations as vd
from vi_derivations.cavi import CaviResult, cavi

FIXED_POINT_RTOL = 1e-8
MONOTONE_RTOL = 1e-10


def close(a, b, rtol=FIXED_POINT_RTOL, what=""):
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert a.shape == b.shape, (what, a.shape, b.shape)
    scale = max(float(np.max(np.abs(b))), 1e-300)
    err = float(np.max(np.abs(a - b)))
    assert err <= rtol * scale, f"{what}: max abs error {err:.3e} > {rtol:g} * {scale:.3e}"


def assert_monotone(trace):
    trace = np.asarray(trace, float)
    assert np.all(np.isfinite(trace))
    drops = trace[:-1] - trace[1:]
    assert np.all(drops <= MONOTONE_RTOL * np.abs(trace[1:])), f"ELBO decreased by up to {drops.max():.3e}"


def two_clusters(rng, N, D, K):
    centres = rng.normal(scale=4, size=(K, D))
    labels = rng.integers(0, K, size=N)
    return centres[labels] + rng.normal(size=(N, D))


# ----------------------------------------------------------------------------- one runner per model
# Each runner: (rng) -> list of (generated CaviResult, {param: hand-coded value}, hand trace or None).
def run_gmm(rng):
    from vi_impl.models import gmm as impl
    N, D, K = int(rng.integers(20, 80)), int(rng.integers(1, 4)), int(rng.integers(2, 4))
    X = two_clusters(rng, N, D, K)
    sigma2 = float(rng.uniform(1, 10))
    m0 = X[rng.choice(N, K, replace=False)]
    hand = impl.fit(X, K, sigma2, init=m0, tol=0, max_iter=60)
    gen = cavi(vd.models.load("gmm"), order=["c", "mu"]).run(
        dict(x=X, sigma2=sigma2), dict(m=m0, s2=np.full((K, D), sigma2)), tol=0, max_iter=60)
    return gen, dict(m=hand.m, s2=hand.s2, pi=hand.pi), hand.elbo


def run_gmm_prior_mean(rng):
    from vi_impl.models import gmm_prior_mean as impl
    N, D, K = int(rng.integers(20, 80)), int(rng.integers(1, 4)), int(rng.integers(2, 4))
    X = two_clusters(rng, N, D, K)
    alpha, sigma2, lambda2 = rng.normal(size=D), float(rng.uniform(1, 10)), float(rng.uniform(0.5, 2))
    m0, s20 = X[rng.choice(N, K, replace=False)], rng.uniform(0.5, 2, K)
    hand = impl.fit(X, K, alpha, sigma2, lambda2, init=(m0, s20), tol=0, max_iter=60)
    gen = cavi(vd.models.load("gmm_prior_mean"), order=["c", "mu"]).run(
        dict(x=X, alpha=alpha, sigma2=sigma2, lambda2=lambda2), dict(m=m0, s2=s20), tol=0, max_iter=60)
    return gen, dict(m=hand.m, s2=hand.s2, phi=hand.phi), hand.elbo


def run_gmm_1d(rng):
    from vi_impl.models import gmm_1d as impl
    N, K = int(rng.integers(20, 80)), int(rng.integers(2, 4))
    x = two_clusters(rng, N, 1, K)[:, 0]
    weights, tau2, sigma2 = rng.dirichlet(np.ones(K) * 3), float(rng.uniform(5, 30)), float(rng.uniform(0.5, 2))
    mu0 = x[rng.choice(N, K, replace=False)]
    hand = impl.fit(x, K, weights, tau2, sigma2, init=mu0, tol=0, max_iter=60)
    gen = cavi(vd.models.load("gmm_1d"), order=["z", "mu"]).run(
        dict(x=x, weights=weights, tau2=tau2, sigma2=sigma2),
        dict(mu_tilde=mu0, s2_tilde=np.full(K, tau2)), tol=0, max_iter=60)
    return gen, dict(mu_tilde=hand.mu_tilde, s2_tilde=hand.s2_tilde, phi=hand.phi), hand.elbo


def run_linear_regression_ard(rng):
    from vi_impl.models import linear_regression_ard as impl
    N, D = int(rng.integers(10, 60)), int(rng.integers(2, 6))
    X = rng.normal(size=(N, D))
    w = rng.normal(scale=2, size=D) * (rng.uniform(size=D) < 0.6)
    sigma2 = float(rng.uniform(0.2, 2))
    y = X @ w + rng.normal(scale=np.sqrt(sigma2), size=N)
    a0, b0 = float(rng.uniform(0.01, 2)), float(rng.uniform(0.01, 2))
    alpha0 = rng.uniform(0.5, 2, D)
    hand = impl.fit(X, y, sigma2, a0, b0, init=alpha0, tol=0, max_iter=80)
    # E[alpha] = a / b = alpha0 at the start, as in the hand-coded loop; w is updated first
    gen = cavi(vd.models.load("linear_regression_ard")).run(
        dict(X=X, y=y, a0=a0, b0=b0, sigma2=sigma2), dict(a=alpha0, b=np.ones(D)), tol=0, max_iter=80)
    return gen, dict(m=hand.m, V=hand.V, a=hand.a, b=hand.b), hand.elbo


def run_linear_gaussian_2d(rng):
    from vi_impl.models import linear_gaussian as impl
    n = int(rng.integers(1, 5))
    theta = rng.normal(scale=1.5, size=2)
    x = rng.normal(scale=2, size=n)
    m_init = rng.normal(size=2)
    hand = impl.cavi(x, theta, m_init, tol=0, max_iter=40)
    gen = cavi(vd.models.load("linear_gaussian_2d")).run(
        dict(x=x, theta1=theta[0], theta2=theta[1]), dict(m2=m_init[1]), tol=0, max_iter=40)
    return gen, dict(m1=hand.m[0], m2=hand.m[1], v1=hand.v[0], v2=hand.v[1]), hand.elbo


def run_normal_normal(rng):
    from vi_impl.models import normal_normal as impl
    K = int(rng.integers(1, 40))
    mu0, tau2, sigma2 = float(rng.normal()), float(rng.uniform(0.2, 5)), float(rng.uniform(0.2, 5))
    x = rng.normal(loc=2, scale=np.sqrt(sigma2), size=K)
    hand = impl.fit(x, mu0, tau2, sigma2, init=(0.0, 1.0), tol=1e-15, max_iter=500)
    gen = cavi(vd.models.load("normal_normal")).run(
        dict(x=x, mu0=mu0, tau2=tau2, sigma2=sigma2), {}, tol=0, max_iter=3)
    # the hand-coded fit is Newton ascent on the ELBO (not CAVI): compare fixed points only
    return gen, dict(m=hand.m, s2=hand.s2), None


def run_lda(rng):
    """LDA (Dirichlet topics): both run to their fixed point from the same lambda; the twin works
    on document-term counts, the engine on one-hot word positions."""
    from vi_impl.models import lda as impl
    Dn, Nn, V, K = int(rng.integers(3, 6)), int(rng.integers(6, 12)), int(rng.integers(4, 7)), 2
    topics = rng.dirichlet(0.3 * np.ones(V), K)
    W = np.zeros((Dn, Nn, V))
    for d in range(Dn):
        mix = rng.dirichlet(0.5 * np.ones(K))
        for n in range(Nn):
            W[d, n, rng.choice(V, p=topics[rng.choice(K, p=mix)])] = 1
    alpha, eta = float(rng.uniform(0.3, 1)), float(rng.uniform(0.3, 1))
    lam0 = 1 + rng.random((K, V))
    hand = impl.fit_batch(W.sum(1), K, alpha=alpha, eta=eta, n_passes=3000, init=lam0,
                          local_max_iter=1, local_tol=0, warm_start=True)
    gamma0 = alpha + Nn / K * np.ones((Dn, K))
    gen = cavi(vd.models.load("lda"), order=["z", "theta", "beta"]).run(
        dict(w=W, alpha=alpha, eta=eta), dict(lam=lam0, gamma=gamma0), tol=1e-15, max_iter=3000)
    assert abs(gen.elbo[-1] - hand.elbo[-1]) <= 1e-9 * abs(hand.elbo[-1])
    # the ELBO is flat along the topics: both runs stop within ~1e-7 of the fixed point
    close(gen.params["lam"], hand.params["lam"], rtol=1e-5, what="lda: lam")
    close(gen.params["gamma"], hand.params["gamma"], rtol=1e-5, what="lda: gamma")
    return gen, {}, None


_LOADED = {}


def _load(name):
    """The engine model, built once per session (its derivation is cached on it)."""
    if name not in _LOADED:
        _LOADED[name] = vd.models.load(name)
    return _LOADED[name]


def run_logistic_regression(rng):
    """Jaakkola-Jordan bound, fixed diagonal prior N(m0, diag(v0)): both start from xi = 1 and
    update q(w) then xi."""
    from vi_impl.models import logistic_regression as impl
    N, D = int(rng.integers(10, 60)), int(rng.integers(1, 4))
    X = rng.normal(size=(N, D))
    t = (rng.random(N) < 1 / (1 + np.exp(-X @ rng.normal(size=D)))).astype(float)
    m0, v0 = rng.normal(size=D), rng.uniform(0.3, 3, D)
    hand = impl.fit(X, t, m0=m0, S0=np.diag(v0), tol=0, max_iter=25)
    gen = cavi(_load("logistic_regression")).run(
        dict(X=X, t=t, m0=m0, v0=v0), dict(xi=np.ones(N)), tol=0, max_iter=25)
    return gen, {k: hand.params[k] for k in ("m", "S", "xi")}, hand.elbo


def run_logistic_regression_alpha(rng):
    """Prior precision learned (Bishop 10.6.2): both start from xi = 1, a = a0 + D/2, b = b0 and
    update q(w), q(alpha), then xi."""
    from vi_impl.models import logistic_regression as impl
    N, D = int(rng.integers(10, 60)), int(rng.integers(1, 4))
    X = rng.normal(size=(N, D))
    t = (rng.random(N) < 1 / (1 + np.exp(-X @ rng.normal(size=D)))).astype(float)
    a0, b0 = float(rng.uniform(0.1, 2)), float(rng.uniform(0.1, 2))
    hand = impl.fit(X, t, a0=a0, b0=b0, tol=0, max_iter=25)
    gen = cavi(_load("logistic_regression_alpha")).run(
        dict(X=X, t=t, a0=a0, b0=b0), dict(xi=np.ones(N), a=a0 + D / 2, b=b0), tol=0, max_iter=25)
    return gen, {k: hand.params[k] for k in ("m", "S", "xi", "a", "b")}, hand.elbo


def run_bayesian_gmm(rng):
    """Full Bayesian mixture (Normal-Wishart components): both start from the same responsibilities;
    the engine's own global updates give the starting q(w), q(mu, Lambda), then each sweep
    updates c, w, (mu, Lambda) as the twin's loop does."""
    from vi_impl.models import bayesian_gmm as impl
    N, D, K = int(rng.integers(20, 50)), 2, int(rng.integers(2, 4))
    X = two_clusters(rng, N, D, K)
    A = rng.normal(size=(D, D))
    prior = impl.make_prior(K, D, alpha0=rng.uniform(0.3, 2, K), m0=rng.normal(size=D), beta0=rng.uniform(0.2, 2),
                            W0=A @ A.T / D + 0.3 * np.eye(D), nu0=D - 1 + rng.uniform(0.5, 3))
    r0 = rng.dirichlet(np.ones(K), N)
    hand = impl.fit(X, K, prior=prior, init=r0, tol=0, max_iter=40)
    data = dict(x=X, alpha0=prior.alpha0, m0=prior.m0, beta0=prior.beta0, W0=prior.W0, nu0=prior.nu0)
    g = cavi(vd.models.load("bayesian_gmm"), order=["c", "w", "mu", "Lambda"])
    start = {**g.updates["w"].numeric()(**data, r=r0), **g.updates["mu"].numeric()(**data, r=r0)}
    gen = g.run(data, start, tol=0, max_iter=40)
    engine_name = {"alpha": "alpha_w"}    # the Dirichlet's parameter is alpha_w in the engine's model
    return gen, {engine_name.get(k, k): hand.params[k] for k in ("alpha", "beta", "m", "W", "nu", "r")}, hand.elbo


RUNNERS = {
    "bayesian_gmm": run_bayesian_gmm,
    "logistic_regression": run_logistic_regression,
    "logistic_regression_alpha": run_logistic_regression_alpha,
    "lda": run_lda,
    "gmm": run_gmm,
    "gmm_prior_mean": run_gmm_prior_mean,
    "gmm_1d": run_gmm_1d,
    "linear_regression_ard": run_linear_regression_ard,
    "linear_gaussian_2d": run_linear_gaussian_2d,
    "normal_normal": run_normal_normal,
}


# Engine model name -> module of vi_impl.models, where the two names differ.
IMPL_MODULE = {"linear_gaussian_2d": "linear_gaussian", "logistic_regression_alpha": "logistic_regression"}


def has_hand_coded(name):
    return importlib.util.find_spec(f"vi_impl.models.{IMPL_MODULE.get(name, name)}") is not None


def test_the_syllabus_models_are_registered():
    names = set(vd.models.available())
    assert set(RUNNERS) <= names, set(RUNNERS) - names


@pytest.mark.parametrize("name", vd.models.available())
@pytest.mark.parametrize("seed", range(3))
def test_generated_cavi_reaches_the_hand_coded_fixed_point(name, seed):
    if not has_hand_coded(name):
        pytest.skip(f"{name}: no hand-coded counterpart in vi_impl.models")
    assert name in RUNNERS, f"vi_impl.models has {name}: add a runner comparing it with the generated CAVI"
    rng = np.random.default_rng(1000 * seed + len(name))
    gen, hand, hand_trace = RUNNERS[name](rng)
    assert isinstance(gen, CaviResult)
    for k, v in hand.items():
        close(gen.params[k], v, what=f"{name}: {k}")
    if hand_trace is not None:
        assert gen.n_iter == len(hand_trace)
        close(gen.elbo, hand_trace, what=f"{name}: ELBO trace")
    assert_monotone(gen.elbo)


@pytest.mark.parametrize("name", vd.models.available())
def test_generated_elbo_trace_never_decreases_from_random_starts(name):
    """From random (not data-driven) starts, the full ELBO after each sweep never decreases."""
    M = vd.models.load(name)
    g = cavi(M)
    rng = np.random.default_rng(7)
    sizes = {}
    for p in M.plates:
        sizes[p.size] = int(p.size) if p.size.is_Integer else int(rng.integers(3, 12))
    # data on the support of its likelihood (a mixture's: its component's), read from the family
    families = {f.var.name: f.dist.observation_family.support for f in M.factors}
    data = {}
    for n in g.data_names:
        v = M.variables[n]
        shape = tuple(sizes[p.size] for p in v.plates)
        label = v.symbol.label if v.plates else v.symbol
        fam = families.get(n)
        if fam == "binary":
            val = rng.integers(0, 2, size=shape).astype(float)
        elif fam == "count":
            val = rng.poisson(3.0, size=shape).astype(float)
        elif fam == "onehot":           # one-hot along the component's event plate (LDA's words)
            axis = v.plates.index(M.factors[[f.var.name for f in M.factors].index(n)].dist.event_plates[0])
            hot = rng.integers(0, shape[axis], size=shape[:axis] + shape[axis + 1:])
            val = np.moveaxis(np.eye(shape[axis])[hot], -1, axis)
        elif label.is_positive:
            val = rng.uniform(0.5, 3, size=shape)
        else:
            val = rng.normal(scale=2, size=shape)
        data[n] = val if shape else float(val)
    # probabilities given as hyper-parameters of a Categorical factor must lie on the simplex
    for f in M.factors:
        comp = f.dist.component if f.dist.name == "Mixture" else f.dist
        if comp.name == "Categorical":
            probs = comp.params["probs"]
            for n in data:
                if n in {str(s) for s in probs.free_symbols} and np.ndim(data[n]) == 1:
                    data[n] = data[n] / data[n].sum()
                elif isinstance(probs, sp.Indexed) and str(probs.base.label) == n:
                    axis = list(probs.indices).index(comp.event_plates[0].index)
                    data[n] = data[n] / data[n].sum(axis=axis, keepdims=True)
    for f in M.factors:   # a Wishart prior: a positive-definite scale and more than D - 1 degrees of freedom
        if f.dist.name == "Wishart":
            scale, dof = str(f.dist.params["scale"].base.label), str(f.dist.params["dof"])
            dim = data[scale].shape[-1]
            A = rng.normal(size=(dim, dim))
            data[scale], data[dof] = A @ A.T / dim + np.eye(dim), dim - 1 + float(rng.uniform(0.5, 3))
    init = {}
    for n in g.required_init:
        v = M.variables[n]
        shape = tuple(sizes[p.size] for p in v.plates)
        val = rng.normal(size=shape)
        if v.plates and len(v.plates) == 2 and v.plates[0] is v.plates[1]:
            A = rng.normal(size=shape)
            val = A @ A.T + np.eye(shape[0])
        label = v.symbol.label if v.plates else v.symbol
        if label.is_positive:
            val = np.abs(val) + 0.5
        init[n] = val if shape else float(val)
    for qf in M.qfactors.values():   # a one-hot q factor's probabilities lie on the simplex
        if qf.dist.name == "Categorical":
            t = qf.dist.params["probs"]
            n = str(t.base.label)
            if n in init:
                axis = list(t.indices).index(qf.dist.event_plates[0].index)
                init[n] = init[n] / init[n].sum(axis=axis, keepdims=True)
    res = g.run(data, init, tol=0, max_iter=25)
    assert res.n_iter == 25 and not res.converged
    assert_monotone(res.elbo)


def test_monotone_guard_detects_a_decrease():
    assert_monotone([-10.0, -9.0, -9.0])
    with pytest.raises(AssertionError):
        assert_monotone([-10.0, -9.0, -9.0001])
