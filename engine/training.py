"""fit / evaluate / predict with Keras 3's semantics (keras/src/trainers/trainer.py).

- batch_size None means 32; the last batch may be smaller.
- validation_split takes the *last* floor-complement of the samples, before any shuffling.
- the epoch's `loss` is the batch-size-weighted mean of each batch's total loss (data loss + penalties),
  taken before that batch's update; `val_*` are computed at the end of the epoch with training=False.
- Interrupting (Ctrl-C) or a failing batch keeps the model and the history of every finished epoch.
"""
from __future__ import annotations

import math
import sys
import time

import numpy as np

from engine import metrics as metrics_module
from engine import random


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


def check_pair(x, y):
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} samples but y has {len(y)}")
    if len(x) == 0:
        raise ValueError("no samples to train on")


def fit(model, x, y, epochs=1, batch_size=None, validation_split=0.0, validation_data=None, shuffle=True,
        verbose=1, callbacks=None) -> History:
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
    steps = math.ceil(len(x) / batch_size)
    callbacks = list(callbacks or [])
    if verbose:
        callbacks.append(ProgressLogger(epochs, steps))
    history = History()
    history.params = {"epochs": epochs, "steps": steps, "batch_size": batch_size}
    model.history = history  # set first: an interrupted fit still leaves every finished epoch here
    model.stop_training = False
    for cb in callbacks:
        cb.model = model
        cb.on_train_begin()
    for epoch in range(epochs):
        for cb in callbacks:
            cb.on_epoch_begin(epoch)
        logs = _train_epoch(model, x, y, batch_size, shuffle, callbacks)
        if model.stop_training and logs is None:
            history.stopped_early = True
            break
        if val is not None:
            val_logs = _evaluate(model, *val, batch_size)
            logs.update({f"val_{k}": v for k, v in val_logs.items()})
        history.record(epoch, logs)
        for cb in callbacks:
            cb.on_epoch_end(epoch, logs)
        if model.stop_training:
            history.stopped_early = True
            break
    for cb in callbacks:
        cb.on_train_end(history.history)
    return history


def _train_epoch(model, x, y, batch_size, shuffle, callbacks):
    """One pass over the data; returns the epoch's logs, or None if stopped before its first batch ended."""
    order = random.generator().permutation(len(x)) if shuffle else None
    metrics = model.fresh_metrics(y)
    loss_sum, seen = 0.0, 0
    for step, index in enumerate(batches(len(x), batch_size, order)):
        xb, yb = x[index], y[index]
        loss, y_pred = model.train_step(xb, yb)
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
    logs = _evaluate(model, x, y, resolve_batch_size(batch_size))
    if verbose:
        print(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
    if return_dict:
        return logs
    return logs["loss"] if len(logs) == 1 else list(logs.values())


def predict(model, x, batch_size=None, verbose=0) -> np.ndarray:
    x = model.prepare_inputs(x)
    size = resolve_batch_size(batch_size)
    return np.concatenate([model.predict_step(x[index]) for index in batches(len(x), size)], axis=0)
