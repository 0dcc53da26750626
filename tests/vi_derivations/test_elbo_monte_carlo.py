"""Independent route for every model the package ships: the engine's closed-form full ELBO
(moment tables, independence, one-hot identities) equals a Monte Carlo average of
log p(data, z) - log q(z) over draws z ~ q, within 4 standard errors.  The Monte Carlo side
uses only the model's log densities (checked against sympy.stats in test_engine_moments.py)
evaluated at sampled values, never an expectation computed by the engine."""
import zlib

import numpy as np
import pytest

import vi_derivations as vd
from vi_derivations.elbo import _batch_sum, log_joint_expr

SIZES = {"N": 6, "K": 3, "D": 2, "E": 2, "J": 2}   # E: the column plate of D x D matrices
S = 20_000


def _shape(var):
    return tuple(SIZES.get(p.name, 3) if not p.size.is_Integer else int(p.size) for p in var.plates)


def _fill(M, rng):
    """Random data, hyper-parameters and valid variational parameters."""
    vals = {}
    for v in M.variables.values():
        shape = _shape(v)
        if v.kind in ("hyper", "covariate"):
            pos = v.kind == "hyper" and v.symbol.is_positive if not v.plates else \
                v.kind == "hyper" and v.symbol.label.is_positive
            vals[v.name] = rng.uniform(0.5, 2.0, shape) if pos else rng.normal(size=shape)
    for f in M.factors:   # a Wishart prior: symmetric positive definite scale, dof > D - 1
        if f.dist.name == "Wishart":
            W, nu = M.var_of(f.dist.scale_base), M.var_of(f.dist.params["dof"])
            vals[W.name] = _spd(rng, _shape(W))
            vals[nu.name] = _shape(W)[-1] - 1 + rng.uniform(0.5, 2.0, _shape(nu))
    for f in M.factors:
        v = f.var
        if v.kind != "observed":
            continue
        fam = f.dist.component if hasattr(f.dist, "component") else f.dist
        shape = _shape(v)
        if fam.name == "Bernoulli":
            vals[v.name] = (rng.uniform(size=shape) < 0.4).astype(float)
        elif fam.name == "Poisson":
            vals[v.name] = rng.poisson(2.0, shape).astype(float)
        elif fam.name == "Categorical":  # one-hot along the component's event plate (LDA's words)
            axis = v.plates.index(fam.event_plates[0])
            hot = rng.integers(0, shape[axis], size=shape[:axis] + shape[axis + 1:])
            vals[v.name] = np.moveaxis(np.eye(shape[axis])[hot], -1, axis)
        else:
            vals[v.name] = rng.normal(size=shape) * 1.5
    for name, qf in M.qfactors.items():
        fam, var = qf.dist, qf.var
        for pname, target in fam.params.items():
            tv = M.var_of(target)
            shape = _shape(tv)
            if fam.name == "Normal" and pname == "mean" or fam.name == "MvNormal":
                vals[tv.name] = rng.normal(size=shape)
            elif fam.name == "Categorical":
                ev = fam.event_plates[0]
                axis = tv.plates.index(ev)
                g = rng.gamma(1.0, size=shape)
                vals[tv.name] = g / g.sum(axis=axis, keepdims=True)
            elif fam.name == "Bernoulli":
                vals[tv.name] = rng.uniform(0.1, 0.9, shape)
            elif fam.name == "NormalWishart" and pname == "scale":
                vals[tv.name] = _spd(rng, shape)
            elif fam.name == "NormalWishart" and pname == "dof":
                vals[tv.name] = SIZES["D"] - 1 + rng.uniform(0.5, 2.0, shape)
            else:
                vals[tv.name] = rng.uniform(0.5, 2.5, shape)
        if fam.name == "MvNormal":
            Vv = M.var_of(fam.matrix)
            n = _shape(Vv)[-1]
            A = rng.normal(size=(n, n))
            vals[Vv.name] = A @ A.T + 0.5 * np.eye(n)
    for name in getattr(M, "bounds", {}):   # a local bound's parameter (xi > 0): log p is then log h
        vals[name] = rng.uniform(0.5, 2.5, _shape(M.variables[name]))
    return vals


def _spd(rng, shape):
    """Symmetric positive definite matrices over the last two axes of ``shape``."""
    A = rng.normal(size=shape)
    n = shape[-1]
    return A @ np.swapaxes(A, -1, -2) / n + 0.5 * np.eye(n)


_JOINT = {}


def _sample_normal_wishart(M, fam, vals, rng):
    """Draws of (mu, Lambda) from a joint Normal–Wishart q: Lambda_k ~ W(W_k, nu_k), then
    mu_k | Lambda_k ~ N(m_k, (beta_k Lambda_k)^-1) (batch plates first, as declared)."""
    from scipy import stats
    j = fam.joint
    key = (id(j), id(vals))
    if key not in _JOINT:
        mu_v, lam_v = j.mu, j.lam
        P = {k: vd.to_numpy(e, M, out=tuple(i for i in lam_v.element.indices if i in e.free_symbols))(
            **{n: vals[n] for n in vals if M.variables[n].kind in ("variational", "hyper")})
            for k, e in j.params.items()}
        batch = _shape(lam_v)[:-2]
        lam = np.empty((S,) + _shape(lam_v))
        mu = np.empty((S,) + _shape(mu_v))
        for b in np.ndindex(*batch):
            L = stats.wishart(df=P["dof"][b], scale=P["scale"][b]).rvs(S, random_state=rng)
            lam[(slice(None),) + b] = L
            C = np.linalg.cholesky(np.linalg.inv(P["beta"][b] * L))
            mu[(slice(None),) + b] = P["mean"][b] + np.einsum("sde,se->sd", C, rng.standard_normal((S, L.shape[-1])))
        _JOINT.clear()
        _JOINT[key] = {mu_v.name: mu, lam_v.name: lam}
    return _JOINT[key][fam.var.name]


def _sample(M, qf, vals, rng):
    if qf.dist.name == "NormalWishart":
        return _sample_normal_wishart(M, qf.dist, vals, rng)
    fam, var = qf.dist, qf.var
    idx = var.element.indices if var.plates else ()
    P = {k: vd.to_numpy(e, M, out=tuple(i for i in idx if i in e.free_symbols) and idx)(
        **{n: vals[n] for n in vals if n in M.variables and M.variables[n].kind in ("variational", "hyper")})
        for k, e in fam.params.items()}
    shape = _shape(var)
    P = {k: np.broadcast_to(v, shape) for k, v in P.items()}
    if fam.name == "Normal":
        return P["mean"] + np.sqrt(P["var"]) * rng.standard_normal((S,) + shape)
    if fam.name == "Gamma":
        return rng.gamma(P["shape"], 1 / P["rate"], (S,) + shape)
    if fam.name == "Beta":
        return rng.beta(P["a"], P["b"], (S,) + shape)
    if fam.name == "Bernoulli":
        return (rng.uniform(size=(S,) + shape) < P["p"]).astype(float)
    if fam.name in ("Categorical", "Dirichlet"):
        axis = var.plates.index(fam.event_plates[0])
        key = "probs" if fam.name == "Categorical" else "conc"
        p = np.moveaxis(P[key], axis, -1)
        if fam.name == "Dirichlet":
            g = rng.gamma(p, size=(S,) + p.shape)
            out = g / g.sum(-1, keepdims=True)
        else:
            u = rng.uniform(size=(S,) + p.shape[:-1] + (1,))
            cat = (u > np.cumsum(p, -1)).sum(-1)
            out = np.eye(p.shape[-1])[np.minimum(cat, p.shape[-1] - 1)]
        return np.moveaxis(out, -1, axis + 1)
    if fam.name == "MvNormal":
        return rng.multivariate_normal(P["mean"], vals[str(fam.matrix.label)], S)
    raise NotImplementedError(fam.name)


@pytest.mark.parametrize("name", vd.models.available())
def test_full_elbo_equals_monte_carlo(name):
    M = vd.models.load(name)
    rng = np.random.default_rng(zlib.crc32(name.encode()))  # not hash(): salted per process
    vals = _fill(M, rng)
    L = vd.to_numpy(vd.elbo(M, constants=True), M)(**vals)
    draws = {n: _sample(M, qf, vals, rng) for n, qf in M.qfactors.items()}
    lat = tuple(draws)
    args = {**vals, **draws}
    logp = vd.to_numpy(log_joint_expr(M), M, sampled=lat)(**args)
    logq = sum(vd.to_numpy(_batch_sum(qf.dist.log_density(qf.var.element), qf), M, sampled=lat)(**args)
               for qf in M.qfactors.values())
    w = logp - logq
    se = w.std() / np.sqrt(S)
    assert np.all(np.isfinite(w))
    assert abs(w.mean() - L) < 4 * se + 1e-9 * abs(L), (w.mean(), L, se)


def _fd_directions(M, qf, vals, rng):
    """(name, index, direction array) perturbations that keep the parameters valid:
    along e_k - e_l on a probability simplex, symmetric for a covariance matrix."""
    fam = qf.dist
    out = []
    names = [str(M.var_of(t).name) for t in fam.params.values()]
    if fam.name == "MvNormal":
        names.append(str(fam.matrix.label))
    for name in names:
        arr = np.asarray(vals[name], dtype=float)
        for idx in list(np.ndindex(arr.shape))[:6]:
            d = np.zeros_like(arr)
            if fam.name == "Categorical" and name == names[0]:
                axis = M.variables[name].plates.index(fam.event_plates[0])
                if idx[axis] + 1 >= arr.shape[axis]:
                    continue
                other = list(idx); other[axis] += 1
                # e_k - e_l scaled by the smaller probability, so that a step of h keeps both
                # probabilities positive even when one has underflowed towards 0
                scale = min(arr[idx], arr[tuple(other)])
                d[idx] = scale; d[tuple(other)] = -scale
            elif fam.name == "MvNormal" and name == str(fam.matrix.label):
                d[idx] += 0.5; d[idx[::-1]] += 0.5
            elif fam.name == "NormalWishart" and name == str(fam.params["scale"].base.label):
                d[idx] += 0.5; d[idx[:-2] + idx[-2:][::-1]] += 0.5    # symmetric
            else:
                d[idx] = 1.0
            out.append((name, d))
    return out


@pytest.mark.parametrize("name", vd.models.available())
def test_every_update_is_a_stationary_point_of_the_elbo(name):
    """After the engine's update of q(z_j), the engine's full ELBO has zero gradient in q(z_j)'s
    parameters (finite differences): the update and ELBO derivations are consistent."""
    M = vd.models.load(name)
    rng = np.random.default_rng(zlib.crc32((name + "fd").encode()))  # not hash(): salted per process
    vals = _fill(M, rng)
    L = vd.to_numpy(vd.elbo(M, constants=True), M)
    for u in vd.derive_updates(M):
        vals.update(u.numeric()(**vals))
        base = L(**vals)
        for pname, d in _fd_directions(M, M.qfactors[u.var], vals, rng):
            h = 1e-6 * max(1.0, float(np.max(np.abs(vals[pname]))))
            up, dn = dict(vals), dict(vals)
            up[pname] = vals[pname] + h * d
            dn[pname] = vals[pname] - h * d
            g = (L(**up) - L(**dn)) / (2 * h)
            assert abs(g) < 1e-5 * max(1.0, abs(base)), (u.var, pname, g)
