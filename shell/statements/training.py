"""`train`, `evaluate` and `predict`; Ctrl-C while training (`interrupts`, also used by `gan`)."""
from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from typing import TYPE_CHECKING

import numpy as np

from engine import random
from engine.files import FileError
from engine.models import TrainingDiverged
from engine.training import Callback
from shell import writing
from shell.language.parser import Node
from shell.output import format_number, format_shape
from shell.statements.common import engine_errors, input_path, label_text, need_compiled

if TYPE_CHECKING:
    from shell.interpreter import Session


# --- Ctrl-C --------------------------------------------------------------------------------------------

class Interrupts:
    """What Ctrl-C did while training: `interrupted` after the first one."""
    interrupted = False


@contextlib.contextmanager
def interrupts():
    """While training: the first Ctrl-C sets `interrupted` (the training loop stops after the current batch);
    a second one raises KeyboardInterrupt at once. Only in the main thread."""
    state = Interrupts()
    if threading.current_thread() is not threading.main_thread():
        yield state
        return

    def handler(signum, frame):
        if state.interrupted:
            raise KeyboardInterrupt
        state.interrupted = True

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except (ValueError, OSError):  # pragma: no cover - no signals here
        yield state
        return
    try:
        yield state
    finally:
        signal.signal(signal.SIGINT, previous)


class StopOnInterrupt(Callback):
    """Sets `model.stop_training` once Ctrl-C came: at the start (fit() clears the flag, so a Ctrl-C that
    came just before is not lost) and after each batch and epoch. It goes last among the callbacks, so a
    Ctrl-C that came during another callback's hook still stops after that batch."""

    def __init__(self, state: Interrupts):
        self.state = state

    def _check(self) -> None:
        if self.state.interrupted:
            self.model.stop_training = True

    def on_train_begin(self, logs=None):
        self._check()

    def on_batch_end(self, batch, logs=None):
        self._check()

    def on_epoch_end(self, epoch, logs=None):
        self._check()


# --- train ---------------------------------------------------------------------------------------------

def st_train(session: Session, node: Node) -> None:
    entry = session.entry(node)
    data = session.need_data(node)
    need_compiled(entry, node)
    epochs = session.epochs(node)
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
        session.seed = node.value("seed")
    checkpoint = writing.target(session, node, "checkpoint") if node.has("checkpoint") else None
    resume = input_path(node, "resume", must_exist=True) if node.has("resume") else None
    n = len(data.x_train)
    n_fit = int(math.floor(n * (1 - split))) if split else n
    steps = max(1, math.ceil(max(n_fit, 1) / batch_size))
    progress = session.out.training_progress(epochs, steps)
    model = entry.model
    interrupted, diverged = False, None
    start = time.perf_counter()
    try:
        with engine_errors(node), interrupts() as state, progress:
            try:
                history = model.fit(data.x_train, data.y_train, epochs=epochs, batch_size=batch_size,
                                    validation_split=split, validation_data=validation_data,
                                    shuffle=node.get("shuffle"), verbose=0,
                                    callbacks=[progress, *session.train_callbacks, StopOnInterrupt(state)],
                                    checkpoint=checkpoint, resume=resume)
            except TrainingDiverged as exc:
                diverged, history = exc, exc.history
            except FileError as exc:
                raise node.error(str(exc), "give a checkpoint written by `train ... checkpoint=FILE`; nothing "
                                 "was changed", at="resume" if resume is not None else "checkpoint") from None
        interrupted = state.interrupted
    except KeyboardInterrupt:
        interrupted = True
        history = model.history
    finally:
        if progress.epoch or progress.batch:
            entry.unsaved = True
        if checkpoint is not None and checkpoint.exists():
            writing.wrote(session, checkpoint)
    elapsed = time.perf_counter() - start
    finished = len(history.epoch) if history is not None else 0
    if history is not None:
        # a resumed run's history starts with the checkpoint's epochs: new to a fresh session, not to this one
        known = history.params.get("initial_epoch", 0) if entry.epochs_trained else 0
        entry.add_history(finished - known, {k: v[known:] for k, v in history.history.items()})
    if diverged is not None:
        raise node.error(str(diverged), "lower lr (compile ... lr=...), or check the data for very large values")
    if interrupted:
        where = (f"after epoch {progress.epoch + 1}/{epochs}" if progress.batch >= steps else
                 f"in epoch {progress.epoch + 1}/{epochs} after batch {progress.batch}/{steps}")
        session.out.warning(f"training stopped by Ctrl-C {where}; the model keeps its weights and the history "
                            f"keeps {finished} finished epoch{'s' if finished != 1 else ''}")
        writing.record_stopped(session, node, finished, where, unfinished_batches=progress.batch < steps)
        if session.in_script:
            raise KeyboardInterrupt(f"in epoch {progress.epoch + 1}/{epochs} after batch {progress.batch}/{steps}")
    last = {k: v[-1] for k, v in history.history.items()} if history is not None and history.history else {}
    summary = "  ".join(f"{k} {format_number(v)}" for k, v in last.items())
    session.done(f"trained {entry.name}: {finished} epoch{'s' if finished != 1 else ''} of {steps} "
                 f"step{'s' if steps != 1 else ''}" + (f"; {summary}" if summary else ""), elapsed)


# --- evaluate / predict --------------------------------------------------------------------------------

def st_evaluate(session: Session, node: Node) -> None:
    entry = session.entry(node)
    data = session.need_data(node)
    need_compiled(entry, node)
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
        with engine_errors(node):
            logs = entry.model.evaluate(x, y, batch_size=node.get("batch_size"), return_dict=True)
        header = header or list(logs)
        rows.append([split, str(len(x)), *[float(logs[k]) for k in header]])
    session.out.table(["data", "samples", *header], rows)
    session.done(f"evaluated {entry.name}", time.perf_counter() - start)


def st_predict(session: Session, node: Node) -> None:
    entry = session.entry(node)
    data = session.need_data(node)
    which = node.get("on")
    if which == "test" and not data.has_test():
        which = "train"
    x, y = data.split(which)
    start = time.perf_counter()
    with engine_errors(node):
        pred = np.asarray(entry.model.predict(x))
    elapsed = time.perf_counter() - start
    rows = node.get("rows")
    classes = pred.ndim == 2 and pred.shape[1] > 1
    table = []
    for i in range(min(rows, len(pred))):
        target = label_text(y[i]) if y is not None else ""
        if classes:
            table.append((str(i), str(int(np.argmax(pred[i]))), float(np.max(pred[i])), target))
        else:
            table.append((str(i), _values_text(pred[i]), target))
    columns = ("#", "class", "p", "true") if classes else ("#", "prediction", "target")
    session.out.table(columns, table, title=f"{entry.name} on {which} ({len(pred)} samples, output "
                                            f"{format_shape((None, *pred.shape[1:]))})")
    if node.has("to"):
        flat = pred.reshape(len(pred), -1)
        path = writing.write_table(session, node, "to", flat, [f"pred_{j}" for j in range(flat.shape[1])], "%.8g")
        session.out.print(f"wrote {len(flat)} predictions to {path}")
    session.done(f"predicted {len(pred)} samples", elapsed)


def _values_text(row) -> str:
    row = np.asarray(row).reshape(-1)
    text = ", ".join(format_number(float(v)) for v in row[:4])
    return text + (", ..." if row.size > 4 else "")
