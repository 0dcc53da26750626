"""The soundness checks applied to every random model (:mod:`tests.vi_derivations.random_models`).

``check_case(case)`` returns a :class:`Verdict`: ``status`` is ``"right"`` (accepted and every
check passed), ``"refused"`` (a NonConjugateError / UnsupportedModelError naming the factor or
variable and the term) or ``"wrong"`` (anything else), with the reasons.  The checks share
nothing with the engine's derivation:

1. a non-conjugate model must be refused, by an error of the expected class whose message names
   the variable / factor and the term;
2. the engine's full ELBO at random variational parameters equals a Monte Carlo average of
   log p - log q over draws from q, both densities from ``scipy.stats`` (within 4 standard errors);
3. the generated CAVI, from a random start and in a random factor order, never decreases the
   ELBO (1e-10 relative) and stays finite;
4. at its fixed point, central finite differences of the ELBO along random feasible directions of
   every variational parameter are zero (relative to the gradient at the random start);
5. where the model is fully conjugate, the ELBO at the fixed point equals the exact log evidence
   (quadrature, enumeration, Gaussian marginals, Polya urn): q is then the exact posterior;
   where it is not but every block's exact log evidence is known (``case.evidence_ok``, e.g. a
   logistic likelihood under its local bound), every ELBO of the CAVI trace lies below it;
6. where ``case.codegen`` is set, the standalone NumPy module (:mod:`vi_derivations.codegen`)
   follows the engine's sweeps from the same start (1e-9 relative).
"""
from __future__ import annotations

import importlib.util
import tempfile
import time
import warnings
from pathlib import Path
from dataclasses import dataclass, field

import numpy as np

import vi_derivations as vd

MC_DRAWS = 4000
REFUSALS = (vd.NonConjugateError, vd.UnsupportedModelError)


@dataclass
class Verdict:
    seed: int
    blocks: list
    status: str = "right"
    accepted: bool = False
    reasons: list = field(default_factory=list)
    derive_seconds: float = 0.0
    sweeps: int = 0
    converged: bool = False
    exact_checked: bool = False

    def fail(self, why):
        self.status = "wrong"
        self.reasons.append(why)


def _named(err, words):
    msg = str(err)
    return all(w in msg for w in words)


def _feasible_direction(spec, P, rng):
    """A direction that keeps positive parameters positive and simplex rows on the simplex."""
    out = {}
    for role, name in spec.params.items():
        val = np.asarray(P[name], dtype=float)
        d = rng.normal(size=val.shape)
        if role in ("scale", "cov") and val.ndim >= 2:
            # a positive definite matrix: a symmetric step relative to it, L S L^T (W = L L^T),
            # so that a nearly singular W is not stepped across its boundary
            L = np.linalg.cholesky(val)
            d = 0.1 * L @ (d + np.swapaxes(d, -1, -2)) @ np.swapaxes(L, -1, -2)
        elif spec.family == "Categorical":
            d = val * (d - (val * d).sum(spec.event_axis, keepdims=True))
        elif spec.family == "Bernoulli":
            d = val * (1 - val) * d
        elif role not in ("mean",):
            d = 0.5 * val * d
        out[name] = d
    return out


def _directional(G, data, P, D, h):
    plus = {k: (v + h * D[k] if k in D else v) for k, v in P.items()}
    minus = {k: (v - h * D[k] if k in D else v) for k, v in P.items()}
    return (G.elbo(data, plus) - G.elbo(data, minus)) / (2 * h)


def check_case(case, max_iter=150, draws=MC_DRAWS):
    v = Verdict(case.seed, list(case.blocks))
    rng = np.random.default_rng(10_000 + case.seed)
    M = case.model
    # ------------------------------------------------------------------ 1. refusals
    if case.refusal is not None:
        classes, words = case.refusal
        err = case.refusal_at_build
        if err is None:
            try:
                t0 = time.perf_counter()
                vd.derive(M)
                vd.cavi(M)
                v.derive_seconds = time.perf_counter() - t0
            except REFUSALS as e:
                err = e
            except Exception as e:  # noqa: BLE001 - any other exception is a wrong answer
                v.fail(f"non-conjugate model raised {type(e).__name__}: {e}")
                return v
        if err is None:
            v.accepted = True
            v.fail("a non-conjugate model was accepted")
        elif not isinstance(err, classes) or not _named(err, words):
            v.fail(f"refusal {type(err).__name__}: {err!s} does not name {words}")
        else:
            v.status = "refused"
        return v
    # ------------------------------------------------------------------ derivation
    try:
        t0 = time.perf_counter()
        vd.derive(M)
        G = vd.cavi(M, order=case.order)
        v.derive_seconds = time.perf_counter() - t0
    except REFUSALS as e:  # sound (named) but incomplete: counted apart
        v.status = "refused"
        v.reasons.append(f"{type(e).__name__}: {e}")
        return v
    except Exception as e:  # noqa: BLE001
        v.fail(f"derivation raised {type(e).__name__}: {e}")
        return v
    v.accepted = True
    data = case.data
    # ------------------------------------------------------------------ 2. ELBO vs Monte Carlo
    P0 = {}
    for spec in case.qspecs:
        P0.update(spec.random_params(rng))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            engine = G.elbo(data, P0)
    except Exception as e:  # noqa: BLE001
        v.fail(f"ELBO evaluation raised {type(e).__name__}: {e}")
        return v
    lat, logq = {}, np.zeros(draws)
    for spec in case.qspecs:
        z, lq = spec.sample(rng, P0, draws)
        lat.update(z if isinstance(z, dict) else {spec.var: z})   # a joint factor draws two
        logq += lq
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = case.log_joint(lat) - logq
    if not np.all(np.isfinite(diff)):
        v.fail("Monte Carlo log p - log q not finite (test generator bug)")
        return v
    mc, se = diff.mean(), diff.std(ddof=1) / np.sqrt(draws)
    if abs(engine - mc) > 4 * se + 1e-9 * max(1.0, abs(engine)):
        v.fail(f"ELBO {engine:.6g} vs Monte Carlo {mc:.6g} (se {se:.3g}, z = {(engine - mc) / max(se, 1e-300):.1f})")
    # ------------------------------------------------------------------ 3. CAVI ascends
    init = {n: P0[n] for n in G.required_init}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            res = G.run(data, init, max_iter=max_iter, tol=1e-13)
    except Exception as e:  # noqa: BLE001
        v.fail(f"CAVI raised {type(e).__name__}: {e}")
        return v
    tr = res.elbo
    v.sweeps, v.converged = res.n_iter, res.converged
    if not np.all(np.isfinite(tr)):
        v.fail("CAVI ELBO not finite")
        return v
    drops = tr[:-1] - tr[1:]
    if np.any(drops > 1e-10 * np.abs(tr[1:])):
        v.fail(f"CAVI decreased the ELBO by {drops.max():.3g} (relative {np.max(drops / np.abs(tr[1:])):.3g})")
    # ------------------------------------------------------------------ 4. stationary at the fixed point
    Popt = {k: np.array(val, dtype=float) for k, val in res.params.items()}
    for k, val in P0.items():
        Popt.setdefault(k, val)
    if res.converged:
        for spec in case.qspecs:
            D = _feasible_direction(spec, Popt, rng)
            D0 = _feasible_direction(spec, P0, rng)
            g_opt = _directional(G, data, Popt, D, 1e-5)
            g0 = _directional(G, data, P0, D0, 1e-5)
            tol = 1e-4 * max(1.0, abs(g0)) + 1e-6 * max(1.0, abs(tr[-1]))
            if not abs(g_opt) <= tol:
                v.fail(f"q({spec.var}): directional derivative {g_opt:.3g} at the fixed point (start {g0:.3g})")
    # ------------------------------------------------------------------ 5. exact where conjugate
    if case.exact and case.evidence_terms and res.converged:
        v.exact_checked = True
        ev = case.log_evidence()
        if abs(tr[-1] - ev) > 1e-7 * max(1.0, abs(ev)):
            v.fail(f"ELBO at the optimum {tr[-1]:.10g} != exact log evidence {ev:.10g}")
    elif getattr(case, "evidence_ok", False) and case.evidence_terms:
        terms = [f(data) for f in case.evidence_terms]
        if all(t is not None for t in terms):
            v.exact_checked = True
            ev = float(sum(terms))
            if tr.max() > ev + 1e-8 * max(1.0, abs(ev)):
                v.fail(f"ELBO {tr.max():.10g} above the exact log evidence {ev:.10g}")
    # ------------------------------------------------------------------ 6. generated module
    if getattr(case, "codegen", False):
        why = check_codegen(case, {k: P0[k] for k in G.param_names if k in P0})
        if why:
            v.fail(why)
    return v


def check_codegen(case, init, sweeps=10, rtol=1e-9):
    """The standalone module of ``case.model`` against the engine's CAVI, ``sweeps`` sweeps from
    ``init`` (every variational parameter: the module's default start of a Wishart factor is not a
    valid Wishart); returns the reason of a mismatch or None."""
    from vi_derivations.codegen import generate
    try:
        src = generate(case.model, case.order)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"fit_random_{case.seed}.py"
            path.write_text(src)
            spec = importlib.util.spec_from_file_location(path.stem, path)
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            ref = vd.cavi(case.model, order=case.order).run(case.data, init, tol=0, max_iter=sweeps)
            res = mod.fit(**case.data, init=init, tol=0, max_iter=sweeps)
    except Exception as e:  # noqa: BLE001
        return f"generated module raised {type(e).__name__}: {e}"
    for k, val in ref.params.items():
        a, b = np.asarray(res.params.get(k, np.nan), float), np.asarray(val, float)
        if a.shape != b.shape or np.max(np.abs(a - b)) > rtol * max(np.max(np.abs(b)), 1e-300):
            return f"generated module: {k} differs from the engine's after {sweeps} sweeps"
    a, b = np.asarray(res.elbo, float), np.asarray(ref.elbo, float)
    if a.shape != b.shape or np.max(np.abs(a - b)) > rtol * np.max(np.abs(b)):
        return "generated module: ELBO trace differs from the engine's"
    return None
