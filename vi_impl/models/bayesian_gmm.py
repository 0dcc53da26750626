r"""The full Bayesian Gaussian mixture (Bishop 2006, section 10.2), hand-coded and vectorised.

Model, k = 1..K, n = 1..N, x_n in R^D::

    pi                 ~ Dir(alpha0)
    (mu_k, Lambda_k)   ~ N(mu_k | m0, (beta0 Lambda_k)^-1) W(Lambda_k | W0, nu0)
    z_n | pi           ~ Cat(pi)
    x_n | z_n, mu, Lam ~ N(mu_{z_n}, Lambda_{z_n}^-1)

Mean-field family q(pi) prod_k q(mu_k, Lambda_k) prod_n q(z_n) with q(pi) = Dir(alpha),
q(mu_k, Lambda_k) = N(m_k, (beta_k Lambda_k)^-1) W(W_k, nu_k), q(z_n) = Cat(r_n).

Sufficient statistics of the responsibilities: N_k = sum_n r_nk, Sx_k = sum_n r_nk x_n,
Sxx_k = sum_n r_nk x_n x_n^T. The global updates (Bishop 10.58, 10.60-10.63) written in them::

    alpha_k = alpha0_k + N_k          beta_k = beta0 + N_k          nu_k = nu0 + N_k
    beta_k m_k = beta0 m0 + Sx_k
    W_k^-1 + beta_k m_k m_k^T = W0^-1 + beta0 m0 m0^T + Sxx_k

(each line is "prior natural parameter + statistic", which is what the generic stochastic loop
:mod:`vi_impl.svi` needs). The local update (10.46-10.49, 10.64-10.66)::

    log rho_nk = E[log pi_k] + 1/2 E[log|Lambda_k|] - D/2 log 2pi
                 - 1/2 (D / beta_k + nu_k (x_n - m_k)^T W_k (x_n - m_k)),   r_n = softmax(log rho_n)
    E[log pi_k] = psi(alpha_k) - psi(sum_j alpha_j)
    E[log|Lambda_k|] = sum_{i=1..D} psi((nu_k + 1 - i)/2) + D log 2 + log|W_k|

The ELBO (10.70-10.77) is computed with every constant, so it is a lower bound on log p(X);
log B(W, nu) = -nu/2 log|W| - nu D/2 log 2 - log Gamma_D(nu/2) with the multivariate gamma
function (:func:`scipy.special.multigammaln`).

The data are centred internally (the model is translation-equivariant when m0 moves with the
data), so the quadratic forms can be expanded into matrix products, x^T W x - 2 x^T W m + m^T W m,
without losing digits; the fit loop has no Python loop over N or K (only the k-means++
seeding loops over K).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import digamma, gammaln, logsumexp, multigammaln

from vi_impl.result import DEFAULT_TOL, FitResult, elbo_converged
from vi_impl.validation import (
    as_float_array,
    check_int,
    check_positive_array,
    check_positive_scalar,
    check_probability_rows,
    check_rng,
    check_shape,
    check_tol,
)

__all__ = [
    "Prior",
    "Posterior",
    "make_prior",
    "suff_stats",
    "update_global",
    "responsibilities",
    "elbo",
    "elbo_parts",
    "predictive_logpdf",
    "log_evidence_k1",
    "fit",
    "svi_parts",
    "fit_svi",
]

_LOG_2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True)
class Prior:
    """alpha0 (K,), m0 (D,), beta0 > 0, W0 (D, D) symmetric positive definite, nu0 > D - 1."""

    alpha0: np.ndarray
    m0: np.ndarray
    beta0: float
    W0: np.ndarray
    nu0: float

    @property
    def K(self) -> int:
        return self.alpha0.shape[0]

    @property
    def D(self) -> int:
        return self.m0.shape[0]


@dataclass(frozen=True)
class Posterior:
    """q(pi) = Dir(alpha); q(mu_k, Lambda_k) = N(m_k, (beta_k Lambda_k)^-1) W(W_k, nu_k)."""

    alpha: np.ndarray
    beta: np.ndarray
    m: np.ndarray
    W: np.ndarray
    nu: np.ndarray


# --------------------------------------------------------------------------- validation
def _check_X(X, D=None, name="X") -> np.ndarray:
    X = as_float_array(name, X, ndim=2, min_shape=(1, 1))
    if D is not None:
        check_shape(name, X, (None, D), meaning=f"(N, D) with D = {D}")
    return X


def _check_spd(name, A, D) -> np.ndarray:
    A = as_float_array(name, A, ndim=2)
    check_shape(name, A, (D, D), meaning="(D, D)")
    if not np.allclose(A, A.T, rtol=1e-10, atol=0.0):
        raise ValueError(f"{name} must be symmetric")
    try:
        np.linalg.cholesky(A)
    except np.linalg.LinAlgError:
        raise ValueError(f"{name} must be positive definite") from None
    return 0.5 * (A + A.T)


def make_prior(K, D, *, alpha0=None, m0=None, beta0=1.0, W0=None, nu0=None) -> Prior:
    """A validated :class:`Prior`. Defaults: alpha0 = 1/K for every k, m0 = 0, beta0 = 1,
    W0 = I, nu0 = D. ``alpha0`` may be a scalar (the same for every k) or a (K,) vector."""
    K = check_int("K", K, minimum=1)
    D = check_int("D", D, minimum=1)
    if alpha0 is None:
        alpha0 = np.full(K, 1.0 / K)
    elif np.ndim(alpha0) == 0:
        alpha0 = np.full(K, check_positive_scalar("alpha0", alpha0))
    else:
        alpha0 = check_positive_array("alpha0", as_float_array("alpha0", alpha0, ndim=1))
        check_shape("alpha0", alpha0, (K,), meaning="(K,)")
    m0 = np.zeros(D) if m0 is None else as_float_array("m0", m0, ndim=1)
    check_shape("m0", m0, (D,), meaning="(D,)")
    beta0 = check_positive_scalar("beta0", beta0)
    W0 = np.eye(D) if W0 is None else _check_spd("W0", W0, D)
    nu0 = float(D) if nu0 is None else check_positive_scalar("nu0", nu0)
    if not nu0 > D - 1:
        raise ValueError(f"nu0 must be > D - 1 = {D - 1}, got {nu0!r}")
    return Prior(alpha0.copy(), m0.copy(), beta0, W0.copy(), nu0)


def _check_prior(prior, D=None) -> Prior:
    """A :class:`Prior` whose fields pass :func:`make_prior`'s checks (errors name ``prior``)."""
    if not isinstance(prior, Prior):
        raise TypeError(f"prior must be a bayesian_gmm.Prior (see make_prior), got "
                        f"{type(prior).__name__}")
    try:
        if np.ndim(prior.alpha0) != 1 or np.ndim(prior.m0) != 1:
            raise ValueError("alpha0 and m0 must be vectors")
        make_prior(len(prior.alpha0), len(prior.m0), alpha0=prior.alpha0, m0=prior.m0,
                   beta0=prior.beta0, W0=prior.W0, nu0=prior.nu0)
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"prior.{exc}") from None
    if D is not None and prior.D != D:
        raise ValueError(f"prior has D = {prior.D} but X has {D} columns")
    return prior


def _check_post(post, K=None, D=None, source="") -> Posterior:
    """A :class:`Posterior` with finite fields of matching shapes, alpha, beta > 0,
    nu > D - 1 and symmetric positive definite W (errors name ``post``); K, D from post.m
    when not given, else from ``source`` (named in the message: "X", "prior")."""
    if not isinstance(post, Posterior):
        raise TypeError(f"post must be a bayesian_gmm.Posterior, got {type(post).__name__}")
    try:
        m = as_float_array("m", post.m, ndim=2, min_shape=(1, 1))
        K = m.shape[0] if K is None else K
        D = m.shape[1] if D is None else D
        check_shape("m", m, (K, D), meaning=f"(K, D){' as in ' + source if source else ''}")
        W = as_float_array("W", post.W, ndim=3)
        check_shape("W", W, (K, D, D), meaning="(K, D, D)")
        for name in ("alpha", "beta", "nu"):
            v = check_positive_array(name, as_float_array(name, getattr(post, name), ndim=1))
            check_shape(name, v, (K,), meaning="(K,)")
        if not (np.asarray(post.nu) > D - 1).all():
            raise ValueError(f"nu must be > D - 1 = {D - 1}")
        if not np.allclose(W, np.swapaxes(W, 1, 2), rtol=1e-10, atol=0.0):
            raise ValueError("W must hold symmetric matrices")
        try:
            np.linalg.cholesky(W)
        except np.linalg.LinAlgError:
            raise ValueError("W must hold positive definite matrices") from None
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"post.{exc}") from None
    return post


def _check_r(r, N, K, name="r") -> np.ndarray:
    r = as_float_array(name, r, ndim=2)
    check_shape(name, r, (N, K), meaning="(N, K): one row of responsibilities per row of X")
    return check_probability_rows(name, r)


# --------------------------------------------------------------------------- pieces
def _logdet_chol(L):
    """log|A| from the Cholesky factors L (..., D, D) of A."""
    return 2.0 * np.log(np.diagonal(L, axis1=-2, axis2=-1)).sum(axis=-1)


def _e_log_det(nu, logdetW, D):
    """E[log|Lambda|] under W(W, nu): sum_i psi((nu + 1 - i)/2) + D log 2 + log|W|."""
    i = np.arange(1, D + 1)
    return digamma((nu[:, None] + 1.0 - i) / 2.0).sum(axis=1) + D * math.log(2.0) + logdetW


def _log_B(logdetW, nu, D):
    """log B(W, nu) = -nu/2 log|W| - nu D/2 log 2 - log Gamma_D(nu/2) (Bishop B.79)."""
    nu = np.asarray(nu, dtype=float)
    return -0.5 * nu * logdetW - 0.5 * nu * D * math.log(2.0) - multigammaln(nu / 2.0, D)


def _log_C(alpha):
    """log C(alpha) = log Gamma(sum alpha) - sum log Gamma(alpha) (Dirichlet normaliser)."""
    return gammaln(alpha.sum()) - gammaln(alpha).sum()


def _shifted(prior: Prior, shift) -> Prior:
    return Prior(prior.alpha0, prior.m0 - shift, prior.beta0, prior.W0, prior.nu0)


def _stats(Xc, r):
    """N_k, Sx_k, Sxx_k of (centred) data with responsibilities r; Sxx by one BLAS product."""
    N, D = Xc.shape
    XX = (Xc[:, :, None] * Xc[:, None, :]).reshape(N, D * D)
    return r.sum(axis=0), r.T @ Xc, (r.T @ XX).reshape(-1, D, D)


def suff_stats(X, r):
    """(N_k, Sx_k, Sxx_k): (K,), (K, D), (K, D, D) sums of r_nk, r_nk x_n, r_nk x_n x_n^T."""
    X = _check_X(X)
    r = _check_r(r, X.shape[0], None)
    return _stats(X, r)


def _update(prior: Prior, Nk, Sx, Sxx) -> Posterior:
    alpha = prior.alpha0 + Nk
    beta = prior.beta0 + Nk
    nu = prior.nu0 + Nk
    bm = prior.beta0 * prior.m0 + Sx
    m = bm / beta[:, None]
    W0inv = np.linalg.inv(prior.W0)
    Winv = (W0inv + prior.beta0 * np.outer(prior.m0, prior.m0) + Sxx
            - bm[:, :, None] * m[:, None, :])
    Winv = 0.5 * (Winv + np.swapaxes(Winv, 1, 2))
    W = np.linalg.inv(Winv)
    return Posterior(alpha, beta, m, 0.5 * (W + np.swapaxes(W, 1, 2)), nu)


def update_global(prior, Nk, Sx, Sxx) -> Posterior:
    """q(pi), q(mu_k, Lambda_k) from the statistics (Bishop 10.58, 10.60-10.63)."""
    prior = _check_prior(prior)
    K, D = prior.K, prior.D
    Nk = as_float_array("Nk", Nk, ndim=1)
    check_shape("Nk", Nk, (K,), meaning="(K,) with K from the prior")
    if (Nk < 0).any():
        raise ValueError("Nk must be >= 0")
    Sx = as_float_array("Sx", Sx, ndim=2)
    check_shape("Sx", Sx, (K, D), meaning="(K, D) with K, D from the prior")
    Sxx = as_float_array("Sxx", Sxx, ndim=3)
    check_shape("Sxx", Sxx, (K, D, D), meaning="(K, D, D) with K, D from the prior")
    return _update(prior, Nk, Sx, Sxx)


def _expectations(post: Posterior):
    """E[log pi] (K,), E[log|Lambda|] (K,), log|W| (K,)."""
    D = post.m.shape[1]
    logdetW = _logdet_chol(np.linalg.cholesky(post.W))
    e_log_pi = digamma(post.alpha) - digamma(post.alpha.sum())
    return e_log_pi, _e_log_det(post.nu, logdetW, D), logdetW


def _log_rho(Xc, post: Posterior, e_log_pi, e_log_det):
    """log rho (N, K) by matrix products: quad_nk = x^T W_k x - 2 x^T W_k m_k + m_k^T W_k m_k."""
    N, D = Xc.shape
    K = post.m.shape[0]
    Wm = np.einsum("kde,ke->kd", post.W, post.m)
    XX = (Xc[:, :, None] * Xc[:, None, :]).reshape(N, D * D)
    quad = XX @ post.W.reshape(K, D * D).T - 2.0 * (Xc @ Wm.T) + (Wm * post.m).sum(axis=1)
    np.maximum(quad, 0.0, out=quad)
    return (e_log_pi + 0.5 * e_log_det - 0.5 * D * _LOG_2PI - 0.5 * D / post.beta
            - 0.5 * post.nu * quad)


def responsibilities(X, post) -> np.ndarray:
    """Optimal q(z_n) given q(pi), q(mu, Lambda): r_n = softmax(log rho_n), (N, K)."""
    X = _check_X(X)
    N, D = X.shape
    post = _check_post(post, None, D, source="X")
    c = X.mean(axis=0)
    shifted = Posterior(post.alpha, post.beta, post.m - c, post.W, post.nu)
    log_rho = _log_rho(X - c, shifted, *_expectations(post)[:2])
    return np.exp(log_rho - logsumexp(log_rho, axis=1, keepdims=True))


def _elbo_parts(prior: Prior, post: Posterior, Nk, Sx, Sxx, r_log_r):
    """The seven expectations of Bishop 10.71-10.77 from the statistics (centred consistently)."""
    K, D = post.m.shape
    e_log_pi, e_log_det, logdetW = _expectations(post)
    beta, nu, m, W = post.beta, post.nu, post.m, post.W
    # sum_n r_nk (x_n - m_k)^T W_k (x_n - m_k) = tr(W Sxx) - 2 m^T W Sx + N_k m^T W m
    Wm = np.einsum("kde,ke->kd", W, m)
    quad = (np.einsum("kde,kde->k", W, Sxx) - 2.0 * (Wm * Sx).sum(axis=1)
            + Nk * (Wm * m).sum(axis=1))
    log_lik = 0.5 * (Nk * (e_log_det - D / beta - D * _LOG_2PI) - nu * quad).sum()
    log_p_z = Nk @ e_log_pi
    log_p_pi = _log_C(prior.alpha0) + (prior.alpha0 - 1.0) @ e_log_pi
    d0 = m - prior.m0
    logdetW0 = _logdet_chol(np.linalg.cholesky(prior.W0))
    W0inv = np.linalg.inv(prior.W0)
    log_p_mu_lam = (0.5 * (D * math.log(prior.beta0 / (2.0 * math.pi)) + e_log_det
                           - D * prior.beta0 / beta
                           - prior.beta0 * nu * np.einsum("kd,kde,ke->k", d0, W, d0)).sum()
                    + K * _log_B(logdetW0, prior.nu0, D)
                    + 0.5 * (prior.nu0 - D - 1.0) * e_log_det.sum()
                    - 0.5 * (nu * np.einsum("de,ked->k", W0inv, W)).sum())
    log_q_z = r_log_r
    log_q_pi = (post.alpha - 1.0) @ e_log_pi + _log_C(post.alpha)
    entropy_W = -_log_B(logdetW, nu, D) - 0.5 * (nu - D - 1.0) * e_log_det + 0.5 * nu * D
    log_q_mu_lam = (0.5 * e_log_det + 0.5 * D * np.log(beta / (2.0 * math.pi)) - 0.5 * D
                    - entropy_W).sum()
    return dict(log_lik=float(log_lik), log_p_z=float(log_p_z), log_p_pi=float(log_p_pi),
                log_p_mu_lam=float(log_p_mu_lam), log_q_z=float(log_q_z),
                log_q_pi=float(log_q_pi), log_q_mu_lam=float(log_q_mu_lam))


def _total(parts):
    return (parts["log_lik"] + parts["log_p_z"] + parts["log_p_pi"] + parts["log_p_mu_lam"]
            - parts["log_q_z"] - parts["log_q_pi"] - parts["log_q_mu_lam"])


def elbo_parts(X, prior, post, r) -> dict:
    """E[log p(X|Z,mu,Lam)], E[log p(Z|pi)], E[log p(pi)], E[log p(mu,Lam)], E[log q(Z)],
    E[log q(pi)], E[log q(mu,Lam)] (Bishop 10.71-10.77), every constant included."""
    X = _check_X(X)
    N, D = X.shape
    prior = _check_prior(prior, D)
    post = _check_post(post, prior.K, D, source="prior and X")
    r = _check_r(r, N, prior.K)
    c = X.mean(axis=0)
    Nk, Sx, Sxx = _stats(X - c, r)
    shifted = Posterior(post.alpha, post.beta, post.m - c, post.W, post.nu)
    r_log_r = float(np.sum(r * np.log(np.where(r > 0, r, 1.0))))
    return _elbo_parts(_shifted(prior, c), shifted, Nk, Sx, Sxx, r_log_r)


def elbo(X, prior, post, r) -> float:
    """The full ELBO (a lower bound on log p(X)): sum of :func:`elbo_parts` with signs."""
    return _total(elbo_parts(X, prior, post, r))


# --------------------------------------------------------------------------- predictive, evidence
def predictive_logpdf(Xnew, post) -> np.ndarray:
    """log p(x | X) under q: a mixture of Student-t's (Bishop 10.81-10.82),
    sum_k alpha_k / sum(alpha) St(x | m_k, L_k, nu_k + 1 - D), with precision
    L_k = (nu_k + 1 - D) beta_k / (1 + beta_k) W_k. Returns (M,) log densities."""
    post = _check_post(post)
    D = post.m.shape[1]
    Xnew = _check_X(Xnew, D, name="Xnew")
    dof = post.nu + 1.0 - D
    L = (dof * post.beta / (1.0 + post.beta))[:, None, None] * post.W
    C = np.linalg.cholesky(L)                                   # L_k = C C^T
    y = np.einsum("nkd,kde->nke", Xnew[:, None, :] - post.m[None], C)
    quad = (y ** 2).sum(axis=2)                                 # (M, K)
    log_t = (gammaln((dof + D) / 2.0) - gammaln(dof / 2.0) - 0.5 * D * np.log(dof * math.pi)
             + 0.5 * _logdet_chol(C)
             - 0.5 * (dof + D) * np.log1p(quad / dof))
    log_w = np.log(post.alpha) - math.log(post.alpha.sum())
    return logsumexp(log_t + log_w, axis=1)


def log_evidence_k1(X, prior) -> float:
    """log p(X) for K = 1, where the model is conjugate (Normal-Wishart marginal likelihood):
    -ND/2 log pi + log Gamma_D(nu_N/2) - log Gamma_D(nu0/2) + nu_N/2 log|W_N| - nu0/2 log|W0|
    + D/2 log(beta0/beta_N)."""
    X = _check_X(X)
    N, D = X.shape
    prior = _check_prior(prior, D)
    c = X.mean(axis=0)
    post = _update(_shifted(prior, c), *_stats(X - c, np.ones((N, 1))))
    logdetWN = _logdet_chol(np.linalg.cholesky(post.W[0]))
    logdetW0 = _logdet_chol(np.linalg.cholesky(prior.W0))
    return float(-0.5 * N * D * math.log(math.pi) + multigammaln(post.nu[0] / 2.0, D)
                 - multigammaln(prior.nu0 / 2.0, D) + 0.5 * post.nu[0] * logdetWN
                 - 0.5 * prior.nu0 * logdetW0 + 0.5 * D * math.log(prior.beta0 / post.beta[0]))


# --------------------------------------------------------------------------- fit
def _default_prior(X, K) -> Prior:
    """alpha0 = 1/K, m0 = data mean, beta0 = 1, W0 = (data covariance)^-1 / D (plus 1e-6 of
    the mean variance on the diagonal; the identity for data with no spread), nu0 = D."""
    N, D = X.shape
    cov = np.atleast_2d(np.cov(X.T)) if N > 1 else np.zeros((D, D))
    return _moment_prior(X.mean(axis=0), cov, K)


def _moment_prior(mean, cov, K) -> Prior:
    """:func:`_default_prior` from the data mean (D,) and covariance (D, D) (for chunked data)."""
    D = len(mean)
    scale = np.trace(cov) / D
    if scale == 0.0:
        cov = np.eye(D)
    elif not 1e-80 < scale < 1e80:
        raise ValueError(f"X has a variance of order {scale:.1e}: rescale X or pass a prior")
    else:
        cov = cov + 1e-6 * scale * np.eye(D)
    return make_prior(K, D, m0=mean, W0=np.linalg.inv(cov) / D)


def _seed_r(Xc, K, rng):
    """k-means++ centres, then hard assignment to the nearest one, as initial responsibilities."""
    return _nearest(Xc, _seed_centres(Xc, K, rng))


def _seed_centres(Xc, K, rng):
    """K centres (K, D) drawn from the rows of Xc by k-means++."""
    N = Xc.shape[0]
    centres = [Xc[rng.integers(N)]]
    d2 = ((Xc - centres[0]) ** 2).sum(axis=1)
    for _ in range(1, K):
        p = d2 / d2.sum() if d2.sum() > 0 else np.full(N, 1.0 / N)
        centres.append(Xc[rng.choice(N, p=p)])
        d2 = np.minimum(d2, ((Xc - centres[-1]) ** 2).sum(axis=1))
    return np.array(centres)


def _nearest(Xc, C):
    """Hard responsibilities (N, K): each row of Xc assigned to its nearest centre in C."""
    N, K = Xc.shape[0], C.shape[0]
    dist = (Xc ** 2).sum(1)[:, None] - 2.0 * Xc @ C.T + (C ** 2).sum(1)
    r = np.zeros((N, K))
    r[np.arange(N), dist.argmin(axis=1)] = 1.0
    return r


def _design(Xc):
    """Z^T (P, N): the rows x_d x_e (d <= e), x_d and 1, so that log rho^T = coef @ Z^T and
    the statistics are r^T Z, each one matrix product (P = D(D+1)/2 + D + 1)."""
    D = Xc.shape[1]
    iu = np.triu_indices(D)
    Zt = np.empty((len(iu[0]) + D + 1, Xc.shape[0]))
    Zt[:len(iu[0])] = Xc.T[iu[0]] * Xc.T[iu[1]]
    Zt[len(iu[0]):-1] = Xc.T
    Zt[-1] = 1.0
    return Zt, iu


def _coef(post, iu):
    """(K, P) coefficients of log rho on the design rows (see :func:`_design`)."""
    K, D = post.m.shape
    e_log_pi, e_log_det, _ = _expectations(post)
    Wm = np.einsum("kde,ke->kd", post.W, post.m)
    quad_w = post.W[:, iu[0], iu[1]] * np.where(iu[0] == iu[1], 1.0, 2.0)
    const = (e_log_pi + 0.5 * e_log_det - 0.5 * D * _LOG_2PI - 0.5 * D / post.beta
             - 0.5 * post.nu * (Wm * post.m).sum(axis=1))
    return np.hstack([-0.5 * post.nu[:, None] * quad_w, post.nu[:, None] * Wm, const[:, None]])


def _unpack_stats(G, iu, D):
    n_pairs = len(iu[0])
    Sxx = np.empty((G.shape[0], D, D))
    Sxx[:, iu[0], iu[1]] = G[:, :n_pairs]
    Sxx[:, iu[1], iu[0]] = G[:, :n_pairs]
    return G[:, -1].copy(), G[:, n_pairs:-1].copy(), Sxx


def _local_pass(coef, Zt):
    """The local update on the points of Z^T (P, n): log rho^T (K, n) = coef @ Z^T,
    normalised in place (column max, exp, column sum) to r^T; returns (r^T, the statistics
    G = r^T Z (K, P), sum_n logsumexp_n log rho_n). Sums over points: a chunked fit adds
    G and the last term over its chunks."""
    A = coef @ Zt                                                # (K, n) log rho
    amax = A.max(axis=0)
    A -= amax
    np.exp(A, out=A)
    s = A.sum(axis=0)
    A /= s                                                       # r^T
    return A, A @ Zt.T, float(amax.sum() + np.log(s).sum())


def _cavi(Xc, prior, r0, max_iter, tol):
    """From responsibilities r0: global update, then (local, global, ELBO) per iteration.

    Fused route: log rho^T (K, N) = coef @ Z^T; normalised in place (column max, exp, column
    sum); statistics G = r^T Z; and sum r log r = sum_k G_k . coef_k - sum_n logsumexp_n,
    because log rho is linear in the design rows. No (N, K) pass beyond those four."""
    D = Xc.shape[1]
    Zt, iu = _design(Xc)
    post = _update(prior, *_unpack_stats(r0.T @ Zt.T, iu, D))
    trace = []
    converged = False
    for _ in range(max_iter):
        coef = _coef(post, iu)
        A, G, lse = _local_pass(coef, Zt)
        r_log_r = float((G * coef).sum() - lse)
        Nk, Sx, Sxx = _unpack_stats(G, iu, D)
        post = _update(prior, Nk, Sx, Sxx)
        trace.append(_total(_elbo_parts(prior, post, Nk, Sx, Sxx, r_log_r)))
        if elbo_converged(trace, tol):
            converged = True
            break
    return post, A.T, np.array(trace), converged


def fit(X, K, *, prior=None, max_iter: int = 500, tol: float = DEFAULT_TOL, n_init: int = 1,
        seed=0, init=None) -> FitResult:
    """CAVI for the full Bayesian mixture; the restart with the highest final ELBO is returned.

    ``prior``: a :class:`Prior` (default :func:`make_prior` with m0 the data mean, W0 the
    inverse of the data covariance divided by D, nu0 = D). ``init``: (N, K) initial
    responsibilities (every restart then starts there); otherwise k-means++ hard assignments
    drawn from ``seed``. Order: global update from r0, then per iteration local update, global
    update, full ELBO. Params: alpha, beta, m, W, nu, r; extra: ``posterior``, ``prior``.
    """
    X = _check_X(X)
    N, D = X.shape
    K = check_int("K", K, minimum=1)
    max_iter = check_int("max_iter", max_iter, minimum=1)
    tol = check_tol(tol)
    n_init = check_int("n_init", n_init, minimum=1)
    rng = check_rng("seed", seed)
    if prior is None:
        prior = _default_prior(X, K)
    prior = _check_prior(prior, D)
    if prior.K != K:
        raise ValueError(f"prior has K = {prior.K} components but K = {K}")
    if init is not None:
        init = _check_r(init, N, K, name="init")
    c = X.mean(axis=0)
    Xc = X - c
    pc = _shifted(prior, c)
    best, finals = None, []
    for _ in range(n_init):
        r0 = init if init is not None else _seed_r(Xc, K, rng)
        run = _cavi(Xc, pc, r0, max_iter, tol)
        finals.append(run[2][-1])
        if best is None or run[2][-1] > best[2][-1]:
            best = run
    post, r, trace, converged = best
    params = dict(alpha=post.alpha, beta=post.beta, m=post.m + c, W=post.W, nu=post.nu, r=r)
    return FitResult(params, trace, len(trace), converged,
                     dict(final_elbos=np.array(finals), prior=prior,
                          posterior=Posterior(post.alpha, post.beta, post.m + c, post.W,
                                              post.nu)))


# --------------------------------------------------------------------------- stochastic VI
def svi_parts(X, prior):
    """(prior_natural, local_step, batch_stats, to_posterior) for :func:`vi_impl.svi.svi`.

    Global parameter (affine in the natural parameters of q(pi), q(mu_k, Lambda_k)):
    alpha, beta, bm = beta m, C = W^-1 + beta m m^T, nu; its prior value is alpha0, beta0,
    beta0 m0, W0^-1 + beta0 m0 m0^T, nu0 and a minibatch adds N_k, N_k, Sx_k, Sxx_k, N_k
    (module docstring). The local step is the optimal q(z_n) of the minibatch's points.
    Data are centred internally; ``to_posterior(lam)`` returns a :class:`Posterior` in the
    original coordinates."""
    X = _check_X(X)
    N, D = X.shape
    prior = _check_prior(prior, D)
    K = prior.K
    c = X.mean(axis=0)
    Xc = X - c
    pc = _shifted(prior, c)
    prior_nat = dict(alpha=pc.alpha0.copy(), beta=np.full(K, pc.beta0),
                     bm=np.tile(pc.beta0 * pc.m0, (K, 1)),
                     C=np.tile(np.linalg.inv(pc.W0) + pc.beta0 * np.outer(pc.m0, pc.m0),
                               (K, 1, 1)),
                     nu=np.full(K, pc.nu0))

    def centred_posterior(lam):
        m = lam["bm"] / lam["beta"][:, None]
        Winv = lam["C"] - lam["beta"][:, None, None] * m[:, :, None] * m[:, None, :]
        W = np.linalg.inv(0.5 * (Winv + np.swapaxes(Winv, 1, 2)))
        return Posterior(lam["alpha"], lam["beta"], m, 0.5 * (W + np.swapaxes(W, 1, 2)),
                         lam["nu"])

    def local_step(idx, lam):
        post = centred_posterior(lam)
        log_rho = _log_rho(Xc[idx], post, *_expectations(post)[:2])
        return np.exp(log_rho - logsumexp(log_rho, axis=1, keepdims=True))

    def batch_stats(idx, r):
        Nk, Sx, Sxx = _stats(Xc[idx], r)
        return dict(alpha=Nk, beta=Nk, bm=Sx, C=Sxx, nu=Nk)

    def to_posterior(lam):
        post = centred_posterior(lam)
        return Posterior(post.alpha, post.beta, post.m + c, post.W, post.nu)

    return prior_nat, local_step, batch_stats, to_posterior


def fit_svi(X, K, *, prior=None, batch_size=100, n_steps=500, tau0=1.0, kappa=0.7, seed=0,
            init=None, monitor_every=0) -> FitResult:
    """Stochastic VI for the full Bayesian mixture through the generic :func:`vi_impl.svi.svi`.

    Start: the global update from ``init`` (N, K) responsibilities (default k-means++ hard
    assignments). With ``monitor_every`` > 0 the full ELBO (with the optimal q(z) of all
    points) is recorded every that many steps. Params: the final :class:`Posterior` fields."""
    from vi_impl.svi import svi

    X = _check_X(X)
    N, D = X.shape
    K = check_int("K", K)
    rng = check_rng("seed", seed)
    if prior is None:
        prior = _default_prior(X, K)
    prior = _check_prior(prior, D)
    prior_nat, local_step, batch_stats, to_posterior = svi_parts(X, prior)
    c = X.mean(axis=0)
    r0 = _seed_r(X - c, K, rng) if init is None else _check_r(init, N, K, name="init")
    all_idx = np.arange(N)
    stats = batch_stats(all_idx, r0)
    lam0 = {key: prior_nat[key] + stats[key] for key in prior_nat}

    def monitor(lam):
        post = to_posterior(lam)
        r = responsibilities(X, post)
        return elbo(X, prior, post, r)

    res = svi(prior_nat, local_step, batch_stats, N, init=lam0, batch_size=batch_size,
              n_steps=n_steps, tau0=tau0, kappa=kappa, seed=rng,
              monitor=monitor if monitor_every else None, monitor_every=monitor_every)
    post = to_posterior(res.params)
    return FitResult(dict(alpha=post.alpha, beta=post.beta, m=post.m, W=post.W, nu=post.nu),
                     res.elbo, res.n_iter, False, dict(res.extra, posterior=post, prior=prior))
