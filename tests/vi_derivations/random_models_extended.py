"""Random models of the constructs added after :mod:`tests.vi_derivations.random_models`: Wishart
and Normal–Wishart factors (known or latent mean, batch plates, Gaussian mixtures with Wishart
components), a Gaussian with a known precision matrix (MvNormalPrecision), a multivariate t as a
Gamma scale mixture of a Wishart precision, the Jaakkola–Jordan local bound for logistic
likelihoods (diagonal, Gamma-precision and batched priors, an offset, Gaussian observations of the
same weights; full or factorised q(w)), LDA-style documents (topic weights per document, words over
a vocabulary), and deliberately non-conjugate uses of each that must be refused by name.

``random_extended_model(seed)`` returns a :class:`~tests.vi_derivations.random_models.Case` built
with the same :class:`~tests.vi_derivations.random_models.Builder`; a model is one or two *kinds*
(``KINDS``), sometimes joined by a block of the older generator.  The independent routes use only
``scipy.stats`` and NumPy: Wishart draws and densities from ``scipy.stats.wishart``, the exact
evidence of a conjugate Normal–Wishart / Wishart block from the textbook posterior
(log p(X) = log p(X | theta) + log p(theta) - log p(theta | X) at one theta), the Jaakkola–Jordan
bound written from ``scipy.special.log_expit`` and the exact logistic evidence by Gauss–Hermite
quadrature over w (D <= 2; with a Gamma precision, adaptive quadrature over it).  The engine
receives only the model definition.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.integrate as si
import scipy.stats as st
import sympy as sp
from scipy.special import expit, log_expit
from sympy import Sum

import vi_derivations as vd
from vi_derivations.local_bound import BernoulliLogit, JaakkolaJordan
from vi_derivations.wishart import MvNormalPrecision, NormalWishart, Wishart, matrix_plate

from tests.vi_derivations import random_models as rm
from tests.vi_derivations.random_models import QSpec, dirichlet_logpdf, onehot

LOG2PI = np.log(2 * np.pi)


def _lim(i):
    return (i, i.lower, i.upper)


# ----------------------------------------------------------------------------- independent densities
def spd(rng, n, ridge=0.5):
    A = rng.normal(size=(n, n))
    return A @ A.T / n + ridge * np.eye(n)


def wishart_logpdf(L, nu, W):
    """log W(L | W, nu) for draws L (S, D, D) by scipy.stats (a D = 1 Wishart is a Gamma)."""
    D = W.shape[-1]
    if D == 1:
        return np.atleast_1d(st.gamma.logpdf(L[:, 0, 0], nu / 2, scale=2 * W[0, 0]))
    return np.atleast_1d(st.wishart.logpdf(np.moveaxis(L, 0, -1), df=nu, scale=W))


def wishart_draws(rng, nu, W, S):
    D = W.shape[-1]
    if D == 1:
        return rng.gamma(nu / 2, 2 * W[0, 0], size=S)[:, None, None]
    out = st.wishart(df=nu, scale=W).rvs(size=S, random_state=rng)
    return out.reshape(S, D, D)


def mvn_prec_logpdf(x, m, L):
    """log N(x | m, L^-1) with precision matrices L (..., D, D); x, m broadcast (..., D)."""
    D = L.shape[-1]
    r = x - m
    _, ld = np.linalg.slogdet(L)
    return -D / 2 * LOG2PI + ld / 2 - 0.5 * np.einsum("...d,...de,...e->...", r, L, r)


def nw_logpdf(mu, L, m, beta, nu, W):
    return wishart_logpdf(L, nu, W) + mvn_prec_logpdf(mu, m, beta * L)


# ----------------------------------------------------------------------------- q factors of the new families
@dataclass
class WishartSpec(QSpec):
    """q(Lambda) = W(W, nu) per batch element (shape = batch + (D, D))."""

    def random_params(self, rng):
        D, batch = self.shape[-1], self.shape[:-2]
        n = int(np.prod(batch)) if batch else 1
        W = np.stack([spd(rng, D) for _ in range(n)]).reshape(batch + (D, D))
        nu = rng.uniform(D + 0.5, D + 4, batch) if batch else float(rng.uniform(D + 0.5, D + 4))
        return {self.params["scale"]: W, self.params["dof"]: nu}

    def sample(self, rng, P, S):
        W, nu = np.asarray(P[self.params["scale"]]), np.asarray(P[self.params["dof"]])
        D, batch = self.shape[-1], self.shape[:-2]
        Wf, nf = W.reshape(-1, D, D), nu.reshape(-1)
        zs, lq = [], np.zeros(S)
        for j in range(len(Wf)):
            L = wishart_draws(rng, nf[j], Wf[j], S)
            lq += wishart_logpdf(L, nf[j], Wf[j])
            zs.append(L)
        return np.stack(zs, 1).reshape((S,) + batch + (D, D)), lq


@dataclass
class NormalWishartSpec(QSpec):
    """Joint q(mu, Lambda) = N(mu | m, (beta Lambda)^-1) W(Lambda | W, nu); ``var`` is the pair of
    names (mu, Lambda) and ``sample`` returns both."""

    def random_params(self, rng):
        D, batch = self.shape[-1], self.shape[:-1]
        n = int(np.prod(batch)) if batch else 1
        p = self.params
        W = np.stack([spd(rng, D) for _ in range(n)]).reshape(batch + (D, D))
        scal = (lambda lo, hi: rng.uniform(lo, hi, batch)) if batch else (lambda lo, hi: float(rng.uniform(lo, hi)))
        return {p["mean"]: rng.normal(size=batch + (D,)), p["beta"]: scal(0.5, 3.0), p["scale"]: W,
                p["dof"]: scal(D + 0.5, D + 4)}

    def sample(self, rng, P, S):
        p = self.params
        D, batch = self.shape[-1], self.shape[:-1]
        m = np.asarray(P[p["mean"]]).reshape(-1, D)
        be = np.asarray(P[p["beta"]], float).reshape(-1)
        W = np.asarray(P[p["scale"]]).reshape(-1, D, D)
        nu = np.asarray(P[p["dof"]], float).reshape(-1)
        mus, Ls, lq = [], [], np.zeros(S)
        for j in range(len(m)):
            L = wishart_draws(rng, nu[j], W[j], S)
            C = np.linalg.cholesky(np.linalg.inv(be[j] * L))
            mu = m[j] + np.einsum("sde,se->sd", C, rng.standard_normal((S, D)))
            lq += nw_logpdf(mu, L, m[j], be[j], nu[j], W[j])
            mus.append(mu)
            Ls.append(L)
        mu_name, lam_name = self.var
        return ({mu_name: np.stack(mus, 1).reshape((S,) + batch + (D,)),
                 lam_name: np.stack(Ls, 1).reshape((S,) + batch + (D, D))}, lq)


@dataclass
class PointSpec(QSpec):
    """A local bound's parameter xi (positive, no distribution): its 'draws' are its value."""

    def random_params(self, rng):
        return {self.params["xi"]: rng.uniform(0.3, 3.0, self.shape)}

    def sample(self, rng, P, S):
        return np.broadcast_to(P[self.params["xi"]], (S,) + self.shape), np.zeros(S)


class XBuilder(rm.Builder):
    """The older builder with the matrix column plate E of D."""

    def __init__(self, seed):
        super().__init__(seed)
        r = self.rng
        self.sizes["D"] = int(r.choice([1, 2, 2, 3]))
        self.sizes["G"] = int(r.integers(1, 4))
        self.sizes["E"] = self.sizes["D"]
        self.P = {n: vd.Plate(n, ix) for n, ix in rm.PLATES.items()}
        self.P["E"] = matrix_plate(self.P["D"], "E", "e")
        self.case.sizes = self.sizes
        self.case.evidence_ok = True      # every block's evidence term is its exact log evidence
        self.case.kinds = []
        self.case.codegen = True

    def variational(self, name, plates=(), positive=False):
        return self.M.variational(name, tuple(self.P[p] for p in plates), positive=positive)

    def q_wishart(self, lam, batch):
        P = self.P
        W = self.variational(f"W_{lam.name}", batch + ("D", "E"))
        nu = self.variational(f"nu_{lam.name}", batch, positive=True)
        ix = tuple(P[p].index for p in batch)
        nu_el = nu[ix] if batch else nu
        self.M.q(lam, Wishart(W[ix + (P["D"].index, P["E"].index)], nu_el, event=(P["D"], P["E"])))
        self.case.qspecs.append(WishartSpec("Wishart", lam.name, dict(scale=_name(W), dof=_name(nu)),
                                            self.shape(*batch, "D", "D")))

    def q_normal_wishart(self, mu, lam, batch):
        P = self.P
        ix = tuple(P[p].index for p in batch)
        d, e = P["D"].index, P["E"].index
        m = self.variational(f"m_{mu.name}", batch + ("D",))
        be = self.variational(f"beta_{mu.name}", batch, positive=True)
        W = self.variational(f"W_{lam.name}", batch + ("D", "E"))
        nu = self.variational(f"nu_{lam.name}", batch, positive=True)
        el = (lambda a: a[ix]) if batch else (lambda a: a)
        nw = NormalWishart(m[ix + (d,)], el(be), W[ix + (d, e)], el(nu), event=(P["D"], P["E"]))
        self.M.q(mu, nw.normal)
        self.M.q(lam, nw.wishart)
        self.case.qspecs.append(NormalWishartSpec(
            "NormalWishart", (mu.name, lam.name),
            dict(mean=_name(m), beta=_name(be), scale=_name(W), dof=_name(nu)), self.shape(*batch, "D")))


def _name(a):
    """The name of a variational array (an IndexedBase or a Symbol)."""
    return str(a.label) if hasattr(a, "label") else str(a)


def _batch(b, p=0.45):
    return ("G",) if b.rng.random() < p else ()


# ----------------------------------------------------------------------------- Wishart / Normal–Wishart
def kind_wishart(b):
    """Lambda_(g) ~ W(W0, nu0); x_(g)t ~ N(mu0, (s Lambda_(g))^-1) with a known mean (and a known
    scale s, sometimes); q(Lambda) Wishart.  Conjugate: exact posterior W(W_N, nu0 + T)."""
    r, M, P = b.rng, b.M, b.P
    G = _batch(b)
    Dn, Tn = b.sizes["D"], b.sizes["T"]
    d, e = P["D"].index, P["E"].index
    gi = tuple(P[p].index for p in G)
    W0v, nu0v = spd(r, Dn), float(Dn - 1 + r.uniform(0.5, 3))
    mu0v = r.normal(size=Dn)
    sv = float(r.uniform(0.5, 2)) if r.random() < 0.4 else None
    W0 = b.hyper("W0", W0v, ("D", "E"), positive=False)
    nu0 = b.hyper("nu0", nu0v)
    mu0 = b.hyper("mu0", mu0v, ("D",), positive=False)
    lam = M.latent(b.name("Lam"), tuple(P[p] for p in G + ("D", "E")))
    M.factor(lam, Wishart(W0[d, e], nu0, event=(P["D"], P["E"])))
    ng = b.sizes["G"] if G else 1
    Ltrue = [wishart_draws(r, nu0v, W0v, 1)[0] for _ in range(ng)]
    s = sv or 1.0
    xv = np.stack([r.multivariate_normal(mu0v, np.linalg.inv(s * L), Tn) for L in Ltrue])
    xv = xv if G else xv[0]
    x = b.observed("x", G + ("T", "D"), xv)
    kw = dict(scale=b.hyper("sc", sv)) if sv else {}
    M.factor(x, MvNormalPrecision(mu0[d], lam[gi + (d, e)], event=(P["D"], P["E"]), **kw))
    b.q_wishart(lam, G)
    ln, xn = lam.name, x.name

    def logp(L, Dt):
        X = Dt[xn].reshape(ng, Tn, Dn)
        Ls = L[ln].reshape(-1, ng, Dn, Dn)
        out = np.zeros(len(Ls))
        for j in range(ng):
            out += wishart_logpdf(Ls[:, j], nu0v, W0v)
            out += mvn_prec_logpdf(X[j][None], mu0v, s * Ls[:, j, None]).sum(1)
        return out
    b.case.logp_terms.append(logp)

    def evidence(Dt):
        X = Dt[xn].reshape(ng, Tn, Dn)
        tot = 0.0
        for j in range(ng):
            R = X[j] - mu0v
            WN = np.linalg.inv(np.linalg.inv(W0v) + s * R.T @ R)
            nuN = nu0v + Tn
            L1 = np.eye(Dn)[None]
            tot += (mvn_prec_logpdf(X[j], mu0v, s * L1[0]).sum() + wishart_logpdf(L1, nu0v, W0v)[0]
                    - wishart_logpdf(L1, nuN, WN)[0])
        return tot
    b.case.evidence_terms.append(evidence)


def kind_normal_wishart(b):
    """(mu, Lambda)_(g) ~ NW(m0, beta0, W0, nu0); x_(g)t ~ N(mu, Lambda^-1); q(mu, Lambda) the joint
    Normal–Wishart (exact), or q(mu) MvNormal q(Lambda) Wishart factorised (not exact)."""
    r, M, P = b.rng, b.M, b.P
    G = _batch(b)
    Dn, Tn = b.sizes["D"], b.sizes["T"]
    d, e = P["D"].index, P["E"].index
    gi = tuple(P[p].index for p in G)
    W0v, nu0v = spd(r, Dn), float(Dn - 1 + r.uniform(0.5, 3))
    m0v, be0v = r.normal(size=Dn), float(r.uniform(0.3, 3))
    joint = r.random() < 0.6
    W0 = b.hyper("W0", W0v, ("D", "E"), positive=False)
    nu0 = b.hyper("nu0", nu0v)
    m0 = b.hyper("m0", m0v, ("D",), positive=False)
    be0 = b.hyper("be0", be0v)
    lam = M.latent(b.name("Lam"), tuple(P[p] for p in G + ("D", "E")))
    mu = M.latent(b.name("mu"), tuple(P[p] for p in G + ("D",)))
    M.factor(lam, Wishart(W0[d, e], nu0, event=(P["D"], P["E"])))
    M.factor(mu, MvNormalPrecision(m0[d], lam[gi + (d, e)], event=(P["D"], P["E"]), scale=be0))
    ng = b.sizes["G"] if G else 1
    xs = []
    for _ in range(ng):
        L = wishart_draws(r, nu0v, W0v, 1)[0]
        C = np.linalg.inv(L)
        xs.append(r.multivariate_normal(r.multivariate_normal(m0v, C / be0v), C, Tn))
    xv = np.stack(xs) if G else xs[0]
    x = b.observed("x", G + ("T", "D"), xv)
    M.factor(x, MvNormalPrecision(mu[gi + (d,)], lam[gi + (d, e)], event=(P["D"], P["E"])))
    if joint:
        b.q_normal_wishart(mu, lam, G)
    else:
        b.q_wishart(lam, G)
        b.q(mu, "MvNormal", G + ("D",), event="D", m=False)
        b.case.exact = False
    ln, mn, xn = lam.name, mu.name, x.name

    def logp(Lt, Dt):
        X = Dt[xn].reshape(ng, Tn, Dn)
        Ls = Lt[ln].reshape(-1, ng, Dn, Dn)
        mus = Lt[mn].reshape(-1, ng, Dn)
        out = np.zeros(len(Ls))
        for j in range(ng):
            out += nw_logpdf(mus[:, j], Ls[:, j], m0v, be0v, nu0v, W0v)
            out += mvn_prec_logpdf(X[j][None], mus[:, j, None], Ls[:, j, None]).sum(1)
        return out
    b.case.logp_terms.append(logp)

    def evidence(Dt):
        X = Dt[xn].reshape(ng, Tn, Dn)
        tot = 0.0
        for j in range(ng):
            xb = X[j].mean(0)
            Sx = (X[j] - xb).T @ (X[j] - xb)
            beN, nuN = be0v + Tn, nu0v + Tn
            mN = (be0v * m0v + Tn * xb) / beN
            WN = np.linalg.inv(np.linalg.inv(W0v) + Sx + be0v * Tn / beN * np.outer(xb - m0v, xb - m0v))
            L1 = np.eye(Dn)[None]
            tot += (mvn_prec_logpdf(X[j], mN, L1[0]).sum() + nw_logpdf(mN[None], L1, m0v, be0v, nu0v, W0v)[0]
                    - nw_logpdf(mN[None], L1, mN, beN, nuN, WN)[0])
        return tot
    b.case.evidence_terms.append(evidence)


def kind_wishart_mixture(b):
    """A Gaussian mixture with Wishart precisions: c_i ~ Cat(1/K) or Cat(w), w ~ Dir(a0);
    x_i | c_i ~ N(mu_k, Lambda_k^-1) with (mu_k, Lambda_k) Normal–Wishart (joint q) or known means
    and Wishart Lambda_k.  Not exact (mean field over c)."""
    r, M, P = b.rng, b.M, b.P
    K, Nn, Dn = b.sizes["K"], b.sizes["N"], b.sizes["D"]
    i, k, d, e = P["N"].index, P["K"].index, P["D"].index, P["E"].index
    W0v, nu0v = spd(r, Dn), float(Dn - 1 + r.uniform(0.5, 3))
    dirw = r.random() < 0.5
    known_mean = r.random() < 0.35
    W0 = b.hyper("W0", W0v, ("D", "E"), positive=False)
    nu0 = b.hyper("nu0", nu0v)
    lam = M.latent(b.name("Lam"), (P["K"], P["D"], P["E"]))
    M.factor(lam, Wishart(W0[d, e], nu0, event=(P["D"], P["E"])))
    c = M.latent(b.name("c"), (P["N"], P["K"]))
    if dirw:
        a0 = float(r.uniform(0.7, 2))
        w = M.latent(b.name("wt"), (P["K"],))
        M.factor(w, vd.Dirichlet(b.hyper("wa", a0), event=P["K"]))
        M.factor(c, vd.Categorical(w[k], event=P["K"]))
        b.q(w, "Dirichlet", ("K",), event="K", c=True)
    else:
        M.factor(c, vd.Categorical(1 / P["K"].size, event=P["K"]))
    muv = 2 * r.normal(size=(K, Dn))
    if known_mean:
        mean = b.hyper("mk", muv, ("K", "D"), positive=False)[k, d]
    else:
        m0v, be0v = r.normal(size=Dn), float(r.uniform(0.2, 2))
        m0 = b.hyper("m0", m0v, ("D",), positive=False)
        be0 = b.hyper("be0", be0v)
        mu = M.latent(b.name("mu"), (P["K"], P["D"]))
        M.factor(mu, MvNormalPrecision(m0[d], lam[k, d, e], event=(P["D"], P["E"]), scale=be0))
        mean = mu[k, d]
    z = r.integers(0, K, Nn)
    x = b.observed("x", ("N", "D"), muv[z] + r.normal(size=(Nn, Dn)))
    M.factor(x, vd.Mixture(c, MvNormalPrecision(mean, lam[k, d, e], event=(P["D"], P["E"]))))
    if known_mean:
        b.q_wishart(lam, ("K",))
    else:
        b.q_normal_wishart(mu, lam, ("K",))
    b.q(c, "Categorical", ("N", "K"), event="K", p=True)
    b.case.exact = False
    b.case.evidence_ok = False
    ln, cn, xn, wn = lam.name, c.name, x.name, b.name("wt")
    mn = None if known_mean else mu.name

    def logp(L, Dt):
        Ls = L[ln]
        S = len(Ls)
        out = np.zeros(S)
        mus = np.broadcast_to(muv, (S, K, Dn)) if known_mean else L[mn]
        for j in range(K):
            out += wishart_logpdf(Ls[:, j], nu0v, W0v)
            if not known_mean:
                out += mvn_prec_logpdf(mus[:, j], m0v, be0v * Ls[:, j])
        comp = np.stack([mvn_prec_logpdf(Dt[xn][None], mus[:, j, None], Ls[:, j, None]) for j in range(K)], -1)
        out += (L[cn] * comp).sum((1, 2))
        if dirw:
            out += dirichlet_logpdf(L[wn], a0) + (L[cn] * np.log(L[wn][:, None, :])).sum((1, 2))
        else:
            out -= Nn * np.log(K)
        return out
    b.case.logp_terms.append(logp)


def kind_known_precision(b):
    """mu_(g) ~ N(m0, L0^-1) (an MvNormal prior with a known precision) and x_(g)t ~
    MvNormalPrecision(mu, L1) with a known precision matrix hyper-parameter: conjugate Gaussian."""
    r, M, P = b.rng, b.M, b.P
    G = _batch(b)
    Dn, Tn = b.sizes["D"], b.sizes["T"]
    d, e = P["D"].index, P["E"].index
    gi = tuple(P[p].index for p in G)
    L0v, L1v = spd(r, Dn, 0.8), spd(r, Dn, 0.8)
    m0v = r.normal(size=Dn)
    L0 = b.hyper("L0", L0v, ("D", "D"), positive=False)
    m0 = b.hyper("m0", m0v, ("D",), positive=False)
    L1 = b.hyper("L1", L1v, ("D", "E"), positive=False)
    mu = M.latent(b.name("mu"), tuple(P[p] for p in G + ("D",)))
    M.factor(mu, vd.MvNormal(m0[d], precision=L0, event=P["D"]))
    ng = b.sizes["G"] if G else 1
    C0, C1 = np.linalg.inv(L0v), np.linalg.inv(L1v)
    xs = [r.multivariate_normal(r.multivariate_normal(m0v, C0), C1, Tn) for _ in range(ng)]
    x = b.observed("x", G + ("T", "D"), np.stack(xs) if G else xs[0])
    M.factor(x, MvNormalPrecision(mu[gi + (d,)], L1[d, e], event=(P["D"], P["E"])))
    b.q(mu, "MvNormal", G + ("D",), event="D", m=False)
    mn, xn = mu.name, x.name

    def logp(L, Dt):
        X = Dt[xn].reshape(ng, Tn, Dn)
        mus = L[mn].reshape(-1, ng, Dn)
        out = np.zeros(len(mus))
        for j in range(ng):
            out += st.multivariate_normal(m0v, C0).logpdf(mus[:, j]).reshape(-1)
            out += sum(st.multivariate_normal(X[j, t], C1).logpdf(mus[:, j]).reshape(-1) for t in range(Tn))
        return out
    b.case.logp_terms.append(logp)

    def evidence(Dt):
        X = Dt[xn].reshape(ng, Tn, Dn)
        C = np.kron(np.ones((Tn, Tn)), C0) + np.kron(np.eye(Tn), C1)
        return sum(st.multivariate_normal(np.tile(m0v, Tn), C).logpdf(X[j].reshape(-1)) for j in range(ng))
    b.case.evidence_terms.append(evidence)


def kind_scaled_precision(b):
    """A multivariate t by its scale mixture: Lambda ~ W(W0, nu0), tau_t ~ Gamma(a0, b0) (or one
    tau), x_t ~ N(mu0, (tau_t Lambda)^-1) with a known mean; q(Lambda) Wishart, q(tau) Gamma."""
    r, M, P = b.rng, b.M, b.P
    Dn, Tn = b.sizes["D"], b.sizes["T"]
    d, e, t = P["D"].index, P["E"].index, P["T"].index
    per_point = r.random() < 0.6
    W0v, nu0v = spd(r, Dn), float(Dn - 1 + r.uniform(0.5, 3))
    a0, b0 = float(r.uniform(1, 4)), float(r.uniform(0.5, 2))
    mu0v = r.normal(size=Dn)
    W0 = b.hyper("W0", W0v, ("D", "E"), positive=False)
    lam = M.latent(b.name("Lam"), (P["D"], P["E"]))
    M.factor(lam, Wishart(W0[d, e], b.hyper("nu0", nu0v), event=(P["D"], P["E"])))
    tau = M.latent(b.name("tau"), (P["T"],) if per_point else ())
    M.factor(tau, vd.Gamma(b.hyper("ta", a0), b.hyper("tb", b0)))
    Lt = wishart_draws(r, nu0v, W0v, 1)[0]
    tv = r.gamma(a0, 1 / b0, Tn)
    xv = np.stack([r.multivariate_normal(mu0v, np.linalg.inv(tv[j] * Lt)) for j in range(Tn)])
    x = b.observed("x", ("T", "D"), xv)
    mu0 = b.hyper("mu0", mu0v, ("D",), positive=False)
    M.factor(x, MvNormalPrecision(mu0[d], lam[d, e], event=(P["D"], P["E"]),
                                  scale=tau[t] if per_point else tau.symbol))
    b.q_wishart(lam, ())
    b.q(tau, "Gamma", ("T",) if per_point else (), a=True, b=True)
    b.case.exact = False
    b.case.evidence_ok = False
    ln, tn, xn = lam.name, tau.name, x.name

    def logp(L, Dt):
        Ls, ts = L[ln], L[tn]
        S = len(Ls)
        tt = ts if per_point else np.broadcast_to(ts[:, None], (S, Tn))
        out = wishart_logpdf(Ls, nu0v, W0v) + st.gamma.logpdf(ts, a0, scale=1 / b0).reshape(S, -1).sum(1)
        return out + mvn_prec_logpdf(Dt[xn][None], mu0v, tt[:, :, None, None] * Ls[:, None]).sum(1)
    b.case.logp_terms.append(logp)


# ----------------------------------------------------------------------------- the local bound
def kind_logistic(b):
    """t_(g)i ~ Bernoulli(sigma(sum_d X_(g)id w_(g)d [+ o_i])) with its Jaakkola–Jordan bound
    (xi per data point); w ~ N(m0, diag v0) or N(0, 1/alpha) with alpha ~ Gamma(a0, b0);
    q(w) MvNormal or fully factorised Normal.  The bound-ELBO is checked against Monte Carlo of
    the bound, below the exact log evidence, stationary in xi and in q."""
    r, M, P = b.rng, b.M, b.P
    scalar = b.sizes["D"] == 1 and r.random() < 0.5
    G = () if scalar else _batch(b, 0.3)
    ard = r.random() < 0.35
    full = (not scalar) and r.random() < 0.6
    offset = r.random() < 0.3
    Dn, Nn = b.sizes["D"], b.sizes["N"]
    i, d = P["N"].index, P["D"].index
    gi = tuple(P[p].index for p in G)
    wp = G if scalar else G + ("D",)
    w = M.latent(b.name("w"), tuple(P[p] for p in wp))
    if ard:
        a0, b0 = float(r.uniform(1.5, 4)), float(r.uniform(0.5, 2))
        al = M.latent(b.name("al"))
        M.factor(al, vd.Gamma(b.hyper("aa", a0), b.hyper("ab", b0)))
        M.factor(w, vd.Normal(0, precision=al.symbol))
        b.q(al, "Gamma", (), a=True, b=True)
        m0v, v0v = np.zeros(Dn), None
    else:
        m0v, v0v = r.normal(scale=0.5, size=Dn), r.uniform(0.5, 3, Dn)
        if scalar:
            M.factor(w, vd.Normal(b.hyper("m0", float(m0v[0]), positive=False), var=b.hyper("v0", float(v0v[0]))))
        else:
            m0 = b.hyper("m0", m0v, ("D",), positive=False)
            v0 = b.hyper("v0", v0v, ("D",))
            M.factor(w, vd.Normal(m0[d], var=v0[d]))
    Xv = r.normal(size=b.shape(*G, "N", "D"))
    ov = r.normal(size=Nn) if offset else np.zeros(Nn)
    wt = r.normal(size=b.shape(*G, "D"))
    if scalar:
        u = b.covariate("X", Xv[:, 0], ("N",))
        logit = w.symbol * u[i]
    else:
        X = b.covariate("X", Xv, G + ("N", "D"))
        l = P["D"].fresh()
        logit = Sum(X[gi + (i, l)] * w[gi + (l,)], _lim(l))
    if offset:
        logit = logit + b.hyper("o", ov, ("N",), positive=False)[i]
    eta_true = np.einsum("...nd,...d->...n", Xv, wt) + ov
    t = b.observed("t", G + ("N",), (r.uniform(size=eta_true.shape) < expit(eta_true)).astype(float))
    M.factor(t, BernoulliLogit(logit))
    gauss = (not scalar) and r.random() < 0.3      # w also seen through y_(g)j ~ N(sum_d Z_jd w_d, s2)
    if gauss:
        Zv, s2 = r.normal(size=b.shape(*G, "T", "D")), float(r.uniform(0.5, 2))
        Z = b.covariate("Z", Zv, G + ("T", "D"))
        yv = np.einsum("...td,...d->...t", Zv, wt) + np.sqrt(s2) * r.normal(size=b.shape(*G, "T"))
        y = b.observed("y", G + ("T",), yv)
        l2 = P["D"].fresh()
        M.factor(y, vd.Normal(Sum(Z[gi + (P["T"].index, l2)] * w[gi + (l2,)], _lim(l2)), var=b.hyper("ys", s2)))
        yn = y.name
    xi = b.variational(f"xi_{t.name}", G + ("N",), positive=True)
    M.local_bound(t, JaakkolaJordan(xi))
    xin = _name(xi)
    b.case.qspecs.append(PointSpec("Point", xin, dict(xi=xin), b.shape(*G, "N")))
    if full:
        b.q(w, "MvNormal", wp, event="D", m=False)
    else:
        b.q(w, "Normal", wp, m=False, s=True)
    b.case.exact = False
    wn, tn, an = w.name, t.name, b.name("al")

    def logp(L, Dt):  # the prior and the Jaakkola-Jordan bound (not the exact likelihood)
        W = L[wn].reshape((-1,) + b.shape(*G, "D"))
        S = len(W)
        if ard:
            sd = (1 / np.sqrt(L[an])).reshape((S,) + (1,) * (len(G) + 1))
            out = st.gamma.logpdf(L[an], a0, scale=1 / b0) + st.norm.logpdf(W, 0, sd).reshape(S, -1).sum(1)
        else:
            out = st.norm.logpdf(W, m0v, np.sqrt(v0v)).reshape(S, -1).sum(1)
        eta = np.einsum("...nd,s...d->s...n", Xv, W) + ov
        xi_ = L[xin]
        lam = (expit(xi_) - 0.5) / (2 * xi_)
        s = -eta
        bound = log_expit(xi_) + (s - xi_) / 2 - lam * (s ** 2 - xi_ ** 2)
        out = out + (Dt[tn][None] * eta + bound).reshape(S, -1).sum(1)
        if gauss:
            mean_y = np.einsum("...td,s...d->s...t", Zv, W)
            out = out + st.norm.logpdf(Dt[yn][None], mean_y, np.sqrt(s2)).reshape(S, -1).sum(1)
        return out
    b.case.logp_terms.append(logp)

    def evidence(Dt):  # exact log p(t): Gauss-Hermite over w (per group), adaptive over alpha
        Tt = Dt[tn].reshape((-1, Nn))
        Xs = Xv.reshape((-1, Nn, Dn))
        if Dn > 2:
            return None
        z, wq = np.polynomial.hermite_e.hermegauss(90)
        wq = wq / np.sqrt(2 * np.pi)
        grid = np.stack(np.meshgrid(*([z] * Dn), indexing="ij"), -1).reshape(-1, Dn)
        wts = np.prod(np.stack(np.meshgrid(*([wq] * Dn), indexing="ij"), -1).reshape(-1, Dn), 1)

        def loglik(Wg, j):  # (Q, D) -> (Q,)
            eta = Wg @ Xs[j].T + ov
            out = (Tt[j] * log_expit(eta) + (1 - Tt[j]) * log_expit(-eta)).sum(1)
            if gauss:
                Y, Zs = Dt[yn].reshape((-1, b.sizes["T"])), Zv.reshape((-1, b.sizes["T"], Dn))
                out = out + st.norm.logpdf(Y[j], Wg @ Zs[j].T, np.sqrt(s2)).sum(1)
            return out

        def log_mean(vals):
            c = vals.max()
            return c + np.log(np.sum(wts * np.exp(vals - c)))
        if not ard:
            Wg = m0v + np.sqrt(v0v) * grid
            return sum(log_mean(loglik(Wg, j)) for j in range(len(Tt)))
        # alpha shared by every group: p(t) = int Gamma(alpha) prod_g E_{w ~ N(0, 1/alpha)}[p(t_g | w)]
        f = lambda al: np.exp(st.gamma.logpdf(al, a0, scale=1 / b0)
                              + sum(log_mean(loglik(grid / np.sqrt(al), j)) for j in range(len(Tt))))
        val, _ = si.quad(f, 0, np.inf, limit=200, epsabs=0, epsrel=1e-11)
        return np.log(val)
    if Dn <= 2:
        b.case.evidence_terms.append(evidence)
    else:
        b.case.evidence_ok = False


# ----------------------------------------------------------------------------- LDA-style documents
def kind_lda(b):
    """Documents g = 1..G with T words each over the vocabulary V: theta_g ~ Dir(alpha) over K,
    z_gt ~ Cat(theta_g), w_gt | z_gt ~ Cat(beta_k) with topics beta_k ~ Dir(eta) (latent) or known."""
    r, M, P = b.rng, b.M, b.P
    K, Vn, Gn, Tn = b.sizes["K"], b.sizes["V"], b.sizes["G"], b.sizes["T"]
    g, k, v = P["G"].index, P["K"].index, P["V"].index
    alv, etv = float(r.uniform(0.3, 2)), float(r.uniform(0.3, 2))
    known = r.random() < 0.35
    th = M.latent(b.name("th"), (P["G"], P["K"]))
    z = M.latent(b.name("z"), (P["G"], P["T"], P["K"]))
    M.factor(th, vd.Dirichlet(b.hyper("al", alv), event=P["K"]))
    M.factor(z, vd.Categorical(th[g, k], event=P["K"]))
    bev = r.dirichlet(etv * np.ones(Vn), K)
    if known:
        be = b.hyper("be", bev, ("K", "V"))
    else:
        be = M.latent(b.name("be"), (P["K"], P["V"]))
        M.factor(be, vd.Dirichlet(b.hyper("et", etv), event=P["V"]))
    thv = r.dirichlet(alv * np.ones(K), Gn)
    zs = np.stack([onehot(r, np.broadcast_to(thv[j], (Tn, K))) for j in range(Gn)])
    words = onehot(r, np.einsum("gtk,kv->gtv", zs, bev))
    w = b.observed("w", ("G", "T", "V"), words)
    M.factor(w, vd.Mixture(z, vd.Categorical(be[k, v], event=P["V"])))
    if not known:
        b.q(be, "Dirichlet", ("K", "V"), event="V", c=True)
    b.q(th, "Dirichlet", ("G", "K"), event="K", c=True)
    b.q(z, "Categorical", ("G", "T", "K"), event="K", p=True)
    b.case.exact = False
    b.case.evidence_ok = False
    thn, zn, ben, wn = th.name, z.name, b.name("be"), w.name

    def logp(L, Dt):
        S = len(L[thn])
        B = np.broadcast_to(bev, (S, K, Vn)) if known else L[ben]
        out = dirichlet_logpdf(L[thn], alv).sum(1)
        if not known:
            out += dirichlet_logpdf(B, etv).sum(1)
        out += (L[zn] * np.log(L[thn][:, :, None, :])).sum((1, 2, 3))
        out += (L[zn] * np.einsum("gtv,skv->sgtk", Dt[wn], np.log(B))).sum((1, 2, 3))
        return out
    b.case.logp_terms.append(logp)


# ----------------------------------------------------------------------------- non-conjugate uses
def _expect(b, classes, *words):
    b.case.refusal = (classes, words)


def _wishart_latent(b, dof=None):
    """A D x E latent Lam with the prior Wishart(I, dof) (default dof: the hyper nu0 = D + 1)."""
    P, (d, e) = b.P, (b.P["D"].index, b.P["E"].index)
    lam = b.M.latent(b.name("Lam"), (P["D"], P["E"]))
    W0 = b.hyper("W0", np.eye(b.sizes["D"]), ("D", "E"), positive=False)
    dof = b.hyper("nu0", b.sizes["D"] + 1.0) if dof is None else dof
    b.M.factor(lam, Wishart(W0[d, e], dof, event=(P["D"], P["E"])))
    return lam


def refuse_wishart_normal_q(b):
    """A Wishart prior with a Normal q over the matrix entries."""
    M, P = b.M, b.P
    d, e = P["D"].index, P["E"].index
    _expect(b, (vd.NonConjugateError, vd.UnsupportedModelError), b.name("Lam"))
    lam = _wishart_latent(b)
    x = b.observed("x", ("T", "D"), b.rng.normal(size=b.shape("T", "D")))
    M.factor(x, MvNormalPrecision(0, lam[d, e], event=(P["D"], P["E"])))
    b.q(lam, "Normal", ("D", "E"), m=False, s=True)


def refuse_wishart_latent_dof(b):
    """A Wishart whose degrees of freedom are latent (Gamma)."""
    M, P = b.M, b.P
    d, e = P["D"].index, P["E"].index
    _expect(b, (vd.NonConjugateError, vd.UnsupportedModelError), b.name("nu"))
    nu = M.latent(b.name("nu"))
    M.factor(nu, vd.Gamma(4, 1))
    lam = _wishart_latent(b, nu.symbol + b.sizes["D"])
    x = b.observed("x", ("T", "D"), b.rng.normal(size=b.shape("T", "D")))
    M.factor(x, MvNormalPrecision(0, lam[d, e], event=(P["D"], P["E"])))
    b.q(nu, "Gamma", (), a=True, b=True)
    b.q_wishart(lam, ())


def refuse_precision_nonlinear_mean(b):
    """A Gaussian with a Wishart precision and a mean exp(mu_d)."""
    M, P = b.M, b.P
    d, e = P["D"].index, P["E"].index
    _expect(b, (vd.NonConjugateError, vd.UnsupportedModelError), b.name("mu"), "exp")
    mu = M.latent(b.name("mu"), (P["D"],))
    M.factor(mu, vd.Normal(0, var=1))
    L = b.hyper("L", np.eye(b.sizes["D"]), ("D", "E"), positive=False)
    x = b.observed("x", ("T", "D"), b.rng.normal(size=b.shape("T", "D")))
    M.factor(x, MvNormalPrecision(sp.exp(mu[d]), L[d, e], event=(P["D"], P["E"])))
    b.q(mu, "Normal", ("D",), m=False, s=True)


def refuse_logistic_unbounded(b):
    """A logistic likelihood without its local bound."""
    M, P = b.M, b.P
    i = P["N"].index
    _expect(b, (vd.NonConjugateError,), b.name("w"), f"p({b.name('t')}", "exp")
    w = M.latent(b.name("w"), (P["D"],))
    M.factor(w, vd.Normal(0, var=1))
    X = b.covariate("X", np.ones(b.shape("N", "D")), ("N", "D"))
    t = b.observed("t", ("N",), np.ones(b.sizes["N"]))
    l = P["D"].fresh()
    M.factor(t, BernoulliLogit(Sum(X[i, l] * w[l], _lim(l))))
    b.q(w, "Normal", ("D",), m=False, s=True)


def refuse_bound_gamma_logit(b):
    """The bound attached, but the logit is a Gamma variable times a covariate: the bound's
    eta^2 = alpha^2 u^2 is not a Gamma statistic."""
    M, P = b.M, b.P
    i = P["N"].index
    _expect(b, (vd.NonConjugateError,), b.name("al"))
    al = M.latent(b.name("al"))
    M.factor(al, vd.Gamma(2, 1))
    u = b.covariate("u", np.ones(b.sizes["N"]), ("N",))
    t = b.observed("t", ("N",), np.ones(b.sizes["N"]))
    M.factor(t, BernoulliLogit(al.symbol * u[i]))
    M.local_bound(t, JaakkolaJordan(b.variational(f"xi_{t.name}", ("N",), positive=True)))
    b.q(al, "Gamma", (), a=True, b=True)


def refuse_bound_nonlinear_logit(b):
    """The bound attached, but the logit is exp(w) u_i (not linear in w)."""
    M, P = b.M, b.P
    i = P["N"].index
    _expect(b, (vd.NonConjugateError, vd.UnsupportedModelError), b.name("w"))
    w = M.latent(b.name("w"))
    M.factor(w, vd.Normal(0, var=1))
    u = b.covariate("u", np.ones(b.sizes["N"]), ("N",))
    t = b.observed("t", ("N",), np.ones(b.sizes["N"]))
    M.factor(t, BernoulliLogit(sp.exp(w.symbol) * u[i]))
    M.local_bound(t, JaakkolaJordan(b.variational(f"xi_{t.name}", ("N",), positive=True)))
    b.q(w, "Normal", (), m=False, s=True)


def refuse_wishart_as_variance(b):
    """An entry of a Wishart matrix used as the variance of a scalar Normal."""
    M = b.M
    _expect(b, (vd.NonConjugateError, vd.UnsupportedModelError), b.name("Lam"))
    lam = _wishart_latent(b)
    x = b.observed("x", ("T",), b.rng.normal(size=b.sizes["T"]))
    M.factor(x, vd.Normal(0, var=lam[0, 0]))
    b.q_wishart(lam, ())


def refuse_multinomial_topic_mixture(b):
    """Bag-of-words counts with probabilities sum_k theta_gk beta_kv (a mixture inside the
    Multinomial: not conjugate to either Dirichlet)."""
    M, P = b.M, b.P
    g, k, v = P["G"].index, P["K"].index, P["V"].index
    _expect(b, (vd.NonConjugateError, vd.UnsupportedModelError), f"p({b.name('w')}")
    th = M.latent(b.name("th"), (P["G"], P["K"]))
    M.factor(th, vd.Dirichlet(1, event=P["K"]))
    be = b.hyper("be", np.full(b.shape("K", "V"), 1 / b.sizes["V"]), ("K", "V"))
    w = b.observed("w", ("G", "V"), np.ones(b.shape("G", "V")))
    l = P["K"].fresh()
    M.factor(w, vd.Multinomial(Sum(th[g, l] * be[l, v], _lim(l)), event=P["V"]))
    b.q(th, "Dirichlet", ("G", "K"), event="K", c=True)


KINDS = [kind_wishart, kind_normal_wishart, kind_wishart_mixture, kind_known_precision, kind_logistic,
         kind_lda, kind_scaled_precision]
REFUSALS = [refuse_wishart_normal_q, refuse_wishart_latent_dof, refuse_precision_nonlinear_mean,
            refuse_logistic_unbounded, refuse_bound_gamma_logit, refuse_bound_nonlinear_logit,
            refuse_wishart_as_variance, refuse_multinomial_topic_mixture]
# older blocks that may join a new kind (their evidence is exact when the case stays exact)
OLD = [rm.block_normal_mean, rm.block_beta_bernoulli, rm.block_count_families, rm.block_regression,
       rm.block_mixture]


def random_extended_model(seed, p_refusal=0.15, kind=None):
    """The extended random model number ``seed`` (deterministic); ``kind`` forces the first kind."""
    b = XBuilder(seed)
    r = b.rng
    first = kind if kind is not None else KINDS[seed % len(KINDS)]
    blocks = [first]
    u = r.random()
    if u < 0.2:
        blocks.append(KINDS[int(r.integers(len(KINDS)))])
    elif u < 0.35:
        blocks.append(OLD[int(r.integers(len(OLD)))])
    if r.random() < p_refusal:
        blocks.insert(int(r.integers(len(blocks) + 1)), REFUSALS[(seed // len(KINDS)) % len(REFUSALS)])
    for blk in blocks:
        b.n += 1
        b.case.blocks.append(blk.__name__)
        exact_before, b.case.exact = b.case.exact, True
        try:
            blk(b)
        except (vd.NonConjugateError, vd.UnsupportedModelError) as e:
            b.case.refusal_at_build = e
            return b.case
        if blk in OLD and not b.case.exact:
            b.case.evidence_ok = False     # an older non-conjugate block has no exact evidence
        b.case.exact = b.case.exact and exact_before
    if b.case.refusal is None:
        q = list(b.M.qfactors)
        r.shuffle(q)
        b.case.order = q
    return b.case
