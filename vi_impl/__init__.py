"""Hand-coded, vectorised NumPy implementations of the book's variational-inference models.

Each model module (for example :mod:`vi_impl.gmm`, the coursework's Gaussian mixture) offers
the expected log joint, the entropy terms, the ELBO, one function per CAVI update and a
``fit`` loop, with input validation from :mod:`vi_impl._validation`. The tests check every
module against the SymPy derivation engine and an independent numerical route.
"""
