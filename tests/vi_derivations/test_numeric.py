"""vi_derivations.numeric: a Sum of a sum of products is contracted term by term (one einsum per
term, over the indices that term uses) and must equal the plain definition: the summand
evaluated elementwise over all of its indices (every term broadcast to the union), then summed
over the limits, an index absent from the summand contributing a factor of its size."""
from __future__ import annotations

import tracemalloc
import zlib

import numpy as np
import pytest
import sympy as sp
from sympy import KroneckerDelta, Sum, exp, log

import vi_derivations as vd
from vi_derivations import numeric
from vi_derivations.distributions import NotEqual
from vi_derivations.local_bound import derive_bound_update

RTOL = 1e-12


class _Broadcast(numeric._Ev):
    """The reference: Sum(f, limits) = f evaluated over all its indices, summed over the limits."""

    def _sum(self, e):
        idxs = [lim[0] for lim in e.limits]
        val, labels = self.ev(e.function)
        val = np.asarray(val, dtype=float)
        mult = float(np.prod([self.size_of(i) for i in idxs if i not in labels]))
        axes = tuple(n for n, lab in enumerate(labels) if lab in idxs)
        return val.sum(axis=axes) * mult, tuple(lab for lab in labels if lab not in idxs)


def reference(expr, model, out=(), sampled=(), **arrays):
    arrays = {k: np.asarray(v, dtype=float) for k, v in arrays.items()}
    ev = _Broadcast(arrays, numeric.plate_sizes(model, arrays, sampled), sampled)
    val, labels = ev.ev(sp.sympify(expr))
    outs, shape = tuple(out), [ev.size_of(i) for i in out]
    if sampled:
        outs, shape = (numeric.SAMPLE,) + outs, [ev.size_of(numeric.SAMPLE)] + shape
    return np.broadcast_to(ev.align(val, labels, outs), shape) if outs else float(val)


def random_arrays(model, rng, sampled=(), draws=3):
    """Every variable of ``model`` at random: positive entries in (1.1, 2.5); a variable whose
    last two plates have one size is a positive-definite matrix over them. Plates of different
    sizes get different lengths, so a wrongly matched axis cannot go unnoticed."""
    lengths = iter(range(2, 20))
    sizes = {}
    for p in model.plates:
        if not p.size.is_Integer and p.size not in sizes:
            sizes[p.size] = next(lengths)
    out = {}
    for v in model.variables.values():
        shape = tuple(int(p.size) if p.size.is_Integer else sizes[p.size] for p in v.plates)
        lead = (draws,) if v.name in sampled else ()
        if len(v.plates) >= 2 and v.plates[-1].size == v.plates[-2].size:
            n = shape[-1]
            a = rng.normal(size=lead + shape)
            out[v.name] = a @ np.swapaxes(a, -1, -2) / n + np.eye(n)
        else:
            out[v.name] = rng.uniform(1.1, 2.5, size=lead + shape)
    return out


def _free(expr):
    return tuple(sorted((s for s in sp.sympify(expr).free_symbols if isinstance(s, sp.Idx)), key=str))


def model_expressions(model):
    """(label, expression) for the full ELBO, every update's natural parameters and parameters,
    and every local bound's update."""
    out = [("elbo", vd.elbo(model, constants=True))]
    for n in model.qfactors:
        u = vd.update(model, n)
        out += [(f"q({n}) natural {k}", e) for k, e in u.natural.items()]
        out += [(f"q({n}) {k}", e) for k, e in u.params.items()]
    for n in getattr(model, "bounds", {}):
        out.append((f"bound {n}", derive_bound_update(model, n).assignments[0].rhs))
    return out


def _agree(new, ref):
    new, ref = np.asarray(new, dtype=float), np.asarray(ref, dtype=float)
    assert new.shape == ref.shape
    assert np.all(np.isfinite(ref))
    scale = float(np.max(np.abs(ref)))
    err = float(np.max(np.abs(new - ref))) if new.size else 0.0
    assert err <= RTOL * scale, (err, scale)
    return err / scale if scale else 0.0


@pytest.mark.parametrize("name", vd.models.available())
def test_every_expression_of_every_model_equals_the_broadcast_sum(name):
    model = vd.models.load(name)
    arrays = random_arrays(model, np.random.default_rng(zlib.crc32(name.encode())))
    exprs = model_expressions(model)
    assert len(exprs) >= 3
    for label, expr in exprs:
        out = _free(expr)
        new = vd.compile_expr(expr, model, out)(**arrays)
        assert _agree(new, reference(expr, model, out, **arrays)) <= RTOL, label


def test_a_sampled_log_joint_equals_the_broadcast_sum():
    model = vd.models.load("gmm")
    lat = tuple(model.qfactors)
    arrays = random_arrays(model, np.random.default_rng(0), sampled=lat)
    expr = vd.log_joint_expr(model)
    new = vd.compile_expr(expr, model, sampled=lat)(**arrays)
    assert new.shape == (3,)
    _agree(new, reference(expr, model, sampled=lat, **arrays))


# ----------------------------------------------------------------------------- targeted cases
@pytest.fixture(scope="module")
def gmm():
    model = vd.models.load("gmm")
    rng = np.random.default_rng(1)
    arrays = random_arrays(model, rng)
    idx = {p.name: p.index for p in model.plates}
    base = {n: model.variables[n].symbol for n in ("x", "m", "s2", "pi", "sigma2")}
    base.update({p.name: p.size for p in model.plates})
    return model, arrays, idx, base


def _both(model, expr, out, arrays):
    new = vd.compile_expr(expr, model, out)(**arrays)
    _agree(new, reference(expr, model, out, **arrays))
    return np.asarray(new)


def test_a_term_without_the_summed_index_is_multiplied_by_its_size(gmm):
    model, a, idx, b = gmm
    i, k, d = idx["N"], idx["K"], idx["D"]
    expr = Sum(b["m"][k, d] + b["x"][i, d] + b["sigma2"], (i, 0, b["N"] - 1))
    got = _both(model, expr, (k, d), a)
    N = a["x"].shape[0]
    assert np.allclose(got, N * a["m"] + a["x"].sum(0) + N * a["sigma2"], rtol=RTOL)


def test_nested_sums_and_functions_applied_before_the_contraction(gmm):
    model, a, idx, b = gmm
    i, k, d = idx["N"], idx["K"], idx["D"]
    N, K, D = b["N"], b["K"], b["D"]
    inner = Sum(exp(b["m"][k, d]) * b["x"][i, d] - log(b["s2"][k, d]), (d, 0, D - 1))
    expr = Sum(b["pi"][i, k] * inner + log(b["pi"][i, k]) * b["pi"][i, k], (i, 0, N - 1), (k, 0, K - 1))
    got = _both(model, expr, (), a)
    x, m, s2, pi = a["x"], a["m"], a["s2"], a["pi"]
    want = (np.einsum("ik,kd,id->", pi, np.exp(m), x) - np.einsum("ik,kd->", pi, np.log(s2))
            + np.sum(np.log(pi) * pi))
    assert np.isclose(got, want, rtol=RTOL)


def test_an_add_factor_over_different_indices_is_multiplied_out(gmm):
    model, a, idx, b = gmm
    i, k, d = idx["N"], idx["K"], idx["D"]
    N = b["N"]
    expr = Sum(b["pi"][i, k] * (b["x"][i, d] + b["m"][k, d] - 2), (i, 0, N - 1))
    got = _both(model, expr, (k, d), a)
    x, m, pi = a["x"], a["m"], a["pi"]
    want = pi.T @ x + pi.sum(0)[:, None] * (m - 2)
    assert np.allclose(got, want, rtol=RTOL)
    terms = numeric._terms(expr)
    pi_ = b["pi"][i, k]
    assert len(terms) == 3
    assert {sp.Mul(*t) for t in terms} == {pi_ * b["x"][i, d], pi_ * b["m"][k, d], -2 * pi_}


def test_kronecker_delta_and_not_equal(gmm):
    model, a, idx, b = gmm
    k, d = idx["K"], idx["D"]
    l = model.plates[0].fresh()
    K = b["K"]
    m = a["m"]
    same = Sum(KroneckerDelta(k, l) * b["m"][l, d] * b["s2"][l, d], (l, 0, K - 1))
    assert np.allclose(_both(model, same, (k, d), a), m * a["s2"], rtol=RTOL)
    other = Sum(NotEqual(k, l) * b["m"][l, d] + KroneckerDelta(k, l), (l, 0, K - 1))
    assert np.allclose(_both(model, other, (k, d), a), m.sum(0) - m + 1, rtol=RTOL)


def test_the_lda_topic_update_never_builds_the_four_axis_array():
    model = vd.models.load("lda")
    expr = vd.update(model, "z").natural["c_k"]
    out = _free(expr)
    rng = np.random.default_rng(2)
    D, N, K, V = 6, 10, 5, 3000
    w = np.eye(V)[rng.integers(0, V, (D, N))]
    arrays = dict(w=w, gamma=rng.uniform(1, 2, (D, K)), lam=rng.uniform(1, 2, (K, V)))
    f = vd.compile_expr(expr, model, out)
    f(**arrays)
    tracemalloc.start()
    got = f(**arrays)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < D * N * K * V * 8 / 4, peak
    _agree(got, reference(expr, model, out, **arrays))


def test_non_finite_input_is_named_and_a_huge_finite_one_is_accepted(gmm):
    model, a, idx, b = gmm
    i, d = idx["N"], idx["D"]
    expr = Sum(b["x"][i, d], (i, 0, b["N"] - 1), (d, 0, b["D"] - 1))
    f = vd.compile_expr(expr, model)
    for bad in (np.nan, np.inf, -np.inf):
        x = a["x"].copy()
        x[0, 0] = bad
        with pytest.raises(ValueError, match="'x'"):
            f(x=x)
    big = np.full_like(a["x"], 1e308)
    big[0, 0] = -1e308
    with np.errstate(over="ignore"):
        assert f(x=big) == np.inf
