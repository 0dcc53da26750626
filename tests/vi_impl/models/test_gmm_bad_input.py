"""Every public function of vi_impl.models.gmm rejects bad input with a ValueError that names the
argument and the problem (never a NaN, never a silent wrong answer)."""

from __future__ import annotations

import numpy as np
import pytest

from vi_impl.models import gmm

N, K, D = 6, 3, 2
RNG = np.random.default_rng(0)
X = RNG.normal(size=(N, D))
M = RNG.normal(size=(K, D))
S2 = np.full((K, D), 0.5)
PI = RNG.dirichlet(np.ones(K), size=N)
GOOD = dict(X=X, m=M, s2=S2, pi=PI, sigma2=2.0)


def with_nan(a):
    a = np.array(a, dtype=float)
    a.flat[1] = np.nan
    return a


def with_inf(a):
    a = np.array(a, dtype=float)
    a.flat[0] = -np.inf
    return a


def pi_bad_sum():
    p = PI.copy()
    p[2] *= 0.9
    return p


def pi_negative():
    p = PI.copy()
    p[1, 0] = -0.1
    p[1, 1] += 0.1
    return p


# (what is wrong, argument name, regular expression the message must match)
ARRAY_CASES = [
    ("X", X[:, 0], r"^X must be a 2-D array"),
    ("X", X[None], r"^X must be a 2-D array"),
    ("X", np.empty((0, D)), r"^X must have at least 1 entries along axis 0"),
    ("X", with_nan(X), r"^X contains NaN"),
    ("X", with_inf(X), r"^X contains infinite"),
    ("X", np.array([["a", "b"]] * N), r"^X must be a real numeric array"),
    ("X", X + 1j, r"^X must be real-valued"),
    ("m", M[:, :1], r"^m must have shape \(any, 2\)"),
    ("m", M[0], r"^m must be a 2-D array"),
    ("m", with_nan(M), r"^m contains NaN"),
    ("s2", S2[:2], r"^s2 must have shape \(3, 2\)"),
    ("s2", -S2, r"^s2 has non-positive"),
    ("s2", np.zeros_like(S2), r"^s2 has non-positive"),
    ("s2", with_inf(S2), r"^s2 contains infinite"),
    ("pi", PI[:4], r"^pi must have shape \(6, 3\)"),
    ("pi", PI[:, :2] / PI[:, :2].sum(1, keepdims=True), r"^pi must have shape \(6, 3\)"),
    ("pi", pi_bad_sum(), r"^pi rows must sum to one.*row 2"),
    ("pi", pi_negative(), r"^pi has negative probabilities"),
    ("pi", with_nan(PI), r"^pi contains NaN"),
]

SCALAR_CASES = [
    ("sigma2", 0.0, r"^sigma2 must be > 0"),
    ("sigma2", -1.0, r"^sigma2 must be > 0"),
    ("sigma2", np.nan, r"^sigma2 must be finite"),
    ("sigma2", np.inf, r"^sigma2 must be finite"),
    ("sigma2", 1e-320, r"^sigma2 is too small"),
    ("sigma2", "1.0", r"^sigma2 must be a real number"),
    ("sigma2", np.ones(2), r"^sigma2 must be a scalar"),
    ("sigma2", True, r"^sigma2 must be a real number"),
    ("constants", "yes", r"^constants must be True or False"),
]


def call_with(fn, **overrides):
    names = {
        gmm.log_joint: ["X", "m", "s2", "pi", "sigma2"],
        gmm.elbo: ["X", "m", "s2", "pi", "sigma2"],
        gmm.log_var: ["m", "s2", "pi"],
        gmm.update_pi: ["X", "m", "s2"],
        gmm.update_m: ["X", "pi", "sigma2"],
        gmm.update_s2: ["X", "pi", "sigma2"],
    }[fn]
    args = {name: overrides.get(name, GOOD[name]) for name in names}
    extra = {k: v for k, v in overrides.items() if k not in names}
    return fn(**args, **extra)


FUNCTIONS = [gmm.log_joint, gmm.elbo, gmm.log_var, gmm.update_pi, gmm.update_m, gmm.update_s2]


def test_good_input_is_accepted():
    for fn in FUNCTIONS:
        out = call_with(fn)
        assert np.all(np.isfinite(out))


TAKES = {"log_joint": "X m s2 pi sigma2 constants", "elbo": "X m s2 pi sigma2 constants",
         "log_var": "m s2 pi constants", "update_pi": "X m s2",
         "update_m": "X pi sigma2", "update_s2": "X pi sigma2"}


def expected_match(fn, arg, value, match):
    """The message expected from ``fn``, or None where the input is valid for ``fn``."""
    if fn.__name__ == "log_var" and arg == "m" and value.ndim == 2 and value.shape != M.shape:
        return r"^s2 must have shape \(3, 1\) \(K, D\), the same as m"   # log_var has no X
    if arg == "pi" and value.shape != (N, K):
        # log_var reads N from pi, update_m/update_s2 read K from pi.
        if fn.__name__ == "log_var":
            return None if value.shape[1] == K else r"^pi must have shape \(any, 3\)"
        if fn.__name__ in ("update_m", "update_s2"):
            return None if value.shape[0] == N else r"^pi must have shape \(6, any\)"
    return match


CASES = [
    pytest.param(fn, arg, value, expected_match(fn, arg, value, match),
                 id=f"{fn.__name__}-{arg}-{i}")
    for fn in FUNCTIONS
    for i, (arg, value, match) in enumerate(ARRAY_CASES + SCALAR_CASES)
    if arg in TAKES[fn.__name__].split() and expected_match(fn, arg, value, match) is not None
]


@pytest.mark.parametrize("fn,arg,value,match", CASES)
def test_bad_argument_raises_value_error_naming_it(fn, arg, value, match):
    with pytest.raises(ValueError, match=match):
        call_with(fn, **{arg: value})


def test_pi_row_sum_tolerance_is_1e_8():
    p = PI.copy()
    p[0, 0] += 5e-9
    gmm.log_var(M, S2, p)                       # inside the tolerance
    p[0, 0] += 1e-7
    with pytest.raises(ValueError, match=r"^pi rows must sum to one"):
        gmm.log_var(M, S2, p)


FIT_CASES = [
    (dict(K=0), r"^K must be >= 1"),
    (dict(K=-2), r"^K must be >= 1"),
    (dict(K=2.5), r"^K must be an integer"),
    (dict(K=2.0), r"^K must be an integer"),
    (dict(K=True), r"^K must be an integer"),
    (dict(K="3"), r"^K must be an integer"),
    (dict(sigma2=0.0), r"^sigma2 must be > 0"),
    (dict(sigma2=np.nan), r"^sigma2 must be finite"),
    (dict(X=with_nan(X)), r"^X contains NaN"),
    (dict(X=X.ravel()), r"^X must be a 2-D array"),
    (dict(max_iter=0), r"^max_iter must be >= 1"),
    (dict(max_iter=10.5), r"^max_iter must be an integer"),
    (dict(tol=-1e-3), r"^tol must be >= 0"),
    (dict(tol=np.inf), r"^tol must be finite"),
    (dict(n_init=0), r"^n_init must be >= 1"),
    (dict(n_init=1.5), r"^n_init must be an integer"),
    (dict(n_threads=0), r"^n_threads must be >= 1"),
    (dict(n_threads=2.0), r"^n_threads must be an integer"),
    (dict(n_threads=True), r"^n_threads must be an integer"),
    (dict(seed=-1), r"^seed must be non-negative"),
    (dict(seed="abc"), r"^seed must be None, a non-negative integer"),
    (dict(seed=1.5), r"^seed must be None, a non-negative integer"),
    (dict(m_init=M[:2]), r"^m_init must have shape \(3, 2\)"),
    (dict(m_init=with_inf(M)), r"^m_init contains infinite"),
]


@pytest.mark.parametrize("overrides,match", FIT_CASES,
                         ids=[f"{next(iter(o))}-{i}" for i, (o, _) in enumerate(FIT_CASES)])
def test_fit_rejects_bad_input(overrides, match):
    kwargs = dict(X=X, K=K, sigma2=2.0)
    kwargs.update(overrides)
    Xv, Kv, s2v = kwargs.pop("X"), kwargs.pop("K"), kwargs.pop("sigma2")
    with pytest.raises(ValueError, match=match):
        gmm.fit(Xv, Kv, s2v, **kwargs)


def test_fit_accepts_numpy_integers_and_generators():
    r = gmm.fit(X, np.int64(2), 2.0, max_iter=np.int32(3), tol=0, n_init=np.int8(2),
                seed=np.random.default_rng(1))
    assert r.n_iter == 3 and r.m.shape == (2, D)
