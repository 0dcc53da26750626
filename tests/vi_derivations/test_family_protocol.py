"""The family protocol (:class:`vi_derivations.distributions.Family`): every registered family
implements every member for its roles, and two families defined here run through derive, cavi,
the generated NumPy module and the chain checker with no edit outside their own definitions
(adding a family is one module plus its tests): Geometric(p) on the counts 0, 1, 2, ... (a
likelihood, Beta q) and Spin(m) on {-1, +1} (a prior and a q factor).  The routes they are
checked by share nothing with the engine: quadrature or enumeration with scipy.stats."""
import importlib.util
import sys

import numpy as np
import pytest
import scipy.integrate as si
import scipy.stats as st
import sympy as sp

import vi_derivations as vd
from vi_derivations import count_families, local_bound, wishart  # noqa: F401  (their families register)
from vi_derivations.chain_check import _Instance, check_derivation
from vi_derivations.codegen import generate
from vi_derivations.distributions import Family, registered_families

SUPPORTS = (None, "binary", "count", "onehot", "unit", "simplex", "positive")
# members every family has (model role: support, observations, rendering)
EVERY = ("name", "log_density", "support", "support_reduce", "sums_to_one", "simplex_params",
         "observation_family", "event_plates", "describe", "draw_in_support", "prepare_check")
# members a family that can be a q factor implements itself (not the base class's refusal)
Q_OWN = ("moment", "neg_entropy", "statistic", "natural_to_params", "numeric_from_natural",
         "numpy_natural_to_params")
Q_ATTRS = ("stats", "stat_codes", "numpy_matrix_axes", "numpy_full_natural", "numpy_blocked_softmax",
           "init_kinds", "positive_params", "event_reps", "stat_reps", "natural_axes", "param_axes",
           "extra_targets", "kernel", "stat_terms")


class Geometric(Family):
    """Geometric(p) on x = 0, 1, 2, ... (failures before the first success):
    log p(x) = log p + x log(1 - p).  Model role; a Beta prior on p is conjugate."""

    name = "Geometric"
    supports_q = False
    support = "count"
    param_names = ("p",)

    def __init__(self, p):
        super().__init__(p=p)

    def log_density(self, x):
        p = self.params["p"]
        return sp.log(p) + x * sp.log(1 - p)

    def draw_in_support(self, rng):
        return float(rng.geometric(0.5) - 1)


class Spin(Family):
    """s in {-1, +1} with mean m in (-1, 1): log p(s) = (1+s)/2 log((1+m)/2) + (1-s)/2 log((1-m)/2);
    s^2 = 1 on the support; T(s) = s, E[s^n] = m (n odd) or 1 (n even);
    E_q[log q] = sum_s p(s) log p(s); natural eta -> m = tanh(eta).  Model and q roles."""

    name = "Spin"
    stats = ("x",)
    param_names = ("m",)
    stat_codes = {"x": "{z}"}

    def __init__(self, m):
        super().__init__(m=m)

    def log_density(self, s):
        m = self.params["m"]
        return (1 + s) / 2 * sp.log((1 + m) / 2) + (1 - s) / 2 * sp.log((1 - m) / 2)

    def support_reduce(self, atoms):
        if all(a.fn == "id" for a in atoms):
            odd = sum(a.power for a in atoms) % 2
            return sp.Integer(1), [atoms[0].with_power(1)] if odd else []
        return sp.Integer(1), list(atoms)

    def moment(self, atoms):
        self._only_id(atoms, "log of a spin")
        return self.params_at(atoms[0].index)["m"] if sum(a.power for a in atoms) % 2 else sp.Integer(1)

    def neg_entropy(self):
        m = self.params_at(self.canonical_index())["m"]
        return (1 + m) / 2 * sp.log((1 + m) / 2) + (1 - m) / 2 * sp.log((1 - m) / 2)

    def statistic(self, atoms):
        if all(a.fn == "id" for a in atoms) and sum(a.power for a in atoms) % 2:
            return "x", (), sp.Integer(1)
        raise vd.NonConjugateError(f"Spin: {atoms} is not linear in s")

    def natural_to_params(self, eta, rep):
        return {"m": sp.tanh(eta.get("x", sp.Integer(0)))}

    def numeric_from_natural(self, eta):
        return {"m": np.tanh(np.asarray(eta.get("x", 0.0), dtype=float))}

    def kernel(self, s, params):
        return s * sp.atanh(params["m"])

    def numpy_natural_to_params(self, ctx):
        return [f"m = np.tanh({ctx.eta['x']})"], {"m": ("m", ctx.dep("x"))}

    def draw_in_support(self, rng):
        return float(rng.choice([-1.0, 1.0]))

    def prepare_check(self, inst, as_q):
        m = self.params["m"].subs(inst.sizes)          # means inside (-1, 1)
        labels = {a.base.label for a in m.atoms(sp.Indexed)}
        for el in [el for el in inst.values if el in m.free_symbols
                   or isinstance(el, sp.Indexed) and el.base.label in labels]:
            inst.values[el] = float(inst.rng.uniform(-0.9, 0.9))

    def sample(self, params, rng, size):
        return np.where(rng.random(size) < (1 + params["m"]) / 2, 1.0, -1.0)


def _subclasses(cls):
    out = []
    for c in cls.__subclasses__():
        out += [c] + _subclasses(c)
    return out


def _defines(cls, member):
    """True when ``cls`` or a base other than Family defines ``member``."""
    return any(member in k.__dict__ for k in cls.__mro__ if k is not Family and issubclass(k, Family))


def _q_role(cls):
    return bool(cls.stats)


def test_registry_is_every_public_subclass():
    found = {c for c in _subclasses(Family) if not c.__name__.startswith("_")}
    assert set(registered_families()) == found
    assert {Geometric, Spin} <= found and len(found) >= 18


@pytest.mark.parametrize("cls", [c for c in _subclasses(Family) if not c.__name__.startswith("_")],
                         ids=lambda c: c.__name__)
def test_every_family_implements_the_protocol(cls):
    for m in EVERY:
        assert hasattr(cls, m), f"{cls.__name__} lacks {m}"
    assert _defines(cls, "log_density"), f"{cls.__name__}: no log_density"
    assert cls.name != "family", f"{cls.__name__}: no name"
    assert cls.support in SUPPORTS, f"{cls.__name__}: support {cls.support!r}"
    if not _q_role(cls):
        return
    for m in Q_ATTRS:
        assert hasattr(cls, m), f"{cls.__name__} lacks {m}"
    for m in Q_OWN:
        assert _defines(cls, m), f"q family {cls.__name__} does not implement {m}"
    assert _defines(cls, "sample") or _defines(cls, "sample_q"), f"q family {cls.__name__}: no sampler"
    assert set(cls.stat_codes) == set(cls.stats), f"{cls.__name__}: a code name for every statistic"
    names = [c.format(z="z") for c in cls.stat_codes.values()]
    assert len(set(names)) == len(names), f"{cls.__name__}: distinct natural-parameter array names"


def test_base_class_documents_every_member():
    doc = Family.__doc__
    for m in EVERY + Q_OWN + Q_ATTRS + ("sample", "support_point", "sample_q"):
        if m not in ("name", "event_plates"):
            assert m in doc, f"the protocol docstring does not list {m}"


# ---------------------------------------------------------------------------- Geometric end to end
def _generated(M, tmp_path):
    """The generated NumPy module of ``M``, imported while ``import vi_derivations`` fails."""
    path = tmp_path / f"fit_{M.name}.py"
    path.write_text(generate(M))
    spec = importlib.util.spec_from_file_location(f"fit_{M.name}_generated", path)
    mod = importlib.util.module_from_spec(spec)
    saved = sys.modules.get("vi_derivations")
    sys.modules["vi_derivations"] = None          # the module runs without the engine
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.modules["vi_derivations"] = saved
    return mod


def _geometric_model():
    N = vd.Plate("N", "i")
    M = vd.Model("beta_geometric", "Counts before the first success, Beta prior")
    th, x = M.latent("th"), M.observed("x", (N,))
    M.factor(th, vd.Beta(M.hyper("a0"), M.hyper("b0")))
    M.factor(x, Geometric(th.symbol))
    M.q(th, vd.Beta(M.variational("a", positive=True), M.variational("b", positive=True)))
    return M


X = np.array([0.0, 3, 1, 5, 2, 0, 1])
A0, B0 = 1.5, 2.0


def _log_evidence():
    """log int Beta(t | a0, b0) prod_i Geom(x_i | t) dt by quadrature (scipy's geom counts trials)."""
    f = lambda t: np.exp(st.beta.logpdf(t, A0, B0) + st.geom.logpmf(X + 1, t).sum())
    return np.log(si.quad(f, 0, 1, epsabs=0, epsrel=1e-12)[0])


def _posterior_mean():
    f = lambda t: np.exp(st.beta.logpdf(t, A0, B0) + st.geom.logpmf(X + 1, t).sum())
    return si.quad(lambda t: t * f(t), 0, 1, epsabs=0, epsrel=1e-12)[0] / si.quad(f, 0, 1, epsabs=0, epsrel=1e-12)[0]


def test_geometric_log_density_matches_scipy():
    M = vd.Model("g")
    x = M.observed("x")
    p = sp.Symbol("p", positive=True)
    val = float(Geometric(p).log_density(x.symbol).xreplace({x.symbol: 3, p: 0.3}))
    assert val == pytest.approx(st.geom.logpmf(4, 0.3), rel=1e-12)


def test_geometric_derive_and_cavi_give_the_exact_posterior():
    M = _geometric_model()
    d = vd.derive(M)
    assert any("th" in name for name in d.chains)
    res = vd.cavi(M).run(dict(x=X, a0=A0, b0=B0), {}, max_iter=3)
    assert res.elbo[-1] == pytest.approx(_log_evidence(), rel=1e-9)
    a, b = res.params["a"], res.params["b"]
    assert a / (a + b) == pytest.approx(_posterior_mean(), rel=1e-9)


def test_geometric_generated_module_runs_and_checks_its_counts(tmp_path):
    M = _geometric_model()
    mod = _generated(M, tmp_path)
    assert mod.DATA["x"]["support"] == "count"   # the family's support, read by the code generator
    res = mod.fit(x=X, a0=A0, b0=B0)
    assert res.converged
    assert res.elbo[-1] == pytest.approx(_log_evidence(), rel=1e-9)
    a, b = res.params["a"], res.params["b"]
    assert a / (a + b) == pytest.approx(_posterior_mean(), rel=1e-9)
    with pytest.raises(ValueError, match=r"^x must be non-negative integers"):
        mod.fit(x=X + 0.5, a0=A0, b0=B0)


def test_geometric_chain_checker_draws_counts_and_checks_every_step():
    M = _geometric_model()
    inst = _Instance(M, seed=3, samples=200)
    xs = [v for el, v in inst.values.items() if isinstance(el, sp.Indexed) and str(el.base.label) == "x"]
    assert xs and all(v >= 0 and v == int(v) for v in xs)
    res = check_derivation(M)
    assert res and all(r.checked and r.ok for r in res), [(r.chain, r.step, r.detail) for r in res
                                                           if not (r.checked and r.ok)]


def _wishart_q_model():
    """Lambda ~ W(W0, nu0), x_i ~ N(m0, Lambda^-1), q(Lambda) Wishart."""
    N, D = vd.Plate("N", "i"), vd.Plate("D", "d")
    E = wishart.matrix_plate(D, "E", "e")
    d, e = D.index, E.index
    M = vd.Model("wishart_q")
    W0, nu0 = M.hyper("W0", (D, E), positive=False), M.hyper("nu0")
    lam, x = M.latent("Lambda", (D, E)), M.observed("x", (N, D))
    M.factor(lam, wishart.Wishart(W0[d, e], nu0, event=(D, E)))
    M.factor(x, wishart.MvNormalPrecision(M.hyper("m0", (D,), positive=False)[d], lam[d, e], event=(D, E)))
    M.q(lam, wishart.Wishart(M.variational("W", (D, E))[d, e], M.variational("nu", positive=True), event=(D, E)))
    return M


def test_a_wishart_q_factor_is_sampled_by_its_family():
    res = check_derivation(_wishart_q_model())
    assert res and all(r.checked and r.ok for r in res), [(r.chain, r.step, r.detail) for r in res
                                                           if not (r.checked and r.ok)]


def _switch_model():
    """s_i ~ Bernoulli(rho), x_i ~ N(s_i m, 1), q(s_i) Bernoulli(p_i)."""
    N = vd.Plate("N", "i")
    M = vd.Model("switch")
    s, x = M.latent("s", (N,)), M.observed("x", (N,))
    M.factor(s, vd.Bernoulli(M.hyper("rho")))
    M.factor(x, vd.Normal(s[N.index] * M.hyper("m", positive=False), var=1))
    M.q(s, vd.Bernoulli(M.variational("p", (N,), positive=True)[N.index]))
    return M


def test_a_bernoulli_q_factor_is_sampled_by_its_family():
    M = _switch_model()
    inst = _Instance(M, seed=1, samples=200)
    ps = [v for el, v in inst.values.items() if isinstance(el, sp.Indexed) and str(el.base.label) == "p"]
    assert ps and all(0 < v < 1 for v in ps)
    res = check_derivation(M)
    assert res and all(r.checked and r.ok for r in res), [(r.chain, r.step, r.detail) for r in res
                                                           if not (r.checked and r.ok)]


# ---------------------------------------------------------------------------- Spin (a q family) end to end
XS, MU, M0 = np.array([0.4, -1.3, 2.1, 0.0, -0.2]), 0.8, 0.3


def _spin_model():
    N = vd.Plate("N", "i")
    M = vd.Model("spins", "Signs s_i = +-1 switching the mean of x_i")
    s, x = M.latent("s", (N,)), M.observed("x", (N,))
    M.factor(s, Spin(M.hyper("m0")))
    M.factor(x, vd.Normal(s[N.index] * M.hyper("mu"), var=1))
    M.q(s, Spin(M.variational("m", (N,), positive=False)[N.index]))
    return M


def _spin_exact():
    """log evidence and E[s_i | x_i] by enumerating s_i = +-1 (scipy.stats densities)."""
    up = np.log((1 + M0) / 2) + st.norm.logpdf(XS, MU, 1)
    down = np.log((1 - M0) / 2) + st.norm.logpdf(XS, -MU, 1)
    ev = np.logaddexp(up, down)
    return ev.sum(), np.exp(up - ev) - np.exp(down - ev)


def test_a_new_q_family_runs_through_cavi_codegen_and_the_checker(tmp_path):
    M = _spin_model()
    log_ev, mean = _spin_exact()
    res = vd.cavi(M).run(dict(x=XS, mu=MU, m0=M0), {}, max_iter=3)
    assert res.elbo[-1] == pytest.approx(log_ev, rel=1e-10)
    assert np.allclose(res.params["m"], mean, rtol=1e-10, atol=0)
    mod = _generated(M, tmp_path)
    out = mod.fit(x=XS, mu=MU, m0=M0)
    assert out.elbo[-1] == pytest.approx(log_ev, rel=1e-10)
    assert np.allclose(out.params["m"], mean, rtol=1e-10, atol=0)
    res = check_derivation(M)
    assert res and all(r.checked and r.ok for r in res), [(r.chain, r.step, r.detail) for r in res
                                                           if not (r.checked and r.ok)]


# ---------------------------------------------------------------------------- printed map = numeric map
def _spd(rng, D):
    A = rng.normal(size=(D, D))
    return A @ A.T / D + 0.5 * np.eye(D)


def _valid_natural(keys, shapes, rng):
    """Random natural parameters of a proper factor (negative quadratic terms, positive definite
    precisions, counts above -1, degrees of freedom above D - 1)."""
    eta = {}
    for k in keys:
        shape = shapes[k]
        if k in ("x", "x^2"):
            eta[k] = -rng.uniform(0.5, 2.0, shape)
        elif k in ("log x", "log(1-x)", "log x_k", "log|L|"):
            eta[k] = rng.uniform(0.5, 2.0, shape)
        elif k in ("w_j w_l", "L_de"):
            eta[k] = -0.5 * np.broadcast_to(_spd(rng, shape[-1]), shape).copy()
        elif k == "mu L mu":
            eta[k] = np.full(shape, -1.0)                 # beta = 2
        else:
            eta[k] = rng.normal(size=shape)
    if "L mu_d" in eta:      # W^-1 = -(eta_L + eta_L^T) - eta_Lmu eta_Lmu^T / beta stays positive definite
        e3 = eta["L mu_d"]
        eta["L_de"] = eta["L_de"] - 0.25 * e3[..., :, None] * e3[..., None, :]
    return eta


EXTRA = {"switch": _switch_model, "wishart_q": _wishart_q_model, "spins": _spin_model,
         "beta_geometric": _geometric_model}


@pytest.mark.parametrize("name", vd.models.available() + sorted(EXTRA))
def test_printed_numpy_map_equals_the_numeric_map(name):
    """Two members of every q family compute the same map: the NumPy lines it prints for the
    generated module and ``numeric_from_natural`` (on valid random natural parameters); the
    models cover every q family (Bernoulli, Wishart and Spin in the extra ones)."""
    from scipy.special import expit, logsumexp
    from vi_derivations.distributions import NumpyMap
    M, rng = (EXTRA[name]() if name in EXTRA else vd.models.load(name)), np.random.default_rng(0)
    for z in M.qfactors:
        u = vd.derive_update(M, z)
        fam, L = u.family, tuple(u.out_indices)
        shapes = {k: (3,) * len(fam.natural_axes(k, L)) for k in u.natural}
        eta = _valid_natural(list(u.natural), shapes, rng)
        names = {k: f"eta_{j}" for j, k in enumerate(eta)}
        deps = {k: set(fam.natural_axes(k, L)) for k in eta}
        ctx = NumpyMap(z, names, deps, L, u.event_reps, f"update of q({z})", lambda l: "3", lambda fn: fn)
        lines, outs = fam.numpy_natural_to_params(ctx)
        ns = {"np": np, "expit": expit, "logsumexp": logsumexp} | {names[k]: v for k, v in eta.items()}
        exec("\n".join(lines), ns)
        ref = fam.numeric_from_natural(eta)
        common = set(ref) & set(outs)
        assert common, f"{name}, q({z}): no parameter in both maps"
        for p in common:
            got = np.broadcast_to(eval(outs[p][0], ns), np.shape(ref[p]))
            assert np.allclose(got, ref[p], rtol=1e-12, atol=1e-14), f"{name}, q({z}): {p}"


def test_the_map_check_covers_every_q_family():
    seen = set()
    for name in vd.models.available() + sorted(EXTRA):
        M = EXTRA[name]() if name in EXTRA else vd.models.load(name)
        seen |= {type(vd.derive_update(M, z).family) for z in M.qfactors}
    assert {c for c in registered_families() if c.stats} <= seen
