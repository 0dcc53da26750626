"""Hand-written, vectorised NumPy twins of the engine's models: one module per model, each
with its expected log joint, entropy terms, ELBO, one function per CAVI update and a ``fit``."""
