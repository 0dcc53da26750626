"""The engine on the Gaussian mixture of vi_derivations.models.gmm: right families, right structure, consistent
conventions, stationary ELBO at its own updates, and clear errors for malformed models."""
import pathlib

import numpy as np
import pytest
import sympy as sp
from sympy import Indexed

import vi_derivations as vd
from vi_derivations import Categorical, Mixture, Model, Normal, Plate


def _bases(expr):
    return {str(a.base.label) for a in sp.sympify(expr).atoms(Indexed)}


def _rand(seed, N=9, K=3, D=2):
    rng = np.random.default_rng(seed)
    return dict(x=rng.normal(size=(N, D)) * 2, m=rng.normal(size=(K, D)),
                s2=rng.uniform(0.1, 2, (K, D)), pi=rng.dirichlet(np.ones(K), N),
                sigma2=float(rng.uniform(0.5, 4)))


@pytest.fixture(scope="module")
def M():
    return vd.models.load("gmm")


def test_updates_are_the_right_families_and_structure(M):
    u_mu, u_c = vd.update(M, "mu"), vd.update(M, "c")
    assert u_mu.family.name == "Normal" and u_c.family.name == "Categorical"
    eqs = {str(e.lhs.base.label): e for e in u_mu.assignments + u_c.assignments}
    assert set(eqs) == {"m", "s2", "pi"}
    # q(mu) depends on the data and on q(c) only; q(c) on the data and q(mu) only
    assert _bases(eqs["m"].rhs) == {"pi", "x"}
    assert _bases(eqs["s2"].rhs) == {"pi"}
    assert "sigma2" in {str(s) for s in eqs["s2"].rhs.free_symbols}
    assert _bases(eqs["pi"].rhs) == {"m", "s2", "x"}
    # natural parameters: eta_2 of q(mu_kd) is negative and does not involve d-specific data
    eta2 = u_mu.natural["x^2"]
    assert "x" not in _bases(eta2)
    # the displayed update of pi is a normalised softmax over k
    a = _rand(0)
    val = vd.to_numpy(eqs["pi"].rhs, M, out=eqs["pi"].lhs.indices)(x=a["x"], m=a["m"], s2=a["s2"])
    assert np.allclose(val.sum(axis=1), 1.0, rtol=0, atol=1e-13)


def test_dropped_constants_differ_by_variational_free_quantity(M):
    for piece in (vd.log_joint, vd.log_var, vd.elbo):
        diff = piece(M, constants=True) - piece(M, constants=False)
        assert not (_bases(diff) & {"m", "s2", "pi"})
        full, drop = vd.to_numpy(piece(M, constants=True), M), vd.to_numpy(piece(M, constants=False), M)
        a, b = _rand(1), _rand(2)
        b["x"], b["sigma2"] = a["x"], a["sigma2"]
        da = full(**a) - drop(**a)
        db = full(**b) - drop(**b)
        assert abs(da - db) < 1e-9 * max(1, abs(da))
    # and the two conventions really differ (the constants are not all zero)
    a = _rand(3)
    assert abs(vd.to_numpy(vd.elbo(M, constants=True), M)(**a) - vd.to_numpy(vd.elbo(M, constants=False), M)(**a)) > 1
    # differentiating: d/dm, d/ds2, d/dpi of the difference vanish (symbolically: no such symbols)
    diff = vd.elbo(M, constants=True) - vd.elbo(M, constants=False)
    for v in ("m", "s2", "pi"):
        var = M.variables[v]
        elem = var.symbol[tuple(sp.Idx(f"t{n}", p.size) for n, p in enumerate(var.plates))]
        assert sp.diff(diff, elem).doit() == 0
    # while the ELBO itself does depend on each of them
    L = vd.elbo(M, constants=False)
    for v in ("m", "s2", "pi"):
        var = M.variables[v]
        elem = var.symbol[tuple(sp.Idx(f"t{n}", p.size) for n, p in enumerate(var.plates))]
        assert sp.diff(L, elem) != 0


def test_elbo_is_stationary_at_each_update(M):
    """Finite differences of the engine's own ELBO vanish at the engine's updates."""
    L = vd.to_numpy(vd.elbo(M, constants=False), M)
    a = _rand(5)
    new = vd.update(M, "mu").numeric()(x=a["x"], pi=a["pi"], sigma2=a["sigma2"])
    a.update(new)
    h = 1e-6
    for name in ("m", "s2"):
        for idx in np.ndindex(a[name].shape):
            up, dn = dict(a), dict(a)
            up[name], dn[name] = a[name].copy(), a[name].copy()
            up[name][idx] += h
            dn[name][idx] -= h
            g = (L(**up) - L(**dn)) / (2 * h)
            assert abs(g) < 1e-5, (name, idx, g)
    new = vd.update(M, "c").numeric()(x=a["x"], m=a["m"], s2=a["s2"])
    a.update(new)
    # pi lives on the simplex: directional derivatives along e_k - e_l vanish
    for i in range(a["pi"].shape[0]):
        up, dn = dict(a), dict(a)
        up["pi"], dn["pi"] = a["pi"].copy(), a["pi"].copy()
        up["pi"][i, 0] += h; up["pi"][i, 1] -= h
        dn["pi"][i, 0] -= h; dn["pi"][i, 1] += h
        assert abs((L(**up) - L(**dn)) / (2 * h)) < 1e-5


def test_cavi_with_engine_updates_never_decreases_elbo(M):
    L = vd.to_numpy(vd.elbo(M, constants=True), M)
    fmu, fc = vd.update(M, "mu").numeric(), vd.update(M, "c").numeric()
    a = _rand(7, N=30, K=4, D=2)
    prev = L(**a)
    for _ in range(15):
        a.update(fmu(x=a["x"], pi=a["pi"], sigma2=a["sigma2"]))
        cur = L(**a)
        assert cur >= prev - 1e-10 * abs(prev)
        prev = cur
        a.update(fc(x=a["x"], m=a["m"], s2=a["s2"]))
        cur = L(**a)
        assert cur >= prev - 1e-10 * abs(prev)
        prev = cur


def test_log_joint_chain_steps_agree_at_random_points(M):
    """Consecutive '=' steps agree for arbitrary values; '=support' steps for one-hot c."""
    d = vd.derive(M)
    chain = d.chains["log_joint"]
    rng = np.random.default_rng(0)
    N, K, D = 6, 3, 2
    c = np.eye(K)[rng.integers(0, K, N)]
    args = dict(x=rng.normal(size=(N, D)), mu=rng.normal(size=(K, D)), c=c, sigma2=1.7)
    vals = [vd.to_numpy(s.expr, M)(**args) for s in chain.steps]
    for v in vals[1:]:
        assert abs(v - vals[0]) < 1e-10 * abs(vals[0])
    # '=' steps also for a non-one-hot c (they must not rely on the support)
    args["c"] = rng.uniform(size=(N, K))
    v0, v1 = (vd.to_numpy(s.expr, M)(**args) for s in chain.steps[:2])
    assert chain.steps[1].relation == "=" and abs(v0 - v1) < 1e-10 * abs(v0)
    assert chain.steps[2].relation == "=support"


def test_update_chain_recognised_family_matches_expectation_step(M):
    d = vd.derive(M)
    ch = d.chains["update_mu"]
    z = M.variables["mu"].element
    lin, kern = ch.steps[1].expr, ch.steps[2].expr
    assert sp.simplify(sp.diff(lin - kern, z)) == 0  # equal up to a constant in mu_kd


def test_renamed_model_gives_the_same_numbers():
    """Nothing is keyed on names: the same model with other names/plates derives the same."""
    A, B, E = Plate("P", "a"), Plate("Q", "b"), Plate("R", "e")
    a, b, e = A.index, B.index, E.index
    M2 = Model("renamed")
    v = M2.hyper("v")
    th = M2.latent("theta", (B, E))
    z = M2.latent("z", (A, B))
    y = M2.observed("y", (A, E))
    M2.factor(th, Normal(0, var=v))
    M2.factor(z, Categorical(1 / B.size, event=B))
    M2.factor(y, Mixture(z, Normal(th[b, e], var=1)))
    mm = M2.variational("mm", (B, E)); vv = M2.variational("vv", (B, E), positive=True)
    r = M2.variational("r", (A, B), positive=True)
    M2.q(th, Normal(mm[b, e], var=vv[b, e]))
    M2.q(z, Categorical(r[a, b], event=B))
    M = vd.models.load("gmm")
    p = _rand(11)
    f1 = vd.to_numpy(vd.elbo(M, constants=True), M)(**p)
    f2 = vd.to_numpy(vd.elbo(M2, constants=True), M2)(y=p["x"], mm=p["m"], vv=p["s2"], r=p["pi"], v=p["sigma2"])
    assert abs(f1 - f2) < 1e-12 * abs(f1)
    u = vd.update(M2, "z").numeric()(y=p["x"], mm=p["m"], vv=p["s2"])["r"]
    ref = vd.update(M, "c").numeric()(x=p["x"], m=p["m"], s2=p["s2"])["pi"]
    assert np.allclose(u, ref, rtol=1e-13, atol=0)


def test_engine_core_never_imports_models():
    root = pathlib.Path(vd.__file__).parent
    for f in root.glob("*.py"):
        if f.name in ("__init__.py", "__main__.py", "cli.py"):
            continue
        text = f.read_text()
        assert "models" not in text.replace("model.py", "").split("import")[0] or "from .models" not in text
        assert "from .models" not in text and "import models" not in text, f.name
        assert "gmm" not in text.lower(), f.name
        assert "vi_ledger" not in text and "vi_impl" not in text, f.name


# ----------------------------------------------------------------------------- malformed models
def _base():
    N, K, D = Plate("N", "i"), Plate("K", "k"), Plate("D", "d")
    M = Model("bad")
    return M, N, K, D


def test_undeclared_variable_in_factor_is_named():
    M, N, K, D = _base()
    mu = M.latent("mu", (K, D))
    ghost = sp.IndexedBase("ghost")
    with pytest.raises(ValueError, match="ghost"):
        M.factor(mu, Normal(ghost[K.index, D.index], var=1))
    with pytest.raises(ValueError, match="tau"):
        M.factor(mu, Normal(0, var=sp.Symbol("tau", positive=True)))


def test_mismatched_plates_are_named():
    M, N, K, D = _base()
    mu = M.latent("mu", (K, D))
    x = M.observed("x", (N, D))
    with pytest.raises(ValueError, match="mismatched plates"):
        M.factor(x, Normal(mu[N.index, D.index], var=1))
    with pytest.raises(ValueError, match="plates"):
        mu[K.index]


def test_q_factor_without_model_variable():
    M, N, K, D = _base()
    other = Model("other")
    z = other.latent("z", (K,))
    with pytest.raises(ValueError, match="no such model variable"):
        M.q(z, Normal(0, var=1))
    x = M.observed("x", (N, D))
    with pytest.raises(ValueError, match="only latent"):
        M.q(x, Normal(0, var=1))


def test_latent_without_q_factor_is_refused():
    M, N, K, D = _base()
    mu = M.latent("mu", (K,))
    M.factor(mu, Normal(0, var=1))
    with pytest.raises(ValueError, match="no variational factor"):
        vd.elbo(M)


def test_normal_prior_on_a_variance_is_non_conjugate():
    N = Plate("N", "i")
    M = Model("bad_variance")
    v = M.latent("v")
    x = M.observed("x", (N,))
    M.factor(v, Normal(1, var=1))
    M.factor(x, Normal(0, var=v))
    mv, sv = M.variational("mv"), M.variational("sv", positive=True)
    M.q(v, Normal(mv, var=sv))
    with pytest.raises(ValueError, match=r"v"):
        vd.update(M, "v")
    with pytest.raises(ValueError):
        vd.elbo(M)


def test_logistic_likelihood_is_non_conjugate():
    N = Plate("N", "i")
    M = Model("logistic")
    w = M.latent("w")
    y = M.observed("y", (N,))
    xx = M.hyper("u", (N,), positive=False)
    M.factor(w, Normal(0, var=1))
    M.factor(y, vd.Bernoulli(1 / (1 + sp.exp(-w.symbol * xx[N.index]))))
    mw, sw = M.variational("mw"), M.variational("sw", positive=True)
    M.q(w, Normal(mw, var=sw))
    with pytest.raises(vd.NonConjugateError, match=r"q\(w\)"):
        vd.update(M, "w")


def test_shared_variance_that_depends_on_the_shared_index_is_refused():
    # q(mu_kd) with variance tied across d, but a prior variance that differs per d
    N, K, D = Plate("N", "i"), Plate("K", "k"), Plate("D", "d")
    M = Model("tied")
    tau = M.hyper("tau", (D,))
    mu = M.latent("mu", (K, D))
    M.factor(mu, Normal(0, var=tau[D.index]))
    m, s = M.variational("m", (K, D)), M.variational("s", (K,), positive=True)
    M.q(mu, Normal(m[K.index, D.index], var=s[K.index]))
    with pytest.raises(ValueError, match="shared across"):
        vd.update(M, "mu")


def test_latex_is_readable(M):
    d = vd.derive(M)
    eqs = [vd.latex(a) for u in d.updates for a in u.assignments]
    assert eqs[0].startswith("m_{kd} = ") and r"\sum_{i} \phi_{ik} x_{id}" in eqs[0]
    assert eqs[1].startswith("s^{2}_{kd} = ")
    assert eqs[2].startswith(r"\phi_{ik} = ") and r"\sum_{k'}" in eqs[2]
    assert r"m_{k}^{\top} x_{i}" in eqs[2] and r"\lVert m_{k} \rVert^{2}" in eqs[2]
    for c in d.chains.values():
        tex = c.latex()
        assert "_{1}" not in tex.replace("x_{1}", "")  # no internal dummy names such as k_{17}
        assert r"\mathbb{E}" in tex or c.title == "The log joint" or c.title == "ELBO"
    assert d.chains["update_c"].latex().startswith(r"\begin{aligned}\log q^{*}(c_{i})")
    md = d.markdown()
    assert md.count("$$") % 2 == 0 and "m_{kd} =" in md
