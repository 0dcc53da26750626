r"""Natural-gradient stochastic variational inference, generated from a model's derivation
(Hoffman, Blei, Wang & Paisley 2013).

The model splits along its data plate i = 1..N into local latent variables (one group per data
point) and global ones (:func:`vi_derivations.mapreduce.split`). For a global factor q(beta)
in the exponential family with natural parameter lambda, conjugacy makes the CAVI update
lambda* = eta_prior + sum_i E_q[t(x_i, z_i)] (:func:`~vi_derivations.mapreduce.map_reduce`
writes it in the statistics sum_i ...), and the natural gradient of the ELBO in lambda is
lambda* - lambda. One SVI step on a minibatch B of the data plate:

1. local step: the local factors of the points in B are updated (a fixed number of sweeps, or
   until their parameters move by less than ``local_tol``) given the current global factors;
2. the intermediate parameter lambda_hat: the CAVI update with every statistic sum_i replaced
   by (N / |B|) sum_{i in B} (an unbiased estimate of it, the count N included);
3. lambda <- (1 - rho_t) lambda + rho_t lambda_hat, in natural coordinates, with
   rho_t = (tau0 + t)^(-kappa), tau0 >= 0, kappa in (0.5, 1] (Robbins-Monro).

The natural parameters of q(beta) in its own parameters (e.g. lambda - 1 for a Dirichlet,
m / s2 and -1 / (2 s2) for a Normal) are derived by the engine too (:func:`natural_of`), and
the step is compiled as one expression per statistic, mapped back to the family's parameters
by the same map as ``Update.numeric()``. With |B| = N and rho = 1 a step is a CAVI sweep with
the local factors first. :class:`SVI` exposes every formula (``intermediate``,
``intermediate_params``, ``update``, ``schedule``) for :func:`vi_derivations.latex`.
"""
from __future__ import annotations

import copy
import numbers
import time
from dataclasses import dataclass, field

import numpy as np
import sympy as sp
from sympy import Idx, Indexed, Sum

from .cavi import _is_positive, _var_names
from .mapreduce import map_reduce
from .model import _IDX_PLATE, LATEX_NAMES, Model, Plate
from .numeric import plate_sizes
from .distributions import MatrixInverse
from .errors import UnsupportedModelError
from .updates import derive_update

__all__ = ["SVI", "SVIResult", "generate_svi", "names_in", "natural_of", "step_size"]

TAU0, KAPPA, T = sp.symbols("tau_0 kappa t", positive=True)
RHO = sp.Symbol("rho_t", positive=True)


def _check_schedule(tau0, kappa):
    for name, value in (("tau0", tau0), ("kappa", kappa)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
            raise ValueError(f"{name} must be a finite real number, got {value!r}")
    if tau0 < 0:
        raise ValueError(f"tau0 must be >= 0, got {tau0!r}")
    if not 0.5 < kappa <= 1.0:
        raise ValueError(f"kappa must lie in (0.5, 1] (Robbins-Monro), got {kappa!r}")
    return float(tau0), float(kappa)


def _check_int(name, value, minimum, maximum=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return int(value)


def step_size(t, tau0=1.0, kappa=0.7) -> float:
    """rho_t = (tau0 + t)^(-kappa) for step t >= 1 (tau0 >= 0, kappa in (0.5, 1])."""
    t = _check_int("t", t, 1)
    tau0, kappa = _check_schedule(tau0, kappa)
    return float((tau0 + t) ** (-kappa))


def natural_of(model, name) -> dict:
    """The natural parameters of q(name) written in its variational parameters (statistic ->
    expression), derived by the engine: the CAVI update of q in a model whose only factor on
    the variable is q itself is q, so its natural parameters are read off that update."""
    key = ("natural_of", model.var(name).name)
    if key in model._cache:
        return model._cache[key]
    qf = model.qfactors[model.var(name).name]
    var = qf.var
    shadow = Model(f"{model.name}_q_{var.name}")
    reads = sorted(_var_names(sp.Tuple(*qf.dist.all_exprs()), model))
    renamed = {}
    for n in reads:
        v = model.variables[n]
        shadow._declare(n, v.plates, "hyper", v.latex, positive=_is_positive(v))
        other = shadow._declare(f"{n}_q", v.plates, "variational", v.latex,
                                positive=_is_positive(v))
        renamed[v.symbol] = other.symbol
    # a joint factor (e.g. Normal-Wishart over mu and Lambda) brings all its variables
    joint = getattr(qf.dist, "joint", None)
    members = [model.variables[n] for n in joint.members] if joint is not None else [var]
    prior, posterior = copy.deepcopy(qf.dist), _renamed_copy(qf.dist, renamed)
    for v in members:
        shadow.latent(v.name, v.plates, latex=v.latex)
    for v in members:
        part = model.qfactors[v.name].dist
        shadow.factor(shadow.variables[v.name], _part(prior, qf.dist, part))
        shadow.q(shadow.variables[v.name], _part(posterior, qf.dist, part))
    out = dict(derive_update(shadow, var.name).natural)
    model._cache[key] = out
    return out


@dataclass
class SVIResult:
    """Output of :meth:`SVI.run`: ``params`` the final global (and last minibatch's local)
    parameters, ``rho`` the step sizes, ``n_steps``; with a monitor, ``monitor`` its values
    at ``steps_at`` and ``wall``/``cpu`` the seconds spent outside it."""

    params: dict
    rho: np.ndarray
    n_steps: int
    monitor: np.ndarray = field(default_factory=lambda: np.zeros(0))
    steps_at: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    wall: np.ndarray = field(default_factory=lambda: np.zeros(0))
    cpu: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __getitem__(self, name):
        return self.params[name]


class SVI:
    """Natural-gradient SVI for ``model`` (see the module docstring).

    Formulas (SymPy, for :func:`vi_derivations.latex`), per global factor name:
    ``natural`` the natural parameters of q in its parameters; ``intermediate`` lambda_hat
    per statistic, the minibatch sums written over the plate ``minibatch`` (index b, size
    |B|) and scaled by N / |B|; ``intermediate_params`` the same in the family's parameters
    (hatted names); ``update`` the step mapped to the family's parameters, Eq(new, expression
    in the old parameters, the hatted ones and ``RHO``); ``schedule`` Eq(rho_t, (tau_0 +
    t)^(-kappa)).

    ``local_steps`` (>= 1) sweeps of the local factors per minibatch at most, stopping early
    when no local parameter moves by more than ``local_tol`` (>= 0; 0 runs all sweeps). A
    local factor read before it is written in the sweep starts uniform if it is one-hot
    (Categorical); otherwise pass ``local_init(chunk, params, fixed) -> dict``.
    """

    def __init__(self, model, data_plate=None, *, tau0=1.0, kappa=0.7, local_steps=100,
                 local_tol=1e-6, local_init=None):
        self.model = model
        self.plan = plan = map_reduce(model, data_plate)
        self.split = plan.split
        self.tau0, self.kappa = _check_schedule(tau0, kappa)
        self.local_steps = _check_int("local_steps", local_steps, 1)
        if isinstance(local_tol, bool) or not isinstance(local_tol, numbers.Real) \
                or not local_tol >= 0 or not np.isfinite(local_tol):
            raise ValueError(f"local_tol must be a finite number >= 0, got {local_tol!r}")
        self.local_tol = float(local_tol)
        if local_init is not None and not callable(local_init):
            raise TypeError("local_init must be callable(chunk, params, fixed) -> dict or None")
        self.local_init = local_init
        self.schedule = sp.Eq(RHO, (TAU0 + T) ** (-KAPPA))
        taken = {p.name for p in model.plates} | set(model.variables)
        bname = next(n for n in ("B", "S", "Bmini") if n not in taken)
        indices = {p.index_name for p in model.plates}
        bindex = next(n for n in ("b", "s", "bmini") if n not in indices)
        self.minibatch = Plate(bname, bindex, latex=r"\mathcal{B}")
        # which local parameters a sweep reads before it writes them
        written, self._needs_start, self._one_sweep = set(), [], True
        for n in plan.local_order:
            reads = set().union(*(names_in(e) for e in derive_update(model, n).natural.values()))
            local_read = reads & set(self.split.local_params)
            self._one_sweep = self._one_sweep and not local_read
            self._needs_start += sorted(local_read - written)
            written |= _declared(model.qfactors[n].dist)
        self._rho_name = next(n for n in ("rho", "rho_svi", "rho_step")
                              if n not in plan.stat_model.variables)
        rho = plan.stat_model.hyper(self._rho_name, (), latex=r"\rho_t", positive=False)
        display = Model(f"{model.name}_svi")
        self.natural, self.intermediate, self.intermediate_params, self.update = {}, {}, {}, {}
        self._stat_names, self._step_fns = set(), {}
        self.global_factors, joints = [], set()
        for n in plan.global_order:
            sch = plan.schedules[n]
            if not sch.vectorised:
                raise UnsupportedModelError(
                    f"model {model.name!r}: the elements of the global factor q({n}) are coupled "
                    f"along {', '.join(sch.plates)} ({'; '.join(sch.terms[:2])}): CAVI updates "
                    "them one at a time, and a natural-gradient step of all of them at once "
                    "towards a Jacobi target is not that sweep; SVI supports global factors "
                    "whose elements are independent given the other factors")
        for n in plan.global_order:          # a joint factor (mu, Lambda) steps once
            joint = getattr(model.qfactors[n].dist, "joint", None)
            if joint is None or id(joint) not in joints:
                self.global_factors.append(n)
                joints.add(id(joint))
        for n in self.global_factors:
            u = derive_update(model, n)
            fam = u.family
            cur, hat = natural_of(model, n), plan.global_natural[n]
            self._stat_names |= set(plan.stats) & set().union(*map(names_in, hat.values()))
            keys = list(dict.fromkeys(list(cur) + list(hat)))
            stepped = copy.copy(u)
            stepped.natural = {k: (1 - rho) * cur.get(k, 0) + rho * hat.get(k, 0) for k in keys}
            stepped.model = plan.stat_model
            self._step_fns[n] = stepped.numeric()
            self.natural[n] = cur
            self.intermediate[n] = {k: self._on_minibatch(e) for k, e in hat.items()}
            # each parameter the factor declares (a full covariance too), not every map output
            targets = u.targets()
            self.intermediate_params[n] = [
                sp.Eq(_hatted(display, targets[p]), e, evaluate=False)
                for p, e in fam.natural_to_params(self.intermediate[n], u.event_reps).items()
                if p in targets]
            hats = {names_in(t).pop(): _hatted(display, t) for t in targets.values()}
            mixed = {k: (1 - RHO) * cur.get(k, 0)
                     + RHO * _rename(sp.sympify(cur.get(k, 0)), hats) for k in keys}
            self.update[n] = [sp.Eq(targets[p], _readable(e), evaluate=False)
                              for p, e in fam.natural_to_params(mixed, u.event_reps).items()
                              if p in targets]

    # ------------------------------------------------------------------ formulas
    def _on_minibatch(self, expr):
        """Each statistic T -> (N / |B|) sum_b of its summand over the minibatch."""
        plan, plate = self.plan, self.split.data_plate
        b = self.minibatch.index
        subs = {}
        for name, definition in plan.stats.items():
            if name not in names_in(expr):
                continue
            body = definition.function.xreplace({plate.index: b})
            inner = [lim for lim in definition.limits if lim[0] != plate.index]
            if body == 1 and not inner:
                subs[name] = plate.size
            else:
                subs[name] = plate.size / self.minibatch.size * Sum(
                    body, (b, 0, self.minibatch.size - 1), *inner)
        out = sp.sympify(expr)
        for name, repl in subs.items():
            sym = plan.stat_symbols[name]
            if isinstance(sym, Indexed):
                out = out.replace(
                    lambda e, n=name: isinstance(e, Indexed) and str(e.base.label) == n,
                    lambda e, r=repl, ax=sym.indices: r.xreplace(dict(zip(ax, e.indices))))
            else:
                out = out.xreplace({s: repl for s in out.free_symbols
                                    if isinstance(s, sp.Symbol) and s.name == name})
        return out

    # ------------------------------------------------------------------ numerical steps
    def _start(self, chunk, params, fixed):
        if not self._needs_start:
            return {}
        if self.local_init is not None:
            start = self.local_init(chunk, params, fixed)
            if not isinstance(start, dict):
                raise TypeError("local_init must return a dict of local parameters")
            return start
        model = self.model
        sizes = plate_sizes(model, {**{k: v for k, v in fixed.items() if k in model.variables},
                                    **{k: v for k, v in params.items() if k in model.variables},
                                    **chunk})
        start = {}
        for name in self._needs_start:
            factor = next(f for f in model.qfactors.values()
                          if name in _declared(f.dist))
            if not factor.dist.sums_to_one:
                raise ValueError(
                    f"local_init: the local sweep reads {name} before it updates it and "
                    f"q({factor.var.name}) has no uniform start; pass local_init")
            plates = model.variables[name].plates
            shape = tuple(int(sizes.get(p.size, p.size)) for p in plates)
            (event,) = factor.dist.event_plates
            start[name] = np.full(shape, 1.0 / shape[plates.index(event)])
        return start

    def local(self, chunk, params, fixed):
        """Local parameters of the points in ``chunk`` given the global ``params``: sweeps
        of the local updates until none moves by more than ``local_tol`` (or
        ``local_steps`` sweeps)."""
        local = self._start(chunk, params, fixed)
        for _ in range(1 if self._one_sweep else self.local_steps):
            new = self.plan.local_sweep(chunk, {**params, **local}, fixed)
            moved = max((float(np.max(np.abs(np.asarray(new[k]) - local[k])))
                         for k in new if k in local), default=np.inf)
            local = new
            if moved <= self.local_tol:
                break
        return local

    def step(self, chunk, params, fixed, *, rho, scale):
        """One SVI step on the minibatch ``chunk``: local step, statistics scaled by ``scale``
        (N / |B|), then every global factor (in q order) moves a fraction ``rho`` of the way
        to its intermediate parameter in natural coordinates. Returns (params, local)."""
        for name, value, ok in (("rho", rho, lambda v: 0 < v <= 1),
                                ("scale", scale, lambda v: v > 0)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) \
                    or not np.isfinite(value) or not ok(value):
                raise ValueError(f"{name} must be a finite number "
                                 f"{'in (0, 1]' if name == 'rho' else '> 0'}, got {value!r}")
        local = self.local(chunk, params, fixed)
        stats = self.plan.statistics({**chunk, **local}, params, fixed, self._stat_names)
        stats = {k: scale * np.asarray(v) for k, v in stats.items()}
        params = dict(params)
        for n in self.global_factors:
            params.update(self._step_fns[n](**fixed, **params, **stats, **{self._rho_name: rho}))
        return params, local

    def elbo(self, data, params, fixed) -> float:
        """The full ELBO (constants=True) at the global ``params``, the local factors of all
        data points set by :meth:`local`."""
        local = self.local(data, params, fixed)
        stats = self.plan.statistics({**data, **local}, params, fixed)
        return self.plan.elbo(stats, params, fixed)

    def run(self, data, fixed, init, *, batch_size, n_steps, seed=0, batches=None,
            monitor=None, monitor_every=0) -> SVIResult:
        """``n_steps`` SVI steps from the global parameters ``init``. Minibatches: sorted
        draws of ``batch_size`` points without replacement from ``numpy.random.default_rng(seed)``
        (``seed`` an int or a Generator), or the index arrays in ``batches``. ``monitor(params)``
        is called every ``monitor_every`` steps and after the last one."""
        if not isinstance(data, dict) or set(self.split.data) - set(data):
            raise ValueError(f"data must be a dict holding {sorted(self.split.data)}")
        lengths = {k: np.shape(data[k])[0] if np.ndim(data[k]) else 0 for k in self.split.data}
        n_items = lengths[self.split.data[0]]
        if n_items < 1 or len(set(lengths.values())) > 1:
            raise ValueError(f"data: every array needs the data plate "
                             f"{self.split.data_plate.name} on axis 0 with one length, "
                             f"got {lengths}")
        if not isinstance(fixed, dict):
            raise TypeError("fixed must be a dict of hyper-parameters")
        if not isinstance(init, dict) or set(self.split.global_params) - set(init):
            missing = sorted(set(self.split.global_params) - set(init if isinstance(init, dict)
                                                                   else ()))
            raise ValueError(f"init must be a dict of the global parameters; missing {missing}")
        batch_size = _check_int("batch_size", batch_size, 1, n_items)
        n_steps = _check_int("n_steps", n_steps, 1)
        monitor_every = _check_int("monitor_every", monitor_every, 0)
        if monitor is not None and not callable(monitor):
            raise TypeError("monitor must be callable(params) -> float or None")
        if batches is None:
            if not isinstance(seed, (numbers.Integral, np.random.Generator)) or isinstance(
                    seed, bool):
                raise TypeError("seed must be an int or a numpy.random.Generator")
            rng = np.random.default_rng(seed)
            batches = (np.sort(rng.choice(n_items, size=batch_size, replace=False))
                       for _ in range(n_steps))
        rho = (self.tau0 + np.arange(1, n_steps + 1)) ** (-self.kappa)
        params = dict(init)
        trace, at, walls, cpus = [], [], [], []
        spent = spent_cpu = 0.0
        t_start, c_start = time.perf_counter(), time.process_time()
        for t, idx in enumerate(batches, start=1):
            if t > n_steps:
                break
            idx = np.asarray(idx)
            if idx.ndim != 1 or idx.size == 0 or idx.dtype.kind not in "iu" \
                    or idx.min() < 0 or idx.max() >= n_items:
                raise ValueError(f"batches: step {t} is not a non-empty 1-D array of indices "
                                 f"in [0, {n_items})")
            chunk = {k: np.asarray(data[k])[idx] for k in self.split.data}
            params, local = self.step(chunk, params, fixed, rho=float(rho[t - 1]),
                                      scale=n_items / len(idx))
            if monitor is not None and ((monitor_every and t % monitor_every == 0)
                                        or t == n_steps):
                t0, c0 = time.perf_counter(), time.process_time()
                walls.append(t0 - t_start - spent)
                cpus.append(c0 - c_start - spent_cpu)
                trace.append(float(monitor(params)))
                at.append(t)
                spent += time.perf_counter() - t0
                spent_cpu += time.process_time() - c0
        return SVIResult(params, rho, n_steps, np.array(trace), np.array(at, dtype=int),
                         np.array(walls), np.array(cpus))


def _declared(dist):
    """Names of the variational arrays a q factor declares: its parameters' and, for a full
    covariance (MvNormal), the matrix's (not among ``params``)."""
    out = set().union(*map(names_in, dist.params.values()))
    matrix = getattr(dist, "matrix", None)
    if matrix is not None:
        out.add(str(getattr(matrix, "label", matrix)))
    return out


def _part(copied, original, part):
    """The member of a copied joint factor that corresponds to ``part`` of the original."""
    joint = getattr(original, "joint", None)
    if joint is None:
        return copied
    (attr,) = [a for a, v in vars(joint).items() if v is part]
    return getattr(copied.joint, attr)


def _renamed_copy(dist, renamed):
    """A deep copy of a family (with its joint factor) whose parameters use other symbols."""
    new = copy.deepcopy(dist)
    seen = set()

    def fix(obj):
        if id(obj) in seen:
            return
        seen.add(id(obj))
        for attr, value in vars(obj).items():
            if isinstance(value, sp.Basic):
                setattr(obj, attr, value.xreplace(renamed))
            elif isinstance(value, dict):
                for k, e in value.items():
                    if isinstance(e, sp.Basic):
                        value[k] = e.xreplace(renamed)
            elif isinstance(value, tuple) and any(isinstance(e, sp.Basic) for e in value):
                setattr(obj, attr, tuple(e.xreplace(renamed) if isinstance(e, sp.Basic) else e
                                         for e in value))
            elif hasattr(value, "params") and hasattr(value, "log_density"):
                fix(value)

    fix(new)
    return new


def _readable(expr):
    """An update written as old + rho_t (...) when it is polynomial in rho_t, else simplified
    (except a sum over the entries of a matrix inverse, e.g. a full covariance times a vector:
    SymPy's simplify does not terminate on it, so it is left as the family wrote it)."""
    if not (expr.has(MatrixInverse) and expr.has(Sum)):
        expr = sp.simplify(expr)
    if expr.is_polynomial(RHO):
        return sp.collect(sp.expand(expr), RHO)
    return sp.factor_terms(expr)


def names_in(expr):
    """Names of the arrays and scalars an expression reads (not plate sizes or indices)."""
    expr = sp.sympify(expr)
    labels = {a.base.label for a in expr.atoms(Indexed)}
    return {str(a) for a in labels} | {s.name for s in expr.free_symbols
                                       if isinstance(s, sp.Symbol) and not isinstance(s, Idx)
                                       and not s.is_integer and s not in labels}


def _rename(expr, by_name):
    """Replace the arrays/scalars named in ``by_name`` by the given Indexed/Symbol twins."""
    subs = {}
    for a in expr.atoms(Indexed):
        twin = by_name.get(str(a.base.label))
        if twin is not None:
            subs[a] = twin.base[a.indices]
    for s in expr.free_symbols:
        if (isinstance(s, sp.Symbol) and s.name in by_name
                and not isinstance(by_name[s.name], Indexed)):
            subs[s] = by_name[s.name]
    return expr.xreplace(subs)


def _hatted(display, target):
    """The hatted twin of a variational parameter (lambda_kv -> hat lambda_kv), declared in
    the model ``display`` so that the printer knows its LaTeX name."""
    indexed = isinstance(target, Indexed)
    base = str(target.base.label) if indexed else str(target)
    name = f"{base}_hat"
    plates = tuple(_IDX_PLATE[i] for i in target.indices) if indexed else ()
    if name not in display.variables:
        display._declare(name, plates, "hyper", r"\hat{%s}" % LATEX_NAMES.get(base, base),
                         positive=False)
    symbol = display.variables[name].symbol
    return symbol[target.indices] if indexed else symbol


def generate_svi(model, data_plate=None, **options) -> SVI:
    """The SVI of ``model`` (see :class:`SVI`; ``options``: tau0, kappa, local_steps,
    local_tol, local_init)."""
    return SVI(model, data_plate, **options)
