"""Launch code for kernels/elementwise.cu: activations, softmax, softmax + cross-entropy, dropout masks."""
from __future__ import annotations

import numpy as np

from engine.backends.cuda.library import blocks

__all__ = ["activation_forward", "activation_backward", "softmax_forward", "softmax_backward",
           "softmax_cross_entropy_forward", "softmax_cross_entropy_backward", "dropout_mask"]

ACTIVATION_CODES = {"linear": 0, "relu": 1, "sigmoid": 2, "tanh": 3, "leaky_relu": 4}  # enum Activation
THREADS, MAX_BLOCKS = 256, 4096          # elementwise kernels: a grid-stride loop
ROW_THREADS = (32, 8)                    # row kernels: one warp per row, 8 rows per block


def elementwise_grid(n):
    return (min(blocks(n, THREADS), MAX_BLOCKS),)


def _activation_code(name):
    if name not in ACTIVATION_CODES:
        raise ValueError(f"unknown activation {name!r}")
    return np.int32(ACTIVATION_CODES[name])


def _rows(lib, kernel, dtype, shape, args):
    """Launch a one-warp-per-row kernel over the rows of the last axis of `shape`."""
    rows, columns = int(np.prod(shape[:-1])), shape[-1]
    lib.launch("elementwise.cu", kernel, dtype, (blocks(rows, ROW_THREADS[1]),), ROW_THREADS,
               (*args, *lib.ints(rows, columns)))


def activation_forward(lib, name, x, alpha=0.3):
    code = _activation_code(name)
    x = lib.array(x, lib.float_dtype(x))
    y = lib.empty(x.shape, x.dtype)
    lib.launch("elementwise.cu", "activation_forward", x.dtype, elementwise_grid(x.size), (THREADS,),
               (x, y, *lib.ints(x.size), code, x.dtype.type(alpha)))
    return y


def activation_backward(lib, name, dy, x, y, alpha=0.3):
    code = _activation_code(name)
    dtype = lib.float_dtype(dy, x, y)
    dy, x, y = (lib.array(a, dtype) for a in (dy, x, y))
    dx = lib.empty(dy.shape, dtype)
    lib.launch("elementwise.cu", "activation_backward", dtype, elementwise_grid(dx.size), (THREADS,),
               (dy, x, y, dx, *lib.ints(dx.size), code, dtype.type(alpha)))
    return dx


def softmax_forward(lib, x):
    x = lib.array(x, lib.float_dtype(x))
    y = lib.empty(x.shape, x.dtype)
    _rows(lib, "softmax_forward", x.dtype, x.shape, (x, y))
    return y


def softmax_backward(lib, dy, y):
    dtype = lib.float_dtype(dy, y)
    dy, y = lib.array(dy, dtype), lib.array(y, dtype)
    dx = lib.empty(y.shape, dtype)
    _rows(lib, "softmax_backward", dtype, y.shape, (dy, y, dx))
    return dx


def softmax_cross_entropy_forward(lib, logits, targets):
    logits = lib.array(logits, lib.float_dtype(logits))
    targets = lib.array(targets, logits.dtype)
    losses, probs = lib.empty(logits.shape[:-1], logits.dtype), lib.empty(logits.shape, logits.dtype)
    _rows(lib, "softmax_cross_entropy_forward", logits.dtype, logits.shape, (logits, targets, losses, probs))
    return losses, probs


def softmax_cross_entropy_backward(lib, dlosses, probs, targets):
    dtype = lib.float_dtype(dlosses, probs)
    dlosses, probs, targets = (lib.array(a, dtype) for a in (dlosses, probs, targets))
    dlogits = lib.empty(probs.shape, dtype)
    _rows(lib, "softmax_cross_entropy_backward", dtype, probs.shape, (dlosses, probs, targets, dlogits))
    return dlogits


def dropout_mask(lib, shape, rate, rng, dtype):
    """Inverted dropout: 1/(1-rate) with probability 1-rate, else 0. The seed is drawn from `rng`, so a
    seeded generator gives the same mask on every run (but not the same mask as another backend)."""
    dtype = np.dtype(dtype)
    mask = lib.empty(tuple(shape), dtype)
    seed = np.uint64(rng.integers(0, 2**63))
    lib.launch("elementwise.cu", "dropout_mask", dtype, elementwise_grid(mask.size), (THREADS,),
               (mask, *lib.ints(mask.size), seed, np.float64(rate), dtype.type(1.0 / (1.0 - rate))))
    return mask
