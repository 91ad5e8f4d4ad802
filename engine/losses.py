"""Keras 3 losses. Each returns the mean over the batch of the per-sample losses ('sum_over_batch_size').

Per-sample forms (keras/src/losses/losses.py):
- mean_squared_error: mean over the last axis of (y - y_hat)^2, after aligning ranks ((N,) against (N, 1)).
- categorical_crossentropy: -sum_c y_c log p_c with p normalised to sum 1 and clipped to [1e-7, 1 - 1e-7];
  from logits: -sum_c y_c log_softmax(z)_c.
- sparse_categorical_crossentropy: the same with integer labels.
- binary_crossentropy: mean over the last axis of -[y log p + (1 - y) log(1 - p)] (p clipped);
  from logits: max(z, 0) - z y + log(1 + e^-|z|).
"""
from __future__ import annotations

from engine.autograd import Tensor, as_tensor
from engine.backends import get_backend
from engine.ops import basic
from engine.ops.losses import SigmoidBinaryCrossEntropy, SoftmaxCrossEntropy

EPSILON = 1e-7  # keras.backend.epsilon()


def _target(y_true, y_pred: Tensor) -> Tensor:
    """Targets are data, never differentiated: a constant tensor in the prediction's dtype."""
    data = y_true.data if isinstance(y_true, Tensor) else y_true
    return Tensor(get_backend().xp.asarray(data, dtype=y_pred.dtype))


def align_ranks(y_true: Tensor, y_pred: Tensor):
    """Keras's squeeze_or_expand_to_same_rank: when ranks differ by one and the longer has a last axis of 1,
    give the rank-1 side that axis (or squeeze it from the longer side), so (N,) vs (N, 1) never broadcasts to N x N."""
    if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        y_true = basic.reshape(y_true, y_true.shape[:-1])
    elif y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        y_true = basic.reshape(y_true, (*y_true.shape, 1))
    return y_true, y_pred


def _same_shape(y_true: Tensor, y_pred: Tensor, loss: str) -> None:
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{loss}: the targets have shape {y_true.shape} but the model's output has shape "
                         f"{y_pred.shape}; the last layer must produce one value per target")


def mean_squared_error(y_true, y_pred) -> Tensor:
    y_pred = as_tensor(y_pred)
    y_true, y_pred = align_ranks(_target(y_true, y_pred), y_pred)
    _same_shape(y_true, y_pred, "mean_squared_error")
    diff = y_pred - y_true
    return basic.mean(basic.mean(diff * diff, axis=-1))


def categorical_crossentropy(y_true, y_pred, from_logits=False) -> Tensor:
    y_pred = as_tensor(y_pred)
    y_true = _target(y_true, y_pred)
    _same_shape(y_true, y_pred, "categorical_crossentropy")
    if from_logits:
        return basic.mean(SoftmaxCrossEntropy.apply(y_pred, y_true.data))
    p = y_pred / basic.sum(y_pred, axis=-1, keepdims=True)
    p = basic.clip(p, EPSILON, 1 - EPSILON)
    return basic.mean(-basic.sum(y_true * basic.log(p), axis=-1))


def one_hot(labels, classes: int, dtype):
    """Integer labels of shape (N,) or (N, 1) as one-hot rows."""
    xp = get_backend().xp
    labels = xp.asarray(labels.data if isinstance(labels, Tensor) else labels).reshape(-1).astype(int)
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(f"labels must lie in [0, {classes - 1}], got values from {labels.min()} to {labels.max()}")
    return xp.eye(classes, dtype=dtype)[labels]


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False) -> Tensor:
    y_pred = as_tensor(y_pred)
    labels = one_hot(y_true, y_pred.shape[-1], y_pred.dtype)
    if y_pred.ndim != 2 or len(labels) != y_pred.shape[0]:
        raise ValueError(f"sparse_categorical_crossentropy: {len(labels)} labels for a model output of shape "
                         f"{y_pred.shape}; it needs one integer label per row of (batch, classes)")
    return categorical_crossentropy(labels, y_pred, from_logits)


def binary_crossentropy(y_true, y_pred, from_logits=False) -> Tensor:
    y_pred = as_tensor(y_pred)
    y_true, y_pred = align_ranks(_target(y_true, y_pred), y_pred)
    _same_shape(y_true, y_pred, "binary_crossentropy")
    if from_logits:
        per_element = SigmoidBinaryCrossEntropy.apply(y_pred, y_true.data)
    else:
        p = basic.clip(y_pred, EPSILON, 1 - EPSILON)
        per_element = -(y_true * basic.log(p) + (1 - y_true) * basic.log(1 - p))
    return basic.mean(basic.mean(per_element, axis=-1))


class Loss:
    """A configured loss, as `keras.losses.X(from_logits=...)`; calling it returns the batch mean."""

    function = None
    name = "loss"

    def __init__(self, from_logits: bool = False):
        self.from_logits = from_logits

    def __call__(self, y_true, y_pred) -> Tensor:
        return type(self).function(y_true, y_pred, from_logits=self.from_logits)

    def get_config(self) -> dict:
        return {"name": self.name, "from_logits": self.from_logits}


class MeanSquaredError(Loss):
    name = "mean_squared_error"

    def __call__(self, y_true, y_pred):
        return mean_squared_error(y_true, y_pred)


class CategoricalCrossentropy(Loss):
    function, name = staticmethod(categorical_crossentropy), "categorical_crossentropy"


class SparseCategoricalCrossentropy(Loss):
    function, name = staticmethod(sparse_categorical_crossentropy), "sparse_categorical_crossentropy"


class BinaryCrossentropy(Loss):
    function, name = staticmethod(binary_crossentropy), "binary_crossentropy"


BY_NAME = {
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
}


def get(identifier) -> Loss:
    """A Loss from a Keras name ('categorical_crossentropy', 'mse', ...) or an instance."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in BY_NAME:
        return BY_NAME[identifier.lower()]()
    raise ValueError(f"unknown loss {identifier!r}; use one of {', '.join(sorted(BY_NAME))}")
