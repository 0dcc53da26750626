"""vi_impl.svi: the step sizes, an exact conjugate check, one full-batch step is one CAVI
iteration (the Bayesian mixture), stochastic steps approach the CAVI fixed point, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from vi_impl.models import bayesian_gmm as bg
from vi_impl.svi import step_sizes, svi


def test_step_sizes_follow_robbins_monro():
    rho = step_sizes(5, tau0=2.0, kappa=0.6)
    np.testing.assert_allclose(rho, [(2.0 + t) ** -0.6 for t in range(1, 6)], rtol=1e-15)


@pytest.mark.parametrize("kwargs, name", [(dict(kappa=0.5), "kappa"), (dict(kappa=1.2), "kappa"),
                                          (dict(tau0=-1.0), "tau0")])
def test_bad_schedule_is_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        step_sizes(3, **kwargs)


def _normal_mean_model(x, prec_prior=0.5, noise_prec=2.0):
    """x_n ~ N(mu, 1/noise_prec), mu ~ N(0, 1/prec_prior); natural parameter
    (precision-weighted mean, precision). No local variables."""
    prior = dict(h=np.array(0.0), J=np.array(prec_prior))

    def local_step(idx, lam):
        return None

    def batch_stats(idx, local):
        return dict(h=noise_prec * x[idx].sum(), J=noise_prec * len(idx))

    return prior, local_step, batch_stats


def test_full_batch_unit_step_is_the_exact_posterior_and_stays_there():
    x = np.random.default_rng(0).normal(1.0, 0.7, size=20)
    prior, local_step, batch_stats = _normal_mean_model(x)
    res = svi(prior, local_step, batch_stats, len(x), init=dict(h=np.array(3.0), J=np.array(1.0)),
              batch_size=len(x), n_steps=4, tau0=0.0, kappa=1.0)
    post_prec = 0.5 + 2.0 * 20
    assert res["J"] == pytest.approx(post_prec, rel=1e-14)
    assert res["h"] / res["J"] == pytest.approx(2.0 * x.sum() / post_prec, rel=1e-13)


def test_minibatch_steps_average_to_the_posterior():
    x = np.random.default_rng(1).normal(-2.0, 1.0, size=200)
    prior, local_step, batch_stats = _normal_mean_model(x)
    res = svi(prior, local_step, batch_stats, len(x), init=dict(h=np.array(0.0), J=np.array(1.0)),
              batch_size=10, n_steps=3000, tau0=1.0, kappa=0.9, seed=3)
    exact = 2.0 * x.sum() / (0.5 + 400.0)
    assert res["J"] == pytest.approx(400.5, rel=1e-3)      # the precision has no noise
    assert abs(res["h"] / res["J"] - exact) < 0.02          # the mean: noise shrinks with rho


def _mixture(seed=0, n=300):
    rng = np.random.default_rng(seed)
    X = np.r_[rng.normal(size=(n, 2)), rng.normal(size=(n, 2)) + 5,
              rng.normal(size=(n, 2)) + [0, 6]]
    return X, bg.make_prior(3, 2, m0=X.mean(0), W0=np.linalg.inv(np.cov(X.T)) / 2)


def test_one_full_batch_step_on_the_mixture_is_one_cavi_iteration():
    X, prior = _mixture()
    r0 = np.eye(3)[np.random.default_rng(2).integers(3, size=len(X))]
    s = bg.fit_svi(X, 3, prior=prior, init=r0, batch_size=len(X), n_steps=1, tau0=0.0,
                   kappa=1.0)
    c = bg.fit(X, 3, prior=prior, init=r0, max_iter=1, tol=0)
    for name in ("alpha", "beta", "m", "W", "nu"):
        np.testing.assert_allclose(s[name], c[name], rtol=1e-10, atol=1e-12)


def test_stochastic_steps_reach_the_cavi_fixed_point_on_the_mixture():
    X, prior = _mixture(seed=1)
    centres = X[[0, 300, 600]]                  # one point of each cluster: the shared start
    r0 = np.eye(3)[((X[:, None, :] - centres[None]) ** 2).sum(-1).argmin(1)]
    c = bg.fit(X, 3, prior=prior, init=r0)
    s = bg.fit_svi(X, 3, prior=prior, init=r0, batch_size=60, n_steps=400, tau0=10.0,
                   kappa=0.7, seed=0, monitor_every=400)
    order_c, order_s = np.lexsort(c.m.T), np.lexsort(s.m.T)
    assert np.abs(c.m[order_c] - s.m[order_s]).max() < 0.1
    assert abs(s.elbo[-1] - c.elbo[-1]) < 1e-3 * abs(c.elbo[-1])
    assert s.elbo[-1] <= c.elbo[-1] + 1e-6 * abs(c.elbo[-1])


def test_bad_svi_input_is_named():
    x = np.zeros(5)
    prior, local_step, batch_stats = _normal_mean_model(x)
    with pytest.raises(ValueError, match="init"):
        svi(prior, local_step, batch_stats, 5, init=dict(h=np.array(0.0)), batch_size=2,
            n_steps=1)
    with pytest.raises(ValueError, match="batch_size"):
        svi(prior, local_step, batch_stats, 5, init=dict(h=np.array(0.0), J=np.array(1.0)),
            batch_size=6, n_steps=1)
    with pytest.raises(TypeError, match="prior"):
        svi([1.0], local_step, batch_stats, 5, init=dict(h=0.0), batch_size=2, n_steps=1)


def test_what_the_model_callables_return_is_checked_by_name():
    """Found by benchmarks/fuzz_vi_impl.py: a stats array of another shape silently changed
    lam's shape; an array instead of a dict gave an IndexError; a NaN monitor value was
    recorded; complex natural parameters lost their imaginary part with a warning."""
    x = np.arange(5.0)
    prior, local_step, batch_stats = _normal_mean_model(x)
    init = dict(h=np.array(0.0), J=np.array(1.0))
    run = dict(batch_size=2, n_steps=2)
    cases = [
        (dict(batch_stats=lambda idx, local: dict(h=x[idx], J=2.0)), r"batch_stats\['h'\]"),
        (dict(batch_stats=lambda idx, local: np.zeros(2)), "batch_stats"),
        (dict(batch_stats=lambda idx, local: dict(h=np.nan, J=1.0)), r"batch_stats\['h'\]"),
        (dict(batch_stats="stats"), "batch_stats"),
        (dict(local_step=None), "local_step"),
        (dict(monitor=lambda lam: np.nan), "monitor"),
        (dict(monitor=lambda lam: np.ones(2)), "monitor"),
        (dict(init=dict(h=np.array(1j), J=np.array(1.0))), r"init\['h'\]"),
        (dict(prior=dict(h=np.array(0.0), J=np.array(1e300))), r"prior\['J'\]"),
    ]
    for change, name in cases:
        args = dict(prior=prior, local_step=local_step, batch_stats=batch_stats, init=init)
        args.update(change)
        with pytest.raises((ValueError, TypeError), match=rf"^{name}"):
            svi(args.pop("prior"), args.pop("local_step"), args.pop("batch_stats"), 5, **args,
                **run)
