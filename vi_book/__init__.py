"""The book's helpers: one importable module instead of code copied into every chapter.

* :mod:`vi_book.display` -- lays the engine's LaTeX out on the page: a display broken at its
  natural terms, a derivation chain with every step checked, a table of equations, the source of
  an implementation;
* :mod:`vi_book.verify` -- the bookkeeping of a chapter's checks and the collapsed
  "What was verified here" box, with the check marks explained in words;
* :mod:`vi_book.figures` -- the figure style (resolution, font sizes, mathtext) shared by every page;
* :mod:`vi_book.plotting` -- drawing helpers (data scatter, Gaussian ellipses, ELBO traces);
* :mod:`vi_book.mixture_example` -- the data set and the independent checks (Monte Carlo draws
  from q, exact evidence by enumeration) shared by the pages of the Gaussian-mixture example;
* :mod:`vi_book.poisson_groups_example` -- the model and data shared by the three pages that
  derive a reader's own model (grouped Poisson counts).

Nothing here derives a result: these functions format, record, draw, and compute the
independent routes that the pages check the engine and ``vi_impl`` against.
"""
from .display import break_latex, chain_mark, show, show_chain, show_equations, show_source, show_update, visual_width
from . import mixture_example
from .figures import legend_below, panels, setup_figures
from .verify import Checks, verified_box

__all__ = ["Checks", "break_latex", "chain_mark", "legend_below", "mixture_example", "panels", "setup_figures", "show", "show_chain", "show_equations",
           "show_source", "show_update", "verified_box", "visual_width"]
