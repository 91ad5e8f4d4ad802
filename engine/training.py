"""fit / evaluate / predict with Keras 3's semantics (keras/src/trainers/trainer.py).

- batch_size None means 32; the last batch may be smaller.
- validation_split takes the *last* floor-complement of the samples, before any shuffling.
- the epoch's `loss` is the batch-size-weighted mean of each batch's total loss (data loss + penalties),
  taken before that batch's update; `val_*` are computed at the end of the epoch with training=False.
- Interrupting (Ctrl-C) or a failing batch keeps the model and the history of every finished epoch.

Beyond Keras:
- `checkpoint=FILE` writes, after every epoch and atomically, what `resume=FILE` needs to go on exactly
  where the run was (weights, optimizer slots and step count, random states, history): for the same
  seed, backend and thread count the losses after resuming are those of the uninterrupted run.
- A loss that becomes NaN or infinite stops training (TrainingDiverged, naming the epoch and batch) and
  puts back the last finite weights and optimizer state; `model.stop_on_divergence = False` trains on
  as Keras does (the lecture's grid search, where diverging cells are part of the result).
- The data are checked first (real, finite, labels in the class range), and NumPy's floating-point
  warnings are silenced inside fit/evaluate/predict: non-finite results are reported, not warned about.
"""
from __future__ import annotations

import math
import sys
import time

import numpy as np

from engine import datachecks, random, resources
from engine.backends import array_module


class History:
    """What `fit` returns: `history[key]` is a list with one value per finished epoch."""

    def __init__(self):
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.params: dict = {}
        self.stopped_early = False

    def record(self, epoch: int, logs: dict) -> None:
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def __repr__(self):
        return f"<History epochs={len(self.epoch)} keys={list(self.history)}>"


class Callback:
    """Hooks called during fit; `self.model` is set before training starts."""

    model = None

    def on_train_begin(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_batch_end(self, batch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_train_end(self, logs=None): pass


class ProgressLogger(Callback):
    """Keras-style lines: `Epoch 3/10 - 15 steps - 0.05s - loss: 0.1234 - accuracy: 0.9512`."""

    def __init__(self, epochs: int, steps: int, stream=None):
        self.epochs, self.steps, self.stream = epochs, steps, stream or sys.stdout

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        values = " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())
        elapsed = time.perf_counter() - self.start
        print(f"Epoch {epoch + 1}/{self.epochs} - {self.steps} steps - {elapsed:.2f}s - {values}", file=self.stream)


def batches(n: int, batch_size: int, order=None):
    """Slices (or index arrays, when `order` is a permutation) covering n samples in batch_size pieces."""
    for start in range(0, n, batch_size):
        yield slice(start, start + batch_size) if order is None else order[start:start + batch_size]


def resolve_batch_size(batch_size) -> int:
    if batch_size is None:
        return 32
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def split_validation(x, y, validation_split: float):
    """Keras's train_validation_split: the last N - floor(N (1 - v)) samples validate."""
    if not 0 < validation_split < 1:
        raise ValueError(f"validation_split must be in (0, 1), got {validation_split}")
    split_at = int(math.floor(len(x) * (1 - validation_split)))
    if split_at in (0, len(x)):
        raise ValueError(f"validation_split={validation_split} leaves no samples for training or validation "
                         f"with {len(x)} samples")
    return (x[:split_at], y[:split_at]), (x[split_at:], y[split_at:])


def require_batch_memory(model, batch_size: int, what: str, copies: int) -> None:
    """Refuse a batch whose layer outputs (`copies` of them: outputs, their gradients, what backward keeps)
    would not fit in memory, before the first batch allocates them."""
    per_sample = sum(resources.array_bytes([d or 1 for d in layer.output_shape[1:]], layer.dtype.itemsize)
                     for layer in model.layers)
    resources.require_memory(copies * batch_size * per_sample, f"{what} model '{model.name}' with batch_size="
                             f"{batch_size} (its layer outputs)", "use a smaller batch_size, or a smaller model")


def check_pair(x, y):
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} samples but y has {len(y)}")
    if len(x) == 0:
        raise ValueError("no samples to train on")


#: fit settings a resumed run must share with the checkpoint's run to continue it exactly
RESUME_SETTINGS = ("batch_size", "shuffle", "samples", "validation_samples")


def fit(model, x, y, epochs=1, batch_size=None, validation_split=0.0, validation_data=None, shuffle=True,
        verbose=1, callbacks=None, checkpoint=None, resume=None) -> History:
    x, y = model.prepare_inputs(x), model.prepare_targets(y)
    check_pair(x, y)
    batch_size = resolve_batch_size(batch_size)
    if validation_data is not None:
        val = (model.prepare_inputs(validation_data[0]), model.prepare_targets(validation_data[1]))
    elif validation_split:
        (x, y), val = split_validation(x, y, validation_split)
    else:
        val = None
    model.ensure_ready(x, y)
    require_batch_memory(model, min(batch_size, len(x)), "training", copies=3)
    classes = model.output_shape[-1] if "Sparse" in type(model.loss).__name__ else None
    datachecks.check_training_data(x, y, classes)
    if val is not None:
        datachecks.check_training_data(*val, classes, source="validation data")
    steps = math.ceil(len(x) / batch_size)
    settings = {"batch_size": batch_size, "shuffle": bool(shuffle), "samples": len(x),
                "validation_samples": 0 if val is None else len(val[0])}
    history = History()
    history.params = {"epochs": epochs, "steps": steps, "batch_size": batch_size}
    first_epoch = _resume(model, resume, settings, history) if resume is not None else 0
    callbacks = list(callbacks or [])
    if verbose:
        callbacks.append(ProgressLogger(epochs, steps))
    model.history = history  # set first: an interrupted fit still leaves every finished epoch here
    model.stop_training = False
    guard = DivergenceGuard(model) if model.stop_on_divergence else None
    for cb in callbacks:
        cb.model = model
        cb.on_train_begin()
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for epoch in range(first_epoch, epochs):
            for cb in callbacks:
                cb.on_epoch_begin(epoch)
            logs = _train_epoch(model, x, y, batch_size, shuffle, callbacks, guard, (epoch, epochs, steps))
            if model.stop_training and logs is None:
                history.stopped_early = True
                break
            if val is not None:
                val_logs = _evaluate(model, *val, batch_size)
                logs.update({f"val_{k}": v for k, v in val_logs.items()})
            history.record(epoch, logs)
            if checkpoint is not None:
                from engine import saving
                saving.save_checkpoint(model, checkpoint, epoch + 1, history.history, settings)
            for cb in callbacks:
                cb.on_epoch_end(epoch, logs)
            if model.stop_training:
                history.stopped_early = True
                break
    for cb in callbacks:
        cb.on_train_end(history.history)
    return history


def _resume(model, path, settings: dict, history: History) -> int:
    """Restore the checkpoint at `path` into the model (all or nothing) and its history; the first epoch."""
    from engine import saving
    from engine.models import ModelError
    checkpoint = saving.read_checkpoint(model, path)
    for key in RESUME_SETTINGS:
        if checkpoint.settings.get(key) != settings[key]:
            raise ModelError(f"cannot resume from {path}: it was written by a fit with {key}="
                             f"{checkpoint.settings.get(key)!r}, this one has {key}={settings[key]!r}; resume with "
                             f"the same data and settings to continue that run")
    saving.restore_checkpoint(model, checkpoint)
    for epoch in range(checkpoint.epoch):
        history.record(epoch, {key: values[epoch] for key, values in checkpoint.history.items()})
    history.params["initial_epoch"] = checkpoint.epoch
    return checkpoint.epoch


def _train_epoch(model, x, y, batch_size, shuffle, callbacks, guard, where):
    """One pass over the data; returns the epoch's logs, or None if stopped before its first batch ended.
    `where` is (epoch, epochs, steps) for the divergence message."""
    order = random.generator().permutation(len(x)) if shuffle else None
    metrics = model.fresh_metrics(y)
    loss_sum, seen = 0.0, 0
    for step, index in enumerate(batches(len(x), batch_size, order)):
        xb, yb = x[index], y[index]
        if guard is not None:
            guard.before_step()
        loss, y_pred = model.train_step(xb, yb)
        if guard is not None and not math.isfinite(loss):
            raise guard.diverged(loss, step, where)
        loss_sum += loss * len(xb)
        seen += len(xb)
        for m in metrics:
            m.update(yb, y_pred)
        logs = {"loss": loss_sum / seen, **{m.name: m.result() for m in metrics}}
        for cb in callbacks:
            cb.on_batch_end(step, logs)
        if model.stop_training:
            break
    return logs if seen == len(x) else None


class DivergenceGuard:
    """Keeps copies of the weights and optimizer state from before the last two batches, to put back the
    last finite ones when a loss becomes NaN or infinite. (The loss of a batch is computed before its update,
    so a NaN loss at batch k means the weights before batch k give NaN: they are kept if they are finite,
    else the ones before batch k-1, which gave a finite loss.)"""

    def __init__(self, model):
        self.model = model
        self.saved = [None, None]      # (weights, slots, iterations) before the previous and this batch

    def before_step(self) -> None:
        older, self.saved[0] = self.saved[0], self.saved[1]
        self.saved[1] = self._copy(older)

    def _copy(self, reuse):
        """The current state, copied into `reuse`'s arrays where their shapes allow (no allocation per batch)."""
        optimizer = self.model.optimizer
        weights = [_copy_into(w.data, reuse[0][i] if reuse else None) for i, w in enumerate(self.model.weights)]
        slots = [{name: _copy_into(array, reuse[1][i].get(name) if reuse else None)
                  for name, array in optimizer.slots_of(w).items()} for i, w in enumerate(self.model.weights)]
        return weights, slots, optimizer.iterations

    def diverged(self, loss, step, where):
        """Put back the last finite state; the TrainingDiverged error that describes what happened."""
        from engine.models import TrainingDiverged
        epoch, epochs, steps = where
        current, previous = self.saved[1], self.saved[0]
        restored, kept = (current, step + 1) if _all_finite(current[0]) or previous is None else (previous, step)
        weights, slots, iterations = restored
        optimizer = self.model.optimizer
        for w, data, own_slots in zip(self.model.weights, weights, slots):
            w.data = data.copy()
            optimizer.set_slots(w, {name: array.copy() for name, array in own_slots.items()})
        optimizer.iterations = iterations
        self.model.stop_training = True
        self.model.history.stopped_early = True
        return TrainingDiverged(
            f"training stopped: the loss became {loss} in epoch {epoch + 1}/{epochs} at batch {step + 1}/{steps}; "
            f"the model keeps its weights from before batch {kept} (the last finite ones). Try a smaller learning "
            f"rate, or check the data for very large values", epoch + 1, step + 1, self.model.history)


def _copy_into(array, target):
    if target is not None and target.shape == array.shape and array_module(target) is array_module(array):
        target[...] = array
        return target
    return array.copy()


def _all_finite(arrays) -> bool:
    return all(bool(array_module(a).isfinite(a).all()) for a in arrays if a.dtype.kind == "f")


def _evaluate(model, x, y, batch_size) -> dict:
    metrics = model.fresh_metrics(y)
    loss_sum = 0.0
    for index in batches(len(x), batch_size):
        loss, y_pred = model.test_step(x[index], y[index])
        loss_sum += loss * len(y_pred)
        for m in metrics:
            m.update(y[index], y_pred)
    return {"loss": loss_sum / len(x), **{m.name: m.result() for m in metrics}}


def evaluate(model, x, y, batch_size=None, verbose=0, return_dict=False):
    """Loss and metrics with training=False; a float when there are no metrics (as Keras)."""
    x, y = model.prepare_inputs(x), model.prepare_targets(y)
    check_pair(x, y)
    model.ensure_ready(x, y)
    require_batch_memory(model, min(resolve_batch_size(batch_size), len(x)), "evaluating", copies=1)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        logs = _evaluate(model, x, y, resolve_batch_size(batch_size))
    if verbose:
        print(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
    if return_dict:
        return logs
    return logs["loss"] if len(logs) == 1 else list(logs.values())


def predict(model, x, batch_size=None, verbose=0) -> np.ndarray:
    x = model.prepare_inputs(x)
    size = resolve_batch_size(batch_size)
    require_batch_memory(model, min(size, max(len(x), 1)), "predicting with", copies=1)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return np.concatenate([model.predict_step(x[index]) for index in batches(len(x), size)], axis=0)
