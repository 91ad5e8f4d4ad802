"""2-D max and average pooling (NHWC) for the Numba backend.

Output pixel (p, q) looks at the window of input cells (h, w) = (p*sh + i - top, q*sw + j - left) for
0 <= i < ph, 0 <= j < pw; cells outside the input are padding, and Ho = (H + top + bottom - ph) // sh + 1.

max:  y[n,p,q,c] = max over the window's input cells; padding never wins (it is -inf), ties go to the first
      cell in row-major order (i, j), and argmax[n,p,q,c] = i*pw + j remembers the winner for the backward pass.
      Like np.max, a NaN in the window wins (so a diverging network shows NaN instead of hiding it).
avg:  y[n,p,q,c] = (sum over the window's input cells) / count[p,q], count = how many of its cells are input
      cells (TensorFlow 'same' semantics; a window made only of padding averages to 0).

Why this is fast. Pooling does almost no arithmetic: its speed is how fast memory is read and written once.
The loops run over output rows in parallel (prange), and the innermost loop runs over the channels, which
are contiguous in NHWC, so every load and store is a full vector; the running max is a branch-free select.

The backward passes send each window's gradient back to its cells,
     dx[n,h,w,c] = sum over the windows (p, q) holding (h, w) at offset (i, j) of
                   dy[n,p,q,c] * [argmax[n,p,q,c] == i*pw + j]     (max)
                   dy[n,p,q,c] / count[p,q]                         (avg),
one input row per parallel iteration: the row (n, h) finds the window rows p that cover it at offset
i = h + top - p*sh (once per row, not per cell), then walks along those windows. A thread only ever writes
its own input row, so overlapping windows (stride < pool) need no atomic additions.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from engine.backends.numba_cpu.common import float_array
from engine.shapes import window_output_hw


# ----------------------------------------------------------------------------- the Numba kernels
@njit(parallel=True, cache=True)
def _max_forward(x, y, argmax, ph, pw, sh, sw, top, left):
    """y[n,p,q,c] = max_{i,j} x[n, p*sh+i-top, q*sw+j-left, c] over input cells; argmax = first winner's i*pw + j."""
    _, h, wd, channels = x.shape
    _, out_h, out_w, _ = y.shape
    for r in prange(x.shape[0] * out_h):  # one output row (image n, row p) per iteration
        n, p = r // out_h, r % out_h
        for q in range(out_w):
            for c in range(channels):
                y[n, p, q, c] = -np.inf
                argmax[n, p, q, c] = 0
            for i in range(ph):
                hh = p * sh + i - top
                if hh < 0 or hh >= h:
                    continue
                for j in range(pw):
                    ww = q * sw + j - left
                    if ww < 0 or ww >= wd:
                        continue
                    for c in range(channels):
                        v, best = x[n, hh, ww, c], y[n, p, q, c]
                        # Strictly greater: the first of equal cells keeps the win. A NaN wins and stays (np.max).
                        better = v > best or (v != v and best == best)
                        y[n, p, q, c] = v if better else best
                        argmax[n, p, q, c] = i * pw + j if better else argmax[n, p, q, c]


@njit(parallel=True, cache=True)
def _max_backward(dy, argmax, dx, ph, pw, sh, sw, top, left):
    """dx[n,h,w,c] = sum of dy[n,p,q,c] over the windows (p, q) whose winner is the cell (h, w)."""
    _, h, wd, channels = dx.shape
    _, out_h, out_w, _ = dy.shape
    for r in prange(dx.shape[0] * h):  # one input row (image n, row hh) per iteration
        n, hh = r // h, r % h
        dx[n, hh] = 0.0
        for i in range(ph):
            t = hh + top - i  # = p*sh for the window row p that holds row hh at offset i
            if t < 0 or t % sh != 0 or t // sh >= out_h:
                continue
            p = t // sh
            for q in range(out_w):
                for j in range(pw):
                    ww = q * sw + j - left
                    if 0 <= ww < wd:
                        for c in range(channels):
                            won = argmax[n, p, q, c] == i * pw + j
                            dx[n, hh, ww, c] += dy[n, p, q, c] if won else 0.0


@njit(cache=True)
def _cell_count(p, q, h, wd, ph, pw, sh, sw, top, left):
    """How many cells of window (p, q) lie inside the input; 1 for a window made only of padding."""
    rows = min(p * sh - top + ph, h) - max(p * sh - top, 0)
    cols = min(q * sw - left + pw, wd) - max(q * sw - left, 0)
    return rows * cols if rows > 0 and cols > 0 else 1


@njit(parallel=True, cache=True)
def _avg_forward(x, y, ph, pw, sh, sw, top, left):
    """y[n,p,q,c] = sum_{i,j} x[n, p*sh+i-top, q*sw+j-left, c] over input cells / count[p,q]."""
    _, h, wd, channels = x.shape
    _, out_h, out_w, _ = y.shape
    for r in prange(x.shape[0] * out_h):
        n, p = r // out_h, r % out_h
        for q in range(out_w):
            for c in range(channels):
                y[n, p, q, c] = 0.0
            for hh in range(max(p * sh - top, 0), min(p * sh - top + ph, h)):
                for ww in range(max(q * sw - left, 0), min(q * sw - left + pw, wd)):
                    for c in range(channels):
                        y[n, p, q, c] += x[n, hh, ww, c]
            scale = 1.0 / _cell_count(p, q, h, wd, ph, pw, sh, sw, top, left)
            for c in range(channels):
                y[n, p, q, c] *= scale


@njit(parallel=True, cache=True)
def _avg_backward(dy, dx, ph, pw, sh, sw, top, left):
    """dx[n,h,w,c] = sum of dy[n,p,q,c] / count[p,q] over the windows (p, q) that hold the cell (h, w)."""
    _, h, wd, channels = dx.shape
    _, out_h, out_w, _ = dy.shape
    for r in prange(dx.shape[0] * h):  # one input row (image n, row hh) per iteration
        n, hh = r // h, r % h
        dx[n, hh] = 0.0
        for i in range(ph):
            t = hh + top - i  # = p*sh for the window row p that holds row hh at offset i
            if t < 0 or t % sh != 0 or t // sh >= out_h:
                continue
            p = t // sh
            for q in range(out_w):
                scale = 1.0 / _cell_count(p, q, h, wd, ph, pw, sh, sw, top, left)
                for j in range(pw):
                    ww = q * sw + j - left
                    if 0 <= ww < wd:
                        for c in range(channels):
                            dx[n, hh, ww, c] += dy[n, p, q, c] * scale


# ----------------------------------------------------------------------------- the kernel contract
def _geometry(pool, strides, pads):
    """(ph, pw, sh, sw, top, left) as plain ints, the way the Numba kernels take them."""
    (ph, pw), (sh, sw), ((top, _), (left, _)) = pool, strides, pads
    return int(ph), int(pw), int(sh), int(sw), int(top), int(left)


def max_pool2d_forward(x, pool, strides, pads):
    """y = max over each window; returns (y, cache), cache = dict(x_shape, pool, strides, pads, argmax)."""
    x = float_array(x)
    out_h, out_w = window_output_hw(x.shape[1:3], pool, strides, pads, what="window")
    y = np.empty((x.shape[0], out_h, out_w, x.shape[3]), x.dtype)
    argmax = np.empty(y.shape, np.int32)
    _max_forward(x, y, argmax, *_geometry(pool, strides, pads))
    cache = {"x_shape": x.shape, "pool": tuple(pool), "strides": tuple(strides), "pads": pads, "argmax": argmax}
    return y, cache


def max_pool2d_backward(dy, cache):
    """dx[n, p*sh+i-top, q*sw+j-left, c] += dy[n,p,q,c] for the winning (i, j) of each window."""
    dy = float_array(dy)
    dx = np.empty(cache["x_shape"], dy.dtype)
    _max_backward(dy, cache["argmax"], dx, *_geometry(cache["pool"], cache["strides"], cache["pads"]))
    return dx


def avg_pool2d_forward(x, pool, strides, pads):
    """y[n,p,q,c] = sum of the window's input cells / their count (padding is not counted)."""
    x = float_array(x)
    out_h, out_w = window_output_hw(x.shape[1:3], pool, strides, pads, what="window")
    y = np.empty((x.shape[0], out_h, out_w, x.shape[3]), x.dtype)
    _avg_forward(x, y, *_geometry(pool, strides, pads))
    return y


def avg_pool2d_backward(dy, x_shape, pool, strides, pads):
    """dx[n, p*sh+i-top, q*sw+j-left, c] += dy[n,p,q,c] / count[p,q] for every input cell of every window."""
    dy = float_array(dy)
    dx = np.empty(tuple(x_shape), dy.dtype)
    _avg_backward(dy, dx, *_geometry(pool, strides, pads))
    return dx
