"""M-steps for model parameters (variational Bayesian EM): the engine's maximiser of the ELBO
over a hyper-parameter is where the ELBO's finite-difference derivative vanishes and is a
maximum; the mixture-weight M-step equals vi_impl.models.gmm_1d.update_weights."""
import numpy as np
import pytest

import vi_derivations as vd


def _gmm1d_args(seed):
    rng = np.random.default_rng(seed)
    N, K = 20, 3
    return dict(x=rng.normal(size=N) * 2, mu_tilde=rng.normal(size=K), s2_tilde=rng.uniform(.2, 1, K),
                phi=rng.dirichlet(np.ones(K), N), weights=rng.dirichlet(np.ones(K)),
                tau2=1.7, sigma2=0.8)


def test_weights_m_step_matches_vi_impl():
    impl = pytest.importorskip("vi_impl.models.gmm_1d")
    M = vd.models.load("gmm_1d")
    a = _gmm1d_args(0)
    w = vd.derive_hyper_update(M, "weights").numeric()(phi=a["phi"])["weights"]
    assert np.allclose(w, impl.update_weights(a["phi"]), rtol=1e-13, atol=0)


def test_weights_m_step_maximises_the_elbo_on_the_simplex():
    M = vd.models.load("gmm_1d")
    L = vd.to_numpy(vd.elbo(M, constants=True), M)
    a = _gmm1d_args(1)
    a["weights"] = vd.derive_hyper_update(M, "weights").numeric()(phi=a["phi"])["weights"]
    best = L(**a)
    rng = np.random.default_rng(2)
    for _ in range(20):
        b = dict(a)
        b["weights"] = rng.dirichlet(np.ones(3))
        assert L(**b) <= best + 1e-12


@pytest.mark.parametrize("model,hyper", [("gmm_1d", "tau2"), ("gmm_1d", "sigma2"), ("gmm", "sigma2"),
                                         ("normal_normal", "mu0"), ("normal_normal", "tau2")])
def test_scalar_m_step_is_a_maximum_of_the_elbo(model, hyper):
    M = vd.models.load(model)
    rng = np.random.default_rng(3)
    vals = {}
    sizes = {"N": 9, "K": 3, "D": 2}
    for v in M.variables.values():
        shape = tuple(sizes.get(p.name, 2) for p in v.plates)
        if v.kind in ("hyper", "variational", "observed"):
            vals[v.name] = rng.uniform(0.3, 2.0, shape) if (v.kind != "observed") else rng.normal(size=shape)
    for qf in M.qfactors.values():
        if qf.dist.name == "Categorical":
            n = str(qf.dist.params["probs"].base.label)
            vals[n] = vals[n] / vals[n].sum(axis=-1, keepdims=True)
    if "weights" in vals:
        vals["weights"] = vals["weights"] / vals["weights"].sum()
    L = vd.to_numpy(vd.elbo(M, constants=True), M)
    upd = vd.derive_hyper_update(M, hyper)
    vals[hyper] = upd.numeric()(**{k: v for k, v in vals.items() if k != hyper})[hyper]
    h = 1e-5 * max(1, abs(vals[hyper]))
    up, dn = dict(vals), dict(vals)
    up[hyper] += h
    dn[hyper] -= h
    base = L(**vals)
    assert abs((L(**up) - L(**dn)) / (2 * h)) < 1e-5 * max(1, abs(base))
    for f in (0.7, 1.3):
        other = dict(vals)
        other[hyper] = vals[hyper] * f
        assert L(**other) < base


def test_unsupported_m_step_is_refused():
    M = vd.models.load("gmm_prior_mean")
    with pytest.raises(ValueError, match="alpha"):
        vd.derive_hyper_update(M, "alpha")
    with pytest.raises(ValueError, match="not a model"):
        vd.derive_hyper_update(M, "m")
