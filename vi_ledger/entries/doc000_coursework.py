"""Ledger entries for 000_1458e46accab4e32.txt (coursework: mean-field VI for a
D-dimensional Gaussian mixture with unit observation variance)."""
from __future__ import annotations

import functools

import numpy as np
import sympy as sp
from scipy import optimize, special
from sympy.stats import E as Exp, Normal

from .. import _mixture as MIX
from .._checks import cavi_optimal_factor_discrete, gh_expect, is_zero, norm_logpdf, same
from ..registry import DocumentBook

BOOK = B = DocumentBook("000_1458e46accab4e32.txt")


def _coursework_problem(seed=0):
    """The coursework model with D = 1: unit observation variance, uniform weights."""
    return MIX.problem(seed, N=4, K=2, s2=1.0, tau2=3.0, pi=np.full(2, 0.5))


@B.verified("doc000-eq7", line=57, marker=r"q^*(z_j) \propto \exp\left(\mathbb{E}_{-j}[\log p(z_j, \mathbf{z}_{-j}, X)]\right)",
            location="Eq. (7), CAVI optimal factor", topics=("cavi", "mean-field", "gmm"),
            claim=r"q^*(z_j)\propto\exp\big(\mathbb E_{-j}[\log p(z_j,\mathbf z_{-j},X)]\big)",
            method="exact enumeration: on a random discrete joint, the normalised exp E_{-j}[log p] beats 200 random competitors and equals a BFGS optimum of the ELBO over q_j",
            route="numeric")
def _():
    return cavi_optimal_factor_discrete(seed=0)


@B.verified("doc000-l55-cavi-local-optimum", line=55, marker="finds a local optimum of the evidence lower bound",
            location="Section 'Coursework Description', CAVI", topics=("cavi", "gmm", "elbo"),
            claim=r"\text{CAVI increases the ELBO monotonically and stops at a local optimum}",
            method="numeric: CAVI on the coursework model (D=1, N=4, K=2) with updates derived by SymPy; the ELBO by Gauss-Hermite never decreases (1e-12) and the fixed point has zero finite-difference gradient in m (1e-6)",
            route="sympy+numeric")
def _():
    P = _coursework_problem(1)
    m, v, phi, trace = MIX.cavi(P, sweeps=60)
    if np.diff(trace).min() < -1e-12:
        return False
    h = 1e-5
    grads = []
    for k in range(P["K"]):
        e = np.zeros(P["K"]); e[k] = h
        grads.append((MIX.elbo_gh(P, m + e, v, phi) - MIX.elbo_gh(P, m - e, v, phi)) / (2 * h))
    return bool(np.max(np.abs(grads)) < 1e-6)


def _elbo8_original():
    # As printed: ELBO = E_q[p/q], offered as a lower bound on log p(X).
    P = _coursework_problem(0)
    logw = MIX.elbo_mc_samples(P, S=200000)
    value = np.mean(np.exp(logw))                       # E_q[p/q] by Monte Carlo
    return bool(value <= MIX.log_evidence(P["x"], P["tau2"], P["s2"], P["pi"]))


@B.erratum("doc000-eq8", line=74, marker=r"\text{ELBO} = \mathbb{E}_{q(\mu, c)} \left[ \frac{p(X, \mu, c)}{q(\mu, c)} \right]",
           location="Eq. (8), 'The Evidence Lower Bound'", topics=("elbo", "gmm"),
           claim=r"\mathrm{ELBO}=\mathbb E_{q(\mu,c)}\Big[\frac{p(X,\mu,c)}{q(\mu,c)}\Big]",
           why="The logarithm is missing. E_q[p/q] = Σ_c∫p(X,μ,c)dμ = p(X) exactly, the evidence itself, which is not a lower bound on log p(X) (p(X) > log p(X) always).",
           correction=r"\mathrm{ELBO}=\mathbb E_{q(\mu,c)}\big[\log p(X,\mu,c)-\log q(\mu,c)\big]\le\log p(X)",
           original=_elbo8_original,
           method="Monte Carlo (2e5 draws, seed fixed) on the coursework model with D=1, N=4, K=2 and exact evidence by enumeration: E_q[p/q] ≈ p(X) > log p(X) (printed form refuted); the mean of log p - log q agrees with the Gauss-Hermite ELBO (4 s.e.) and is below log p(X)",
           route="numeric")
def _():
    P = _coursework_problem(0)
    logw = MIX.elbo_mc_samples(P, S=200000)
    logZ = MIX.log_evidence(P["x"], P["tau2"], P["s2"], P["pi"])
    se = logw.std(ddof=1) / np.sqrt(logw.size)
    elbo = MIX.elbo_gh(P)
    w = np.exp(logw - logZ)                               # E_q[p/q] / p(X) should be 1
    w_se = w.std(ddof=1) / np.sqrt(w.size)
    return bool(abs(logw.mean() - elbo) < 4 * se and elbo < logZ and abs(w.mean() - 1) < 4 * w_se)


@B.verified("doc000-l72-lower-bound", line=72, marker=r"\log p(X) = \log \int_{\mu, c} p(X, \mu, c)",
            location="Section 'The Evidence Lower Bound', first sentence", topics=("elbo", "gmm"),
            claim=r"\mathrm{ELBO}\le\log p(X)=\log\sum_c\int p(X,\mu,c)\,d\mu",
            method="exact evidence by enumerating the K^N assignments vs the ELBO by Gauss-Hermite for 20 random mean-field q (coursework model, D=1)",
            route="numeric", note="c is discrete, so the 'integral' over c is a sum.")
def _():
    P = _coursework_problem(2)
    logZ = MIX.log_evidence(P["x"], P["tau2"], P["s2"], P["pi"])
    g = np.random.default_rng(7)
    for _ in range(20):
        m = g.normal(0, 2, 2); v = g.uniform(0.05, 3, 2); phi = g.dirichlet(np.ones(2), size=4)
        if MIX.elbo_gh(P, m, v, phi) > logZ:
            return False
    return True


@B.verified("doc000-l82-diagonal-gaussian", line=82, marker="is the same as a collection of", lines=(53,),
            location="Task 1 note (also the remark after Eq. (6))", topics=("gaussian", "mean-field"),
            claim=r"\mathcal N(\mathbf x\mid\boldsymbol\mu,\operatorname{diag}(\sigma_1^2,\dots,\sigma_n^2))=\prod_i\mathcal N(x_i\mid\mu_i,\sigma_i^2)",
            method="SymPy (n=3): log of the multivariate density minus the sum of univariate log densities simplifies to 0")
def _():
    xs, ms = sp.symbols("x1:4", real=True), sp.symbols("m1:4", real=True)
    vs = sp.symbols("v1:4", positive=True)
    S = sp.diag(*vs)
    d = sp.Matrix(xs) - sp.Matrix(ms)
    lhs = -(d.T * S.inv() * d)[0] / 2 - sp.log((2 * sp.pi) ** 3 * S.det()) / 2
    rhs = sum(-sp.log(2 * sp.pi * v) / 2 - (a - b) ** 2 / (2 * v) for a, b, v in zip(xs, ms, vs))
    return is_zero(sp.expand_log(lhs - rhs, force=True))


@functools.lru_cache(maxsize=None)
def _engine():
    """The engine's coursework model: NumPy callables of its derived q(mu) and q(c) updates."""
    import vi_derivations as vd
    M = vd.models.load("gmm")
    return vd.update(M, "mu").numeric(), vd.update(M, "c").numeric()


def _assignment_logits_sym():
    """E_{q(mu_k)}[log N(x | mu_k, I)] for D=2, minus the part common to all k."""
    x1, x2, m1, m2 = sp.symbols("x1 x2 m1 m2", real=True)
    s1, s2 = sp.symbols("s1 s2", positive=True)
    M1, M2 = Normal("M1", m1, s1), Normal("M2", m2, s2)
    logn = sum(-sp.log(2 * sp.pi) / 2 - (a - b) ** 2 / 2 for a, b in ((x1, M1), (x2, M2)))
    full = sp.expand(Exp(sp.expand(logn)))
    common = -sp.log(2 * sp.pi) - (x1**2 + x2**2) / 2
    return sp.simplify(full - common), (x1, x2, m1, m2, s1, s2)


@B.verified("doc000-task4-softmax", line=104, marker=r"\pi_i \propto [\exp(p_1), \dots, \exp(p_K)]",
            location="Task 4 note", topics=("cavi", "gmm", "responsibilities"),
            claim=r"q^*(c_i)=\mathrm{Cat}(\pi_i),\ \pi_{ik}=\frac{\exp p_k}{\sum_{k'}\exp p_{k'}},\ p_k=\mathbb E_q[\log\mathcal N(\mathbf x_i\mid\mu_k,I)]+\text{const}",
            method="sympy.stats derives p_k = x^T m_k - ½Σ_d(m_kd²+s_kd²) (D=2); the softmax of these equals the numerical (BFGS) maximiser of the ELBO over π_i, whose terms are computed by Gauss-Hermite, and the engine's derived q(c) update (1e-12)",
            route="sympy+engine+numeric",
            note="As an algorithm, normalise in log space (subtract logsumexp_k p_k): the logits reach 1e6 for data at |x| ~ 1e3 and exp overflows.")
def _():
    logit, syms = _assignment_logits_sym()
    x1, x2, m1, m2, s1, s2 = syms
    if not same(logit, x1 * m1 + x2 * m2 - (m1**2 + s1**2 + m2**2 + s2**2) / 2):
        return False
    f = sp.lambdify(syms, logit, "numpy")
    g = np.random.default_rng(11)
    K = 3
    x = g.normal(size=2)
    m = g.normal(size=(K, 2)); s = g.uniform(0.3, 1.2, size=(K, 2))
    p = np.array([f(x[0], x[1], m[k, 0], m[k, 1], s[k, 0], s[k, 1]) for k in range(K)])
    soft = np.exp(p - special.logsumexp(p))
    # ELBO terms that depend on pi_i: sum_k pi_ik (log(1/K) + E[log N(x|mu_k,I)]) - sum_k pi_ik log pi_ik
    ell = np.array([gh_expect(lambda z: norm_logpdf(x, z, 1.0).sum(axis=1), m[k], s[k] ** 2, n=6) for k in range(K)])
    obj = lambda a: -(np.sum(np.exp(a - special.logsumexp(a)) * (ell - np.log(K)))
                      - np.sum(special.xlogy(np.exp(a - special.logsumexp(a)), np.exp(a - special.logsumexp(a)))))
    res = optimize.minimize(obj, np.zeros(K), method="BFGS", options={"gtol": 1e-10})
    best = np.exp(res.x - special.logsumexp(res.x))
    # third route: the engine's derived update for q(c) on the same numbers
    engine_pi = _engine()[1](x=x[None], m=m, s2=s**2)["pi"][0]
    return bool(np.allclose(best, soft, atol=1e-6) and np.allclose(engine_pi, soft, atol=1e-12))


eta, Lam, xx = sp.Symbol("eta", real=True), sp.Symbol("Lambda", positive=True), sp.Symbol("x", real=True)


def _eq9_original():
    # As printed: p(x) = alpha exp(eta x + x Lambda x / 2) with Lambda > 0 (a precision).
    # integrable only if the kernel tends to 0 at infinity; SymPy finds the limit is oo
    return bool(sp.limit(sp.exp(eta * xx + Lam * xx**2 / 2), xx, sp.oo) == 0)


@functools.lru_cache(maxsize=None)
def _canonical_moments():
    """Normalise exp(eta x - Lambda x^2 / 2): Z by integration, then the moments
    as derivatives of log Z in the natural parameter (exponential-family identity)."""
    Z = sp.simplify(sp.integrate(sp.exp(eta * xx - Lam * xx**2 / 2), (xx, -sp.oo, sp.oo), conds="none"))
    mean = sp.simplify(sp.diff(sp.log(Z), eta))
    var = sp.simplify(sp.diff(sp.log(Z), eta, 2))
    return Z, mean, var


@B.erratum("doc000-eq9", line=112, marker=r"p(x|\eta, \Lambda) = \alpha \exp\{\eta^T x + \frac{1}{2} x^T \Lambda x\}",
           location="Eq. (9), Task 5 note: canonical form of the Gaussian", topics=("gaussian", "canonical-form", "gmm"),
           claim=r"p(x\mid\eta,\Lambda)=\alpha\exp\{\eta^Tx+\tfrac12x^T\Lambda x\}",
           why="Sign of the quadratic term. With Λ positive definite (it is a precision, σ² = Λ⁻¹ > 0) exp{ηᵀx + ½xᵀΛx} is not integrable, so no normalising α exists; the stated conversions μ = Λ⁻¹η, σ² = Λ⁻¹ hold only for the minus sign.",
           correction=lambda: (r"p(x\mid\eta,\Lambda)=\alpha\exp\{\eta^Tx-\tfrac12x^T\Lambda x\},\ \text{(1-D: }\alpha^{-1}="
                               + sp.latex(_canonical_moments()[0]) + r")"),
           original=_eq9_original,
           method="SymPy (1-D): with +½Λx² the kernel tends to ∞ as x→∞, so it is not integrable (printed form refuted); with -½Λx² it is finite")
def _():
    Z, _, _ = _canonical_moments()
    return bool(Z.is_finite is not False and sp.simplify(Z).is_positive)


@B.verified("doc000-l114-conversion", line=114, marker=r"\mu = \Lambda^{-1} \eta", location="Task 5 note, after Eq. (9)",
            topics=("gaussian", "canonical-form"),
            claim=r"\mu=\Lambda^{-1}\eta,\quad\sigma^2=\Lambda^{-1}",
            method="SymPy: normalise exp(ηx - ½Λx²) (the corrected Eq. (9)) by integration; mean and variance are the first two derivatives of log Z in η. Applied to Tasks 5-6: (η, Λ) read off E_{-μ}[log p] by SymPy and converted agree with the engine's derived q(μ) update (1e-12); the printed '+½Λ' reading gives a negative variance",
            route="sympy+engine",
            note="True for the corrected sign of Eq. (9) (see doc000-eq9); with the printed sign the conversion would give a negative variance.")
def _():
    _, mean, var = _canonical_moments()
    if not (same(mean, eta / Lam) and same(var, 1 / Lam)):
        return False
    # Task 5/6: collect E_{-mu_kd}[log p] in mu (SymPy, N=3), read (eta, Lambda) with the corrected sign,
    # convert with the stated rule and compare with the engine's derived q(mu) update.
    xs, ps = sp.symbols("x0:3", real=True), sp.symbols("p0:3", positive=True)
    mu, s2p = sp.Symbol("mu", real=True), sp.Symbol("sigma2", positive=True)
    expo = sp.expand(-mu**2 / (2 * s2p) + sum(p * -(a - mu) ** 2 / 2 for a, p in zip(xs, ps)))
    poly = sp.Poly(expo, mu)
    Lam_, eta_ = -2 * poly.coeff_monomial(mu**2), poly.coeff_monomial(mu)
    conv = sp.lambdify((xs, ps, s2p), (eta_ / Lam_, 1 / Lam_), "numpy")
    printed_var = sp.lambdify((ps, s2p), 1 / (2 * poly.coeff_monomial(mu**2)), "numpy")   # '+1/2 Lambda' reading
    g = np.random.default_rng(5)
    X = g.normal(size=(3, 2)); pi = g.dirichlet(np.ones(2), size=3); sig2 = 1.7
    eng = _engine()[0](x=X, pi=pi, sigma2=sig2)
    for k in range(2):
        for d in range(2):
            m_kd, v_kd = conv(tuple(X[:, d]), tuple(pi[:, k]), sig2)
            if not (np.isclose(eng["m"][k, d], m_kd, rtol=1e-12) and np.isclose(eng["s2"][k, d], v_kd, rtol=1e-12)):
                return False
            if printed_var(tuple(pi[:, k]), sig2) >= 0:
                return False
    return True


def _is_categorical_parameter(p) -> bool:
    """SymPy: a finite distribution with these probabilities has total mass one."""
    return sp.simplify(sum(sp.nsimplify(v) for v in p) - 1) == 0 and all(sp.nsimplify(v) >= 0 for v in p)


@B.verified("doc000-l53-simplex", line=53, marker=r"\pi_i \in [0, 1]^K", lines=(51,),
            location="Eq. (6) and the sentence after it: domain of π_i", topics=("gmm", "responsibilities"),
            claim=r"q(c_i)=\mathrm{Cat}(\pi_i)\ \Rightarrow\ \pi_i\in[0,1]^K",
            note="Re-examined (was an erratum that refuted 'every vector of [0,1]^K is a categorical parameter', a statement the document does not make). Reading: the sentence states where the variational parameters live; every parameter of Cat(π_i) in Eq. (6) does lie in [0,1]^K, and the sum-to-one constraint comes with Cat(π_i) itself. The statement is true, if less precise than π_i ∈ Δ^{K-1}.",
            method="SymPy: 5 exact rational probability vectors (parameters of Cat, total mass 1) all have every entry in [0, 1]")
def _():
    g = np.random.default_rng(3)
    points = []
    for _ in range(5):                       # exact rational points of the simplex
        c = [int(v) for v in g.integers(0, 20, size=3)] + [1]
        points.append([sp.Rational(v, sum(c)) for v in c])
    return all(_is_categorical_parameter(p) and all(0 <= v <= 1 for v in p) for p in points)
