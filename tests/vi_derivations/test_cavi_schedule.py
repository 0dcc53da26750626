"""Generated CAVI on models whose factor elements are coupled: fully factorised q(w_j) in a
regression with correlated covariates, and fully factorised probabilistic PCA.  Updating every
element at once (a Jacobi step) diverges on these; the engine's schedule updates coupled elements
one at a time, so the ELBO never decreases (1e-10 relative) and stays finite."""
import numpy as np
import pytest
from sympy import Sum

import vi_derivations as vd
from vi_derivations.cavi import cavi
from vi_derivations.schedule import update_schedule
from tests.vi_derivations.test_schedule import factorised_regression


def factorised_ppca():
    N, D, K = vd.Plate("N", "n"), vd.Plate("D", "d"), vd.Plate("K", "k")
    n, d, k = N.index, D.index, K.index
    M = vd.Model("factorised_ppca")
    sigma2 = M.hyper("sigma2")
    W = M.latent("W", (D, K))
    z = M.latent("z", (N, K))
    x = M.observed("x", (N, D))
    M.factor(W, vd.Normal(0, var=1))
    M.factor(z, vd.Normal(0, var=1))
    l = K.fresh()
    M.factor(x, vd.Normal(Sum(W[d, l] * z[n, l], (l, l.lower, l.upper)), var=sigma2))
    mW, sW = M.variational("mW", (D, K)), M.variational("sW", (D, K), positive=True)
    mz, sz = M.variational("mz", (N, K)), M.variational("sz", (N, K), positive=True)
    M.q(W, vd.Normal(mW[d, k], var=sW[d, k]))
    M.q(z, vd.Normal(mz[n, k], var=sz[n, k]))
    return M


def assert_monotone(trace):
    trace = np.asarray(trace)
    assert np.all(np.isfinite(trace))
    drops = trace[:-1] - trace[1:]
    assert np.all(drops <= 1e-10 * np.abs(trace[1:])), drops.max()


def test_correlated_regression_ascends():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(60, 1))
    X = z + 0.02 * rng.normal(size=(60, 5))  # correlation ~0.9998 between covariates
    y = X @ rng.normal(size=5) + rng.normal(size=60)
    G = cavi(factorised_regression())
    assert G.schedules["w"].kind == "sequential" and "one element at a time along D" in G.source()
    res = G.run(dict(X=X, y=y), dict(m=np.zeros(5)), max_iter=60, tol=0)
    assert_monotone(res.elbo)
    # the Jacobi step (every element at once) is what the schedule avoids: it diverges here
    upd = vd.update(factorised_regression(), "w").numeric()
    m = np.zeros(5)
    for _ in range(30):
        m = upd(X=X, y=y, m=m)["m"]
    assert np.max(np.abs(m)) > 1e6


def test_factorised_ppca_ascends_and_schedules_name_the_plate():
    M = factorised_ppca()
    assert update_schedule(M, "W").plates == ("K",) and update_schedule(M, "z").plates == ("K",)
    rng = np.random.default_rng(2)
    W = rng.normal(size=(6, 3))
    Z = rng.normal(size=(40, 3))
    X = Z @ W.T + 0.3 * rng.normal(size=(40, 6))
    G = cavi(M, order=["z", "W"])
    res = G.run(dict(x=X, sigma2=0.09), dict(mW=rng.normal(size=(6, 3)), sW=np.ones((6, 3)), mz=np.zeros((40, 3))),
                max_iter=40, tol=0)
    assert_monotone(res.elbo)


def test_non_finite_elbo_names_the_factor_and_parameter():
    G = cavi(factorised_regression())
    X = np.ones((3, 2))
    params = dict(m=np.array([1e200, 1e200]), s2=np.ones(2))
    with pytest.raises(ValueError, match=r"p\(y \| w\).*m"):
        G.elbo(dict(X=X, y=np.zeros(3)), params)


def test_impossible_counts_are_refused_before_an_improper_update():
    M = vd.models.load("gamma_poisson")
    G = cavi(M)
    data = {n: 1.0 for n in G.data_names}
    obs = [v for v in M.variables.values() if v.kind == "observed"][0]
    data[obs.name] = -50.0 * np.ones(4)  # not counts: the optimal shape would become negative
    with pytest.raises(ValueError, match=rf"data: '{obs.name}' must be non-negative integers"):
        G.run(data, {}, max_iter=2)         # refused on the likelihood's support, before any update
