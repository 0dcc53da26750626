"""Ledger entries for 003_f0faaa88f60744cd.txt (homework sheet: KL divergence, a
KL(p||q) fit of an isotropic Gaussian, mean field on a 2-D linear-Gaussian model)."""
from __future__ import annotations

import numpy as np
import sympy as sp
from scipy import optimize, stats
from sympy.stats import E as Exp, Normal

from .._checks import (cavi_optimal_factor_discrete, close, gh_expect, is_zero,
                       norm_logpdf, quad, rng, same)
from ..registry import DocumentBook

BOOK = B = DocumentBook("003_f0faaa88f60744cd.txt")

x, mu, mu1, mu2, m1, m2 = sp.symbols("x mu mu_1 mu_2 m_1 m_2", real=True)
s1, s2 = sp.symbols("sigma_1 sigma_2", positive=True)
z1, z2, th1, th2 = sp.symbols("z_1 z_2 theta_1 theta_2", real=True)


def _npdf(v, mean, var):
    return sp.exp(-(v - mean) ** 2 / (2 * var)) / sp.sqrt(2 * sp.pi * var)


def _kl_1d_sym():
    """KL(N(mu1, s1^2) || N(mu2, s2^2)) by sympy.stats integration."""
    X = Normal("X", mu1, s1)
    integrand = sp.expand_log(sp.log(_npdf(x, mu1, s1**2) / _npdf(x, mu2, s2**2)), force=True)
    return sp.simplify(Exp(integrand.subs(x, X)))


# ------------------------------------------------------------ Problem 1
@B.verified("doc003-p1-diag-factorises", line=17, marker=r"\prod_{j} p_{j}(x_{j})",
            location="Problem 1, diagonal-covariance density", topics=("gaussian", "kl"),
            claim=r"\mathcal N(\mathbf x\mid\boldsymbol\mu_1,\operatorname{diag}\sigma_{1}^2)=\prod_j \mathcal N(x_j\mid\mu_{1,j},\sigma_{1,j}^2)",
            method="SymPy: the D=3 multivariate density with a diagonal covariance minus the product of univariate densities simplifies to 0")
def _():
    xs = sp.symbols("x1:4", real=True)
    ms = sp.symbols("m1:4", real=True)
    vs = sp.symbols("v1:4", positive=True)
    S = sp.diag(*vs)
    d = sp.Matrix(xs) - sp.Matrix(ms)
    mvn = sp.exp(-(d.T * S.inv() * d)[0] / 2) / sp.sqrt((2 * sp.pi) ** 3 * S.det())
    prod = sp.Mul(*[_npdf(a, b, c) for a, b, c in zip(xs, ms, vs)])
    return is_zero(sp.expand_log(sp.log(mvn) - sp.log(prod), force=True))


@B.verified("doc003-p1-kl-two-expectations", line=22, marker=r"\mathbb{E}_p[\log p(\boldsymbol{x})] - \mathbb{E}_p[\log q(\boldsymbol{x})]",
            location="Problem 1, KL as two expectations", topics=("kl",),
            claim=r"\mathrm{KL}(p\|q)=\int p\ln\frac pq=\mathbb E_p[\log p]-\mathbb E_p[\log q]",
            method="quadrature: both sides for a bimodal p and a Gaussian q agree to 1e-9", route="numeric")
def _():
    p = lambda t: 0.3 * stats.norm.pdf(t, -1, 0.5) + 0.7 * stats.norm.pdf(t, 1.5, 0.8)
    q = lambda t: stats.norm.pdf(t, 0.4, 1.3)
    lhs = quad(lambda t: p(t) * np.log(p(t) / q(t)), -12, 12)
    rhs = quad(lambda t: p(t) * np.log(p(t)), -12, 12) - quad(lambda t: p(t) * np.log(q(t)), -12, 12)
    return close(lhs, rhs)


@B.verified("doc003-p1-kl-sum", line=26, marker=r"\sum_{j} \mathbb{KL}(p_{j} \mid\mid q_{j})",
            location="Problem 1, KL of factorised densities", topics=("kl",),
            claim=r"\mathrm{KL}(p\|q)=\sum_j\mathrm{KL}(p_j\|q_j)\ \text{for factorised } p,q",
            method="Gauss-Hermite (exact here): the 3-D KL of random diagonal Gaussians equals the sum of 1-D KLs by quadrature",
            route="numeric")
def _():
    g = rng(3)
    a, b = g.normal(size=3), g.normal(size=3)
    va, vb = g.uniform(0.3, 2, 3), g.uniform(0.3, 2, 3)
    full = gh_expect(lambda z: np.sum(norm_logpdf(z, a, va) - norm_logpdf(z, b, vb), axis=1), a, va, n=8)
    parts = sum(quad(lambda t, j=j: stats.norm.pdf(t, a[j], np.sqrt(va[j]))
                     * (norm_logpdf(t, a[j], va[j]) - norm_logpdf(t, b[j], vb[j])), -30, 30)
                for j in range(3))
    return close(full, parts)


@B.verified("doc003-p1-kl-1d-split", line=30, marker=r"\underbrace{-\int p_j(x)\log q_j(x)dx}_{(i)}",
            location="Problem 1, one-dimensional split (i)+(ii)", topics=("kl",),
            claim=r"\mathrm{KL}(p_j\|q_j)=-\int p_j\log q_j+\int p_j\log p_j",
            method="SymPy: the log of the ratio of the two normal densities expands to log p_j - log q_j")
def _():
    return is_zero(sp.expand_log(sp.log(_npdf(x, mu1, s1**2) / _npdf(x, mu2, s2**2))
                                 - (sp.log(_npdf(x, mu1, s1**2)) - sp.log(_npdf(x, mu2, s2**2))), force=True))


@B.verified("doc003-p1-neg-entropy", line=35, marker=r"-\frac{1}{2} \log(2\pi\sigma_{1,j}^2) - \frac{1}{2}",
            location="Problem 1, term (ii): negative entropy", topics=("kl", "entropy", "gaussian"), lines=(34,),
            claim=r"\int p_j\log p_j=-\mathbb H[p_j]=-\tfrac12\log(2\pi\sigma_{1,j}^2)-\tfrac12",
            method="sympy.stats: E[log N(X|mu1,s1^2)] for X ~ N(mu1, s1^2), integrated symbolically")
def _():
    X = Normal("X", mu1, s1)
    val = Exp(sp.expand_log(sp.log(_npdf(x, mu1, s1**2)), force=True).subs(x, X))
    return same(val, -sp.log(2 * sp.pi * s1**2) / 2 - sp.Rational(1, 2))


@B.verified("doc003-p1-cross-entropy-integrand", line=40, marker=r"\frac{(x - \mu_{2,j})^2}{2\sigma_{2,j}^2}",
            location="Problem 1, term (i), first line", topics=("kl", "gaussian"), lines=(39,),
            claim=r"-\log q_j(x)=\tfrac12\log(2\pi\sigma_{2,j}^2)+\frac{(x-\mu_{2,j})^2}{2\sigma_{2,j}^2}",
            method="SymPy: -log of the normal density minus the stated expression simplifies to 0")
def _():
    return is_zero(sp.expand_log(-sp.log(_npdf(x, mu2, s2**2)), force=True)
                   - (sp.log(2 * sp.pi * s2**2) / 2 + (x - mu2) ** 2 / (2 * s2**2)))


@B.verified("doc003-p1-cross-entropy-closed", line=44, marker=r"\frac{\sigma_{1,j}^2 + (\mu_{1,j} - \mu_{2,j})^2}{2\sigma_{2,j}^2}",
            location="Problem 1, term (i), three-line chain", topics=("kl", "gaussian"),
            claim=r"\mathbb E_{p_j}[-\log q_j]=\tfrac12\log(2\pi\sigma_{2,j}^2)+\frac{\mathbb E[x^2]-2\mathbb E[x]\mu_{2,j}+\mu_{2,j}^2}{2\sigma_{2,j}^2}=\tfrac12\log(2\pi\sigma_{2,j}^2)+\frac{\sigma_{1,j}^2+(\mu_{1,j}-\mu_{2,j})^2}{2\sigma_{2,j}^2}",
            method="sympy.stats: each line of the chain equals E_p[-log q] integrated symbolically")
def _():
    X = Normal("X", mu1, s1)
    truth = Exp((sp.log(2 * sp.pi * s2**2) / 2 + (x - mu2) ** 2 / (2 * s2**2)).subs(x, X))
    l1 = sp.log(2 * sp.pi * s2**2) / 2 + (Exp(X**2) - 2 * Exp(X) * mu2 + mu2**2) / (2 * s2**2)
    l2 = sp.log(2 * sp.pi * s2**2) / 2 + (mu1**2 + s1**2 - 2 * mu1 * mu2 + mu2**2) / (2 * s2**2)
    l3 = sp.log(2 * sp.pi * s2**2) / 2 + (s1**2 + (mu1 - mu2) ** 2) / (2 * s2**2)
    return all(same(truth, l) for l in (l1, l2, l3))


@B.verified("doc003-p1-kl-1d", line=49, marker=r"\log \frac{\sigma_{2,j}}{\sigma_{1,j}}", lines=(48,),
            location="Problem 1, KL of two univariate Gaussians", topics=("kl", "gaussian"),
            claim=r"\mathrm{KL}(p_j\|q_j)=\log\frac{\sigma_{2,j}}{\sigma_{1,j}}+\frac{\sigma_{1,j}^2+(\mu_{1,j}-\mu_{2,j})^2}{2\sigma_{2,j}^2}-\frac12",
            method="sympy.stats: KL integrated symbolically equals both printed lines")
def _():
    kl = _kl_1d_sym()
    a = sp.log(2 * sp.pi * s2**2) / 2 + (s1**2 + (mu1 - mu2) ** 2) / (2 * s2**2) - sp.log(2 * sp.pi * s1**2) / 2 - sp.Rational(1, 2)
    b = sp.log(s2 / s1) + (s1**2 + (mu1 - mu2) ** 2) / (2 * s2**2) - sp.Rational(1, 2)
    return same(kl, a) and same(kl, b)


@B.verified("doc003-p1-kl-diagonal", line=53, marker=r"-\frac{D}{2} + \sum_{j}",
            location="Problem 1, final result", topics=("kl", "gaussian"),
            claim=r"\mathrm{KL}(p\|q)=-\frac D2+\sum_j\Big(\log\frac{\sigma_{2,j}}{\sigma_{1,j}}+\frac{\sigma_{1,j}^2+(\mu_{1,j}-\mu_{2,j})^2}{2\sigma_{2,j}^2}\Big)",
            method="numeric: the formula equals the KL by Gauss-Hermite integration (D=4, random parameters, 1e-9) and scipy's multivariate-normal KL route via entropy",
            route="numeric")
def _():
    g = rng(4)
    a, b = g.normal(size=4), g.normal(size=4)
    va, vb = g.uniform(0.3, 2, 4), g.uniform(0.3, 2, 4)
    formula = -4 / 2 + np.sum(np.log(np.sqrt(vb) / np.sqrt(va)) + (va + (a - b) ** 2) / (2 * vb))
    numeric = gh_expect(lambda z: np.sum(norm_logpdf(z, a, va) - norm_logpdf(z, b, vb), axis=1), a, va, n=6)
    return close(formula, numeric)


# ------------------------------------------------------------ Problem 2
def _bimodal():
    w, a, b, sa, sb = 0.35, -1.2, 2.0, 0.6, 0.9
    p = lambda t: w * stats.norm.pdf(t, a, sa) + (1 - w) * stats.norm.pdf(t, b, sb)
    return p, w * a + (1 - w) * b


@B.verified("doc003-p2-argmin-mean", line=88, marker=r"\operatorname*{arg\,min}_{\boldsymbol{\mu}} \mathbb{KL}(p\|q) = \mathbb{E}_p\left[\boldsymbol{x}\right]",
            lines=(59,), location="Problem 2, statement and conclusion", topics=("kl", "forward-kl"),
            claim=r"\mu^*=\arg\min_\mu\mathrm{KL}(p\|\mathcal N(\mu,I))=\mathbb E_p[x]",
            method="numeric: KL(p||N(mu,1)) for a bimodal p by quadrature, minimised with scipy; minimiser equals E_p[x] to 1e-6",
            route="numeric")
def _():
    from scipy.integrate import simpson
    p, mean = _bimodal()
    t = np.linspace(-15, 15, 30001)
    pt = p(t)
    kl = lambda m: simpson(pt * (np.log(pt) - stats.norm.logpdf(t, m, 1.0)), x=t)
    res = optimize.minimize_scalar(kl, bracket=(-1, 2), tol=1e-12)
    return abs(res.x - mean) < 1e-6


@B.verified("doc003-p2-kl-split", line=63, marker=r"-\int p(\boldsymbol{x}) \log q(\boldsymbol{x}) d\boldsymbol{x} + \int p(\boldsymbol{x})",
            location="Problem 2, KL written out", topics=("kl",),
            claim=r"\mathrm{KL}(p\|q)=-\int p\log q+\int p\log p",
            method="quadrature: both sides for a bimodal p and q = N(0.3, 1) agree to 1e-9", route="numeric")
def _():
    p, _ = _bimodal()
    lhs = quad(lambda t: p(t) * np.log(p(t) / stats.norm.pdf(t, 0.3, 1)), -15, 15)
    rhs = -quad(lambda t: p(t) * stats.norm.logpdf(t, 0.3, 1), -15, 15) + quad(lambda t: p(t) * np.log(p(t)), -15, 15)
    return close(lhs, rhs)


@B.verified("doc003-p2-plug-in", line=69, marker=r"-\frac{D}{2} \log 2\pi - \frac{1}{2} \log |\boldsymbol{I}|",
            location="Problem 2, Gaussian log density plugged in", topics=("kl", "gaussian"),
            claim=r"\log\mathcal N(\mathbf x\mid\boldsymbol\mu,I)=-\frac D2\log2\pi-\frac12\log|I|-\frac12(\mathbf x-\boldsymbol\mu)^T I^{-1}(\mathbf x-\boldsymbol\mu)",
            method="SymPy (D=3): log of the multivariate density minus the expression simplifies to 0")
def _():
    xs, ms = sp.Matrix(sp.symbols("x1:4", real=True)), sp.Matrix(sp.symbols("m1:4", real=True))
    I = sp.eye(3)
    dens = sp.exp(-((xs - ms).T * I.inv() * (xs - ms))[0] / 2) / sp.sqrt((2 * sp.pi) ** 3 * I.det())
    rhs = -sp.Rational(3, 2) * sp.log(2 * sp.pi) - sp.log(I.det()) / 2 - ((xs - ms).T * I.inv() * (xs - ms))[0] / 2
    return is_zero(sp.expand_log(sp.log(dens), force=True) - rhs)


@B.verified("doc003-p2-linearity", line=77, marker=r"(\mathbb{E}_p [\boldsymbol{x}] - \boldsymbol{\mu})^T (\mathbb{E}_p [\boldsymbol{x}] - \boldsymbol{\mu}) + \text{const.}",
            location="Problem 2, after 'linearity of expectation'", topics=("kl",), lines=(73,),
            claim=r"\mathbb E_p\big[\tfrac12(\mathbf x-\boldsymbol\mu)^T(\mathbf x-\boldsymbol\mu)\big]=\tfrac12(\mathbb E_p\mathbf x-\boldsymbol\mu)^T(\mathbb E_p\mathbf x-\boldsymbol\mu)+\text{const}",
            method="quadrature: for a bimodal p the difference of the two sides is the same at five values of mu (it is Var_p/2)",
            route="numeric", note="True up to a constant: the dropped constant is half the trace of Cov_p[x], not zero.")
def _():
    p, mean = _bimodal()
    diffs = [0.5 * quad(lambda t: p(t) * (t - m) ** 2, -15, 15) - 0.5 * (mean - m) ** 2 for m in (-2, -0.5, 0, 1, 3)]
    return bool(np.ptp(diffs) < 1e-9 and diffs[0] > 0)


@B.verified("doc003-p2-expanded", line=79, marker=r"\frac{1}{2} \boldsymbol{\mu}^T \boldsymbol{\mu} - \mathbb{E}_p [\boldsymbol{x}]^T \boldsymbol{\mu} + \text{const.}",
            location="Problem 2, expanded objective", topics=("kl",),
            claim=r"\tfrac12(\mathbb E_p\mathbf x-\boldsymbol\mu)^T(\mathbb E_p\mathbf x-\boldsymbol\mu)=\tfrac12\boldsymbol\mu^T\boldsymbol\mu-\mathbb E_p[\mathbf x]^T\boldsymbol\mu+\text{const}",
            method="SymPy (D=3): the difference has zero gradient in mu")
def _():
    ms, es = sp.Matrix(sp.symbols("mu1:4", real=True)), sp.Matrix(sp.symbols("e1:4", real=True))
    d = ((es - ms).T * (es - ms))[0] / 2 - ((ms.T * ms)[0] / 2 - (es.T * ms)[0])
    return all(is_zero(sp.diff(d, v)) for v in ms)


@B.verified("doc003-p2-gradient", line=84, marker=r"= \boldsymbol{\mu} - \mathbb{E}_p \left[ \boldsymbol{x} \right]",
            location="Problem 2, gradient", topics=("kl",), lines=(83,),
            claim=r"\nabla_{\boldsymbol\mu}\big(\tfrac12\boldsymbol\mu^T\boldsymbol\mu-\mathbb E_p[\mathbf x]^T\boldsymbol\mu\big)=\boldsymbol\mu-\mathbb E_p[\mathbf x]",
            method="SymPy (D=3): symbolic gradient")
def _():
    ms, es = sp.Matrix(sp.symbols("mu1:4", real=True)), sp.Matrix(sp.symbols("e1:4", real=True))
    f = (ms.T * ms)[0] / 2 - (es.T * ms)[0]
    return all(is_zero(sp.diff(f, ms[i]) - (ms[i] - es[i])) for i in range(3))


# ------------------------------------------------------ Problems 3 and 4
X_OBS = sp.Symbol("x", real=True)


def _log_joint_2d():
    """log p(z, x) = log N(z1|0,1) + log N(z2|0,1) + log N(x | theta^T z, 1)."""
    return sp.expand_log(sp.log(_npdf(z1, 0, 1) * _npdf(z2, 0, 1) * _npdf(X_OBS, th1 * z1 + th2 * z2, 1)), force=True)


@B.verified("doc003-p3-prior-factorises", line=96, marker=r"\mathcal{N}(z_1 \mid 0, 1) \cdot \mathcal{N}(z_2 \mid 0, 1)",
            location="Section 2, prior", topics=("linear-gaussian", "gaussian"),
            claim=r"\mathcal N(\mathbf z\mid\mathbf 0,I)=\mathcal N(z_1\mid0,1)\,\mathcal N(z_2\mid0,1)",
            method="SymPy: bivariate standard normal density equals the product")
def _():
    d = sp.Matrix([z1, z2])
    return same(sp.exp(-(d.T * d)[0] / 2) / (2 * sp.pi), _npdf(z1, 0, 1) * _npdf(z2, 0, 1))


@B.verified("doc003-p3-posterior-kernel", line=116, marker=r"(x - \theta_1 z_1 - \theta_2 z_2)^2", lines=(112, 114),
            location="Problem 3, posterior up to a constant", topics=("linear-gaussian",),
            claim=r"p(\mathbf z\mid x)\propto p(z_1)p(z_2)p(x\mid\mathbf z)\propto\exp\!\big(-\tfrac12(z_1^2+z_2^2+(x-\theta_1z_1-\theta_2z_2)^2)\big)",
            method="SymPy: log p(z, x) minus the exponent has zero gradient in z")
def _():
    d = _log_joint_2d() - (-(z1**2 + z2**2 + (X_OBS - th1 * z1 - th2 * z2) ** 2) / 2)
    return is_zero(sp.diff(d, z1)) and is_zero(sp.diff(d, z2))


@B.verified("doc003-p3-expansion", line=118, marker=r"2\theta_1 z_1\theta_2 z_2", location="Problem 3, expanded exponent",
            topics=("linear-gaussian",),
            claim=r"z_1^2+z_2^2+(x-\theta_1z_1-\theta_2z_2)^2=z_1^2+z_2^2+x^2+\theta_1^2z_1^2+\theta_2^2z_2^2-2x\theta_1z_1-2x\theta_2z_2+2\theta_1z_1\theta_2z_2",
            method="SymPy expand")
def _():
    lhs = z1**2 + z2**2 + (X_OBS - th1 * z1 - th2 * z2) ** 2
    rhs = z1**2 + z2**2 + X_OBS**2 + th1**2 * z1**2 + th2**2 * z2**2 - 2 * X_OBS * th1 * z1 - 2 * X_OBS * th2 * z2 + 2 * th1 * z1 * th2 * z2
    return same(lhs, rhs)


def _posterior_cross_coefficient():
    """d^2 log p(z|x) / dz1 dz2, derived from the model: -theta1*theta2."""
    return sp.simplify(sp.diff(_log_joint_2d(), z1, z2))


def _factorises(t1: float, t2: float) -> bool:
    """Exact test: the Gaussian posterior factorises iff its precision is diagonal."""
    c = _posterior_cross_coefficient().subs({th1: t1, th2: t2})
    return bool(c == 0)


def _p3_original() -> bool:
    # printed: for the model with any known theta, p(z|x) cannot be written as p(z1|x)p(z2|x)
    return all(not _factorises(t1, t2) for t1, t2 in [(1.3, -0.4), (0.7, 2.0), (1.0, 0.0), (0.0, 2.5)])


@B.erratum("doc003-p3-no-factorisation", line=120, marker=r"we are not able to write the posterior as the product", lines=(122,),
           location="Problem 3, conclusion", topics=("linear-gaussian", "mean-field"),
           claim=r"p(\mathbf z\mid x)\ne p(z_1\mid x)\,p(z_2\mid x)\ \text{(stated for the model, with no condition on }\boldsymbol\theta)",
           why="The cross term is 2θ1θ2 z1 z2; it vanishes when θ1 = 0 or θ2 = 0, and then the posterior does factorise. The conclusion needs θ1θ2 ≠ 0.",
           correction=lambda: (r"p(\mathbf z\mid x)\text{ factorises}\iff \frac{\partial^2\log p(\mathbf z\mid x)}{\partial z_1\partial z_2}="
                               + sp.latex(_posterior_cross_coefficient()) + r"=0\iff\theta_1\theta_2=0"),
           original=_p3_original,
           method="SymPy: the mixed second derivative of log p(z, x) is -θ1θ2; at θ=(1,0) or (0,2.5) the posterior precision is diagonal (refutes the unconditional claim); for θ1θ2≠0 it is not")
def _():
    c = _posterior_cross_coefficient()
    return same(c, -th1 * th2) and not _factorises(1.3, -0.4) and _factorises(1.0, 0.0)


def _e_q2(expr):
    Z2 = Normal("Z2", m2, sp.Symbol("s_2", positive=True))
    return sp.expand(Exp(sp.expand(expr).subs(z2, Z2)))


S2q = sp.Symbol("s_2", positive=True)


@B.verified("doc003-p4-optimal-factor-form", line=134, marker=r"q_1^*(z_1) \propto \exp\left(\mathbb{E}_{q_2(z_2)}\left[\log p(\boldsymbol{z}, x)\right]\right)",
            location="Problem 4, optimal mean-field factor", topics=("cavi", "mean-field"),
            claim=r"q_1^*(z_1)\propto\exp\big(\mathbb E_{q_2}[\log p(\mathbf z,x)]\big)",
            method="exact enumeration: on a random discrete joint the factor exp E_{-j}[log p] (normalised) beats 200 random competitors and equals a BFGS optimum of the ELBO",
            route="numeric")
def _():
    return cavi_optimal_factor_discrete(seed=3)


@B.verified("doc003-p4-expectation", line=138, marker=r"\theta_2^2 \mathbb{E}_{q_2}\left[z_2^2\right]", lines=(136, 140),
            location="Problem 4, expectation over q2", topics=("cavi", "linear-gaussian"),
            claim=r"\mathbb E_{q_2}[\dots]=z_1^2+\mathbb E[z_2^2]+x^2+\theta_1^2z_1^2+\theta_2^2\mathbb E[z_2^2]-2x\theta_1z_1-2x\theta_2\mathbb E[z_2]+2\theta_1z_1\theta_2\mathbb E[z_2]",
            method="sympy.stats: expectation over z2 ~ N(m2, s2^2) of the expanded exponent equals the printed form with E[z2]=m2, E[z2^2]=m2^2+s2^2")
def _():
    inner = z1**2 + z2**2 + X_OBS**2 + th1**2 * z1**2 + th2**2 * z2**2 - 2 * X_OBS * th1 * z1 - 2 * X_OBS * th2 * z2 + 2 * th1 * z1 * th2 * z2
    Ez2, Ez22 = m2, m2**2 + S2q**2
    printed = z1**2 + Ez22 + X_OBS**2 + th1**2 * z1**2 + th2**2 * Ez22 - 2 * X_OBS * th1 * z1 - 2 * X_OBS * th2 * Ez2 + 2 * th1 * z1 * th2 * Ez2
    return same(_e_q2(inner), printed)


@B.verified("doc003-p4-collect", line=144, marker=r"((1+\theta_1^2)z_1^2 - 2\theta_1 z_1(x - \theta_2 \mathbb{E}_{q_2}[z_2]))",
            lines=(147, 149), location="Problem 4, terms in z1 collected, eq. (*)", topics=("cavi", "linear-gaussian"),
            claim=r"q_1^*(z_1)\propto\exp\!\big(-\tfrac12\big((1+\theta_1^2)z_1^2-2\theta_1z_1(x-\theta_2\mathbb E_{q_2}[z_2])\big)\big)",
            method="SymPy: E_{q2}[log p(z,x)] minus the printed exponent does not depend on z1",
            note="The sheet then writes E_{q2}[z2] = μ2 although q2 was declared N(m2, s2²): a change of names, harmless.")
def _():
    d = _e_q2(_log_joint_2d()) - (-((1 + th1**2) * z1**2 - 2 * th1 * z1 * (X_OBS - th2 * m2)) / 2)
    return is_zero(sp.diff(d, z1))


def _unnormalised_kernel():
    return sp.exp(-(z1 - mu1) ** 2 / (2 * s1**2))


@B.erratum("doc003-p4-gaussian-kernel", line=156, marker=r"\mathcal{N}(z_1 \mid \mu_1, \sigma_1^2) = \exp\left(-\frac{1}{2} \frac{(z_1 - \mu_1)^2}{\sigma_1^2}\right)",
           lines=(158,), location="Problem 4, eq. (**)", topics=("gaussian",),
           claim=r"\mathcal N(z_1\mid\mu_1,\sigma_1^2)=\exp\!\big(-\tfrac12(z_1-\mu_1)^2/\sigma_1^2\big)",
           why="The normalising factor is missing: the printed right-hand side integrates to √(2πσ1²), not 1. (Only '∝' is true; the comparison of coefficients that follows is unaffected.)",
           correction=lambda: (r"\mathcal N(z_1\mid\mu_1,\sigma_1^2)=\frac{1}{\sqrt{2\pi\sigma_1^2}}\exp\!\big(-\tfrac12(z_1-\mu_1)^2/\sigma_1^2\big),\quad \int\exp\!\big(-\tfrac12(z_1-\mu_1)^2/\sigma_1^2\big)dz_1="
                               + sp.latex(sp.integrate(_unnormalised_kernel(), (z1, -sp.oo, sp.oo)))),
           original=lambda: bool(sp.simplify(sp.integrate(_unnormalised_kernel(), (z1, -sp.oo, sp.oo)) - 1) == 0),
           method="SymPy integrate: the printed kernel integrates to sqrt(2π)σ1 (≠ 1); with the factor it integrates to 1 and its expansion (**) holds")
def _():
    dens = _unnormalised_kernel() / sp.sqrt(2 * sp.pi * s1**2)
    expansion_ok = is_zero(sp.expand(-(z1 - mu1) ** 2 / (2 * s1**2)) - (-(z1**2 / s1**2 - 2 * mu1 * z1 / s1**2 + mu1**2 / s1**2) / 2))
    return same(sp.integrate(dens, (z1, -sp.oo, sp.oo)), 1) and expansion_ok


def _complete_square(expo, var):
    """Read N(mean, var) off an exponent quadratic in ``var``: precision = -2a, mean = b/precision."""
    poly = sp.Poly(sp.expand(expo), var)
    a, b = poly.coeff_monomial(var**2), poly.coeff_monomial(var)
    prec = sp.simplify(-2 * a)
    return sp.simplify(b / prec), sp.simplify(1 / prec)


def _q1_update():
    return _complete_square(_e_q2(_log_joint_2d()), z1)


@B.verified("doc003-p4-q1-variance", line=164, marker=r"\sigma_1^2 = \frac{1}{1 + \theta_1^2}", lines=(162, 152),
            location="Problem 4, variance of q1*", topics=("cavi", "linear-gaussian"),
            claim=r"q_1^*\ \text{is Gaussian with}\ \sigma_1^2=\frac1{1+\theta_1^2}",
            method="SymPy: E_{q2}[log p(z,x)] is quadratic in z1; completing the square gives the variance")
def _():
    _, var = _q1_update()
    return same(var, 1 / (1 + th1**2))


@B.verified("doc003-p4-q1-mean", line=170, marker=r"\mu_1 = \frac{\theta_1(x-\theta_2\mu_2)}{1+\theta_1^2}", lines=(168,),
            location="Problem 4, mean of q1*", topics=("cavi", "linear-gaussian"),
            claim=r"\mu_1=\frac{\theta_1(x-\theta_2\mu_2)}{1+\theta_1^2}",
            method="SymPy: completing the square in z1 (with E[z2] = m2 playing the role of μ2)")
def _():
    mean, _ = _q1_update()
    return same(mean, th1 * (X_OBS - th2 * m2) / (1 + th1**2))


@B.verified("doc003-p4-q2-update", line=174, marker=r"\mu_2 = \frac{\theta_2(x - \theta_1 \mu_1)}{1 + \theta_2^2}", lines=(175,),
            location="Problem 4, update of q2", topics=("cavi", "linear-gaussian"),
            claim=r"\mu_2=\frac{\theta_2(x-\theta_1\mu_1)}{1+\theta_2^2},\quad\sigma_2^2=\frac1{1+\theta_2^2}",
            method="SymPy: expectation over z1 ~ N(m1, s1^2) then completing the square in z2")
def _():
    Z1 = Normal("Z1", m1, s1)
    expo = sp.expand(Exp(sp.expand(_log_joint_2d()).subs(z1, Z1)))
    mean, var = _complete_square(expo, z2)
    return same(mean, th2 * (X_OBS - th1 * m1) / (1 + th2**2)) and same(var, 1 / (1 + th2**2))


@B.verified("doc003-p4-cannot-match", line=185, marker=r"is not able to match it", lines=(177, 179, 181, 183),
            location="Problem 4, conclusion", topics=("mean-field", "linear-gaussian"),
            claim=r"q(z_1)q(z_2)\ \text{cannot equal}\ p(\mathbf z\mid x)",
            method="numeric: iterate the two updates to their fixed point; KL(q||p) computed in closed form from the exact Gaussian posterior is > 0.01 for θ=(1.3,-0.8) and 0 (1e-12) for θ=(1.3,0)",
            route="numeric", note="Holds exactly when θ1θ2 ≠ 0 (see doc003-p3-no-factorisation). The mismatch is in the covariance only: the fixed point has the exact posterior mean (checked, 1e-12) and smaller marginal variances.")
def _():
    def gap(t, xo=0.9):
        t = np.asarray(t, float)
        prec = np.eye(2) + np.outer(t, t)
        cov = np.linalg.inv(prec)
        mean = cov @ t * xo
        m = np.zeros(2)
        for _ in range(500):
            m[0] = t[0] * (xo - t[1] * m[1]) / (1 + t[0] ** 2)
            m[1] = t[1] * (xo - t[0] * m[0]) / (1 + t[1] ** 2)
        v = 1 / (1 + t**2)
        # KL(N(m, diag v) || N(mean, cov))
        d = mean - m
        kl = 0.5 * (np.trace(prec @ np.diag(v)) + d @ prec @ d - 2 + np.log(np.linalg.det(cov) / np.prod(v)))
        return kl, np.abs(d).max()
    (kl1, dmean1), (kl0, _) = gap([1.3, -0.8]), gap([1.3, 0.0])
    return kl1 > 1e-2 and abs(kl0) < 1e-12 and dmean1 < 1e-12
