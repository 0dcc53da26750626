"""vi_book.figures: the style is legible and panels come at most two a row."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from vi_book import legend_below, panels, setup_figures  # noqa: E402


def test_style_is_at_least_150_dpi_with_legible_labels():
    setup_figures()
    rc = matplotlib.rcParams
    assert rc["figure.dpi"] >= 150 and rc["savefig.dpi"] >= 150
    assert min(rc["xtick.labelsize"], rc["ytick.labelsize"], rc["legend.fontsize"]) >= 9
    assert rc["mathtext.fontset"] == "cm"


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_at_most_two_panels_a_row(n):
    fig, axes = panels(n)
    assert len(axes) == n == len(fig.axes)
    rows = {}
    for ax in axes:
        rows.setdefault(round(ax.get_position().y0, 3), []).append(ax)
    assert max(len(r) for r in rows.values()) <= 2
    plt.close(fig)


def test_legend_below_sits_outside_the_axes():
    fig, axes = panels(1)
    axes[0].plot([0, 1], [0, 1], label="a")
    leg = legend_below(axes[0])
    fig.canvas.draw()
    assert leg.get_window_extent().y1 <= axes[0].get_window_extent().y0
    plt.close(fig)


@pytest.mark.parametrize("call, name", [(lambda: panels(0), "n"), (lambda: panels(True), "n"),
                                        (lambda: legend_below(None, ncol=0), "ncol")])
def test_bad_input_names_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()
