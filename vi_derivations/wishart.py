"""Random precision matrices: the Wishart family, a Gaussian with a random precision matrix,
and the joint Normal–Wishart variational factor.

A random D x D matrix Lambda is a latent variable over (batch..., D, E), where E is the
column plate made by :func:`matrix_plate` (same range as D).  Its random atoms are the
entries Lambda_kde (fn 'id') and log|Lambda_k| (fn 'logdet', written ``LogDet(Lambda, k)``).

Wishart W(Lambda | W, nu) (Bishop B.78-B.82), with the multivariate log-gamma and digamma
functions log Gamma_D(a) = D(D-1)/4 log pi + sum_{d=1}^{D} log Gamma(a + (1 - d)/2) and
psi_D(a) = sum_{d=1}^{D} psi(a + (1 - d)/2) (:class:`MvLogGamma`, :class:`MvDigamma`)::

    log W = (nu - D - 1)/2 log|Lambda| - 1/2 tr(W^-1 Lambda) + log B(W, nu)
    log B(W, nu) = -nu/2 log|W| - nu D/2 log 2 - log Gamma_D(nu/2)
    E[Lambda] = nu W,   E[log|Lambda|] = psi_D(nu/2) + D log 2 + log|W|
    E[log q] = log B(W, nu) + (nu - D - 1)/2 E[log|Lambda|] - nu D/2
    T = (Lambda_de, log|Lambda|);  natural (eta_L, eta_ld) -> W = (-(eta_L + eta_L^T))^-1,
    nu = 2 eta_ld + D + 1.

Normal–Wishart q(mu, Lambda) = N(mu | m, (beta Lambda)^-1) W(Lambda | W, nu): statistics
log|Lambda|, mu^T Lambda mu, (Lambda mu)_d, Lambda_de with natural parameters
((nu - D)/2, -beta/2, beta m_d, -(W^-1 + beta m m^T)/2), hence
beta = -2 eta_q, m = eta_Lmu / beta, nu = 2 eta_ld + D, W^-1 = -(eta_L + eta_L^T) - beta m m^T.
Moments: E[mu_d] = m_d, E[mu_d Lambda_ef] = m_d nu W_ef and, under a sum over both indices
that nothing else in the term carries, E[mu^T Lambda mu] = nu m^T W m + D / beta (the contracted
quadratic form; its entries alone are not in the table).
"""
from __future__ import annotations

import itertools

import numpy as np
import sympy as sp
from sympy import Indexed, KroneckerDelta, Sum, digamma, log, loggamma, pi

from .distributions import Family, LogDet, MatrixInverse, _lim, _nonconj
from .errors import NonConjugateError, UnsupportedExpectationError, UnsupportedModelError
from .model import Plate, plate_of

__all__ = ["matrix_plate", "Wishart", "MvNormalPrecision", "NormalWishart", "MvLogGamma", "MvDigamma",
           "log_mvgamma", "e_logdet"]


def matrix_plate(rows: Plate, name: str, index: str, latex: str | None = None) -> Plate:
    """The column plate of a square matrix whose rows run over ``rows``: a distinct plate
    (own name and index) with the same size, so that Lambda can be declared over (K, D, E)."""
    p = Plate.__new__(Plate)
    p.name, p.size, p.index_name = name, rows.size, index
    p.latex = latex or rows.latex
    p.index = p.make_index(index)
    p.rows = rows
    return p


class _MvFunction(sp.Function):
    """f_D(a) = c(D) + sum_{d=1}^{D} g(a + (1 - d)/2) for a dimension D (a number or a plate size)."""

    nargs = 2

    def unfold(self):
        """The defining sum, over an index t = 0..D-1 (value unchanged)."""
        a, D = self.args
        t = sp.Idx(sp.Symbol("t_mv", integer=True), (0, D - 1))
        return self._const() + Sum(self._g(a - t / 2), (t, 0, D - 1))

    def doit(self, **hints):
        a, D = (x.doit(**hints) if hints.get("deep", True) else x for x in self.args)
        if D.is_Integer:
            return self._const(D) + sp.Add(*[self._g(a - sp.Rational(t, 2)) for t in range(int(D))])
        return self.func(a, D)


class MvLogGamma(_MvFunction):
    """log Gamma_D(a) = D(D-1)/4 log pi + sum_{d=1}^{D} log Gamma(a + (1 - d)/2), the log of the
    multivariate gamma function (scipy.special.multigammaln)."""

    def _const(self, D=None):
        D = self.args[1] if D is None else D
        return D * (D - 1) / 4 * log(pi)

    @staticmethod
    def _g(x):
        return loggamma(x)

    def _latex(self, printer, exp=None):
        a, D = self.args
        tex = r"\log\Gamma_{" + printer._print(D) + r"}\left(" + printer._print(a) + r"\right)"
        return tex if exp is None else r"\left(" + tex + r"\right)^{" + exp + "}"


class MvDigamma(_MvFunction):
    """psi_D(a) = sum_{d=1}^{D} psi(a + (1 - d)/2), the multivariate digamma function (the
    derivative of log Gamma_D)."""

    def _const(self, D=None):
        return sp.Integer(0)

    @staticmethod
    def _g(x):
        return digamma(x)

    def _latex(self, printer, exp=None):
        a, D = self.args
        tex = r"\psi_{" + printer._print(D) + r"}\left(" + printer._print(a) + r"\right)"
        return tex if exp is None else r"\left(" + tex + r"\right)^{" + exp + "}"


def log_mvgamma(a, rows: Plate):
    """log Gamma_D(a), D the size of ``rows``."""
    return MvLogGamma(a, rows.size)


def e_logdet(nu, logdet_W, rows: Plate):
    """E[log|Lambda|] under W(W, nu): psi_D(nu/2) + D log 2 + log|W|
    (psi_D(nu/2) = sum_{d=1}^{D} psi((nu + 1 - d)/2))."""
    return MvDigamma(nu / 2, rows.size) + rows.size * log(2) + logdet_W


def _check_square(event, who):
    if not (isinstance(event, tuple) and len(event) == 2 and all(isinstance(p, Plate) for p in event)):
        raise ValueError(f"{who}: event= must be the (row, column) plates of the matrix, e.g. (D, E)")
    if event[0].size != event[1].size or event[0] == event[1]:
        raise ValueError(f"{who}: the column plate must be a distinct plate of the same size "
                         f"as the row plate (use matrix_plate)")


def _matrix_element(expr, event, who, what):
    """Check that ``expr`` is an Indexed matrix element whose last two indices are the
    canonical (row, column) indices; return (base, batch indices)."""
    expr = sp.sympify(getattr(expr, "element", expr))
    d, e = event[0].index, event[1].index
    if not (isinstance(expr, Indexed) and tuple(expr.indices[-2:]) == (d, e)):
        raise ValueError(f"{who}: {what} must be a matrix element ending in the indices [{d}, {e}], "
                         f"got {expr}")
    return expr.base, tuple(expr.indices[:-2])


def _log_B(W_base, W_batch, nu, rows):
    return -nu / 2 * LogDet(W_base, *W_batch) - nu * rows.size / 2 * log(2) - log_mvgamma(nu / 2, rows)


def _logdet_atom(z):
    """log|Z| for the matrix element z = Z[batch..., d, e]."""
    return LogDet(z.base, *z.indices[:-2])


def _trace(inv_of, z, event):
    """tr(A^-1 Z) = sum_de [A^-1]_ed Z_de, with A given by ``inv_of(a, b)``."""
    (P, Q), (d, e) = event, (event[0].index, event[1].index)
    a, b = P.fresh(), Q.fresh()
    return Sum(Sum(MatrixInverse(inv_of(a, b), a, b, e, d) * z, _lim(d)), _lim(e))


# =============================================================================== Wishart
class Wishart(Family):
    """Wishart(scale W, dof nu) over the (row, column) event plates of a matrix variable;
    ``scale`` is a matrix element such as W0[d, e] or W[k, d, e] (see the module docstring)."""

    name = "Wishart"
    stats = ("L_de", "log|L|")
    param_names = ("scale", "dof")
    init_kinds = {"scale": "identity", "dof": "dof"}
    stat_codes = {"log|L|": "logdet_{z}", "L_de": "mat_{z}"}
    numpy_matrix_axes = 2
    numpy_full_natural = True
    symmetric_support = True

    def __init__(self, scale, dof, event):
        _check_square(event, "Wishart")
        self.event_plates = tuple(event)
        self.scale_base, self.scale_batch = _matrix_element(scale, event, "Wishart", "scale")
        super().__init__(scale=scale, dof=dof)
        nu = self.params["dof"]
        if nu.is_number and not nu > event[0].size - 1:
            raise ValueError(f"Wishart: dof must exceed D - 1, got {nu}")

    def symmetric_matrices(self):
        """The parameters this family keeps symmetric: the scale matrix."""
        return (self.scale_base,)

    def check_value(self, var):
        super().check_value(var)
        if tuple(var.plates[-2:]) != self.event_plates:
            raise UnsupportedModelError(
                f"Wishart over {var.name}: the matrix plates {[p.name for p in self.event_plates]} must be "
                f"the last two plates of {var.name}")

    # parameters at a batch element, with the scale's (row, column) indices set to (b, c)
    def _at(self, batch, b=None, c=None):
        mapping = {p.index: ix for p, ix in zip(self.var.plates, tuple(batch) + (None, None)) if ix is not None}
        d, e = (p.index for p in self.event_plates)
        if b is not None:
            mapping.update({d: b, e: c})
        W = self.params["scale"].xreplace(mapping)
        return W, self.params["dof"].xreplace(mapping), \
            tuple(sp.sympify(i).xreplace(mapping) for i in self.scale_batch)

    def e_logdet(self, batch):
        _, nu, wb = self._at(batch)
        return e_logdet(nu, LogDet(self.scale_base, *wb), self.event_plates[0])

    def log_density(self, z):
        W_el, nu = self.params["scale"], self.params["dof"]
        d, e = (p.index for p in self.event_plates)
        D = self.event_plates[0].size
        return ((nu - D - 1) / 2 * _logdet_atom(z) - _trace(lambda a, b: W_el.xreplace({d: a, e: b}), z,
                                                             self.event_plates) / 2
                + _log_B(self.scale_base, self.scale_batch, nu, self.event_plates[0]))

    def moment(self, atoms):
        batch = self.batch_of(atoms[0].index)
        if len(atoms) == 1 and atoms[0].power == 1:
            a = atoms[0]
            if a.fn == "logdet":
                return self.e_logdet(batch)
            if a.fn == "id":
                W, nu, _ = self._at(batch, *self.event_of(a.index))
                return nu * W
        raise UnsupportedExpectationError(
            f"E_q[{sp.Mul(*[x.full for x in atoms])}] under q = Wishart is not in the moment table "
            f"(only Lambda_de and log|Lambda|)")

    def neg_entropy(self):
        batch = self.batch_of(self.canonical_index())
        _, nu, wb = self._at(batch)
        D = self.event_plates[0].size
        return (_log_B(self.scale_base, wb, nu, self.event_plates[0])
                + (nu - D - 1) / 2 * self.e_logdet(batch) - nu * D / 2)

    def statistic(self, atoms):
        if len(atoms) == 1 and atoms[0].power == 1:
            if atoms[0].fn == "id":
                return "L_de", self.event_of(atoms[0].index), sp.Integer(1)
            if atoms[0].fn == "logdet":
                return "log|L|", (), sp.Integer(1)
        raise _nonconj(self, atoms, "(Lambda_de, log|Lambda|)")

    def event_reps(self):
        return tuple(p.index for p in self.event_plates)

    def stat_reps(self, key, reps):
        return reps if key == "L_de" else ()

    def natural_to_params(self, eta, rep):
        if "L_de" not in eta:
            raise NonConjugateError("Wishart: the optimal factor has no term linear in Lambda (improper)")
        return {"scale": _inverse_of_sym(-eta["L_de"], rep, self.event_plates),
                "dof": sp.expand(2 * eta.get("log|L|", sp.Integer(0)) + self.event_plates[0].size + 1)}

    def numeric_from_natural(self, eta):
        W = _numeric_inverse(-np.asarray(eta["L_de"], dtype=float), "Wishart")
        D = W.shape[-1]
        nu = 2 * np.asarray(eta.get("log|L|", 0.0), dtype=float) + D + 1
        nu = np.broadcast_to(nu, W.shape[:-2]).copy()
        if np.any(~(nu > D - 1)):
            raise ValueError("Wishart update: degrees of freedom <= D - 1 (improper factor)")
        return {"scale": W, "dof": nu}

    def stat_terms(self, z, reps):
        d, e = reps
        return {"L_de": lambda c: Sum(c * z, _lim(d), _lim(e)), "log|L|": lambda c: c * _logdet_atom(z)}

    # ---- NumPy code (the matrix axes are the last two) and the chain checker
    def natural_axes(self, key, axes):
        return axes if key == "L_de" else axes[:-2]

    def param_axes(self, name, axes):
        return axes[:-2] if name == "dof" else axes

    def numpy_natural_to_params(self, ctx):
        e, D = ctx.eta, ctx.size(ctx.axes[-1])
        ld = e.get("log|L|", "0.0")
        lines = [f"nw_prec = -({e['L_de']} + np.swapaxes({e['L_de']}, -1, -2))",
                 f"nw_dof = 2 * {ld} + {D} + 1"] + _numpy_scale_lines(ctx, D)
        return lines, {k: ("nw_" + k, set(self.param_axes(k, ctx.axes))) for k in ("scale", "dof")}

    def prepare_check(self, inst, as_q):
        _check_scale_values(inst, self)

    def sample_q(self, inst, var):
        """Lambda_b ~ W(W_b, nu_b) per batch element; log|Lambda_b| is sampled too."""
        from scipy import stats
        D = inst.size_of[self.event_plates[0].name]
        for b in itertools.product(*[range(inst.size_of[p.name]) for p in var.plates[:-2]]):
            W = np.array([[inst.param(self, b + (r, c), "scale") for c in range(D)] for r in range(D)])
            nu = inst.param(self, b + (0, 0), "dof")
            L = stats.wishart(df=nu, scale=W).rvs(inst.S, random_state=inst.rng).reshape(inst.S, D, D)
            for r in range(D):
                for c in range(D):
                    inst.set_draws(inst.element(var, b + (r, c)), L[:, r, c], float(L[0, r, c]))
            logdets = np.linalg.slogdet(L)[1]
            inst.set_draws(LogDet(inst.element(var, b + (0, 0)).base, *map(sp.Integer, b)), logdets,
                           float(logdets[0]))


def _numpy_scale_lines(ctx, D):
    """Printed NumPy lines: the scale matrix from its inverse ``nw_prec``, with the checks."""
    return ["nw_prec = 0.5 * (nw_prec + np.swapaxes(nw_prec, -1, -2))",
            "if not np.all(np.linalg.eigvalsh(nw_prec) > 0):",
            f"    raise ValueError('{ctx.where}: the inverse scale matrix is not positive definite (improper)')",
            "nw_scale = np.linalg.inv(nw_prec)",
            "nw_scale = 0.5 * (nw_scale + np.swapaxes(nw_scale, -1, -2))",
            f"if not np.all(nw_dof > {D} - 1):",
            f"    raise ValueError('{ctx.where}: degrees of freedom <= D - 1 (an improper Wishart)')"]


def _check_scale_values(inst, dist):
    """The chain checker's values for a (Normal-)Wishart ``dist``: a symmetric positive definite
    scale matrix per batch element and degrees of freedom above D - 1."""
    m = inst.model
    v = m.var_of(dist.scale_base)
    D = inst.size_of[v.plates[-1].name]
    inst.spd_matrix(v)
    nu = m.var_of(dist.params["dof"])
    for _, el in inst.elements(nu):
        inst.values[el] = float(D - 1 + inst.rng.uniform(0.5, 2.0))


def _inverse_of_sym(neg_eta, rep, event):
    """[(A + A^T)^-1]_{de} for A_{de} = neg_eta (symbolic, with rep = (d, e))."""
    d, e = rep
    a, b = event[0].fresh(), event[1].fresh()
    prec = neg_eta.xreplace({d: a, e: b}) + neg_eta.xreplace({d: b, e: a})
    return MatrixInverse(sp.expand(prec), a, b, d, e)


def _numeric_inverse(neg_eta, who):
    P = neg_eta + np.swapaxes(neg_eta, -1, -2)
    try:
        C = np.linalg.cholesky(P)
    except np.linalg.LinAlgError:
        raise ValueError(f"{who} update: the precision of the scale matrix is not positive definite "
                         f"(improper factor)") from None
    Ci = np.linalg.inv(C)
    W = np.swapaxes(Ci, -1, -2) @ Ci
    return 0.5 * (W + np.swapaxes(W, -1, -2))


# =============================================================================== Gaussian, random precision
class MvNormalPrecision(Family):
    """x (over the event plate D) ~ N(mean, (scale * Lambda)^-1) with a random precision matrix
    (model role): ``precision`` is the matrix element Lambda[..., d, e] (rows D, columns E);
    log N = -D/2 log 2 pi + D/2 log scale + 1/2 log|Lambda|
            - scale/2 sum_de (x_d - mean_d) Lambda_de (x_e - mean_e)."""

    name = "MvNormalPrecision"
    supports_q = False
    param_names = ("mean", "precision", "scale")

    def __init__(self, mean, precision, event, scale=1):
        _check_square(event, "MvNormalPrecision")
        self.matrix_event = tuple(event)
        self.prec_base, self.prec_batch = _matrix_element(precision, event, "MvNormalPrecision", "precision")
        super().__init__(mean=mean, precision=precision, scale=scale)
        self.event_plates = (event[0],)

    def prepare_check(self, inst, as_q):
        """A known (hyper-parameter) precision matrix gets symmetric positive definite values;
        a latent one is drawn by its q factor."""
        v = inst.model.var_of(self.prec_base)
        if v is None or v.kind == "hyper":
            inst.spd_matrix(v if v is not None else self.prec_base)

    def all_exprs(self):
        # the precision enters through its matrix; one entry names the variable (the parent)
        p = self.params["precision"]
        return [self.params["mean"], self.params["scale"], p.base[tuple(p.indices[:-2]) + (0, 0)]]

    def log_density(self, x):
        (P, Q) = self.matrix_event
        d, e = P.index, Q.index
        m, s, L = self.params["mean"], self.params["scale"], self.params["precision"]
        D = P.size
        quad = Sum(Sum((x - m) * L * (x - m).xreplace({d: e}), _lim(d)), _lim(e))
        return (-D / 2 * log(2 * pi) + D / 2 * log(s) + LogDet(self.prec_base, *self.prec_batch) / 2
                - s / 2 * quad)


# =============================================================================== Normal-Wishart
class _Member(Family):
    """One variable of the joint Normal–Wishart factor (declare both with ``M.q``)."""

    name = "NormalWishart"

    def __init__(self, joint):
        self.joint = joint
        self.params = joint.params
        self.var = None

    @property
    def init_kinds(self):
        return self.joint.init_kinds

    @property
    def event_plates_for_check(self):
        return self.joint.matrix_event

    def all_exprs(self):
        return list(self.params.values())

    def symmetric_matrices(self):
        return self.joint.symmetric_matrices()

    def _batch_map(self, batch):
        return {p.index: b for p, b in zip(self.joint.batch_plates, batch)}

    def moment(self, atoms):
        return self.joint.moment(atoms)

    def statistic(self, atoms):
        return self.joint.statistic(atoms)

    def prepare_check(self, inst, as_q):
        self.joint.prepare_check(inst, as_q)

    def sample_q(self, inst, var):          # one joint draw for both variables
        if var is self.joint.mu:
            self.joint.sample_q(inst, var)

    def __repr__(self):
        return repr(self.joint)


class _NormalPart(_Member):
    def check_value(self, var):
        self.event_plates = (self.joint.matrix_event[0],)
        super().check_value(var)
        self.joint._bind("mu", var)

    def log_density(self, mu):
        j = self.joint
        lam = j.lam.element
        return MvNormalPrecision(j.params["mean"], lam, j.matrix_event, scale=j.params["beta"]).log_density(mu)

    def neg_entropy(self):
        j = self.joint
        D = j.matrix_event[0].size
        return (D / 2 * log(j.params["beta"]) + j.e_logdet(j.batch_canonical()) / 2
                - D / 2 * log(2 * pi) - D / 2)


class _WishartPart(_Member):
    symmetric_support = True

    def check_value(self, var):
        self.event_plates = tuple(self.joint.matrix_event)
        super().check_value(var)
        self.joint._bind("lam", var)

    def _wishart(self):
        j = self.joint
        w = Wishart(j.params["scale"], j.params["dof"], j.matrix_event)
        w.var = self.var
        return w

    def log_density(self, z):
        return self._wishart().log_density(z)

    def neg_entropy(self):
        return self._wishart().neg_entropy()


class NormalWishart(Family):
    """Joint q(mu, Lambda) = N(mu | mean, (beta Lambda)^-1) W(Lambda | scale, dof), one per
    element of the batch plates.  Declare ``nw = NormalWishart(m[k, d], beta[k], W[k, d, e],
    nu[k], event=(D, E))`` and then ``M.q(mu, nw.normal)`` and ``M.q(Lambda, nw.wishart)``."""

    name = "NormalWishart"
    supports_q = False
    stats = ("log|L|", "mu L mu", "L mu_d", "L_de")
    param_names = ("mean", "beta", "scale", "dof")
    init_kinds = {"scale": "identity", "dof": "dof"}
    stat_codes = {"log|L|": "logdet_{z}", "mu L mu": "quad_{z}", "L mu_d": "Lmu_{z}", "L_de": "mat_{z}"}
    numpy_matrix_axes = 2
    numpy_full_natural = True

    def __init__(self, mean, beta, scale, dof, event):
        _check_square(event, "NormalWishart")
        self.matrix_event = tuple(event)
        self.scale_base, self.scale_batch = _matrix_element(scale, event, "NormalWishart", "scale")
        super().__init__(mean=mean, beta=beta, scale=scale, dof=dof)
        self.event_plates = tuple(event)
        self.mu = self.lam = None
        self.normal, self.wishart = _NormalPart(self), _WishartPart(self)

    def symmetric_matrices(self):
        """The parameters this family keeps symmetric: the scale matrix."""
        return (self.scale_base,)

    def log_density(self, value):
        """log N(mu | m, (beta Lambda)^-1) + log W(Lambda | W, nu) of one batch element, ``value``
        the pair (mu element, Lambda element); each variable's own term is its part's."""
        mu, lam = value
        return self.normal.log_density(mu) + self.wishart.log_density(lam)

    def neg_entropy(self):
        """E_q[log q(mu, Lambda)] of one batch element: E[log q(mu | Lambda)] + E[log q(Lambda)]
        (each part's own term)."""
        return self.normal.neg_entropy() + self.wishart.neg_entropy()

    def _bind(self, role, var):
        setattr(self, role, var)
        if self.mu is not None and self.lam is not None:
            if tuple(self.lam.plates[:-2]) != tuple(self.mu.plates[:-1]):
                raise UnsupportedModelError(
                    f"NormalWishart: {self.mu.name} over {[p.name for p in self.mu.plates]} and "
                    f"{self.lam.name} over {[p.name for p in self.lam.plates]} must share their batch plates")
            self.var = self.mu

    @property
    def group(self):
        return f"{self.mu.name},{self.lam.name}"

    @property
    def members(self):
        return (self.mu.name, self.lam.name)

    @property
    def batch_plates(self):
        return tuple(self.mu.plates[:-1])

    def batch_canonical(self):
        return tuple(p.index for p in self.batch_plates)

    def batch_of(self, index):
        return tuple(index[:len(self.batch_plates)])

    def canonical_index(self):
        return self.mu.element.indices if self.mu.plates else ()

    def event_reps(self):
        return tuple(p.index for p in self.matrix_event)

    def stat_reps(self, key, reps):
        return {"L_de": reps, "L mu_d": reps[:1]}.get(key, ())

    # parameters at a batch element; mean at row a, scale at (b, c)
    def _at(self, batch, a=None, b=None, c=None):
        mapping = {p.index: x for p, x in zip(self.batch_plates, batch)}
        d, e = (p.index for p in self.matrix_event)
        P = self.params
        m = P["mean"].xreplace({**mapping, d: a}) if a is not None else None
        W = P["scale"].xreplace({**mapping, d: b, e: c}) if b is not None else None
        return m, P["beta"].xreplace(mapping), W, P["dof"].xreplace(mapping), \
            tuple(sp.sympify(i).xreplace(mapping) for i in self.scale_batch)

    def e_logdet(self, batch):
        _, _, _, nu, wb = self._at(batch)
        return e_logdet(nu, LogDet(self.scale_base, *wb), self.matrix_event[0])

    # ------------------------------------------------------------- the moment table
    def _split(self, atoms):
        mus, lams, lds = [], [], []
        for a in atoms:
            if a.var == self.mu.name and a.fn == "id":
                mus += [a] * a.power
            elif a.var == self.lam.name and a.fn == "id":
                lams += [a] * a.power
            elif a.var == self.lam.name and a.fn == "logdet":
                lds += [a] * a.power
            else:
                return None
        return mus, lams, lds

    def _quad_indices(self, mus, lams):
        """(a, a') if the atoms are mu_a, mu_a', Lambda_{a a'} (either order) with a != a'."""
        if len(mus) == 2 and len(lams) == 1:
            a, a2 = mus[0].index[-1], mus[1].index[-1]
            b, c = lams[0].index[-2:]
            if a != a2 and {a, a2} == {b, c}:
                return a, a2
        return None

    def moment(self, atoms, sums=None, context=None):
        """E_q of a product of atoms of one batch element.  The contracted quadratic form
        mu_a Lambda_aa' mu_a' is accepted only when ``sums`` holds a and a' and ``context`` (the
        symbols of the rest of the term) does not: then its summed value is returned."""
        what = sp.Mul(*[x.full for x in atoms])
        parts = self._split(atoms)
        if parts is None:
            raise UnsupportedExpectationError(f"E_q[{what}] under q = NormalWishart: not in the moment table")
        mus, lams, lds = parts
        batch = self.batch_of(atoms[0].index)
        if lds and not mus and not lams and len(lds) == 1:
            return self.e_logdet(batch)
        if not lds and len(mus) <= 1 and len(lams) <= 1 and (mus or lams):
            val = sp.Integer(1)
            if mus:
                val *= self._at(batch, a=mus[0].index[-1])[0]
            if lams:
                _, _, W, nu, _ = self._at(batch, None, *lams[0].index[-2:])
                val *= nu * W
            return val
        q = self._quad_indices(mus, lams) if not lds else None
        if q is not None and sums is not None and set(q) <= set(sums) and not (set(q) & set(context or ())):
            a, a2 = q
            _, beta, W, nu, _ = self._at(batch, None, a, a2)
            return (self._at(batch, a=a)[0] * self._at(batch, a=a2)[0] * nu * W
                    + KroneckerDelta(a, a2) / beta)
        raise UnsupportedExpectationError(
            f"E_q[{what}] under q = NormalWishart is not in the moment table (only mu_d, Lambda_de, "
            f"mu_d Lambda_ef, log|Lambda| and the whole quadratic form mu^T Lambda mu)")

    # ------------------------------------------------------------- statistics
    def statistic(self, atoms):
        parts = self._split(atoms)
        if parts is not None:
            mus, lams, lds = parts
            if lds and len(lds) == 1 and not mus and not lams:
                return "log|L|", (), sp.Integer(1)
            if not lds and not mus and len(lams) == 1:
                return "L_de", tuple(lams[0].index[-2:]), sp.Integer(1)
            if not lds and len(mus) == 1 and len(lams) == 1:
                a = mus[0].index[-1]
                b, c = lams[0].index[-2:]
                if a == c and b != a:
                    return "L mu_d", (b,), sp.Integer(1)
                if a == b and c != a:
                    return "L mu_d", (c,), sp.Integer(1)  # Lambda is symmetric
            if not lds and self._quad_indices(mus, lams) is not None:
                return "mu L mu", (), sp.Integer(1)
        raise _nonconj(self, atoms, "(log|Lambda|, mu^T Lambda mu, Lambda mu, Lambda)")

    def contracted(self, atoms):
        """Summed indices a statistic consumes (they must appear nowhere else in the term)."""
        mus, lams, _ = self._split(atoms)
        if len(mus) == 1 and len(lams) == 1:
            return (mus[0].index[-1],)
        if len(mus) == 2:
            return tuple(self._quad_indices(mus, lams))
        return ()

    def natural_to_params(self, eta, rep):
        d, e = rep
        P, Q = self.matrix_event
        for key in ("mu L mu", "L_de"):
            if key not in eta or eta[key] == 0:
                raise NonConjugateError(f"NormalWishart: the optimal factor has no {key} term (improper)")
        beta = sp.expand(-2 * eta["mu L mu"])
        eta3 = eta.get("L mu_d", sp.Integer(0))
        mean = sp.expand(eta3) / beta
        a, b = P.fresh(), Q.fresh()
        # W^-1 = -(eta_L + eta_L^T) - eta_Lmu eta_Lmu^T / beta (the outer product kept as one)
        prec = (sp.expand(-(eta["L_de"].xreplace({d: a, e: b}) + eta["L_de"].xreplace({d: b, e: a})))
                - eta3.xreplace({d: a}) * eta3.xreplace({d: b}) / beta)
        return {"mean": mean, "beta": beta, "scale": MatrixInverse(prec, a, b, d, e),
                "dof": sp.expand(2 * eta.get("log|L|", sp.Integer(0)) + P.size)}

    def numeric_from_natural(self, eta):
        beta = -2 * np.asarray(eta["mu L mu"], dtype=float)
        if np.any(~(beta > 0)):
            raise ValueError("NormalWishart update: beta <= 0 (improper factor)")
        L = np.asarray(eta["L_de"], dtype=float)
        D = L.shape[-1]
        e3 = np.broadcast_to(np.asarray(eta.get("L mu_d", 0.0), dtype=float), L.shape[:-1])
        beta = np.broadcast_to(beta, L.shape[:-2])
        mean = e3 / beta[..., None]
        outer = e3[..., :, None] * mean[..., None, :]
        W = _numeric_inverse(-L - 0.25 * (outer + np.swapaxes(outer, -1, -2)), "NormalWishart")
        nu = np.broadcast_to(2 * np.asarray(eta.get("log|L|", 0.0), dtype=float) + D, beta.shape).copy()
        if np.any(~(nu > D - 1)):
            raise ValueError("NormalWishart update: degrees of freedom <= D - 1 (improper factor)")
        return {"mean": mean, "beta": beta.copy(), "scale": W, "dof": nu}

    def kernel(self, z, params):
        raise NotImplementedError

    # ---- NumPy code (the matrix axes are the last two) and the chain checker
    def natural_axes(self, key, axes):
        return {"L_de": axes, "L mu_d": axes[:-1]}.get(key, axes[:-2])

    def param_axes(self, name, axes):
        return {"mean": axes[:-1], "beta": axes[:-2], "dof": axes[:-2]}.get(name, axes)

    def numpy_natural_to_params(self, ctx):
        e, D = ctx.eta, ctx.size(ctx.axes[-1])
        ld = e.get("log|L|", "0.0")
        lmu = e.get("L mu_d", f"np.zeros(np.shape({e['L_de']})[:-1])")
        lines = [f"nw_beta = -2 * {e['mu L mu']}",
                 "if not np.all(nw_beta > 0):",
                 f"    raise ValueError('{ctx.where}: beta <= 0 (an improper Normal-Wishart)')",
                 f"nw_mean = {lmu} / nw_beta[..., None]",
                 f"nw_prec = -({e['L_de']} + np.swapaxes({e['L_de']}, -1, -2)) - {lmu}[..., :, None] * nw_mean[..., None, :]",
                 f"nw_dof = 2 * {ld} + {D}"] + _numpy_scale_lines(ctx, D)
        return lines, {k: ("nw_" + k, set(self.param_axes(k, ctx.axes))) for k in ("mean", "beta", "scale", "dof")}

    def prepare_check(self, inst, as_q):
        _check_scale_values(inst, self)

    def sample_q(self, inst, var):
        """Lambda_b ~ W(W_b, nu_b), mu_b | Lambda_b ~ N(m_b, (beta_b Lambda_b)^-1) per batch element;
        log|Lambda_b| is sampled too (the atom LogDet(Lambda, b))."""
        from scipy import stats
        mu, lam = self.mu, self.lam
        D = inst.size_of[lam.plates[-1].name]
        nw = inst.model.qfactors[mu.name].dist
        for b in itertools.product(*[range(inst.size_of[p.name]) for p in lam.plates[:-2]]):
            W = inst.matrices[str(self.scale_base.label)][b]
            nu = inst.param(nw, b + (0,), "dof")
            beta = inst.param(nw, b + (0,), "beta")
            mean = np.array([inst.param(nw, b + (r,), "mean") for r in range(D)])
            L = stats.wishart(df=nu, scale=W).rvs(inst.S, random_state=inst.rng).reshape(inst.S, D, D)
            C = np.linalg.cholesky(np.linalg.inv(beta * L))
            x = mean + np.einsum("sde,se->sd", C, inst.rng.standard_normal((inst.S, D)))
            for r in range(D):
                inst.set_draws(inst.element(mu, b + (r,)), x[:, r], float(x[0, r]))
                for c in range(D):
                    inst.set_draws(inst.element(lam, b + (r, c)), L[:, r, c], float(L[0, r, c]))
            ld = LogDet(inst.element(lam, b + (0, 0)).base, *map(sp.Integer, b))
            logdets = np.linalg.slogdet(L)[1]
            inst.set_draws(ld, logdets, float(logdets[0]))

    def stat_terms(self, z, reps):
        d, e = reps
        mu, lam = self.mu.symbol, self.lam.symbol
        bt = self.batch_canonical()
        mu_d, mu_e = mu[bt + (d,)], mu[bt + (e,)]
        L = lam[bt + (d, e)]
        return {"log|L|": lambda c: c * LogDet(lam, *bt),
                "mu L mu": lambda c: c * Sum(mu_d * L * mu_e, _lim(d), _lim(e)),
                "L mu_d": lambda c: Sum(c * Sum(L * mu_e, _lim(e)), _lim(d)),
                "L_de": lambda c: Sum(c * L, _lim(d), _lim(e))}

    def __repr__(self):
        return (f"NormalWishart(mean={self.params['mean']}, beta={self.params['beta']}, "
                f"scale={self.params['scale']}, dof={self.params['dof']})")
