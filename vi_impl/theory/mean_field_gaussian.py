"""Mean-field (fully factorised) Gaussian approximation of a Gaussian target.

Target: p(z) = N(z | mu, Sigma) on R^D, with precision Lambda = Sigma^{-1}.
Family: q(z) = prod_j N(z_j | m_j, v_j) (Normal parametrised by its variance).

For this target the optimal factor q*(z_j) ∝ exp E_{-j}[log p(z)] is Gaussian with

    precision  Lambda_jj            (so v_j = 1 / Lambda_jj, independent of the other factors)
    mean       mu_j - (1 / Lambda_jj) * sum_{k != j} Lambda_jk (m_k - mu_k).

CAVI therefore only iterates on the means (a Gauss-Seidel sweep on Lambda (m - mu) = 0), whose
unique fixed point is m = mu. The fitted variance 1 / Lambda_jj is never larger than the true
marginal variance Sigma_jj (variance shrinkage); in 2-D with correlation rho the ratio is
1 - rho^2.

The ELBO used here is ``elbo = E_q[log p(z)] + H[q] = -KL(q || p)``: the target is a normalised
density, so its "log evidence" is zero and the ELBO is a true lower bound on 0, with equality iff
q = p. No constant is dropped.
"""
from __future__ import annotations

import numpy as np

from vi_impl.result import DEFAULT_TOL, FitResult, elbo_converged, step_converged
from vi_impl.validation import as_float_array, check_int, check_tol, pick_init

__all__ = [
    "check_gaussian",
    "mean_field_variances",
    "coordinate_update",
    "gauss_seidel_sweep",
    "cavi_sweep",
    "elbo",
    "kl_gaussians",
    "fit_mean_field_gaussian",
    "variance_ratio",
]


# --------------------------------------------------------------------------- validation
def _as_finite_array(value, name, ndim):
    return as_float_array(name, value, ndim=ndim)


def check_gaussian(mu, Sigma, *, name_mu="mu", name_Sigma="Sigma"):
    """Validate a Gaussian (mu (D,), Sigma (D, D) symmetric positive definite).

    Returns float arrays ``(mu, Sigma)``; raises ValueError naming the bad argument.
    """
    mu = _as_finite_array(mu, name_mu, 1)
    Sigma = _as_finite_array(Sigma, name_Sigma, 2)
    D = mu.shape[0]
    if D < 1:
        raise ValueError(f"{name_mu} must have at least one entry")
    if Sigma.shape != (D, D):
        raise ValueError(f"{name_Sigma} must have shape ({D}, {D}) to match {name_mu}, got {Sigma.shape}")
    if not np.allclose(Sigma, Sigma.T, rtol=1e-10, atol=1e-12 * np.max(np.abs(Sigma))):
        raise ValueError(f"{name_Sigma} must be symmetric")
    try:
        np.linalg.cholesky(Sigma)
    except np.linalg.LinAlgError:
        raise ValueError(f"{name_Sigma} must be positive definite") from None
    return mu, Sigma


def _check_covariance(Sigma, name="Sigma"):
    Sigma = as_float_array(name, Sigma, ndim=2, min_shape=(1, 1))
    _, Sigma = check_gaussian(np.zeros(Sigma.shape[0]), Sigma, name_Sigma=name)
    return Sigma


def _check_means(m, D, name="m", against="mu"):
    m = _as_finite_array(m, name, 1)
    if D is None:
        D = m.shape[0]
        if D < 1:
            raise ValueError(f"{name} must have at least one entry")
    if m.shape != (D,):
        raise ValueError(f"{name} must have shape ({D},) to match {against}, got {m.shape}")
    return m


def _check_variances(v, D, name="v"):
    v = _as_finite_array(v, name, 1)
    if v.shape != (D,):
        raise ValueError(f"{name} must have shape ({D},) to match mu, got {v.shape}")
    if np.any(v <= 0):
        raise ValueError(f"{name} must be strictly positive (variances)")
    return v


# --------------------------------------------------------------------------- updates
def mean_field_variances(Sigma):
    """Variances of the optimal factors: v_j = 1 / (Sigma^{-1})_jj, shape (D,)."""
    Sigma = _check_covariance(Sigma)
    Lambda = np.linalg.inv(Sigma)
    return 1.0 / np.diag(Lambda)


def coordinate_update(j, m, h, Lambda):
    """The optimal factor q*(z_j) = N(m_j, v_j) for a Gaussian target with precision Lambda and
    natural mean h = Lambda mu, given the other factors' means m_l (only E[z_l] enters):

        v_j = 1 / Lambda_jj,    m_j = (h_j - sum_{l != j} Lambda_jl m_l) / Lambda_jj.

    Returns (m_j, v_j) as floats. This is the one implementation of the coordinate step,
    used by :func:`gauss_seidel_sweep` and by
    :func:`vi_impl.models.linear_gaussian.update_factor` (through the unvalidated
    ``_coordinate_update``).
    """
    m, h, Lambda = _check_natural(m, h, Lambda)
    j = check_int("j", j, minimum=0, maximum=m.shape[0] - 1)
    return _coordinate_update(j, m, h, Lambda)


def _coordinate_update(j, m, h, Lambda):
    row = Lambda[j]
    return float((h[j] - row @ m + row[j] * m[j]) / row[j]), float(1.0 / row[j])


def _check_natural(m, h, Lambda):
    """m (D,), h (D,) finite; Lambda (D, D) finite with a positive diagonal."""
    m = _check_means(m, None)
    D = m.shape[0]
    h = _check_means(h, D, "h", against="m")
    Lambda = _as_finite_array(Lambda, "Lambda", 2)
    if Lambda.shape != (D, D):
        raise ValueError(f"Lambda must have shape ({D}, {D}) to match m, got {Lambda.shape}")
    if not (np.diag(Lambda) > 0).all():
        raise ValueError("Lambda must have a strictly positive diagonal (it is a precision matrix)")
    return m, h, Lambda


def gauss_seidel_sweep(m, h, Lambda, order=None):
    """One CAVI sweep over the factor means: :func:`coordinate_update` for j in ``order``
    (default 0..D-1), each with the *current* values of the others (a Gauss-Seidel sweep on
    Lambda m = h). Returns a new array."""
    m, h, Lambda = _check_natural(m, h, Lambda)
    return _gauss_seidel_sweep(m, h, Lambda, _check_order(order, m.shape[0]))


def _gauss_seidel_sweep(m, h, Lambda, order=None):
    m = np.array(m, dtype=float)
    for j in (range(m.shape[0]) if order is None else order):
        m[j] = _coordinate_update(j, m, h, Lambda)[0]
    return m


def _check_order(order, D):
    if order is None:
        return None
    if isinstance(order, (str, bytes)) or not np.iterable(order):
        raise ValueError(f"order must be a permutation of 0..{D - 1}, got {order!r}")
    order = list(order)
    if any(isinstance(j, (bool, np.bool_)) or not isinstance(j, (int, np.integer))
           for j in order) or sorted(order) != list(range(D)):
        shown = [j.item() if isinstance(j, np.generic) else j for j in order]
        raise ValueError(f"order must be a permutation of 0..{D - 1}, got {shown}")
    return order


def cavi_sweep(m, mu, Lambda, order=None):
    """One CAVI sweep over the factor means, in ``order`` (default 0..D-1), for the target
    N(mu, Lambda^-1): :func:`gauss_seidel_sweep` with h = Lambda mu, that is
    m_j = mu_j - sum_{k != j} Lambda_jk (m_k - mu_k) / Lambda_jj with the *current* values of
    the other means (coordinate ascent, not a Jacobi step). Returns a new array.
    """
    Lambda = _as_finite_array(Lambda, "Lambda", 2)
    mu = _as_finite_array(mu, "mu", 1)
    D = mu.shape[0]
    if Lambda.shape != (D, D):
        raise ValueError(f"Lambda must have shape ({D}, {D}) to match mu, got {Lambda.shape}")
    if np.any(np.diag(Lambda) <= 0):
        raise ValueError("Lambda must have a strictly positive diagonal (it is a precision matrix)")
    m = _check_means(m, D)
    return _gauss_seidel_sweep(m, Lambda @ mu, Lambda, _check_order(order, D))


# --------------------------------------------------------------------------- objective
def kl_gaussians(m_q, S_q, m_p, S_p):
    """KL(N(m_q, S_q) || N(m_p, S_p)) for full covariance matrices (nats)."""
    m_q, S_q = check_gaussian(m_q, S_q, name_mu="m_q", name_Sigma="S_q")
    m_p, S_p = check_gaussian(m_p, S_p, name_mu="m_p", name_Sigma="S_p")
    if m_q.shape != m_p.shape:
        raise ValueError(f"m_q and m_p must have the same shape, got {m_q.shape} and {m_p.shape}")
    D = m_q.shape[0]
    Lp = np.linalg.cholesky(S_p)
    Lq = np.linalg.cholesky(S_q)
    A = np.linalg.solve(Lp, Lq)
    b = np.linalg.solve(Lp, m_p - m_q)
    logdet_p = 2.0 * np.sum(np.log(np.diag(Lp)))
    logdet_q = 2.0 * np.sum(np.log(np.diag(Lq)))
    return 0.5 * (np.sum(A * A) + b @ b - D + logdet_p - logdet_q)


def elbo(m, v, mu, Sigma):
    """ELBO of the factorised q = N(m, diag(v)) for the normalised target N(mu, Sigma).

    Equals E_q[log N(z | mu, Sigma)] + H[q] = -KL(q || p) <= 0, every constant kept.
    """
    mu, Sigma = check_gaussian(mu, Sigma)
    D = mu.shape[0]
    m = _check_means(m, D)
    v = _check_variances(v, D)
    return -kl_gaussians(m, np.diag(v), mu, Sigma)


# --------------------------------------------------------------------------- fit loop
def fit_mean_field_gaussian(mu, Sigma, *, init=None, m0=None, max_iter=500, tol=DEFAULT_TOL,
                            order=None):
    """Fit q(z) = prod_j N(m_j, v_j) to N(mu, Sigma) by CAVI; returns a
    :class:`vi_impl.result.FitResult` with params ``m``, ``v``, the ELBO after every sweep,
    and extras ``elbo_start`` (the ELBO at the start) and ``m_trace`` (the means at the start
    and after every sweep, (n_iter + 1, D)).

    The variances are set to their optimum v_j = 1 / Lambda_jj once (they do not depend on the
    other factors); the means are updated by :func:`cavi_sweep` from ``init`` (default zeros;
    ``m0`` is the same argument's older name). Converged means the shared ELBO rule
    :func:`vi_impl.result.elbo_converged` *and* the same rule on the means
    (:func:`vi_impl.result.step_converged`, scale 1 + max |m|): the ELBO is quadratic in the
    means, so an ELBO change of 1e-12 still allows mean errors of about 1e-6. ``tol=0`` runs
    exactly ``max_iter`` sweeps.
    """
    mu, Sigma = check_gaussian(mu, Sigma)
    D = mu.shape[0]
    max_iter = check_int("max_iter", max_iter)
    tol = check_tol(tol)
    order = _check_order(order, D)
    init = pick_init(init, "m0", m0)
    m = np.zeros(D) if init is None else _check_means(init, D, "init").copy()
    Lambda = np.linalg.inv(Sigma)
    Lambda = 0.5 * (Lambda + Lambda.T)
    h = Lambda @ mu
    v = 1.0 / np.diag(Lambda)
    start = elbo(m, v, mu, Sigma)
    trace, steps, m_trace = [], [], [m.copy()]
    converged = False
    for _ in range(max_iter):
        m_new = _gauss_seidel_sweep(m, h, Lambda, order)
        steps.append(float(np.max(np.abs(m_new - m))))
        m = m_new
        m_trace.append(m.copy())
        trace.append(elbo(m, v, mu, Sigma))
        if elbo_converged([start] + trace, tol) and step_converged(
                steps, 1.0 + float(np.max(np.abs(m))), tol):
            converged = True
            break
    return FitResult(dict(m=m, v=v), np.array(trace), len(trace), converged,
                     dict(elbo_start=start, m_trace=m_trace))


def variance_ratio(Sigma):
    """Ratio of mean-field variance to true marginal variance, v_j / Sigma_jj, shape (D,).

    Always in (0, 1]; equals 1 - R_j^2 where R_j is the multiple correlation of z_j with the
    other coordinates (1 - rho^2 in two dimensions).
    """
    Sigma = _check_covariance(Sigma)
    return mean_field_variances(Sigma) / np.diag(Sigma)
