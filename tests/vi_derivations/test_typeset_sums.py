"""Joined plate sums (vi_derivations.typeset.sums): shapes on
the SymPy structure of the display, each display proved, and a wrong join is refused by the proof."""
import sympy as sp
from sympy import Sum

import vi_derivations as vd
from vi_derivations.typeset import proved_equal, typeset, unfold
from vi_derivations.typeset.sums import join_plate_sums


def _plate_sums(expr, n):
    return [s for s in sp.preorder_traversal(expr) if isinstance(s, Sum) and len(s.limits) == n]


def test_the_mixture_elbo_has_one_sum_over_points_and_components():
    model = vd.models.load("bayesian_gmm")
    raw = vd.elbo(model, constants=True)
    ts = typeset(raw)
    assert ts.proved
    pair = [s for s in _plate_sums(ts.display, 2) if {str(l[0]) for l in s.limits} == {"i", "k"}]
    assert len(pair) == 1
    assert proved_equal(unfold(ts.display), raw, trials=2, seed=77)
    # the joined body with one of its terms dropped is not the engine's ELBO
    body = pair[0].function
    (inner,) = [f for f in sp.Mul.make_args(body) if isinstance(f, sp.Add)]    # phi_ik (...)
    terms = sp.Add.make_args(inner)
    assert len(terms) > 2
    wrong = ts.display.xreplace({pair[0]: Sum(body.xreplace({terms[-1]: 0}), *pair[0].limits)})
    assert wrong != ts.display and not proved_equal(unfold(wrong), raw)


def test_sums_over_the_same_plates_join_with_their_common_factor():
    K = vd.Plate("K", "k")
    k = K.index
    phi, a, b = (sp.IndexedBase(sp.Symbol(n, positive=True)) for n in ("phi", "a", "b"))
    j = K.fresh()
    e = Sum(phi[k] * a[k], (k, 0, K.size - 1)) - Sum(phi[j] * sp.log(b[j]), (j, 0, K.size - 1))
    out = join_plate_sums(e)
    assert isinstance(out, Sum) and proved_equal(out, e, trials=3)
    assert not proved_equal(join_plate_sums(Sum(phi[k] * a[k], (k, 0, K.size - 1))
                                            + Sum(phi[j] * sp.log(b[j]), (j, 0, K.size - 1))), e)
