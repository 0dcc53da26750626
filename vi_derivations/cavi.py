"""Generated NumPy CAVI: a runnable fit loop written from a model's derivation.

``cavi(model, order=None)`` (alias ``generate_cavi``) derives every CAVI update of the model
(:func:`vi_derivations.update`) and its full ELBO (:func:`vi_derivations.elbo` with
``constants=True``, a lower bound on log p(data)), turns them into the engine's vectorised
NumPy callables (:func:`vi_derivations.to_numpy`, ``Update.numeric()``), and *writes* a small
Python module around them: one function per q factor, one ELBO function, one sweep and a fit
loop.  That source is what runs (it is compiled with :func:`exec`), and
:meth:`GeneratedCAVI.source` returns it, formulas included as docstrings.

A sweep updates the q factors in ``order`` (default: the order of the ``model.q``
declarations); after every sweep the full ELBO is evaluated; the loop stops when
``|L_t - L_{t-1}| <= tol |L_t|`` (``tol=0`` runs exactly ``max_iter`` sweeps).

Within one factor, the elements are updated at once only where they are independent given the
other factors (:func:`vi_derivations.schedule.update_schedule`); where a term of the log joint
couples two elements of the factor along a plate, they are updated one at a time along that
plate (Gauss-Seidel), so that every step is a coordinate-ascent step and the ELBO never
decreases.  The generated source states the schedule of every factor and why.  A non-finite
parameter or ELBO raises a ValueError naming the factor update and the parameter (or the
model/q factor whose ELBO term) that stopped being finite.

Arrays are passed by the model's variable names: ``data`` holds the observed variables and
the hyper-parameters, ``init`` the variational parameters (only those that the first sweep
reads before it writes them are required).  Plate sizes are read off the array shapes.
"""
from __future__ import annotations

import keyword
import textwrap
from dataclasses import dataclass, field

import numpy as np
import sympy as sp
from sympy import Idx, Indexed

from .elbo import elbo as _elbo_expr
from .numeric import compile_expr
from .render import tidy
from .schedule import update_schedule
from .updates import derive_update

__all__ = ["cavi", "generate_cavi", "GeneratedCAVI", "CaviResult"]


@dataclass
class CaviResult:
    """Output of a generated CAVI run.

    ``params``: variational parameter name -> final value (array or float);
    ``elbo``: full ELBO (constants=True) after each sweep, shape (n_iter,);
    ``n_iter``: sweeps run; ``converged``: the relative-change test was met;
    ``order``: the q factors in the order they were updated within a sweep.
    """

    params: dict
    elbo: np.ndarray
    n_iter: int
    converged: bool
    order: tuple = field(default=())

    def __getitem__(self, name):
        return self.params[name]


# ----------------------------------------------------------------------------- helpers
def _var_names(expr, model):
    """Names of the model variables (data, hyper, variational) that ``expr`` reads."""
    expr = sp.sympify(expr)
    names = set()
    for a in expr.atoms(Indexed):
        v = model.var_of(a.base)
        if v is not None:
            names.add(v.name)
    for a in expr.atoms(sp.Function):
        for arg in a.args:
            if isinstance(arg, sp.IndexedBase):
                v = model.var_of(arg)
                if v is not None:
                    names.add(v.name)
    labels = {a.base.label for a in expr.atoms(Indexed)}
    for s in expr.free_symbols:
        if isinstance(s, sp.Symbol) and not isinstance(s, Idx) and s not in labels:
            v = model.var_of(s)
            if v is not None:
                names.add(v.name)
    return names


def _is_positive(v):
    return bool((v.symbol.label if v.plates else v.symbol).is_positive)


def _size_symbols(expr, out=()):
    """Plate-size symbols an expression needs: explicit ones, summation ranges, output axes."""
    expr = sp.sympify(expr)
    syms = {s for s in expr.free_symbols if isinstance(s, sp.Symbol) and s.is_integer and not isinstance(s, Idx)}
    for s in expr.atoms(sp.Sum):
        for lim in s.limits:
            syms |= sp.sympify(lim[2]).free_symbols
    for i in list(out) + [s for s in expr.free_symbols if isinstance(s, Idx)]:
        syms |= sp.sympify(i.upper).free_symbols
    return {s for s in syms if isinstance(s, sp.Symbol) and not isinstance(s, Idx)}


def _with_sizes(names, sizes, model, preferred):
    """Add variables so that every plate size in ``sizes`` can be read off an argument."""
    names = list(dict.fromkeys(names))
    have = {p.size for n in names for p in model.variables[n].plates}
    for s in sorted(sizes - have, key=str):
        for n in preferred:
            if any(p.size == s for p in model.variables[n].plates):
                names.append(n)
                break
        else:
            raise ValueError(f"model {model.name!r}: no variable carries the plate size {s}")
        have |= {p.size for p in model.variables[names[-1]].plates}
    return names


def _floor(a):
    """max(a, smallest normal float): keeps p log p finite (0 log 0 = 0) in the ELBO."""
    return np.maximum(a, np.finfo(float).tiny)


def _write(params, new, at, axes):
    """Write into ``params`` the elements ``at`` (one index per coupled plate) of every updated
    array in ``new``; ``axes[name]`` gives the axis of each coupled plate in that array (None:
    the array does not run over that plate, so all of it is written)."""
    for name, arr in new.items():
        ax = axes.get(name, ())
        cur = params.get(name)
        if cur is None or np.ndim(arr) == 0 or all(a is None for a in ax):
            params[name] = np.array(arr, dtype=float) if np.ndim(arr) else arr
            continue
        ix = [slice(None)] * np.ndim(arr)
        for a, i in zip(ax, at):
            if a is not None:
                ix[a] = i
        params[name][tuple(ix)] = np.asarray(arr)[tuple(ix)]
    return params


def _ident(name):
    return name + "_" if keyword.iskeyword(name) else name


def _formula(eq, model):
    """One readable line ``lhs = rhs`` (summation dummies renamed to plate letters)."""
    free = {str(s) for s in eq.lhs.free_symbols if isinstance(s, Idx)} if isinstance(eq.lhs, Indexed) else set()
    return f"{_text(tidy(eq.lhs, free))} = {_text(tidy(eq.rhs, free))}"


def _text(expr):
    """str() of an expression with the constant pi written np.pi (a model may name a parameter pi)."""
    return str(sp.sympify(expr).xreplace({sp.pi: sp.Symbol("np.pi")}))


def _family(dist):
    """Readable repr of a factor's family (a Mixture shows its indicator and component)."""
    return dist.describe()


def _wrap(line, indent="        "):
    """Wrap a long formula line for a docstring (cosmetic: breaks only at spaces)."""
    return textwrap.fill(line, width=110, initial_indent=indent, subsequent_indent=indent + "    ",
                         break_long_words=False, break_on_hyphens=False)


def _doc(text, indent="    "):
    text = text.replace("\\", "\\\\").replace('"""', "'''")
    return textwrap.indent('"""' + text.strip() + '\n"""', indent).lstrip()


# ----------------------------------------------------------------------------- generator
class GeneratedCAVI:
    """CAVI for ``model`` generated from its derivation (see the module docstring).

    Attributes: ``model``, ``order`` (tuple of latent names), ``updates`` (name -> Update),
    ``data_names`` (observed + hyper), ``param_names`` (variational), ``required_init``
    (variational parameters the first sweep reads before writing), ``namespace`` (the
    executed generated module: ``update_<z>``, ``elbo``, ``sweep``, ``fit``).
    """

    def __init__(self, model, order=None):
        model.validate()
        self.model = model
        names = list(model.qfactors)
        bounds = list(getattr(model, "bounds", {}))
        if order is None:
            order = names
        if isinstance(order, str):
            order = [order]
        order = list(order)
        # a local bound's parameter (xi) is updated after the q factors unless the order places it
        order += [b for b in bounds if b not in order]
        if sorted(order) != sorted(names + bounds) or len(set(order)) != len(order):
            raise ValueError(f"order must list every q factor of model {model.name!r} exactly once "
                             f"({', '.join(names)}), got {order}")
        self.order = tuple(order)
        self.updates = {n: derive_update(model, n) for n in self.order if n in model.qfactors}
        self.schedules = {n: update_schedule(model, n) for n in self.updates}
        from .local_bound import derive_bound_update
        self.bound_updates = {n: derive_bound_update(model, n) for n in self.order if n in bounds}
        self.elbo_expr = _elbo_expr(model, constants=True)
        self._elbo_fn = compile_expr(self.elbo_expr, model)
        self._update_fns = {n: u.numeric() for n, u in {**self.updates, **self.bound_updates}.items()}
        kinds = {v.name: v.kind for v in model.variables.values()}
        self.data_names = tuple(n for n, k in kinds.items() if k not in ("latent", "variational"))
        self.param_names = tuple(n for n, k in kinds.items() if k == "variational")
        self._reads, self._writes = {}, {}
        for n, u in self.updates.items():
            reads = set()
            for e in u.natural.values():
                reads |= _var_names(e, model)
            sizes = set()
            for e in u.natural.values():
                sizes |= _size_symbols(e, u.out_indices)
            ordered = [x for x in self.data_names + self.param_names if x in reads]
            self._reads[n] = _with_sizes(ordered, sizes, model, self.data_names + self.param_names)
            self._writes[n] = self._written(u)
        for n, u in self.bound_updates.items():
            rhs = u.assignments[0].rhs
            reads = _var_names(rhs, model)
            ordered = [x for x in self.data_names + self.param_names if x in reads]
            self._reads[n] = _with_sizes(ordered, _size_symbols(rhs, u.out_indices), model,
                                         self.data_names + self.param_names)
            self._writes[n] = [n]
        written, required = set(), []
        for n in self.order:
            for r in self._reads[n]:
                if kinds[r] == "variational" and r not in written and r not in required:
                    required.append(r)
            written |= set(self._writes[n])
        self.elbo_reads = tuple(x for x in self.data_names + self.param_names
                                if x in _var_names(self.elbo_expr, model))
        for r in self.elbo_reads:
            if kinds[r] == "variational" and r not in written and r not in required:
                required.append(r)
        self.required_init = tuple(required)
        # positive variables that appear inside a log in the ELBO (e.g. probabilities in p log p)
        logged = set()
        for lg in self.elbo_expr.atoms(sp.log):
            logged |= _var_names(lg.args[0], model)
        self.floored = tuple(r for r in self.elbo_reads if r in logged and r in self.param_names
                             and _is_positive(model.variables[r]))
        self._source = self._generate()
        self.namespace = {"np": np, "_UPDATE": self._update_fns, "_ELBO": self._elbo_fn, "_floor": _floor,
                          "_SIZES": self._sizes, "_WRITE": _write, "_CHECK": self._check_finite,
                          "_ELBO_CAUSE": self._elbo_cause,
                          "__name__": f"vi_derivations.generated.{model.name}"}
        exec(compile(self._source, f"<generated CAVI for {model.name}>", "exec"), self.namespace)

    def _axes(self, n):
        """For a sequential factor: written array name -> axis of each coupled plate (or None)."""
        u, sch = self.updates[n], self.schedules[n]
        v = self.model.variables[n]
        idx = [v.plates[p].index for p in sch.positions]
        fam = u.family
        targets = [t for name, t in fam.params.items() if name in u.params]
        if hasattr(fam, "matrix") and "cov" in u.params:
            j, l = u.event_reps
            targets.append(fam.matrix[tuple(fam.batch_of(fam.canonical_index())) + (j, l)])
        out = {}
        for t in targets:
            ind = list(t.indices) if isinstance(t, Indexed) else []
            out[str(t.base.label) if isinstance(t, Indexed) else str(t)] = tuple(
                ind.index(i) if i in ind else None for i in idx)
        return out

    def _sizes(self, params, data, plates):
        """Sizes of the named plates, read off the arrays."""
        from .numeric import plate_sizes
        known = plate_sizes(self.model, {**{k: v for k, v in data.items()},
                                         **{k: v for k, v in params.items()}})
        by_name = {p.name: p for p in self.model.plates}
        out = []
        for name in plates:
            size = by_name[name].size
            out.append(int(size) if size.is_Integer else known[size])
        return tuple(out)

    @staticmethod
    def _check_finite(n, new):
        for name, arr in new.items():
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"the update of q({n}) produced non-finite values of its parameter {name!r} "
                                 f"(the optimal factor overflowed or is improper)")
        return new

    def _elbo_cause(self, params, data):
        """Which pieces of the ELBO are not finite: the model factor (E_q[log p]) or q factor
        (entropy) each term comes from, and the parameters it reads."""
        from .elbo import expected_log_joint_terms, log_var_terms
        from .monomials import terms_to_expr
        groups = {}
        for t in expected_log_joint_terms(self.model):
            groups.setdefault(("E_q[log " + t.origin + "]"), []).append(t)
        for t in log_var_terms(self.model):
            groups.setdefault(("E_q[log " + t.origin + "]"), []).append(t)
        bad = []
        arrays = {**data, **params}
        for label, terms in groups.items():
            e = terms_to_expr(terms)
            reads = _var_names(e, self.model)
            try:
                with np.errstate(all="ignore"):
                    val = compile_expr(e, self.model)(**{r: arrays[r] for r in reads if r in arrays})
            except (ValueError, KeyError, FloatingPointError) as err:
                bad.append(f"{label} cannot be evaluated ({err})")
                continue
            if not np.isfinite(val):
                pars = sorted(r for r in reads if r in self.param_names)
                nonfin = [r for r in pars if not np.all(np.isfinite(arrays.get(r, 0.0)))]
                bad.append(f"{label} = {val} (reads {', '.join(pars) or 'no variational parameter'}"
                           + (f"; non-finite: {', '.join(nonfin)}" if nonfin else "") + ")")
        return "; ".join(bad) if bad else "every piece is finite on its own (the pieces cancel to nan)"

    @staticmethod
    def _written(u):
        out = []
        fam = u.family
        for name, target in fam.params.items():
            if name in u.params:
                out.append(str(target.base.label) if isinstance(target, Indexed) else str(target))
        out += [str(base.label) for pname, base in fam.extra_targets().items() if pname in u.params]
        return out

    # ------------------------------------------------------------------ the generated module
    def _generate(self):
        M = self.model
        lines = []
        head = [f"CAVI for the model {M.name!r}: {M.description}", "",
                "Generated by vi_derivations.cavi from the engine's derivation; do not edit.",
                "Model factors:"]
        head += [f"    {f.label}: {f.var.name} ~ {_family(f.dist)}" for f in M.factors]
        head += ["Mean-field family:"]
        head += [f"    {qf.label} = {qf.dist!r}" for qf in M.qfactors.values()]
        head += ["", f"One sweep updates {', '.join(self._step_names())} in this order; after each sweep the",
                 "full ELBO (every constant kept: a lower bound on log p(data)) is recorded; the loop stops",
                 "when |L_t - L_(t-1)| <= tol |L_t| (tol = 0 runs exactly max_iter sweeps).",
                 "_UPDATE[z] and _ELBO are the engine's vectorised NumPy callables for the formulas shown",
                 "(vd.update(model, z).numeric() and vd.to_numpy(vd.elbo(model, constants=True), model)).",
                 "In the formulas, Sum(f, (i, 0, N - 1)) sums f over the plate index i = 0..N-1 (NumPy positions).",
                 f"data: {', '.join(self.data_names)}; variational parameters: {', '.join(self.param_names)}."]
        if self.bound_updates:
            head += ["With the local bound(s) " + ", ".join(f"{u.bound!r}" for u in self.bound_updates.values())
                     + " in place of the non-conjugate terms, the", "ELBO is the bound-ELBO: a lower bound on the "
                     "ELBO and on log p(data)."]
        lines.append(_doc("\n".join(head), indent=""))
        lines.append("")
        for n in self.order:
            if n in self.bound_updates:
                u = self.bound_updates[n]
                doc = [f"{n}: the maximiser of the bound-ELBO over the parameter of the {u.bound.name} "
                       f"(all elements at once: each {n} element appears in its own terms only).",
                       _wrap("Stationarity: " + _text(tidy(u.factored)) + " = 0", "")]
                doc += [_wrap(_formula(eq, M), "    ") for eq in u.assignments]
                args = ", ".join(f"{r}={'params' if r in self.param_names else 'data'}[{r!r}]"
                                 for r in self._reads[n])
                lines += ["", f"def update_{_ident(n)}(params, data):", "    " + _doc("\n".join(doc)),
                          f"    params.update(_CHECK({n!r}, _UPDATE[{n!r}]({args})))", "    return params", ""]
                continue
            u = self.updates[n]
            sch = self.schedules[n]
            how = ("all elements at once" if sch.vectorised
                   else f"one element at a time along {', '.join(sch.plates)}")
            doc = [f"q*({n}) = {u.family.name}: update {', '.join(self._writes[n])} ({how}).",
                   _wrap("Schedule: " + sch.reason, "")]
            doc += [_wrap(_formula(eq, M), "    ") for eq in u.assignments]
            args = ", ".join(f"{r}={'params' if r in self.param_names else 'data'}[{r!r}]"
                             for r in self._reads[n])
            lines += ["", f"def update_{_ident(n)}(params, data):",
                      "    " + _doc("\n".join(doc))]
            if sch.vectorised:
                lines += [f"    new = _CHECK({n!r}, _UPDATE[{n!r}]({args}))",
                          "    params.update(new)"]
            else:
                lines += [f"    for at in np.ndindex(*_SIZES(params, data, {sch.plates!r})):",
                          f"        new = _CHECK({n!r}, _UPDATE[{n!r}]({args}))",
                          f"        _WRITE(params, new, at, {self._axes(n)!r})"]
            lines += ["    return params", ""]
        def arg(r):
            a = f"{'params' if r in self.param_names else 'data'}[{r!r}]"
            return f"{r}=_floor({a})" if r in self.floored else f"{r}={a}"
        el = ", ".join(arg(r) for r in self.elbo_reads)
        floor_note = ("" if not self.floored else
                      "\n0 log 0 = 0: entries of " + ", ".join(self.floored) + " that underflowed to 0 are raised to the "
                      "smallest\nnormal float (2.2e-308) inside the ELBO only, so p log p contributes < 1e-305, not NaN.")
        lines += ["", "def elbo(params, data):",
                  "    " + _doc("Full ELBO = E_q[log p(data, latents)] - E_q[log q(latents)]:\n"
                              + _wrap(_text(tidy(self.elbo_expr)), "    ") + floor_note),
                  "    with np.errstate(all=\"ignore\"):  # a non-finite value is reported below, by cause",
                  f"        value = _ELBO({el})",
                  "    if not np.isfinite(value):",
                  "        raise ValueError(f\"the ELBO is not finite ({value}): {_ELBO_CAUSE(params, data)}\")",
                  "    return value", ""]
        lines += ["", "def sweep(params, data):",
                  "    " + _doc("One CAVI sweep, in place: " + ", ".join(self._step_names()) + "."),]
        lines += [f"    update_{_ident(n)}(params, data)" for n in self.order]
        lines += ["    return params", ""]
        lines += ["", "def fit(data, init, max_iter=500, tol=1e-10):",
                  "    " + _doc("Run sweeps until the relative ELBO change is <= tol (tol = 0: max_iter sweeps).\n"
                              "Returns (params, ELBO trace, number of sweeps, converged)."),
                  "    params = {name: np.array(value, dtype=float) for name, value in init.items()}",
                  "    trace, converged = [], False",
                  "    for _ in range(max_iter):",
                  "        sweep(params, data)",
                  "        trace.append(elbo(params, data))",
                  "        if tol > 0 and len(trace) > 1 and abs(trace[-1] - trace[-2]) <= tol * abs(trace[-1]):",
                  "            converged = True",
                  "            break",
                  "    return params, np.array(trace), len(trace), converged", ""]
        return "\n".join(lines)

    def _step_names(self):
        """q(z) for a q factor, the bare name for a local bound's parameter (xi), in sweep order."""
        return [n if n in self.bound_updates else f"q({n})" for n in self.order]

    def source(self):
        """The generated Python source (what :meth:`run` executes)."""
        return self._source

    # ------------------------------------------------------------------ validation
    def _check(self, data, init):
        M = self.model
        if not isinstance(data, dict) or not isinstance(init, dict):
            raise ValueError("data and init must be dicts mapping variable names to arrays")
        for n in data:
            if n not in self.data_names:
                kind = M.variables[n].kind if n in M.variables else None
                raise ValueError(f"data: {n!r} is not an observed variable, covariate or hyper-parameter of "
                                 f"model {M.name!r}" + (f" (it is {kind})" if kind else "")
                                 + f"; expected {', '.join(self.data_names)}")
        for n in self.data_names:
            if n not in data:
                raise ValueError(f"data: missing {n!r} (model {M.name!r} needs {', '.join(self.data_names)})")
        for n in init:
            if n not in self.param_names:
                raise ValueError(f"init: {n!r} is not a variational parameter of model {M.name!r}; "
                                 f"expected some of {', '.join(self.param_names)}")
        for n in self.required_init:
            if n not in init:
                raise ValueError(f"init: missing {n!r}; with the order {self.order} the first sweep "
                                 f"reads {', '.join(self.required_init)} before updating them")
        out = {}
        likelihood = {f.var.name: f.dist.observation_family for f in M.factors if f.var.kind == "observed"}
        for where, arrays in (("data", data), ("init", init)):
            for n, val in arrays.items():
                v = M.variables[n]
                try:
                    arr = np.asarray(val, dtype=float)
                except (TypeError, ValueError):
                    raise ValueError(f"{where}: {n!r} must be numeric, got {type(val).__name__}") from None
                if arr.ndim != len(v.plates):
                    raise ValueError(f"{where}: {n!r} must have {len(v.plates)} axes "
                                     f"({', '.join(p.name for p in v.plates) or 'a scalar'}), got shape {arr.shape}")
                if not np.all(np.isfinite(arr)):
                    raise ValueError(f"{where}: {n!r} contains NaN or inf")
                label = v.symbol.label if v.plates else v.symbol
                if label.is_positive and np.any(arr <= 0):
                    raise ValueError(f"{where}: {n!r} must be positive, got minimum {arr.min()}")
                if getattr(v.symbol, "symmetric", False) and not np.allclose(arr, np.swapaxes(arr, -1, -2)):
                    raise ValueError(f"{where}: {n!r} is declared symmetric; got a non-symmetric matrix")
                fam = likelihood.get(n)
                if where == "data" and fam is not None:      # observations on their likelihood's support
                    ev = fam.event_plates[0] if fam.event_plates else None
                    axis = v.plates.index(ev) if ev in v.plates else None
                    off = fam.off_support(arr, axis)
                    if off is not None:
                        raise ValueError(f"data: {n!r} must be {off}")
                out[n] = arr if v.plates else float(arr)
        # one-hot q factors: rows of their probabilities must sum to one
        for qf in M.qfactors.values():
            for pname in qf.dist.simplex_params:     # parameters on the simplex over the event plate
                target = qf.dist.params[pname]
                if not isinstance(target, Indexed) or str(target.base.label) not in init:
                    continue
                name = str(target.base.label)
                ev = qf.dist.event_plates[0].index
                axis = list(target.indices).index(ev) if ev in target.indices else None
                if axis is not None:
                    s = out[name].sum(axis=axis)
                    if np.any(np.abs(s - 1) > 1e-8):
                        raise ValueError(f"init: {name!r} must sum to one over the plate "
                                         f"{qf.dist.event_plates[0].name}; sums range over [{s.min()}, {s.max()}]")
        from .numeric import plate_sizes
        plate_sizes(M, out)  # consistent plate sizes across all arguments (ValueError names one)
        return ({n: out[n] for n in data}, {n: out[n] for n in init})

    # ------------------------------------------------------------------ running
    def run(self, data, init, *, max_iter=500, tol=1e-10):
        """Fit: returns a :class:`CaviResult` (final parameters, full-ELBO trace, n_iter, converged)."""
        if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
            raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
        if not np.isfinite(tol) or tol < 0:
            raise ValueError(f"tol must be a finite number >= 0, got {tol!r}")
        data, init = self._check(data, init)
        params, trace, n_iter, converged = self.namespace["fit"](data, init, int(max_iter), float(tol))
        return CaviResult(params, trace, n_iter, converged, self.order)

    __call__ = run

    def elbo(self, data, params):
        """Full ELBO (constants=True) at the given parameters."""
        data, params = self._check(data, params)
        return self.namespace["elbo"](params, data)

    def sweep(self, data, params):
        """One sweep from ``params`` (a new dict; the input is not modified)."""
        data, params = self._check(data, params)
        return self.namespace["sweep"](dict(params), data)

    def update(self, name, data, params):
        """Apply the update of q(name) alone; returns a new parameter dict."""
        if name not in self.updates and name not in self.bound_updates:
            raise ValueError(f"{name!r} is not a q factor of model {self.model.name!r}")
        data, params = self._check(data, {k: v for k, v in params.items()})
        return self.namespace[f"update_{_ident(name)}"](dict(params), data)

    def __repr__(self):
        return f"GeneratedCAVI({self.model.name!r}, order={self.order})"


def cavi(model, order=None):
    """Generate the CAVI of ``model`` (see :class:`GeneratedCAVI`); ``order``: q factors'
    update order within a sweep (default: their declaration order)."""
    return GeneratedCAVI(model, order)


generate_cavi = cavi
