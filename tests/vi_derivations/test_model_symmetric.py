"""Symmetric declarations of matrix quantities (Model.hyper / variational / latent, symmetric=True):
only square matrices, only where the family guarantees the symmetry, and a non-symmetric value of a
declared-symmetric hyper-parameter is refused by the generated CAVI."""
import numpy as np
import pytest

import vi_derivations as vd
from vi_derivations import Model, MvNormal, Normal, Plate
from vi_derivations.model import SymmetricBase, is_symmetric
from vi_derivations.wishart import Wishart, matrix_plate


def _plates():
    K, D = Plate("K", "k"), Plate("D", "d")
    return K, D, matrix_plate(D, "E", "e")


def test_a_symmetric_declaration_needs_a_square_matrix():
    K, D, E = _plates()
    M = Model("t")
    with pytest.raises(ValueError, match="'A'.*square"):
        M.hyper("A", (K, D), symmetric=True)
    with pytest.raises(ValueError, match="'B'.*square"):
        M.variational("B", (D,), symmetric=True)
    assert is_symmetric(M.hyper("W0", (D, E), symmetric=True))
    assert not is_symmetric(M.hyper("V0", (D, E)))


def test_a_family_that_does_not_keep_a_matrix_symmetric_refuses_its_declaration():
    K, D, E = _plates()
    k, d, e = K.index, D.index, E.index
    M = Model("t")
    z = M.latent("z", (K, D, E))
    M.factor(z, Normal(0, var=1))
    A = M.variational("A", (K, D, E), symmetric=True)
    with pytest.raises(ValueError, match="q\\(z\\).*A is declared symmetric"):
        M.q(z, Normal(A[k, d, e], var=1))
    M2 = Model("t2")
    lam = M2.latent("Lambda", (K, D, E), symmetric=True)
    with pytest.raises(ValueError, match="Lambda is declared symmetric.*Normal"):
        M2.factor(lam, Normal(0, var=1))


def test_wishart_and_gaussian_families_keep_their_matrices_symmetric():
    K, D, E = _plates()
    k, d, e = K.index, D.index, E.index
    M = Model("t")
    W0 = M.hyper("W0", (D, E), symmetric=True)
    lam = M.latent("Lambda", (K, D, E), symmetric=True)
    M.factor(lam, Wishart(W0[d, e], D.size + 1, event=(D, E)))
    W, nu = M.variational("W", (K, D, E), symmetric=True), M.variational("nu", (K,), positive=True)
    M.q(lam, Wishart(W[k, d, e], nu[k], event=(D, E)))
    assert isinstance(M.variables["W"].symbol, SymmetricBase)
    M3 = Model("t3")
    w = M3.latent("w", (D,))
    M3.factor(w, Normal(0, var=1))
    S = M3.variational("S", (D, D), symmetric=True)
    M3.q(w, MvNormal(M3.variational("m", (D,))[d], cov=S, event=D))
    assert is_symmetric(S)


def test_the_generated_cavi_refuses_a_non_symmetric_scale_matrix():
    rng = np.random.default_rng(3)
    N, K, D = 12, 2, 2
    g = vd.cavi(vd.models.load("bayesian_gmm"), order=["w", "mu", "Lambda", "c"])
    data = dict(x=rng.normal(size=(N, D)), alpha0=np.ones(K), m0=np.zeros(D), beta0=1.0,
                W0=np.array([[1.0, 0.3], [0.0, 1.0]]), nu0=3.0)
    init = dict(r=rng.dirichlet(np.ones(K), N))
    with pytest.raises(ValueError, match="data: 'W0' is declared symmetric"):
        g.run(data, init, max_iter=2)
    data["W0"] = np.array([[1.0, 0.3], [0.3, 1.0]])
    assert np.all(np.isfinite(g.run(data, init, max_iter=2).elbo))


def test_the_generated_module_refuses_a_non_symmetric_scale_matrix(tmp_path):
    from tests.vi_derivations.test_codegen import load_source
    from vi_derivations.codegen import generate
    rng = np.random.default_rng(4)
    N, K, D = 12, 2, 2
    mod = load_source(generate(vd.models.load("bayesian_gmm"), ["w", "mu", "Lambda", "c"]),
                      tmp_path, "fit_bayesian_gmm_symmetric")
    data = dict(x=rng.normal(size=(N, D)), alpha0=np.ones(K), m0=np.zeros(D), beta0=1.0,
                W0=np.array([[1.0, 0.3], [0.0, 1.0]]), nu0=3.0)
    init = dict(r=rng.dirichlet(np.ones(K), N))
    with pytest.raises(ValueError, match="W0 is declared symmetric"):
        mod.fit(**data, init=init, max_iter=2)
    data["W0"] = np.array([[1.0, 0.3], [0.3, 1.0]])
    assert np.all(np.isfinite(mod.fit(**data, init=init, max_iter=2).elbo))
    bad_W = dict(init, W=np.tile(np.array([[1.0, 0.5], [0.0, 1.0]]), (K, 1, 1)))
    with pytest.raises(ValueError, match="W is declared symmetric"):
        mod.fit(**data, init=bad_W, max_iter=2)
