"""`data FORM ...` (digits, sine, energies, mnist, cifar10, csv, npz) and `window SIZE`."""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine import datachecks, datasets, download, files, resources
from engine.datasets import DataError
from shell.errors import did_you_mean
from shell.language.lexer import split_lines
from shell.language.parser import Node
from shell.output import format_shape
from shell.state import Data
from shell.statements.common import engine_errors, input_path

if TYPE_CHECKING:
    from shell.interpreter import Session


def st_data(session: Session, node: Node) -> None:
    start = time.perf_counter()
    with engine_errors(node):
        data = globals()["data_" + node.sub](session, node)    # data_digits for `data digits` (registry forms)
    session.data = data
    session.last_extrapolation = None
    session.done(f"data {data.name}: {data.describe()}", time.perf_counter() - start)


def data_digits(session: Session, node: Node) -> Data:
    (xtr, ytr), (xte, yte) = datasets.digits(train_fraction=node.get("train"), seed=node.get("seed"),
                                             one_hot=node.get("one_hot"))
    return Data("digits", xtr, ytr, xte, yte, note="8x8 images, values 0-16 (not rescaled)")


def data_sine(session: Session, node: Node) -> Data:
    n, train, step, seed = node.get("n"), node.get("train"), node.get("step"), node.get("seed")
    if train >= n:
        raise node.error(f"train must be smaller than n ({n})", "e.g. data sine n=1000 train=800", at="train")
    _require_window_memory(node, n, step, "n")
    (xtr, ytr), (xte, yte) = datasets.sine_windows(n=n, train_size=train, step=step, seed=seed)
    t, series = datasets.sine_series(n, seed)
    return Data("sine", xtr, ytr, xte, yte, series=series, series_x=t, train_points=train,
                note=f"samples are 1 time step with {step} features")


def data_energies(session: Session, node: Node) -> Data:
    path = input_path(node, "path", must_exist=True) if node.has("path") else None
    x, y = datasets.energies(path)
    train = node.get("train")
    data = Data("energies", series=y, series_x=x, train_points=train)
    if node.get("format") == "standard":
        if node.has("window"):
            raise node.error("format=standard has no windows: each sample is one x value", at="window")
        if train >= len(y):
            raise node.error(f"train={train} leaves no points to predict out of {len(y)}", at="train")
        # the lecture's X_tot[:dim].reshape(dim, 1): rank 2, which Keras 3 lifts to (dim, 1, 1)
        xs = np.asarray(x, dtype=np.float32).reshape(-1, 1, 1)
        data.x_train, data.y_train = xs[:train], np.asarray(y[:train], dtype=np.float64)
        data.x_test, data.y_test = xs[train:], np.asarray(y[train:], dtype=np.float64)
        data.format = "standard"
        data.note = (f"standard x -> y samples (None, 1, 1): x is one value, a sequence of length 1; "
                     f"{len(y)} points, the first {train} for training")
        return data
    _window_into(data, node, node.get("window"), train, "steps", window_at="window", train_at="train")
    return data


def _images(session: Session, node: Node, name: str, loader) -> Data:
    if node.has("path"):
        path = input_path(node, "path", must_exist=True)
    else:       # the data folder, where the files are downloaded on first use
        path = download.fetch(name, download=node.get("download"), mirror=node.get("mirror"),
                              console=session.out.console)
    (xtr, ytr), (xte, yte) = loader(path)
    limit = node.get("limit")
    if limit:
        xtr, ytr, xte, yte = xtr[:limit], ytr[:limit], xte[:limit], yte[:limit]
    scale = node.get("scale")
    xtr, xte = (_scale_images(a, scale) for a in (xtr, xte))
    ytr, yte = (np.asarray(a).reshape(-1).astype(np.int64) for a in (ytr, yte))
    if node.get("one_hot"):
        ytr, yte = (np.eye(10, dtype=np.float32)[a] for a in (ytr, yte))
    return Data(name, xtr, ytr, xte, yte, note=f"pixels scaled: {scale}")


def data_mnist(session: Session, node: Node) -> Data:
    return _images(session, node, "mnist", datasets.load_mnist)


def data_cifar10(session: Session, node: Node) -> Data:
    return _images(session, node, "cifar10", datasets.load_cifar10)


def _scale_images(images: np.ndarray, scale: str) -> np.ndarray:
    images = images.astype(np.float32)
    if scale == "unit":
        return images / 255.0
    if scale == "symmetric":
        return (images - 127.5) / 127.5
    return images


def data_csv(session: Session, node: Node) -> Data:
    path = input_path(node, "path", must_exist=True)
    names, table = _read_csv(path)
    fraction = node.get("train")
    name = f"csv {path.name}"
    if node.has("series") or table.shape[1] == 1 and not (node.has("x") or node.has("y")):
        columns = _select_columns(node, "series", names, node.value("series", (0,)))
        if len(columns) != 1:
            raise node.error("series takes exactly one column", at="series")
        series = table[:, columns[0]]
        train = max(1, int(math.floor(len(series) * fraction)))
        return Data(name, series=series, series_x=np.arange(len(series), dtype=np.float64), train_points=train,
                    note=f"a series of {len(series)} values; cut it into samples with `window SIZE`")
    all_columns = list(range(table.shape[1]))
    y_cols = _select_columns(node, "y", names, node.value("y")) if node.has("y") else [all_columns[-1]]
    x_cols = (_select_columns(node, "x", names, node.value("x")) if node.has("x")
              else [c for c in all_columns if c not in y_cols])
    if not x_cols:
        raise node.error("no input columns left", "name them with x=...", at="y" if node.has("y") else None)
    x = table[:, x_cols].astype(np.float32)
    y = table[:, y_cols].astype(np.float32)
    if y.shape[1] == 1:
        y = y[:, 0]
    cut = int(math.floor(len(x) * fraction))
    if cut < 1:
        raise node.error(f"train={fraction} leaves no training rows out of {len(x)}", at="train")
    return Data(name, x[:cut], y[:cut], x[cut:], y[cut:],
                note=f"x = {', '.join(names[c] for c in x_cols)}; y = {', '.join(names[c] for c in y_cols)}")


def _read_csv(path: Path):
    """(column names, float table) from a CSV file with an optional header line; DataError on bad rows. The
    errors name lines and fields, never what they hold (the file may be anything: /proc/self/environ)."""
    if not path.name.lower().endswith(".csv"):          # so that no error shows a line of another kind of file
        raise DataError(f"cannot read {path}: data csv reads CSV files, whose names end in .csv")
    try:
        text = files.read_text(path, "a CSV table")
    except files.FileError as exc:
        raise DataError(str(exc)) from None
    lines = [(n, line) for n, line in enumerate(split_lines(text), start=1)
             if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise DataError(f"{path} is empty")
    first = [f.strip() for f in lines[0][1].split(",")]
    header = not all(_is_number(f) for f in first)
    names = first if header else [str(i) for i in range(len(first))]
    rows, numbers = [], []
    for number, line in (lines[1:] if header else lines):
        fields = line.split(",")
        if len(fields) != len(names):
            raise DataError(f"{path}, line {number}: expected {len(names)} values, got {len(fields)}")
        try:
            rows.append([float(f) for f in fields])
        except ValueError:
            column = next(i for i, f in enumerate(fields, start=1) if not _is_number(f))
            raise DataError(f"{path}, line {number}: value {column} is not a number") from None
        numbers.append(number)
    if not rows:
        raise DataError(f"{path} has a header but no data rows")
    table = np.array(rows, dtype=np.float64)
    finite = np.isfinite(table)
    if not finite.all():
        bad = np.argwhere(~finite)[0]
        raise DataError(f"{path}: {int(table.size - finite.sum())} values are NaN or infinite (the first on line "
                        f"{numbers[bad[0]]}, value {bad[1] + 1}); expected finite numbers")
    return names, table


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _select_columns(node: Node, option: str, names: list[str], items) -> list[int]:
    columns = []
    for item in items:
        if isinstance(item, slice):
            columns.extend(range(len(names))[item])
        elif isinstance(item, int):
            if not -len(names) <= item < len(names):
                raise node.error(f"column {item} does not exist: the file has {len(names)} columns", at=option)
            columns.append(item % len(names))
        else:
            if item not in names:
                raise node.error(f"no column named '{item}'", did_you_mean(item, names, "columns"), at=option)
            columns.append(names.index(item))
    if not columns:
        raise node.error(f"{option}= selects no columns", at=option)
    return columns


def data_npz(session: Session, node: Node) -> Data:
    path = input_path(node, "path", must_exist=True)
    if not path.name.lower().endswith(".npz"):
        raise node.error(f"cannot read {path}: data npz reads .npz archives, whose names end in .npz", at="path")
    try:
        arrays = files.read_npz(path, "arrays (an .npz file)")
    except files.FileError as exc:
        raise node.error(str(exc), "write it with numpy.savez (plain numeric arrays)", at="path") from None
    keys = list(arrays)
    shown = ", ".join(keys[:12]) + (", ..." if len(keys) > 12 else "")

    def pick(option, candidates, required):
        key = node.value(option)
        if key is None:
            key = next((k for k in candidates if k in keys), None)
            if key is None:
                if required:
                    raise node.error(f"{path.name} has none of the keys {', '.join(candidates)}",
                                     f"name the key: {option}=KEY (keys: {shown})")
                return None
        if key not in keys:
            raise node.error(f"{path.name} has no key '{key}'", did_you_mean(key, keys, "keys"), at=option)
        array = datachecks.check_numbers(arrays[key], f"array '{key}'", str(path))
        if array.ndim == 0:
            raise node.error(f"{path.name}: array '{key}' is a single number; expected one row per sample",
                             at=option if node.has(option) else None)
        datachecks.check_finite(array, f"array '{key}'", str(path))
        return array

    x = pick("x", ("x", "x_train"), True)
    y = pick("y", ("y", "y_train"), True)
    x_test = pick("x_test", ("x_test",), False)
    y_test = pick("y_test", ("y_test",), False)
    if len(x) != len(y):
        raise node.error(f"x has {len(x)} samples but y has {len(y)}")
    datachecks.check_not_empty(x, "x", str(path))
    x = x.astype(np.float32) if not np.issubdtype(x.dtype, np.floating) else x
    if x_test is None or y_test is None:
        cut = int(math.floor(len(x) * node.get("train")))
        x, y, x_test, y_test = x[:cut], y[:cut], x[cut:], y[cut:]
    return Data(f"npz {path.name}", x, y, x_test, y_test)


def _require_window_memory(node: Node, points: int, size: int, at: str) -> None:
    """Windows of `size` over `points` values (float64, a float32 copy for training, the split): refuse before
    allocating what the machine does not have."""
    try:
        resources.require_memory(3 * 8 * points * (size + 1), f"{node.form.full_name} with {points:,} points and "
                                 f"windows of {size}", "use fewer points or a smaller window")
    except resources.ResourceError as exc:
        raise node.error(str(exc), at=at) from None


# --- window --------------------------------------------------------------------------------------------

def st_window(session: Session, node: Node) -> None:
    start = time.perf_counter()
    data = session.data
    if data is None or data.series is None:
        raise node.error("there is no series to cut into windows",
                         "load one first: `data energies`, `data sine` or `data csv FILE series=COLUMN`")
    train = node.get("train") or data.train_points or len(data.series)
    _window_into(data, node, node.get("size"), train, node.get("layout"), window_at="size", train_at="train")
    data.train_points = train
    data.format = "windows"
    session.last_extrapolation = None
    session.done(f"window {node.get('size')}: {data.describe()}", time.perf_counter() - start)


def _window_into(data: Data, node: Node, size: int, train: int, layout: str, window_at: str, train_at: str) -> None:
    """Cut `data.series` into windows of `size` -> the next value; targets before `train` are for training."""
    series = np.asarray(data.series, dtype=np.float64)
    _require_window_memory(node, len(series), size, window_at)
    if train > len(series):
        raise node.error(f"train={train} is more than the {len(series)} points of the series", at=train_at)
    if size >= train:
        raise node.error(f"a window of {size} needs more than {size} training points (train={train})",
                         "use a smaller window or a larger train", at=window_at)
    x_all, y_all = datasets.window_series(series, size)     # sample i: series[i:i+size] -> series[i+size]
    targets = np.arange(size, len(series))
    is_train = targets < train
    shape = (-1, size, 1) if layout == "steps" else (-1, 1, size)
    x_all = x_all.reshape(shape)
    data.x_train, data.y_train = x_all[is_train], y_all[is_train]
    data.x_test, data.y_test = x_all[~is_train], y_all[~is_train]
    data.note = (f"windows of {size} ({layout}: {format_shape((None, *x_all.shape[1:]))}); "
                 f"{len(series)} points, the first {train} for training")
