"""Softmax cross-entropy fused on the logits (the stable log-sum-exp form), forward and backward.

The kernels work on the rows of the last axis, one row at a time; large batches are cut into one block of
rows per thread (common.launch).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from engine.backends.contract import compute_dtype
from engine.backends.numba_cpu.activations import softmax_row
from engine.backends.numba_cpu.common import JIT, SERIAL_JIT, as_flat, as_rows, launch


@njit(**SERIAL_JIT)
def _softmax_cross_entropy(z, t, losses, probs):
    """log p[r,c] = z[r,c] - max z[r] - log sum_k e^(z[r,k] - max z[r]);  losses[r] = -sum_c t[r,c] log p[r,c]."""
    for r in range(z.shape[0]):
        row = z[r]
        top, total = softmax_row(row, probs[r])
        log_total = math.log(total)
        loss = 0.0
        for c in range(row.size):
            loss -= t[r, c] * (row[c] - top - log_total)
        losses[r] = loss


@njit(**SERIAL_JIT)
def _softmax_cross_entropy_backward(dlosses, probs, t, dz):
    """dz[r,c] = dlosses[r] * (p[r,c] * sum_k t[r,k] - t[r,c])  (= p - t when the targets sum to one)."""
    for r in range(probs.shape[0]):
        t_sum = 0.0
        for c in range(probs.shape[1]):
            t_sum += t[r, c]
        for c in range(probs.shape[1]):
            dz[r, c] = dlosses[r] * (probs[r, c] * t_sum - t[r, c])


@njit(**JIT)
def _softmax_cross_entropy_parallel(z, t, losses, probs, blocks):
    for k in prange(blocks):
        lo, hi = k * z.shape[0] // blocks, (k + 1) * z.shape[0] // blocks
        _softmax_cross_entropy(z[lo:hi], t[lo:hi], losses[lo:hi], probs[lo:hi])


@njit(**JIT)
def _softmax_cross_entropy_backward_parallel(dlosses, probs, t, dz, blocks):
    for k in prange(blocks):
        lo, hi = k * probs.shape[0] // blocks, (k + 1) * probs.shape[0] // blocks
        _softmax_cross_entropy_backward(dlosses[lo:hi], probs[lo:hi], t[lo:hi], dz[lo:hi])


def softmax_cross_entropy_forward(logits, targets):
    """losses[n] = -sum_c t[n,c] log_softmax(z)[n,c] over the last axis; returns (losses, probs)."""
    dtype = compute_dtype(logits, targets)
    z = as_rows(logits, dtype)
    probs = np.empty_like(z)
    losses = np.empty(z.shape[0], dtype=dtype)
    launch(_softmax_cross_entropy, _softmax_cross_entropy_parallel, z.size, z, as_rows(targets, dtype), losses, probs)
    return losses.reshape(np.shape(logits)[:-1]), probs.reshape(np.shape(logits))


def softmax_cross_entropy_backward(dlosses, probs, targets):
    """d loss_n / d z_c = dlosses_n * (p_c * sum_k t_k - t_c)."""
    dtype = compute_dtype(dlosses, probs, targets)
    p = as_rows(probs, dtype)
    dz = np.empty_like(p)
    launch(_softmax_cross_entropy_backward, _softmax_cross_entropy_backward_parallel, p.size,
            as_flat(dlosses, dtype), p, as_rows(targets, dtype), dz)
    return dz.reshape(np.shape(probs))
