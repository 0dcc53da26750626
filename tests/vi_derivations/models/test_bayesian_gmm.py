"""The engine on the full Bayesian Gaussian mixture (Bishop 10.2): its updates and full ELBO
against the hand-written twin :mod:`vi_impl.models.bayesian_gmm` (1e-10 relative), the full
ELBO against a Monte Carlo average of scipy.stats log densities, CAVI never decreasing, and for
K = 1 (a conjugate model) the ELBO equal to the exact log evidence and q equal to the exact
posterior, both computed with scipy.stats only."""
import time

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

import vi_derivations as vd
from vi_derivations.elbo import expected_log_joint_terms, log_var_terms
from vi_derivations.monomials import terms_to_expr
from vi_impl.models import bayesian_gmm as bg

RTOL = 1e-10


@pytest.fixture(scope="module")
def M():
    return vd.models.load("bayesian_gmm")


@pytest.fixture(scope="module")
def fns(M):
    ups = {u.var: u.numeric() for u in vd.derive_updates(M)}
    return ups, vd.to_numpy(vd.elbo(M, constants=True), M)


def _problem(seed, N=9, K=3, D=2):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, D)) * 2 + rng.normal(size=D)
    A = rng.normal(size=(D, D))
    prior = bg.make_prior(K, D, alpha0=rng.uniform(0.3, 2, K), m0=rng.normal(size=D),
                          beta0=rng.uniform(0.2, 2), W0=A @ A.T / D + 0.3 * np.eye(D),
                          nu0=D - 1 + rng.uniform(0.5, 3))
    r = rng.dirichlet(np.ones(K), N)
    return rng, X, prior, r


def _data(X, prior):
    return dict(x=X, alpha0=prior.alpha0, m0=prior.m0, beta0=prior.beta0, W0=prior.W0, nu0=prior.nu0)


def _pv(post):
    return dict(alpha_w=post.alpha, beta=post.beta, m=post.m, W=post.W, nu=post.nu)


def _rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def test_the_updates_are_dirichlet_normal_wishart_categorical(M):
    ups = {u.var: u for u in vd.derive_updates(M)}
    assert len(vd.derive_updates(M)) == 3                   # one update of the joint factor
    assert ups["w"].family.name == "Dirichlet" and ups["c"].family.name == "Categorical"
    assert vd.derive_update(M, "Lambda") is ups["mu"]
    assert ups["mu"].family.name == "NormalWishart"
    assert set(ups["mu"].params) == {"mean", "beta", "scale", "dof"}


@pytest.mark.parametrize("seed,D", [(0, 1), (1, 2), (2, 3)])
def test_updates_and_full_elbo_equal_the_twin(M, fns, seed, D):
    """Every update and the full ELBO (every constant) at random parameters, to 1e-10."""
    ups, L = fns
    rng, X, prior, r = _problem(seed, D=D)
    data = _data(X, prior)
    post = bg.update_global(prior, *bg.suff_stats(X, r))
    got = ups["mu"](**data, r=r)
    for name, want in _pv(post).items():
        if name != "alpha_w":
            assert _rel(got[name], want) < RTOL, name
    assert _rel(ups["w"](**data, r=r)["alpha_w"], post.alpha) < RTOL
    assert _rel(ups["c"](**data, **_pv(post))["r"], bg.responsibilities(X, post)) < RTOL
    assert _rel(L(**data, **_pv(post), r=r), bg.elbo(X, prior, post, r)) < RTOL


def test_each_elbo_piece_equals_the_twins(M):
    """E_q[log p] factor by factor and E_q[log q] factor by factor against the twin's seven
    pieces (Bishop 10.71-10.77)."""
    _, X, prior, r = _problem(5)
    post = bg.update_global(prior, *bg.suff_stats(X, r))
    args = {**_data(X, prior), **_pv(post), "r": r}
    want = bg.elbo_parts(X, prior, post, r)
    by = {}
    for t in expected_log_joint_terms(M) + log_var_terms(M):
        by.setdefault(t.origin, []).append(t)
    val = {o: vd.to_numpy(terms_to_expr(ts), M)(**{k: v for k, v in args.items()}) for o, ts in by.items()}
    pairs = {"log_lik": ["p(x | Lambda, c, mu)"], "log_p_z": ["p(c | w)"], "log_p_pi": ["p(w)"],
             "log_p_mu_lam": ["p(Lambda)", "p(mu | Lambda)"], "log_q_z": ["q(c)"], "log_q_pi": ["q(w)"],
             "log_q_mu_lam": ["q(mu)", "q(Lambda)"]}
    assert set(val) == {o for os in pairs.values() for o in os}, set(val)
    for piece, origins in pairs.items():
        assert _rel(sum(val[o] for o in origins), want[piece]) < RTOL, piece


def test_full_elbo_equals_a_monte_carlo_average_of_scipy_log_densities(M, fns):
    """log p(x, z, pi, mu, Lambda) - log q(z, pi, mu, Lambda), each density from scipy.stats,
    averaged over draws from q, is within 4 standard errors of the engine's full ELBO."""
    _, L = fns
    rng, X, prior, r = _problem(11, N=5, K=2, D=2)
    post = bg.update_global(prior, *bg.suff_stats(X, r))
    post = bg.Posterior(post.alpha, post.beta * rng.uniform(0.5, 2, 2), post.m + rng.normal(size=post.m.shape),
                        post.W, post.nu + rng.uniform(0, 2, 2))      # not a fixed point
    engine = L(**_data(X, prior), **_pv(post), r=r)
    S, (N, D), K = 1000, X.shape, 2
    w = np.zeros(S)
    pis = stats.dirichlet(post.alpha).rvs(S, random_state=rng)
    w += stats.dirichlet(prior.alpha0).logpdf(pis.T) - stats.dirichlet(post.alpha).logpdf(pis.T)
    z = np.array([rng.choice(K, size=S, p=ri) for ri in r]).T                   # (S, N)
    w += np.log(pis[np.arange(S)[:, None], z]).sum(1) - np.log(r[np.arange(N), z]).sum(1)
    for k in range(K):
        Ls = stats.wishart(df=post.nu[k], scale=post.W[k]).rvs(S, random_state=rng)
        w += (stats.wishart(df=prior.nu0, scale=prior.W0).logpdf(np.moveaxis(Ls, 0, -1))
              - stats.wishart(df=post.nu[k], scale=post.W[k]).logpdf(np.moveaxis(Ls, 0, -1)))
        for s in range(S):
            mu = stats.multivariate_normal(post.m[k], np.linalg.inv(post.beta[k] * Ls[s])).rvs(random_state=rng)
            w[s] += (stats.multivariate_normal(prior.m0, np.linalg.inv(prior.beta0 * Ls[s])).logpdf(mu)
                     - stats.multivariate_normal(post.m[k], np.linalg.inv(post.beta[k] * Ls[s])).logpdf(mu))
            lik = np.atleast_1d(stats.multivariate_normal(mu, np.linalg.inv(Ls[s])).logpdf(X))
            w[s] += lik[z[s] == k].sum()
    zscore = (w.mean() - engine) / (w.std() / np.sqrt(S))
    assert abs(zscore) < 4, zscore


def _sweep(ups, data, state):
    state.update(ups["w"](**data, r=state["r"]))
    state.update(ups["mu"](**data, r=state["r"]))
    state.update(ups["c"](**data, **{k: state[k] for k in ("alpha_w", "beta", "m", "W", "nu")}))
    return state


def test_engine_cavi_never_decreases_and_reaches_the_twins_fixed_point(M, fns):
    """Engine updates in the twin's order (global from r0, then local, global): the full ELBO
    never decreases, and after the same number of sweeps the twin's fit has the same state."""
    ups, L = fns
    rng, X, prior, _ = _problem(3, N=40, K=3, D=2)
    X = np.vstack([X[:20] - 4, X[20:] + 4])
    r0 = rng.dirichlet(np.ones(3), len(X))
    data = _data(X, prior)
    state = {"r": r0}
    state.update(ups["w"](**data, r=r0))
    state.update(ups["mu"](**data, r=r0))
    trace = []
    for _ in range(30):
        state.update(ups["c"](**data, **{k: state[k] for k in ("alpha_w", "beta", "m", "W", "nu")}))
        state.update(ups["w"](**data, r=state["r"]))
        state.update(ups["mu"](**data, r=state["r"]))
        trace.append(L(**data, **state))
    trace = np.array(trace)
    assert np.all(np.diff(trace) >= -1e-10 * np.abs(trace[1:]))
    hand = bg.fit(X, 3, prior=prior, init=r0, tol=0, max_iter=30)
    assert _rel(trace, hand.elbo) < 1e-8
    for name in ("alpha", "beta", "m", "W", "nu"):
        assert _rel(state[name if name != "alpha" else "alpha_w"], hand.params[name]) < 1e-8, name


def _log_evidence_chain_rule(X, prior):
    """log p(X) = sum_n log p(x_n | x_<n) with the Student-t predictive (scipy multivariate_t)
    of the Normal-Wishart posterior after the first n points, updated one point at a time."""
    m, beta, Winv, nu = prior.m0.copy(), prior.beta0, np.linalg.inv(prior.W0), prior.nu0
    D, total = X.shape[1], 0.0
    for x in X:
        dof = nu + 1 - D
        shape = Winv * (1 + beta) / (beta * dof)        # the inverse of the precision matrix
        total += stats.multivariate_t(loc=m, shape=shape, df=dof).logpdf(x)
        Winv = Winv + beta / (beta + 1) * np.outer(x - m, x - m)
        m = (beta * m + x) / (beta + 1)
        beta, nu = beta + 1, nu + 1
    return total


def test_k1_elbo_is_the_exact_log_evidence_and_q_the_exact_posterior(fns):
    """K = 1 is conjugate: after one sweep the ELBO equals log p(X) from the Student-t chain
    rule, and log p(X, mu, Lambda) - log q(mu, Lambda) (scipy densities) equals log p(X) at
    random (mu, Lambda): q is the exact posterior."""
    ups, L = fns
    rng = np.random.default_rng(8)
    N, D = 6, 2
    X = rng.normal(size=(N, D)) + 1.5
    A = rng.normal(size=(D, D))
    prior = bg.make_prior(1, D, alpha0=1.3, m0=rng.normal(size=D), beta0=0.7, W0=A @ A.T + np.eye(D), nu0=2.5)
    data = _data(X, prior)
    state = _sweep(ups, data, {"r": np.ones((N, 1))})
    lz = _log_evidence_chain_rule(X, prior)
    elbo = L(**data, **state)
    assert abs(elbo - lz) < 1e-10 * abs(lz), (elbo, lz)
    assert abs(bg.log_evidence_k1(X, prior) - lz) < 1e-10 * abs(lz)
    m, beta, W, nu = state["m"][0], state["beta"][0], state["W"][0], state["nu"][0]
    for _ in range(5):
        Lam = stats.wishart(df=nu + 2, scale=W).rvs(random_state=rng)
        mu = rng.normal(size=D) + m
        log_joint = (stats.wishart(df=prior.nu0, scale=prior.W0).logpdf(Lam)
                     + stats.multivariate_normal(prior.m0, np.linalg.inv(prior.beta0 * Lam)).logpdf(mu)
                     + stats.multivariate_normal(mu, np.linalg.inv(Lam)).logpdf(X).sum())
        log_q = (stats.wishart(df=nu, scale=W).logpdf(Lam)
                 + stats.multivariate_normal(m, np.linalg.inv(beta * Lam)).logpdf(mu))
        assert abs(log_joint - log_q - lz) < 1e-9 * abs(lz)


def test_derivation_is_fast_and_renders(M):
    """A cold derivation of the whole model (updates, ELBO, chains) takes a few seconds."""
    fresh = vd.models.load("bayesian_gmm")
    t0 = time.perf_counter()
    d = vd.derive(fresh)
    seconds = time.perf_counter() - t0
    assert seconds < 30, seconds
    tex = vd.latex(d.updates[1].assignments[3])
    assert r"\nu_{k} = " in tex and tex.count("{") == tex.count("}")


def test_the_elbo_is_typeset_with_traces_quadratic_forms_and_log_determinants(M):
    """The displayed ELBO (proved equal to the engine's) reads tr(W_k W_0^-1),
    (x_i - m_k)^T W_k (x_i - m_k), log|W_k| and the multivariate gamma and digamma functions."""
    from vi_derivations.typeset import typeset
    t = typeset(vd.elbo(M, constants=True))
    assert t.proved
    tex = vd.latex(vd.elbo(M, constants=True))
    for piece in (r"\operatorname{tr}\left(W_{k} W_{0}^{-1}\right)",
                  r"\left(x_{i} - m_{k}\right)^{\top} W_{k} \left(x_{i} - m_{k}\right)",
                  r"\log\lvert W_{k}\rvert", r"\log\Gamma_{D}\left(\frac{\nu_{k}}{2}\right)",
                  r"\psi_{D}\left(\frac{\nu_{k}}{2}\right)"):
        assert piece in tex, piece


def test_generated_module_runs_the_engines_sweeps(M):
    """The standalone NumPy module printed by :mod:`vi_derivations.codegen` (Normal–Wishart
    update included) follows the engine's generated CAVI sweep for sweep, from the same start."""
    from vi_derivations.codegen import generate
    rng, X, prior, r0 = _problem(21, N=12, K=2, D=2)
    data = _data(X, prior)
    ref = vd.cavi(M).run(data, {"r": r0}, tol=0, max_iter=5)
    ns = {}
    exec(compile(generate(M), "<bayesian_gmm generated>", "exec"), ns)
    res = ns["fit"](**data, init={"r": r0}, tol=0, max_iter=5)
    assert np.all(np.diff(ref.elbo) >= -1e-10 * np.abs(ref.elbo[1:]))
    assert _rel(res.elbo, ref.elbo) < 1e-10
    for name, v in ref.params.items():
        assert _rel(res.params[name], v) < 1e-10, name

