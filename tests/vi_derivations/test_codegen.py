"""vi_derivations.codegen: the standalone NumPy module of every model runs without the engine and
follows the engine's generated CAVI (vd.cavi) sweep for sweep from the same start.

Each module is generated once per model per session, written to a temporary directory and
imported with ``vi_derivations`` blocked (``sys.modules['vi_derivations'] = None``); one
model is also run in a fresh interpreter whose import hook refuses the engine.
"""
import ast
import functools
import importlib.util
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import vi_derivations as vd
from vi_derivations.codegen import generate

MODELS = vd.models.available()
RTOL = 1e-10
SWEEPS = 25
ALLOWED_IMPORTS = {"numpy", "scipy.special", "collections"}


@functools.lru_cache(maxsize=None)
def model_and_source(name):
    M = vd.models.load(name)
    return M, generate(M)


def import_blocked(path, modname):
    """Import the module at ``path`` while ``import vi_derivations`` fails."""
    saved = {k: v for k, v in sys.modules.items() if k == "vi_derivations" or k.startswith("vi_derivations.")}
    for k in saved:
        del sys.modules[k]
    sys.modules["vi_derivations"] = None
    try:
        spec = importlib.util.spec_from_file_location(modname, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        del sys.modules["vi_derivations"]
        sys.modules.update(saved)


@pytest.fixture(scope="module")
def modules(tmp_path_factory):
    d = tmp_path_factory.mktemp("generated")
    cache = {}

    def get(name):
        if name not in cache:
            M, src = model_and_source(name)
            path = d / f"fit_{name}.py"
            path.write_text(src)
            cache[name] = (M, import_blocked(path, f"fit_{name}_generated"), path)
        return cache[name]
    return get


def problem(M, g, rng):
    """Data on the support of each likelihood and a start for the engine's required parameters."""
    sizes = {p.size: int(p.size) if p.size.is_Integer else int(rng.integers(3, 9)) for p in M.plates}
    factor = {f.var.name: f.dist for f in M.factors}
    data = {}
    for n in g.data_names:
        v = M.variables[n]
        shape = tuple(sizes[p.size] for p in v.plates)
        dist = factor.get(n)
        fam = dist.observation_family if dist is not None else None     # a mixture's component
        support = getattr(fam, "support", None)
        positive = bool((v.symbol.label if v.plates else v.symbol).is_positive)
        if support == "onehot":
            ax = list(v.plates).index(fam.event_plates[0])
            rest = shape[:ax] + shape[ax + 1:]
            val = np.moveaxis(np.eye(shape[ax])[rng.integers(0, shape[ax], size=rest)], -1, ax)
        elif support == "binary":
            val = rng.integers(0, 2, size=shape).astype(float)
        elif support == "count":
            val = rng.poisson(3.0, size=shape).astype(float)
        elif positive:
            val = rng.uniform(0.5, 3, size=shape)
        else:
            val = rng.normal(scale=2, size=shape)
        data[n] = val if shape else float(val)
    for f in M.factors:   # a Wishart prior: symmetric positive definite scale, dof > D - 1
        if f.dist.name == "Wishart":
            W, nu = M.var_of(f.dist.scale_base).name, M.var_of(f.dist.params["dof"]).name
            n = np.shape(data[W])[-1]
            A = rng.normal(size=(n, n))
            data[W] = A @ A.T / n + 0.5 * np.eye(n)
            data[nu] = float(n - 1 + rng.uniform(0.5, 2.0))
    for f in M.factors:   # probabilities given as hyper-parameters lie on the simplex
        if f.dist.name in ("Categorical",) or (f.dist.name == "Mixture" and f.dist.component.name == "Categorical"):
            dist = f.dist.component if f.dist.name == "Mixture" else f.dist
            probs = dist.params["probs"]
            ev = dist.event_plates[0]
            for n in data:
                v = M.variables[n]
                if n in {str(s) for s in probs.free_symbols} and ev in v.plates:
                    ax = list(v.plates).index(ev)
                    data[n] = data[n] / data[n].sum(axis=ax, keepdims=True)
    init = {}
    for n in g.required_init:
        v = M.variables[n]
        shape = tuple(sizes[p.size] for p in v.plates)
        val = rng.normal(size=shape)
        if len(v.plates) == 2 and v.plates[0] is v.plates[1]:
            A = rng.normal(size=shape)
            val = A @ A.T + np.eye(shape[0])
        if bool((v.symbol.label if v.plates else v.symbol).is_positive):
            val = np.abs(val) + 0.5
        init[n] = val if shape else float(val)
    for qf in M.qfactors.values():
        if qf.dist.name == "Categorical":
            t = qf.dist.params["probs"]
            n = str(t.base.label)
            if n in init:
                ax = list(t.indices).index(qf.dist.event_plates[0].index)
                init[n] = init[n] / init[n].sum(axis=ax, keepdims=True)
    return data, init


def rel_err(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(a - b))) / max(float(np.max(np.abs(b))), 1e-300)


@pytest.mark.parametrize("name", MODELS)
def test_generated_module_follows_the_engine_sweep_for_sweep(name, modules):
    M, mod, _ = modules(name)
    g = vd.cavi(M)
    data, init = problem(M, g, np.random.default_rng(len(name)))
    ref = g.run(data, init, tol=0, max_iter=SWEEPS)
    res = mod.fit(**data, init=init, tol=0, max_iter=SWEEPS)
    assert res.n_iter == ref.n_iter == SWEEPS and not res.converged
    assert set(res.params) == set(ref.params)
    for k, v in ref.params.items():
        assert rel_err(res.params[k], v) <= RTOL, (name, k)
    assert rel_err(res.elbo, ref.elbo) <= RTOL
    drops = res.elbo[:-1] - res.elbo[1:]
    assert np.all(drops <= 1e-10 * np.abs(res.elbo[1:])), f"{name}: the ELBO decreased by {drops.max():.3e}"


@pytest.mark.parametrize("name", MODELS)
def test_generated_source_imports_numpy_and_scipy_only_and_shows_each_formula(name):
    M, src = model_and_source(name)
    tree = ast.parse(src)
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module)
    assert imported <= ALLOWED_IMPORTS, imported
    assert "vi_derivations." not in src.replace("vi_derivations (", "")
    fns = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert {"fit", "elbo", "sweep"} <= fns
    for z in M.qfactors:
        assert f"update_{z}" in fns
        u = vd.update(M, z)
        fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == f"update_{z}")
        assert ast.get_docstring(fn).startswith(f"q*({z}) = {u.family.name}")
        for eq in u.assignments:      # the LaTeX of every assignment sits above its function
            assert "# LaTeX: " + vd.latex(eq)[:40] in src
    for z, qf in M.qfactors.items():   # a Categorical update normalises by log-sum-exp
        if qf.dist.name == "Categorical":
            fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == f"update_{z}")
            code = "\n".join(ast.unparse(st) for st in fn.body[1:])     # without the docstring
            assert "logsumexp(" in code or (".max(axis=" in code and "np.exp(" in code), z
    assert "np.einsum('" in src or not M.plates


def test_blocked_import_really_blocks_the_engine(tmp_path):
    path = tmp_path / "needs_engine.py"
    path.write_text("import vi_derivations\n")
    with pytest.raises(ImportError):
        import_blocked(path, "needs_engine")
    assert sys.modules["vi_derivations"] is vd


def test_module_runs_in_a_fresh_interpreter_without_the_engine(tmp_path, modules):
    M, mod, path = modules("gmm")
    rng = np.random.default_rng(5)
    X = np.concatenate([rng.normal(-3, 1, (30, 2)), rng.normal(3, 1, (30, 2))])
    m0 = X[[0, 40]]
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "m.npy", m0)
    script = textwrap.dedent(f"""
        import importlib.abc, json, sys
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split('.')[0] in ('vi_derivations', 'vi_impl', 'sympy'):
                    raise ImportError('blocked: ' + name)
        sys.meta_path.insert(0, Block())
        sys.path.insert(0, {str(path.parent)!r})
        import numpy as np
        import fit_gmm
        x, m = np.load({str(tmp_path / 'x.npy')!r}), np.load({str(tmp_path / 'm.npy')!r})
        r = fit_gmm.fit(x=x, sigma2=4.0, init={{'m': m, 's2': np.ones((2, 2)), 'pi': np.full((60, 2), 0.5)}},
                        tol=0, max_iter=5)
        print(json.dumps({{'m': r.params['m'].tolist(), 'elbo': r.elbo.tolist(),
                           'engine': 'vi_derivations' in sys.modules}}))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["engine"] is False
    ref = vd.cavi(M).run(dict(x=X, sigma2=4.0), dict(m=m0, s2=np.ones((2, 2)), pi=np.full((60, 2), 0.5)),
                         tol=0, max_iter=5)
    assert rel_err(got["m"], ref.params["m"]) <= RTOL
    assert rel_err(got["elbo"], ref.elbo) <= RTOL


def test_default_start_and_stopping_rule(modules):
    _, mod, _ = modules("gmm")
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(-4, 1, (50, 2)), rng.normal(4, 1, (50, 2))])
    r1 = mod.fit(x=X, sigma2=10.0, K=2, seed=3)
    r2 = mod.fit(x=X, sigma2=10.0, K=2, seed=3)
    assert r1.converged and r1.n_iter == len(r1.elbo) < 500
    assert abs(r1.elbo[-1] - r1.elbo[-2]) <= 1e-8 * abs(r1.elbo[-1])
    np.testing.assert_array_equal(r1.params["m"], r2.params["m"])
    assert r1.params["pi"].shape == (100, 2) and r1.params["m"].shape == (2, 2)
    np.testing.assert_allclose(r1.params["pi"].sum(axis=1), 1, rtol=1e-12)
    assert sorted(np.round(r1.params["m"][:, 0])) == pytest.approx([-4, 4], abs=1)


@pytest.mark.parametrize("kwargs, message", [
    (dict(x=np.ones(5), sigma2=1.0, K=2), "x must have 2 axes"),
    (dict(x=np.ones((5, 2)), sigma2=-1.0, K=2), "sigma2 must be positive"),
    (dict(x=np.full((5, 2), np.nan), sigma2=1.0, K=2), "x contains NaN"),
    (dict(x=np.ones((5, 2)), sigma2=1.0), "K: the size of this plate"),
    (dict(x=np.ones((5, 2)), sigma2=1.0, K=0), "K must be a positive integer"),
    (dict(x=np.ones((5, 2)), sigma2=1.0, K=2, init={"q": 1}), "init: 'q' is not a variational parameter"),
    (dict(x=np.ones((5, 2)), sigma2=1.0, init={"m": np.ones((2, 3))}), "init: m: plate D has size 2"),
    (dict(x=np.ones((5, 2)), sigma2=1.0, K=2, init={"pi": np.ones((5, 2))}), "init: pi must sum to one"),
    (dict(x=np.ones((5, 2)), sigma2=1.0, K=2, max_iter=0), "max_iter must be a positive integer"),
    (dict(x=np.ones((5, 2)), sigma2=1.0, K=2, tol=-1.0), "tol must be a finite number"),
])
def test_bad_arguments_are_value_errors_naming_the_argument(kwargs, message, modules):
    _, mod, _ = modules("gmm")
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("*", r"\*")):
        mod.fit(**kwargs)
    with pytest.raises(TypeError, match="x must be numeric"):
        mod.fit(x="abc", sigma2=1.0, K=2)


@pytest.mark.filterwarnings("error")
def test_a_non_finite_elbo_names_its_term(modules):
    _, mod, _ = modules("gmm")
    # x^2 overflows: the likelihood term is -inf and the error names it (not "the data")
    with pytest.raises(ValueError, match=r"the ELBO is not finite: .*E_q\[log p\(x \| c, mu\)\]"):
        mod.fit(x=np.full((4, 2), 1e200), sigma2=1.0, K=2, max_iter=1)


def test_printer_writes_sums_as_einsum_with_plate_letters():
    from vi_derivations.codegen import ArrayPrinter, _Generator
    M = vd.models.load("gmm")
    g = _Generator(M)
    pr = g.printer()
    k, d = M.variables["m"].plates[0].index, M.variables["m"].plates[1].index
    i = M.variables["x"].plates[0].index
    m, x = M.variables["m"].symbol, M.variables["x"].symbol
    import sympy as sp
    pi = M.variables["pi"].symbol
    # x is stored (D, N) and pi (K, N): data points last
    assert pr.at(sp.Sum(m[k, d] * x[i, d], (d, 0, d.upper)), g.P.order((i, k))) == "(m @ x)"
    code = pr.at(sp.Sum(pi[i, k] * m[k, d] * x[i, d], (i, 0, i.upper), (k, 0, k.upper), (d, 0, d.upper)), ())
    assert code == "np.einsum('kd,di,ki->', m, x, pi, optimize=True)"
    assert pr.at(sp.log(pi[i, k]), (k, i)) == "np.log(pi)"
    assert pr.at(m[k, d] + x[i, d], (k, d, i)) == "m[:, :, None] + x"
    assert isinstance(pr, ArrayPrinter)


def load_source(src, tmp_path, name):
    path = tmp_path / f"{name}.py"
    path.write_text(src)
    return import_blocked(path, name)


def test_coupled_elements_are_updated_one_at_a_time_as_the_engine_does(tmp_path):
    """Where the schedule is sequential (correlated covariates in a fully factorised regression;
    factorised PPCA), the module loops over the coupled elements, says so, follows the engine's
    sweep to 1e-10 and never decreases the ELBO (a Jacobi step diverges on the first)."""
    from tests.vi_derivations.test_cavi_schedule import factorised_ppca
    from tests.vi_derivations.test_schedule import factorised_regression
    rng = np.random.default_rng(1)
    z = rng.normal(size=(60, 1))
    X = z + 0.02 * rng.normal(size=(60, 5))
    y = X @ rng.normal(size=5) + rng.normal(size=60)
    W, Z = rng.normal(size=(6, 3)), rng.normal(size=(40, 3))
    Xp = Z @ W.T + 0.3 * rng.normal(size=(40, 6))
    cases = [(factorised_regression(), None, dict(X=X, y=y), dict(m=np.zeros(5)), 60),
             (factorised_ppca(), ["z", "W"], dict(x=Xp, sigma2=0.09),
              dict(mW=rng.normal(size=(6, 3)), sW=np.ones((6, 3)), mz=np.zeros((40, 3))), 40)]
    for M, order, data, init, sweeps in cases:
        src = generate(M, order)
        assert "Schedule: sequential over" in src
        assert "for j in range(D):   # the element j of q(w)" in src or "for k in range(K):   # the element k" in src
        mod = load_source(src, tmp_path, f"fit_{M.name}")
        ref = vd.cavi(M, order=order).run(data, init, tol=0, max_iter=sweeps)
        res = mod.fit(**data, init=init, tol=0, max_iter=sweeps)
        for k, v in ref.params.items():
            assert rel_err(res.params[k], v) <= RTOL, (M.name, k)
        assert rel_err(res.elbo, ref.elbo) <= RTOL
        drops = res.elbo[:-1] - res.elbo[1:]
        assert np.all(drops <= 1e-10 * np.abs(res.elbo[1:])), (M.name, drops.max())


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("scale", [1.0, 300.0])
def test_blocked_pass_over_many_blocks_and_far_data_follows_the_engine(scale, tmp_path):
    """The mixture's q(c) update runs over the data points in blocks (here 3 blocks of 1024);
    far-away data make exp overflow unless the block is shifted by its largest log-potential."""
    M = vd.models.load("gmm")
    mod = load_source(generate(M, ["c", "mu"]), tmp_path, f"fit_gmm_blocks_{int(scale)}")
    mod.BLOCK_BYTES = 8 * 3 * 1024       # K = 3: 1024 data points a block
    rng = np.random.default_rng(11)
    X = scale * np.concatenate([rng.normal(-2, 1, (1500, 2)), rng.normal(2, 1, (1500, 2)), rng.normal(0, 1, (30, 2))])
    init = dict(m=X[[0, 1600, 3010]], s2=np.ones((3, 2)))
    ref = vd.cavi(M, order=["c", "mu"]).run(dict(x=X, sigma2=scale ** 2), init, tol=0, max_iter=8)
    res = mod.fit(x=X, sigma2=scale ** 2, init=init, tol=0, max_iter=8)
    for k, v in ref.params.items():
        assert rel_err(res.params[k], v) <= RTOL, k
    assert rel_err(res.elbo, ref.elbo) <= RTOL
    np.testing.assert_allclose(res.params["pi"].sum(axis=1), 1, rtol=1e-12)


# Random models of the soundness generator that cover its blocks: count families, mixtures
# (scalar and event-plated components), regressions with batch plates and coupled elements,
# factorised PPCA, hierarchies, a latent shared by two arrays, an MvNormal prior with batch plates.
RANDOM_SEEDS = [1, 4, 8, 20, 26, 36, 45, 57]


@pytest.mark.parametrize("seed", RANDOM_SEEDS)
def test_random_models_generate_and_follow_the_engine(seed, tmp_path):
    rm = pytest.importorskip("tests.vi_derivations.random_models")
    case = rm.random_model(seed)
    assert case.refusal is None and case.refusal_at_build is None, case.blocks
    M = case.model
    rng = np.random.default_rng(seed)
    start = {}
    for spec in case.qspecs:
        start.update(spec.random_params(rng))
    ref = vd.cavi(M, order=case.order).run(case.data, start, tol=0, max_iter=15)
    mod = load_source(generate(M, case.order), tmp_path, f"fit_random_{seed}")
    res = mod.fit(**case.data, init=start, tol=0, max_iter=15)
    for k, v in ref.params.items():
        assert rel_err(res.params[k], v) <= RTOL, (seed, case.blocks, k)
    assert rel_err(res.elbo, ref.elbo) <= RTOL, (seed, case.blocks)


def test_variables_named_like_the_modules_own_names_do_not_clash(tmp_path):
    """A hyper-parameter named ``seed``, data named ``state``, q parameters named ``a``, ``b`` (the
    Beta map's own locals): the module renames what would clash and stays exact."""
    N, G = vd.Plate("N", "n"), vd.Plate("G", "g")
    M = vd.Model("clashing_names")
    a0, b0 = M.hyper("seed"), M.hyper("var")
    rate = M.latent("rate", (G,))
    y = M.observed("state", (N, G))
    M.factor(rate, vd.Beta(a0, b0))
    M.factor(y, vd.Bernoulli(rate[G.index]))
    a, b = M.variational("a", (G,), positive=True), M.variational("b", (G,), positive=True)
    M.q(rate, vd.Beta(a[G.index], b[G.index]))
    mod = load_source(generate(M), tmp_path, "fit_clashing_names")
    Y = np.array([[1, 0, 1], [1, 1, 0], [0, 1, 0], [1, 1, 1]], dtype=float)
    res = mod.fit(state_=Y, seed_=2.0, var=3.0, tol=0, max_iter=2)
    # conjugate: the first update is the exact posterior Beta(seed + successes, var + failures)
    np.testing.assert_allclose(res.params["a"], 2.0 + Y.sum(axis=0), rtol=1e-13)
    np.testing.assert_allclose(res.params["b"], 3.0 + (1 - Y).sum(axis=0), rtol=1e-13)


@pytest.mark.parametrize("name, kwargs, message", [
    ("beta_bernoulli", dict(x=np.array([0.0, 0.5, 1.0]), a0=1.0, b0=1.0), "x must be 0 or 1"),
    ("gamma_poisson", dict(x=np.array([1.0, -1.0]), a0=1.0, b0=1.0), "x must be non-negative integers"),
    ("gamma_poisson", dict(x=np.array([1.0, 2.5]), a0=1.0, b0=1.0), "x must be non-negative integers"),
    ("lda_fixed_topics", dict(w=np.full((2, 3, 4), 0.25), alpha=1.0, beta=np.full((2, 4), 0.25)),
     "w must be one-hot over its axis 2"),
    ("gmm_1d", dict(x=np.array([0.0, 1.0]), weights=np.array([0.5, 0.6]), tau2=1.0, sigma2=1.0),
     "weights must be non-negative and sum to one"),
])
def test_observations_outside_the_likelihoods_support_are_refused_by_name(name, kwargs, message, modules):
    _, mod, _ = modules(name)
    with pytest.raises(ValueError, match=message):
        mod.fit(**kwargs, max_iter=2)


def test_a_wishart_factor_starts_from_the_identity_and_d_plus_one(tmp_path):
    """Without ``init`` a generated module starts a Wishart factor's scale at the identity and
    its degrees of freedom at D + 1 (a valid Wishart), here where the factor's batch plate
    holds the data (the first update reads them: before, it read random normal scales and
    nu = 1 and failed); the same run as an explicit start at those values."""
    from tests.vi_derivations.random_models_extended import kind_wishart, random_extended_model
    case = random_extended_model(106, p_refusal=0, kind=kind_wishart)
    mod = load_source(generate(case.model), tmp_path, "fit_wishart_default_start")
    G, _, D = case.data["x1"].shape
    default = mod.fit(**case.data, max_iter=5, tol=0)
    explicit = mod.fit(**case.data, max_iter=5, tol=0,
                       init={"W_Lam1": np.tile(np.eye(D), (G, 1, 1)),
                             "nu_Lam1": np.full(G, D + 1.0)})
    assert np.all(np.isfinite(default.elbo)) and np.array_equal(default.elbo, explicit.elbo)
    assert (np.diff(default.elbo) >= -1e-10 * np.abs(default.elbo[1:])).all()
