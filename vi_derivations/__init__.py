"""vi_derivations: a SymPy engine that derives mean-field VI for conjugate-exponential models.

Pipeline (one module per idea): model definition (:mod:`.model`, :mod:`.distributions`)
-> expansion into plate-summed monomials (:mod:`.monomials`) -> expectations under q
(:mod:`.expectation`) -> expected log joint, entropy terms, ELBO (:mod:`.elbo`) -> CAVI
updates by recognising the optimal factor's family (:mod:`.updates`) -> step-by-step
derivations (:mod:`.derivation`) -> LaTeX/Markdown (:mod:`.render`) -> NumPy (:mod:`.numeric`)
-> a generated CAVI loop (:mod:`.cavi`) whose factors are updated at once or one element at a
time as :mod:`.schedule` decides; its map-reduce split (:mod:`.mapreduce`) gives natural-gradient
stochastic VI (:mod:`.svi`) and chunked fits.  Models the engine cannot derive soundly are refused with the
errors of :mod:`.errors`, naming the factor, the variable and the term.
"""
from .model import Plate, Variable, Model
from .distributions import (Normal, Categorical, Mixture, Gamma, Beta, Bernoulli, Poisson,
                            Dirichlet, MvNormal, NonConjugateError, UnsupportedExpectationError,
                            UnsupportedModelError)
from .count_families import Exponential, Binomial, Multinomial
from .elbo import log_joint, log_var, elbo, log_joint_expr
from .expectation import Expect, expect, moment_table
from .updates import Update, derive_update, derive_updates
from .hyper import HyperUpdate, derive_hyper_update
from .derivation import Derivation, Chain, Step, derive
from .render import latex, markdown, tidy
from .numeric import compile_expr, evaluate
from . import models
from .cavi import cavi, generate_cavi, CaviResult
from .schedule import Schedule, update_schedule
from .svi import SVI, generate_svi

to_numpy = compile_expr
update = derive_update

__all__ = [
    "Plate", "Variable", "Model", "Normal", "Categorical", "Mixture", "Gamma", "Beta",
    "Bernoulli", "Poisson", "Dirichlet", "MvNormal", "Exponential", "Binomial", "Multinomial",
    "NonConjugateError",
    "UnsupportedExpectationError", "UnsupportedModelError", "log_joint", "log_var", "elbo", "log_joint_expr", "Expect", "expect",
    "Update", "derive_update", "derive_updates", "update", "Derivation", "Chain", "Step",
    "derive", "latex", "markdown", "tidy", "compile_expr", "to_numpy", "evaluate", "models",
    "cavi", "generate_cavi", "CaviResult", "Schedule", "update_schedule", "moment_table", "HyperUpdate", "derive_hyper_update",
    "SVI", "generate_svi",
]
