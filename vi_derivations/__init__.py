"""vi_derivations: a SymPy engine that derives mean-field VI (expected log joint, entropy
terms, ELBO, CAVI updates) for conjugate-exponential models from their definition."""
from .model import Plate, Variable, Model
from .distributions import (Normal, Categorical, Mixture, Gamma, Beta, Bernoulli, Poisson,
                            Dirichlet, MvNormal, NonConjugateError, UnsupportedExpectationError)
from .elbo import log_joint, log_var, elbo, log_joint_expr
