"""Metrics that accumulate over an epoch, as Keras reports them (sample-weighted running means).

`metrics=['accuracy']` is resolved from the shapes, as Keras's compile_utils.get_metric does:
one-hot targets -> categorical accuracy (argmax match), integer labels -> sparse categorical accuracy,
a last axis of 1 -> binary accuracy (prediction > 0.5).
"""
from __future__ import annotations

import numpy as np


class Metric:
    """Running mean of a per-sample score."""

    def __init__(self, name: str, score):
        self.name, self.score = name, score
        self.reset()

    def reset(self):
        self.total, self.count = 0.0, 0

    def update(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        values = self.score(y_true, y_pred)
        self.total += float(values.sum())
        self.count += values.size

    def result(self) -> float:
        return self.total / self.count if self.count else float("nan")


def categorical_accuracy(y_true, y_pred):
    return (y_true.argmax(axis=-1) == y_pred.argmax(axis=-1)).astype(np.float64)


def sparse_categorical_accuracy(y_true, y_pred):
    return (y_true.reshape(-1).astype(np.int64) == y_pred.reshape(len(y_true), -1).argmax(axis=-1)).astype(np.float64)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    return (y_true.reshape(y_pred.shape) == (y_pred > threshold)).astype(np.float64)


def _per_sample(error):
    def score(y_true, y_pred):
        return error(y_pred - y_true.reshape(y_pred.shape)).reshape(len(y_pred), -1).mean(axis=-1)
    return score


SCORES = {
    "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "binary_accuracy": binary_accuracy,
    "mse": _per_sample(np.square),
    "mae": _per_sample(np.abs),
}
ALIASES = {"mean_squared_error": "mse", "mean_absolute_error": "mae", "acc": "accuracy"}


def accuracy_kind(y_true: np.ndarray, output_shape) -> str:
    """Which accuracy Keras picks for 'accuracy' given the targets and the model's output shape."""
    if output_shape[-1] == 1:
        return "binary_accuracy"
    if y_true.ndim == len(output_shape) and y_true.shape[-1] == output_shape[-1]:
        return "categorical_accuracy"
    return "sparse_categorical_accuracy"


def get(name: str, y_true: np.ndarray, output_shape) -> Metric:
    """A fresh Metric; it reports under the name the user gave ('accuracy' stays 'accuracy')."""
    key = ALIASES.get(name.lower(), name.lower())
    if key == "accuracy":
        return Metric(name, SCORES[accuracy_kind(y_true, output_shape)])
    if key not in SCORES:
        raise ValueError(f"unknown metric {name!r}; use one of accuracy, {', '.join(SCORES)}")
    return Metric(name, SCORES[key])
