"""Batch normalisation (statistics over every axis but the last) and inverted-dropout masks.

Arrays are viewed as (rows, channels) matrices. Column sums (batch statistics and the gradient sums) are
accumulated in float64; large inputs are cut into one block of rows per thread, each summing into its own
partial result (common.launch).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from engine.backends.contract import compute_dtype
from engine.backends.numba_cpu.common import JIT, SERIAL_JIT, as_rows, launch


@njit(**SERIAL_JIT)
def _moments(a, a_centre, b, b_centre):
    """(sum_r a'[r,c], sum_r a'[r,c] b'[r,c]) in float64 for every column c, with a' = a - a_centre and
    b' = b - b_centre (centres per column)."""
    sums = np.zeros((2, a.shape[1]))
    for r in range(a.shape[0]):
        for c in range(a.shape[1]):
            a_c = a[r, c] - a_centre[c]
            sums[0, c] += a_c
            sums[1, c] += a_c * (b[r, c] - b_centre[c])
    return sums


@njit(**JIT)
def _moments_parallel(a, a_centre, b, b_centre, blocks):
    """_moments with the rows cut into blocks: each thread sums its block into its own partial result."""
    partial = np.empty((blocks, 2, a.shape[1]))
    for k in prange(blocks):
        lo, hi = k * a.shape[0] // blocks, (k + 1) * a.shape[0] // blocks
        sums = _moments(a[lo:hi], a_centre, b[lo:hi], b_centre)
        for i in range(2):
            for c in range(a.shape[1]):
                partial[k, i, c] = sums[i, c]
    return partial.sum(axis=0)


@njit(**SERIAL_JIT)
def _scale_shift(x, centre, scale, shift, y):
    """y[r,c] = (x[r,c] - centre[c]) * scale[c] + shift[c]."""
    for r in range(x.shape[0]):
        for c in range(x.shape[1]):
            y[r, c] = (x[r, c] - centre[c]) * scale[c] + shift[c]


@njit(**JIT)
def _scale_shift_parallel(x, centre, scale, shift, y, blocks):
    for k in prange(blocks):
        lo, hi = k * x.shape[0] // blocks, (k + 1) * x.shape[0] // blocks
        _scale_shift(x[lo:hi], centre, scale, shift, y[lo:hi])


@njit(**SERIAL_JIT)
def _batch_norm_input_grad(dy, x, mean, inv_std, gamma, dbeta, dgamma, m, dx):
    """dx = gamma inv_std / m * (m dy - dbeta - x_hat dgamma), x_hat = (x - mean) inv_std, m rows in all.

    This is the formula of numpy_ref/normalization.py with dx_hat = dy * gamma, sum(dx_hat) = gamma * dbeta
    and sum(dx_hat * x_hat) = gamma * dgamma.
    """
    for r in range(dy.shape[0]):
        for c in range(dy.shape[1]):
            x_hat = (x[r, c] - mean[c]) * inv_std[c]
            dx[r, c] = gamma[c] * inv_std[c] / m * (m * dy[r, c] - dbeta[c] - x_hat * dgamma[c])


@njit(**JIT)
def _batch_norm_input_grad_parallel(dy, x, mean, inv_std, gamma, dbeta, dgamma, m, dx, blocks):
    for k in prange(blocks):
        lo, hi = k * dy.shape[0] // blocks, (k + 1) * dy.shape[0] // blocks
        _batch_norm_input_grad(dy[lo:hi], x[lo:hi], mean, inv_std, gamma, dbeta, dgamma, m, dx[lo:hi])


def batch_norm_train_forward(x, gamma, beta, epsilon):
    """y = gamma (x - mu) / sqrt(var + eps) + beta with the batch mean and biased variance over all
    axes but the last. Returns (y, mean, var, cache); cache = (x rows, mean, inv_std, gamma)."""
    dtype = compute_dtype(x, gamma, beta)
    rows = as_rows(x, dtype)
    m = rows.shape[0]
    zeros = np.zeros(rows.shape[1], dtype=dtype)
    mean = (launch(_moments, _moments_parallel, rows.size, rows, zeros, rows, zeros)[0] / m).astype(dtype)
    # sum (x - mean)^2 in a second pass, as np.var does
    var64 = launch(_moments, _moments_parallel, rows.size, rows, mean, rows, mean)[1] / m
    inv_std = (1.0 / np.sqrt(var64 + epsilon)).astype(dtype)
    gamma, beta = (np.ascontiguousarray(a, dtype=dtype) for a in (gamma, beta))
    y = np.empty_like(rows)
    launch(_scale_shift, _scale_shift_parallel, rows.size, rows, mean, gamma * inv_std, beta, y)
    return y.reshape(np.shape(x)), mean, var64.astype(dtype), (rows, mean, inv_std, gamma)


def batch_norm_backward(dy, cache):
    """Gradients of training-mode batch norm: (dx, dgamma, dbeta)."""
    rows, mean, inv_std, gamma = cache
    dy_rows = as_rows(dy, rows.dtype)
    sums = launch(_moments, _moments_parallel, rows.size, dy_rows, np.zeros_like(mean), rows, mean)
    dbeta = sums[0].astype(rows.dtype)                  # sum dy
    dgamma = (sums[1] * inv_std).astype(rows.dtype)     # sum dy (x - mean) inv_std = sum dy x_hat
    dx = np.empty_like(dy_rows)
    launch(_batch_norm_input_grad, _batch_norm_input_grad_parallel, rows.size,
            dy_rows, rows, mean, inv_std, gamma, dbeta, dgamma, rows.shape[0], dx)
    return dx.reshape(np.shape(dy)), dgamma, dbeta


def batch_norm_inference(x, gamma, beta, mean, var, epsilon):
    """y = gamma * (x - moving_mean) / sqrt(moving_var + eps) + beta."""
    dtype = compute_dtype(x, gamma, beta, mean, var)
    rows = as_rows(x, dtype)
    gamma, beta, mean, var = (np.ascontiguousarray(a, dtype=dtype) for a in (gamma, beta, mean, var))
    scale = (gamma / np.sqrt(var + epsilon)).astype(dtype)
    y = np.empty_like(rows)
    launch(_scale_shift, _scale_shift_parallel, rows.size, rows, mean, scale, beta, y)
    return y.reshape(np.shape(x))


# ---------------------------------------------------------------- dropout

@njit(**SERIAL_JIT)
def _dropout_mask(uniform, rate, keep_value, mask):
    """mask[i] = 1/(1 - rate) where uniform[i] >= rate (probability 1 - rate), else 0."""
    for i in range(uniform.size):
        mask[i] = keep_value if uniform[i] >= rate else 0


def dropout_mask(shape, rate, rng, dtype):
    """Inverted-dropout mask: keep with probability 1 - rate, kept entries equal 1/(1 - rate).

    The uniforms come from `rng` exactly as in the NumPy reference (``rng.random(shape)``), so a seeded
    generator gives the very same mask on both backends. Drawing them takes far longer than the kernel,
    which only thresholds them, so this kernel runs on one thread.
    """
    uniform = rng.random(shape).reshape(-1)
    mask = np.empty(uniform.size, dtype=dtype)
    _dropout_mask(uniform, float(rate), float(1 / (1 - rate)), mask)
    return mask.reshape(shape)
