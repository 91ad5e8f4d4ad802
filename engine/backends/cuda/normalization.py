"""Launch code for kernels/normalization.cu: batch normalisation over every axis but the last, dropout masks.

The cache of the training forward pass is (x, mean, inv_std, gamma): the backward kernels recompute
x_hat = (x - mean) * inv_std instead of storing it.
"""
from __future__ import annotations

import numpy as np

from engine.backends.contract import compute_dtype
from engine.backends.cuda.library import blocks

SUM_THREADS = (32, 8)        # channels x row lanes per block of the two reduction kernels
ROWS_PER_THREAD = 32         # rows each thread of a reduction kernel sums (at least; lib.limits caps the blocks)


def _column_sums(lib, kernel, x, args):
    """sums (2, C) = zero, then normalization.cu's `kernel` adds its two per-channel sums into it."""
    rows, channels = x.size // x.shape[-1], x.shape[-1]
    sums = lib.zeros((2, channels), x.dtype)
    grid = (blocks(channels, SUM_THREADS[0]), min(blocks(rows, SUM_THREADS[1] * ROWS_PER_THREAD), lib.limits.row_blocks))
    lib.launch("normalization.cu", kernel, x.dtype, grid, SUM_THREADS, (*args, sums, *lib.ints(rows, channels)))
    return sums


def _apply(lib, x, mean, inv_std, gamma, beta):
    """y = gamma * (x - mean) * inv_std + beta."""
    y = lib.empty(x.shape, x.dtype)
    lib.launch_elementwise("normalization.cu", "batch_norm_apply", x.dtype, x.size,
                           (x, mean, inv_std, gamma, beta, y, *lib.ints(x.size // x.shape[-1], x.shape[-1])))
    return y


def batch_norm_train_forward(lib, x, gamma, beta, epsilon):
    dtype = compute_dtype(x, gamma, beta)
    x, gamma, beta = (lib.array(a, dtype) for a in (x, gamma, beta))
    rows = x.size // x.shape[-1]
    sums = _column_sums(lib, "batch_norm_moments", x, (x,))
    shift = sums[0] / rows                             # mean of d = x - x[first row]
    mean = x.reshape(rows, -1)[0] + shift
    var = lib.xp.maximum(sums[1] / rows - shift * shift, 0)
    inv_std = 1 / lib.xp.sqrt(var + epsilon)
    return _apply(lib, x, mean, inv_std, gamma, beta), mean, var, (x, mean, inv_std, gamma)


def batch_norm_backward(lib, dy, cache):
    x, mean, inv_std, gamma = cache
    dy = lib.array(dy, x.dtype)
    sums = _column_sums(lib, "batch_norm_backward_sums", x, (dy, x, mean, inv_std))   # sum dy, sum dy*x_hat
    dx = lib.empty(x.shape, x.dtype)
    lib.launch_elementwise("normalization.cu", "batch_norm_backward_dx", x.dtype, x.size,
                           (dy, x, mean, inv_std, gamma, sums, dx, *lib.ints(x.size // x.shape[-1], x.shape[-1])))
    return dx, sums[1].copy(), sums[0].copy()


def batch_norm_inference(lib, x, gamma, beta, mean, var, epsilon):
    dtype = compute_dtype(x, gamma, beta)
    x, gamma, beta, mean, var = (lib.array(a, dtype) for a in (x, gamma, beta, mean, var))
    return _apply(lib, x, mean, 1 / lib.xp.sqrt(var + epsilon), gamma, beta)


def dropout_mask(lib, shape, rate, rng, dtype):
    """Inverted dropout: 1/(1-rate) with probability 1-rate, else 0. The seed is drawn from `rng`, so a
    seeded generator gives the same mask on every run (but not the same mask as another backend)."""
    dtype = np.dtype(dtype)
    mask = lib.empty(tuple(shape), dtype)
    seed = np.uint64(rng.integers(0, 2**63))
    lib.launch_elementwise("normalization.cu", "dropout_mask", dtype, mask.size,
                           (mask, *lib.ints(mask.size), seed, np.float64(rate), dtype.type(1.0 / (1.0 - rate))))
    return mask
