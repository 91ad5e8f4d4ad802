"""engine.viz.plots: every plot writes a readable PNG; the figures carry the right labels, lines and patches."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from matplotlib.image import imread  # noqa: E402
from matplotlib.patches import Polygon, Rectangle  # noqa: E402

from engine.viz import plots  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _png(path, min_h=150, min_w=150):
    """The PNG exists, opens, and has a plausible size; returns its pixel array."""
    assert Path(path).is_file()
    pixels = imread(path)
    assert pixels.ndim == 3 and pixels.shape[2] in (3, 4)
    assert pixels.shape[0] >= min_h and pixels.shape[1] >= min_w
    assert pixels.shape[0] <= 4000 and pixels.shape[1] <= 4000
    assert pixels.std() > 0  # not a blank canvas
    return pixels


def _texts(ax):
    return [t.get_text() for t in ax.texts]


def test_importing_plots_does_not_import_matplotlib():
    code = "import sys, engine.viz.plots, engine.lecture.experiments; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_history_plot_separates_loss_and_accuracy(tmp_path):
    history = {"loss": [1.0, 0.6, 0.4], "val_loss": [1.1, 0.8, 0.7],
               "accuracy": [0.5, 0.7, 0.8], "val_accuracy": [0.4, 0.6, 0.7]}
    fig = plots._figure_history(history, title="The final validation loss: 0.7")
    loss_ax, acc_ax = fig.axes
    assert [line.get_label() for line in loss_ax.lines] == ["loss", "val_loss"]
    assert [line.get_label() for line in acc_ax.lines] == ["accuracy", "val_accuracy"]
    np.testing.assert_array_equal(loss_ax.lines[0].get_xdata(), [1, 2, 3])  # epochs count from 1
    np.testing.assert_array_equal(loss_ax.lines[1].get_ydata(), [1.1, 0.8, 0.7])
    assert loss_ax.get_xlabel() == "epoch" and loss_ax.get_ylabel() == "loss"
    assert acc_ax.get_ylabel() == "accuracy"
    assert loss_ax.get_legend() is not None
    assert fig._suptitle.get_text() == "The final validation loss: 0.7"
    path = plots.plot_history(history, tmp_path / "deep" / "history.png")
    assert isinstance(path, Path) and path.parent.name == "deep"
    _png(path)


def test_history_ylim_sets_the_metrics_axis_or_else_the_loss_axis():
    history = {"loss": [1.0, 0.6], "accuracy": [0.5, 0.7]}
    loss_ax, acc_ax = plots._figure_history(history, ylim=(0.5, 1)).axes
    assert acc_ax.get_ylim() == (0.5, 1.0) and loss_ax.get_ylim() != (0.5, 1.0)
    (ax,) = plots._figure_history({"loss": [1.0, 0.6]}, ylim=[0, 2]).axes
    assert ax.get_ylim() == (0.0, 2.0)
    for bad in ((1, 0.5), (0.5,), "ab", (0, float("nan"))):
        with pytest.raises(ValueError, match="ylim"):
            plots._figure_history(history, ylim=bad)


def test_history_with_loss_only_has_one_axis_and_accepts_a_history_object(tmp_path):
    class FakeHistory:
        history = {"loss": [3.0, 2.0], "val_loss": [3.5, 2.5]}

    fig = plots._figure_history(FakeHistory())
    assert len(fig.axes) == 1
    _png(plots.plot_history(FakeHistory.history, tmp_path / "h.png"))
    with pytest.raises(ValueError, match="empty"):
        plots.plot_history({}, tmp_path / "empty.png")


def test_series_prediction_has_the_lecture_styling_and_shaded_training_region(tmp_path):
    x = np.arange(2, 42, 2)
    y = -0.002 * x ** 1.5
    y_pred = y + np.where(x > 24, 0.05, 0.0)
    fig = plots._figure_series_prediction(x, y, y_pred, (x[0], x[11]), title="RNN extrapolation")
    (ax,) = fig.axes
    true_line, pred_line = ax.lines
    assert true_line.get_label() == "true" and pred_line.get_label() == "predicted"
    assert pred_line.get_linestyle() == "-." and pred_line.get_color() == "g"
    np.testing.assert_allclose(pred_line.get_ydata(), y_pred)
    spans = [p for p in ax.patches if isinstance(p, (Polygon, Rectangle))]
    assert len(spans) == 1
    span = spans[0]
    assert span.get_alpha() == pytest.approx(0.25)
    assert span.get_facecolor()[:3] == pytest.approx((1.0, 0.0, 0.0))
    xs = span.get_xy()[:, 0] if isinstance(span, Polygon) else [span.get_x(), span.get_x() + span.get_width()]
    assert min(xs) == pytest.approx(2) and max(xs) == pytest.approx(24)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["true", "predicted", "training region"]
    assert ax.get_title() == "RNN extrapolation" and ax.get_xlabel() == "x" and ax.get_ylabel() == "y"
    _png(plots.plot_series_prediction(x, y, y_pred, (x[0], x[11]), tmp_path / "series.png"))
    with pytest.raises(ValueError, match="same length"):
        plots.plot_series_prediction(x, y, y_pred[:-1], (2, 24), tmp_path / "bad.png")


def test_heatmap_is_annotated_with_scientific_ticks_and_nan_cells(tmp_path):
    etas = np.logspace(-5, 1, 7)
    lambdas = np.logspace(-5, 1, 7)
    acc = np.linspace(0.05, 0.99, 49).reshape(7, 7)
    acc[6, 6] = np.nan
    fig = plots._figure_heatmap(acc, etas, lambdas, "Training Accuracy", r"$\eta$", r"$\lambda$")
    ax = fig.axes[0]
    assert len(fig.axes) == 2  # the heatmap and its colorbar
    assert ax.get_title() == "Training Accuracy"
    assert ax.get_ylabel() == r"$\eta$" and ax.get_xlabel() == r"$\lambda$"
    texts = _texts(ax)
    assert len(texts) == 49
    assert texts[0] == "0.050" and texts[-1] == "nan"
    assert texts[1] == format(acc[0, 1], ".3f")  # row-major: rows eta, columns lambda
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert ticks == ["1e-05", "1e-04", "1e-03", "1e-02", "1e-01", "1e+00", "1e+01"]
    assert ax.images[0].get_cmap().name.startswith("viridis")
    _png(plots.plot_heatmap(acc, etas, lambdas, tmp_path / "heat.png", "Test Accuracy", r"$\eta$", r"$\lambda$",
                            fmt=".2f"), 300, 300)
    with pytest.raises(ValueError, match="row values"):
        plots.plot_heatmap(acc, etas[:3], lambdas, tmp_path / "bad.png", "t", "r", "c")


def test_heatmap_of_all_nan_and_integer_axes_does_not_fail(tmp_path):
    fig = plots._figure_heatmap(np.full((2, 3), np.nan), [1, 2], [10, 20, 30], "diverged", "a", "b")
    assert _texts(fig.axes[0]) == ["nan"] * 6
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["10", "20", "30"]
    _png(plots.plot_heatmap(np.full((2, 3), np.nan), [1, 2], [10, 20, 30], tmp_path / "nan.png", "d", "a", "b"))


def test_image_grid_handles_gray_rgb_and_any_range(tmp_path):
    rng = np.random.default_rng(0)
    gan = rng.uniform(-1, 1, (16, 28, 28, 1)).astype(np.float32)
    fig = plots._figure_image_grid(gan, title="epoch 30")
    assert len([ax for ax in fig.axes if ax.images]) == 16
    shown = fig.axes[0].images[0].get_array()
    assert float(shown.min()) == pytest.approx(0.0) and float(shown.max()) == pytest.approx(1.0)
    _png(plots.plot_image_grid(gan, tmp_path / "gan.png", title="epoch 30"))

    digits = rng.integers(0, 17, (5, 8, 8)).astype(float)
    fig = plots._figure_image_grid(digits, labels=[3, 1, 4, 1, 5], ncols=5, cmap="gray_r")
    assert [ax.get_title() for ax in fig.axes] == ["3", "1", "4", "1", "5"]
    _png(plots.plot_image_grid(digits, tmp_path / "digits.png", labels=[3, 1, 4, 1, 5], ncols=5), 100, 300)

    rgb8 = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    fig = plots._figure_image_grid(rgb8)
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), rgb8[0] / 255.0)
    rgb_unit = rng.uniform(0, 1, (2, 4, 4, 3))
    fig = plots._figure_image_grid(rgb_unit)
    np.testing.assert_allclose(fig.axes[1].images[0].get_array(), rgb_unit[1])
    _png(plots.plot_image_grid(rgb8, tmp_path / "rgb.png"), 100, 100)
    with pytest.raises(ValueError, match="labels"):
        plots.plot_image_grid(digits, tmp_path / "x.png", labels=[1, 2])
    with pytest.raises(ValueError, match="N, H, W"):
        plots.plot_image_grid(np.zeros((2, 4, 4, 2)), tmp_path / "x.png")


def test_filters_use_a_diverging_map_centred_at_zero(tmp_path):
    rng = np.random.default_rng(1)
    kernel = rng.normal(size=(3, 3, 2, 10))
    fig = plots._figure_filters(kernel, title="Conv2D kernel")
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(images) == 10
    vmin, vmax = images[0].get_clim()
    assert vmin == pytest.approx(-vmax) and vmax == pytest.approx(np.abs(kernel[:, :, 0, :]).max())
    np.testing.assert_allclose(images[3].get_array(), kernel[:, :, 0, 3])
    fig = plots._figure_filters(kernel, input_channel="mean")
    np.testing.assert_allclose([ax.images[0] for ax in fig.axes if ax.images][2].get_array(),
                               kernel[:, :, :, 2].mean(axis=2))
    _png(plots.plot_filters(kernel, tmp_path / "filters.png", title="Conv2D kernel"))
    _png(plots.plot_filters(np.eye(3), tmp_path / "one.png"))
    fig = plots._figure_filters(kernel[:, :, :, :2], labels=["edges", "blur"])
    assert [ax.get_title() for ax in fig.axes if ax.images] == ["edges", "blur"]
    with pytest.raises(ValueError, match="labels"):
        plots.plot_filters(kernel, tmp_path / "x.png", labels=["a"])


def test_feature_maps_one_tile_per_channel(tmp_path):
    maps = np.random.default_rng(2).normal(size=(8, 8, 6))
    fig = plots._figure_feature_maps(maps)
    tiles = [ax for ax in fig.axes if ax.images]
    assert len(tiles) == 6 and tiles[5].get_title() == "channel 5"
    np.testing.assert_allclose(tiles[5].images[0].get_array(), maps[:, :, 5])
    _png(plots.plot_feature_maps(maps[None], tmp_path / "maps.png", title="after Conv2D"))


def test_signal_plot(tmp_path):
    t = np.linspace(0, 1, 50)
    ys = {"signal": np.sign(np.sin(8 * t)), "smoothed": np.convolve(np.sign(np.sin(8 * t)), np.ones(5) / 5, "same")}
    fig = plots._figure_signal(t, ys, title="Square wave", xlabel="t", ylabel="amplitude")
    (ax,) = fig.axes
    assert [line.get_label() for line in ax.lines] == ["signal", "smoothed"]
    assert ax.get_xlabel() == "t" and ax.get_ylabel() == "amplitude" and ax.get_title() == "Square wave"
    _png(plots.plot_signal(t, ys, tmp_path / "signal.png"))
    _png(plots.plot_signal(None, {"a": [1, 2, 3]}, tmp_path / "nox.png"))
    with pytest.raises(ValueError, match="values but x has"):
        plots.plot_signal(t, {"a": [1, 2]}, tmp_path / "bad.png")


def test_plots_do_not_leave_pyplot_figures_open(tmp_path):
    import matplotlib.pyplot as plt
    before = plt.get_fignums()
    plots.plot_signal(None, {"a": [1, 2, 3]}, tmp_path / "a.png")
    plots.plot_heatmap(np.eye(2), [1, 2], [1, 2], tmp_path / "b.png", "t", "r", "c")
    assert plt.get_fignums() == before


def test_non_png_path_is_refused(tmp_path):
    with pytest.raises(ValueError, match="png"):
        plots.plot_signal(None, {"a": [1, 2]}, tmp_path / "a.jpg")
