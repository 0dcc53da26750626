"""The engine's refusals: every model it cannot derive soundly is refused with one of these,
naming the factor, the variable and the offending term (all are ValueErrors)."""

__all__ = ["NonConjugateError", "UnsupportedExpectationError", "UnsupportedModelError"]


class NonConjugateError(ValueError):
    """The optimal factor q*(z) is not in the declared (or any supported) family."""


class UnsupportedExpectationError(NonConjugateError):
    """An expectation under q that is not in the family's moment table (a kind of
    non-conjugacy: the term is not a statistic the mean-field family can average)."""


class UnsupportedModelError(ValueError):
    """A model the engine cannot derive soundly (refused by name: factor, variable, term)."""
