"""The `.nn` interpreter: a :class:`Session` holds the data, the models, the backend and the seed, and runs
statements from scripts (`execute_source`) or from the prompt one line at a time (`feed_line`).

Every user mistake becomes an :class:`~shell.errors.NNError` printed at its line and column; the session
keeps its state after an error. Engine errors (ShapeError, ModelError, DataError, BackendUnavailable,
ValueError) are converted at the statement or option that caused them. Anything else is an nnlab bug:
one line, and the traceback with --debug.
"""
from __future__ import annotations

import contextlib
import math
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
import numpy as np

import engine
from engine import datasets, random
from engine.backends import BackendUnavailable
from engine.datasets import DataError
from engine.layers import InputLayer, ShapeError, snake_case
from engine.models import ModelError, Sequential
from shell import registry
from shell.errors import NNError, closest, did_you_mean
from shell.language import ModelBlock, Node, parse, parse_line
from shell.output import Output, format_number, format_seconds

MAX_RUN_DEPTH = 8
DEFAULT_OUT_DIR = "nnlab_out"


def default_out_dir() -> Path:
    """Where plots and CSV files with a relative path go: $NNLAB_OUT if set, else ./nnlab_out."""
    env = os.environ.get("NNLAB_OUT", "").strip()
    return Path(os.path.expanduser(env)) if env else Path(DEFAULT_OUT_DIR)


# --------------------------------------------------------------------------------------------------
# Session state
# --------------------------------------------------------------------------------------------------

@dataclass
class Data:
    """The current data: training and test arrays and, for series, the series itself."""
    name: str
    x_train: np.ndarray | None = None
    y_train: np.ndarray | None = None
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    series: np.ndarray | None = None      # 1-D values (sine, energies, csv series)
    series_x: np.ndarray | None = None    # its x axis
    train_points: int | None = None       # the known / training part of the series
    format: str = "windows"               # series samples: "windows" (y values -> next y) or "standard" (x -> y)
    note: str = ""

    def has_test(self) -> bool:
        return self.x_test is not None and len(self.x_test) > 0

    def split(self, which: str):
        if which == "test":
            return self.x_test, self.y_test
        return self.x_train, self.y_train


@dataclass
class ModelEntry:
    """A model defined with `model NAME ... end` and what the session knows about it."""
    name: str
    model: Sequential
    header: Node
    input_shape: tuple | None = None
    layers: list = field(default_factory=list)       # [(Node, layer name)] of accepted layer lines
    counts: dict = field(default_factory=dict)        # Keras-style name numbering within this model
    complete: bool = False
    compile_node: Node | None = None
    history: dict = field(default_factory=dict)       # every epoch trained in this session
    epochs_trained: int = 0

    @property
    def compiled(self) -> bool:
        return self.model.optimizer is not None


@dataclass
class _Block:
    """A model block being typed at the prompt."""
    entry: ModelEntry
    lines: list
    previous_current: str | None
    replaced: ModelEntry | None
    extended: tuple | None = None    # (model layers, entry layers, counts) before an `extend=true` block


class _Stop(Exception):
    """`quit` inside a script or at the prompt."""


# --------------------------------------------------------------------------------------------------
# The session
# --------------------------------------------------------------------------------------------------

class Session:
    """An nnlab session. `output` receives everything printed; `epochs` overrides every train/grid."""

    def __init__(self, output: Output | None = None, *, seed: int = 0, backend: str | None = None,
                 epochs: int | None = None, debug: bool = False, out_dir=None):
        self.out = output if output is not None else Output()
        #: the folder for plots and CSV files given with a relative path (`set out DIR`)
        self.out_dir = Path(os.path.expanduser(str(out_dir))) if out_dir else default_out_dir()
        self.debug = debug
        self.epochs_override = epochs
        self.seed = seed
        self.initial_seed = seed
        random.set_seed(seed)
        self.initial_backend = None
        if backend:
            engine.set_backend(backend)     # BackendUnavailable is the caller's to report
            self.initial_backend = backend
        self.backend_name = engine.get_backend().name
        self.data: Data | None = None
        self.models: dict[str, ModelEntry] = {}
        self.current: str | None = None
        self.transcript: list[str] = []
        self.finished = False
        self.last_grid: dict | None = None
        self.last_extrapolation: dict | None = None
        self.train_callbacks: list = []   # extra engine callbacks for every `train` (tests, the REPL)
        self._block: _Block | None = None
        self._prompt_line = 0
        self._depth = 0
        self._recording = True

    # --- public entry points ------------------------------------------------------------------------
    @property
    def in_block(self) -> bool:
        """True while a `model ... end` block is open at the prompt."""
        return self._block is not None

    @property
    def block_model(self) -> str | None:
        return self._block.entry.name if self._block else None

    def execute_source(self, text: str, filename: str = "<input>") -> bool:
        """Run a whole script. Syntax errors are reported before anything runs; execution stops at the
        first error. Returns True when every statement succeeded."""
        try:
            program = parse(text, filename)
        except NNError as err:
            self.out.error(err)
            return False
        for item in program:
            if not self._guarded(self._execute_item, item):
                return False
            if self.finished:
                break
        return True

    def feed_line(self, line: str) -> bool:
        """Run one line typed at the prompt; True while more lines are needed (inside a model block)."""
        self._prompt_line += 1
        in_block = self._block is not None
        try:
            node = parse_line(line, self._prompt_line, "<stdin>", in_block=in_block)
        except NNError as err:
            self.out.error(err)
            return in_block
        if node.kind == "blank":
            return in_block
        if in_block:
            self._guarded(self._prompt_block_line, node)
            return self._block is not None
        if node.spec.opens_block:
            self._guarded(self._prompt_block_start, node)
            return self._block is not None
        self._guarded(self._execute_item, node)
        return False

    def feed_text(self, text: str) -> bool:
        """Feed several lines (a paste) one by one, exactly as if typed; True while a block is open."""
        more = self._block is not None
        for line in text.splitlines():
            more = self.feed_line(line)
            if self.finished:
                break
        return more

    def validate_line(self, line: str) -> NNError | None:
        """The syntax error the line would give at the prompt now, or None (for a prompt validator)."""
        try:
            parse_line(line, self._prompt_line + 1, "<stdin>", in_block=self._block is not None)
        except NNError as err:
            return err
        return None

    def save_session(self, path) -> Path:
        """Write the accepted statements as a runnable script (with the seed and backend it started with)."""
        path = Path(path).expanduser()
        lines = [f"# nnlab {engine.__version__} session: the statements accepted so far, replayable with "
                 f"`nnlab run {path.name}`"]
        if self.epochs_override:
            lines.append(f"# recorded under --epochs {self.epochs_override}: run with the same flag to repeat it")
        lines.append(f"set seed {self.initial_seed}")
        if self.initial_backend:
            lines.append(f"backend {self.initial_backend}")
        lines.extend(self.transcript)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    # --- running and error handling -----------------------------------------------------------------
    def _guarded(self, function, item) -> bool:
        """Run one statement; print any error; never let a user mistake escape as a traceback."""
        try:
            function(item)
            return True
        except NNError as err:
            self.out.error(err)
        except _Stop:
            self.finished = True
            return True
        except KeyboardInterrupt:
            self.out.warning("interrupted")
        except RecursionError as exc:
            self.out.internal_error(exc, self.debug)
        except Exception as exc:  # a bug in nnlab, not a user mistake
            node = item.header if isinstance(item, ModelBlock) else item
            where = f"{node.file}:{node.line}" if isinstance(node, Node) else ""
            self.out.internal_error(exc, self.debug, where)
        return False

    def _execute_item(self, item) -> None:
        if isinstance(item, ModelBlock):
            self._execute_block(item)
            return
        node: Node = item
        if node.kind in ("end", "abort"):
            raise node.error(f"'{node.kind}' without a model block")
        handler = getattr(self, "st_" + node.name)
        handler(node)
        if node.spec.records and (node.form is None or node.form.records) and self._recording and self._depth == 0:
            self.transcript.append(node.source)

    # --- model blocks -------------------------------------------------------------------------------
    def _execute_block(self, block: ModelBlock) -> None:
        entry = self._start_model(block.header)
        for node in block.layers:
            self._add_layer(entry, node)
        self._finish_model(entry, block.end)
        if self._recording and self._depth == 0:
            self.transcript.append(block.source)

    def _prompt_block_start(self, node: Node) -> None:
        previous = self.current
        replaced = self.models.get(node.value("name"))
        entry = self._start_model(node)
        extended = None
        if node.get("extend"):
            replaced = None
            extended = (len(entry.model.layers), len(entry.layers), dict(entry.counts))
        self._block = _Block(entry, [node.source], previous, replaced, extended)

    def _prompt_block_line(self, node: Node) -> None:
        block = self._block
        if node.kind == "end":
            self._finish_model(block.entry, node)
            self._block = None
            if self._recording:
                self.transcript.append("\n".join(block.lines + ["end"]))
        elif node.kind == "abort":
            self._block = None
            if block.extended is not None:
                n_model, n_entry, counts = block.extended
                added = len(block.entry.model.layers) - n_model
                del block.entry.model.layers[n_model:]
                del block.entry.layers[n_entry:]
                block.entry.counts = counts
                self.current = block.previous_current
                self.out.note(f"model '{block.entry.name}': {added} added layer{'s' if added != 1 else ''} "
                              f"discarded")
                return
            del self.models[block.entry.name]
            if block.replaced is not None:
                self.models[block.replaced.name] = block.replaced
            self.current = block.previous_current
            self.out.note(f"model '{block.entry.name}' discarded")
        else:
            self._add_layer(block.entry, node)
            block.lines.append("  " + node.source)

    def _start_model(self, node: Node) -> ModelEntry:
        name = node.value("name")
        input_shape = node.value("input")
        if node.get("extend"):
            entry = self.models.get(name)
            if entry is None:
                raise node.error(f"no model named '{name}' to extend",
                                 did_you_mean(name, list(self.models), "models") or
                                 "define it first: model NAME input=(...) / layer lines / end", at="name")
            if input_shape is not None:
                raise node.error(f"model '{name}' already has its input; extend=true only adds layers", at="input")
            self.current = name
            last = entry.model.layers[-1] if entry.model.layers else None
            after = f"after {last.name} {_shape(last.output_shape)}" if last is not None else "(it has no layers yet)"
            self.out.print(f"model {name}: adding layers {after}")
            return entry
        if name in self.models:
            self.out.note(f"replacing model '{name}'")
        entry = ModelEntry(name, Sequential(name=name), node, input_shape=input_shape)
        if input_shape is not None:
            entry.model.input_layer = InputLayer(shape=input_shape, name="input_layer")
        self.models[name] = entry
        self.current = name
        shown = _shape((None, *input_shape)) if input_shape else "from the data"
        self.out.print(f"model {name}: input {shown}")
        return entry

    def _add_layer(self, entry: ModelEntry, node: Node) -> None:
        spec: registry.LayerSpec = node.spec
        model = entry.model
        if spec.keras == "InputLayer":
            if model.layers or model.input_layer is not None:
                raise node.error("the input shape is already set", "`input (...)` can only be the first line "
                                 "of a model without input=")
            shape = node.value("shape")
            entry.input_shape = shape
            model.input_layer = InputLayer(shape=shape, name="input_layer")
            entry.layers.append((node, "input_layer"))
            self.out.print(f"  input                              {_shape((None, *shape))}")
            return
        if model.input_layer is None and not model.layers:
            shape = self._data_input_shape()
            if shape is None:
                raise node.error(f"model '{entry.name}' does not know its input shape yet",
                                 f"write `model {entry.name} input=(8,8,1)`, start the block with `input (8,8,1)`, "
                                 f"or load data first")
            entry.input_shape = shape
            model.input_layer = InputLayer(shape=shape, name="input_layer")
            self.out.note(f"  input {_shape((None, *shape))} from the data")
        values = node.values()
        base = snake_case(spec.keras)
        count = entry.counts.get(base, 0)
        name = values.get("name") or (base if count == 0 else f"{base}_{count}")
        if any(layer.name == name for layer in model.layers):
            raise node.error(f"model '{entry.name}' already has a layer named '{name}'", "choose another name=",
                             at="name")
        try:
            layer = spec.build(values, name=name)
            model.add(layer)
        except ShapeError as exc:
            raise node.error(str(exc), _shape_hint(model)) from None
        except (ValueError, ModelError) as exc:
            raise self._engine_error(exc, node) from None
        if "name" not in values:
            entry.counts[base] = count + 1
        entry.layers.append((node, name))
        label = f"{name} ({type(layer).__name__})"
        self.out.print(f"  {label:<34} {_shape(layer.output_shape):<22} {layer.count_params():>9,} params")

    def _finish_model(self, entry: ModelEntry, end: Node | None) -> None:
        model = entry.model
        if not model.layers:
            node = end or entry.header
            raise node.error(f"model '{entry.name}' has no layers",
                             "put layer lines between `model NAME` and `end`; `layers` lists them")
        entry.complete = True
        total = model.count_params()
        count = len(model.layers)
        self.out.print(f"model {entry.name}: {count} layer{'s' if count != 1 else ''}, output "
                       f"{_shape(model.output_shape)}, {total:,} params")

    def _data_input_shape(self):
        if self.data is not None and self.data.x_train is not None:
            return tuple(int(d) for d in self.data.x_train.shape[1:])
        return None

    def _rebuild(self, entry: ModelEntry, l2: float | None = None) -> Sequential:
        """A fresh copy of a model's architecture (new weights), optionally with every l2 option replaced."""
        model = Sequential(name=entry.name)
        if entry.input_shape is not None:
            model.input_layer = InputLayer(shape=entry.input_shape, name="input_layer")
        for node, name in entry.layers:
            spec = node.spec
            if spec.keras == "InputLayer":
                continue
            values = node.values()
            if l2 is not None and registry.find_option(spec, "l2") is not None:
                values["l2"] = l2
            model.add(spec.build(values, name=name))
        return model

    # --- helpers ---------------------------------------------------------------------------------------
    def _entry(self, node: Node, option: str = "model") -> ModelEntry:
        name = node.value(option)
        if name is None:
            if self.current is None:
                raise node.error("there is no model yet",
                                 "define one: model NAME input=(...) / layer lines / end")
            name = self.current
        if name not in self.models:
            raise node.error(f"no model named '{name}'", did_you_mean(name, list(self.models), "models") or None,
                             at=option)
        entry = self.models[name]
        if not entry.model.layers:
            raise node.error(f"model '{name}' has no layers yet", "add layer lines before `end`", at=option)
        return entry

    def _need_data(self, node: Node, need_arrays: bool = True) -> Data:
        if self.data is None:
            raise node.error("there is no data yet", "load some first, e.g. `data digits` (help data)")
        if need_arrays and self.data.x_train is None:
            raise node.error(f"the {self.data.name} data is a series without samples yet",
                             "cut it into samples with `window SIZE`")
        return self.data

    def _need_compiled(self, entry: ModelEntry, node: Node) -> None:
        if not entry.compiled:
            raise node.error(f"model '{entry.name}' is not compiled",
                             "compile it first, e.g. `compile optimizer=sgd lr=0.01 loss=categorical_crossentropy "
                             "metrics=accuracy`")

    def _path(self, node: Node, option: str, must_exist: bool = False, default: str | None = None) -> Path:
        raw = node.value(option, default)
        path = Path(os.path.expanduser(str(raw)))
        if must_exist and not path.exists():
            hint = _nearby_files(path)
            raise node.error(f"file not found: {raw}", hint, at=option)
        return path

    def _output_path(self, node: Node, option: str, default: str | None = None) -> Path:
        """A file nnlab writes (plot, CSV): a relative path goes into the output folder (`set out`)."""
        raw = node.value(option, default)
        path = Path(os.path.expanduser(str(raw)))
        return path if path.is_absolute() else self.out_dir / path

    def _engine_error(self, exc: BaseException, node: Node, at: str | None = None) -> NNError:
        """An engine exception as an NNError at the option it names (or at `at`, or the statement)."""
        message = str(exc).strip() or type(exc).__name__
        if at is None:
            at = _option_named_in(message, node)
        if at is None and isinstance(exc, (DataError, OSError)) and "path" in node.args:
            at = "path"
        hint = None
        if isinstance(exc, BackendUnavailable):
            hint = "`backend` lists the backends that run here"
        elif isinstance(exc, ShapeError):
            hint = "`summary` shows the model's shapes; `data` printed the data's"
        elif isinstance(exc, DataError):
            hint = "check the file and its format (help data)"
        elif isinstance(exc, ModelError) and "compile" in message:
            hint = "compile optimizer=... loss=... first"
        elif isinstance(exc, OSError):
            hint = "check the path and the permissions"
        if hint is None and node.spec is not None:
            hint = f"`help {node.spec.name}` shows the options" if node.kind == "statement" else \
                f"`layers {node.spec.name}` shows the options"
        return node.error(message, hint, at=at)

    @contextlib.contextmanager
    def _engine_errors(self, node: Node, at: str | None = None):
        try:
            yield
        except NNError:
            raise
        except (ShapeError, ModelError, DataError, BackendUnavailable, ValueError, OSError) as exc:
            raise self._engine_error(exc, node, at) from None

    def _epochs(self, node: Node) -> int:
        return self.epochs_override or node.get("epochs")

    def _done(self, text: str, seconds: float) -> None:
        self.out.print(f"{text} ({format_seconds(seconds)})" if text else f"({format_seconds(seconds)})")

    # ================================================================================================
    # Statements (one method per registry statement: st_<name>)
    # ================================================================================================

    # --- data ----------------------------------------------------------------------------------------
    def st_data(self, node: Node) -> None:
        start = time.perf_counter()
        with self._engine_errors(node):
            data = getattr(self, "_data_" + node.sub)(node)
        self.data = data
        self.last_extrapolation = None
        self._done(f"data {data.name}: {_describe_data(data)}", time.perf_counter() - start)

    def _data_digits(self, node: Node) -> Data:
        (xtr, ytr), (xte, yte) = datasets.digits(train_fraction=node.get("train"), seed=node.get("seed"),
                                                 one_hot=node.get("one_hot"))
        return Data("digits", xtr, ytr, xte, yte, note="8x8 images, values 0-16 (not rescaled)")

    def _data_sine(self, node: Node) -> Data:
        n, train, step, seed = node.get("n"), node.get("train"), node.get("step"), node.get("seed")
        if train >= n:
            raise node.error(f"train must be smaller than n ({n})", "e.g. data sine n=1000 train=800", at="train")
        (xtr, ytr), (xte, yte) = datasets.sine_windows(n=n, train_size=train, step=step, seed=seed)
        t, series = datasets.sine_series(n, seed)
        return Data("sine", xtr, ytr, xte, yte, series=series, series_x=t, train_points=train,
                    note=f"samples are 1 time step with {step} features")

    def _data_energies(self, node: Node) -> Data:
        path = self._path(node, "path", must_exist=True) if node.has("path") else None
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
        self._window_into(data, node, node.get("window"), train, "steps", window_at="window", train_at="train")
        return data

    def _data_images(self, node: Node, name: str, loader) -> Data:
        path = self._path(node, "path", must_exist=True) if node.has("path") else None
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

    def _data_mnist(self, node: Node) -> Data:
        return self._data_images(node, "mnist", datasets.load_mnist)

    def _data_cifar10(self, node: Node) -> Data:
        return self._data_images(node, "cifar10", datasets.load_cifar10)

    def _data_csv(self, node: Node) -> Data:
        path = self._path(node, "path", must_exist=True)
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

    def _data_npz(self, node: Node) -> Data:
        path = self._path(node, "path", must_exist=True)
        try:
            archive = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise node.error(f"cannot read {path} as .npz: {exc}", "write it with numpy.savez", at="path") from None
        with archive:
            keys = list(archive.files)

            def pick(option, candidates, required):
                key = node.value(option)
                if key is None:
                    key = next((k for k in candidates if k in keys), None)
                    if key is None:
                        if required:
                            raise node.error(f"{path.name} has none of the keys {', '.join(candidates)}",
                                             f"name the key: {option}=KEY (keys: {', '.join(keys)})")
                        return None
                if key not in keys:
                    raise node.error(f"{path.name} has no key '{key}'", did_you_mean(key, keys, "keys"), at=option)
                return np.asarray(archive[key])

            x = pick("x", ("x", "x_train"), True)
            y = pick("y", ("y", "y_train"), True)
            x_test = pick("x_test", ("x_test",), False)
            y_test = pick("y_test", ("y_test",), False)
        if len(x) != len(y):
            raise node.error(f"x has {len(x)} samples but y has {len(y)}")
        x = x.astype(np.float32) if not np.issubdtype(x.dtype, np.floating) else x
        if x_test is None or y_test is None:
            cut = int(math.floor(len(x) * node.get("train")))
            x, y, x_test, y_test = x[:cut], y[:cut], x[cut:], y[cut:]
        return Data(f"npz {path.name}", x, y, x_test, y_test)

    # --- window ----------------------------------------------------------------------------------------
    def st_window(self, node: Node) -> None:
        start = time.perf_counter()
        if self.data is None or self.data.series is None:
            raise node.error("there is no series to cut into windows",
                             "load one first: `data energies`, `data sine` or `data csv FILE series=COLUMN`")
        train = node.get("train") or self.data.train_points or len(self.data.series)
        self._window_into(self.data, node, node.get("size"), train, node.get("layout"), window_at="size",
                          train_at="train")
        self.data.train_points = train
        self.data.format = "windows"
        self.last_extrapolation = None
        self._done(f"window {node.get('size')}: {_describe_data(self.data)}", time.perf_counter() - start)

    def _window_into(self, data: Data, node: Node, size: int, train: int, layout: str, window_at: str,
                     train_at: str) -> None:
        series = np.asarray(data.series, dtype=np.float64)
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
        data.note = (f"windows of {size} ({layout}: {_shape((None, *x_all.shape[1:]))}); "
                     f"{len(series)} points, the first {train} for training")

    # --- model / use / compile / summary ------------------------------------------------------------
    def st_model(self, node: Node) -> None:  # a `model` line is always part of a block; see _execute_block
        raise node.error("a model line opens a block", "follow it with layer lines and `end`")

    def st_use(self, node: Node) -> None:
        name = node.value("name")
        if name not in self.models:
            raise node.error(f"no model named '{name}'", did_you_mean(name, list(self.models), "models") or
                             "define it with `model NAME ... end`", at="name")
        self.current = name
        self.out.print(f"current model: {name}")

    def st_compile(self, node: Node) -> None:
        entry = self._entry(node)
        optimizer, loss, metrics = self._compile_parts(node)
        with self._engine_errors(node):
            entry.model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
        entry.compile_node = node
        config = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                           for k, v in optimizer.get_config().items() if k != "name")
        shown = f"{type(optimizer).__name__}({config})"
        metric_text = ", ".join(metrics) if metrics else "none"
        logits = " (from logits)" if node.get("from_logits") else ""
        self.out.print(f"compiled {entry.name}: optimizer {shown}, loss {loss.name}{logits}, metrics {metric_text}")

    def _compile_parts(self, node: Node, lr: float | None = None):
        from engine import losses, optimizers
        name = node.get("optimizer")
        cls = type(optimizers.get(name))
        kwargs = {}
        rate = lr if lr is not None else node.value("lr")
        if rate is not None:
            kwargs["learning_rate"] = rate
        for option in ("momentum", "nesterov"):
            if node.has(option):
                kwargs[option] = node.value(option)
        for option in ("momentum", "nesterov"):
            if node.has(option) and not _accepts(cls, option):
                users = [n for n in registry.value_set("optimizers") if _accepts(type(optimizers.get(n)), option)]
                raise node.error(f"optimizer {name} has no option {option}", f"{option} works with: {', '.join(users)}",
                                 at=option, key=True)
        try:
            optimizer = cls(**kwargs)
        except (TypeError, ValueError) as exc:
            raise self._engine_error(exc, node) from None
        loss_name = node.get("loss")
        loss = losses.get(loss_name)
        if node.get("from_logits"):
            if isinstance(loss, losses.MeanSquaredError):
                raise node.error("from_logits only applies to the cross-entropy losses", at="from_logits")
            loss = type(loss)(from_logits=True)
        metrics = list(node.get("metrics") or ())
        return optimizer, loss, metrics

    def st_summary(self, node: Node) -> None:
        entry = self._entry(node, "name")
        if not entry.model.built:
            raise node.error(f"model '{entry.name}' is not built yet", "give it an input shape")
        from engine.tools.summary import render_summary
        self.out.raw(render_summary(entry.model))

    # --- backend ---------------------------------------------------------------------------------------
    def st_backend(self, node: Node) -> None:
        name = node.value("backend")
        if name is None:
            start = time.perf_counter()
            rows = []
            for backend, description, reason in engine.backends.describe_backends():
                mark = "*" if backend == self.backend_name else ""
                rows.append((f"{backend}{' ' + mark if mark else ''}", "yes" if reason is None else "no",
                             description if reason is None else f"{description} - {reason}"))
            self.out.table(("backend", "available", "what / why not"), rows, justify=("left", "left", "left"))
            self._done(f"current backend: {self.backend_name}", time.perf_counter() - start)
            return
        start = time.perf_counter()
        with self._engine_errors(node, at="backend"):
            backend = engine.set_backend(name)
        self.backend_name = backend.name
        self._done(f"backend {backend.name}: {backend.description or ''}".rstrip(": "), time.perf_counter() - start)

    # --- train / evaluate / predict ---------------------------------------------------------------------
    def st_train(self, node: Node) -> None:
        entry = self._entry(node)
        data = self._need_data(node)
        self._need_compiled(entry, node)
        epochs = self._epochs(node)
        batch_size = node.get("batch_size")
        split = node.get("validation_split") or 0.0
        validation_data = None
        if node.get("validation_data") == "test":
            if split:
                raise node.error("give either validation_split or validation_data, not both", at="validation_data")
            if not data.has_test():
                raise node.error(f"the {data.name} data has no test part to validate on", at="validation_data")
            validation_data = (data.x_test, data.y_test)
        if node.has("seed"):
            random.set_seed(node.value("seed"))
            self.seed = node.value("seed")
        n = len(data.x_train)
        n_fit = int(math.floor(n * (1 - split))) if split else n
        steps = max(1, math.ceil(max(n_fit, 1) / batch_size))
        progress = self.out.training_progress(epochs, steps)
        model = entry.model
        interrupted = False
        start = time.perf_counter()
        try:
            with self._engine_errors(node), _stop_on_sigint(model) as sigint, progress:
                history = model.fit(data.x_train, data.y_train, epochs=epochs, batch_size=batch_size,
                                    validation_split=split, validation_data=validation_data,
                                    shuffle=node.get("shuffle"), verbose=0,
                                    callbacks=[progress, *self.train_callbacks])
            interrupted = sigint.interrupted
        except KeyboardInterrupt:
            interrupted = True
            history = model.history
        elapsed = time.perf_counter() - start
        finished = len(history.epoch) if history is not None else 0
        if history is not None:
            self._merge_history(entry, history)
        if interrupted:
            where = (f"after epoch {progress.epoch + 1}/{epochs}" if progress.batch >= steps else
                     f"in epoch {progress.epoch + 1}/{epochs} after batch {progress.batch}/{steps}")
            self.out.warning(f"training stopped by Ctrl-C {where}; the model keeps its weights and the history "
                             f"keeps {finished} finished epoch{'s' if finished != 1 else ''}")
        last = {k: v[-1] for k, v in history.history.items()} if history is not None and history.history else {}
        summary = "  ".join(f"{k} {format_number(v)}" for k, v in last.items())
        self._done(f"trained {entry.name}: {finished} epoch{'s' if finished != 1 else ''} of {steps} "
                   f"step{'s' if steps != 1 else ''}"
                   + (f"; {summary}" if summary else ""), elapsed)

    @staticmethod
    def _merge_history(entry: ModelEntry, history) -> None:
        new = len(history.epoch)
        if not new:
            return
        keys = list(dict.fromkeys([*entry.history, *history.history]))
        for key in keys:
            column = entry.history.setdefault(key, [float("nan")] * entry.epochs_trained)
            column.extend(history.history.get(key, [float("nan")] * new))
        entry.epochs_trained += new

    def st_evaluate(self, node: Node) -> None:
        entry = self._entry(node)
        data = self._need_data(node)
        self._need_compiled(entry, node)
        which = node.get("on")
        splits = ["train", "test"] if which == "both" else [which]
        if "test" in splits and not data.has_test():
            if which == "test":
                raise node.error(f"the {data.name} data has no test part", at="on")
            splits.remove("test")
        start = time.perf_counter()
        rows, header = [], None
        for split in splits:
            x, y = data.split(split)
            with self._engine_errors(node):
                logs = entry.model.evaluate(x, y, batch_size=node.get("batch_size"), return_dict=True)
            header = header or list(logs)
            rows.append([split, str(len(x)), *[float(logs[k]) for k in header]])
        self.out.table(["data", "samples", *header], rows)
        self._done(f"evaluated {entry.name}", time.perf_counter() - start)

    def st_predict(self, node: Node) -> None:
        entry = self._entry(node)
        data = self._need_data(node)
        which = node.get("on")
        if which == "test" and not data.has_test():
            which = "train"
        x, y = data.split(which)
        start = time.perf_counter()
        with self._engine_errors(node):
            pred = np.asarray(entry.model.predict(x))
        elapsed = time.perf_counter() - start
        rows = node.get("rows")
        classes = pred.ndim == 2 and pred.shape[1] > 1
        table = []
        for i in range(min(rows, len(pred))):
            target = _label_text(y[i]) if y is not None else ""
            if classes:
                table.append((str(i), str(int(np.argmax(pred[i]))), float(np.max(pred[i])), target))
            else:
                table.append((str(i), _values_text(pred[i]), target))
        columns = ("#", "class", "p", "true") if classes else ("#", "prediction", "target")
        self.out.table(columns, table, title=f"{entry.name} on {which} ({len(pred)} samples, output "
                                             f"{_shape((None, *pred.shape[1:]))})")
        if node.has("to"):
            path = self._output_path(node, "to")
            flat = pred.reshape(len(pred), -1)
            header = ",".join(f"pred_{j}" for j in range(flat.shape[1]))
            with self._engine_errors(node, at="to"):
                path.parent.mkdir(parents=True, exist_ok=True)
                np.savetxt(path, flat, delimiter=",", header=header, comments="", fmt="%.8g")
            self.out.print(f"wrote {len(flat)} predictions to {path}")
        self._done(f"predicted {len(pred)} samples", elapsed)

    # --- extrapolate / grid -------------------------------------------------------------------------------
    def st_extrapolate(self, node: Node) -> None:
        from engine.tools import experiments
        entry = self._entry(node)
        data = self._need_data(node, need_arrays=False)
        if data.series is None:
            raise node.error(f"the {data.name} data is not a series", "use `data energies` or `data csv FILE series=COL`")
        shape = entry.model.input_shape
        series = np.asarray(data.series, dtype=np.float64)
        x = data.series_x if data.series_x is not None else np.arange(len(series))
        if data.format == "standard":
            # x -> y: every unknown point straight from its x value (the lecture's "standard way")
            if node.has("window"):
                raise node.error("the data is in the standard x -> y format: there is no window", at="window")
            if shape is None or int(np.prod([d for d in shape[1:]])) != 1:
                raise node.error(f"model '{entry.name}' takes input {_shape(shape) if shape else '(unknown)'}, but "
                                 "standard-format data gives one x value per sample", "define it with input=(1,1)")
            known = node.value("known") or data.train_points
            if not 1 <= known < len(series):
                raise node.error(f"known={known} must lie between 1 and {len(series) - 1}", at="known")
            how = "directly from its x"
            start = time.perf_counter()
            with self._engine_errors(node):
                inputs = np.asarray(x[known:], dtype=np.float32).reshape((-1, *shape[1:]))
                tail = np.asarray(entry.model.predict(inputs), dtype=np.float64).reshape(-1)
            predicted = np.concatenate([series[:known], tail])
        else:
            if node.has("window"):
                window = node.value("window")
            elif shape is not None and len(shape) == 3 and shape[2] == 1:
                window = shape[1]
            else:
                raise node.error(f"model '{entry.name}' takes input {_shape(shape) if shape else '(unknown)'}, "
                                 "but extrapolate feeds windows shaped (1, window, 1)",
                                 "define the model with input=(window,1), e.g. after `data energies`")
            known = node.value("known") or data.train_points or window
            how = f"from the {window} values before it, predictions fed back"
            start = time.perf_counter()
            with self._engine_errors(node):
                predicted = np.asarray(experiments.extrapolate(entry.model, data.series, known, window),
                                       dtype=np.float64)
        elapsed = time.perf_counter() - start
        mse = float(np.mean((series - predicted) ** 2))
        rows = [(f"{float(x[k]):g}", float(series[k]), float(predicted[k]), float(predicted[k] - series[k]))
                for k in range(known, len(series))]
        if rows:
            self.out.table(("x", "true", "predicted", "error"), rows,
                           title=f"{entry.name}: {len(rows)} points predicted from the {known} known ones "
                                 f"(each {how})")
        self.out.print(f"MSE over all {len(series)} points: {mse:.6g} (the first {known} are known and add no error)")
        self.last_extrapolation = {"model": entry.name, "x": np.asarray(x), "y_true": series, "y_pred": predicted,
                                   "known": known}
        if node.has("csv"):
            path = self._output_path(node, "csv")
            with self._engine_errors(node, at="csv"):
                path.parent.mkdir(parents=True, exist_ok=True)
                np.savetxt(path, np.column_stack([x, series, predicted]), delimiter=",", header="x,true,predicted",
                           comments="", fmt="%.10g")
            self.out.print(f"wrote {path}")
        if node.has("to"):
            self._plot_predictions(node, self._output_path(node, "to"), entry)
        self._done(f"extrapolated {entry.name}", elapsed)

    def st_grid(self, node: Node) -> None:
        from engine.tools import experiments
        entry = self._entry(node)
        data = self._need_data(node)
        self._need_compiled(entry, node)
        if not data.has_test():
            raise node.error(f"the {data.name} data has no test part", "grid reports train and test accuracy")
        metrics = [m.lower() for m in entry.model.metric_names]
        if not metrics or metrics[0] not in ("accuracy", "acc"):
            raise node.error("grid reports accuracy, but the model is not compiled with metrics=accuracy",
                             "compile ... metrics=accuracy")
        etas = list(node.get("lr"))
        lambdas = list(node.get("l2"))
        epochs, batch_size = self._epochs(node), node.get("batch_size")
        compile_node = entry.compile_node
        cells = len(etas) * len(lambdas)
        done = [0]

        def build_model(eta, lmbd):
            model = self._rebuild(entry, l2=lmbd)
            optimizer, loss, metric_names = self._compile_parts(compile_node, lr=eta)
            model.compile(optimizer=optimizer, loss=loss, metrics=metric_names)
            return model

        def on_cell(i, j, train_acc, test_acc):
            done[0] += 1
            self.out.print(f"  [{done[0]}/{cells}] lr={etas[i]:g} l2={lambdas[j]:g}: train accuracy "
                           f"{format_number(train_acc)}, test accuracy {format_number(test_acc)}")

        self.out.print(f"grid {entry.name}: {len(etas)} learning rates x {len(lambdas)} l2 values, {epochs} "
                       f"epoch{'s' if epochs != 1 else ''} of batch {batch_size} each")
        start = time.perf_counter()
        # large learning rates diverge (as in the lecture's grid): NaN/overflow is a result here, not a warning
        with self._engine_errors(node), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            result = experiments.grid_search(build_model, data.x_train, data.y_train, data.x_test, data.y_test,
                                             etas, lambdas, epochs, batch_size, on_cell=on_cell)
        elapsed = time.perf_counter() - start
        result = dict(result)
        result.setdefault("etas", np.asarray(etas))
        result.setdefault("lambdas", np.asarray(lambdas))
        self.last_grid = result
        for key, title in (("train_accuracy", "training accuracy"), ("test_accuracy", "test accuracy")):
            matrix = np.asarray(result[key])
            rows = [(f"{eta:g}", *[float(v) for v in matrix[i]]) for i, eta in enumerate(etas)]
            self.out.table(["lr \\ l2", *[f"{lam:g}" for lam in lambdas]], rows, title=title)
        best = np.unravel_index(np.nanargmax(np.asarray(result["test_accuracy"])), np.shape(result["test_accuracy"])) \
            if np.isfinite(np.asarray(result["test_accuracy"], dtype=float)).any() else None
        if best is not None:
            i, j = best
            self.out.print(f"best test accuracy {format_number(float(result['test_accuracy'][i][j]))} "
                           f"at lr={etas[i]:g}, l2={lambdas[j]:g}")
        if node.has("to"):
            self._plot_grid(node, self._output_path(node, "to"))
        self._done(f"grid of {cells} models", elapsed)

    # --- gan ----------------------------------------------------------------------------------------------
    def st_gan(self, node: Node) -> None:
        from engine.tools import gan
        generator = self._entry(node, "generator")
        discriminator = self._entry(node, "discriminator")
        if generator is discriminator:
            raise node.error("the generator and the discriminator must be two different models", at="discriminator")
        data = self._need_data(node)
        images = data.x_train
        g_in, g_out = generator.model.input_shape, generator.model.output_shape
        d_in, d_out = discriminator.model.input_shape, discriminator.model.output_shape
        if g_in is None or len(g_in) != 2:
            raise node.error(f"generator '{generator.name}' takes input {_shape(g_in)}; it needs noise vectors "
                             "(None, noise)", "start it with input=(100,)", at="generator")
        noise_dim = g_in[1]
        if node.has("noise") and node.value("noise") != noise_dim:
            raise node.error(f"noise={node.value('noise')} but generator '{generator.name}' takes input "
                             f"{_shape(g_in)}", f"use noise={noise_dim} or change the generator's input", at="noise")
        sample = tuple(images.shape[1:])
        if tuple(g_out[1:]) != sample:
            raise node.error(f"generator '{generator.name}' outputs {_shape(g_out)} but the {data.name} images are "
                             f"{_shape((None, *sample))}", "its last layers must produce the image shape",
                             at="generator")
        if d_in is None or tuple(d_in[1:]) != sample:
            raise node.error(f"discriminator '{discriminator.name}' takes input {_shape(d_in)} but the {data.name} "
                             f"images are {_shape((None, *sample))}", at="discriminator")
        if tuple(d_out[1:]) != (1,):
            raise node.error(f"discriminator '{discriminator.name}' outputs {_shape(d_out)}; it must give one logit "
                             "per image, (None, 1)", "end it with `dense 1` (no activation)", at="discriminator")
        epochs, batch_size, lr = self._epochs(node), node.get("batch_size"), node.get("lr")
        steps = max(1, math.ceil(len(images) / batch_size))
        self.out.print(f"gan: generator {generator.name} ({generator.model.count_params():,} params), discriminator "
                       f"{discriminator.name} ({discriminator.model.count_params():,} params); {len(images)} images, "
                       f"{epochs} epoch{'s' if epochs != 1 else ''} of {steps} step{'s' if steps != 1 else ''} "
                       f"(batch {batch_size}, noise {noise_dim}), Adam({lr:g}) each")
        progress = self.out.training_progress(epochs, steps)
        finished = {"gen_loss": [], "disc_loss": []}
        running = np.zeros(2)

        def on_batch(epoch, step, gen_loss, disc_loss):
            if step == 0:
                running[:] = 0.0
            running[:] += (gen_loss, disc_loss)
            logs = {"gen_loss": running[0] / (step + 1), "disc_loss": running[1] / (step + 1)}
            progress.on_batch_end(step, logs)
            if step == steps - 1:
                finished["gen_loss"].append(float(logs["gen_loss"]))
                finished["disc_loss"].append(float(logs["disc_loss"]))
                progress.on_epoch_end(epoch, logs)
                if epoch + 1 < epochs:
                    progress.on_epoch_begin(epoch + 1)

        model = generator.model
        model.stop_training = False
        interrupted = False
        start = time.perf_counter()
        try:
            with self._engine_errors(node), _stop_on_sigint(model) as sigint, progress:
                progress.on_epoch_begin(0)
                gan.train_gan(generator.model, discriminator.model, images, epochs, batch_size=batch_size,
                              noise_dim=noise_dim, learning_rate=lr, on_batch=on_batch,
                              stop=lambda: model.stop_training)
            interrupted = sigint.interrupted
        except KeyboardInterrupt:
            interrupted = True
        finally:
            model.stop_training = False
        elapsed = time.perf_counter() - start
        done = len(finished["gen_loss"])
        record = _EpochRecord(done, finished)
        for entry in (generator, discriminator):
            self._merge_history(entry, record)
        if interrupted:
            self.out.warning(f"gan training stopped by Ctrl-C after {done} finished epoch{'s' if done != 1 else ''}; "
                             "both models keep their weights")
        if node.has("csv") and done:
            path = self._output_path(node, "csv")
            with self._engine_errors(node, at="csv"):
                path.parent.mkdir(parents=True, exist_ok=True)
                table = np.column_stack([np.arange(1, done + 1), finished["gen_loss"], finished["disc_loss"]])
                np.savetxt(path, table, delimiter=",", header="epoch,gen_loss,disc_loss", comments="",
                           fmt=["%d", "%.8g", "%.8g"])
            self.out.print(f"wrote {path}")
        last = (f"; gen_loss {format_number(finished['gen_loss'][-1])}  disc_loss "
                f"{format_number(finished['disc_loss'][-1])}") if done else ""
        self._done(f"trained gan {generator.name}/{discriminator.name}: {done} epoch{'s' if done != 1 else ''} of "
                   f"{steps} step{'s' if steps != 1 else ''}{last}", elapsed)

    # --- demo ---------------------------------------------------------------------------------------------
    def st_demo(self, node: Node) -> None:
        start = time.perf_counter()
        getattr(self, "_demo_" + node.sub)(node)
        self._done(f"demo {node.sub}", time.perf_counter() - start)

    def _demo_polynomial(self, node: Node) -> None:
        from engine.tools import experiments
        a = np.asarray(tuple(node.get("a")), dtype=np.float64)
        b = np.asarray(tuple(node.get("b")), dtype=np.float64)
        c, toeplitz_a = experiments.polynomial_product(a, b)
        _, toeplitz_b = experiments.polynomial_product(b, a)
        self.out.print(f"p(t) = {_polynomial_text(a)}")
        self.out.print(f"s(t) = {_polynomial_text(b)}")
        self.out.print(f"p(t)·s(t) = {_polynomial_text(c)}")
        self.out.print(f"1-D convolution  delta_j = sum_i alpha_i beta_(j-i):  np.convolve(a, b) = {_vector_text(c)}")
        n = len(c)
        rows = [(f"delta_{k}", *[float(v) for v in toeplitz_a[k]], float(b[k]) if k < len(b) else "",
                 float(toeplitz_a[k] @ b)) for k in range(n)]
        self.out.table(["", *[f"col {j}" for j in range(len(b))], "beta", "T·beta"], rows,
                       title=f"Toeplitz matrix T of alpha ({n} x {len(b)}; each column a shifted copy of alpha) "
                             f"times beta")
        by_matrix = toeplitz_a @ b
        swapped = toeplitz_b @ a
        direct = np.array([sum(a[i] * b[k - i] for i in range(len(a)) if 0 <= k - i < len(b)) for k in range(n)])
        error = float(max(np.max(np.abs(by_matrix - c)), np.max(np.abs(swapped - c)), np.max(np.abs(direct - c))))
        verdict = "they agree" if error <= 1e-12 * max(1.0, float(np.max(np.abs(c)))) else "they DISAGREE"
        self.out.print(f"T(alpha)·beta = {_vector_text(by_matrix)}; T(beta)·alpha = {_vector_text(swapped)} "
                       f"(convolution commutes); the double sum gives {_vector_text(direct)}: {verdict} "
                       f"(largest difference {error:.1e})")
        self.out.print(f"cost: the convolution needs {len(a) * len(b)} multiplications; the dense matrix product "
                       f"T(alpha)·beta does {n * len(b)} and T(beta)·alpha {n * len(a)}, most of them with zeros")
        if node.has("to"):
            path = self._output_path(node, "to")
            with self._engine_errors(node, at="to"):
                result = self._plots().plot_signal(None, {"alpha (p)": a, "beta (s)": b, "delta = alpha * beta": c},
                                                   path, title="polynomial product = convolution of coefficients",
                                                   xlabel="power of t", ylabel="coefficient")
            self._wrote(node, result)

    def _demo_filters(self, node: Node) -> None:
        from engine import functional
        from engine.tools import experiments
        data = self.data
        if data is None or data.x_train is None or np.ndim(data.x_train) != 4:
            (x_train, _), (x_test, _) = datasets.digits()
            source = "digits"
            images = {"train": x_train, "test": x_test}
        else:
            source = data.name
            images = {"train": data.x_train, "test": data.x_test if data.has_test() else None}
        which = node.get("on")
        pool = images[which]
        if pool is None:
            raise node.error(f"the {source} data has no test part", at="on")
        index = node.get("index")
        if index >= len(pool):
            raise node.error(f"index {index} is past the {len(pool)} {which} images", at="index")
        image = np.asarray(pool[index], dtype=np.float64)
        image = image.mean(axis=-1) if image.shape[-1] > 1 else image[..., 0]     # colour -> gray
        names = list(node.get("filters") or experiments.EDGE_FILTERS)
        padding = node.get("padding")
        filters = [experiments.EDGE_FILTERS[name] for name in names]
        self.out.print(f"{source} {which} image {index}: {image.shape[0]}x{image.shape[1]}, values "
                       f"{image.min():g} to {image.max():g}")
        responses = [experiments.cross_correlate2d(image, f.kernel, padding) for f in filters]
        rows = []
        for name, f, r in zip(names, filters, responses):
            kernel = _kernel_text(f.kernel)
            rows.append((name, kernel, float(r.min()), float(r.max())))
        self.out.table(("filter", "kernel (rows)", "response min", "max"), rows,
                       title=f"S(i,j) = sum_m sum_n I(i+m, j+n) K(m,n) (cross-correlation, padding {padding}, "
                             f"responses {_formula_shape(responses)})")
        for name, f in zip(names, filters):
            self.out.note(f"  {name}: {f.description}")
        kernels = np.stack([f.kernel for f in filters], axis=-1)[:, :, None, :]          # (3, 3, 1, F)
        with self._engine_errors(node):
            x = engine.tensor(image[None, :, :, None])
            out = functional.conv2d(x, engine.tensor(kernels), padding=padding).numpy()[0]
        formula = np.stack(responses, axis=-1)
        error = float(np.max(np.abs(out - formula)))
        scale = max(1.0, float(np.max(np.abs(formula))))
        verdict = "they agree" if error <= 1e-9 * scale else "they DISAGREE"
        self.out.print(f"the engine's conv2d ({self.backend_name} backend) with these {len(names)} filters as one "
                       f"(3, 3, 1, {len(names)}) kernel gives the same maps: {verdict} (largest difference {error:.1e})")
        if node.has("to"):
            path = self._output_path(node, "to")
            shown = image
            label = f"{source} image {index}"
            if shown.shape != formula.shape[:2]:           # valid padding: crop the image to the response size
                dh, dw = (shown.shape[0] - formula.shape[0]) // 2, (shown.shape[1] - formula.shape[1]) // 2
                shown = shown[dh:dh + formula.shape[0], dw:dw + formula.shape[1]]
                label += " (cropped)"
            maps = np.concatenate([shown[:, :, None], formula], axis=-1)
            kernel_path = path.with_name(f"{path.stem}_kernels{path.suffix or '.png'}")
            with self._engine_errors(node, at="to"):
                result = self._plots().plot_feature_maps(maps, path, labels=[label, *names],
                                                         title=f"hand-made 3x3 filters on {source} image {index} "
                                                               f"(padding {padding})")
                kernels_result = self._plots().plot_filters(kernels, kernel_path, labels=names,
                                                            title="hand-made filters")
            self._wrote(node, result)
            self._wrote(node, kernels_result)

    # --- plot -------------------------------------------------------------------------------------------
    def st_plot(self, node: Node) -> None:
        start = time.perf_counter()
        owner = node.value("model") if registry.find_option(node.form, "model") is not None else None
        default = f"{owner or self.current or 'nnlab'}_{node.sub}.png"
        path = self._output_path(node, "to", default=default)
        paths = getattr(self, "_plot_" + node.sub)(node, path)
        self._done(f"plot {node.sub}", time.perf_counter() - start)
        return paths

    def _plots(self):
        from engine.tools import plots
        return plots

    def _wrote(self, node: Node, result) -> None:
        self.out.print(f"wrote {result}")

    def _plot_history(self, node: Node, path: Path) -> None:
        entry = self._entry(node)
        if not entry.history:
            raise node.error(f"model '{entry.name}' has not been trained yet", "train epochs=... first")
        with self._engine_errors(node, at="to"):
            result = self._plots().plot_history(entry.history, path, title=node.value("title")
                                                or f"{entry.name}: training history")
        self._wrote(node, result)

    def _plot_predictions(self, node: Node, path: Path, entry: ModelEntry | None = None) -> None:
        entry = entry or self._entry(node)
        ex = self.last_extrapolation
        if ex is not None and ex["model"] == entry.name:
            x, y_true, y_pred = ex["x"], ex["y_true"], ex["y_pred"]
            region = (float(x[0]), float(x[ex["known"] - 1]))
        else:
            data = self._need_data(node)
            with self._engine_errors(node):
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
        title = node.value("title")
        with self._engine_errors(node, at="to"):
            result = self._plots().plot_series_prediction(x, y_true, y_pred, region, path,
                                                          title=title or f"{entry.name}: true and predicted")
        self._wrote(node, result)

    def _plot_grid(self, node: Node, path: Path) -> None:
        grid = self.last_grid
        if grid is None:
            raise node.error("there is no grid result yet", "run `grid lr=... l2=... epochs=...` first")
        plots = self._plots()
        for key, title in (("train_accuracy", "Training Accuracy"), ("test_accuracy", "Test Accuracy")):
            target = path.with_name(f"{path.stem}_{key.split('_')[0]}{path.suffix or '.png'}")
            with self._engine_errors(node, at="to"):
                result = plots.plot_heatmap(np.asarray(grid[key]), list(grid["etas"]), list(grid["lambdas"]), target,
                                            title, "$\\eta$", "$\\lambda$")
            self._wrote(node, result)

    def _plot_images(self, node: Node, path: Path) -> None:
        data = self._need_data(node)
        which = node.get("on")
        if which == "test" and not data.has_test():
            raise node.error(f"the {data.name} data has no test part", at="on")
        x, y = data.split(which)
        if x.ndim != 4:
            raise node.error(f"the {data.name} data are not images (shape {_shape((None, *x.shape[1:]))})")
        count = min(node.get("count"), len(x))
        labels = [_label_text(label) for label in y[:count]] if y is not None else None
        with self._engine_errors(node, at="to"):
            result = self._plots().plot_image_grid(x[:count], path, labels=labels,
                                                   title=f"{data.name}: {count} {which} images")
        self._wrote(node, result)

    def _conv_layer(self, node: Node, entry: ModelEntry):
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

    def _plot_filters(self, node: Node, path: Path) -> None:
        entry = self._entry(node)
        _, layer = self._conv_layer(node, entry)
        kernel = getattr(layer, "kernel", None)
        if kernel is None or np.ndim(kernel.numpy()) != 4:
            raise node.error(f"layer '{layer.name}' has no convolution kernel", at="layer")
        with self._engine_errors(node, at="to"):
            result = self._plots().plot_filters(kernel.numpy(), path,
                                                title=f"{entry.name}/{layer.name}: {kernel.shape[-1]} filters")
        self._wrote(node, result)

    def _plot_featuremaps(self, node: Node, path: Path) -> None:
        entry = self._entry(node)
        data = self._need_data(node)
        index, layer = self._conv_layer(node, entry)
        which = node.get("on")
        if which == "test" and not data.has_test():
            which = "train"
        x, _ = data.split(which)
        sample = node.get("index")
        if sample >= len(x):
            raise node.error(f"index {sample} is past the {len(x)} {which} samples", at="index")
        with self._engine_errors(node):
            inputs = entry.model.prepare_inputs(x[sample:sample + 1])
            maps = entry.model.forward(inputs, training=False, until=index + 1).numpy()[0]
        if maps.ndim != 3:
            raise node.error(f"layer '{layer.name}' outputs {_shape((None, *maps.shape))}, not feature maps (H, W, C)",
                             at="layer" if node.has("layer") else None)
        with self._engine_errors(node, at="to"):
            result = self._plots().plot_feature_maps(maps, path, title=f"{entry.name}/{layer.name}: {which} "
                                                                       f"sample {sample}")
        self._wrote(node, result)

    def _plot_samples(self, node: Node, path: Path) -> None:
        entry = self._entry(node)
        shape = entry.model.input_shape
        if shape is None or len(shape) != 2:
            raise node.error(f"model '{entry.name}' takes input {_shape(shape)}, not noise vectors (None, noise)",
                             "plot samples draws a generator's images; name it with model=NAME", at="model"
                             if node.has("model") else None)
        noise_dim, count = shape[1], node.get("count")
        rng = np.random.default_rng(node.get("seed"))
        if node.has("means") or node.has("stds"):
            # the lecture's generate_latent_points (engine.tools.gan), drawn from this statement's own seed
            m = np.linspace(-1, 1, noise_dim)
            means, stds = node.value("means", 1.0), node.value("stds", 1.0)
            noise = rng.normal(means * m, np.abs(stds * m), size=(count, noise_dim))
            what = f"latent points N({means:g}·m, ({stds:g}·m)^2), m = linspace(-1, 1, {noise_dim})"
        else:
            noise = rng.standard_normal((count, noise_dim))
            what = f"noise N(0, 1), seed {node.get('seed')}"
        with self._engine_errors(node):
            images = np.asarray(entry.model.predict(noise.astype(np.float32)))
        if images.ndim != 4 or images.shape[-1] not in (1, 3):
            raise node.error(f"model '{entry.name}' outputs {_shape((None, *images.shape[1:]))}, not images "
                             "(H, W, 1) or (H, W, 3)")
        lo, hi = float(np.nanmin(images)), float(np.nanmax(images))
        if lo >= -1.0 and hi <= 1.0:                # tanh output: show it as the lecture does, x*127.5 + 127.5
            images = np.clip(images * 0.5 + 0.5, 0.0, 1.0)
        trained = f"after {entry.epochs_trained} epoch{'s' if entry.epochs_trained != 1 else ''}"
        with self._engine_errors(node, at="to"):
            result = self._plots().plot_image_grid(images, path, title=node.value("title")
                                                   or f"{entry.name}: {count} samples {trained}")
        self.out.print(f"{count} images from {what}")
        self._wrote(node, result)

    # --- save / load / run / set ------------------------------------------------------------------------
    def st_save(self, node: Node) -> None:
        if node.sub == "session":
            path = self._path(node, "file")
            with self._engine_errors(node, at="file"):
                written = self.save_session(path)
            self.out.print(f"saved {len(self.transcript)} statements to {written}")
            return
        entry = self._entry(node)
        path = self._path(node, "file")
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        start = time.perf_counter()
        with self._engine_errors(node, at="file"):
            path.parent.mkdir(parents=True, exist_ok=True)
            entry.model.save_weights(path)
        self._done(f"saved {len(entry.model.weights)} weight arrays ({entry.model.count_params():,} params) of "
                   f"{entry.name} to {path}", time.perf_counter() - start)

    def st_load(self, node: Node) -> None:
        entry = self._entry(node)
        path = self._path(node, "file", must_exist=True)
        start = time.perf_counter()
        try:
            entry.model.load_weights(path)
        except ModelError as exc:
            raise node.error(str(exc), "the file holds the weights of a different model (`summary` shows this "
                             "one's shapes)", at="file") from None
        except (ValueError, OSError) as exc:
            raise self._engine_error(exc, node, at="file") from None
        self._done(f"loaded {len(entry.model.weights)} weight arrays into {entry.name} from {path}",
                   time.perf_counter() - start)

    def st_run(self, node: Node) -> None:
        path = self._path(node, "file", must_exist=True)
        if path.is_dir():
            raise node.error(f"{path} is a folder, not a script", at="file")
        if self._depth >= MAX_RUN_DEPTH:
            raise node.error(f"scripts run each other more than {MAX_RUN_DEPTH} deep", "does a script run itself?",
                             at="file")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise node.error(f"cannot read {path}: {exc}", at="file") from None
        program = parse(text, str(node.value("file")))
        self._depth += 1
        try:
            for item in program:
                self._execute_item(item)
        finally:
            self._depth -= 1

    def st_set(self, node: Node) -> None:
        if node.sub == "out":
            folder = Path(os.path.expanduser(str(node.value("folder"))))
            if folder.exists() and not folder.is_dir():
                raise node.error(f"{folder} is a file, not a folder", at="folder")
            self.out_dir = folder
            self.out.print(f"output folder: {folder} (plots and CSV files with a relative path go there)")
            return
        value = node.value("value")
        random.set_seed(value)
        self.seed = value
        self.out.print(f"seed {value}")

    # --- help / layers / quit ------------------------------------------------------------------------------
    def st_help(self, node: Node) -> None:
        topic = node.value("topic")
        if topic is None:
            self._help_overview()
            return
        word = topic.lower()
        stmt = registry.find_statement(word)
        layer = registry.find_layer(word)
        if stmt is not None:
            self._help_statement(stmt)
        elif layer is not None:
            self._help_layer(layer)
        elif word == "language":
            from shell.language import GRAMMAR
            self.out.raw(GRAMMAR)
        elif word in registry.BLOCK_KEYWORDS:
            self.out.print(f"{word}: {registry.BLOCK_KEYWORDS[word]} (inside `model NAME ... end`)")
        elif word in registry.VALUE_SETS:
            self.out.print(f"{word}: {', '.join(registry.value_set(word))}")
        else:
            for name in registry.VALUE_SETS:
                if name not in ("topics", "layers") and word in registry.value_set(name):
                    self.out.print(f"{word} is one of the {name}: {', '.join(registry.value_set(name))}")
                    break

    def _help_overview(self) -> None:
        rows = [(s.name + (f" ({', '.join(s.aliases)})" if s.aliases else ""), s.help) for s in registry.STATEMENTS]
        self.out.table(("statement", "what it does"), rows, justify=("left", "left"))
        self.out.print("Inside `model NAME ... end`: one layer per line (`layers` lists them), `end` closes the block.")
        self.out.print("`help TOPIC` for a statement, a layer, a value set (activations, optimizers, losses, "
                       "metrics, backends) or `language`.")

    def _options_table(self, options) -> None:
        rows = []
        for opt in options:
            names = opt.name + (f" ({', '.join(opt.aliases)})" if opt.aliases else "")
            kind = opt.placeholder if opt.kind != "choice" else "|".join(opt.choices)
            check = f"; {opt.check.describe}" if opt.check is not None else ""
            rows.append((names + (" *" if opt.positional else ""), kind, opt.describe_default(), opt.help + check))
        if rows:
            self.out.table(("option", "value", "default", "meaning"), rows, justify=("left", "left", "left", "left"))
            if any(opt.positional for opt in options):
                self.out.note("* may be written without its name, in this order")

    def _help_statement(self, stmt: registry.Command) -> None:
        self.out.heading(f"{stmt.name}: {stmt.help}")
        if stmt.details:
            self.out.print(stmt.details)
        forms = stmt.subcommands or (stmt,)
        for form in forms:
            self.out.print(f"usage: {form.usage()}")
            if stmt.subcommands:
                self.out.print(f"  {form.help}")
            self._options_table(form.options)
            if stmt.subcommands and form.example:
                self.out.print(f"example: {form.example}")
        if not stmt.subcommands and stmt.example:
            self.out.print("example:")
            for line in stmt.example.splitlines():
                self.out.print("    " + line)

    def _help_layer(self, spec: registry.LayerSpec) -> None:
        self.out.heading(f"{spec.name} ({spec.keras}): {spec.help}")
        self.out.print(f"usage: {spec.usage()}")
        if spec.shape_rule:
            self.out.print(f"shape: {spec.shape_rule}")
        self._options_table(spec.options)
        self.out.print(f"example (input {_shape((None, *spec.example_input))}): {spec.example}")

    def st_layers(self, node: Node) -> None:
        name = node.value("layer")
        if name is not None:
            self._help_layer(registry.find_layer(name))
            return
        rows = [(spec.name, spec.keras, spec.usage().split(" ", 1)[1] if " " in spec.usage() else "")
                for spec in registry.LAYERS]
        self.out.table(("layer", "engine class", "options"), rows, justify=("left", "left", "left"))
        self.out.note("`layers NAME` or `help NAME` for one layer's options, shape rule and an example")

    def st_quit(self, node: Node) -> None:
        raise _Stop()


# --------------------------------------------------------------------------------------------------
# Module helpers
# --------------------------------------------------------------------------------------------------

class _SigintState:
    interrupted = False


@contextlib.contextmanager
def _stop_on_sigint(model):
    """While training: the first Ctrl-C sets model.stop_training (training ends after the current batch);
    a second one raises KeyboardInterrupt at once. Only in the main thread."""
    state = _SigintState()
    if threading.current_thread() is not threading.main_thread():
        yield state
        return

    def handler(signum, frame):
        if state.interrupted:
            raise KeyboardInterrupt
        state.interrupted = True
        model.stop_training = True

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except (ValueError, OSError):  # pragma: no cover - no signals here
        yield state
        return
    try:
        yield state
    finally:
        signal.signal(signal.SIGINT, previous)


def _shape(shape) -> str:
    if shape is None:
        return "(unknown)"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _shape_hint(model) -> str:
    if model.layers:
        last = model.layers[-1]
        return f"the previous layer '{last.name}' outputs {_shape(last.output_shape)}"
    if model.input_layer is not None:
        return f"the model's input is {_shape(model.input_layer.output_shape)}"
    return "check the input shape"


def _accepts(cls, keyword: str) -> bool:
    import inspect
    return keyword in inspect.signature(cls.__init__).parameters


_ENGINE_WORDS = {"kernel_size": "kernel", "pool_size": "pool", "dilation_rate": "dilation", "target_shape": "shape",
                 "learning_rate": "lr", "negative_slope": "slope", "train_fraction": "train", "train_size": "train",
                 "length_of_sequence": "window"}


def _option_named_in(message: str, node: Node) -> str | None:
    """The option of `node` whose name (or engine keyword) the message mentions."""
    lowered = message.lower()
    for engine_word, option in _ENGINE_WORDS.items():
        if engine_word in lowered and option in node.args:
            return option
    for name in node.args:
        if len(name) > 1 and (f"`{name}`" in lowered or f" {name} " in f" {lowered} " or f"{name}=" in lowered
                              or f"{name}:" in lowered):
            return name
    return None


def _nearby_files(path: Path) -> str:
    folder = path.parent if str(path.parent) else Path(".")
    try:
        names = [p.name for p in folder.iterdir()] if folder.is_dir() else []
    except OSError:
        names = []
    best = closest(path.name, names, n=1, cutoff=0.5)
    if best:
        shown = (folder / best[0]) if str(path.parent) not in ("", ".") else Path(best[0])
        return f"did you mean '{shown}'?"
    if not folder.is_dir():
        return f"the folder {folder} does not exist"
    return f"check the path (relative paths start at {Path.cwd()})"


def _describe_data(data: Data) -> str:
    parts = []
    if data.x_train is not None:
        parts.append(f"{len(data.x_train)} train" + (f", {len(data.x_test)} test" if data.has_test() else "")
                     + f"; x {_shape((None, *data.x_train.shape[1:]))}"
                     + f", y {_shape((None, *np.shape(data.y_train)[1:]))}")
    elif data.series is not None:
        parts.append(f"a series of {len(data.series)} values")
    if data.note:
        parts.append(data.note)
    return "; ".join(parts)


def _scale_images(images: np.ndarray, scale: str) -> np.ndarray:
    images = images.astype(np.float32)
    if scale == "unit":
        return images / 255.0
    if scale == "symmetric":
        return (images - 127.5) / 127.5
    return images


def _read_csv(path: Path):
    """(column names, float table) from a CSV file with an optional header line; DataError on bad rows."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1)
             if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise DataError(f"{path} is empty")
    first = [f.strip() for f in lines[0][1].split(",")]

    def is_number(field_text):
        try:
            float(field_text)
            return True
        except ValueError:
            return False

    header = not all(is_number(f) for f in first)
    names = first if header else [str(i) for i in range(len(first))]
    rows = []
    for number, line in (lines[1:] if header else lines):
        fields = line.split(",")
        if len(fields) != len(names):
            raise DataError(f"{path}, line {number}: expected {len(names)} values, got {len(fields)}")
        try:
            rows.append([float(f) for f in fields])
        except ValueError:
            raise DataError(f"{path}, line {number}: not all numbers: {line.strip()!r}") from None
    if not rows:
        raise DataError(f"{path} has a header but no data rows")
    return names, np.array(rows, dtype=np.float64)


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


def _label_text(label) -> str:
    label = np.asarray(label)
    if label.ndim == 1 and label.size > 1:
        return str(int(np.argmax(label)))
    value = label.reshape(-1)[0] if label.size else ""
    if isinstance(value, (np.integer, int)):
        return str(int(value))
    return format_number(float(value))


def _values_text(row) -> str:
    row = np.asarray(row).reshape(-1)
    text = ", ".join(format_number(float(v)) for v in row[:4])
    return text + (", ..." if row.size > 4 else "")


class _EpochRecord:
    """Per-epoch values in the shape of an engine History (for _merge_history)."""

    def __init__(self, epochs: int, history: dict):
        self.epoch = list(range(epochs))
        self.history = {k: list(v) for k, v in history.items()}


def _polynomial_text(coefficients) -> str:
    terms = []
    for power, c in enumerate(coefficients):
        if c == 0 and len(coefficients) > 1:
            continue
        value = f"{c:g}"
        terms.append(value if power == 0 else f"{value} t" if power == 1 else f"{value} t^{power}")
    return " + ".join(terms).replace("+ -", "- ") or "0"


def _kernel_text(kernel) -> str:
    """A small kernel row by row ('-1 0 1 / -2 0 2 / ...'); a constant one as 'all 1/9'."""
    k = np.asarray(kernel, dtype=np.float64)
    first = float(k.flat[0])
    if np.allclose(k, first) and first != 0:
        inverse = 1.0 / first
        return f"all 1/{inverse:.0f}" if abs(inverse - round(inverse)) < 1e-9 else f"all {first:.3g}"
    return " / ".join(" ".join(f"{v:.3g}" for v in row) for row in k)


def _formula_shape(maps) -> str:
    return f"{maps[0].shape[0]}x{maps[0].shape[1]}" if maps else "none"


def _vector_text(values) -> str:
    return "[" + ", ".join(f"{v:g}" for v in np.asarray(values, dtype=np.float64)) + "]"


# A check that every statement has a handler (used by the tests).
def handler_names() -> list[str]:
    return [name[3:] for name in dir(Session) if name.startswith("st_")]
