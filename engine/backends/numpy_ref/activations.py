"""Activation functions and their derivatives, elementwise, plus softmax over the last axis."""
from __future__ import annotations

import numpy as np


def activation_forward(name, x, alpha=0.3):
    """y = f(x) for f in linear, relu, sigmoid, tanh, leaky_relu (slope `alpha` below zero)."""
    if name == "linear":
        return x.copy()
    if name == "relu":
        return np.maximum(x, 0)
    if name == "sigmoid":
        # sigma(x) = 1 / (1 + e^-x), written as 0.5 (1 + tanh(x/2)) so it never overflows.
        return 0.5 * (1 + np.tanh(0.5 * x))
    if name == "tanh":
        return np.tanh(x)
    if name == "leaky_relu":
        return np.where(x >= 0, x, alpha * x).astype(x.dtype, copy=False)
    raise ValueError(f"unknown activation {name!r}")


def activation_backward(name, dy, x, y, alpha=0.3):
    """dL/dx = dL/dy * f'(x), with f' written through the output y where that is simplest."""
    if name == "linear":
        return dy.copy()
    if name == "relu":
        return dy * (x > 0)
    if name == "sigmoid":
        return dy * y * (1 - y)           # sigma' = sigma (1 - sigma)
    if name == "tanh":
        return dy * (1 - y * y)           # tanh' = 1 - tanh^2
    if name == "leaky_relu":
        return np.where(x >= 0, dy, alpha * dy).astype(dy.dtype, copy=False)
    raise ValueError(f"unknown activation {name!r}")


def softmax_forward(x):
    """softmax(x)_c = exp(x_c - max x) / sum_k exp(x_k - max x), over the last axis."""
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_backward(dy, y):
    """Jacobian-vector product of softmax: dx = y * (dy - sum(dy * y))."""
    return y * (dy - (dy * y).sum(axis=-1, keepdims=True))
