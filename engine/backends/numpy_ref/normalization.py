"""Batch normalisation (Keras BatchNormalization, axis=-1) and inverted-dropout masks."""
from __future__ import annotations

import numpy as np


def _reduce_axes(x):
    return tuple(range(x.ndim - 1))  # every axis but the last (the features/channels)


def batch_norm_train_forward(x, gamma, beta, epsilon):
    """y = gamma * (x - mu) / sqrt(var + eps) + beta with the batch mean and *biased* variance."""
    axes = _reduce_axes(x)
    mean = x.mean(axis=axes)
    var = x.var(axis=axes)
    inv_std = 1.0 / np.sqrt(var + epsilon)
    x_hat = (x - mean) * inv_std
    return gamma * x_hat + beta, mean, var, (x_hat, inv_std, gamma)


def batch_norm_backward(dy, cache):
    """Gradients of training-mode batch norm (Ioffe & Szegedy 2015, eq. in section 3).

    With m the number of reduced elements: dx = inv_std/m * (m*dx_hat - sum(dx_hat) - x_hat*sum(dx_hat*x_hat)),
    where dx_hat = dy * gamma.
    """
    x_hat, inv_std, gamma = cache
    axes = _reduce_axes(dy)
    m = dy.size // dy.shape[-1]
    dbeta = dy.sum(axis=axes)
    dgamma = (dy * x_hat).sum(axis=axes)
    dx_hat = dy * gamma
    dx = inv_std / m * (m * dx_hat - dx_hat.sum(axis=axes) - x_hat * (dx_hat * x_hat).sum(axis=axes))
    return dx, dgamma, dbeta


def batch_norm_inference(x, gamma, beta, mean, var, epsilon):
    """y = gamma * (x - moving_mean) / sqrt(moving_var + eps) + beta."""
    return gamma * (x - mean) / np.sqrt(var + epsilon) + beta


def dropout_mask(shape, rate, rng, dtype):
    """Keep each entry with probability 1 - rate; kept entries are 1/(1 - rate) so E[mask] = 1."""
    keep = rng.random(shape) >= rate
    return (keep / (1.0 - rate)).astype(dtype)
