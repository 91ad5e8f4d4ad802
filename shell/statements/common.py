"""What the statement handlers share: engine errors as positioned NNErrors, file options, label text."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np

from engine.backends import BackendUnavailable
from engine.datasets import DataError
from engine.download import DownloadError
from engine.layers import ShapeError
from engine.models import ModelError
from shell.errors import NNError, closest
from shell.language.parser import Node
from shell.output import format_number
from shell.state import ModelEntry

#: engine keywords that name a `.nn` option in engine messages
_ENGINE_WORDS = {"kernel_size": "kernel", "pool_size": "pool", "dilation_rate": "dilation", "target_shape": "shape",
                 "learning_rate": "lr", "negative_slope": "slope", "train_fraction": "train", "train_size": "train",
                 "length_of_sequence": "window"}


def engine_error(exc: BaseException, node: Node, at: str | None = None) -> NNError:
    """An engine exception as an NNError at the option it names (or at `at`, or the statement)."""
    message = os_error_message(exc) if isinstance(exc, OSError) else str(exc).strip() or type(exc).__name__
    if at is None:
        at = _option_named_in(message, node)
    if at is None and isinstance(exc, (DataError, OSError)) and "path" in node.args:
        at = "path"
    hint = None
    if isinstance(exc, BackendUnavailable):
        hint = "`backend` lists the backends that run here"
    elif isinstance(exc, ShapeError):
        hint = "`summary` shows the model's shapes; `data` printed the data's"
    elif isinstance(exc, DownloadError):
        hint = "`help data` shows mirror= and download=; NNLAB_DATA sets the data folder"
    elif isinstance(exc, DataError):
        hint = "check the file and its format (help data)"
    elif isinstance(exc, ModelError) and "compile" in message:
        hint = "compile optimizer=... loss=... first"
    elif isinstance(exc, FileNotFoundError):
        hint = "create the folder first or give another path (relative paths go into the output folder: `set out`)"
    elif isinstance(exc, OSError):
        hint = "check the path and the permissions"
    if hint is None and node.spec is not None:
        hint = f"`help {node.spec.name}` shows the options" if node.kind == "statement" else \
            f"`layers {node.spec.name}` shows the options"
    return node.error(message, hint, at=at)


def os_error_message(exc: OSError) -> str:
    """A sentence for a file error instead of "[Errno 2] No such file or directory: 'x'"."""
    reason = (exc.strerror or str(exc)).lower()
    if not exc.filename:
        return reason
    path = Path(os.fsdecode(exc.filename))
    if isinstance(exc, FileNotFoundError):
        folder = next((parent for parent in reversed(path.parents) if not parent.exists()), None)
        return (f"the folder {folder} does not exist (needed for {path})" if folder is not None else
                f"{path} does not exist")
    if isinstance(exc, IsADirectoryError):
        return f"{path} is a folder, not a file"
    if isinstance(exc, PermissionError):
        return f"not allowed to use {path} (permission denied)"
    return f"{path}: {reason}"


@contextlib.contextmanager
def engine_errors(node: Node, at: str | None = None):
    """Engine errors raised inside become NNErrors at `node` (see engine_error)."""
    try:
        yield
    except NNError:
        raise
    except (ShapeError, ModelError, DataError, BackendUnavailable, ValueError, OSError) as exc:
        raise engine_error(exc, node, at) from None


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


def input_path(node: Node, option: str, must_exist: bool = False) -> Path:
    """A file nnlab reads (or a script, a weights file): relative to the working folder."""
    raw = node.value(option)
    path = Path(os.path.expanduser(str(raw)))
    if must_exist and not path.exists():
        raise node.error(f"file not found: {raw}", _nearby_files(path), at=option)
    return path


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


def need_compiled(entry: ModelEntry, node: Node) -> None:
    if not entry.compiled:
        raise node.error(f"model '{entry.name}' is not compiled",
                         "compile it first, e.g. `compile optimizer=sgd lr=0.01 loss=categorical_crossentropy "
                         "metrics=accuracy`")


def label_text(label) -> str:
    """A target as a table shows it: the class of a one-hot row, an integer label, or a number."""
    label = np.asarray(label)
    if label.ndim == 1 and label.size > 1:
        return str(int(np.argmax(label)))
    value = label.reshape(-1)[0] if label.size else ""
    if isinstance(value, (np.integer, int)):
        return str(int(value))
    return format_number(float(value))
