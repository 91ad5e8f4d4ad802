"""Launch code for kernels/activations.cu: activations (elementwise) and softmax (one warp per row)."""
from __future__ import annotations

import numpy as np

from engine.backends.contract import activation_code, compute_dtype


def activation_forward(lib, name, x, alpha=0.3):
    code = np.int32(activation_code(name))
    x = lib.array(x, compute_dtype(x))
    y = lib.empty(x.shape, x.dtype)
    lib.launch_elementwise("activations.cu", "activation_forward", x.dtype, x.size,
                           (x, y, *lib.ints(x.size), code, x.dtype.type(alpha)))
    return y


def activation_backward(lib, name, dy, x, y, alpha=0.3):
    code = np.int32(activation_code(name))
    dtype = compute_dtype(dy, x, y)
    dy, x, y = (lib.array(a, dtype) for a in (dy, x, y))
    dx = lib.empty(dy.shape, dtype)
    lib.launch_elementwise("activations.cu", "activation_backward", dtype, dx.size,
                           (dy, x, y, dx, *lib.ints(dx.size), code, dtype.type(alpha)))
    return dx


def softmax_forward(lib, x):
    x = lib.array(x, compute_dtype(x))
    y = lib.empty(x.shape, x.dtype)
    lib.launch_rows("activations.cu", "softmax_forward", x.dtype, x.shape, (x, y))
    return y


def softmax_backward(lib, dy, y):
    dtype = compute_dtype(dy, y)
    dy, y = lib.array(dy, dtype), lib.array(y, dtype)
    dx = lib.empty(y.shape, dtype)
    lib.launch_rows("activations.cu", "softmax_backward", dtype, y.shape, (dy, y, dx))
    return dx
