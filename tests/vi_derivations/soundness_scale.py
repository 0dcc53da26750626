"""The map-reduce and SVI soundness check of one random model (:mod:`tests.vi_derivations.random_models`
and :mod:`~tests.vi_derivations.random_models_extended`).

``check_scale(case)`` returns ``(status, reason)``: ``"right"`` (split; the map-reduce sweeps on
random uneven chunks, one of a single row, equal the engine's in-memory CAVI in the plan's order,
parameters and ELBO to 1e-9 relative; full-batch SVI steps with rho = 1 equal the same sweeps and a
rho = 1/2 step moves the natural parameters of the families whose natural parameters are cheap to
write half way), ``"refused"`` (UnsupportedModelError / NonConjugateError, or a ValueError naming an
argument), ``"wrong"`` (a mismatch) or ``"crashed"`` (any other exception).  The reference is
:func:`vi_derivations.cavi`; the half step is checked in the family's own parameters, mapped to
natural ones here by hand (Normal: m / s, 1 / s; Gamma, Beta, Dirichlet: affine; MvNormal: S^-1 m,
S^-1; Wishart: nu, W^-1).
"""
from __future__ import annotations

import warnings

import numpy as np

import vi_derivations as vd
from vi_derivations.mapreduce import map_reduce
from vi_derivations.svi import SVI

REFUSALS = (vd.NonConjugateError, vd.UnsupportedModelError)
RTOL = 1e-9


def _axis(model, name, plate):
    plates = model.variables[name].plates
    return plates.index(plate) if plate in plates else None


def chunk_cuts(n, rng):
    """Random uneven cuts of n rows, one chunk of a single row when n > 1."""
    if n <= 1:
        return [0, n]
    one = int(rng.integers(n))
    inner = set(int(c) for c in rng.integers(1, n, size=int(rng.integers(0, 3))))
    cuts = sorted({0, n, one, one + 1} | inner)
    return cuts


def _slice(model, arrays, plate, a, b):
    out = {}
    for k, v in arrays.items():
        ax = _axis(model, k, plate)
        v = np.asarray(v)
        out[k] = v if ax is None else np.take(v, np.arange(a, b), axis=ax)
    return out


def _concat(model, parts, plate):
    out = {}
    for k in parts[0]:
        ax = _axis(model, k, plate)
        out[k] = np.concatenate([np.asarray(p[k]) for p in parts], axis=ax) if ax is not None \
            else parts[-1][k]
    return out


def _close(a, b, rtol=RTOL):
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape:
        return False
    scale = max(float(np.max(np.abs(b))) if b.size else 0.0, 1e-300)
    return bool(np.all(np.isfinite(a))) and float(np.max(np.abs(a - b), initial=0.0)) <= rtol * scale


def _natural(family, role_values):
    """Natural coordinates of q's parameters for the families where that is cheap (else None)."""
    v = {r: np.asarray(x, float) for r, x in role_values.items()}
    if family == "Normal":
        return [v["mean"] / v["var"], 1 / v["var"]]
    if family in ("Gamma", "Beta", "Dirichlet"):
        return list(v.values())
    if family == "MvNormal" and "cov" in v:
        P = np.linalg.inv(v["cov"])
        return [np.einsum("...de,...e->...d", P, v["mean"]), P]
    if family == "Wishart":
        return [v["nu"] if "nu" in v else v.get("dof"), np.linalg.inv(v["scale"])]
    return None


def _roles(model, n):
    from vi_derivations.svi import names_in
    dist = model.qfactors[n].dist
    out = {}
    for role, expr in dist.params.items():
        names = names_in(expr)
        if len(names) == 1:
            out[role] = names.pop()
    return type(dist).__name__, out


def setup(case, rng):
    """Data on the data plate, fixed arrays and a random start, from the case's generator."""
    P0 = {}
    for spec in case.qspecs:
        P0.update(spec.random_params(rng))
    return P0


def check_scale(case, sweeps=3, seed=0, parts=None):
    """(status, reason) of ``case`` under map_reduce and SVI (see the module docstring); the
    status of each alone goes into the dict ``parts`` ("map_reduce", "svi") when given."""
    parts = {} if parts is None else parts
    status, why = _check(case, sweeps, seed, parts)
    parts.setdefault("map_reduce", status)
    parts.setdefault("svi", status)
    return status, why


def _check(case, sweeps, seed, parts):
    if case.refusal_at_build is not None:
        return "skip", "the generator's model was refused while it was built"
    if case.refusal is not None:       # a non-conjugate model: map_reduce and SVI refuse it by name
        for what, build in (("map_reduce", map_reduce), ("SVI", SVI)):
            try:
                build(case.model)
            except REFUSALS:
                continue
            except Exception as e:  # noqa: BLE001
                return "crashed", f"{what} on a non-conjugate model: {type(e).__name__}: {e}"
            return "wrong", f"{what} accepted a model the generator means to be refused"
        return "refused", "non-conjugate, refused by name"
    M = case.model
    try:
        G = vd.cavi(M, order=case.order)
    except REFUSALS:
        return "skip", "refused by the in-memory CAVI"
    rng = np.random.default_rng(20_000 + case.seed + 7919 * seed)
    P0 = setup(case, rng)
    # -------------------------------------------------------------- the plan
    try:
        plan = map_reduce(M)
    except REFUSALS as e:
        return "refused", f"map_reduce: {type(e).__name__}: {e}"
    except ValueError as e:
        return ("refused" if "must" in str(e) or "data_plate" in str(e) else "crashed",
                f"map_reduce: ValueError: {e}")
    except Exception as e:  # noqa: BLE001 - any other exception is a bug
        return "crashed", f"map_reduce: {type(e).__name__}: {e}"
    sp_ = plan.split
    plate = sp_.data_plate
    data = {k: case.data[k] for k in sp_.data}
    fixed = {k: v for k, v in case.data.items() if k not in data}
    try:
        G = vd.cavi(M, order=plan.order)
    except REFUSALS:
        return "skip", "the in-memory CAVI refuses the plan's order"
    init = {n: P0[n] for n in G.required_init}
    glob = {k: P0[k] for k in sp_.global_params if k in P0}
    local0 = {k: P0[k] for k in sp_.local_params if k in P0 and k in init}
    n = int(np.shape(next(iter(data.values())))[_axis(M, sp_.data[0], plate)])
    cuts = chunk_cuts(n, rng)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            ref = G.run(case.data, init, max_iter=sweeps, tol=0)
    except Exception as e:  # noqa: BLE001
        return "skip", f"in-memory CAVI in the plan's order raised {type(e).__name__}: {e}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            params, local, trace = dict(glob), dict(local0), []
            for _ in range(sweeps):
                chunks = [{**_slice(M, data, plate, a, b), **_slice(M, local, plate, a, b)}
                          for a, b in zip(cuts, cuts[1:])]
                params, value, locals_ = plan.sweep(chunks, params, fixed)
                local = {**local, **_concat(M, locals_, plate)} if locals_ and locals_[0] else local
                trace.append(value)
    except Exception as e:  # noqa: BLE001
        return "crashed", f"plan.sweep: {type(e).__name__}: {e}"
    for k in sp_.global_params:
        if k in ref.params and not _close(params.get(k, np.nan), ref.params[k]):
            return "wrong", f"map-reduce: {k} differs from the in-memory CAVI (cuts {cuts})"
    for k in sp_.local_params:
        if k in ref.params and k in local and not _close(local[k], ref.params[k]):
            return "wrong", f"map-reduce: local {k} differs from the in-memory CAVI (cuts {cuts})"
    if not _close(trace, ref.elbo):
        return "wrong", f"map-reduce: ELBO {trace} != in-memory {list(ref.elbo)} (cuts {cuts})"
    parts["map_reduce"] = "right"
    # -------------------------------------------------------------- SVI
    try:
        # the local parameters a sweep reads before it writes them start where the CAVI starts
        engine = SVI(M, local_steps=1, local_tol=0,
                     local_init=lambda chunk, params, fixed: {k: P0[k] for k in engine._needs_start})
    except REFUSALS as e:
        return "refused", f"SVI: {type(e).__name__}: {e}"
    except Exception as e:  # noqa: BLE001
        return "crashed", f"SVI: {type(e).__name__}: {e}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            start = engine._start(data, glob, fixed)
            steps = 1 if start else sweeps
            ref1 = G.run(case.data, {**init, **start}, max_iter=steps, tol=0)
            params = dict(glob)
            for _ in range(steps):
                params, _ = engine.step(data, params, fixed, rho=1.0, scale=1.0)
            half, _ = engine.step(data, dict(glob), fixed, rho=0.5, scale=1.0)
            one, _ = engine.step(data, dict(glob), fixed, rho=1.0, scale=1.0)
    except Exception as e:  # noqa: BLE001
        return "crashed", f"SVI.step: {type(e).__name__}: {e}"
    for k in sp_.global_params:
        if k in ref1.params and not _close(params.get(k, np.nan), ref1.params[k]):
            return "wrong", f"SVI: rho = 1 step(s): {k} differs from the CAVI sweep"
    from vi_derivations.svi import names_in
    written = set()
    for g in engine.global_factors:
        fam, roles = _roles(M, g)
        # a target that reads a factor stepped before it in this step moves with that factor
        reads = set().union(*map(names_in, plan.global_natural[g].values()))
        joint = getattr(M.qfactors[g].dist, "joint", None)
        members = [f for f in plan.global_order
                   if f == g or (joint is not None and getattr(M.qfactors[f].dist, "joint", None) is joint)]
        mine = set().union(*(names_in(e) for f in members for e in M.qfactors[f].dist.params.values()))
        before, written = set(written), written | mine
        if reads & before or not roles or any(r not in glob for r in roles.values()):
            continue
        try:
            nat = [_natural(fam, {r: q[k] for r, k in roles.items()}) for q in (glob, half, one)]
        except (KeyError, TypeError, np.linalg.LinAlgError):
            continue
        if nat[0] is None:
            continue
        for a, h, b in zip(*nat):
            if not _close(h, (a + b) / 2, 1e-8):
                return "wrong", f"SVI: a rho = 1/2 step of q({g}) is not half way in natural parameters"
    return "right", ""
