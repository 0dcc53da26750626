"""The chain checker on models the engine accepts beyond the book's models: known matrix
hyper-parameters (an MvNormal prior with a known precision), MvNormal q factors over groups,
known probabilities and counts (Bernoulli, Binomial), more plates than the default sizes; each
family hook also rejects a deliberately wrong step, and a construct the checker cannot evaluate
is refused by a :class:`CheckUnavailable` naming it."""
from __future__ import annotations

import copy
import warnings

import pytest
import sympy as sp

import vi_derivations as vd
from vi_derivations import Model, MvNormal, Normal, Plate
from vi_derivations.chain_check import CheckUnavailable, check_chain


def _quiet(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn()


def _all_checked(model, names=None):
    chains = _quiet(lambda: vd.derive(model)).chains
    for name in names or chains:
        res = _quiet(lambda: check_chain(model, name, chains[name]))
        bad = [f"{name}[{r.step}] {r.relation}: {r.detail}" for r in res if not (r.checked and r.ok)]
        assert not bad, bad
    return chains


def _broken(model, chains, name, n, change):
    ch = copy.deepcopy(chains[name])
    ch.steps[n].expr = change(ch.steps[n].expr)
    return _quiet(lambda: check_chain(model, name, ch))[n - 1]


def _mvnormal_model(groups, known_precision):
    """mu_(g) ~ N(m0, L0^-1) or N(m0, V0) (L0 / V0 a known matrix, not declared symmetric);
    x_(g)t ~ N(mu_(g)d, 1); q(mu_(g)) MvNormal with its own covariance (per group)."""
    D, T = Plate("D", "d"), Plate("T", "t")
    G = Plate("G", "g") if groups else None
    M = Model("mv_check", "an MvNormal prior with a known matrix")
    m0 = M.hyper("m0", (D,), positive=False)
    A0 = M.hyper("A0", (D, D), positive=False)
    gp = (G,) if groups else ()
    mu = M.latent("mu", gp + (D,))
    x = M.observed("x", gp + (T, D))
    prior = (MvNormal(m0[D.index], precision=A0, event=D) if known_precision
             else MvNormal(m0[D.index], cov=A0, event=D))
    M.factor(mu, prior)
    gi = (G.index,) if groups else ()
    M.factor(x, Normal(mu.symbol[gi + (D.index,)], var=1))
    m = M.variational("m", gp + (D,), positive=False)
    V = M.variational("V", gp + (D, D), symmetric=True)
    M.q(mu, MvNormal(m[gi + (D.index,)], cov=V, event=D))
    return M


@pytest.mark.parametrize("groups,known_precision", [(False, True), (True, False)])
def test_mvnormal_known_matrix_and_grouped_q_are_checked(groups, known_precision):
    """A known precision (or covariance) gets a symmetric positive definite value (it was "no
    concrete matrix for A0"); a q factor over groups draws each group's vector (it was
    NotImplementedError "MvNormal q factor with batch plates")."""
    _all_checked(_mvnormal_model(groups, known_precision))


def test_mvnormal_hooks_reject_wrong_steps():
    """With the new values and draws the checker still rejects a wrong step: the log joint off
    in the known matrix's log-determinant, an expectation of the grouped q factor off by 10%,
    E_q[log q] of the grouped factor off by a constant."""
    from vi_derivations.distributions import LogDet
    M = _mvnormal_model(True, True)
    chains = _quiet(lambda: vd.derive(M)).chains
    A0 = M.variables["A0"].symbol
    r = _broken(M, chains, "log_joint", 1, lambda e: e + LogDet(A0) / 3)
    assert r.checked and not r.ok, r
    r = _broken(M, chains, "expected_log_joint", 1, lambda e: 1.1 * e)
    assert r.checked and not r.ok, r
    n = next(n for n, st in enumerate(chains["log_var"].steps) if n and st.relation in ("=", "=E"))
    r = _broken(M, chains, "log_var", n, lambda e: e + sp.Rational(1, 5))    # the grouped entropy
    assert r.checked and not r.ok, r


def _known_probability_model():
    """s_i ~ Bernoulli(rho) with a known rho (a hyper-parameter), x_i ~ N(s_i mu, 1), q(mu) Normal,
    q(s_i) Bernoulli; y_j ~ Binomial(n, p) with known n and p (constant terms of the joint)."""
    N, J = Plate("N", "i"), Plate("J", "j")
    M = Model("prob_check", "known probabilities")
    rho, p, n = M.hyper("rho"), M.hyper("pb"), M.hyper("nb")
    s, mu = M.latent("s", (N,)), M.latent("mu")
    x, y = M.observed("x", (N,)), M.observed("y", (J,))
    M.factor(s, vd.Bernoulli(rho))
    M.factor(mu, Normal(0, var=2))
    M.factor(x, Normal(s.symbol[N.index] * mu.symbol, var=1))
    M.factor(y, vd.Binomial(n, p))
    M.q(mu, Normal(M.variational("m"), var=M.variational("v", positive=True)))
    M.q(s, vd.Bernoulli(M.variational("ps", (N,))[N.index]))
    return M


def test_known_probabilities_are_checked_and_wrong_steps_rejected():
    """A known Bernoulli / Binomial probability is drawn inside (0, 1) and a known Binomial n
    above the counts (they were drawn in (0.6, 2): log(1 - rho) complex, "ValueError: complex
    value"); a wrong step is still rejected."""
    M = _known_probability_model()
    chains = _all_checked(M, ["log_joint", "expected_log_joint", "update_s"])
    r = _broken(M, chains, "log_joint", 1, lambda e: e + sp.Rational(1, 7))
    assert r.checked and not r.ok, r


def test_more_plates_than_default_sizes():
    """Six plates (the default sizes list five): every plate gets a size (it was "TypeError:
    Cannot convert symbols to int")."""
    P = [Plate(f"P{t}", f"i{t}") for t in range(6)]
    M = Model("plates_check", "six plates")
    mus = [M.latent(f"mu{t}") for t in range(6)]
    for t, (pl, mu) in enumerate(zip(P, mus)):
        x = M.observed(f"x{t}", (pl,))
        M.factor(mu, Normal(0, var=1))
        M.factor(x, Normal(mu.symbol, var=1))
        M.q(mu, Normal(M.variational(f"m{t}"), var=M.variational(f"v{t}", positive=True)))
    _all_checked(M, ["log_joint", "update_mu5"])


def test_unavailable_construct_is_named(monkeypatch):
    """A q family that cannot draw its samples is refused by CheckUnavailable naming the model
    and the construct, not by a NotImplementedError from inside the checker; a step whose
    value is missing is reported unchecked in words."""
    M = _mvnormal_model(False, True)
    chains = _quiet(lambda: vd.derive(M)).chains

    def no_sampler(self, inst, var):
        raise NotImplementedError(f"q family {self.name} of {var.name} has no sampler in the chain checker")
    monkeypatch.setattr(MvNormal, "sample_q", no_sampler)
    with pytest.raises(CheckUnavailable, match="mv_check.*MvNormal of mu"):
        check_chain(M, "log_joint", chains["log_joint"])
    monkeypatch.undo()
    r = _broken(M, chains, "log_joint", 1, lambda e: e + sp.Symbol("stray"))
    assert not r.checked and r.detail.startswith("CheckUnavailable: ") and "stray" in r.detail, r


def test_mixture_of_known_probabilities_and_multinomial_counts():
    """A mixture's component passes its known probabilities to the checker's domain (Bernoulli
    components b_kd in (0, 1)), Multinomial observations are counts (both were "ValueError:
    complex value"); a wrong step is still rejected."""
    N, K, D, V = Plate("N", "i"), Plate("K", "k"), Plate("D", "d"), Plate("V", "v")
    M = Model("mix_check", "a mixture of known Bernoulli components")
    bk = M.hyper("bk", (K, D))
    c, pv = M.latent("c", (N, K)), M.latent("pv", (V,))
    y, z = M.observed("y", (N, D)), M.observed("z", (N, V))
    M.factor(c, vd.Categorical(1 / K.size, event=K))
    M.factor(y, vd.Mixture(c, vd.Bernoulli(bk[K.index, D.index])))
    M.factor(pv, vd.Dirichlet(2, event=V))
    M.factor(z, vd.Multinomial(pv.symbol[V.index], event=V))
    M.q(c, vd.Categorical(M.variational("phi", (N, K))[N.index, K.index], event=K))
    M.q(pv, vd.Dirichlet(M.variational("a", (V,), positive=True)[V.index], event=V))
    from vi_derivations.chain_check import _Instance
    inst = _Instance(M)
    vals = {str(k): v for k, v in inst.values.items()}
    bks = [v for k, v in vals.items() if k.startswith("bk[")]
    zs = [v for k, v in vals.items() if k.startswith("z[")]
    assert bks and all(0 < v < 1 for v in bks), bks
    assert zs and all(v >= 0 and v == int(v) for v in zs), zs
    chains = _all_checked(M, ["log_joint", "expected_log_joint", "elbo"])
    r = _broken(M, chains, "log_joint", 1, lambda e: e * sp.Rational(9, 10))
    assert r.checked and not r.ok, r
