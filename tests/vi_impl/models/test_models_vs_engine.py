"""The engine's derivations of the syllabus models, turned into NumPy, agree with the
hand-written implementations in vi_impl to 1e-10 relative, on random sizes and parameters.

For each model in vi_derivations/models/ with a hand-coded counterpart:
* the full ELBO (constants=True) from ``vd.to_numpy(vd.elbo(M, constants=True), M)``;
* every CAVI update from ``vd.update(M, name).numeric()``;
* the displayed update formulas (``update.assignments``) evaluated with ``vd.to_numpy``.
"""
import numpy as np
import pytest

import vi_derivations as vd
from vi_impl.models import gmm_1d as impl_1d
from vi_impl.models import gmm_prior_mean as impl_pm
from vi_impl.models import linear_gaussian as impl_lg
from vi_impl.models import linear_regression_ard as impl_ard
from vi_impl.models import normal_normal as impl_nn

RTOL = 1e-10
SEEDS = range(6)


def close(a, b, rtol=RTOL):
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert a.shape == b.shape, (a.shape, b.shape)
    scale = max(float(np.max(np.abs(b))), 1e-300)
    err = float(np.max(np.abs(a - b)))
    assert err <= rtol * scale, f"max abs error {err:.3e} > {rtol:g} * {scale:.3e}"


_MODELS = {}


def model(name):
    if name not in _MODELS:
        M = vd.models.load(name)
        _MODELS[name] = (M, vd.to_numpy(vd.elbo(M, constants=True), M))
    return _MODELS[name]


def numeric_update(M, name):
    return vd.update(M, name).numeric()


def assignments_values(M, name, arrays):
    """Each displayed assignment lhs = rhs of q(name)'s update, evaluated -> {lhs name: array}."""
    out = {}
    for eq in vd.update(M, name).assignments:
        lhs = eq.lhs
        idx = tuple(lhs.indices) if hasattr(lhs, "indices") else ()
        key = str(lhs.base.label) if hasattr(lhs, "base") else str(lhs)
        out[key] = vd.to_numpy(eq.rhs, M, out=idx)(**arrays)
    return out


# ----------------------------------------------------------------------------- gmm_prior_mean
def pm_problem(seed):
    rng = np.random.default_rng(100 + seed)
    N, K, D = int(rng.integers(1, 30)), int(rng.integers(1, 6)), int(rng.integers(1, 5))
    X = rng.normal(scale=rng.uniform(0.5, 4), size=(N, D)) + 2 * rng.normal(size=D)
    return dict(
        x=X, alpha=rng.normal(size=D), sigma2=float(rng.uniform(0.2, 8)),
        lambda2=float(rng.uniform(0.2, 5)), m=rng.normal(scale=2, size=(K, D)),
        s2=rng.uniform(0.05, 3, size=K), phi=rng.dirichlet(np.ones(K), size=N))


@pytest.mark.parametrize("seed", SEEDS)
def test_gmm_prior_mean_elbo(seed):
    M, f = model("gmm_prior_mean")
    p = pm_problem(seed)
    ref = impl_pm.elbo(p["x"], p["m"], p["s2"], p["phi"], p["alpha"], p["sigma2"], p["lambda2"],
                       constants=True)
    close(f(**p), ref)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("piece", ["log_joint", "log_var", "elbo"])
def test_gmm_prior_mean_dropped_constant_convention(seed, piece):
    """constants=False: the engine's documented convention equals vi_impl's (the coursework's)."""
    M, _ = model("gmm_prior_mean")
    p = pm_problem(seed)
    fn = {"log_joint": vd.log_joint, "log_var": vd.log_var, "elbo": vd.elbo}[piece]
    val = vd.to_numpy(fn(M, constants=False), M)(**p)
    X, m, s2, phi, alpha, sigma2, lambda2 = (p[k] for k in ("x", "m", "s2", "phi", "alpha", "sigma2", "lambda2"))
    ref = {"log_joint": lambda: impl_pm.log_joint(X, m, s2, phi, alpha, sigma2, lambda2),
           "log_var": lambda: impl_pm.log_var(m, s2, phi),
           "elbo": lambda: impl_pm.elbo(X, m, s2, phi, alpha, sigma2, lambda2)}[piece]()
    close(val, ref)


@pytest.mark.parametrize("seed", SEEDS)
def test_gmm_prior_mean_updates(seed):
    M, _ = model("gmm_prior_mean")
    p = pm_problem(seed)
    new_c = numeric_update(M, "c")(x=p["x"], m=p["m"], s2=p["s2"], lambda2=p["lambda2"])
    close(new_c["phi"], impl_pm.update_phi(p["x"], p["m"], p["s2"], p["lambda2"]))
    new_mu = numeric_update(M, "mu")(x=p["x"], phi=p["phi"], alpha=p["alpha"], sigma2=p["sigma2"],
                                     lambda2=p["lambda2"])
    close(new_mu["m"], impl_pm.update_m(p["x"], p["phi"], p["alpha"], p["sigma2"], p["lambda2"]))
    close(new_mu["s2"], impl_pm.update_s2(p["phi"], p["sigma2"], p["lambda2"]))
    shown = assignments_values(M, "mu", p) | assignments_values(M, "c", p)
    close(shown["m"], new_mu["m"])
    close(shown["s2"], new_mu["s2"])
    close(shown["phi"], new_c["phi"])


def test_gmm_prior_mean_reduces_to_coursework():
    """alpha = 0, lambda2 = 1, s2_k repeated over d: the same ELBO as the coursework model."""
    A, B = vd.models.load("gmm_prior_mean"), vd.models.load("gmm")
    rng = np.random.default_rng(0)
    N, K, D = 11, 3, 4
    X, m = rng.normal(size=(N, D)), rng.normal(size=(K, D))
    s2, phi = rng.uniform(.1, 1, K), rng.dirichlet(np.ones(K), N)
    for c in (True, False):
        la = vd.to_numpy(vd.elbo(A, c), A)(x=X, m=m, s2=s2, phi=phi, alpha=np.zeros(D), sigma2=2.0, lambda2=1.0)
        lb = vd.to_numpy(vd.elbo(B, c), B)(x=X, m=m, s2=np.repeat(s2[:, None], D, 1), pi=phi, sigma2=2.0)
        close(la, lb, 1e-12)


# ----------------------------------------------------------------------------- gmm_1d
def g1_problem(seed):
    rng = np.random.default_rng(200 + seed)
    N, K = int(rng.integers(1, 40)), int(rng.integers(1, 6))
    return dict(
        x=rng.normal(scale=3, size=N), weights=rng.dirichlet(np.ones(K)),
        tau2=float(rng.uniform(0.3, 20)), sigma2=float(rng.uniform(0.2, 4)),
        mu_tilde=rng.normal(scale=3, size=K), s2_tilde=rng.uniform(0.01, 2, size=K),
        phi=rng.dirichlet(np.ones(K), size=N))


@pytest.mark.parametrize("seed", SEEDS)
def test_gmm_1d_elbo(seed):
    M, f = model("gmm_1d")
    p = g1_problem(seed)
    ref = impl_1d.elbo(p["x"], p["mu_tilde"], p["s2_tilde"], p["phi"], p["weights"], p["tau2"], p["sigma2"])
    close(f(**p), ref)


@pytest.mark.parametrize("seed", SEEDS)
def test_gmm_1d_updates(seed):
    M, _ = model("gmm_1d")
    p = g1_problem(seed)
    new_z = numeric_update(M, "z")(x=p["x"], mu_tilde=p["mu_tilde"], s2_tilde=p["s2_tilde"],
                                   weights=p["weights"], sigma2=p["sigma2"])
    close(new_z["phi"], impl_1d.update_phi(p["x"], p["mu_tilde"], p["s2_tilde"], p["weights"], p["sigma2"]))
    new_mu = numeric_update(M, "mu")(x=p["x"], phi=p["phi"], tau2=p["tau2"], sigma2=p["sigma2"])
    close(new_mu["mu_tilde"], impl_1d.update_mu(p["x"], p["phi"], p["tau2"], p["sigma2"]))
    close(new_mu["s2_tilde"], impl_1d.update_s2(p["phi"], p["tau2"], p["sigma2"]))
    shown = assignments_values(M, "mu", p) | assignments_values(M, "z", p)
    for k, v in (new_mu | new_z).items():
        close(shown[k], v)


# ----------------------------------------------------------------------------- linear_regression_ard
def ard_problem(seed):
    rng = np.random.default_rng(300 + seed)
    N, D = int(rng.integers(1, 30)), int(rng.integers(1, 6))
    A = rng.normal(size=(D, D))
    V = A @ A.T / D + 0.1 * np.eye(D)
    return dict(
        X=rng.normal(size=(N, D)), y=rng.normal(scale=2, size=N), a0=float(rng.uniform(0.01, 3)),
        b0=float(rng.uniform(0.01, 3)), sigma2=float(rng.uniform(0.1, 3)),
        m=rng.normal(size=D), V=V, a=rng.uniform(0.5, 4, size=D), b=rng.uniform(0.2, 3, size=D))


@pytest.mark.parametrize("seed", SEEDS)
def test_ard_elbo(seed):
    M, f = model("linear_regression_ard")
    p = ard_problem(seed)
    ref = impl_ard.elbo(p["X"], p["y"], p["m"], p["V"], p["a"], p["b"], p["a0"], p["b0"], p["sigma2"])
    close(f(**p), ref)


@pytest.mark.parametrize("seed", SEEDS)
def test_ard_update_alpha(seed):
    M, _ = model("linear_regression_ard")
    p = ard_problem(seed)
    new = numeric_update(M, "alpha")(m=p["m"], V=p["V"], a0=p["a0"], b0=p["b0"])
    a, b = impl_ard.update_alpha(p["m"], p["V"], p["a0"], p["b0"])
    close(new["a"], a)
    close(new["b"], b)
    shown = assignments_values(M, "alpha", p)
    close(shown["a"], a)
    close(shown["b"], b)


@pytest.mark.parametrize("seed", SEEDS)
def test_ard_update_w(seed):
    M, _ = model("linear_regression_ard")
    p = ard_problem(seed)
    m, V = impl_ard.update_w(p["X"], p["y"], p["a"] / p["b"], p["sigma2"])
    shown = assignments_values(M, "w", p)
    close(shown["m"], m)
    close(shown["V"], V)
    new = numeric_update(M, "w")(X=p["X"], y=p["y"], a=p["a"], b=p["b"], sigma2=p["sigma2"])
    close(new["m"], m)
    close(new["V"], V)


# ----------------------------------------------------------------------------- linear_gaussian_2d
def lg_problem(seed):
    rng = np.random.default_rng(400 + seed)
    N = int(rng.integers(1, 6))
    return dict(
        x=rng.normal(scale=2, size=N), theta1=float(rng.normal(scale=2)), theta2=float(rng.normal(scale=2)),
        m1=float(rng.normal()), m2=float(rng.normal()), v1=float(rng.uniform(0.05, 2)),
        v2=float(rng.uniform(0.05, 2)))


@pytest.mark.parametrize("seed", SEEDS)
def test_linear_gaussian_2d_elbo(seed):
    M, f = model("linear_gaussian_2d")
    p = lg_problem(seed)
    theta = np.array([p["theta1"], p["theta2"]])
    ref = impl_lg.elbo(np.array([p["m1"], p["m2"]]), np.array([p["v1"], p["v2"]]), p["x"], theta)
    close(f(**p), ref)


@pytest.mark.parametrize("seed", SEEDS)
def test_linear_gaussian_2d_updates(seed):
    M, _ = model("linear_gaussian_2d")
    p = lg_problem(seed)
    theta = np.array([p["theta1"], p["theta2"]])
    m = np.array([p["m1"], p["m2"]])
    data = dict(x=p["x"], theta1=p["theta1"], theta2=p["theta2"])
    for j, (z, mn, vn) in enumerate([("z1", "m1", "v1"), ("z2", "m2", "v2")]):
        other = "m2" if j == 0 else "m1"
        new = numeric_update(M, z)(**data, **{other: p[other]})
        ref_m, ref_v = impl_lg.update_factor(j, m, p["x"], theta)
        close(new[mn], ref_m)
        close(new[vn], ref_v)
        shown = assignments_values(M, z, p)
        close(shown[mn], ref_m)
        close(shown[vn], ref_v)


# ----------------------------------------------------------------------------- normal_normal
def nn_problem(seed):
    rng = np.random.default_rng(500 + seed)
    K = int(rng.integers(1, 50))
    return dict(x=rng.normal(loc=1, scale=2, size=K), mu0=float(rng.normal()), tau2=float(rng.uniform(0.1, 5)),
                sigma2=float(rng.uniform(0.1, 5)), m=float(rng.normal()), s2=float(rng.uniform(0.01, 2)))


@pytest.mark.parametrize("seed", SEEDS)
def test_normal_normal_elbo(seed):
    M, f = model("normal_normal")
    p = nn_problem(seed)
    close(f(**p), impl_nn.elbo(p["m"], p["s2"], p["x"], p["mu0"], p["tau2"], p["sigma2"]))


@pytest.mark.parametrize("seed", SEEDS)
def test_normal_normal_update(seed):
    M, f = model("normal_normal")
    p = nn_problem(seed)
    data = dict(x=p["x"], mu0=p["mu0"], tau2=p["tau2"], sigma2=p["sigma2"])
    new = numeric_update(M, "z")(**data)
    m, s2 = impl_nn.exact_posterior(p["x"], p["mu0"], p["tau2"], p["sigma2"])
    close(new["m"], m)
    close(new["s2"], s2)
    shown = assignments_values(M, "z", p)
    close(shown["m"], m)
    close(shown["s2"], s2)
    # q is then the exact posterior: the full ELBO equals the log evidence
    close(f(**data, m=new["m"], s2=new["s2"]), impl_nn.log_evidence(p["x"], p["mu0"], p["tau2"], p["sigma2"]))


# ----------------------------------------------------------------------------- the guard itself
def test_close_detects_a_relative_error_above_tolerance():
    close(1.0 + 0.5e-10, 1.0)
    with pytest.raises(AssertionError):
        close(1.0 + 1e-9, 1.0)
