"""One figure style for the whole book.

Figures are drawn at 150 dpi with labels of at least 9 pt in mathtext (Computer Modern, like the
equations), laid out with constrained layout; :func:`panels` gives at most two panels a row, so
a figure stays legible when a phone shrinks it to the column; :func:`legend_below` puts a legend
under the axes, where it hides no data.
"""
from __future__ import annotations

__all__ = ["STYLE", "setup_figures", "panels", "legend_below"]

STYLE = {
    "figure.dpi": 150,
    "savefig.dpi": 150,
    "figure.figsize": (6.0, 4.0),
    "figure.constrained_layout.use": True,
    "font.size": 11,
    "axes.titlesize": 11,
    "axes.labelsize": 11,
    "legend.fontsize": 9,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "mathtext.fontset": "cm",
    "axes.grid": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def setup_figures():
    """Apply :data:`STYLE` to matplotlib (call once, after ``%matplotlib inline``)."""
    import matplotlib as mpl
    mpl.rcParams.update(STYLE)


def panels(n: int, *, width: float = 6.0, height: float = 3.2, **kwargs):
    """``(fig, axes)`` with ``n`` panels, at most two a row; ``axes`` is a flat list of ``n``."""
    import matplotlib.pyplot as plt
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    cols = 1 if n == 1 else 2
    rows = (n + 1) // 2
    fig, axes = plt.subplots(rows, cols, figsize=(width, height * rows), squeeze=False, **kwargs)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.remove()
    return fig, flat[:n]


def legend_below(ax, ncol: int = 2, **kwargs):
    """A legend under the axes (outside the data area), ``ncol`` entries a row."""
    if not isinstance(ncol, int) or ncol < 1:
        raise ValueError(f"ncol must be a positive int, got {ncol!r}")
    return ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=ncol, frameon=False, **kwargs)
