"""Coefficients written once and constants collected (vi_derivations.typeset.algebra); every result
is checked equal to its input, and a wrong one is refused by the proof."""
import sympy as sp

from vi_derivations.render import _doprint
from vi_derivations.typeset import proved_equal
from vi_derivations.typeset.algebra import collect_constants, group_signed
from vi_derivations.typeset.sums import _factors


def _collected(expr, sizes):
    """A term of ``expr`` is a plate size times a bracket: K (...)."""
    return any(sizes & set(_factors(t)) and any(isinstance(f, sp.Add) for f in _factors(t))
               for t in sp.Add.make_args(expr))


def test_coefficients_equal_up_to_sign_are_written_once():
    a, b, u, v = sp.symbols("a b u v", positive=True)
    e = (a - b) * sp.polygamma(0, u) + (b - a) * sp.polygamma(0, v)
    out = group_signed(e)
    assert isinstance(out, sp.Mul) and sp.expand(out - e) == 0
    halves = sp.expand(sp.Rational(1, 2) * (sp.log(a) + b - u))
    out = group_signed(halves)
    assert out != halves and sp.expand(out - halves) == 0
    assert group_signed(sp.log(a) + b) == sp.log(a) + b          # nothing shared: unchanged


def test_constants_sharing_a_size_are_collected_only_when_shorter():
    K, D = sp.symbols("K D", integer=True, positive=True)
    nu, w, b = sp.symbols("nu w b", positive=True)
    shorter = (-D * K * nu * sp.log(2) / 2 - nu * K * sp.log(w) / 2 - K * sp.loggamma(nu / 2)
               + D * K * sp.log(b / (2 * sp.pi)) / 2 - D * K * sp.log(b) / 2 + sp.log(D))
    longer = K * sp.loggamma(nu / 2) - K * sp.loggamma(w) + K * sp.log(nu + w) + sp.log(D)
    out = collect_constants(shorter)
    assert out != shorter and len(_doprint(out)) < len(_doprint(shorter))
    assert _collected(out, {K, D})
    assert proved_equal(out, shorter, trials=3) and not proved_equal(out.xreplace({K: 2 * K}), shorter)
    assert collect_constants(longer) == longer            # K (...) would print longer: left alone


def test_the_mixture_elbo_collects_its_constants_by_a_plate_size():
    import vi_derivations as vd
    from vi_derivations.typeset import typeset, unfold
    model = vd.models.load("bayesian_gmm")
    raw = vd.elbo(model, constants=True)
    ts = typeset(raw)
    sizes = {p.size for p in model.plates}
    assert ts.proved and proved_equal(unfold(ts.display), raw, trials=2, seed=21)
    assert _collected(ts.display, sizes)
