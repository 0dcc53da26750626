"""Turn derived SymPy expressions (Sums over plates, Indexed arrays) into vectorised NumPy.

``compile_expr(expr, model, out=(k, d))`` returns ``f(**arrays)``: arrays are passed by the
names of the model's variables (``x=X, m=M, s2=S2, pi=PI, sigma2=1.3``); plate sizes are read
off the array shapes (a ValueError names an argument whose shape disagrees).  The result is a
scalar, or an array whose axes are the free indices listed in ``out``.

Evaluation works on *labelled arrays* (array, tuple of index symbols): Indexed objects become
views of the input arrays, elementwise functions are applied with broadcasting, and a Sum of a
product is contracted with ``numpy.einsum`` (no Python loop over any plate).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.special as sps
import sympy as sp
from sympy import Idx, Indexed, IndexedBase, KroneckerDelta, Sum

from .distributions import LogDet, MatrixInverse, NotEqual

__all__ = ["compile_expr", "evaluate", "plate_sizes"]


SAMPLE = sp.Symbol("_sample")


def plate_sizes(model, arrays, sampled=()):
    """Map each plate size symbol to the integer read off the given arrays' shapes.
    Arrays named in ``sampled`` carry one extra leading axis (Monte Carlo samples)."""
    sizes = {}
    for name, val in arrays.items():
        v = model.variables.get(name)
        if v is None:
            raise ValueError(f"argument {name!r} is not a variable of model {model.name!r}")
        arr = np.asarray(val, dtype=float)
        if name in sampled:
            if arr.ndim != len(v.plates) + 1:
                raise ValueError(f"argument {name!r} must have a leading sample axis and {len(v.plates)} "
                                 f"plate axes, got shape {arr.shape}")
            arr = arr[0]
        if arr.ndim != len(v.plates):
            raise ValueError(f"argument {name!r} must have {len(v.plates)} axes "
                             f"({', '.join(p.name for p in v.plates)}), got shape {arr.shape}")
        if not _all_finite(arr):
            raise ValueError(f"argument {name!r} contains NaN or inf")
        for p, n in zip(v.plates, arr.shape):
            if p.size.is_Integer:
                if int(p.size) != n:
                    raise ValueError(f"argument {name!r}: plate {p.name} has size {p.size}, got {n}")
                continue
            if p.size in sizes and sizes[p.size] != n:
                raise ValueError(f"argument {name!r}: plate {p.name} has size {sizes[p.size]} "
                                 f"from another argument, got {n}")
            sizes[p.size] = n
    return sizes


class _Ev:
    def __init__(self, arrays, sizes, sampled=()):
        self.arrays = arrays
        self.sizes = sizes
        self.sampled = set(sampled)
        self.cache = {}
        self._size_cache = {}

    def size_of(self, idx):
        if idx not in self._size_cache:
            self._size_cache[idx] = self._size(idx)
        return self._size_cache[idx]

    def _size(self, idx):
        if idx == SAMPLE:
            return len(next(iter(self.arrays[n] for n in self.sampled if n in self.arrays)))
        up = _extent(idx)
        if up in self.sizes:
            return int(self.sizes[up])
        val = up.xreplace({k: sp.Integer(v) for k, v in self.sizes.items()})
        if not val.is_Integer:
            raise ValueError(f"cannot infer the size of plate index {idx} ({up}) from the arguments")
        return int(val)

    def arr(self, name):
        if name not in self.arrays:
            raise ValueError(f"missing argument {name!r}")
        return self.arrays[name]

    # labelled array helpers
    @staticmethod
    def align(a, la, labels):
        a = np.asarray(a, dtype=float)
        if not la:
            return a
        if la == labels:
            return a
        pos = {l: n for n, l in enumerate(la)}
        perm = [pos[l] for l in labels if l in pos]
        a = np.transpose(a, perm)
        shape = []
        it = iter(a.shape)
        for l in labels:
            shape.append(next(it) if l in pos else 1)
        return a.reshape(shape)

    def ev(self, e):
        key = e
        if key in self.cache:
            return self.cache[key]
        r = self._ev(e)
        self.cache[key] = r
        return r

    def _ev(self, e):
        if e.is_Number:
            return float(e), ()
        if e is sp.pi:
            return np.pi, ()
        if e is sp.E:
            return np.e, ()
        if isinstance(e, Idx):
            return np.arange(self.size_of(e), dtype=float), (e,)
        if isinstance(e, sp.Symbol):
            if e in self.sizes:
                return float(self.sizes[e]), ()
            if e.name in self.sampled:
                return np.asarray(self.arr(e.name), dtype=float), (SAMPLE,)
            return np.asarray(self.arr(e.name), dtype=float), ()
        if isinstance(e, Indexed):
            name = _name(e.base.label)
            a = np.asarray(self.arr(name), dtype=float)
            labels = []
            sl = []
            if name in self.sampled:
                labels.append(SAMPLE)
                sl.append(slice(None))
            for ix in e.indices:
                if ix.is_Integer:
                    sl.append(int(ix))  # integer indices are 0-based array positions
                else:
                    sl.append(slice(None))
                    labels.append(ix)
            a = a[tuple(sl)]
            # repeated labels -> diagonal
            uniq = []
            for l in labels:
                if l not in uniq:
                    uniq.append(l)
            if len(uniq) < len(labels):
                letters = "abcdefghijklmnopqrstuvwxyz"
                spec = "".join(letters[uniq.index(l)] for l in labels)
                a = np.einsum(spec + "->" + letters[:len(uniq)], a)
            return a, tuple(uniq)
        if isinstance(e, sp.Add):
            parts = [self.ev(t) for t in e.args]
            labels = self._union([l for _, l in parts])
            return sum(self.align(a, l, labels) for a, l in parts), labels
        if isinstance(e, sp.Mul):
            parts = [self.ev(t) for t in e.args]
            labels = self._union([l for _, l in parts])
            out = np.asarray(1.0)
            for a, l in parts:
                out = out * self.align(a, l, labels)
            return out, labels
        if isinstance(e, sp.Pow):
            (b, lb), (x, lx) = self.ev(e.base), self.ev(e.exp)
            labels = self._union([lb, lx])
            base = self.align(b, lb, labels)
            ex = self.align(x, lx, labels)
            if np.ndim(ex) == 0 and float(ex) == 0.5:
                return np.sqrt(base), labels
            return np.power(base, ex), labels
        if isinstance(e, Sum):
            return self._sum(e)
        if isinstance(e, KroneckerDelta):
            a, b = e.args
            (va, la), (vb, lb) = self.ev(a), self.ev(b)
            labels = self._union([la, lb])
            return (self.align(va, la, labels) == self.align(vb, lb, labels)).astype(float), labels
        if isinstance(e, NotEqual):
            a, b = e.args
            (va, la), (vb, lb) = self.ev(a), self.ev(b)
            labels = self._union([la, lb])
            return (self.align(va, la, labels) != self.align(vb, lb, labels)).astype(float), labels
        if isinstance(e, LogDet):
            name = _name(e.args[0].label)
            M = np.asarray(self.arr(name), dtype=float)
            idx = e.args[1:]
            if name in self.sampled:  # a random matrix: one log det per draw
                idx = (SAMPLE,) + tuple(idx)
            if M.ndim != 2 + len(idx):
                raise ValueError(f"argument {name!r}: log det with {len(idx)} batch indices needs "
                                 f"{2 + len(idx)} axes, got shape {M.shape}")
            sl, labels = [], []
            for ix in idx:
                if ix != SAMPLE and ix.is_Integer:
                    sl.append(int(ix))
                else:
                    sl.append(slice(None))
                    labels.append(ix)
            sign, ld = np.linalg.slogdet(M[tuple(sl)])
            if np.any(sign <= 0):
                raise ValueError(f"argument {name!r} must be positive definite")
            return ld, tuple(labels)
        if isinstance(e, MatrixInverse):
            expr, a, b, j, l = e.args
            v, lab = self.ev(expr)
            lab2 = tuple(lab)
            batch = [x for x in lab2 if x not in (a, b)]
            full = self.align(v, lab2, tuple(batch) + (a, b))
            shape = [self.size_of(x) for x in batch] + [self.size_of(a), self.size_of(b)]
            full = np.broadcast_to(full, shape)
            inv = np.linalg.inv(full)
            return inv, tuple(batch) + (j, l)
        fn = _FUNCS.get(type(e))
        if fn is None:
            fn = _FUNCS.get(e.func.__name__)
        if fn is not None:
            parts = [self.ev(t) for t in e.args]
            labels = self._union([l for _, l in parts])
            return fn(*[self.align(a, l, labels) for a, l in parts]), labels
        raise ValueError(f"numeric: cannot translate {e} ({type(e).__name__})")

    @staticmethod
    def _union(lists):
        return tuple(dict.fromkeys(x for l in lists for x in l))

    def _sum(self, e):
        """Sum of a sum of products: one contraction per term, over the indices that term uses."""
        idxs = tuple(lim[0] for lim in e.limits)
        total = []
        for factors in _terms(e):
            coef, parts = 1.0, []
            for f in factors:
                a, l = self.ev(f)
                if l:
                    parts.append((a, l))
                else:
                    coef = coef * a
            labels = self._union([l for _, l in parts])
            used = set(labels)
            for i in idxs:
                if i not in used:
                    coef = coef * self.size_of(i)
            summed = set(idxs)
            keep = tuple(l for l in labels if l not in summed)
            total.append((_contract(parts, labels, keep) * coef, keep))
        if len(total) == 1:
            return total[0]
        labels = self._union([l for _, l in total])
        return sum(self.align(a, l, labels) for a, l in total), labels


_MAX_TERMS = 64


@lru_cache(maxsize=4096)
def _extent(idx):
    """The number of values of a plate index: upper - lower + 1 (a size symbol or an expression)."""
    return idx.upper - idx.lower + 1


def _indices(expr):
    return frozenset(s for s in expr.free_symbols if isinstance(s, Idx))


@lru_cache(maxsize=4096)
def _terms(e):
    """The summand of the Sum ``e`` as a list of products (tuples of factors): the Add is split
    into its terms, and a factor that is itself an Add is multiplied out when its terms use
    different indices and one of them is summed here (so no term is broadcast to the others'
    axes); at most _MAX_TERMS products."""
    summed = {lim[0] for lim in e.limits}
    out = []
    for term in sp.Add.make_args(e.function):
        products = [()]
        for f in sp.Mul.make_args(term):
            split = (isinstance(f, sp.Add) and len(products) * len(f.args) <= _MAX_TERMS
                     and len({_indices(a) for a in f.args}) > 1 and _indices(f) & summed)
            pieces = [sp.Mul.make_args(a) for a in f.args] if split else [(f,)]
            products = [p + q for p in products for q in pieces]
        out += products
    return out


@lru_cache(maxsize=4096)
def _path(spec, shapes):
    return np.einsum_path(spec, *[np.broadcast_to(0.0, s) for s in shapes], optimize="greedy")[0]


def _contract(parts, labels, keep):
    """sum over the labels not in ``keep`` of the product of the labelled arrays ``parts``
    (their labels' union is ``labels``); the result's axes are ``keep``."""
    if not parts:
        return np.asarray(1.0)
    if len(parts) == 1:
        a, l = parts[0]
        kept = set(keep)
        drop = tuple(n for n, x in enumerate(l) if x not in kept)
        return a.sum(axis=drop) if drop else a
    if len(labels) > 52:
        raise ValueError("numeric: too many indices in one product")
    letters = {x: _LETTERS[n] for n, x in enumerate(labels)}
    ops = [np.asarray(a, dtype=float) for a, _ in parts]
    spec = ",".join("".join(letters[x] for x in l) for _, l in parts) + "->" + "".join(letters[x] for x in keep)
    path = _path(spec, tuple(o.shape for o in ops))
    return np.einsum(spec, *ops, optimize=path)


_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _all_finite(arr):
    """No NaN or inf in ``arr`` (a finite sum proves it; an overflowing one falls back to isfinite)."""
    with np.errstate(all="ignore"):
        if np.isfinite(np.sum(arr)):
            return True
    return bool(np.all(np.isfinite(arr)))


def _name(label):
    return label.name if isinstance(label, sp.Symbol) else str(label)


def _xlogy_safe_log(x):
    with np.errstate(divide="ignore"):
        return np.log(x)


def _mv(fn):
    """A multivariate special function f(a, D) of an array a and a dimension D (a number)."""
    def f(a, D):
        D = np.asarray(D, dtype=float)
        if D.ndim or D != int(D) or D < 1:
            raise ValueError(f"numeric: the dimension of a multivariate special function must be a "
                             f"positive integer, got {D}")
        return fn(np.asarray(a, dtype=float), int(D))
    return f


_FUNCS = {
    "MvLogGamma": _mv(lambda a, D: D * (D - 1) / 4 * np.log(np.pi)
                      + sum(sps.gammaln(a - t / 2) for t in range(D))),
    "MvDigamma": _mv(lambda a, D: sum(sps.digamma(a - t / 2) for t in range(D))),
    sp.log: _xlogy_safe_log,
    sp.exp: np.exp,
    sp.tanh: np.tanh,
    sp.loggamma: sps.gammaln,
    sp.digamma: sps.digamma,
    sp.gamma: sps.gamma,
    sp.Abs: np.abs,
    "polygamma": lambda n, x: sps.polygamma(n.astype(int) if hasattr(n, "astype") else int(n), x),
}


def evaluate(expr, model, out=(), **arrays):
    """Evaluate ``expr`` numerically (see :func:`compile_expr`)."""
    return compile_expr(expr, model, out)(**arrays)


def compile_expr(expr, model, out=(), sampled=()):
    """NumPy callable for a derived expression; ``out`` lists free indices -> output axes.

    ``sampled``: names of variables passed with an extra leading axis of S Monte Carlo draws;
    the result then has a leading axis of length S (vectorised over draws)."""
    expr = sp.sympify(expr)
    out = tuple(out)
    free = {s for s in expr.free_symbols if isinstance(s, Idx)}
    missing = free - set(out)
    if missing:
        raise ValueError(f"free indices {sorted(map(str, missing))} must be listed in out=")

    def f(**arrays):
        arrs = {}
        for k, v in arrays.items():
            if k in model.variables:
                arrs[k] = np.asarray(v, dtype=float)
        unknown = set(arrays) - set(arrs)
        if unknown:
            raise ValueError(f"unknown arguments {sorted(unknown)} for model {model.name!r}")
        sizes = plate_sizes(model, arrs, sampled)
        ev = _Ev(arrs, sizes, sampled)
        val, labels = ev.ev(expr)
        outs = out
        shape = [ev.size_of(i) for i in out]
        if sampled:
            S = len(next(iter(arrs[n] for n in sampled if n in arrs)))
            outs, shape = (SAMPLE,) + tuple(out), [S] + shape
        res = np.broadcast_to(ev.align(val, labels, outs), shape) if outs else np.asarray(val, dtype=float)
        return float(res) if not outs else np.array(res)

    f.expr = expr
    f.out = out
    return f
