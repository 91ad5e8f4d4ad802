"""`extrapolate` (a series beyond its known points) and `grid` (learning rates x l2 penalties)."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from engine.resources import MAX_GRID_CELLS
from shell import writing
from shell.language.parser import Node
from shell.output import format_number, format_shape
from shell.statements.blocks import rebuild
from shell.statements.common import engine_errors, need_compiled
from shell.statements.models import compile_parts
from shell.statements.plotting import plot_grid, plot_predictions

if TYPE_CHECKING:
    from shell.interpreter import Session


def st_extrapolate(session: Session, node: Node) -> None:
    from engine.lecture import experiments
    entry = session.entry(node)
    data = session.need_data(node, need_arrays=False)
    if data.series is None:
        raise node.error(f"the {data.name} data is not a series", "use `data energies` or `data csv FILE series=COL`")
    shape = entry.model.input_shape
    shown = format_shape(shape)
    series = np.asarray(data.series, dtype=np.float64)
    x = data.series_x if data.series_x is not None else np.arange(len(series))
    if data.format == "standard":
        # x -> y: every unknown point straight from its x value (the lecture's "standard way")
        if node.has("window"):
            raise node.error("the data is in the standard x -> y format: there is no window", at="window")
        if shape is None or int(np.prod([d for d in shape[1:]])) != 1:
            raise node.error(f"model '{entry.name}' takes input {shown}, but standard-format data gives one x "
                             "value per sample", "define it with input=(1,1)")
        known = node.value("known") or data.train_points
        if not 1 <= known < len(series):
            raise node.error(f"known={known} must lie between 1 and {len(series) - 1}", at="known")
        how = "directly from its x"
        start = time.perf_counter()
        with engine_errors(node):
            inputs = np.asarray(x[known:], dtype=np.float32).reshape((-1, *shape[1:]))
            tail = np.asarray(entry.model.predict(inputs), dtype=np.float64).reshape(-1)
        predicted = np.concatenate([series[:known], tail])
    else:
        if node.has("window"):
            window = node.value("window")
        elif shape is not None and len(shape) == 3 and shape[2] == 1:
            window = shape[1]
        else:
            raise node.error(f"model '{entry.name}' takes input {shown}, but extrapolate feeds windows shaped "
                             "(1, window, 1)", "define the model with input=(window,1), e.g. after `data energies`")
        known = node.value("known") or data.train_points or window
        how = f"from the {window} values before it, predictions fed back"
        start = time.perf_counter()
        with engine_errors(node):
            predicted = np.asarray(experiments.extrapolate(entry.model, data.series, known, window), dtype=np.float64)
    elapsed = time.perf_counter() - start
    mse = float(np.mean((series - predicted) ** 2))
    rows = [(f"{float(x[k]):g}", float(series[k]), float(predicted[k]), float(predicted[k] - series[k]))
            for k in range(known, len(series))]
    if rows:
        session.out.table(("x", "true", "predicted", "error"), rows,
                          title=f"{entry.name}: {len(rows)} points predicted from the {known} known ones (each {how})")
    session.out.print(f"MSE over all {len(series)} points: {mse:.6g} (the first {known} are known and add no error)")
    session.last_extrapolation = {"model": entry.name, "x": np.asarray(x), "y_true": series, "y_pred": predicted,
                                  "known": known}
    if node.has("csv"):
        path = writing.write_table(session, node, "csv", np.column_stack([x, series, predicted]),
                                   ["x", "true", "predicted"], "%.10g")
        session.out.wrote(path)
    if node.has("to"):
        plot_predictions(session, node, writing.path_of(session, node, "to"), entry)
    session.done(f"extrapolated {entry.name}", elapsed)


def st_grid(session: Session, node: Node) -> None:
    from engine.lecture import experiments
    entry = session.entry(node)
    data = session.need_data(node)
    need_compiled(entry, node)
    if not data.has_test():
        raise node.error(f"the {data.name} data has no test part", "grid reports train and test accuracy")
    metrics = [m.lower() for m in entry.model.metric_names]
    if not metrics or metrics[0] not in ("accuracy", "acc"):
        raise node.error("grid reports accuracy, but the model is not compiled with metrics=accuracy",
                         "compile ... metrics=accuracy")
    etas = list(node.get("lr"))
    lambdas = list(node.get("l2"))
    epochs, batch_size = session.epochs(node), node.get("batch_size")
    cells = len(etas) * len(lambdas)
    if cells > MAX_GRID_CELLS:
        raise node.error(f"a grid of {len(etas)} learning rates x {len(lambdas)} l2 values has {cells:,} cells, "
                         f"more than the limit of {MAX_GRID_CELLS:,} (each cell trains a model)",
                         "use fewer values, e.g. lr=logspace(-5,1,7) l2=logspace(-5,1,7)", at="lr")
    done = [0]

    def build_model(eta, lmbd):
        model = rebuild(entry, l2=lmbd)
        optimizer, loss, metric_names = compile_parts(entry.compile_node, lr=eta)
        model.compile(optimizer=optimizer, loss=loss, metrics=metric_names)
        return model

    def on_cell(i, j, train_acc, test_acc):
        done[0] += 1
        session.out.print(f"  [{done[0]}/{cells}] lr={etas[i]:g} l2={lambdas[j]:g}: train accuracy "
                          f"{format_number(train_acc)}, test accuracy {format_number(test_acc)}")

    session.out.print(f"grid {entry.name}: {len(etas)} learning rates x {len(lambdas)} l2 values, {epochs} "
                      f"epoch{'s' if epochs != 1 else ''} of batch {batch_size} each")
    start = time.perf_counter()
    # large learning rates diverge (as in the lecture's grid): NaN/overflow is a result here, not a warning
    with engine_errors(node), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        result = experiments.grid_search(build_model, data.x_train, data.y_train, data.x_test, data.y_test,
                                         etas, lambdas, epochs, batch_size, on_cell=on_cell)
    elapsed = time.perf_counter() - start
    result = dict(result)
    result.setdefault("etas", np.asarray(etas))
    result.setdefault("lambdas", np.asarray(lambdas))
    session.last_grid = result
    for key, title in (("train_accuracy", "training accuracy"), ("test_accuracy", "test accuracy")):
        matrix = np.asarray(result[key])
        rows = [(f"{eta:g}", *[float(v) for v in matrix[i]]) for i, eta in enumerate(etas)]
        session.out.table(["lr \\ l2", *[f"{lam:g}" for lam in lambdas]], rows, title=title)
    test = np.asarray(result["test_accuracy"], dtype=float)
    if np.isfinite(test).any():
        i, j = np.unravel_index(np.nanargmax(test), test.shape)
        session.out.print(f"best test accuracy {format_number(float(result['test_accuracy'][i][j]))} "
                          f"at lr={etas[i]:g}, l2={lambdas[j]:g}")
    if node.has("to"):
        plot_grid(session, node, writing.path_of(session, node, "to"))
    session.done(f"grid of {cells} models", elapsed)
