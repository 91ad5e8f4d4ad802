"""Elementwise kernels: activations, softmax, fused softmax cross-entropy, batch norm, dropout masks.

Every kernel is a plain loop over contiguous data: arrays are viewed as a matrix (rows, last axis)
or as one flat vector. The arithmetic stays in the arrays' dtype (float32 in, float32 out); sums over
many elements (softmax denominators, batch statistics) are accumulated in float64.

Threads. Arrays of PARALLEL_MIN_SIZE elements or more are cut into one block of rows (or elements)
per thread: each kernel is a serial ``@njit`` function plus a three-line ``prange`` driver that calls
it on every block. Smaller arrays run on the calling thread, where starting threads would cost more
than it saves.

Fast transcendentals. ``math.exp``/``np.tanh`` inside a Numba loop are calls into libm, one element
at a time, so LLVM cannot vectorise the loop (perf-anchors.md: that alone makes a naive LSTM 14x
slower than PyTorch). The helpers below compute e^v with +, *, floor and a bit shift only, which LLVM
turns into AVX instructions that evaluate 8 float32 (or 4 float64) values at once:

    v = n ln2 + r,  n = round(v / ln2),  |r| <= ln2/2       (Cody-Waite: ln2 split in two parts)
    e^r - 1 = r + r^2 (1/2! + r/3! + ... )                  (Taylor, enough terms for the dtype)
    2^n     = the float whose exponent field is n + bias    (an integer shift, no libm)
    e^v = 2^n (e^r - 1) + 2^n,    e^v - 1 = 2^n (e^r - 1) + (2^n - 1)

They are accurate to a few units in the last place for float32 and float64. tanh and the sigmoid
are built on e^v - 1 for v <= 0, which never overflows and keeps full relative precision near 0:

    tanh(v) = sign(v) * -m / (2 + m),   m = e^(-2|v|) - 1
    σ(v) = 1 / (2 + m) for v >= 0, (1 + m) / (2 + m) for v < 0,   m = e^(-|v|) - 1

The scalar helpers are written as ``numba.extending.overload``s so that each is compiled for the
float type it is called with: float32 code uses float32 constants and never widens to float64.
Outside Numba they are ordinary NumPy functions with the same meaning. Two more details keep loops
vectorisable: ``error_model="numpy"`` (a division does not check for zero and raise) and the
fastmath flags in FASTMATH (fused multiply-add, no signed zeros, reciprocal), which never assume
that there are no NaNs or infinities.

The recurrent kernels (recurrent.py) reuse ``sigmoid``, ``activate_into`` and ``activation_grad``.
"""
from __future__ import annotations

import math

import numba
import numpy as np
from numba import literal_unroll, njit, prange
from numba.extending import overload
from numba.np.numpy_support import as_dtype

__all__ = ["activation_forward", "activation_backward", "softmax_forward", "softmax_backward",
           "softmax_cross_entropy_forward", "softmax_cross_entropy_backward",
           "batch_norm_train_forward", "batch_norm_backward", "batch_norm_inference", "dropout_mask"]

FASTMATH = {"contract", "nsz", "arcp"}
SERIAL_JIT = dict(cache=True, error_model="numpy", fastmath=FASTMATH)
JIT = dict(SERIAL_JIT, parallel=True)
_SCALAR = dict(jit_options=dict(error_model="numpy", fastmath=FASTMATH))

# Activation codes for Numba code (strings are resolved once, in Python).
LINEAR, RELU, SIGMOID, TANH, LEAKY_RELU = 0, 1, 2, 3, 4
ACTIVATION_CODES = {"linear": LINEAR, "relu": RELU, "sigmoid": SIGMOID, "tanh": TANH, "leaky_relu": LEAKY_RELU}


def activation_code(name, allowed=tuple(ACTIVATION_CODES)):
    """The integer code of activation `name`, or ValueError naming the valid ones."""
    if name not in allowed:
        raise ValueError(f"unknown activation {name!r}; valid ones: {', '.join(allowed)}")
    return ACTIVATION_CODES[name]


# ---------------------------------------------------------------- vectorisable scalar math

def exp_parts(v):
    """(2^n, e^r - 1) with e^v = 2^n (e^r - 1) + 2^n, for v <= 0 (see the module docstring)."""
    n = np.floor(v / np.log(2) + 0.5)
    return 2.0 ** n, np.expm1(v - n * np.log(2))


@overload(exp_parts, **_SCALAR)
def _exp_parts(v):
    F = as_dtype(v).type
    if F == np.float32:
        # 1/7!, ..., 1/2!: the Taylor tail after r^7/7! is below float32 rounding for |r| <= ln2/2.
        coeffs = tuple(F(1 / math.factorial(k)) for k in range(7, 1, -1))
        lowest, Int, bias, mantissa_bits = F(-87.0), np.int32, 127, 23
    else:
        coeffs = tuple(1 / math.factorial(k) for k in range(13, 1, -1))
        lowest, Int, bias, mantissa_bits = -708.0, np.int64, 1023, 52
    zero, half, log2e = F(0), F(0.5), F(1 / math.log(2))
    ln2_hi, ln2_lo = F(0.693145751953125), F(1.42860682030941723212e-6)   # ln2_hi * n is exact

    def impl(v):
        x = max(v, lowest)                       # e^lowest is about the smallest normal float
        n = np.floor(x * log2e + half)
        r = (x - n * ln2_hi) - n * ln2_lo        # x - n ln2 without cancellation error
        p = coeffs[0]
        for c in literal_unroll(coeffs[1:]):     # Horner: 1/2! + r/3! + r^2/4! + ...
            p = p * r + c
        # 2^n from its bit pattern; below `lowest` e^v is (nearly) 0, so is 2^n (e^-inf = 0 exactly)
        two_n = zero if v < lowest else Int((Int(n) + bias) << mantissa_bits).view(F)
        return two_n, p * r * r + r
    return impl


def exp_nonpos(v):
    """e^v for v <= 0, vectorisable."""
    return np.exp(v)


@overload(exp_nonpos, **_SCALAR)
def _exp_nonpos(v):
    def impl(v):
        two_n, em1 = exp_parts(v)
        return two_n * em1 + two_n
    return impl


def tanh(v):
    """tanh(v), vectorisable: sign(v) * -m / (2 + m) with m = e^(-2|v|) - 1."""
    return np.tanh(v)


@overload(tanh, **_SCALAR)
def _tanh(v):
    F = as_dtype(v).type
    one, two = F(1), F(2)

    def impl(v):
        two_n, em1 = exp_parts(-two * abs(v))
        m = two_n * em1 + (two_n - one)          # e^(-2|v|) - 1, in (-1, 0]
        return math.copysign(-m / (two + m), v)
    return impl


def sigmoid(v):
    """σ(v) = 1 / (1 + e^-v), vectorisable and overflow-free (see the module docstring)."""
    return 0.5 * (1 + np.tanh(0.5 * v))


@overload(sigmoid, **_SCALAR)
def _sigmoid(v):
    F = as_dtype(v).type
    one, two, zero = F(1), F(2), F(0)

    def impl(v):
        two_n, em1 = exp_parts(-abs(v))
        m = two_n * em1 + (two_n - one)          # e^-|v| - 1
        d = one / (two + m)                      # 1 / (1 + e^-|v|) = σ(|v|)
        return d if v >= zero else (one + m) * d  # σ(-|v|) = e^-|v| σ(|v|)
    return impl


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


@overload(activation_grad, **_SCALAR)
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


# ---------------------------------------------------------------- layouts and threads

# Arrays smaller than this many elements are done by one thread: starting the others costs ~10 µs,
# more than the work saves (and on a busy machine a sleeping thread can take a whole time slice).
PARALLEL_MIN_SIZE = 1 << 17


def _float_dtype(*arrays):
    """float32 if every array is float32, else float64: the dtype a kernel computes in."""
    return np.dtype(np.float32) if np.result_type(*arrays) == np.float32 else np.dtype(np.float64)


def _flat(x, dtype):
    """x as a contiguous 1-D array of `dtype` (a view when x already is one, else a copy)."""
    return np.ascontiguousarray(x, dtype=dtype).reshape(-1)


def _rows(x, dtype):
    """x as a contiguous (rows, last axis) matrix of `dtype`."""
    x = np.ascontiguousarray(x, dtype=dtype)
    return x.reshape(-1, x.shape[-1]) if x.ndim else x.reshape(1, 1)


def _launch(kernel, parallel_kernel, size, *args):
    """kernel(*args) on one thread for small arrays, else parallel_kernel(*args, blocks): the same work
    cut into one block of rows (or elements) per thread."""
    if size < PARALLEL_MIN_SIZE or numba.get_num_threads() == 1:
        return kernel(*args)
    return parallel_kernel(*args, numba.get_num_threads())


# ---------------------------------------------------------------- activations

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
    dtype = _float_dtype(x)
    xf = _flat(x, dtype)
    y = np.empty_like(xf)
    _launch(activate_into, _activation_forward_parallel, xf.size, xf, code, dtype.type(alpha), y)
    return y.reshape(np.shape(x))


def activation_backward(name, dy, x, y, alpha=0.3):
    """dL/dx = dL/dy * f'(x), f' read from the output y (sigmoid, tanh) or the input x (relus)."""
    code = activation_code(name)
    dtype = _float_dtype(dy, y)
    dyf = _flat(dy, dtype)
    dx = np.empty_like(dyf)
    _launch(_activation_backward, _activation_backward_parallel, dyf.size,
            dyf, _flat(x, dtype), _flat(y, dtype), code, dtype.type(alpha), dx)
    return dx.reshape(np.shape(dy))


# ---------------------------------------------------------------- softmax and cross-entropy

@njit(**SERIAL_JIT)
def _row_max(row):
    top = row[0]
    for c in range(1, row.size):
        top = max(top, row[c])
    return top


@njit(**SERIAL_JIT)
def _softmax(x, y):
    """y[r] = e^(x[r] - max x[r]) / sum_c e^(x[r,c] - max x[r]), row by row."""
    for r in range(x.shape[0]):
        row, out = x[r], y[r]
        top = _row_max(row)
        total = 0.0
        for c in range(row.size):
            out[c] = exp_nonpos(row[c] - top)
            total += out[c]
        scale = 1.0 / total
        for c in range(row.size):
            out[c] *= scale


@njit(**SERIAL_JIT)
def _softmax_backward(dy, y, dx):
    """dx[r] = y[r] * (dy[r] - sum_c dy[r,c] y[r,c])."""
    for r in range(y.shape[0]):
        dot = 0.0
        for c in range(y.shape[1]):
            dot += dy[r, c] * y[r, c]
        for c in range(y.shape[1]):
            dx[r, c] = y[r, c] * (dy[r, c] - dot)


@njit(**SERIAL_JIT)
def _softmax_cross_entropy(z, t, losses, probs):
    """log p[r,c] = z[r,c] - max z[r] - log sum_k e^(z[r,k] - max z[r]);  losses[r] = -sum_c t[r,c] log p[r,c]."""
    for r in range(z.shape[0]):
        row, p = z[r], probs[r]
        top = _row_max(row)
        total = 0.0
        for c in range(row.size):
            p[c] = exp_nonpos(row[c] - top)
            total += p[c]
        log_total = math.log(total)
        loss = 0.0
        for c in range(row.size):
            loss -= t[r, c] * (row[c] - top - log_total)
        losses[r] = loss
        scale = 1.0 / total
        for c in range(row.size):
            p[c] *= scale


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
def _softmax_parallel(x, y, blocks):
    for k in prange(blocks):
        lo, hi = k * x.shape[0] // blocks, (k + 1) * x.shape[0] // blocks
        _softmax(x[lo:hi], y[lo:hi])


@njit(**JIT)
def _softmax_backward_parallel(dy, y, dx, blocks):
    for k in prange(blocks):
        lo, hi = k * y.shape[0] // blocks, (k + 1) * y.shape[0] // blocks
        _softmax_backward(dy[lo:hi], y[lo:hi], dx[lo:hi])


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


def softmax_forward(x):
    """softmax(x)_c = exp(x_c - max x) / sum_k exp(x_k - max x), over the last axis."""
    rows = _rows(x, _float_dtype(x))
    y = np.empty_like(rows)
    _launch(_softmax, _softmax_parallel, rows.size, rows, y)
    return y.reshape(np.shape(x))


def softmax_backward(dy, y):
    """Jacobian-vector product of softmax: dx = y * (dy - sum(dy * y)) over the last axis."""
    dtype = _float_dtype(dy, y)
    y_rows = _rows(y, dtype)
    dx = np.empty_like(y_rows)
    _launch(_softmax_backward, _softmax_backward_parallel, y_rows.size, _rows(dy, dtype), y_rows, dx)
    return dx.reshape(np.shape(y))


def softmax_cross_entropy_forward(logits, targets):
    """losses[n] = -sum_c t[n,c] log_softmax(z)[n,c] over the last axis; returns (losses, probs)."""
    dtype = _float_dtype(logits, targets)
    z = _rows(logits, dtype)
    probs = np.empty_like(z)
    losses = np.empty(z.shape[0], dtype=dtype)
    _launch(_softmax_cross_entropy, _softmax_cross_entropy_parallel, z.size, z, _rows(targets, dtype), losses, probs)
    return losses.reshape(np.shape(logits)[:-1]), probs.reshape(np.shape(logits))


def softmax_cross_entropy_backward(dlosses, probs, targets):
    """d loss_n / d z_c = dlosses_n * (p_c * sum_k t_k - t_c)."""
    dtype = _float_dtype(dlosses, probs, targets)
    p = _rows(probs, dtype)
    dz = np.empty_like(p)
    _launch(_softmax_cross_entropy_backward, _softmax_cross_entropy_backward_parallel, p.size,
            _flat(dlosses, dtype), p, _rows(targets, dtype), dz)
    return dz.reshape(np.shape(probs))


# ---------------------------------------------------------------- batch normalisation

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
    dtype = _float_dtype(x, gamma, beta)
    rows = _rows(x, dtype)
    m = rows.shape[0]
    zeros = np.zeros(rows.shape[1], dtype=dtype)
    mean = (_launch(_moments, _moments_parallel, rows.size, rows, zeros, rows, zeros)[0] / m).astype(dtype)
    # sum (x - mean)^2 in a second pass, as np.var does
    var64 = _launch(_moments, _moments_parallel, rows.size, rows, mean, rows, mean)[1] / m
    inv_std = (1.0 / np.sqrt(var64 + epsilon)).astype(dtype)
    gamma, beta = (np.ascontiguousarray(a, dtype=dtype) for a in (gamma, beta))
    y = np.empty_like(rows)
    _launch(_scale_shift, _scale_shift_parallel, rows.size, rows, mean, gamma * inv_std, beta, y)
    return y.reshape(np.shape(x)), mean, var64.astype(dtype), (rows, mean, inv_std, gamma)


def batch_norm_backward(dy, cache):
    """Gradients of training-mode batch norm: (dx, dgamma, dbeta)."""
    rows, mean, inv_std, gamma = cache
    dy_rows = _rows(dy, rows.dtype)
    sums = _launch(_moments, _moments_parallel, rows.size, dy_rows, np.zeros_like(mean), rows, mean)
    dbeta = sums[0].astype(rows.dtype)                  # sum dy
    dgamma = (sums[1] * inv_std).astype(rows.dtype)     # sum dy (x - mean) inv_std = sum dy x_hat
    dx = np.empty_like(dy_rows)
    _launch(_batch_norm_input_grad, _batch_norm_input_grad_parallel, rows.size,
            dy_rows, rows, mean, inv_std, gamma, dbeta, dgamma, rows.shape[0], dx)
    return dx.reshape(np.shape(dy)), dgamma, dbeta


def batch_norm_inference(x, gamma, beta, mean, var, epsilon):
    """y = gamma * (x - moving_mean) / sqrt(moving_var + eps) + beta."""
    dtype = _float_dtype(x, gamma, beta, mean, var)
    rows = _rows(x, dtype)
    gamma, beta, mean, var = (np.ascontiguousarray(a, dtype=dtype) for a in (gamma, beta, mean, var))
    scale = (gamma / np.sqrt(var + epsilon)).astype(dtype)
    y = np.empty_like(rows)
    _launch(_scale_shift, _scale_shift_parallel, rows.size, rows, mean, scale, beta, y)
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
