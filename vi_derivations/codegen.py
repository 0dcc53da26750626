"""A standalone NumPy module for a model's CAVI, printed from its derivation.

``generate(model, order=None)`` returns Python source that imports only NumPy and SciPy: one
function per CAVI update (its formula beside it, as plain text and LaTeX), an ELBO function
(one line per model factor and per q factor) and ``fit(<data>, init=None, max_iter=500,
tol=1e-8, seed=0)``.  It is *printed*, not interpreted: :class:`ArrayPrinter` extends SymPy's
``SciPyPrinter`` so that an indexed SymPy expression (``Sum`` over plates of ``Indexed``
arrays) prints as broadcasting NumPy code and every ``Sum`` of a product as ``np.einsum`` with
the plates' index letters.

Before printing, each expression is rewritten (value unchanged, rounding aside):

* sums are distributed over additions and pushed inwards: a factor that does not carry the
  summed index leaves the sum, and the sum over the *data plate* (the first plate of an
  observed variable: rows are data points) is taken first, so that
  ``sum_ikd pi_ik x_id m_kd = sum_kd m_kd (sum_i pi_ik x_id)``;
* every resulting sum over the data plate is a named reduction (``sum_i_pi_x``).  Those that
  read only data are computed once before the loop; those that read only one *local* q factor
  (a factor with the data plate, such as q(c_i)) are computed in that factor's pass over the
  data and kept until it changes again.

What is particular to a family (its NumPy natural-parameter map, the axes of its parameters,
the names of its natural-parameter arrays, its observations' support) is read from the family
(:class:`vi_derivations.distributions.Family`); this module never asks which family it holds.

Arrays with the data plate are stored with that axis last (contiguous), so a reduction over
the short component axis runs over contiguous memory; ``fit`` converts on the way in and out.
A local Categorical factor's update runs over the data in blocks that fit in the CPU cache,
computing its probabilities, its reductions and its entropy in one pass (log-sum-exp, shifted
by the block's maximum when exp would under- or overflow; sum_k pi log pi = sum_k pi eta -
logsumexp(eta)); when nothing else reads its probabilities, the loop keeps only the sums and
``fit`` recomputes the probabilities once at the end.  Where a factor's elements are coupled
(:func:`vi_derivations.schedule.update_schedule` says "sequential"), its update loops over
them, each element's update reading the current values of the others.
"""
from __future__ import annotations

import keyword
import re
import textwrap
from dataclasses import dataclass

import sympy as sp
from sympy import Idx, Indexed, IndexedBase, KroneckerDelta, Sum
from sympy.printing.numpy import SciPyPrinter

from .distributions import LogDet, MatrixInverse, NotEqual, NumpyMap
from .elbo import elbo as _elbo_expr, expected_log_joint_terms, log_var_terms
from .monomials import terms_to_expr
from .render import latex, tidy
from .updates import derive_update

__all__ = ["generate", "ArrayPrinter", "CodegenError", "data_plates", "BLOCK"]

BLOCK = 1 << 18  # bytes of one (K, block) work array of a blocked pass (stays in the L2 cache)


class CodegenError(ValueError):
    """The model uses a construct the NumPy printer does not support (named in the message)."""


# ============================================================================ index bookkeeping
class _Plates:
    """Which plate an index ranges over, and which plates hold data points."""

    def __init__(self, model):
        self.model = model
        self.plates = list(model.plates)
        self.data = data_plates(model)

    def of(self, idx):
        try:
            from .model import plate_of
            p = plate_of(idx)
            if p in self.plates:
                return p
        except Exception:
            pass
        getter = getattr(self.model, "plate_of", None)
        if callable(getter):
            try:
                return getter(idx)
            except Exception:
                pass
        name = str(idx.label)
        cands = [p for p in self.plates if sp.simplify(idx.upper + 1 - p.size) == 0]
        for p in cands:
            if name == p.index_name or name.startswith(p.index_name + "_") or name.startswith(p.index_name + "'"):
                return p
        if len(cands) == 1:
            return cands[0]
        raise CodegenError(f"cannot tell which plate the index {idx} ranges over")

    def sort(self, labels):
        """Indices in the order of their plates in the model (then by name)."""
        return sorted(labels, key=lambda l: (self.plates.index(self.of(l)), str(l)))

    def is_data(self, idx):
        return self.of(idx) in self.data

    def order(self, labels):
        """Internal axis order: the given order with data-plate indices moved last."""
        labels = list(dict.fromkeys(labels))
        return tuple([l for l in labels if not self.is_data(l)] + [l for l in labels if self.is_data(l)])


def data_plates(model):
    """The plates of data points: the first plate of each observed variable, if its size is a symbol."""
    out = []
    for v in model.variables.values():
        if v.kind == "observed" and v.plates and not v.plates[0].size.is_Integer and v.plates[0] not in out:
            out.append(v.plates[0])
    return out


def _free_idx(e):
    return {s for s in sp.sympify(e).free_symbols if isinstance(s, Idx)}


def _canonical_dummies(expr):
    """The same expression with the dummy indices of its inner sums renamed by position (so two
    sums that differ only in the names of their dummies compare equal)."""
    count = [0]

    def rename(e):
        if not isinstance(e, Sum):
            return e
        mapping = {}
        for lim in e.limits:
            count[0] += 1
            t = lim[0]
            mapping[t] = Idx(sp.Symbol(f"_s{count[0]}", integer=True), (t.lower, t.upper))
        return e.xreplace(mapping)
    inner = sp.sympify(expr)
    if isinstance(inner, Sum):
        return Sum(inner.function.replace(lambda e: isinstance(e, Sum), rename), *inner.limits)
    return inner.replace(lambda e: isinstance(e, Sum), rename)


# names the generated module defines or imports: a model variable so named gets a trailing "_"
_RESERVED = {"np", "namedtuple", "FitResult", "DATA", "PARAMS", "LAYOUT", "BLOCK_BYTES", "fit", "elbo", "sweep",
             "precompute", "state", "sizes", "trace", "converged", "params", "init", "max_iter", "tol", "seed",
             "terms", "value", "bad", "digamma", "gammaln", "polygamma", "logsumexp", "expit", "out", "keep"}


def _ident(name):
    return name + "_" if keyword.iskeyword(name) else name


# ============================================================================ rewriting
_EXPAND = dict(deep=False, mul=True, multinomial=True, power_exp=False, power_base=False, log=False, basic=False)


class _Rewriter:
    """Distribute sums over additions, pull out factors, take data-plate sums first."""

    def __init__(self, plates, hook=None):
        self.P = plates
        self.hook = hook or (lambda red: red)

    def __call__(self, e):
        e = sp.sympify(e)
        if isinstance(e, Sum):
            return self._sum(e)
        if isinstance(e, (Indexed, Idx, IndexedBase, sp.Symbol, sp.Number)) or not e.args:
            return e
        if isinstance(e, (MatrixInverse, LogDet, KroneckerDelta, NotEqual)):
            if isinstance(e, MatrixInverse):
                return e.func(self(e.args[0]), *e.args[1:])
            return e
        return e.func(*[self(a) for a in e.args])

    def _sum(self, e):
        idxs = [lim[0] for lim in e.limits]
        body = self(e.function)
        out = []
        for t in sp.Add.make_args(sp.expand(body, **_EXPAND)):
            out.append(self._factorize(list(sp.Mul.make_args(t)), idxs))
        return sp.Add(*out)

    def _factorize(self, factors, idxs):
        outside = []
        inner = []
        for f in factors:
            (inner if _free_idx(f) & set(idxs) else outside).append(f)
        coeff = sp.Integer(1)
        used = set().union(*[_free_idx(f) for f in inner]) if inner else set()
        rest = []
        for s in idxs:
            if s not in used:
                coeff *= (s.upper - s.lower + 1)
            else:
                rest.append(s)
        for s in [s for s in rest if self.P.is_data(s)]:
            if s not in rest:
                continue
            g = [f for f in inner if s in _free_idx(f)]
            inner = [f for f in inner if s not in _free_idx(f)]
            # with it, the summed indices that only this group carries (sum_ik pi log pi: a scalar)
            outside_idx = set().union(*[_free_idx(f) for f in inner]) if inner else set()
            private = [t for t in rest if t != s and t not in outside_idx
                       and any(t in _free_idx(f) for f in g)]
            red = self.hook(Sum(sp.Mul(*g), *[(t, t.lower, t.upper) for t in [s] + private]))
            inner.append(red)
            rest = [t for t in rest if t != s and t not in private]
        if rest:
            keep = [f for f in inner if _free_idx(f) & set(rest)]
            out = [f for f in inner if not (_free_idx(f) & set(rest))]
            inner = out + [Sum(sp.Mul(*keep), *[(s, s.lower, s.upper) for s in rest])]
        return coeff * sp.Mul(*outside) * sp.Mul(*inner)


# ============================================================================ the printer
class ArrayPrinter(SciPyPrinter):
    """SciPy printer for indexed expressions: each node is printed as an array whose axes are
    the current labels ``self.labels`` (absent labels are length-1 axes, so broadcasting lines
    them up); a ``Sum`` of a product prints as ``np.einsum`` with the plates' index letters."""

    def __init__(self, plates, layout, names, sizes, floored=()):
        super().__init__({"fully_qualified_modules": False, "allow_unknown_functions": False})
        self.P = plates
        self.layout = layout      # array name -> permutation (internal axis order of its indices)
        self.names = names        # array / symbol name -> name in the generated code
        self.sizes = sizes        # plate-size Symbol -> name in the generated code
        self.floored = set(floored)
        self.labels = ()
        self.used = set()         # code names the printed text reads
        self.used_sizes = set()
        self.override = {}        # array name -> code name (the block of an array inside a blocked loop)

    # -------------------------------------------------------------- entry point
    def at(self, expr, labels):
        """Code for ``expr`` as an array with axes ``labels`` (absent ones of length 1)."""
        saved, self.labels = self.labels, tuple(labels)
        try:
            missing = _free_idx(expr) - set(self.labels)
            if missing:
                raise CodegenError(f"free indices {sorted(map(str, missing))} of {expr} have no axis")
            return self._print(sp.sympify(expr))
        finally:
            self.labels = saved

    def _module_format(self, fqn, register=True):
        if fqn.startswith("numpy."):
            return "np." + fqn[len("numpy."):]
        if fqn.startswith("scipy.special."):
            name = fqn[len("scipy.special."):]
            self.module_imports["scipy.special"].add(name)
            return name
        if fqn == "scipy.constants.pi":
            return "np.pi"
        return super()._module_format(fqn, register)

    # -------------------------------------------------------------- alignment
    @staticmethod
    def _atomic(code):
        return re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*(\[[^\[\]]*\])?(\.T)?", code) is not None

    def align(self, code, have, want=None):
        """Reorder axes ``have`` of ``code`` to the order of ``want`` and insert length-1 axes."""
        want = self.labels if want is None else tuple(want)
        have = tuple(have)
        if not have:
            return code
        if set(have) - set(want):
            raise CodegenError(f"axes {have} do not fit in {want}")
        target = tuple(l for l in want if l in have)
        if target != have:
            perm = tuple(have.index(l) for l in target)
            code = f"{code if self._atomic(code) else '(' + code + ')'}" + (
                ".T" if len(have) == 2 else "")
            if len(have) != 2:
                code = f"np.transpose({code}, {perm})"
        first = want.index(target[0])
        slots = [":" if l in have else "None" for l in want[first:]]
        while slots and slots[-1] == ":":
            slots.pop()
        if not slots:
            return code
        if not self._atomic(code) or code.endswith("]"):
            code = f"({code})"
        return f"{code}[{', '.join(slots)}]"

    # -------------------------------------------------------------- leaves
    def _array(self, name):
        code = self.override.get(name) or self.names.get(name, _ident(name))
        self.used.add(code)
        return code

    def natural_labels(self, e):
        """Axis labels of an Indexed array as stored (its internal axis order)."""
        perm = self.layout.get(str(e.base.label))
        idx = list(e.indices)
        if perm is not None:
            idx = [idx[p] for p in perm]
        return idx

    def _indexed(self, e):
        """(code, labels) of an Indexed atom, in its stored axis order."""
        idx = self.natural_labels(e)
        code = self._array(str(e.base.label))
        if any(ix.is_Integer for ix in idx):
            code += "[" + ", ".join(str(int(ix)) if ix.is_Integer else ":" for ix in idx) + "]"
            idx = [ix for ix in idx if not ix.is_Integer]
        if len(set(idx)) < len(idx):
            uniq = list(dict.fromkeys(idx))
            letters = "abcdefgh"
            spec = "".join(letters[uniq.index(l)] for l in idx) + "->" + letters[:len(uniq)]
            code, idx = f"np.einsum('{spec}', {code})", uniq
        return code, tuple(idx)

    def _print_Indexed(self, e):
        code, have = self._indexed(e)
        return self.align(code, have)

    def _print_Symbol(self, e):
        if e in self.sizes:
            self.used_sizes.add(e)
            return self.sizes[e]
        if e.name in self.names:
            return self._array(e.name)
        return super()._print_Symbol(e)

    def _print_Idx(self, e):
        size = self._print(e.upper - e.lower + 1)
        return self.align(f"np.arange({size})", (e,))

    def _print_Pi(self, e):
        return "np.pi"

    def _print_Exp1(self, e):
        return "np.e"

    def _print_KroneckerDelta(self, e):
        a, b = e.args
        size = self._print(a.upper - a.lower + 1)
        return self.align(f"np.eye({size})", (a, b))

    def _print_NotEqual(self, e):
        a, b = e.args
        size = self._print(a.upper - a.lower + 1)
        return self.align(f"(1 - np.eye({size}))", (a, b))

    def _print_LogDet(self, e):
        """log det of each matrix of a stack (the last two axes); LogDet(V, g): one per batch index."""
        name = str(e.args[0].label)
        batch = tuple(e.args[1:])
        code = f"_logdet({self._array(name)}, {name!r})"
        if not batch:
            return f"np.sum({code})"
        return self.align(code, batch)

    def _print_MatrixInverse(self, e):
        expr, a, b, j, l = e.args
        batch = tuple(x for x in self.P.order(self.P.sort(_free_idx(expr) - {a, b})))
        inner = self.at(expr, batch + (a, b))
        shape = ", ".join(self._print(x.upper - x.lower + 1) for x in batch + (a, b))
        code = f"np.linalg.inv(np.broadcast_to({inner}, ({shape},)))"
        return self.align(code, batch + (j, l))

    def _print_polygamma(self, e):
        n, x = e.args
        if n == 0:
            return f"{self._module_format('scipy.special.digamma')}({self._print(x)})"
        return f"{self._module_format('scipy.special.polygamma')}({self._print(n)}, {self._print(x)})"

    def _print_MvLogGamma(self, e):
        a, D = e.args
        return f"{self._module_format('scipy.special.multigammaln')}({self._print(a)}, int({self._print(D)}))"

    def _print_MvDigamma(self, e):
        a, D = e.args
        psi = self._module_format("scipy.special.digamma")
        return f"sum({psi}({self._print(a)} - t / 2) for t in range(int({self._print(D)})))"

    def _print_log(self, e):
        x = e.args[0]
        if isinstance(x, Indexed) and str(x.base.label) in self.floored:
            return f"np.log(_floor({self._print(x)}))"
        return f"np.log({self._print(x)})"

    def _print_Pow(self, e, rational=False):
        b, x = e.as_base_exp()
        base = self._print(b)
        if not (self._atomic(base) or re.fullmatch(r"[0-9.]+", base)):
            base = f"({base})"
        if x == -1:
            return f"1/{base}"
        if x == sp.Rational(1, 2):
            return f"np.sqrt({self._print(b)})"
        if x == -sp.Rational(1, 2):
            return f"1/np.sqrt({self._print(b)})"
        if x.is_Integer and x > 0:
            return f"{base}**{int(x)}"
        if x.is_Integer and x < 0:
            return f"1/{base}**{-int(x)}"
        return f"{base}**{self.parenthesize(x, 100)}"

    # -------------------------------------------------------------- sums
    def _letters(self, labels):
        out, taken = {}, set()
        for l in labels:
            base = self.P.of(l).index_name[0].lower()
            cand = [base] + [c for c in "ijklmnopqrstuvwabcdefgh" if c != base]
            for c in cand:
                if c not in taken:
                    out[l] = c
                    taken.add(c)
                    break
        return out

    def _print_Sum(self, e):
        idxs = [lim[0] for lim in e.limits]
        factors = sp.Mul.make_args(e.function)
        scal, ops = [], []
        for f in factors:
            fl = _free_idx(f)
            if not fl:
                scal.append(f)
            elif isinstance(f, Indexed) or (isinstance(f, sp.Pow) and isinstance(f.base, Indexed)
                                            and f.exp.is_Integer and f.exp > 0):
                ops.append((f, None))
            else:
                ops.append((f, self.P.order(self.P.sort(fl))))
        count = sp.Integer(1)
        cover = set().union(*[_free_idx(f) for f, _ in ops]) if ops else set()
        for s in idxs:
            if s not in cover:
                count *= (s.upper - s.lower + 1)
        out = tuple(l for l in self.labels if l in (cover - set(idxs)))
        codes, specs = [], []
        labels_all = []
        prepared = []
        for f, fl in ops:
            if fl is None and isinstance(f, sp.Pow):
                code, have = self._indexed(f.base)
                code = f"{code if self._atomic(code) else '(' + code + ')'}**{int(f.exp)}"
            elif fl is None:
                code, have = self._indexed(f)
            else:
                code, have = self.at(f, fl), tuple(fl)
            prepared.append((code, have))
            labels_all += list(have)
        letters = self._letters(list(dict.fromkeys(labels_all)))
        for code, have in prepared:
            codes.append(code)
            specs.append("".join(letters[l] for l in have))
        spec = ",".join(specs) + "->" + "".join(letters[l] for l in out)
        opt = ", optimize=True" if len(codes) > 2 else ""
        mm = self._matmul(prepared, idxs, out) if len(prepared) == 2 else None
        if mm is not None:
            code = self.align(*mm)
        else:
            code = self.align(f"np.einsum('{spec}', {', '.join(codes)}{opt})", out)
        extra = sp.Mul(count, *scal)
        if extra == -1:
            code = f"-{code}"
        elif extra != 1:
            code = f"{self._print(extra) if extra.is_Atom else '(' + self._print(extra) + ')'}*{code}"
        return code

    def _matmul(self, prepared, idxs, out):
        """``A @ B`` (code, labels) when the sum of the two operands is one matrix product:
        one shared, summed index and every other index kept (BLAS instead of einsum's loop)."""
        (ca, ha), (cb, hb) = prepared
        shared = set(ha) & set(hb)
        if len(ha) > 2 or len(hb) > 2 or len(set(ha)) < len(ha) or len(set(hb)) < len(hb) or len(shared) != 1:
            return None
        (c,) = shared
        if tuple(l for l in hb if l != c) + tuple(l for l in ha if l != c) == tuple(out) and len(out) == 2:
            (ca, ha), (cb, hb) = (cb, hb), (ca, ha)      # so that the product needs no transpose
        others = [l for l in ha + hb if l != c]
        if c not in idxs or any(l in idxs for l in others) or set(others) != set(out):
            return None
        wrap = lambda code: code if self._atomic(code) else f"({code})"
        a = wrap(ca) + (".T" if len(ha) == 2 and ha[0] == c else "")
        b = wrap(cb) + (".T" if len(hb) == 2 and hb[1] == c else "")
        return f"({a} @ {b})", tuple(l for l in ha if l != c) + tuple(l for l in hb if l != c)


# ============================================================================ the generator
class _LiveNames(dict):
    """Code names of the model's variables and of the reductions found so far."""

    def __init__(self, gen):
        super().__init__(gen.names)
        self.gen = gen

    def get(self, key, default=None):
        if key in self.gen.names:
            return self.gen.names[key]
        if any(r.name == key for r in self.gen.reductions.values()):
            return key
        return default

    def __contains__(self, key):
        return self.get(key) is not None

@dataclass
class _Reduction:
    name: str
    expr: object          # Sum over the data plate, canonical indices
    labels: tuple         # its axes (canonical indices, internal order)
    reads: frozenset      # variable names it reads
    home: str             # "data" | <latent name> | "inline"


def _wrap(text, indent, width=100):
    return textwrap.fill(text, width=width, initial_indent=indent, subsequent_indent=indent + "    ",
                         break_long_words=False, break_on_hyphens=False)


def _plain(expr, taken=()):
    return str(tidy(expr, taken)).replace("**", "^")


def _formula(eq):
    free = {str(s) for s in eq.lhs.free_symbols if isinstance(s, Idx)} if isinstance(eq.lhs, Indexed) else set()
    return f"{_plain(eq.lhs, free)} = {_plain(eq.rhs, free)}"


class _Generator:
    def __init__(self, model, order=None):
        model.validate()
        self.M = model
        names = list(model.qfactors)
        order = names if order is None else ([order] if isinstance(order, str) else list(order))
        # a local bound's parameter (xi, vi_derivations.local_bound) is updated after the q factors
        self.bound_order = tuple(getattr(model, "bounds", {}))
        if any(b in order[:len(names)] for b in self.bound_order):
            raise CodegenError(f"order: the local bound parameters {', '.join(self.bound_order)} are updated "
                               f"after the q factors; list them last or not at all")
        order = [n for n in order if n not in self.bound_order]
        if sorted(order) != sorted(names) or len(set(order)) != len(order):
            raise ValueError(f"order must list every q factor of model {model.name!r} exactly once "
                             f"({', '.join(names)}), got {order}")
        self.order = tuple(order)
        self.P = _Plates(model)
        self.updates = {n: derive_update(model, n) for n in self.order}
        kinds = {v.name: v.kind for v in model.variables.values()}
        self.kinds = kinds
        self.data_names = [n for kind in ("observed", "covariate", "hyper") for n, k in kinds.items() if k == kind]
        self.param_names = [n for n, k in kinds.items() if k == "variational"]
        # code names: variables keep their names; plate sizes theirs unless taken
        self.names = {n: _ident(n) + ("_" if n in _RESERVED else "") for n in model.variables}
        taken = set(self.names.values()) | {"np", "fit", "elbo", "sweep", "init", "seed", "tol", "max_iter"}
        self.sizes = {}
        for p in model.plates:
            if p.size.is_Integer:
                continue
            nm = str(p.size)
            if nm in taken:
                nm = f"n_{nm}"
            self.sizes[p.size] = nm
        self.layout = {}
        for v in model.variables.values():
            if v.plates:
                pos = range(len(v.plates))
                if len(set(v.plates)) < len(v.plates) or any(hasattr(p, "rows") for p in v.plates):
                    # a matrix (..., J, J) or over a column plate (..., D, E): its axes stay as
                    # declared, so that its (row, column) axes stay last for det / inv / slogdet
                    self.layout[v.name] = tuple(pos)
                    continue
                self.layout[v.name] = tuple([t for t in pos if v.plates[t] not in self.P.data]
                                            + [t for t in pos if v.plates[t] in self.P.data])
        self.local = {}
        for n, u in self.updates.items():
            fam = u.family
            batch = [p for p in fam.var.plates if p not in fam.event_plates]
            if any(p in self.P.data for p in batch):
                self.local[n] = self._targets(u)
        self.reductions = {}
        self.no_lift = None      # while printing a sequential update: its own sums stay inline
        self.schedules = {n: self._schedule(n) for n in self.order}

    # -------------------------------------------------------------- helpers
    def _schedule(self, name):
        """(kind, reason, coupled plate positions) from :func:`vi_derivations.schedule.update_schedule`."""
        from .schedule import update_schedule
        s = update_schedule(self.M, name)
        return (s.kind, s.reason, tuple(s.positions))

    @staticmethod
    def _targets(u):
        """The variational parameters the update writes (the left-hand sides of its assignments)."""
        return [str(eq.lhs.base.label) if isinstance(eq.lhs, Indexed) else str(eq.lhs) for eq in u.assignments]

    def reads(self, expr):
        expr = sp.sympify(expr)
        out = set()
        for a in expr.atoms(Indexed):
            out.add(str(a.base.label))
        for a in expr.atoms(IndexedBase):
            out.add(str(a.label))
        for s in expr.free_symbols:
            if isinstance(s, sp.Symbol) and not isinstance(s, Idx) and s.name in self.M.variables:
                if self.M.var_of(s) is not None:
                    out.add(s.name)
        return out

    def _var_reads(self, expr):
        return {r for r in self.reads(expr) if r in self.M.variables}

    def _home(self, reads):
        if all(self.kinds.get(r) in ("observed", "hyper", "covariate") for r in reads):
            return "data"
        owners = {z for z, ts in self.local.items() if reads & set(ts)}
        others = {r for r in reads if self.kinds.get(r) == "variational" and not any(r in ts for ts in self.local.values())}
        if len(owners) == 1 and not others:
            return owners.pop()
        return "inline"

    def lift(self, expr):
        """Rewrite ``expr`` and replace every data-plate sum by a named reduction."""
        def repl(e):
            if not (isinstance(e, Sum) and self.P.is_data(e.limits[0][0])):
                return e
            s = e.limits[0][0]
            others = [lim[0] for lim in e.limits[1:]]
            free = self.P.order(self.P.sort(_free_idx(e)))
            if any(self.P.of(f) is self.P.of(s) for f in free):
                return e
            reads = frozenset(self._var_reads(e))
            home = self._home(reads)
            if home == "inline" or home == self.no_lift:
                return e
            canon, seen = {}, {}
            for f in free:
                p = self.P.of(f)
                n = seen.get(p, 0)
                seen[p] = n + 1
                canon[f] = Idx(sp.Symbol(p.index_name + "'" * n, integer=True), (f.lower, f.upper))
            sp_ = self.P.of(s)
            cs = Idx(sp.Symbol(sp_.index_name, integer=True), (s.lower, s.upper))
            summed = {s: cs}
            for t in others:      # the other summed indices: canonical names not used by the free ones
                p, n = self.P.of(t), seen.get(self.P.of(t), 0)
                seen[p] = n + 1
                summed[t] = Idx(sp.Symbol(p.index_name + "'" * n, integer=True), (t.lower, t.upper))
            body = e.function.xreplace({**canon, **summed})
            limits = [(summed[t], summed[t].lower, summed[t].upper) for t in [s] + others]
            key = sp.srepr(_canonical_dummies(Sum(body, *limits)))
            red = self.reductions.get(key)
            if red is None:
                name = self._red_name(body, sp_)
                red = _Reduction(name, Sum(body, *limits), tuple(canon[f] for f in free), reads, home)
                self.reductions[key] = red
            if not free:
                return sp.Symbol(red.name)
            return IndexedBase(red.name)[tuple(free)]

        return _Rewriter(self.P, repl)(expr)

    def _red_name(self, body, plate):
        parts = []
        for f in sp.Mul.make_args(body):
            if f.is_Number:
                continue
            if isinstance(f, Indexed):
                parts.append(str(f.base.label))
            elif isinstance(f, sp.Pow) and isinstance(f.base, Indexed) and f.exp.is_Integer:
                parts.append(f"{f.base.base.label}{int(f.exp)}")
            elif isinstance(f, sp.Function):
                inner = [str(a.base.label) for a in f.atoms(Indexed)]
                parts.append(f"{type(f).__name__}_{'_'.join(inner)}")
            else:
                parts.append("t")
        name = f"sum_{plate.index_name}_" + "_".join(parts)
        name = re.sub(r"\W", "_", name)
        taken = {r.name for r in self.reductions.values()} | set(self.names.values())
        base, n = name, 2
        while name in taken:
            name, n = f"{base}_{n}", n + 1
        return name

    def printer(self, floored=()):
        return ArrayPrinter(self.P, self.layout, _LiveNames(self), self.sizes, floored)

    def size_code(self, size):
        return str(int(size)) if size.is_Integer else self.sizes[size]

    # -------------------------------------------------------------- emitting functions
    def function(self, name, doc, body_fn, comments=(), floored=()):
        """Print a function: ``body_fn(printer) -> (lines, returns)``; its arguments are what it reads."""
        pr = self.printer(floored)
        lines, returns = body_fn(pr)
        args = self._ordered_args(pr.used)
        size_lines = []
        for size in sorted(pr.used_sizes, key=str):
            src = self._size_source(size, args)
            if src is None:
                args.append(self.sizes[size])
            else:
                size_lines.append(f"{self.sizes[size]} = {src}")
        out = list(comments)
        extra = getattr(pr, "extra_args", {})
        out.append(f"def {name}({', '.join(args + [f'{k}=None' for k in extra])}):")
        out.append(_docstring(doc, "    "))
        out += ["    " + l for l in size_lines + lines]
        if returns is not None:
            out.append(f"    return {returns}")
        self.signatures[name] = args
        self.extra[name] = extra
        return "\n".join(out)

    def _ordered_args(self, used):
        order = [self.names[n] for n in self.M.variables] + [r.name for r in self.reductions.values()]
        return [a for a in order if a in used]

    def _size_source(self, size, args):
        for a in args:
            if a in self.names.values():
                v = self.M.variables[next(n for n, c in self.names.items() if c == a)]
                ids = [p for p in v.plates]
                perm = self.layout.get(v.name, tuple(range(len(ids))))
                internal = [ids[p] for p in perm]
                for pos, p in enumerate(internal):
                    if p.size == size:
                        return f"np.shape({a})[{pos}]"
            else:
                r = next((r for r in self.reductions.values() if r.name == a), None)
                if r is not None:
                    for pos, l in enumerate(r.labels):
                        if self.P.of(l).size == size:
                            return f"np.shape({a})[{pos}]"
        return None

    def call(self, name, target=None):
        args = ", ".join([f"state[{a!r}]" for a in self.signatures[name]]
                         + [f"{k}=state[{v!r}]" for k, v in self.extra.get(name, {}).items() if v is not None])
        return f"{target} = {name}({args})" if target else f"{name}({args})"

    # -------------------------------------------------------------- updates
    def labels_of_target(self, target):
        if not isinstance(target, Indexed):
            return ()
        ids = list(target.indices)
        perm = self.layout.get(str(target.base.label), tuple(range(len(ids))))
        return tuple(ids[p] for p in perm)

    def shape_code(self, labels, pr):
        parts = []
        for l in labels:
            size = l.upper - l.lower + 1
            parts.append(pr._print(size))
        return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"

    def update_body(self, z, pr, eta_names, L):
        u = self.updates[z]
        fam = u.family
        lines = []
        deps = {}
        for key, expr in u.natural.items():
            nm = eta_names[key]
            lab = fam.natural_axes(key, L)
            lifted = self.lift(expr)
            deps[key] = _free_idx(expr)
            if fam.numpy_full_natural and (deps[key] != set(lab) or not lab):
                # (a factor with no batch plate too: its map indexes arrays, never Python floats)
                code = f"np.broadcast_to({pr.at(lifted, lab)}, {self.shape_code(lab, pr)})"
                deps[key] = set(lab)
                lines.append(f"{nm} = {code}")
            else:
                lines += self.assign(pr, f"{nm} = ", lifted, lab)
        n_eta = len(lines)
        where = f"update of q({z})"

        def special(fn):
            pr._module_format("scipy.special." + fn)
            return fn
        ctx = NumpyMap(z, dict(eta_names), deps, L, u.event_reps, where,
                       lambda l: pr._print(l.upper - l.lower + 1), special)
        try:
            fam_lines, outs = fam.numpy_natural_to_params(ctx)   # family parameter -> (code, labels)
        except NotImplementedError:
            raise CodegenError(f"q({z}): no NumPy printer for the family {fam.name}") from None
        lines += fam_lines
        # local names of the family map that a model variable also uses get a trailing "_"
        assigned = {m.group(1) for l in fam_lines for m in [re.match(r"\s*(\w+) = ", l)] if m}
        ren = {n: self.fresh(n) for n in sorted(assigned) if self.fresh(n) != n}
        if ren:
            sub = lambda text: re.sub(r"\b(" + "|".join(ren) + r")\b(?!['\]])", lambda m: ren[m.group(1)], text)
            lines[n_eta:] = [sub(l) if not l.lstrip().startswith("raise") else l for l in lines[n_eta:]]
            outs = {k: (sub(c), d) for k, (c, d) in outs.items()}
        results = []
        for pname, target in fam.params.items():
            if pname not in u.params:
                continue
            code, dep = outs[pname]
            T = self.labels_of_target(target)
            Lp = fam.param_axes(pname, L)
            results.append((str(target.base.label) if isinstance(target, Indexed) else str(target), T,
                            self._shaped(code, dep, Lp, T, pr)))
        for out, base in fam.extra_targets().items():     # e.g. a covariance matrix, full axes
            if out in u.params:
                results.append((str(base.label), L, self._shaped(outs[out][0], set(L), L, L, pr)))
        kind, reason, positions = self.schedules[z]
        if kind == "vectorised":
            return lines, ", ".join(code for _, _, code in results)
        # sequential: one element at a time along the coupled plates, each reading the current others
        v = self.M.variables[z]
        coupled = [v.plates[t].index for t in positions]
        loops = {c: self.fresh(str(c.label)) for c in coupled}
        head, body = [], []
        for tname, T, _ in results:
            code = self.names[tname]
            pr.used.add(code)
            head.append(f"{code} = np.array({code}, dtype=float)   # written one element at a time")
        for tname, T, value in results:
            code = self.names[tname]
            if not any(c in T for c in coupled):
                body.append(f"{code} = {value}")
                continue
            sel = ", ".join(loops[l] if l in loops else ":" for l in T)
            body.append(f"{code}[{sel}] = {value if pr._atomic(value) else '(' + value + ')'}[{sel}]")
        out, ind = list(head), ""
        for c in coupled:
            out.append(f"{ind}for {loops[c]} in range({pr._print(c.upper - c.lower + 1)}):   "
                       f"# the element {loops[c]} of q({z}), given the current values of the others")
            ind += "    "
        out += [ind + l for l in lines + body]
        return out, ", ".join(self.names[t] for t, _, _ in results)

    # -------------------------------------------------------------- blocked pass of a local factor
    def blockable(self, z):
        """A local factor whose map is a softmax over its event axis (a Categorical) and whose
        data-point axis is the last axis of its probabilities."""
        u = self.updates[z]
        if z not in self.local or not u.family.numpy_blocked_softmax or self.schedules[z][0] != "vectorised":
            return False
        L = self.P.order(u.out_indices)
        return bool(L) and self.P.is_data(L[-1]) and sum(self.P.is_data(l) for l in L) == 1

    def fresh(self, name):
        taken = set(self.names.values()) | set(self.sizes.values()) | {r.name for r in self.reductions.values()}
        while name in taken:
            name += "_"
        return name

    def blocked_body(self, z, pr, L):
        """Lines of the one-pass update of a local Categorical q(z): for each block of data points,
        the log-potentials, the probabilities (log-sum-exp shifted by the block's maximum), and the
        block's share of every data-point sum that reads q(z)."""
        u = self.updates[z]
        (key,) = list(u.natural)
        target = u.family.params[u.family.simplex_params[0]]     # the probabilities the softmax writes
        probs_name = str(target.base.label)
        ev = u.event_reps[0]
        ax = L.index(ev)
        dl = L[-1]
        lifted = self.lift(u.natural[key])
        terms = sp.Add.make_args(lifted)
        with_data = sp.Add(*[t for t in terms if dl in _free_idx(t)])
        without = sp.Add(*[t for t in terms if dl not in _free_idx(t)])
        mine = [r for r in self.reductions.values() if r.home == z]
        nm = {k: self.fresh(k) for k in ("eta0", "probs", "block", "lo", "hi", "eta", "p", "total", "lse", "out",
                                         "keep", "buffer")}
        n_code = pr._print(dl.upper - dl.lower + 1)
        shape = self.shape_code(L, pr)
        rows = " * ".join(pr._print(l.upper - l.lower + 1) for l in L[:-1]) or "1"
        pr.extra_args = {nm["out"]: self.names[probs_name], nm["keep"]: None}
        lines = []
        if without != 0:
            lines.append(f"# the log-potentials without the data-point index {dl}: once for all blocks")
            lines += self.assign(pr, f"{nm['eta0']} = ", without, L)
        lines += [f"# {nm['out']}: an array to overwrite (no new N-sized array); {nm['keep']}=False: the sums only",
                 f"{nm['probs']} = (np.empty({shape}) if {nm['out']} is None else {nm['out']}) "
                 f"if {nm['keep']} is not False else None"]
        for r in mine:
            lines.append(f"{r.name} = np.zeros({self.shape_code(r.labels, pr)})" if r.labels else f"{r.name} = 0.0")
        lines += [f"{nm['block']} = max(1024, BLOCK_BYTES // (8 * {rows}))   # data points per block: "
                  f"the block's arrays stay in the CPU cache",
                  f"{nm['buffer']} = np.empty({self.shape_code(L[:-1], pr)[:-1]}{',' if len(L) > 2 else ''} {nm['block']}))"
                  if len(L) > 1 else f"{nm['buffer']} = np.empty({nm['block']})",
                  f"for {nm['lo']} in range(0, {n_code}, {nm['block']}):",
                  f"    {nm['hi']} = min({nm['lo']} + {nm['block']}, {n_code})"]
        # every array with the data plate, sliced to the block
        sliced = {}
        for name in sorted(self._var_reads(with_data) | set().union(*[self._var_reads(r.expr) for r in mine])):
            v = self.M.variables[name]
            if any(p in self.P.data for p in v.plates) and name != probs_name:
                sliced[name] = self.fresh(f"{self.names[name]}_b")
        body = []
        for name, code in sliced.items():
            pr.used.add(self.names[name])
            body.append(f"{code} = {self.names[name]}[..., {nm['lo']}:{nm['hi']}]")
        pr.override = dict(sliced)
        if with_data == 0:
            body.append(f"{nm['eta']} = np.zeros({shape}[:-1] + ({nm['hi']} - {nm['lo']},))")
        else:
            code = self.assign(pr, f"{nm['eta']} = ", with_data, L)
            fresh = len(code) > 1 or "@" in code[0] or "np." in code[0] or " " in code[0].split("= ", 1)[1]
            body += code if fresh else [code[0] + " * 1.0"]     # a new array: eta is changed in place
        if without != 0:
            body.append(f"{nm['eta']} += {nm['eta0']}")
        body += [
                 f"{nm['p']} = {nm['buffer']}[..., :{nm['hi']} - {nm['lo']}] if {nm['probs']} is None "
                 f"else {nm['probs']}[..., {nm['lo']}:{nm['hi']}]",
                 "with np.errstate(over='ignore'):   # an overflow is caught below: the block is then shifted",
                 f"    np.exp({nm['eta']}, out={nm['p']})",
                 f"{nm['total']} = {nm['p']}.sum(axis={ax}, keepdims=True)",
                 f"if not np.all((1e-200 < {nm['total']}) & ({nm['total']} < 1e200)):   "
                 f"# exp under- or overflowed: shift by the largest",
                 f"    {nm['eta']} -= {nm['eta']}.max(axis={ax}, keepdims=True)",
                 f"    np.exp({nm['eta']}, out={nm['p']})",
                 f"    {nm['total']} = {nm['p']}.sum(axis={ax}, keepdims=True)",
                 f"{nm['p']} *= 1 / {nm['total']}"]
        if mine:
            body.append(f"# this block's share of the data-point sums that read q({z}) "
                        f"(q({z}) stays fixed until its next update)")
            body.append(f"{nm['lse']} = np.log({nm['total']}[{', '.join('0' if t == ax else ':' for t in range(len(L)))}])"
                        f"   # log of the normaliser: log {probs_name} = eta - lse")
        pr.override[probs_name] = nm["p"]
        eta_b, lse_b = IndexedBase(nm["eta"]), IndexedBase(nm["lse"])
        ppos = list(target.indices).index(ev)
        for r in mine:
            expr = r.expr

            def no_log(e):
                a = e.args[0]
                if isinstance(a, Indexed) and str(a.base.label) == probs_name:
                    lab = pr.natural_labels(a)
                    evi = a.indices[ppos]
                    return eta_b[tuple(lab)] - lse_b[tuple(l for l in lab if l != evi)]
                return e
            expr = expr.replace(lambda e: isinstance(e, sp.log), no_log)
            if expr != r.expr:
                expr = Sum(sp.expand(expr.function, **_EXPAND), *expr.limits)
                expr = sp.Add(*[Sum(t, *expr.limits) for t in sp.Add.make_args(expr.function)])
            body.append(f"{r.name} += {pr.at(expr, r.labels)}")
        pr.override = {}
        lines += ["    " + b for b in body]
        return lines, ", ".join([nm["probs"]] + [r.name for r in mine])

    def _shaped(self, code, dep, L, T, pr):
        """``code`` (axes L, depending on the labels ``dep``) as the target's array (axes T)."""
        if not set(T) <= set(dep):
            code = f"np.broadcast_to({code}, {self.shape_code(L, pr)})"
        if tuple(T) != tuple(L):
            if L:
                code = f"{code if pr._atomic(code) else '(' + code + ')'}[{', '.join(':' if l in T else '0' for l in L)}]"
            have = tuple(l for l in L if l in T)
            code = pr.align(code, have, T) if have else code
        if not T:
            return f"float({code})"
        return code if code.startswith("np.array(") or pr._atomic(code) and "broadcast_to" not in code \
            else f"np.array({code})"

    @staticmethod
    def assign(pr, head, expr, labels, tail="", width=100):
        """``head + code + tail`` on one line, or, if longer than ``width``, the terms of a sum one a line."""
        code = pr.at(expr, labels)
        if len(head) + len(code) + len(tail) <= width or not isinstance(expr, sp.Add):
            return [head + code + tail]
        out = [head + "("]
        for n, t in enumerate(sp.Add.make_args(expr)):
            c = pr.at(t, labels)
            if n:
                c = "- " + c[1:] if c.startswith("-") else "+ " + c
            out.append("    " + c)
        return out + [")" + tail]

    # -------------------------------------------------------------- the ELBO
    def elbo_terms(self):
        """[(label, expression)]: E_q[log p] per model factor and -E_q[log q] per q factor
        (every constant kept; their sum is the full ELBO)."""
        by = {}
        for t in expected_log_joint_terms(self.M):
            by.setdefault(t.origin, []).append(t)
        out = [(f"E_q[log {f.label}]", terms_to_expr(by[f.label])) for f in self.M.factors if f.label in by]
        byq = {}
        for t in log_var_terms(self.M):
            byq.setdefault(t.origin, []).append(t)
        out += [(f"-E_q[log {qf.label}]", -terms_to_expr(byq[qf.label]))
                for qf in self.M.qfactors.values() if qf.label in byq]
        return out

    def floored(self):
        logged = set()
        full = _elbo_expr(self.M, constants=True)
        for lg in full.atoms(sp.log):
            logged |= self._var_reads(lg.args[0])
        out = []
        for n in sorted(logged):
            v = self.M.variables[n]
            if v.kind == "variational" and bool((v.symbol.label if v.plates else v.symbol).is_positive):
                out.append(n)
        return out


def _docstring(text, indent):
    lines = []
    for line in text.strip().splitlines():   # prose wrapped at 100 columns; indented formulas as they are
        long = len(line) + len(indent) > 100 and not line.startswith(" ")
        lines += textwrap.wrap(line, 100 - len(indent), break_long_words=False, break_on_hyphens=False) \
            if long else [line]
    text = "\n".join(lines).replace("\\", "\\\\").replace('"""', "'''")
    body = textwrap.indent(text, indent)
    return f'{indent}"""{body[len(indent):]}\n{indent}"""'


def _latex_comment(eq, indent=""):
    return _wrap("LaTeX: " + latex(eq), indent + "# ", width=110)


# ============================================================================ the module
_HELPERS = '''
FitResult = namedtuple("FitResult", "params elbo n_iter converged")
FitResult.__doc__ = """params: variational parameter name -> final value (array or float); elbo: full ELBO
after each sweep; n_iter: sweeps run; converged: the relative-change rule stopped the loop."""


def _floor(a):
    """max(a, smallest normal float): 0 log 0 = 0 in the ELBO (a probability that underflowed)."""
    return np.maximum(a, np.finfo(float).tiny)


def _logdet(a, name):
    """log det of each matrix of a stack of positive definite matrices (over the last two axes)."""
    sign, value = np.linalg.slogdet(a)
    if np.any(sign <= 0):
        raise ValueError(f"{name} must be positive definite")
    return value


def _internal(name, a):
    """A declared-layout array in this module's layout (data-point axis last)."""
    perm = LAYOUT.get(name)
    return np.ascontiguousarray(np.transpose(a, perm)) if perm else a


def _external(name, a):
    """Back to the declared layout."""
    perm = LAYOUT.get(name)
    if np.ndim(a) == 0:
        return float(a)
    return np.ascontiguousarray(np.transpose(a, np.argsort(perm))) if perm else np.array(a)


def _checked(where, name, value, spec, sizes):
    """``value`` as a float array with the plates ``spec["plates"]``, finite (and positive if
    ``spec["positive"]``); plate sizes are read into ``sizes`` or checked against it."""
    try:
        a = np.array(value, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{where}{name} must be numeric, got {type(value).__name__}") from None
    plates = spec["plates"]
    if a.ndim != len(plates):
        raise ValueError(f"{where}{name} must have {len(plates)} axes ({', '.join(map(str, plates)) or 'a scalar'}), "
                         f"got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{where}{name} contains NaN or inf")
    if spec["positive"] and np.any(a <= 0):
        raise ValueError(f"{where}{name} must be positive, got minimum {a.min()}")
    if spec.get("symmetric") and not np.allclose(a, np.swapaxes(a, -1, -2)):
        raise ValueError(f"{where}{name} is declared symmetric; got a non-symmetric matrix")
    _check_support(where, name, a, spec)
    for plate, n in zip(plates, a.shape):
        if isinstance(plate, int):
            if n != plate:
                raise ValueError(f"{where}{name}: axis of length {plate} expected, got {n}")
        elif sizes.get(plate) is None:
            sizes[plate] = n
        elif sizes[plate] != n:
            raise ValueError(f"{where}{name}: plate {plate} has size {sizes[plate]} from another argument, got {n}")
    return a if a.ndim else float(a)


def _check_support(where, name, a, spec):
    """Observations on the support of their likelihood (binary, counts, one-hot, (0, 1), simplex)."""
    support = spec.get("support")
    if support == "binary" and np.any((a != 0) & (a != 1)):
        raise ValueError(f"{where}{name} must be 0 or 1 (Bernoulli observations)")
    if support == "count" and np.any((a < 0) | (a != np.round(a))):
        raise ValueError(f"{where}{name} must be non-negative integers (counts)")
    if support == "unit" and np.any((a <= 0) | (a >= 1)):
        raise ValueError(f"{where}{name} must lie in (0, 1) (Beta observations)")
    if support in ("onehot", "simplex"):
        total = np.sum(a, axis=spec["axis"])
        if np.any(a < 0) or np.any(np.abs(total - 1) > 1e-8):
            raise ValueError(f"{where}{name} must be non-negative and sum to one over its axis {spec['axis']}")
        if support == "onehot" and np.any((a != 0) & (a != 1)):
            raise ValueError(f"{where}{name} must be one-hot over its axis {spec['axis']} (Categorical observations)")


def _default(name, spec, sizes, rng):
    """Default start of a variational parameter (``init=None``), drawn with ``rng``."""
    shape = []
    for plate in spec["plates"]:
        n = plate if isinstance(plate, int) else sizes.get(plate)
        if n is None:
            raise ValueError(f"{plate}: the size of this plate is carried by no argument; "
                             f"pass {plate}= or give init[{name!r}]")
        shape.append(n)
    kind = spec["kind"]
    if kind == "simplex":
        a = rng.dirichlet(np.ones(shape[spec["axis"]]), size=[n for t, n in enumerate(shape) if t != spec["axis"]])
        return np.moveaxis(a, -1, spec["axis"])
    if kind == "identity":
        return np.broadcast_to(np.eye(shape[-1]), shape).copy()
    if kind == "dof":
        dim = spec["dim"] if isinstance(spec["dim"], int) else sizes.get(spec["dim"])
        if dim is None:
            raise ValueError(f"{spec['dim']}: the size of this plate is carried by no argument; "
                             f"pass {spec['dim']}= or give init[{name!r}]")
        return np.full(shape, dim + 1.0) if shape else dim + 1.0
    if kind == "positive":
        return np.ones(shape) if shape else 1.0
    a = rng.normal(size=shape)
    return a if shape else float(a)


def _initial(init, sizes, seed):
    """The start: ``init`` (name -> array, declared layout) completed by defaults drawn with ``seed``."""
    if init is None:
        init = {}
    if not isinstance(init, dict):
        raise TypeError(f"init must be a dict mapping variational parameter names to arrays, got {type(init).__name__}")
    for name in init:
        if name not in PARAMS:
            raise ValueError(f"init: {name!r} is not a variational parameter; expected some of {', '.join(PARAMS)}")
    out = {}
    for name, spec in PARAMS.items():
        if name in init:
            out[name] = _checked("init: ", name, init[name], spec, sizes)
    rng = np.random.default_rng(seed)
    for name, spec in PARAMS.items():
        if name not in out:
            out[name] = _default(name, spec, sizes, rng)
        if spec["kind"] == "simplex":
            total = np.sum(out[name], axis=spec["axis"])
            if np.any(np.abs(total - 1) > 1e-8):
                raise ValueError(f"init: {name} must sum to one over its axis {spec['axis']}; "
                                 f"sums range over [{total.min()}, {total.max()}]")
    return {name: _internal(name, a) for name, a in out.items()}
'''


def generate(model, order=None, command=None):
    """Source of a standalone NumPy module running the CAVI of ``model`` (see the module docstring).

    ``order``: the q factors in update order within a sweep (default: their declaration order).
    ``command``: the command line that wrote it (quoted in the module's docstring). Formulas are
    printed with the model's own letters."""
    with model.letters():
        return _generate(model, order, command)


def _generate(model, order, command):
    g = _Generator(model, order)
    g.signatures, g.extra = {}, {}
    fl = g.floored()
    blocks = {}
    imports = set()

    def collect(pr):
        imports.update(pr.module_imports.get("scipy.special", set()))

    # ---- updates (a blocked pass last: it accumulates the data-point sums the others read)
    def print_update(z):
        u = g.updates[z]
        fam = u.family
        zc = g.names[z]
        eta_names = {k: "eta_" + fam.stat_codes.get(k, "{z}").format(z=zc) for k in u.natural}
        L = g.P.order(u.out_indices)
        n_mat = fam.numpy_matrix_axes
        if n_mat:      # the matrix axes stay last (np.linalg works on the last two)
            L = g.P.order(u.out_indices[:-n_mat]) + tuple(u.out_indices[-n_mat:])
        kind, reason, _ = g.schedules[z]
        doc = [f"q*({z}) = {fam.name}: the CAVI update of q({z}) given the other factors.", ""]
        doc += [_wrap(_formula(eq), "    ") for eq in u.assignments]
        doc += ["", f"Natural parameters (coefficients of the sufficient statistics in log q*({z})) are "
                    f"computed first, then mapped to the {fam.name} parameters.",
                f"Schedule: {reason}."]
        blocked = g.blockable(z)
        if blocked:
            doc += ["", f"One pass over the data points, in blocks that stay in the CPU cache: for each block "
                        f"the log-potentials eta, the probabilities exp(eta) / sum exp(eta) (log-sum-exp: if exp "
                        f"under- or overflows, the block is first shifted by its largest log-potential), and the "
                        f"block's share of every sum over the data points that reads q({z}); these sums are "
                        f"returned with the probabilities.  In them sum p log p = sum p (eta - lse), with lse = "
                        f"log sum exp(eta) the log of the normaliser."]
        comments = [_latex_comment(eq) for eq in u.assignments]
        if kind not in ("vectorised", "sequential"):
            raise CodegenError(f"q({z}): the {kind} schedule is not printed yet ({reason})")
        holder = {}

        def body(pr, z=z, eta_names=eta_names, L=L, blocked=blocked):
            if blocked:
                lines, ret = g.blocked_body(z, pr, L)
            else:
                g.no_lift = z if g.schedules[z][0] == "sequential" else None
                lines, ret = g.update_body(z, pr, eta_names, L)
                g.no_lift = None
            holder["pr"] = pr
            return lines, ret
        blocks[f"update_{zc}"] = g.function(f"update_{zc}", "\n".join(doc), body, comments, floored=fl)
        collect(holder["pr"])
    # ---- ELBO
    terms = g.elbo_terms()

    def elbo_body(pr):
        lines = ["terms = {"]
        for label, expr in terms:
            lines += ["    " + l for l in g.assign(pr, f"{label!r}: ", g.lift(expr), (), ",")]
        lines += ["}",
                  "value = sum(terms.values())",
                  "if not np.isfinite(value):",
                  "    bad = [name for name, v in terms.items() if not np.isfinite(v)]",
                  "    raise ValueError(f\"the ELBO is not finite: {', '.join(bad)} = \"",
                  "                     f\"{[terms[name] for name in bad]}; the parameters or data these terms \"",
                  "                     f\"read are outside the support of their distributions\")"]
        collect(pr)
        return lines, "float(value)"
    edoc = ["Full ELBO = E_q[log p(data, latents)] - E_q[log q(latents)], every constant kept",
            "(a lower bound on log p(data)), one term per model factor and per q factor:", ""]
    for label, expr in terms:
        edoc.append(_wrap(f"{label} = {_plain(expr)}", "    "))
    if fl:
        edoc += ["", "0 log 0 = 0: entries of " + ", ".join(fl) + " that underflowed to 0 are raised to the "
                 "smallest normal float inside the logarithms."]
    for z in g.order:        # the updates, the ELBO, then any blocked pass: it accumulates the sums the others read
        if not g.blockable(z):
            print_update(z)
    blocks["elbo"] = g.function("elbo", "\n".join(edoc), elbo_body, floored=fl)
    for z in g.order:
        if g.blockable(z):
            print_update(z)
    for b in g.bound_order:     # a local bound's parameter: its derived maximiser, all elements at once
        from .local_bound import derive_bound_update
        bu = derive_bound_update(model, b)
        eq = bu.assignments[0]
        bdoc = [f"{b}: the maximiser of the bound-ELBO over the parameter of the {bu.bound.name}, where",
                _wrap(f"d L / d {_plain(bu.rep)} = {_plain(bu.factored)} = 0", "    "), "", _wrap(_formula(eq), "    ")]

        def bbody(pr, eq=eq, b=b):
            lines = g.assign(pr, f"{g.names[b]} = ", eq.rhs, g.labels_of_target(eq.lhs))
            collect(pr)
            return lines, g.names[b]
        blocks[f"update_{g.names[b]}"] = g.function(f"update_{g.names[b]}", "\n".join(bdoc), bbody,
                                                   [_latex_comment(eq)], floored=fl)
    # ---- reductions
    homes = {}
    for r in g.reductions.values():
        homes.setdefault(r.home, []).append(r)
    red_fns = {}
    for home, rs in homes.items():
        fname = "precompute" if home == "data" else f"reductions_{g.names[home]}"

        def rbody(pr, rs=rs):
            lines = []
            for r in rs:
                lines += g.assign(pr, f"{r.name} = ", r.expr, r.labels)
            collect(pr)
            return lines, "{\n" + "".join(f"        {r.name!r}: {r.name},\n" for r in rs) + "    }"
        what = ("Sums over the data points that read only data: computed once, before the first sweep."
                if home == "data" else
                f"Sums over the data points that read q({home}): recomputed whenever q({home}) changes.")
        doc = [what, ""] + [_wrap(f"{r.name}[{', '.join(map(str, r.labels))}] = {_plain(r.expr)}", "    ")
                            for r in rs]
        # a reduction must not be recomputed from itself
        blocks[fname] = g.function(fname, "\n".join(doc), rbody, floored=fl)
        red_fns[home] = fname
    # ---- sweep
    lazy = {}
    sw = ["def sweep(state):",
          _docstring(f"One CAVI sweep, in place: {', '.join([f'q({z})' for z in g.order] + list(g.bound_order))} "
                     f"in this order.", "    ")]
    for z in g.order:
        u = g.updates[z]
        targets = [g.names[t] for t in g._targets(u)]
        if g.blockable(z):
            targets += [r.name for r in g.reductions.values() if r.home == z]
        fname = f"update_{g.names[z]}"
        if g.blockable(z) and not any(targets[0] in args for f, args in g.signatures.items()
                                      if f not in (fname, red_fns.get(z))):
            saved = f"_last_{fname}"
            lazy[z] = (fname, saved, targets[0])
            sw.append(f"    # only the sums over the data points of q({z}) are read: they are kept, and fit() "
                      f"recomputes {targets[0]} from the last update's arguments")
            sw.append(f"    state[{saved!r}] = ({', '.join(f'state[{a!r}]' for a in g.signatures[fname])},)")
            sw.append(f"    _, {', '.join(f'state[{t!r}]' for t in targets[1:])} = {fname}(*state[{saved!r}], keep=False)")
            continue
        sw.append("    " + g.call(fname, ", ".join(f"state[{t!r}]" for t in targets)))
        if z in red_fns and not g.blockable(z):
            sw.append("    state.update(" + g.call(red_fns[z]) + ")")
    for b in g.bound_order:
        sw.append("    " + g.call(f"update_{g.names[b]}", f"state[{g.names[b]!r}]"))
    sw.append("    return state")
    blocks["sweep"] = "\n".join(sw)
    source = _assemble(g, blocks, red_fns, imports, command, lazy)
    return source


def _param_specs(g):
    """name -> spec dict (plates, positive, kind[, axis]) of every variational parameter."""
    M = g.M
    role = {}
    for u in g.updates.values():
        fam = u.family
        for pname, target in fam.params.items():
            if not isinstance(target, (Indexed, sp.Symbol)):
                continue
            n = str(target.base.label) if isinstance(target, Indexed) else str(target)
            kind = fam.init_kinds.get(pname)
            if kind == "simplex":
                ev = fam.event_plates[0]
                role[n] = ("simplex", list(target.indices).index(ev.index))
            elif kind == "identity":
                role[n] = ("identity", None)
            elif kind == "dof":             # a Wishart's degrees of freedom: D + 1 > D - 1
                size = fam.event_plates[-1].size
                role[n] = ("dof", int(size) if size.is_Integer else g.sizes[size])
        for out, base in fam.extra_targets().items():
            if fam.init_kinds.get(out) is not None:
                role[str(base.label)] = (fam.init_kinds[out], None)
    specs = {}
    for v in M.variables.values():
        if v.kind != "variational":
            continue
        pos = bool((v.symbol.label if v.plates else v.symbol).is_positive)
        kind, axis = role.get(v.name, ("positive" if pos else "real", None))
        spec = {"plates": tuple(int(p.size) if p.size.is_Integer else g.sizes[p.size] for p in v.plates),
                "positive": pos, "kind": kind}
        if getattr(v.symbol, "symmetric", False):
            spec["symmetric"] = True
        if kind == "dof":
            spec["dim"] = axis
        elif axis is not None:
            spec["axis"] = axis
        specs[g.names[v.name]] = spec
    return specs


def _data_specs(g):
    specs = {}
    factor = {f.var.name: f.dist for f in g.M.factors}
    for n in g.data_names:
        v = g.M.variables[n]
        pos = bool((v.symbol.label if v.plates else v.symbol).is_positive)
        spec = {"plates": tuple(int(p.size) if p.size.is_Integer else g.sizes[p.size] for p in v.plates),
                "positive": pos}
        if getattr(v.symbol, "symmetric", False):
            spec["symmetric"] = True
        dist = factor.get(n)
        if dist is not None:
            dist = dist.observation_family
        support = getattr(dist, "support", None)
        if support == "positive":
            spec["positive"] = True
        elif support is not None:
            spec["support"] = support
            if support in ("onehot", "simplex"):
                spec["axis"] = list(v.plates).index(dist.event_plates[0])
        specs[g.names[n]] = spec
    # probabilities given as hyper-parameters of a Categorical factor lie on the simplex
    for f in g.M.factors:
        dist = f.dist.observation_family
        for pname in dist.simplex_params:
            probs = dist.params.get(pname)
            if isinstance(probs, Indexed) and g.kinds.get(str(probs.base.label)) == "hyper":
                ev = dist.event_plates[0].index
                if ev in probs.indices:
                    spec = specs[g.names[str(probs.base.label)]]
                    spec["support"], spec["axis"] = "simplex", list(probs.indices).index(ev)
    return specs


def _fmt_dict(name, d):
    lines = [f"{name} = {{"]
    for k, v in d.items():
        lines.append(f"    {k!r}: {v!r},")
    lines.append("}")
    return "\n".join(lines)


def _assemble(g, blocks, red_fns, imports, command, lazy):
    M = g.M
    data_args = [g.names[n] for n in g.data_names]
    dspecs, pspecs = _data_specs(g), _param_specs(g)
    carried = {pl for s in dspecs.values() for pl in s["plates"] if isinstance(pl, str)}
    size_args = [s for s in g.sizes.values() if s not in carried]
    layout = {g.names[n]: perm for n, perm in g.layout.items() if perm != tuple(range(len(perm)))}
    head = [f"CAVI for the model {M.name!r}: {M.description}", "",
            f"Written by vi_derivations{' (' + command + ')' if command else ''} from the engine's derivation.",
            "It needs NumPy and SciPy only; every formula is printed beside the code that computes it.", "",
            "Model factors:"]
    head += [f"    {f.label}: {f.var.name} ~ {f.dist.describe()}" for f in M.factors]
    head += ["Mean-field family:"]
    head += [f"    {qf.label} = {qf.dist!r}" for qf in M.qfactors.values()]
    plates = ", ".join(f"{p.name} (index {p.index_name})" for p in M.plates)
    head += ["", f"Plates: {plates or 'none'}.  Sums over a plate run over the NumPy positions 0..size-1."]
    if g.P.data:
        head += [f"Data points run over {', '.join(p.name for p in g.P.data)}: inside this module every array with "
                 "that plate stores it as its last axis (contiguous), fit() converts on the way in and out."]
    head += ["The update_* functions, elbo and sweep work on arrays in this module's layout (LAYOUT) and are "
             "called by fit(), which takes and returns arrays in the model's declared layout."]
    head += ["", f"One sweep updates q({'), q('.join(g.order)}) in this order; after each sweep the full ELBO",
             "(every constant kept: a lower bound on log p(data)) is recorded; the loop stops when",
             "|L_t - L_(t-1)| <= tol |L_t| (tol = 0 runs exactly max_iter sweeps).", "",
             "Usage:",
             f"    result = fit({', '.join(f'{a}=...' for a in data_args + size_args)})",
             "    result.params, result.elbo, result.n_iter, result.converged"]
    imp = ["import numpy as np"]
    imp_names = sorted(imports)
    if imp_names:
        imp.append(f"from scipy.special import {', '.join(imp_names)}")
    imp.append("from collections import namedtuple")
    parts = [_docstring("\n".join(head), "").strip(), "\n".join(imp),
             "__all__ = ['fit', 'elbo', 'sweep', 'FitResult']",
             "# The arguments of fit(): plates (size names or fixed lengths) and positivity.\n" + _fmt_dict("DATA", dspecs),
             "# The variational parameters: plates, positivity and the default start (kind).\n" + _fmt_dict("PARAMS", pspecs),
             "# Arrays stored in another axis order inside this module (data-point axis last).\n" + _fmt_dict("LAYOUT", layout),
             f"BLOCK_BYTES = {BLOCK}   # size of one work array of a pass over the data points in blocks",
             _HELPERS.strip()]
    for name in ["precompute"] + [f for h, f in red_fns.items() if h != "data"]:
        if name in blocks:
            parts.append(blocks[name])
    for z in g.order + g.bound_order:
        parts.append(blocks[f"update_{g.names[z]}"])
    parts += [blocks["elbo"], blocks["sweep"]]
    parts.append(_fit_source(g, data_args, size_args, red_fns, lazy))
    return "\n\n\n".join(parts) + "\n"


def _fit_source(g, data_args, size_args, red_fns, lazy):
    sig = ", ".join(data_args + [f"{s}=None" for s in size_args] + ["init=None", "max_iter=500", "tol=1e-8", "seed=0"])
    L = [f"def fit({sig}):",
         _docstring("Run CAVI from ``init`` (name -> array; parameters it omits start from defaults drawn\n"
                    "with ``seed``) until the relative ELBO change is <= tol, or max_iter sweeps.\n"
                    "Returns FitResult(params, elbo, n_iter, converged).", "    "),
         "    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:",
         "        raise ValueError(f\"max_iter must be a positive integer, got {max_iter!r}\")",
         "    if isinstance(tol, bool) or not isinstance(tol, (int, float, np.floating)) or not np.isfinite(tol) or tol < 0:",
         "        raise ValueError(f\"tol must be a finite number >= 0, got {tol!r}\")",
         "    sizes = {}"]
    for s in size_args:
        L += [f"    if {s} is not None:",
              f"        if isinstance({s}, bool) or not isinstance({s}, (int, np.integer)) or {s} < 1:",
              f"            raise ValueError(f\"{s} must be a positive integer, got {{{s}!r}}\")",
              f"        sizes[{s!r}] = int({s})"]
    L.append("    state = {}")
    for a in data_args:
        L.append(f"    state[{a!r}] = _internal({a!r}, _checked('', {a!r}, {a}, DATA[{a!r}], sizes))")
    L.append("    state.update(_initial(init, sizes, seed))")
    for s in g.sizes.values():
        L.append(f"    state[{s!r}] = sizes.get({s!r})")
    L += ["    trace, converged = [], False",
          "    with np.errstate(over='ignore', invalid='ignore', divide='ignore'):   # a non-finite ELBO is an error below"]
    if "data" in red_fns:
        L.append("        state.update(" + g.call("precompute") + ")")
    for z, fname in red_fns.items():
        if z != "data":
            L.append("        state.update(" + g.call(fname) + ")")
    L += ["        for _ in range(max_iter):",
          "            sweep(state)",
          "            trace.append(" + g.call("elbo") + ")",
          "            if tol > 0 and len(trace) > 1 and abs(trace[-1] - trace[-2]) <= tol * abs(trace[-1]):",
          "                converged = True",
          "                break",
          ]
    for z, (fname, saved, target) in lazy.items():
        L += [f"    if {saved!r} in state:   # the probabilities of the last update of q({z})",
              f"        state[{target!r}] = {fname}(*state[{saved!r}])[0]"]
    L += ["    params = {name: _external(name, state[name]) for name in PARAMS}",
          "    return FitResult(params, np.array(trace), len(trace), converged)"]
    return "\n".join(L)
