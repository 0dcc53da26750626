"""Figure helpers shared by the chapters: data scatter, Gaussian ellipses, ELBO traces.

Every function draws on a matplotlib ``Axes`` (the ``ax`` argument, or the current axes
when it is ``None``) and returns that ``Axes``, so calls compose.  Nothing here computes a
statistical result: these helpers only draw what the caller has computed.

Conventions
-----------
* ``X`` is an ``(N, 2)`` array of points (only two-dimensional data are drawn).
* A Gaussian is given by its mean ``(2,)`` and either its variances ``(2,)`` (a diagonal
  covariance, as in the mean-field family ``q(mu_kd) = N(m_kd, s2_kd)``) or a full
  ``(2, 2)`` covariance matrix.
* An *n-sd ellipse* of ``N(mean, cov)`` is the set ``{x : (x - mean)^T cov^{-1} (x - mean) = n^2}``;
  for a diagonal covariance its half-axes are ``n * sqrt(variance)`` along the coordinate axes.
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "component_colors",
    "ellipse_points",
    "scatter_data",
    "mark_means",
    "draw_ellipse",
    "plot_posterior_means",
    "zoom_panels",
    "plot_elbo_trace",
    "plot_elbo_increments",
]


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        ax = plt.gca()
    return ax


def _points_2d(X, name):
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"{name} must have shape (N, 2), got {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name} contains NaN or inf")
    return X


def _covariance_2d(cov, name):
    cov = np.asarray(cov, dtype=float)
    if cov.shape == (2,):
        if np.any(cov <= 0) or not np.all(np.isfinite(cov)):
            raise ValueError(f"{name} (variances) must be finite and positive, got {cov}")
        return np.diag(cov)
    if cov.shape == (2, 2):
        if not np.allclose(cov, cov.T) or np.any(np.linalg.eigvalsh(cov) <= 0):
            raise ValueError(f"{name} must be a symmetric positive-definite (2, 2) matrix")
        return cov
    raise ValueError(f"{name} must have shape (2,) (variances) or (2, 2), got {cov.shape}")


def component_colors(K, cmap="tab10"):
    """``K`` distinct colours (a list of RGBA tuples) from a qualitative colormap."""
    import matplotlib

    if int(K) != K or K < 1:
        raise ValueError(f"K must be a positive integer, got {K!r}")
    cm = matplotlib.colormaps[cmap]
    n = getattr(cm, "N", 256)
    if n <= 20:
        return [cm(k % n) for k in range(int(K))]
    return [cm(x) for x in np.linspace(0.0, 1.0, int(K))]


def ellipse_points(mean, cov, n_sd=2.0, n_points=200):
    """Points ``(n_points, 2)`` on the ``n_sd`` ellipse of ``N(mean, cov)``.

    With ``cov = V diag(w) V^T`` the ellipse is ``mean + n_sd * V diag(sqrt(w)) [cos t, sin t]^T``.
    """
    mean = np.asarray(mean, dtype=float)
    if mean.shape != (2,):
        raise ValueError(f"mean must have shape (2,), got {mean.shape}")
    if not n_sd > 0:
        raise ValueError(f"n_sd must be positive, got {n_sd}")
    w, V = np.linalg.eigh(_covariance_2d(cov, "cov"))
    t = np.linspace(0.0, 2.0 * np.pi, int(n_points))
    circle = np.stack([np.cos(t), np.sin(t)])  # (2, n)
    return mean + (n_sd * V @ (np.sqrt(w)[:, None] * circle)).T


def scatter_data(X, labels=None, *, ax=None, colors=None, s=10, alpha=0.6, label_prefix="component"):
    """Scatter plot of ``X`` (N, 2), coloured by integer ``labels`` (N,) in ``0..K-1`` if given."""
    ax = _axes(ax)
    X = _points_2d(X, "X")
    if labels is None:
        ax.scatter(X[:, 0], X[:, 1], s=s, alpha=alpha, color="0.4", linewidths=0)
    else:
        labels = np.asarray(labels)
        if labels.shape != (X.shape[0],):
            raise ValueError(f"labels must have shape ({X.shape[0]},), got {labels.shape}")
        K = int(labels.max()) + 1
        colors = component_colors(K) if colors is None else colors
        if len(colors) < K:
            raise ValueError(f"colors has {len(colors)} entries, labels need {K}")
        for k in range(K):
            sel = labels == k
            if np.any(sel):
                ax.scatter(X[sel, 0], X[sel, 1], s=s, alpha=alpha, color=colors[k], linewidths=0,
                           label=f"{label_prefix} {k + 1}" if label_prefix else None)
    ax.set_aspect("equal", adjustable="datalim")
    return ax


def mark_means(means, *, ax=None, colors=None, marker="X", size=140, label=None, edgecolor="black"):
    """Mark the points ``means`` (K, 2) with a large outlined marker, one colour per row."""
    ax = _axes(ax)
    means = _points_2d(means, "means")
    colors = component_colors(len(means)) if colors is None else colors
    for k, mk in enumerate(means):
        ax.scatter([mk[0]], [mk[1]], marker=marker, s=size, color=colors[k % len(colors)],
                   edgecolors=edgecolor, linewidths=1.2, zorder=5, label=label if k == 0 else None)
    return ax


def draw_ellipse(mean, cov, *, n_sd=2.0, magnify=1.0, ax=None, **line_kwargs):
    """Draw the ``n_sd`` ellipse of ``N(mean, cov)``, its radii multiplied by ``magnify``.

    ``magnify > 1`` draws a scaled-up copy about the same centre (for ellipses too small to
    see at the scale of the data); say so in the figure's legend or caption.
    """
    ax = _axes(ax)
    if not magnify > 0:
        raise ValueError(f"magnify must be positive, got {magnify}")
    pts = ellipse_points(mean, cov, n_sd=n_sd * magnify)
    ax.plot(pts[:, 0], pts[:, 1], **line_kwargs)
    return ax


def plot_posterior_means(m, s2, *, ax=None, colors=None, n_sd=2.0, magnify=1.0, marker="o",
                         size=60, linestyle="-", label=None):
    """Posterior means ``m`` (K, 2) of ``q(mu_k)`` with their ``n_sd`` ellipses from variances ``s2`` (K, 2).

    The ellipse of component k has half-axes ``magnify * n_sd * sqrt(s2[k, d])``.
    """
    ax = _axes(ax)
    m = _points_2d(m, "m")
    s2 = np.asarray(s2, dtype=float)
    if s2.shape != m.shape:
        raise ValueError(f"s2 must have the shape of m {m.shape}, got {s2.shape}")
    if np.any(~np.isfinite(s2)) or np.any(s2 <= 0):
        raise ValueError("s2 must be finite and positive")
    colors = component_colors(len(m)) if colors is None else colors
    for k in range(len(m)):
        c = colors[k % len(colors)]
        draw_ellipse(m[k], s2[k], n_sd=n_sd, magnify=magnify, ax=ax, color=c, lw=1.6,
                     linestyle=linestyle, label=label if k == 0 else None)
        ax.scatter([m[k, 0]], [m[k, 1]], marker=marker, s=size, color=c, edgecolors="black",
                   linewidths=1.0, zorder=6)
    return ax


def zoom_panels(m, s2, axes, *, true_means=None, colors=None, n_sd=2.0, half_width_sd=4.0):
    """One small panel per component, zoomed onto ``q(mu_k)``.

    Panel k is centred on ``m[k]`` with half-width ``half_width_sd`` posterior standard
    deviations (the larger of the two coordinates), shows the 1-sd and ``n_sd`` ellipses and,
    if given, the true mean ``true_means[k]`` as a cross.  ``axes`` is a sequence of K Axes.
    """
    m = _points_2d(m, "m")
    s2 = np.asarray(s2, dtype=float)
    if s2.shape != m.shape:
        raise ValueError(f"s2 must have the shape of m {m.shape}, got {s2.shape}")
    axes = list(np.ravel(axes))
    if len(axes) < len(m):
        raise ValueError(f"axes has {len(axes)} panels, need {len(m)}")
    if true_means is not None:
        true_means = _points_2d(true_means, "true_means")
        if true_means.shape != m.shape:
            raise ValueError(f"true_means must have shape {m.shape}, got {true_means.shape}")
    colors = component_colors(len(m)) if colors is None else colors
    for k, ax in enumerate(axes[: len(m)]):
        c = colors[k % len(colors)]
        for n, ls in ((1.0, ":"), (n_sd, "-")):
            draw_ellipse(m[k], s2[k], n_sd=n, ax=ax, color=c, lw=1.5, linestyle=ls)
        ax.scatter([m[k, 0]], [m[k, 1]], s=30, color=c, edgecolors="black", zorder=6)
        if true_means is not None:
            ax.scatter([true_means[k, 0]], [true_means[k, 1]], marker="+", s=90, color="black", zorder=7)
        h = half_width_sd * np.sqrt(s2[k].max())
        ax.set_xlim(m[k, 0] - h, m[k, 0] + h)
        ax.set_ylim(m[k, 1] - h, m[k, 1] + h)
        ax.set_aspect("equal")
        ax.tick_params(labelsize=7)
        ax.set_title(rf"$q(\mu_{{{k + 1}}})$", fontsize=9)
    return axes


def plot_elbo_trace(elbo, *, ax=None, label=None, **line_kwargs):
    """ELBO per iteration (iterations numbered from 1) as a line with markers."""
    ax = _axes(ax)
    elbo = np.asarray(elbo, dtype=float).ravel()
    if elbo.size == 0 or not np.all(np.isfinite(elbo)):
        raise ValueError("elbo must be a non-empty sequence of finite numbers")
    it = np.arange(1, elbo.size + 1)
    line_kwargs.setdefault("marker", "o")
    line_kwargs.setdefault("markersize", 3)
    ax.plot(it, elbo, label=label, **line_kwargs)
    ax.set_xlabel("iteration")
    ax.set_ylabel("ELBO")
    return ax


def plot_elbo_increments(elbo, *, ax=None, label=None, **line_kwargs):
    """Increase of the ELBO from one iteration to the next, on a log scale.

    Plots ``elbo[t] - elbo[t-1]`` for ``t = 1..T-1``.  Only positive increments can be drawn
    on a log axis; a non-positive one is drawn as a red cross at the bottom of the panel so
    that a decrease is never hidden.
    """
    ax = _axes(ax)
    elbo = np.asarray(elbo, dtype=float).ravel()
    if elbo.size < 2 or not np.all(np.isfinite(elbo)):
        raise ValueError("elbo must hold at least two finite numbers")
    inc = np.diff(elbo)
    it = np.arange(2, elbo.size + 1)
    pos = inc > 0
    line_kwargs.setdefault("marker", "o")
    line_kwargs.setdefault("markersize", 3)
    ax.semilogy(it[pos], inc[pos], label=label, **line_kwargs)
    if np.any(~pos):
        floor = inc[pos].min() if np.any(pos) else 1e-16
        ax.scatter(it[~pos], np.full((~pos).sum(), floor), marker="x", color="red", zorder=6,
                   label="no increase")
    ax.set_xlabel("iteration")
    ax.set_ylabel("ELBO increase")
    return ax
