"""vi_book.poisson_groups_example: the model and the data set of the "derive your own" pages."""
import numpy as np
import scipy.stats as st

from vi_book import poisson_groups_example as ex


def test_the_model_is_the_stated_one():
    """Its log joint is the sum of the scipy.stats log densities of the three stated factors."""
    import vi_derivations as vd

    M = ex.poisson_groups()
    assert M.validate() and set(M.qfactors) == {"lam", "beta"}
    log_joint = vd.to_numpy(vd.log_joint_expr(M), M)
    rng = np.random.default_rng(0)
    Y, lam, beta = rng.poisson(3.0, (3, 4)).astype(float), rng.gamma(2.0, 1.0, 3), rng.gamma(2.0, 1.0)
    h = dict(a0=1.7, c0=2.3, d0=0.9)
    ref = (st.gamma(h["c0"], scale=1 / h["d0"]).logpdf(beta) + st.gamma(h["a0"], scale=1 / beta).logpdf(lam).sum()
           + st.poisson(lam[:, None]).logpmf(Y).sum())
    assert abs(log_joint(y=Y, lam=lam, beta=beta, **h) - ref) < 1e-10 * abs(ref)


def test_the_example_data_are_seeded_and_shaped():
    Y, lam = ex.example_data()
    Y2, lam2 = ex.example_data()
    e = ex.EXAMPLE
    assert Y.shape == (e["G"], e["N"]) and lam.shape == (e["G"],)
    np.testing.assert_array_equal(Y, Y2)
    np.testing.assert_array_equal(lam, lam2)
    assert np.all(Y >= 0) and np.all(Y == np.round(Y)) and np.all(lam > 0)
