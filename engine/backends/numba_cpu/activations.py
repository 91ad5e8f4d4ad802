"""Activations (elementwise) and softmax (over the last axis), forward and backward.

Every kernel is a plain loop over contiguous data: arrays are viewed as one flat vector (activations)
or as a matrix of rows over the last axis (softmax). The arithmetic stays in the arrays' dtype; softmax
denominators are accumulated in float64. ``activate_into`` and ``activation_grad`` are also the building
blocks of the recurrent kernels (recurrent.py).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange
from numba.extending import overload
from numba.np.numpy_support import as_dtype

from engine.backends.contract import ACTIVATION_CODES, activation_code, compute_dtype
from engine.backends.numba_cpu.common import JIT, SCALAR_JIT, SERIAL_JIT, as_flat, as_rows, launch
from engine.backends.numba_cpu.vectormath import exp_nonpos, sigmoid, tanh

# Activation codes as module constants, so that Numba compiles them into the loops.
LINEAR, RELU, SIGMOID, TANH, LEAKY_RELU = (ACTIVATION_CODES[name] for name in
                                           ("linear", "relu", "sigmoid", "tanh", "leaky_relu"))


@njit(**SERIAL_JIT)
def activate_into(a, code, alpha, out):
    """out[i] = act(a[i]) for 1-D arrays a and out (out may be a).

    One plain loop per activation, chosen before the loop starts, so that LLVM vectorises each one
    (a test on `code` inside the loop would keep it scalar). alpha: the leaky_relu slope.
    """
    if code == TANH:
        for i in range(a.size):
            out[i] = tanh(a[i])
    elif code == SIGMOID:
        for i in range(a.size):
            out[i] = sigmoid(a[i])
    elif code == RELU:
        zero = out.dtype.type(0)
        for i in range(a.size):
            out[i] = zero if a[i] < zero else a[i]       # NaN stays NaN, like np.maximum
    elif code == LEAKY_RELU:
        for i in range(a.size):
            out[i] = a[i] if a[i] >= 0 else alpha * a[i]
    else:
        out[:] = a


def activation_grad(y, code):
    """act'(a) written through the output y = act(a): 1, [y > 0], y(1 - y), 1 - y^2."""
    return {LINEAR: lambda y: np.ones_like(y), RELU: lambda y: (y > 0).astype(y.dtype),
            SIGMOID: lambda y: y * (1 - y), TANH: lambda y: 1 - y * y}[code](y)


@overload(activation_grad, **SCALAR_JIT)
def _activation_grad(y, code):
    F = as_dtype(y).type
    zero, one = F(0), F(1)

    def impl(y, code):
        if code == TANH:
            return one - y * y
        if code == SIGMOID:
            return y * (one - y)
        if code == RELU:
            return one if y > zero else zero
        return one
    return impl


@njit(**SERIAL_JIT)
def _activation_backward(dy, x, y, code, alpha, dx):
    """dx = dy * act'(x) for 1-D arrays; relu and leaky_relu test the input x, the others use the output y."""
    zero, one = dx.dtype.type(0), dx.dtype.type(1)
    if code == TANH:
        for i in range(dy.size):
            dx[i] = dy[i] * (one - y[i] * y[i])          # tanh' = 1 - tanh^2
    elif code == SIGMOID:
        for i in range(dy.size):
            dx[i] = dy[i] * (y[i] * (one - y[i]))        # σ' = σ (1 - σ)
    elif code == RELU:
        for i in range(dy.size):
            dx[i] = dy[i] if x[i] > 0 else dy[i] * zero  # dy * [x > 0]: NaN in dy stays NaN
    elif code == LEAKY_RELU:
        for i in range(dy.size):
            dx[i] = dy[i] if x[i] >= 0 else alpha * dy[i]
    else:
        dx[:] = dy


@njit(**JIT)
def _activation_forward_parallel(x, code, alpha, y, blocks):
    for k in prange(blocks):
        lo, hi = k * x.size // blocks, (k + 1) * x.size // blocks
        activate_into(x[lo:hi], code, alpha, y[lo:hi])


@njit(**JIT)
def _activation_backward_parallel(dy, x, y, code, alpha, dx, blocks):
    for k in prange(blocks):
        lo, hi = k * dy.size // blocks, (k + 1) * dy.size // blocks
        _activation_backward(dy[lo:hi], x[lo:hi], y[lo:hi], code, alpha, dx[lo:hi])


def activation_forward(name, x, alpha=0.3):
    """y = f(x) for f in linear, relu, sigmoid, tanh, leaky_relu (slope `alpha` below zero)."""
    code = activation_code(name)
    dtype = compute_dtype(x)
    xf = as_flat(x, dtype)
    y = np.empty_like(xf)
    launch(activate_into, _activation_forward_parallel, xf.size, xf, code, dtype.type(alpha), y)
    return y.reshape(np.shape(x))


def activation_backward(name, dy, x, y, alpha=0.3):
    """dL/dx = dL/dy * f'(x), f' read from the output y (sigmoid, tanh) or the input x (relus)."""
    code = activation_code(name)
    dtype = compute_dtype(dy, y)
    dyf = as_flat(dy, dtype)
    dx = np.empty_like(dyf)
    launch(_activation_backward, _activation_backward_parallel, dyf.size,
            dyf, as_flat(x, dtype), as_flat(y, dtype), code, dtype.type(alpha), dx)
    return dx.reshape(np.shape(dy))


# ---------------------------------------------------------------- softmax

@njit(**SERIAL_JIT)
def softmax_row(row, out):
    """out = softmax(row) = e^(row - max row) / sum_c e^(row[c] - max row); returns (max row, that sum),
    from which the cross-entropy kernel takes log-softmax = row - max - log sum."""
    top = row[0]
    for c in range(1, row.size):
        top = max(top, row[c])
    total = 0.0
    for c in range(row.size):
        out[c] = exp_nonpos(row[c] - top)
        total += out[c]
    scale = 1.0 / total
    for c in range(row.size):
        out[c] *= scale
    return top, total


@njit(**SERIAL_JIT)
def _softmax(x, y):
    """y[r] = softmax(x[r]), row by row."""
    for r in range(x.shape[0]):
        softmax_row(x[r], y[r])


@njit(**SERIAL_JIT)
def _softmax_backward(dy, y, dx):
    """dx[r] = y[r] * (dy[r] - sum_c dy[r,c] y[r,c])."""
    for r in range(y.shape[0]):
        dot = 0.0
        for c in range(y.shape[1]):
            dot += dy[r, c] * y[r, c]
        for c in range(y.shape[1]):
            dx[r, c] = y[r, c] * (dy[r, c] - dot)


@njit(**JIT)
def _softmax_parallel(x, y, blocks):
    for k in prange(blocks):
        lo, hi = k * x.shape[0] // blocks, (k + 1) * x.shape[0] // blocks
        _softmax(x[lo:hi], y[lo:hi])


@njit(**JIT)
def _softmax_backward_parallel(dy, y, dx, blocks):
    for k in prange(blocks):
        lo, hi = k * y.shape[0] // blocks, (k + 1) * y.shape[0] // blocks
        _softmax_backward(dy[lo:hi], y[lo:hi], dx[lo:hi])


def softmax_forward(x):
    """softmax(x)_c = exp(x_c - max x) / sum_k exp(x_k - max x), over the last axis."""
    rows = as_rows(x, compute_dtype(x))
    y = np.empty_like(rows)
    launch(_softmax, _softmax_parallel, rows.size, rows, y)
    return y.reshape(np.shape(x))


def softmax_backward(dy, y):
    """Jacobian-vector product of softmax: dx = y * (dy - sum(dy * y)) over the last axis."""
    dtype = compute_dtype(dy, y)
    y_rows = as_rows(y, dtype)
    dx = np.empty_like(y_rows)
    launch(_softmax_backward, _softmax_backward_parallel, y_rows.size, as_rows(dy, dtype), y_rows, dx)
    return dx.reshape(np.shape(y))
