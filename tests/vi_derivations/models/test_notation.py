"""The engine's models print in the book's one notation (book/notation.md) and describe themselves
without naming the documents the book grew from.

Python names stay those of the vi_impl twins (``sigma2``, ``lambda2``, ``alpha``, ``mu_tilde``,
``z``, ...); what the reader sees is each model's LaTeX name: tau^2 a prior variance, sigma^2 an
observation variance, mu_0 a prior mean, m and s^2 the parameters of a Normal factor, c_ik a
one-hot assignment, phi its responsibilities, i the data points, k the components, d the
dimensions or features.
"""
import re

import pytest

import vi_derivations as vd
from vi_derivations.typeset import symbol_table

#: model -> {Python name: LaTeX the book prints}
LETTERS = {
    "gmm": {"sigma2": r"\tau^{2}", "m": "m", "s2": "s^{2}", "c": "c", "mu": r"\mu"},
    "gmm_prior_mean": {"alpha": r"\mu_{0}", "sigma2": r"\tau^{2}", "lambda2": r"\sigma^{2}", "phi": r"\phi"},
    "gmm_1d": {"tau2": r"\tau^{2}", "sigma2": r"\sigma^{2}", "weights": "w", "z": "c", "mu_tilde": "m",
               "s2_tilde": "s^{2}", "phi": r"\phi"},
    "dirichlet_mixture": {"sigma2": r"\tau^{2}", "lambda2": r"\sigma^{2}"},
    "normal_normal": {"mu0": r"\mu_{0}", "tau2": r"\tau^{2}", "sigma2": r"\sigma^{2}", "m": "m", "s2": "s^{2}"},
    "linear_regression_ard": {"sigma2": r"\sigma^{2}", "alpha": r"\alpha", "w": "w", "a0": "a_{0}", "b0": "b_{0}"},
}
#: The models of this folder that this test speaks for (others are checked by their own tests).
MODELS = ["bernoulli_mixture", "beta_bernoulli", "dirichlet_mixture", "gamma_poisson", "gmm", "gmm_1d",
          "gmm_precision", "gmm_prior_mean", "linear_gaussian_2d", "linear_regression_ard", "normal_gamma",
          "normal_normal", "poisson_mixture"]
#: Plate name -> the index letter of book/notation.md.
INDEX = {"N": "i", "K": "k", "D": "d"}
SOURCE_WORDS = re.compile(r"coursework|slides|homework|tutorial|lecture|exercise \d|problem \d|notes\b", re.I)


@pytest.mark.parametrize("name", sorted(LETTERS))
def test_each_quantity_prints_with_the_books_letter(name):
    model = vd.models.load(name)
    for python_name, tex in LETTERS[name].items():
        assert model.latex_names[python_name] == tex, (name, python_name, model.latex_names[python_name])


@pytest.mark.parametrize("name", MODELS)
def test_plates_use_the_books_index_letters_and_no_letter_means_two_things(name):
    model = vd.models.load(name)
    for plate in model.plates:
        if plate.name in INDEX:
            assert plate.index_name == INDEX[plate.name], (name, plate)
    shown = [row[3] for row in symbol_table(model)]
    assert len(shown) == len(set(shown)), name


@pytest.mark.parametrize("name", MODELS)
def test_descriptions_and_docstrings_name_no_source_document(name):
    import importlib
    module = importlib.import_module(f"vi_derivations.models.{name}")
    assert not SOURCE_WORDS.search(vd.models.load(name).description), name
    assert not SOURCE_WORDS.search(module.__doc__ or ""), name


def test_the_mixture_log_joint_reads_tau_squared_for_the_prior_variance():
    tex = vd.latex(vd.derive(vd.models.load("gmm")).chains["log_joint"].steps[0].expr)
    assert r"\tau^{2}" in tex and r"\sigma^{2}" not in tex
    tex = vd.latex(vd.derive(vd.models.load("gmm_1d")).updates[0].assignments[0])
    assert r"\tilde" not in tex
