"""The printer never changes what an expression says: a product reads as a product, and the
special functions print as the book writes them."""
import itertools

import pytest
import sympy as sp

import vi_derivations as vd
from vi_derivations.model import Plate


def _top_level_signs(tex):
    """The + and - signs of ``tex`` outside every bracket ({}, \\left( \\right), [ ])."""
    depth, signs, i = 0, [], 0
    while i < len(tex):
        if tex.startswith(r"\left", i) or tex.startswith(r"\right", i):
            i += 5 if tex.startswith(r"\left", i) else 6
            continue
        ch = tex[i]
        if ch in "{([":
            depth += 1
        elif ch in "})]":
            depth -= 1
        elif ch in "+-" and depth == 0:
            signs.append(i)
        i += 1
    return signs


N = Plate("N", "n")
n = N.index
X, t = sp.IndexedBase("X"), sp.IndexedBase("t")
a, b = sp.symbols("a b", positive=True)
NEGATIVE_SUMMANDS = [-X[n] / 2, -X[n] * t[n], -X[n] * t[n] / (4 * a), sp.Mul(-1, 2, X[n], evaluate=False)]
COEFFICIENTS = [2, a, a * b, sp.Rational(1, 3), -a, sp.tanh(b)]


@pytest.mark.parametrize("summand, coef", list(itertools.product(NEGATIVE_SUMMANDS, COEFFICIENTS)))
@pytest.mark.parametrize("pretty", [True, False])
def test_a_product_with_a_negative_sum_reads_as_a_product(summand, coef, pretty):
    expr = sp.Mul(coef, sp.Sum(summand, (n, n.lower, n.upper)), evaluate=False)
    tex = vd.latex(expr, pretty=pretty).strip()
    signs = _top_level_signs(tex)
    # at most one sign, and only in front: "- a \sum ..." or "a \sum ...", never "a - \sum ..."
    assert signs in ([], [0]), tex
    value = sp.Mul(coef, sp.Sum(summand, (n, 0, 2))).doit()
    assert (signs == [0]) == bool(value.subs({a: 1, b: 1, X[0]: 1, X[1]: 1, X[2]: 1,
                                              t[0]: 1, t[1]: 1, t[2]: 1}) < 0), tex


def test_a_factor_printed_with_a_sign_is_bracketed():
    tex = vd.latex(sp.Mul(a, -b - 1, sp.Sum(X[n], (n, n.lower, n.upper)), evaluate=False), pretty=False)
    assert _top_level_signs(tex) in ([], [0]), tex


@pytest.mark.parametrize("order, expected", [(0, r"\psi\left(a\right)"), (1, r"\psi'\left(a\right)"),
                                             (2, r"\psi''\left(a\right)"), (5, r"\psi^{(5)}\left(a\right)")])
def test_polygamma_prints_as_psi_and_its_derivatives(order, expected):
    assert vd.latex(sp.polygamma(order, a)) == expected
    assert vd.latex(sp.polygamma(order, a) ** 2) == r"\left(" + expected + r"\right)^{2}"


def test_each_model_is_printed_with_its_own_letters():
    """sigma2 is the prior variance tau^2 in the mixture and the noise variance sigma^2 in the
    regression: whichever model was built last, each prints with its own letter."""
    mixture, regression = vd.models.load("gmm"), vd.models.load("linear_regression_ard")
    prior_var, noise_var = mixture.latex_names["sigma2"], regression.latex_names["sigma2"]
    assert prior_var != noise_var
    mixture_chain = vd.derive(mixture).chains["log_joint"]
    regression_chain = vd.derive(regression).chains["log_joint"]
    for _ in range(2):   # in either order of use
        assert prior_var in mixture_chain.latex() and noise_var not in mixture_chain.latex()
        assert noise_var in regression_chain.latex()
        sym = sp.Symbol("sigma2", positive=True)
        assert vd.latex(sym, model=mixture) == prior_var
        assert vd.latex(sym, model=regression) == noise_var
        vd.derive(mixture)
        assert vd.latex(sym) == prior_var            # the model in use
        vd.derive(regression)
        assert vd.latex(sym) == noise_var
