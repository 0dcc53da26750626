"""vi_book.plotting: the figure helpers of the mixture chapters (book/gmm.ipynb, book/gmm_prior_mean.ipynb).

The chapter itself runs under nbval; these tests guard the geometry the figures rely on:
an n-sd ellipse must be the set {x : (x - mean)^T cov^{-1} (x - mean) = n^2}.
"""
import numpy as np
import pytest

from vi_book import plotting as vp


@pytest.mark.parametrize("cov", [np.array([0.3, 2.0]), np.array([[2.0, 0.9], [0.9, 1.0]])])
@pytest.mark.parametrize("n_sd", [1.0, 2.0, 3.5])
def test_ellipse_points_lie_on_the_n_sd_contour(cov, n_sd):
    mean = np.array([1.5, -2.0])
    pts = vp.ellipse_points(mean, cov, n_sd=n_sd, n_points=64)
    full = np.diag(cov) if cov.ndim == 1 else cov
    r = pts - mean
    q = np.einsum("ni,ij,nj->n", r, np.linalg.inv(full), r)
    np.testing.assert_allclose(q, n_sd**2, rtol=1e-12)
    # the contour is traced all the way round: its extent along each axis is n_sd * sd
    np.testing.assert_allclose(np.abs(r).max(axis=0), n_sd * np.sqrt(np.diag(full)), rtol=1e-2)


def test_magnify_scales_the_ellipse_about_its_centre():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    mean, var = np.array([3.0, 4.0]), np.array([0.01, 0.04])
    vp.draw_ellipse(mean, var, n_sd=2.0, magnify=10.0, ax=ax)
    xy = ax.lines[-1].get_xydata()
    np.testing.assert_allclose(np.abs(xy - mean).max(axis=0), 20.0 * np.sqrt(var), rtol=1e-2)
    plt.close(fig)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: vp.ellipse_points([0.0, 0.0], [1.0, -1.0]), "cov"),
        (lambda: vp.ellipse_points([0.0, 0.0, 0.0], [1.0, 1.0]), "mean"),
        (lambda: vp.ellipse_points([0.0, 0.0], [[1.0, 2.0], [2.0, 1.0]]), "cov"),
        (lambda: vp.ellipse_points([0.0, 0.0], [1.0, 1.0], n_sd=0.0), "n_sd"),
        (lambda: vp.scatter_data(np.zeros((3, 3))), "X"),
        (lambda: vp.scatter_data(np.zeros((3, 2)), labels=[0, 1]), "labels"),
        (lambda: vp.plot_posterior_means(np.zeros((2, 2)), np.ones((3, 2))), "s2"),
        (lambda: vp.plot_elbo_trace([1.0, np.nan]), "elbo"),
        (lambda: vp.plot_elbo_increments([1.0]), "elbo"),
        (lambda: vp.component_colors(0), "K"),
    ],
)
def test_bad_input_raises_value_error_naming_the_argument(call, name):
    import matplotlib

    matplotlib.use("Agg")
    with pytest.raises(ValueError, match=name):
        call()


def test_elbo_increments_never_hide_a_decrease():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    vp.plot_elbo_increments([-10.0, -5.0, -6.0, -4.0], ax=ax)
    # the decrease (iteration 3) is drawn as a marker, so a reader sees it
    offsets = ax.collections[-1].get_offsets()
    assert np.asarray(offsets)[:, 0].tolist() == [3.0]
    plt.close(fig)
