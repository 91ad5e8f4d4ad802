"""2-D max and average pooling (NHWC), written next to their formulas.

A pooling window is a convolution window with dilation 1: output pixel (p, q) looks at the padded-input cells
x_pad[n, p*sh + i, q*sw + j, c] for 0 <= i < ph, 0 <= j < pw, and Ho = (H + top + bottom - ph) // sh + 1
(so Keras 'valid' drops a leftover row: 13 -> 6 for pool 2, stride 2).

max:  y[n,p,q,c] = max_{i,j} x_pad[n, p*sh+i, q*sw+j, c]    with x_pad padded by -inf, so padding never wins;
      ties go to the first cell of the window in row-major order (np.argmax).
avg:  y[n,p,q,c] = sum_{i,j} x_pad[n, p*sh+i, q*sw+j, c] / count[p,q]
      with x_pad padded by zeros and count[p,q] the number of window cells inside the input
      (TensorFlow 'same' semantics: padded cells are not counted).
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from engine.backends.numpy_ref.conv import pad_hw, tap
from engine.shapes import window_output_hw


def max_pool2d_forward(x, pool, strides, pads):
    """y = max over each window; returns (y, cache), cache = dict(x_shape, pool, strides, pads, argmax).

    argmax[n,p,q,c] = i*pw + j, the row-major position of the winning cell inside its window.
    """
    n, _, _, c = x.shape
    (ph, pw), (sh, sw) = pool, strides
    ho, wo = window_output_hw(x.shape[1:3], pool, strides, pads, what="window")
    x_pad = pad_hw(x, pads, value=-np.inf)
    # windows[n,p,q,c,i,j] = x_pad[n, p*sh+i, q*sw+j, c]; flattened to (N, Ho, Wo, C, ph*pw) in row-major order.
    windows = sliding_window_view(x_pad, (ph, pw), axis=(1, 2))[:, ::sh, ::sw].reshape(n, ho, wo, c, ph * pw)
    argmax = windows.argmax(axis=-1)
    y = windows.max(axis=-1)
    cache = {"x_shape": x.shape, "pool": tuple(pool), "strides": tuple(strides), "pads": pads, "argmax": argmax}
    return y, cache


def max_pool2d_backward(dy, cache):
    """dx[n, p*sh+i, q*sw+j, c] += dy[n,p,q,c] for the winning (i, j) of each window.

    Overlapping windows (stride < pool) can pick the same cell, and their gradients add up.
    """
    (ph, pw), strides, pads, argmax = cache["pool"], cache["strides"], cache["pads"], cache["argmax"]
    n, h, w, c = cache["x_shape"]
    (top, bottom), (left, right) = pads
    out_hw = dy.shape[1:3]
    dx_pad = np.zeros((n, top + h + bottom, left + w + right, c), dtype=dy.dtype)
    for i in range(ph):
        for j in range(pw):
            dx_pad[tap(i, j, out_hw, strides)] += np.where(argmax == i * pw + j, dy, 0)
    return dx_pad[:, top:top + h, left:left + w, :]


def _window_sum(a_pad, pool, strides, out_hw):
    """s[n,p,q,c] = sum_{i,j} a_pad[n, p*sh+i, q*sw+j, c]."""
    return sum(a_pad[tap(i, j, out_hw, strides)] for i in range(pool[0]) for j in range(pool[1]))


def _cell_count(x_shape, pool, strides, pads, out_hw, dtype):
    """count[0,p,q,0]: how many cells of window (p, q) lie inside the input (the window sum of a padded ones map).

    A window wholly in the padding (only possible with explicit pads at least as large as the pool)
    counts as 1, so it averages to 0 instead of 0/0.
    """
    ones = np.ones((1, *x_shape[1:3], 1), dtype=dtype)
    return np.maximum(_window_sum(pad_hw(ones, pads), pool, strides, out_hw), 1)


def avg_pool2d_forward(x, pool, strides, pads):
    """y[n,p,q,c] = sum_{i,j} x_pad[n, p*sh+i, q*sw+j, c] / count[p,q] (padded cells are zero and not counted)."""
    out_hw = window_output_hw(x.shape[1:3], pool, strides, pads, what="window")
    total = _window_sum(pad_hw(x, pads), pool, strides, out_hw)
    return total / _cell_count(x.shape, pool, strides, pads, out_hw, x.dtype)


def avg_pool2d_backward(dy, x_shape, pool, strides, pads):
    """dx[n, p*sh+i, q*sw+j, c] += dy[n,p,q,c] / count[p,q] for every cell (i, j) of every window."""
    n, h, w, c = x_shape
    (top, bottom), (left, right) = pads
    out_hw = dy.shape[1:3]
    share = dy / _cell_count(x_shape, pool, strides, pads, out_hw, dy.dtype)
    dx_pad = np.zeros((n, top + h + bottom, left + w + right, c), dtype=dy.dtype)
    for i in range(pool[0]):
        for j in range(pool[1]):
            dx_pad[tap(i, j, out_hw, strides)] += share
    return dx_pad[:, top:top + h, left:left + w, :]
