r"""Natural-gradient stochastic variational inference for conjugate models (Hoffman et al. 2013).

A conjugate model with global variables beta and local variables z_1..z_N (one group per data
item) whose complete conditional of beta is in the exponential family with natural parameter
``prior + sum_n t(x_n, z_n)`` has, for q(beta) with natural parameter lambda, the natural
gradient of the ELBO

    grad_nat L(lambda) = prior + N E_{q(z_n)}[t(x_n, z_n)] averaged over n  -  lambda.

One step on a minibatch B (sampled uniformly without replacement) uses the noisy, unbiased
version of that gradient:

    1. local step: the optimal q(z_n) for n in B given the current lambda;
    2. the intermediate global parameter
           lambda_hat = prior + (N / |B|) sum_{n in B} E[t(x_n, z_n)];
    3. lambda <- (1 - rho_t) lambda + rho_t lambda_hat,   rho_t = (tau0 + t)^(-kappa),

with kappa in (0.5, 1] and tau0 >= 0 (Robbins-Monro: sum rho = inf, sum rho^2 < inf).

The loop knows nothing about the model: a model supplies its prior's natural parameter (a dict
of arrays), ``local_step(batch, lam)`` and ``batch_stats(batch, local)`` returning a dict with
the same keys. Any parameterisation affine in the natural parameter works too (e.g. the
Dirichlet parameter itself), because step 3 is an affine combination.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from vi_impl.result import FitResult
from vi_impl.validation import (
    as_float_array,
    check_callable,
    check_int,
    check_nonnegative_scalar,
    check_returned_real,
    check_rng,
)

__all__ = ["step_sizes", "svi"]


def step_sizes(n_steps, tau0=1.0, kappa=0.7) -> np.ndarray:
    """rho_t = (tau0 + t)^(-kappa) for t = 1..n_steps (kappa in (0.5, 1], tau0 >= 0)."""
    n_steps = check_int("n_steps", n_steps, minimum=1)
    tau0, kappa = _check_schedule(tau0, kappa)
    return (tau0 + np.arange(1, n_steps + 1)) ** (-kappa)


def _check_schedule(tau0, kappa):
    tau0 = check_nonnegative_scalar("tau0", tau0)
    kappa = check_nonnegative_scalar("kappa", kappa)
    if not 0.5 < kappa <= 1.0:
        raise ValueError(f"kappa must lie in (0.5, 1] (Robbins-Monro), got {kappa!r}")
    return tau0, kappa


def _check_natural(name, lam) -> dict:
    """A copy of a dict of finite real arrays (|entries| <= MAX_ABS)."""
    if not isinstance(lam, dict) or not lam:
        raise TypeError(f"{name} must be a non-empty dict of arrays (the natural parameters)")
    return {key: np.array(as_float_array(f"{name}[{key!r}]", value)) for key, value in lam.items()}


def _check_stats(stats, prior) -> dict:
    """What ``batch_stats`` returned: a dict with (at least) the keys of ``prior``, each a
    finite real array that broadcasts to the shape of its prior entry."""
    if not isinstance(stats, dict) or not set(prior) <= set(stats):
        got = sorted(map(str, stats)) if isinstance(stats, dict) else type(stats).__name__
        raise TypeError(f"batch_stats must return a dict with the keys of prior {sorted(prior)},"
                        f" got {got}")
    out = {}
    for key, shape in ((k, v.shape) for k, v in prior.items()):
        value = as_float_array(f"batch_stats[{key!r}]", stats[key])
        try:
            ok = np.broadcast_shapes(value.shape, shape) == shape
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"batch_stats[{key!r}] has shape {value.shape}, prior[{key!r}] has "
                             f"{shape}")
        out[key] = value
    return out


def svi(prior: dict, local_step: Callable, batch_stats: Callable, n_items: int, *,
        init: dict, batch_size: int, n_steps: int, tau0: float = 1.0, kappa: float = 0.7,
        seed=0, monitor: Callable | None = None, monitor_every: int = 0) -> FitResult:
    """Run ``n_steps`` natural-gradient SVI steps from the global parameter ``init``.

    ``prior``: natural parameter of p(beta) (dict of arrays, same keys as ``init``);
    ``local_step(idx, lam)``: optimal local parameters of the items ``idx`` (an int array)
    given ``lam``; ``batch_stats(idx, local)``: dict of summed expected sufficient statistics
    of those items. ``monitor(lam)`` (optional) is called every ``monitor_every`` steps and
    after the last one; its values (floats) and the wall and process CPU time spent outside it
    are returned in ``extra['monitor']``, ``extra['wall']`` and ``extra['cpu']``. Returns a
    :class:`FitResult` whose ``params`` is the final lam, ``elbo`` the monitor trace (empty
    without one), ``extra['rho']`` the step sizes.
    """
    prior = _check_natural("prior", prior)
    local_step = check_callable("local_step", local_step)
    batch_stats = check_callable("batch_stats", batch_stats)
    monitor = check_callable("monitor", monitor, allow_none=True)
    lam = _check_natural("init", init)
    if set(lam) != set(prior):
        raise ValueError(f"init must have the keys of prior {sorted(prior)}, got {sorted(lam)}")
    for key in prior:
        if lam[key].shape != prior[key].shape:
            raise ValueError(f"init[{key!r}] has shape {lam[key].shape}, prior[{key!r}] has "
                             f"{prior[key].shape}")
    n_items = check_int("n_items", n_items, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1, maximum=n_items)
    rho = step_sizes(n_steps, tau0, kappa)
    monitor_every = check_int("monitor_every", monitor_every, minimum=0)
    rng = check_rng("seed", seed)
    scale = n_items / batch_size
    trace, walls, cpus, steps_at = [], [], [], []
    spent = spent_cpu = 0.0
    t_start, c_start = time.perf_counter(), time.process_time()
    for t, rho_t in enumerate(rho, start=1):
        idx = np.sort(rng.choice(n_items, size=batch_size, replace=False))
        stats = _check_stats(batch_stats(idx, local_step(idx, lam)), prior)
        for key in lam:
            lam_hat = prior[key] + scale * stats[key]
            lam[key] = (1.0 - rho_t) * lam[key] + rho_t * lam_hat
        if monitor is not None and ((monitor_every and t % monitor_every == 0)
                                    or t == len(rho)):
            t0, c0 = time.perf_counter(), time.process_time()
            walls.append(t0 - t_start - spent)
            cpus.append(c0 - c_start - spent_cpu)
            trace.append(check_returned_real("monitor", monitor(lam)))
            steps_at.append(t)
            spent += time.perf_counter() - t0
            spent_cpu += time.process_time() - c0
    return FitResult(dict(lam), np.array(trace), len(rho), False,
                     dict(rho=rho, monitor=np.array(trace), wall=np.array(walls),
                          cpu=np.array(cpus), steps_at=np.array(steps_at)))
