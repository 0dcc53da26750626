"""Model definitions used by the book, written with the public API only.

Each module defines ``build() -> Model``.  ``available()`` lists them and ``load(name)``
builds one; the engine core never imports this package.
"""
import importlib
import pkgutil

__all__ = ["available", "load"]


def available():
    """Names of the model modules in this package (each has a ``build()``)."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def load(name):
    """Build the model defined in ``vi_derivations/models/<name>.py``."""
    if name not in available():
        raise ValueError(f"unknown model {name!r}; available: {', '.join(available())}")
    return importlib.import_module(f"{__name__}.{name}").build()
