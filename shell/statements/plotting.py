"""`plot FORM ...`: history, predictions, grid, images, filters, featuremaps, samples (PNG, SVG or PDF files,
written through shell.writing)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.viz import textplot
from shell import writing
from shell.errors import did_you_mean
from shell.language.parser import Node
from shell.output import format_shape
from shell.registry import lookup
from shell.state import ModelEntry
from shell.statements.common import engine_errors, label_text

if TYPE_CHECKING:
    from shell.interpreter import Session


def st_plot(session: Session, node: Node) -> None:
    start = time.perf_counter()
    owner = node.value("model") if lookup.find_option(node.form, "model") is not None else None
    default = f"{owner or session.current or 'nnlab'}_{node.sub}.png"
    path = writing.path_of(session, node, "to", default=default)
    globals()["plot_" + node.sub](session, node, path)      # plot_history for `plot history` (the registry's forms)
    session.done(f"plot {node.sub}", time.perf_counter() - start)


def plot_history(session: Session, node: Node, path: Path) -> None:
    from engine.viz import plots
    entry = session.entry(node)
    if not entry.history:
        raise node.error(f"model '{entry.name}' has not been trained yet", "train epochs=... first")
    title = node.value("title") or f"{entry.name}: training history"
    if _text_chart(session, node, lambda width, unicode: textplot.history_charts(
            entry.history, width=width, unicode=unicode, title=title, ylim=node.value("ylim"))):
        return
    write_plot(session, node, path, lambda p: plots.plot_history(entry.history, p, ylim=node.value("ylim"),
                                                                 title=title))


def write_plot(session: Session, node: Node, path: Path, draw, option: str = "to") -> None:
    """Claim `path` (shell.writing: suffix, folder, overwrite), draw(path) the figure into it, say so."""
    writing.claim(session, node, option, path)
    with engine_errors(node, at=option):
        result = draw(path)
    writing.wrote(session, result)
    session.out.wrote(result)


def _text_chart(session: Session, node: Node, draw) -> bool:
    """With term=true: print draw(width, unicode) (Braille on a terminal, ASCII otherwise); True when that is
    all the statement does (no to= given, so no PNG)."""
    if not node.get("term"):
        return False
    session.out.raw(draw(session.out.console.width, session.out.terminal))
    return not node.has("to")


def plot_predictions(session: Session, node: Node, path: Path, entry: ModelEntry | None = None) -> None:
    """The series and the prediction: the last `extrapolate` of the model, else its predictions on the data."""
    from engine.viz import plots
    entry = entry or session.entry(node)
    ex = session.last_extrapolation
    if ex is not None and ex["model"] == entry.name:
        x, y_true, y_pred = ex["x"], ex["y_true"], ex["y_pred"]
        region = (float(x[0]), float(x[ex["known"] - 1]))
    else:
        data = session.need_data(node)
        with engine_errors(node):
            parts = [np.asarray(entry.model.predict(data.x_train))]
            if data.has_test():
                parts.append(np.asarray(entry.model.predict(data.x_test)))
        if any(p.ndim > 1 and p.shape[-1] != 1 for p in parts):
            raise node.error("plot predictions draws one value per sample (a series); this model predicts "
                             "several outputs", "use `predict` for a table of classes")
        y_pred = np.concatenate([p.reshape(-1) for p in parts])
        y_true = np.concatenate([np.asarray(data.y_train).reshape(-1)] +
                                ([np.asarray(data.y_test).reshape(-1)] if data.has_test() else []))
        x = np.arange(len(y_true), dtype=np.float64)
        region = (0.0, float(len(data.y_train) - 1))
    title = node.value("title") or f"{entry.name}: true and predicted"
    if _text_chart(session, node, lambda width, unicode: textplot.line_chart(
            {"true": y_true, "predicted": y_pred}, x=x, width=width, unicode=unicode, title=title,
            xlabel=f"x (training: {textplot.format_tick(region[0])} to {textplot.format_tick(region[1])})")):
        return
    write_plot(session, node, path, lambda p: plots.plot_series_prediction(x, y_true, y_pred, region, p, title=title))


def plot_grid(session: Session, node: Node, path: Path) -> None:
    """The two heatmaps of the last `grid`: PATH_train.png and PATH_test.png."""
    from engine.viz import plots
    grid = session.last_grid
    if grid is None:
        raise node.error("there is no grid result yet", "run `grid lr=... l2=... epochs=...` first")
    for (key, title), target in zip((("train_accuracy", "Training Accuracy"), ("test_accuracy", "Test Accuracy")),
                                    writing.derived_paths(node, path)):
        write_plot(session, node, target, lambda p: plots.plot_heatmap(
            np.asarray(grid[key]), list(grid["etas"]), list(grid["lambdas"]), p, title, "$\\eta$", "$\\lambda$"))


def plot_images(session: Session, node: Node, path: Path) -> None:
    from engine.viz import plots
    data = session.need_data(node)
    which = node.get("on")
    if which == "test" and not data.has_test():
        raise node.error(f"the {data.name} data has no test part", at="on")
    x, y = data.split(which)
    if x.ndim != 4:
        raise node.error(f"the {data.name} data are not images (shape {format_shape((None, *x.shape[1:]))})")
    count = min(node.get("count"), len(x))
    labels = [label_text(label) for label in y[:count]] if y is not None else None
    write_plot(session, node, path, lambda p: plots.plot_image_grid(x[:count], p, labels=labels,
                                                                    title=f"{data.name}: {count} {which} images"))


def _conv_layer(node: Node, entry: ModelEntry):
    """(index, layer): the layer named layer=, else the model's first Conv2D."""
    layers = entry.model.layers
    name = node.value("layer")
    if name is not None:
        for index, layer in enumerate(layers):
            if layer.name == name:
                return index, layer
        raise node.error(f"model '{entry.name}' has no layer '{name}'",
                         did_you_mean(name, [layer.name for layer in layers], "layers"), at="layer")
    for index, layer in enumerate(layers):
        if type(layer).__name__ == "Conv2D":
            return index, layer
    raise node.error(f"model '{entry.name}' has no conv2d layer", "name a layer with layer=NAME")


def plot_filters(session: Session, node: Node, path: Path) -> None:
    from engine.viz import plots
    entry = session.entry(node)
    _, layer = _conv_layer(node, entry)
    kernel = getattr(layer, "kernel", None)
    if kernel is None or np.ndim(kernel.numpy()) != 4:
        raise node.error(f"layer '{layer.name}' has no convolution kernel", at="layer")
    write_plot(session, node, path, lambda p: plots.plot_filters(
        kernel.numpy(), p, title=f"{entry.name}/{layer.name}: {kernel.shape[-1]} filters"))


def plot_featuremaps(session: Session, node: Node, path: Path) -> None:
    from engine.viz import plots
    entry = session.entry(node)
    data = session.need_data(node)
    index, layer = _conv_layer(node, entry)
    which = node.get("on")
    if which == "test" and not data.has_test():
        which = "train"
    x, _ = data.split(which)
    sample = node.get("index")
    if sample >= len(x):
        raise node.error(f"index {sample} is past the {len(x)} {which} samples", at="index")
    with engine_errors(node):
        inputs = entry.model.prepare_inputs(x[sample:sample + 1])
        maps = entry.model.forward(inputs, training=False, until=index + 1).numpy()[0]
    if maps.ndim != 3:
        raise node.error(f"layer '{layer.name}' outputs {format_shape((None, *maps.shape))}, not feature maps "
                         "(H, W, C)", at="layer" if node.has("layer") else None)
    write_plot(session, node, path, lambda p: plots.plot_feature_maps(
        maps, p, title=f"{entry.name}/{layer.name}: {which} sample {sample}"))


def plot_samples(session: Session, node: Node, path: Path) -> None:
    from engine.viz import plots
    entry = session.entry(node)
    shape = entry.model.input_shape
    if shape is None or len(shape) != 2:
        raise node.error(f"model '{entry.name}' takes input {format_shape(shape)}, not noise vectors (None, noise)",
                         "plot samples draws a generator's images; name it with model=NAME",
                         at="model" if node.has("model") else None)
    noise_dim, count = shape[1], node.get("count")
    rng = np.random.default_rng(node.get("seed"))
    if node.has("means") or node.has("stds"):
        # the lecture's generate_latent_points (engine.lecture.gan), drawn from this statement's own seed
        m = np.linspace(-1, 1, noise_dim)
        means, stds = node.value("means", 1.0), node.value("stds", 1.0)
        noise = rng.normal(means * m, np.abs(stds * m), size=(count, noise_dim))
        what = f"latent points N({means:g}·m, ({stds:g}·m)^2), m = linspace(-1, 1, {noise_dim})"
    else:
        noise = rng.standard_normal((count, noise_dim))
        what = f"noise N(0, 1), seed {node.get('seed')}"
    with engine_errors(node):
        images = np.asarray(entry.model.predict(noise.astype(np.float32)))
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise node.error(f"model '{entry.name}' outputs {format_shape((None, *images.shape[1:]))}, not images "
                         "(H, W, 1) or (H, W, 3)")
    lo, hi = float(np.nanmin(images)), float(np.nanmax(images))
    if lo >= -1.0 and hi <= 1.0:                # tanh output: show it as the lecture does, x*127.5 + 127.5
        images = np.clip(images * 0.5 + 0.5, 0.0, 1.0)
    trained = f"after {entry.epochs_trained} epoch{'s' if entry.epochs_trained != 1 else ''}"
    session.out.print(f"{count} images from {what}")
    write_plot(session, node, path, lambda p: plots.plot_image_grid(
        images, p, title=node.value("title") or f"{entry.name}: {count} samples {trained}"))
