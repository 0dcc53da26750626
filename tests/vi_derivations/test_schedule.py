"""Update schedules: vectorised where the elements of a factor are independent given the rest,
sequential along the plates where a term of the log joint couples two of its elements."""
import pytest
from sympy import Sum

import vi_derivations as vd
from vi_derivations.schedule import Schedule, update_schedule


def factorised_regression():
    N, D = vd.Plate("N", "n"), vd.Plate("D", "j")
    n, j = N.index, D.index
    M = vd.Model("factorised_regression")
    X = M.covariate("X", (N, D))
    w = M.latent("w", (D,))
    y = M.observed("y", (N,))
    M.factor(w, vd.Normal(0, var=1))
    l = D.fresh()
    M.factor(y, vd.Normal(Sum(X[n, l] * w[l], (l, l.lower, l.upper)), var=1))
    m, s2 = M.variational("m", (D,)), M.variational("s2", (D,), positive=True)
    M.q(w, vd.Normal(m[j], var=s2[j]))
    return M


@pytest.mark.parametrize("name", ["gmm", "linear_regression_ard", "dirichlet_mixture", "normal_gamma"])
def test_library_models_are_vectorised(name):
    M = vd.models.load(name)
    for f in M.qfactors:
        s = update_schedule(M, f)
        assert isinstance(s, Schedule) and s.kind == "vectorised" and s.plates == () and s.vectorised
        assert "independent" in s.reason


def test_factorised_regression_is_sequential_over_the_coupled_plate():
    s = update_schedule(factorised_regression(), "w")
    assert s.kind == "sequential" and s.plates == ("D",) and s.positions == (0,)
    assert "X" in s.terms[0] and "couples" in s.reason


def test_unknown_factor_is_named():
    with pytest.raises(ValueError, match="nope"):
        update_schedule(factorised_regression(), "nope")
