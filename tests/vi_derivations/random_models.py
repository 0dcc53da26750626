"""A generator of random models built from the engine's building blocks, each with an
independent description for checking the engine: its log joint written with ``scipy.stats``,
samplers of its data and of q, and, where the model is fully conjugate, its exact log evidence
by another route (quadrature, enumeration, a Gaussian marginal, a Polya urn).

``random_model(seed)`` returns a :class:`Case`: an engine ``Model`` (or the named refusal it
must raise), data, and the independent routes.  A model is one to three *blocks* sharing the
plates N, D, K, V, G, T (sizes drawn per model): Normal means (known variance or a Gamma
precision), Gamma-Poisson (with an exposure covariate), Beta-Bernoulli, Dirichlet-Categorical,
mixtures with scalar, vector and event-plated (Categorical over V) components, regressions with
a full-covariance q (with and without a batch plate G) or a fully factorised q (coupled
elements), factorised PPCA, a latent shared by two observed arrays on different plates, a
two-level Normal hierarchy, an MvNormal prior with batch plates; and non-conjugate blocks that
must be refused by name (Poisson with exp rate, latent variance, logistic regression, a wrong q
family, an MvNormal mixture component, a repeated plate).  Nothing here calls the engine's
derivation: the engine only receives the model definition.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.integrate as si
import scipy.stats as st
import sympy as sp
from scipy.special import gammaln, logsumexp
from sympy import Sum

import vi_derivations as vd

PLATES = {"N": "i", "D": "d", "K": "k", "V": "v", "G": "g", "T": "t"}


def _lim(i):
    return (i, i.lower, i.upper)


# ----------------------------------------------------------------------------- independent densities
def dirichlet_logpdf(x, alpha, axis=-1):
    """log Dir(x | alpha) along ``axis`` (x and alpha broadcast)."""
    alpha = np.broadcast_to(alpha, np.broadcast_shapes(np.shape(x), np.shape(alpha)))
    return (gammaln(alpha.sum(axis)) - gammaln(alpha).sum(axis)
            + ((alpha - 1) * np.log(x)).sum(axis))


def onehot(rng, probs, axis=-1):
    """One-hot draws from categorical probabilities along ``axis``."""
    p = np.moveaxis(probs, axis, -1)
    u = rng.uniform(size=p.shape[:-1] + (1,))
    idx = np.minimum((u > np.cumsum(p, -1)).sum(-1), p.shape[-1] - 1)
    return np.moveaxis(np.eye(p.shape[-1])[idx], -1, axis)


# ----------------------------------------------------------------------------- q factors
@dataclass
class QSpec:
    """One q factor, described independently: family, latent name, parameter array names,
    event axis (of the latent's plates) for Categorical/Dirichlet/MvNormal."""

    family: str
    var: str
    params: dict
    shape: tuple
    event_axis: int | None = None

    def random_params(self, rng):
        out = {}
        f, p = self.family, self.params
        if f == "Normal":
            out[p["mean"]] = rng.normal(size=self.shape)
            out[p["var"]] = rng.uniform(0.3, 1.5, self.shape)
        elif f == "Gamma":
            out[p["shape"]] = rng.uniform(1.0, 4.0, self.shape)
            out[p["rate"]] = rng.uniform(0.8, 3.0, self.shape)
        elif f == "Beta":
            out[p["a"]] = rng.uniform(0.8, 3.0, self.shape)
            out[p["b"]] = rng.uniform(0.8, 3.0, self.shape)
        elif f == "Bernoulli":
            out[p["p"]] = rng.uniform(0.1, 0.9, self.shape)
        elif f == "Dirichlet":
            out[p["conc"]] = rng.uniform(0.8, 3.0, self.shape)
        elif f == "Categorical":
            g = rng.gamma(1.0, size=self.shape) + 0.05
            out[p["probs"]] = g / g.sum(self.event_axis, keepdims=True)
        elif f == "MvNormal":
            out[p["mean"]] = rng.normal(size=self.shape)
            J = self.shape[-1]
            A = rng.normal(size=self.shape[:-1] + (J, J))
            out[p["cov"]] = A @ np.swapaxes(A, -1, -2) / J + 0.4 * np.eye(J)
        return out

    def sample(self, rng, P, S):
        """S draws (leading axis) of the latent and their log q (shape (S,))."""
        f, p, sh = self.family, self.params, self.shape
        if f == "Normal":
            m, v = P[p["mean"]], P[p["var"]]
            z = m + np.sqrt(v) * rng.standard_normal((S,) + sh)
            return z, st.norm.logpdf(z, m, np.sqrt(v)).reshape(S, -1).sum(1)
        if f == "Gamma":
            a, b = P[p["shape"]], P[p["rate"]]
            z = rng.gamma(a, 1 / b, (S,) + sh)
            return z, st.gamma.logpdf(z, a, scale=1 / b).reshape(S, -1).sum(1)
        if f == "Beta":
            a, b = P[p["a"]], P[p["b"]]
            z = np.clip(rng.beta(a, b, (S,) + sh), 1e-300, 1 - 1e-16)
            return z, st.beta.logpdf(z, a, b).reshape(S, -1).sum(1)
        if f == "Bernoulli":
            pr = P[p["p"]]
            z = (rng.uniform(size=(S,) + sh) < pr).astype(float)
            return z, st.bernoulli.logpmf(z, pr).reshape(S, -1).sum(1)
        ax = self.event_axis
        if f == "Dirichlet":
            a = np.moveaxis(P[p["conc"]], ax, -1)
            g = np.maximum(rng.gamma(a, size=(S,) + a.shape), 1e-300)
            z = g / g.sum(-1, keepdims=True)
            lq = dirichlet_logpdf(z, a).reshape(S, -1).sum(1)
            return np.moveaxis(z, -1, ax + 1), lq
        if f == "Categorical":
            pr = np.moveaxis(P[p["probs"]], ax, -1)
            z = onehot(rng, np.broadcast_to(pr, (S,) + pr.shape))
            lq = (z * np.log(pr)).reshape(S, -1).sum(1)
            return np.moveaxis(z, -1, ax + 1), lq
        if f == "MvNormal":
            m, V = P[p["mean"]], P[p["cov"]]
            L = np.linalg.cholesky(V)
            eps = rng.standard_normal((S,) + sh)
            z = m + np.einsum("...jl,s...l->s...j", L, eps)
            lq = st.norm.logpdf(eps).reshape(S, -1).sum(1) - np.log(np.diagonal(L, 0, -2, -1)).sum()
            return z, lq
        raise NotImplementedError(f)

    def direction(self, rng, P):
        """A random direction in parameter space that keeps the constraints (simplex rows,
        symmetric covariances)."""
        out = {}
        for role, name in self.params.items():
            d = rng.normal(size=np.shape(P[name]))
            if self.family == "Categorical":
                d = d - d.mean(self.event_axis, keepdims=True)
            if self.family == "MvNormal" and role == "cov":
                d = d + np.swapaxes(d, -1, -2)
            out[name] = d
        return out


# ----------------------------------------------------------------------------- a case
@dataclass
class Case:
    seed: int
    blocks: list
    model: object = None
    data: dict = field(default_factory=dict)
    qspecs: list = field(default_factory=list)
    logp_terms: list = field(default_factory=list)     # f(latents with a leading S axis, data) -> (S,)
    evidence_terms: list = field(default_factory=list)  # f(data) -> log evidence of one block
    exact: bool = True
    refusal: tuple | None = None      # (error classes, words the message must name)
    refusal_at_build: BaseException | None = None
    order: list | None = None
    sizes: dict = field(default_factory=dict)

    def log_joint(self, latents):
        return sum(f(latents, self.data) for f in self.logp_terms)

    def log_evidence(self):
        return sum(f(self.data) for f in self.evidence_terms)


class Builder:
    """Adds blocks to one engine model and records the independent routes."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.case = Case(seed, [])
        self.M = vd.Model(f"random_{seed}")
        self.case.model = self.M
        r = self.rng
        self.sizes = {"N": int(r.integers(3, 7)), "D": int(r.integers(2, 4)), "K": int(r.integers(2, 4)),
                      "V": int(r.integers(3, 5)), "G": int(r.integers(2, 4)), "T": int(r.integers(2, 5))}
        self.case.sizes = self.sizes
        self.P = {n: vd.Plate(n, ix) for n, ix in PLATES.items()}
        self.n = 0

    def shape(self, *plates):
        return tuple(self.sizes[p] for p in plates)

    def name(self, base):
        return f"{base}{self.n}"

    def hyper(self, base, value, plates=(), positive=True):
        name = self.name(base)
        sym = self.M.hyper(name, tuple(self.P[p] for p in plates), positive=positive)
        self.case.data[name] = value
        return sym

    def covariate(self, base, value, plates):
        name = self.name(base)
        sym = self.M.covariate(name, tuple(self.P[p] for p in plates))
        self.case.data[name] = value
        return sym

    def observed(self, base, plates, value):
        name = self.name(base)
        v = self.M.observed(name, tuple(self.P[p] for p in plates))
        self.case.data[name] = value
        return v

    def q(self, var, family, plates, event=None, **roles):
        """Declare q(var) of ``family`` with fresh variational arrays named after ``var``."""
        M, P = self.M, self.P
        idx = tuple(P[p].index for p in plates)
        arrays, names = {}, {}
        for role, pos in roles.items():
            name = f"{role}_{var.name}"
            arr = M.variational(name, tuple(P[p] for p in plates), positive=pos)
            arrays[role] = arr[idx] if plates else arr
            names[role] = name
        ev = P[event] if event else None
        if family == "Normal":
            dist = vd.Normal(arrays["m"], var=arrays["s"])
            spec = dict(mean=names["m"], var=names["s"])
        elif family == "Gamma":
            dist = vd.Gamma(arrays["a"], arrays["b"])
            spec = dict(shape=names["a"], rate=names["b"])
        elif family == "Beta":
            dist = vd.Beta(arrays["a"], arrays["b"])
            spec = dict(a=names["a"], b=names["b"])
        elif family == "Bernoulli":
            dist = vd.Bernoulli(arrays["p"])
            spec = dict(p=names["p"])
        elif family == "Dirichlet":
            dist = vd.Dirichlet(arrays["c"], event=ev)
            spec = dict(conc=names["c"])
        elif family == "Categorical":
            dist = vd.Categorical(arrays["p"], event=ev)
            spec = dict(probs=names["p"])
        elif family == "MvNormal":
            name = f"V_{var.name}"
            V = M.variational(name, tuple(P[p] for p in plates) + (P[event],))
            dist = vd.MvNormal(arrays["m"], cov=V, event=ev)
            spec = dict(mean=names["m"], cov=name)
        else:
            raise ValueError(family)
        M.q(var, dist)
        axis = list(plates).index(event) if event else None
        self.case.qspecs.append(QSpec(family, var.name, spec, self.shape(*plates), axis))


# ----------------------------------------------------------------------------- conjugate blocks
def _lat(L, name):
    return L[name]


def block_normal_mean(b):
    r, M, P = b.rng, b.M, b.P
    vec = r.random() < 0.6
    latent_prec = r.random() < 0.35
    mp = ("D",) if vec else ()
    xp = ("N", "D") if vec else ("N",)
    m0, s0 = float(r.normal()), float(r.uniform(0.5, 3))
    mu = M.latent(b.name("mu"), tuple(P[p] for p in mp))
    M.factor(mu, vd.Normal(b.hyper("mz", m0, positive=False), var=b.hyper("sz", s0)))
    mu_el = mu.element
    truth = m0 + np.sqrt(s0) * r.normal(size=b.shape(*mp))
    if latent_prec:
        a0, b0 = float(r.uniform(1, 4)), float(r.uniform(1, 3))
        tau = M.latent(b.name("tau"))
        M.factor(tau, vd.Gamma(b.hyper("ta", a0), b.hyper("tb", b0)))
        sd = 1 / np.sqrt(r.gamma(a0, 1 / b0))
        x = b.observed("x", xp, truth + sd * r.normal(size=b.shape(*xp)))
        M.factor(x, vd.Normal(mu_el, precision=tau.symbol))
        b.q(tau, "Gamma", (), a=True, b=True)
        b.case.exact = False
    else:
        s2 = float(r.uniform(0.3, 2))
        x = b.observed("x", xp, truth + np.sqrt(s2) * r.normal(size=b.shape(*xp)))
        M.factor(x, vd.Normal(mu_el, var=b.hyper("sx", s2)))
    b.q(mu, "Normal", mp, m=False, s=True)
    mn, xn, tn = mu.name, x.name, b.name("tau")

    def logp(L, Dt):
        out = st.norm.logpdf(L[mn], m0, np.sqrt(s0)).reshape(len(L[mn]), -1).sum(1)
        mu_b = L[mn][:, None] if vec else L[mn][:, None]
        if latent_prec:
            t = L[tn]
            out += st.gamma.logpdf(t, a0, scale=1 / b0)
            sd_ = (1 / np.sqrt(t)).reshape((-1,) + (1,) * len(xp))
        else:
            sd_ = np.sqrt(s2)
        out += st.norm.logpdf(Dt[xn][None], mu_b, sd_).reshape(len(L[mn]), -1).sum(1)
        return out
    b.case.logp_terms.append(logp)

    def evidence(Dt):
        X = Dt[xn].reshape(b.sizes["N"], -1)
        Nn = X.shape[0]
        C = s0 * np.ones((Nn, Nn)) + s2 * np.eye(Nn)
        return sum(st.multivariate_normal(m0 * np.ones(Nn), C).logpdf(X[:, j]) for j in range(X.shape[1]))
    b.case.evidence_terms.append(evidence)


def _quad_log(logf, lo, hi, center):
    """log of the integral of exp(logf) over (lo, hi), by adaptive quadrature after shifting
    by the log integrand at ``center`` (split there)."""
    c = logf(center)
    f = lambda t: np.exp(logf(t) - c)
    a, _ = si.quad(f, lo, center, limit=200, epsabs=0, epsrel=1e-12)
    b, _ = si.quad(f, center, hi, limit=200, epsabs=0, epsrel=1e-12)
    return c + np.log(a + b)


def block_gamma_poisson(b):
    r, M, P = b.rng, b.M, b.P
    vec = r.random() < 0.5
    exposure = r.random() < 0.5
    lp = ("D",) if vec else ()
    yp = ("N", "D") if vec else ("N",)
    a0, b0 = float(r.uniform(1, 4)), float(r.uniform(0.5, 2))
    lam = M.latent(b.name("lam"), tuple(P[p] for p in lp))
    M.factor(lam, vd.Gamma(b.hyper("ga", a0), b.hyper("gb", b0)))
    e = r.uniform(0.5, 2.0, b.sizes["N"]) if exposure else np.ones(b.sizes["N"])
    truth = r.gamma(a0, 1 / b0, b.shape(*lp))
    rate_true = (e.reshape((-1,) + (1,) * len(lp)) * truth)
    y = b.observed("y", yp, r.poisson(rate_true).astype(float))
    rate = lam.element
    if exposure:
        ex = b.M.hyper(b.name("ex"), (P["N"],), positive=True)
        b.case.data[b.name("ex")] = e
        rate = ex[P["N"].index] * rate
    M.factor(y, vd.Poisson(rate))
    b.q(lam, "Gamma", lp, a=True, b=True)
    ln, yn = lam.name, y.name

    def logp(L, Dt):
        S = len(L[ln])
        lam_b = L[ln][:, None]
        ee = e.reshape((1, -1) + (1,) * len(lp))
        out = st.gamma.logpdf(L[ln], a0, scale=1 / b0).reshape(S, -1).sum(1)
        return out + st.poisson.logpmf(Dt[yn][None], ee * lam_b).reshape(S, -1).sum(1)
    b.case.logp_terms.append(logp)

    def evidence(Dt):
        Y = Dt[yn].reshape(b.sizes["N"], -1)
        tot = 0.0
        for j in range(Y.shape[1]):
            f = lambda t: (st.gamma.logpdf(t, a0, scale=1 / b0) + st.poisson.logpmf(Y[:, j], e * t).sum())
            center = (a0 - 1 + Y[:, j].sum()) / (b0 + e.sum())
            tot += _quad_log(f, 0, np.inf, max(center, 1e-3))
        return tot
    b.case.evidence_terms.append(evidence)


def block_beta_bernoulli(b):
    r, M, P = b.rng, b.M, b.P
    vec = r.random() < 0.5
    tp = ("D",) if vec else ()
    yp = ("N", "D") if vec else ("N",)
    a0, b0 = float(r.uniform(0.7, 3)), float(r.uniform(0.7, 3))
    th = M.latent(b.name("th"), tuple(P[p] for p in tp))
    M.factor(th, vd.Beta(b.hyper("ba", a0), b.hyper("bb", b0)))
    truth = r.beta(a0, b0, b.shape(*tp))
    y = b.observed("y", yp, (r.uniform(size=b.shape(*yp)) < truth).astype(float))
    M.factor(y, vd.Bernoulli(th.element))
    b.q(th, "Beta", tp, a=True, b=True)
    tn, yn = th.name, y.name

    def logp(L, Dt):
        S = len(L[tn])
        out = st.beta.logpdf(L[tn], a0, b0).reshape(S, -1).sum(1)
        return out + st.bernoulli.logpmf(Dt[yn][None], L[tn][:, None]).reshape(S, -1).sum(1)
    b.case.logp_terms.append(logp)

    def evidence(Dt):
        Y = Dt[yn].reshape(b.sizes["N"], -1)
        tot = 0.0
        for j in range(Y.shape[1]):
            f = lambda t: st.beta.logpdf(t, a0, b0) + st.bernoulli.logpmf(Y[:, j], t).sum()
            tot += _quad_log(f, 0, 1, (a0 + Y[:, j].sum()) / (a0 + b0 + len(Y)))
        return tot
    b.case.evidence_terms.append(evidence)


def block_dirichlet_categorical(b):
    r, M, P = b.rng, b.M, b.P
    K = b.sizes["K"]
    alpha = r.uniform(0.5, 2.5, K)
    th = M.latent(b.name("pk"), (P["K"],))
    M.factor(th, vd.Dirichlet(b.hyper("al", alpha, ("K",))[P["K"].index], event=P["K"]))
    y = b.observed("c", ("N", "K"), onehot(r, np.broadcast_to(r.dirichlet(alpha), (b.sizes["N"], K))))
    M.factor(y, vd.Categorical(th[P["K"].index], event=P["K"]))
    b.q(th, "Dirichlet", ("K",), event="K", c=True)
    tn, yn = th.name, y.name

    def logp(L, Dt):
        return dirichlet_logpdf(L[tn], alpha) + (Dt[yn][None] * np.log(L[tn][:, None])).sum((1, 2))
    b.case.logp_terms.append(logp)

    def evidence(Dt):  # Polya urn: sequential predictive probabilities
        counts, tot = np.zeros(K), 0.0
        for row in Dt[yn]:
            k = int(row.argmax())
            tot += np.log((alpha[k] + counts[k]) / (alpha.sum() + counts.sum()))
            counts[k] += 1
        return tot
    b.case.evidence_terms.append(evidence)


def block_mixture(b):
    """c_i ~ Cat(1/K) (or Cat(theta) with theta Dirichlet); x_i | c_i from a component family."""
    r, M, P = b.rng, b.M, b.P
    K, Nn = b.sizes["K"], b.sizes["N"]
    i, k, d, v = P["N"].index, P["K"].index, P["D"].index, P["V"].index
    comp = r.choice(["normal", "poisson", "bernoulli", "categorical"])
    fixed = r.random() < 0.4           # component parameters known: only c is latent (exact)
    dir_weights = (not fixed) and r.random() < 0.4
    c = M.latent(b.name("c"), (P["N"], P["K"]))
    if dir_weights:
        wa0 = float(r.uniform(0.8, 2))
        th = M.latent(b.name("wt"), (P["K"],))
        M.factor(th, vd.Dirichlet(b.hyper("wa", wa0), event=P["K"]))
        M.factor(c, vd.Categorical(th[k], event=P["K"]))
        b.q(th, "Dirichlet", ("K",), event="K", c=True)
        b.case.exact = False
    else:
        M.factor(c, vd.Categorical(1 / P["K"].size, event=P["K"]))
    z = r.integers(0, K, Nn)
    cn = c.name
    comp_logp, comp_pdf = None, None
    if comp == "normal":
        s2 = float(r.uniform(0.3, 1.5))
        if fixed:
            mu_v = r.normal(scale=2, size=(K, b.sizes["D"]))
            mu = b.hyper("mk", mu_v, ("K", "D"), positive=False)
            mean = mu[k, d]
        else:
            s0 = float(r.uniform(1, 4))
            mu = M.latent(b.name("mk"), (P["K"], P["D"]))
            M.factor(mu, vd.Normal(0, var=b.hyper("ms", s0)))
            mu_v = r.normal(scale=np.sqrt(s0), size=(K, b.sizes["D"]))
            mean = mu[k, d]
        x = b.observed("x", ("N", "D"), mu_v[z] + np.sqrt(s2) * r.normal(size=(Nn, b.sizes["D"])))
        M.factor(x, vd.Mixture(c, vd.Normal(mean, var=b.hyper("xs", s2))))
        mun = b.name("mk")

        def comp_pdf(X, par):  # (S, N, K)
            return st.norm.logpdf(X[None, :, None, :], par[:, None], np.sqrt(s2)).sum(-1)
        if not fixed:
            b.q(mu, "Normal", ("K", "D"), m=False, s=True)
            comp_logp = lambda L: st.norm.logpdf(L[mun], 0, np.sqrt(s0)).reshape(len(L[mun]), -1).sum(1)
    elif comp == "poisson":
        a0, b0 = float(r.uniform(1, 4)), float(r.uniform(0.3, 1.5))
        lam_v = r.gamma(a0, 1 / b0, K)
        if fixed:
            lam = b.hyper("lk", lam_v, ("K",))
        else:
            lam = M.latent(b.name("lk"), (P["K"],))
            M.factor(lam, vd.Gamma(b.hyper("la", a0), b.hyper("lb", b0)))
        x = b.observed("y", ("N",), r.poisson(lam_v[z]).astype(float))
        M.factor(x, vd.Mixture(c, vd.Poisson(lam[k])))
        mun = b.name("lk")

        def comp_pdf(X, par):
            return st.poisson.logpmf(X[None, :, None], par[:, None, :])
        if not fixed:
            b.q(lam, "Gamma", ("K",), a=True, b=True)
            comp_logp = lambda L: st.gamma.logpdf(L[mun], a0, scale=1 / b0).sum(1)
    elif comp == "bernoulli":
        a0, b0 = float(r.uniform(0.7, 2)), float(r.uniform(0.7, 2))
        th_v = r.beta(a0, b0, (K, b.sizes["D"]))
        if fixed:
            th = b.hyper("bk", th_v, ("K", "D"))
        else:
            th = M.latent(b.name("bk"), (P["K"], P["D"]))
            M.factor(th, vd.Beta(b.hyper("ba", a0), b.hyper("bb", b0)))
        x = b.observed("y", ("N", "D"), (r.uniform(size=(Nn, b.sizes["D"])) < th_v[z]).astype(float))
        M.factor(x, vd.Mixture(c, vd.Bernoulli(th[k, d])))
        mun = b.name("bk")

        def comp_pdf(X, par):
            return st.bernoulli.logpmf(X[None, :, None, :], par[:, None]).sum(-1)
        if not fixed:
            b.q(th, "Beta", ("K", "D"), a=True, b=True)
            comp_logp = lambda L: st.beta.logpdf(L[mun], a0, b0).reshape(len(L[mun]), -1).sum(1)
    else:  # a component with its own event plate: a word over the vocabulary V (LDA-type)
        Vn = b.sizes["V"]
        eta = float(r.uniform(0.5, 2))
        be_v = r.dirichlet(eta * np.ones(Vn), K)
        if fixed:
            be = b.hyper("tk", be_v, ("K", "V"))
        else:
            be = M.latent(b.name("tk"), (P["K"], P["V"]))
            M.factor(be, vd.Dirichlet(b.hyper("te", eta), event=P["V"]))
        x = b.observed("w", ("N", "V"), onehot(r, be_v[z]))
        M.factor(x, vd.Mixture(c, vd.Categorical(be[k, v], event=P["V"])))
        mun = b.name("tk")

        def comp_pdf(X, par):
            return np.einsum("nv,skv->snk", X, np.log(par))
        if not fixed:
            b.q(be, "Dirichlet", ("K", "V"), event="V", c=True)
            comp_logp = lambda L: dirichlet_logpdf(L[mun], eta).sum(1)
    b.q(c, "Categorical", ("N", "K"), event="K", p=True)
    xn = x.name
    wn = b.name("wt")
    if not fixed:
        b.case.exact = False
    fixed_par = b.case.data.get(mun)

    def logp(L, Dt):
        S = len(L[cn])
        if dir_weights:
            wts = L[wn]
            out = dirichlet_logpdf(wts, wa0) + (L[cn] * np.log(wts[:, None, :])).sum((1, 2))
        else:
            out = np.full(S, -Nn * np.log(K))
        par = np.broadcast_to(fixed_par, (S,) + np.shape(fixed_par)) if fixed else L[mun]
        out = out + (L[cn] * comp_pdf(Dt[xn], par)).sum((1, 2))
        if comp_logp is not None:
            out = out + comp_logp(L)
        return out
    b.case.logp_terms.append(logp)

    def evidence(Dt):  # c_i independent given the known components: enumerate each
        lp = comp_pdf(Dt[xn], fixed_par[None])[0] - np.log(K)
        return logsumexp(lp, axis=1).sum()
    b.case.evidence_terms.append(evidence)


def block_regression(b):
    """y_(g)n ~ N(sum_j X_(g)nj w_(g)j, sigma2); w with a Normal prior (known, or ARD Gamma
    precisions); q(w) full covariance (MvNormal) or fully factorised (coupled elements)."""
    r, M, P = b.rng, b.M, b.P
    batch = r.random() < 0.35
    full = r.random() < 0.55
    ard = r.random() < 0.3
    G = ("G",) if batch else ()
    i, d = P["N"].index, P["D"].index
    gi = (P["G"].index,) if batch else ()
    Dn = b.sizes["D"]
    sig2, s0 = float(r.uniform(0.3, 1.5)), float(r.uniform(0.5, 2))
    w = M.latent(b.name("w"), tuple(P[p] for p in G + ("D",)))
    if ard:
        a0, b0 = float(r.uniform(1.5, 4)), float(r.uniform(0.5, 2))
        al = M.latent(b.name("al"), (P["D"],))
        M.factor(al, vd.Gamma(b.hyper("aa", a0), b.hyper("ab", b0)))
        M.factor(w, vd.Normal(0, precision=al[d]))
        b.q(al, "Gamma", ("D",), a=True, b=True)
        b.case.exact = False
    else:
        M.factor(w, vd.Normal(0, var=b.hyper("ws", s0)))
    Xv = r.normal(size=b.shape(*G, "N", "D"))
    if r.random() < 0.5:  # correlated covariates
        Xv = Xv[..., :1] + 0.2 * Xv
    X = b.covariate("X", Xv, G + ("N", "D"))
    wt = r.normal(size=b.shape(*G, "D"))
    yv = np.einsum("...nd,...d->...n", Xv, wt) + np.sqrt(sig2) * r.normal(size=b.shape(*G, "N"))
    y = b.observed("y", G + ("N",), yv)
    l = P["D"].fresh()
    M.factor(y, vd.Normal(Sum(X[gi + (i, l)] * w[gi + (l,)], _lim(l)), var=b.hyper("ys", sig2)))
    if full:
        b.q(w, "MvNormal", G + ("D",), event="D", m=False)
    else:
        b.q(w, "Normal", G + ("D",), m=False, s=True)
        b.case.exact = False
    wn, yn, an = w.name, y.name, b.name("al")

    def logp(L, Dt):
        S = len(L[wn])
        if ard:
            out = st.gamma.logpdf(L[an], a0, scale=1 / b0).sum(1)
            sd = 1 / np.sqrt(L[an]).reshape((S,) + (1,) * len(G) + (Dn,))
            out = out + st.norm.logpdf(L[wn], 0, sd).reshape(S, -1).sum(1)
        else:
            out = st.norm.logpdf(L[wn], 0, np.sqrt(s0)).reshape(S, -1).sum(1)
        mean = np.einsum("...nd,s...d->s...n", Xv, L[wn])
        return out + st.norm.logpdf(Dt[yn][None], mean, np.sqrt(sig2)).reshape(S, -1).sum(1)
    b.case.logp_terms.append(logp)

    def evidence(Dt):
        Xs = Xv.reshape(-1, b.sizes["N"], Dn)
        Ys = Dt[yn].reshape(-1, b.sizes["N"])
        return sum(st.multivariate_normal(np.zeros(len(Yg)), s0 * Xg @ Xg.T + sig2 * np.eye(len(Yg))).logpdf(Yg)
                   for Xg, Yg in zip(Xs, Ys))
    b.case.evidence_terms.append(evidence)


def block_ppca(b):
    """Factorised probabilistic PCA: x_id ~ N(sum_k W_dk z_ik, sigma2), fully factorised q."""
    r, M, P = b.rng, b.M, b.P
    i, d, k = P["N"].index, P["D"].index, P["K"].index
    sig2 = float(r.uniform(0.2, 1))
    W = M.latent(b.name("W"), (P["D"], P["K"]))
    z = M.latent(b.name("z"), (P["N"], P["K"]))
    M.factor(W, vd.Normal(0, var=1))
    M.factor(z, vd.Normal(0, var=1))
    Wv, Zv = r.normal(size=b.shape("D", "K")), r.normal(size=b.shape("N", "K"))
    x = b.observed("x", ("N", "D"), Zv @ Wv.T + np.sqrt(sig2) * r.normal(size=b.shape("N", "D")))
    l = P["K"].fresh()
    M.factor(x, vd.Normal(Sum(W[d, l] * z[i, l], _lim(l)), var=b.hyper("s", sig2)))
    b.q(W, "Normal", ("D", "K"), m=False, s=True)
    b.q(z, "Normal", ("N", "K"), m=False, s=True)
    b.case.exact = False
    Wn, zn, xn = W.name, z.name, x.name

    def logp(L, Dt):
        S = len(L[Wn])
        out = st.norm.logpdf(L[Wn]).reshape(S, -1).sum(1) + st.norm.logpdf(L[zn]).reshape(S, -1).sum(1)
        mean = np.einsum("sdk,snk->snd", L[Wn], L[zn])
        return out + st.norm.logpdf(Dt[xn][None], mean, np.sqrt(sig2)).reshape(S, -1).sum(1)
    b.case.logp_terms.append(logp)


def block_shared_latent(b):
    """One latent mean mu_d observed through two arrays on different plates (N and T)."""
    r, M, P = b.rng, b.M, b.P
    d = P["D"].index
    s0, s1, s2 = float(r.uniform(1, 3)), float(r.uniform(0.3, 1)), float(r.uniform(0.5, 2))
    mu = M.latent(b.name("mu"), (P["D"],))
    M.factor(mu, vd.Normal(0, var=b.hyper("s0", s0)))
    mv = r.normal(scale=np.sqrt(s0), size=b.sizes["D"])
    x = b.observed("x", ("N", "D"), mv + np.sqrt(s1) * r.normal(size=b.shape("N", "D")))
    y = b.observed("y", ("T", "D"), mv + np.sqrt(s2) * r.normal(size=b.shape("T", "D")))
    M.factor(x, vd.Normal(mu[d], var=b.hyper("s1", s1)))
    M.factor(y, vd.Normal(mu[d], var=b.hyper("s2", s2)))
    b.q(mu, "Normal", ("D",), m=False, s=True)
    mn, xn, yn = mu.name, x.name, y.name

    def logp(L, Dt):
        m = L[mn][:, None]
        return (st.norm.logpdf(L[mn], 0, np.sqrt(s0)).sum(1)
                + st.norm.logpdf(Dt[xn][None], m, np.sqrt(s1)).sum((1, 2))
                + st.norm.logpdf(Dt[yn][None], m, np.sqrt(s2)).sum((1, 2)))
    b.case.logp_terms.append(logp)

    def evidence(Dt):
        tot = 0.0
        for j in range(b.sizes["D"]):
            obs = np.concatenate([Dt[xn][:, j], Dt[yn][:, j]])
            noise = np.concatenate([np.full(b.sizes["N"], s1), np.full(b.sizes["T"], s2)])
            C = s0 * np.ones((len(obs), len(obs))) + np.diag(noise)
            tot += st.multivariate_normal(np.zeros(len(obs)), C).logpdf(obs)
        return tot
    b.case.evidence_terms.append(evidence)


def block_hierarchy(b):
    """mu0 ~ N(0, s0); mu_k | mu0 ~ N(mu0, s1); x_ik ~ N(mu_k, s2); q(mu0) q(mu) factorised."""
    r, M, P = b.rng, b.M, b.P
    k = P["K"].index
    s0, s1, s2 = float(r.uniform(1, 3)), float(r.uniform(0.3, 1.5)), float(r.uniform(0.3, 1.5))
    m0 = M.latent(b.name("h"))
    mu = M.latent(b.name("mu"), (P["K"],))
    M.factor(m0, vd.Normal(0, var=b.hyper("s0", s0)))
    M.factor(mu, vd.Normal(m0.symbol, var=b.hyper("s1", s1)))
    mv = r.normal(scale=np.sqrt(s0)) + np.sqrt(s1) * r.normal(size=b.sizes["K"])
    x = b.observed("x", ("N", "K"), mv + np.sqrt(s2) * r.normal(size=b.shape("N", "K")))
    M.factor(x, vd.Normal(mu[k], var=b.hyper("s2", s2)))
    b.q(m0, "Normal", (), m=False, s=True)
    b.q(mu, "Normal", ("K",), m=False, s=True)
    b.case.exact = False
    hn, mn, xn = m0.name, mu.name, x.name

    def logp(L, Dt):
        return (st.norm.logpdf(L[hn], 0, np.sqrt(s0))
                + st.norm.logpdf(L[mn], L[hn][:, None], np.sqrt(s1)).sum(1)
                + st.norm.logpdf(Dt[xn][None], L[mn][:, None, :], np.sqrt(s2)).sum((1, 2)))
    b.case.logp_terms.append(logp)


def block_mvnormal_prior(b):
    """w_g ~ MvNormal(0, Lambda or Lambda_g) over D, x_gtd ~ N(w_gd, s2); q(w_g) full covariance."""
    r, M, P = b.rng, b.M, b.P
    g, t, d = P["G"].index, P["T"].index, P["D"].index
    Dn, Gn = b.sizes["D"], b.sizes["G"]
    per_group = r.random() < 0.5
    A = r.normal(size=(Gn, Dn, Dn)) if per_group else r.normal(size=(Dn, Dn))
    Lam = A @ np.swapaxes(A, -1, -2) + np.eye(Dn)
    L = b.hyper("L", Lam, ("G", "D", "D") if per_group else ("D", "D"), positive=False)
    w = M.latent(b.name("w"), (P["G"], P["D"]))
    M.factor(w, vd.MvNormal(0, precision=L, event=P["D"]))
    s2 = float(r.uniform(0.3, 1.5))
    covs = np.linalg.inv(Lam) if per_group else np.broadcast_to(np.linalg.inv(Lam), (Gn, Dn, Dn))
    wv = np.stack([r.multivariate_normal(np.zeros(Dn), covs[j]) for j in range(Gn)])
    x = b.observed("x", ("G", "T", "D"), wv[:, None] + np.sqrt(s2) * r.normal(size=b.shape("G", "T", "D")))
    M.factor(x, vd.Normal(w[g, d], var=b.hyper("s", s2)))
    b.q(w, "MvNormal", ("G", "D"), event="D", m=False)
    wn, xn = w.name, x.name

    def logp(L_, Dt):
        S = len(L_[wn])
        out = sum(st.multivariate_normal(np.zeros(Dn), covs[j]).logpdf(L_[wn][:, j]) for j in range(Gn))
        return out + st.norm.logpdf(Dt[xn][None], L_[wn][:, :, None], np.sqrt(s2)).reshape(S, -1).sum(1)
    b.case.logp_terms.append(logp)

    def evidence(Dt):
        Tn = b.sizes["T"]
        tot = 0.0
        for j in range(Gn):  # x_g (T*D) ~ N(0, kron(1 1^T, Cov_g) + s2 I)
            C = np.kron(np.ones((Tn, Tn)), covs[j]) + s2 * np.eye(Tn * Dn)
            tot += st.multivariate_normal(np.zeros(Tn * Dn), C).logpdf(Dt[xn][j].reshape(-1))
        return tot
    b.case.evidence_terms.append(evidence)


def block_binary(b):
    """Latent switches s_i ~ Bernoulli(rho) (rho known or Beta) turning a mean on:
    x_i ~ N(s_i mu, s2) with mu known or Normal; q(s_i) = Bernoulli(p_i)."""
    r, M, P = b.rng, b.M, b.P
    i = P["N"].index
    Nn = b.sizes["N"]
    beta_rho = r.random() < 0.4
    latent_mu = r.random() < 0.4
    s2 = float(r.uniform(0.3, 1.5))
    sw = M.latent(b.name("sw"), (P["N"],))
    rho_v = float(r.uniform(0.2, 0.8))
    if beta_rho:
        ra, rb = float(r.uniform(1, 3)), float(r.uniform(1, 3))
        rho = M.latent(b.name("rho"))
        M.factor(rho, vd.Beta(b.hyper("ra", ra), b.hyper("rb", rb)))
        M.factor(sw, vd.Bernoulli(rho.symbol))
        b.q(rho, "Beta", (), a=True, b=True)
    else:
        M.factor(sw, vd.Bernoulli(b.hyper("rh", rho_v)))
    mu_v = float(r.normal(scale=3))
    if latent_mu:
        s0 = float(r.uniform(2, 9))
        mu = M.latent(b.name("mu"))
        M.factor(mu, vd.Normal(0, var=b.hyper("s0", s0)))
        mean = sw[i] * mu.symbol
    else:
        mean = sw[i] * b.hyper("mu", mu_v, positive=False)
    sv = (r.uniform(size=Nn) < rho_v).astype(float)
    x = b.observed("x", ("N",), sv * mu_v + np.sqrt(s2) * r.normal(size=Nn))
    M.factor(x, vd.Normal(mean, var=b.hyper("xs", s2)))
    if latent_mu:
        b.q(mu, "Normal", (), m=False, s=True)
    b.q(sw, "Bernoulli", ("N",), p=True)
    if beta_rho or latent_mu:
        b.case.exact = False
    swn, xn, rn, mn = sw.name, x.name, b.name("rho"), b.name("mu")

    def logp(L, Dt):
        S = len(L[swn])
        out = np.zeros(S)
        if beta_rho:
            out += st.beta.logpdf(L[rn], ra, rb)
            out += st.bernoulli.logpmf(L[swn], L[rn][:, None]).sum(1)
        else:
            out += st.bernoulli.logpmf(L[swn], rho_v).sum(1)
        m = L[mn][:, None] if latent_mu else mu_v
        if latent_mu:
            out += st.norm.logpdf(L[mn], 0, np.sqrt(s0))
        return out + st.norm.logpdf(Dt[xn][None], L[swn] * m, np.sqrt(s2)).sum(1)
    b.case.logp_terms.append(logp)

    def evidence(Dt):  # each switch enumerated: s_i in {0, 1}
        lp = np.stack([np.log(1 - rho_v) + st.norm.logpdf(Dt[xn], 0, np.sqrt(s2)),
                       np.log(rho_v) + st.norm.logpdf(Dt[xn], mu_v, np.sqrt(s2))])
        return logsumexp(lp, axis=0).sum()
    b.case.evidence_terms.append(evidence)


def block_count_families(b):
    """Exponential, Binomial and Multinomial likelihoods with their conjugate priors."""
    r, M, P = b.rng, b.M, b.P
    kind = r.choice(["exponential", "binomial", "multinomial"])
    Nn = b.sizes["N"]
    if kind == "exponential":
        a0, b0 = float(r.uniform(1, 4)), float(r.uniform(0.5, 2))
        lam = M.latent(b.name("er"))
        exp_prior = r.random() < 0.5  # lam ~ Exponential(b0) = Gamma(1, b0)
        if exp_prior:
            a0 = 1.0
            M.factor(lam, vd.Exponential(b.hyper("eb", b0)))
        else:
            M.factor(lam, vd.Gamma(b.hyper("ea", a0), b.hyper("eb", b0)))
        y = b.observed("y", ("N",), r.exponential(1 / r.gamma(a0, 1 / b0), Nn))
        M.factor(y, vd.Exponential(lam.symbol))
        b.q(lam, "Gamma", (), a=True, b=True)
        ln, yn = lam.name, y.name

        def logp(L, Dt):
            return (st.gamma.logpdf(L[ln], a0, scale=1 / b0)
                    + st.expon.logpdf(Dt[yn][None], scale=1 / L[ln][:, None]).sum(1))

        def evidence(Dt):
            f = lambda t: st.gamma.logpdf(t, a0, scale=1 / b0) + st.expon.logpdf(Dt[yn], scale=1 / t).sum()
            return _quad_log(f, 0, np.inf, (a0 - 1 + Nn) / (b0 + Dt[yn].sum()) + 1e-3)
    elif kind == "binomial":
        a0, b0 = float(r.uniform(0.7, 3)), float(r.uniform(0.7, 3))
        th = M.latent(b.name("bp"))
        M.factor(th, vd.Beta(b.hyper("ba", a0), b.hyper("bb", b0)))
        nv = r.integers(1, 6, Nn).astype(float)
        n = b.hyper("bn", nv, ("N",))
        y = b.observed("y", ("N",), r.binomial(nv.astype(int), r.beta(a0, b0)).astype(float))
        M.factor(y, vd.Binomial(n[P["N"].index], th.symbol))
        b.q(th, "Beta", (), a=True, b=True)
        tn, yn = th.name, y.name

        def logp(L, Dt):
            return (st.beta.logpdf(L[tn], a0, b0)
                    + st.binom.logpmf(Dt[yn][None], nv[None], L[tn][:, None]).sum(1))

        def evidence(Dt):
            f = lambda t: st.beta.logpdf(t, a0, b0) + st.binom.logpmf(Dt[yn], nv, t).sum()
            return _quad_log(f, 0, 1, (a0 + Dt[yn].sum()) / (a0 + b0 + nv.sum()))
    else:
        Vn = b.sizes["V"]
        alpha = r.uniform(0.5, 2.5, Vn)
        pv = M.latent(b.name("mp"), (P["V"],))
        M.factor(pv, vd.Dirichlet(b.hyper("ma", alpha, ("V",))[P["V"].index], event=P["V"]))
        probs = r.dirichlet(alpha)
        counts = np.stack([r.multinomial(int(r.integers(1, 6)), probs) for _ in range(Nn)]).astype(float)
        y = b.observed("y", ("N", "V"), counts)
        M.factor(y, vd.Multinomial(pv[P["V"].index], event=P["V"]))
        b.q(pv, "Dirichlet", ("V",), event="V", c=True)
        pn, yn = pv.name, y.name

        def logp(L, Dt):
            n = Dt[yn].sum(1)
            return dirichlet_logpdf(L[pn], alpha) + sum(
                st.multinomial.logpmf(Dt[yn][i], n[i], L[pn]) for i in range(Nn))

        def evidence(Dt):  # Polya urn over the individual draws, times the multinomial coefficients
            a, tot = alpha.copy(), 0.0
            for row in Dt[yn]:
                tot += gammaln(row.sum() + 1) - gammaln(row + 1).sum()
                for v_, cnt in enumerate(row):
                    for _ in range(int(cnt)):
                        tot += np.log(a[v_] / a.sum())
                        a[v_] += 1
            return tot
    b.case.logp_terms.append(logp)
    b.case.evidence_terms.append(evidence)


# ----------------------------------------------------------------------------- non-conjugate blocks
# Each sets the refusal it expects (error classes, words the message must contain) before it
# declares anything, because some refusals come at declaration time.
def _expect(b, classes, *words):
    b.case.refusal = (classes, words)


def refuse_poisson_exp(b):
    M, P = b.M, b.P
    _expect(b, (vd.NonConjugateError,), b.name("w"), f"p({b.name('y')}")
    w = M.latent(b.name("w"), (P["D"],))
    M.factor(w, vd.Normal(0, var=1))
    y = b.observed("y", ("N", "D"), np.ones(b.shape("N", "D")))
    M.factor(y, vd.Poisson(sp.exp(w[P["D"].index])))
    b.q(w, "Normal", ("D",), m=False, s=True)


def refuse_latent_variance(b):
    M = b.M
    _expect(b, (vd.NonConjugateError,), b.name("v"), f"p({b.name('x')}")
    v = M.latent(b.name("v"))
    M.factor(v, vd.Gamma(2, 1))
    x = b.observed("x", ("N",), np.ones(b.sizes["N"]))
    M.factor(x, vd.Normal(0, var=v.symbol))
    b.q(v, "Gamma", (), a=True, b=True)


def refuse_logistic(b):
    M, P = b.M, b.P
    _expect(b, (vd.NonConjugateError,), b.name("w"), f"p({b.name('y')}", "exp")
    i = P["N"].index
    w = M.latent(b.name("w"), (P["D"],))
    M.factor(w, vd.Normal(0, var=1))
    X = b.covariate("X", np.ones(b.shape("N", "D")), ("N", "D"))
    y = b.observed("y", ("N",), np.ones(b.sizes["N"]))
    l = P["D"].fresh()
    M.factor(y, vd.Bernoulli(1 / (1 + sp.exp(-Sum(X[i, l] * w[l], _lim(l))))))
    b.q(w, "Normal", ("D",), m=False, s=True)


def refuse_wrong_q(b):
    M = b.M
    _expect(b, (vd.NonConjugateError,), f"q({b.name('th')})", "log")
    th = M.latent(b.name("th"))
    M.factor(th, vd.Beta(2, 2))
    y = b.observed("y", ("N",), np.ones(b.sizes["N"]))
    M.factor(y, vd.Bernoulli(th.symbol))
    b.q(th, "Normal", (), m=False, s=True)


def refuse_mv_component(b):
    M, P = b.M, b.P
    _expect(b, (vd.UnsupportedModelError,), f"p({b.name('x')}", "MvNormal")
    c = M.latent(b.name("c"), (P["N"], P["K"]))
    M.factor(c, vd.Categorical(1 / P["K"].size, event=P["K"]))
    x = b.observed("x", ("N", "D"), np.zeros(b.shape("N", "D")))
    mu = b.hyper("mu", np.zeros(b.shape("K", "D")), ("K", "D"), positive=False)
    Pm = b.hyper("P", np.eye(b.sizes["D"]), ("D", "D"))
    M.factor(x, vd.Mixture(c, vd.MvNormal(mu[P["K"].index, P["D"].index], precision=Pm, event=P["D"])))


def refuse_repeated_plate(b):
    _expect(b, (vd.UnsupportedModelError,), b.name("A"), "plate K")
    b.M.latent(b.name("A"), (b.P["K"], b.P["K"]))


CONJUGATE = [block_normal_mean, block_gamma_poisson, block_beta_bernoulli, block_dirichlet_categorical,
             block_mixture, block_mixture, block_regression, block_regression, block_ppca,
             block_shared_latent, block_hierarchy, block_mvnormal_prior, block_count_families,
             block_binary]
REFUSALS = [refuse_poisson_exp, refuse_latent_variance, refuse_logistic, refuse_wrong_q,
            refuse_mv_component, refuse_repeated_plate]


def random_model(seed, p_refusal=0.15):
    """The random model number ``seed`` (deterministic)."""
    b = Builder(seed)
    r = b.rng
    nblocks = int(r.choice([1, 1, 2, 2, 3]))
    blocks = [CONJUGATE[int(r.integers(len(CONJUGATE)))] for _ in range(nblocks)]
    refusal = REFUSALS[(seed // 7) % len(REFUSALS)] if r.random() < p_refusal else None
    if refusal is not None:
        blocks.insert(int(r.integers(len(blocks) + 1)), refusal)
    for blk in blocks:
        b.n += 1
        b.case.blocks.append(blk.__name__)
        try:
            blk(b)
        except (vd.NonConjugateError, vd.UnsupportedModelError) as e:
            b.case.refusal_at_build = e  # checked against case.refusal by the caller
            return b.case
    if b.case.refusal is None:
        q = list(b.M.qfactors)
        r.shuffle(q)  # a random update order
        b.case.order = q
    return b.case
