"""The lecture's figures, drawn with matplotlib and written to PNG (or SVG, PDF) files.

Every public function builds a figure, renders it to bytes in the format the path's suffix names (.png,
.svg or .pdf), writes them with ``engine.files.write_file`` (atomic: an interrupted write leaves the old
file whole; parent folders are created), closes it and returns the ``pathlib.Path``.  A figure has at most
``engine.resources.MAX_PLOT_IMAGES`` tiles.  The figures mirror the lecture's plots:

=========================  ===========================================================================
function                   lecture figure
=========================  ===========================================================================
``plot_history``           "loss" / "val_loss" per epoch (RNN cells), accuracy per epoch (CIFAR cell)
``plot_series_prediction``  ``test_rnn``: true line, predicted dash-dot, training region shaded red
``plot_heatmap``           the digits grid search: "Training Accuracy" / "Test Accuracy" heatmaps
``plot_image_grid``        the digits samples, the GAN's 4x4 image grids and latent-space grids
``plot_filters``           a Conv2D kernel, one tile per output filter
``plot_feature_maps``      the output of a convolution layer, one tile per channel
``plot_signal``            simple line plots (the square wave, the convolution demos)
=========================  ===========================================================================

matplotlib is imported lazily, inside the functions, so ``import engine.viz.plots`` costs nothing.
The figures are built as ``matplotlib.figure.Figure`` objects attached to an Agg canvas rather than through
``pyplot``: the Agg (file-only) backend is used for these figures whatever backend the user has
selected, nothing is added to pyplot's list of open figures, and no window ever opens.

Each public function has a private ``_figure_*`` twin that returns the unsaved Figure; the tests inspect
those (labels, titles, lines, the shaded patch) instead of pixels.
"""
from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from engine import files, resources

__all__ = ["plot_history", "plot_series_prediction", "plot_heatmap", "plot_image_grid", "plot_filters",
           "plot_feature_maps", "plot_signal"]

_TITLE_SIZE = 14
_LABEL_SIZE = 12
_TICK_SIZE = 10
_DPI = 100


# --- helpers ------------------------------------------------------------------------------------------

def _new_figure(figsize):
    """A Figure on an Agg canvas (no pyplot, no GUI, no global backend switch)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=_DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path) -> Path:
    """Render `fig` in the format of the path's suffix, write it atomically (creating folders), release it."""
    path = Path(path)
    try:
        files.check_target(path, "plot")
        rendered = io.BytesIO()
        fig.savefig(rendered, format=path.suffix.lower()[1:], dpi=_DPI)
    finally:
        _close(fig)
    return files.write_file(path, rendered.getvalue(), "plot", create_folders=True)


def _close(fig) -> None:
    """Release a figure; also removes it from pyplot's registry if it somehow got there."""
    import sys
    fig.clear()
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close(fig)


def _array(x, what) -> np.ndarray:
    """A NumPy array from an array, list, or engine Tensor/Variable (anything with .numpy())."""
    if hasattr(x, "numpy") and callable(x.numpy):
        x = x.numpy()
    try:
        return np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must be array-like, got {type(x).__name__}") from exc


def _grid_shape(n: int, ncols=None) -> tuple[int, int]:
    if n < 1:
        raise ValueError("nothing to plot: got 0 images")
    resources.require_at_most(n, resources.MAX_PLOT_IMAGES, "the number of tiles in this plot",
                              "plot fewer images, filters or channels")
    if ncols is None:
        ncols = math.ceil(math.sqrt(n))
    ncols = int(ncols)
    if ncols < 1:
        raise ValueError(f"ncols must be a positive integer, got {ncols}")
    ncols = min(ncols, n)
    return math.ceil(n / ncols), ncols


def _tile_axes(fig, nrows, ncols, n):
    """nrows x ncols axes with ticks hidden; the unused ones are switched off. Returns the first n."""
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[n:]:
        ax.set_axis_off()
    return list(axes[:n])


def _tile_labels(labels, n, word) -> list[str]:
    if labels is None:
        return [f"{word} {k}" for k in range(n)]
    labels = [str(label) for label in labels]
    if len(labels) != n:
        raise ValueError(f"got {n} tiles but {len(labels)} labels")
    return labels


def _compact(value) -> str:
    """Compact tick text: integers as integers, anything else in short scientific form (1e-05, 2.5e-03)."""
    v = float(value)
    if not math.isfinite(v):
        return str(v)
    if v == 0:
        return "0"
    mantissa, exponent = f"{v:.2e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{exponent}"


def _tick_labels(values) -> list[str]:
    values = list(np.ravel(_array(values, "tick values")))
    if all(isinstance(v, str) for v in values):
        return values
    numeric = np.asarray(values, dtype=float)
    if np.all(np.isfinite(numeric)) and np.all(numeric == np.round(numeric)) and np.all(np.abs(numeric) < 1e4):
        return [str(int(v)) for v in numeric]
    return [_compact(v) for v in numeric]


def _display_image(image: np.ndarray) -> tuple[np.ndarray, bool]:
    """One image ready for imshow and whether it is RGB.

    Grayscale ((H,W) or (H,W,1)): rescaled to [0, 1] per image (a constant image shows as mid-gray).
    RGB (H,W,3): uint8 is divided by 255; floats already in [0, 1] are used as they are (clipped);
    any other range is rescaled per image to [0, 1].
    """
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        img = image.astype(np.float64)
        finite = img[np.isfinite(img)]
        if finite.size == 0:
            return np.zeros_like(img), False
        lo, hi = finite.min(), finite.max()
        img = np.where(np.isfinite(img), img, lo)
        return ((img - lo) / (hi - lo) if hi > lo else np.full_like(img, 0.5)), False
    if image.ndim == 3 and image.shape[-1] == 3:
        if image.dtype == np.uint8:
            return image.astype(np.float64) / 255.0, True
        img = np.nan_to_num(image.astype(np.float64))
        lo, hi = img.min(), img.max()
        if lo >= 0.0 and hi <= 1.0:
            return np.clip(img, 0.0, 1.0), True
        return ((img - lo) / (hi - lo) if hi > lo else np.full_like(img, 0.5)), True
    raise ValueError(f"an image must be (H, W), (H, W, 1) or (H, W, 3); got shape {image.shape}")


# --- training history ---------------------------------------------------------------------------------

def _history_dict(history) -> dict:
    hist = getattr(history, "history", history)  # accept a History object as well as History.history
    if not isinstance(hist, dict):
        raise TypeError(f"history must be a dict of lists (History.history), got {type(history).__name__}")
    hist = {str(k): np.asarray(v, dtype=float).ravel() for k, v in hist.items()}
    hist = {k: v for k, v in hist.items() if v.size}
    if not hist:
        raise ValueError("history is empty: nothing to plot (was fit run for at least one epoch?)")
    return hist


def _figure_history(history, title=None, ylim=None):
    hist = _history_dict(history)
    loss_keys = [k for k in hist if k.endswith("loss")]
    metric_keys = [k for k in hist if k not in loss_keys]
    groups = [g for g in (loss_keys, metric_keys) if g]
    if ylim is not None:
        ylim = _y_range(ylim)
    fig = _new_figure((7.0 * len(groups), 4.8))
    axes = np.atleast_1d(fig.subplots(1, len(groups), squeeze=False)).ravel()
    for ax, keys in zip(axes, groups):
        for key in keys:
            values = hist[key]
            epochs = np.arange(1, len(values) + 1)
            style = "--" if key.startswith("val_") else "-"
            ax.plot(epochs, values, style, label=key, linewidth=2, marker="o" if len(values) <= 30 else None,
                    markersize=4)
        is_loss = keys is loss_keys
        is_accuracy = not is_loss and all("acc" in k for k in keys)
        name = "loss" if is_loss else ("accuracy" if is_accuracy else "metric")
        ax.set_xlabel("epoch", fontsize=_LABEL_SIZE)
        ax.set_ylabel(name, fontsize=_LABEL_SIZE)
        ax.set_title(name.capitalize(), fontsize=_TITLE_SIZE)
        ax.tick_params(labelsize=_TICK_SIZE)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=_TICK_SIZE)
        if max(len(hist[k]) for k in keys) <= 15:
            ax.set_xticks(np.arange(1, max(len(hist[k]) for k in keys) + 1))
    if ylim is not None:
        axes[len(groups) - 1].set_ylim(*ylim)          # the metrics (or, without metrics, the loss)
    if title:
        fig.suptitle(title, fontsize=_TITLE_SIZE + 1)
    fig.tight_layout()
    return fig


def _y_range(ylim) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in ylim)
    except (TypeError, ValueError):
        raise ValueError(f"ylim must be a pair (low, high), got {ylim!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"ylim must be two finite numbers, low < high; got ({lo:g}, {hi:g})")
    return lo, hi


def plot_history(history, path, title=None, ylim=None) -> Path:
    """Loss curves per epoch (x = epoch, counted from 1); accuracy-like metrics on a second subplot.

    `history` is `History.history` (a dict of lists) or the History object itself. Keys ending in "loss"
    ("loss", "val_loss") share the first axis; every other key (e.g. "accuracy", "val_accuracy") goes on
    the second. Validation curves are dashed. `ylim=(low, high)` fixes the y range of the metrics subplot
    (of the loss subplot when there are no metrics), as the lecture's `plt.ylim([0.5, 1])`.
    """
    return _save(_figure_history(history, title, ylim), path)


# --- series extrapolation (test_rnn) ------------------------------------------------------------------

def _figure_series_prediction(x, y_true, y_pred, train_region, title=None, labels=("true", "predicted"),
                              xlabel="x", ylabel="y"):
    x = _array(x, "x").astype(float).ravel()
    y_true = _array(y_true, "y_true").astype(float).ravel()
    y_pred = _array(y_pred, "y_pred").astype(float).ravel()
    if not (len(x) == len(y_true) == len(y_pred)):
        raise ValueError(f"x, y_true and y_pred must have the same length; got {len(x)}, {len(y_true)}, "
                         f"{len(y_pred)}")
    try:
        lo, hi = (float(v) for v in train_region)
    except (TypeError, ValueError):
        raise ValueError(f"train_region must be a pair (x_min, x_max), got {train_region!r}") from None
    fig = _new_figure((8.0, 5.0))
    ax = fig.subplots()
    ax.plot(x, y_true, label=labels[0], linewidth=3)             # the lecture: linewidth=3
    ax.plot(x, y_pred, "g-.", label=labels[1], linewidth=4)      # the lecture: 'g-.', linewidth=4
    ax.axvspan(lo, hi, alpha=0.25, color="red", label="training region")
    ax.set_xlabel(xlabel, fontsize=_LABEL_SIZE)
    ax.set_ylabel(ylabel, fontsize=_LABEL_SIZE)
    ax.set_title(title or "True and predicted series", fontsize=_TITLE_SIZE)
    ax.tick_params(labelsize=_TICK_SIZE)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=_TICK_SIZE)
    fig.tight_layout()
    return fig


def plot_series_prediction(x, y_true, y_pred, train_region, path, title=None, labels=("true", "predicted"),
                           xlabel="x", ylabel="y") -> Path:
    """The lecture's `test_rnn` plot: the true series (solid), the prediction (green dash-dot) and the
    training region `train_region` = (x_min, x_max) shaded red (axvspan, alpha 0.25), all in the legend."""
    return _save(_figure_series_prediction(x, y_true, y_pred, train_region, title, labels, xlabel, ylabel),
                 path)


# --- heatmap (grid search) ----------------------------------------------------------------------------

def _figure_heatmap(matrix, row_values, col_values, title, row_label, col_label, fmt=".3f"):
    import matplotlib

    data = _array(matrix, "matrix").astype(float)
    if data.ndim != 2:
        raise ValueError(f"heatmap matrix must be 2-D (rows x columns), got shape {data.shape}")
    rows, cols = data.shape
    row_text, col_text = _tick_labels(row_values), _tick_labels(col_values)
    if len(row_text) != rows or len(col_text) != cols:
        raise ValueError(f"matrix has shape {data.shape} but {len(row_text)} row values and "
                         f"{len(col_text)} column values were given")
    fig = _new_figure((max(5.0, 1.1 * cols + 2.5), max(4.0, 0.9 * rows + 1.8)))
    ax = fig.subplots()
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="lightgray")
    finite = data[np.isfinite(data)]
    vmin, vmax = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    if vmin == vmax:
        vmin, vmax = vmin - 0.5, vmax + 0.5
    image = ax.imshow(np.ma.masked_invalid(data), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    cbar = fig.colorbar(image, ax=ax)
    cbar.ax.tick_params(labelsize=_TICK_SIZE)
    cell_size = max(7, min(13, int(84 / max(rows, cols))))
    for i in range(rows):
        for j in range(cols):
            value = data[i, j]
            if np.isfinite(value):
                text = format(value, fmt)
                dark = (value - vmin) / (vmax - vmin) < 0.5  # viridis is dark at the low end
                color = "white" if dark else "black"
            else:
                text, color = "nan", "black"
            ax.text(j, i, text, ha="center", va="center", color=color, fontsize=cell_size)
    ax.set_xticks(np.arange(cols), col_text, fontsize=_TICK_SIZE)
    ax.set_yticks(np.arange(rows), row_text, fontsize=_TICK_SIZE)
    ax.set_xlabel(col_label, fontsize=_LABEL_SIZE + 2)
    ax.set_ylabel(row_label, fontsize=_LABEL_SIZE + 2)
    ax.set_title(title, fontsize=_TITLE_SIZE)
    fig.tight_layout()
    return fig


def plot_heatmap(matrix, row_values, col_values, path, title, row_label, col_label, fmt=".3f") -> Path:
    """An annotated heatmap (the lecture's grid search): each cell shows its value with `fmt`, viridis
    colours, a colorbar; rows are labelled with `row_values` and columns with `col_values` in compact
    scientific form (1e-05, ...). NaN cells are drawn gray and read "nan".

    The lecture's call: ``plot_heatmap(train_accuracy, etas, lambdas, path, "Training Accuracy",
    r"$\\eta$", r"$\\lambda$")``.
    """
    return _save(_figure_heatmap(matrix, row_values, col_values, title, row_label, col_label, fmt), path)


# --- image grids --------------------------------------------------------------------------------------

def _figure_image_grid(images, labels=None, title=None, ncols=None, cmap="gray"):
    images = _array(images, "images")
    if images.ndim == 2:
        images = images[None]
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] not in (1, 3)):
        raise ValueError(f"images must be (N, H, W), (N, H, W, 1) or (N, H, W, 3); got shape {images.shape}")
    n = len(images)
    if labels is not None and len(labels) != n:
        raise ValueError(f"got {n} images but {len(labels)} labels")
    nrows, ncols = _grid_shape(n, ncols)
    tile = 1.6 if n > 1 else 4.0
    height = tile * nrows + (0.6 if title else 0.2) + (0.3 * nrows if labels is not None else 0.0)
    fig = _new_figure((tile * ncols + 0.4, height))
    axes = _tile_axes(fig, nrows, ncols, n)
    for k, ax in enumerate(axes):
        img, rgb = _display_image(images[k])
        if rgb:
            ax.imshow(img, interpolation="nearest")
        else:
            ax.imshow(img, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
        if labels is not None:
            ax.set_title(str(labels[k]), fontsize=_TICK_SIZE)
    if title:
        fig.suptitle(title, fontsize=_TITLE_SIZE)
    fig.tight_layout()
    return fig


def plot_image_grid(images, path, labels=None, title=None, ncols=None, cmap="gray") -> Path:
    """A grid of images, e.g. digits samples or the GAN's generated images.

    `images` is (N, H, W), (N, H, W, 1) or (N, H, W, 3) in any value range: grayscale images are rescaled
    per image for display (so [-1, 1] GAN output and 0-16 digits both show fully); RGB uint8 is divided
    by 255, RGB floats in [0, 1] are shown as they are, other RGB ranges are rescaled per image.
    `labels` (one per image) become tile titles; `ncols` defaults to ceil(sqrt(N)).
    """
    return _save(_figure_image_grid(images, labels, title, ncols, cmap), path)


# --- convolution kernels and feature maps -------------------------------------------------------------

def _figure_filters(kernel, title=None, input_channel=0, labels=None):
    k = _array(kernel, "kernel").astype(float)
    if k.ndim == 2:
        k = k[:, :, None, None]
    if k.ndim != 4:
        raise ValueError(f"a Conv2D kernel is (kh, kw, in_channels, filters); got shape {k.shape}")
    if isinstance(input_channel, str):
        if input_channel != "mean":
            raise ValueError(f"input_channel must be an index or 'mean', got {input_channel!r}")
        tiles, how = k.mean(axis=2), "mean over input channels"
    else:
        c = int(input_channel)
        if not -k.shape[2] <= c < k.shape[2]:
            raise ValueError(f"input_channel {c} is out of range for a kernel with {k.shape[2]} input channels")
        tiles, how = k[:, :, c, :], f"input channel {c % k.shape[2]}"
    n = tiles.shape[-1]
    labels = _tile_labels(labels, n, "filter")
    nrows, ncols = _grid_shape(n)
    limit = float(np.nanmax(np.abs(tiles))) if np.isfinite(tiles).any() else 1.0
    limit = limit or 1.0
    tile = 1.5 if n > 1 else 3.5
    fig = _new_figure((tile * ncols + 1.2, tile * nrows + 0.9))
    axes = _tile_axes(fig, nrows, ncols, n)
    image = None
    for f, ax in enumerate(axes):
        image = ax.imshow(tiles[:, :, f], cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
        ax.set_title(labels[f], fontsize=_TICK_SIZE)
    fig.suptitle(f"{title}  ({how})" if title else f"Conv2D filters ({how})", fontsize=_TITLE_SIZE)
    fig.tight_layout()
    fig.colorbar(image, ax=fig.axes[:nrows * ncols], shrink=0.8, label="weight")
    return fig


def plot_filters(kernel, path, title=None, input_channel=0, labels=None) -> Path:
    """One tile per output filter of a Conv2D kernel (kh, kw, in_channels, filters), on a diverging
    colormap centred at 0 and shared by all tiles (red positive, blue negative).

    `input_channel`: which input channel to show (default 0; the only one for grayscale inputs), or
    "mean" to average over the input channels. A 2-D (kh, kw) kernel is shown as a single filter.
    `labels` (one per filter) replace the tile titles "filter 0", "filter 1", ...
    """
    return _save(_figure_filters(kernel, title, input_channel, labels), path)


def _figure_feature_maps(maps, title=None, cmap="viridis", labels=None):
    m = _array(maps, "maps").astype(float)
    if m.ndim == 4 and m.shape[0] == 1:
        m = m[0]
    if m.ndim == 2:
        m = m[:, :, None]
    if m.ndim != 3:
        raise ValueError(f"feature maps must be (H, W, C) (or one sample (1, H, W, C)); got shape {m.shape}")
    n = m.shape[-1]
    labels = _tile_labels(labels, n, "channel")
    nrows, ncols = _grid_shape(n)
    tile = 1.7 if n > 1 else 3.5
    fig = _new_figure((tile * ncols + 0.4, tile * nrows + 0.9))
    axes = _tile_axes(fig, nrows, ncols, n)
    for c, ax in enumerate(axes):
        ax.imshow(m[:, :, c], cmap=cmap, interpolation="nearest")
        ax.set_title(labels[c], fontsize=_TICK_SIZE)
    fig.suptitle(title or "Feature maps", fontsize=_TITLE_SIZE)
    fig.tight_layout()
    return fig


def plot_feature_maps(maps, path, title=None, cmap="viridis", labels=None) -> Path:
    """One tile per channel of a feature map (H, W, C) (a (1, H, W, C) batch of one is accepted);
    each tile is coloured on its own scale. `labels` (one per channel) replace "channel 0", ..."""
    return _save(_figure_feature_maps(maps, title, cmap, labels), path)


# --- simple line plots --------------------------------------------------------------------------------

def _figure_signal(x, ys, title=None, xlabel="x", ylabel="y"):
    if not isinstance(ys, dict) or not ys:
        raise ValueError("ys must be a non-empty dict {label: values}")
    fig = _new_figure((8.0, 4.5))
    ax = fig.subplots()
    xs = None if x is None else _array(x, "x").astype(float).ravel()
    for label, values in ys.items():
        y = _array(values, f"ys[{label!r}]").astype(float).ravel()
        xv = np.arange(len(y)) if xs is None else xs
        if len(xv) != len(y):
            raise ValueError(f"ys[{label!r}] has {len(y)} values but x has {len(xv)}")
        ax.plot(xv, y, label=str(label), linewidth=2, marker="o" if len(y) <= 25 else None, markersize=4)
    ax.set_xlabel(xlabel, fontsize=_LABEL_SIZE)
    ax.set_ylabel(ylabel, fontsize=_LABEL_SIZE)
    if title:
        ax.set_title(title, fontsize=_TITLE_SIZE)
    ax.tick_params(labelsize=_TICK_SIZE)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=_TICK_SIZE)
    fig.tight_layout()
    return fig


def plot_signal(x, ys, path, title=None, xlabel="x", ylabel="y") -> Path:
    """Line plots of several signals over the same x (`x=None` means 0, 1, 2, ...): `ys` maps legend
    labels to arrays, e.g. {"signal": s, "kernel": k, "convolution": np.convolve(s, k, "same")}."""
    return _save(_figure_signal(x, ys, title, xlabel, ylabel), path)
