"""Vectorisable exp, tanh and sigmoid for Numba loops.

Fast transcendentals. ``math.exp``/``np.tanh`` inside a Numba loop are calls into libm, one element
at a time, so LLVM cannot vectorise the loop (perf-anchors.md: that alone makes a naive LSTM 14x
slower than PyTorch). The helpers here compute e^v with +, *, floor and a bit shift only, which LLVM
turns into AVX instructions that evaluate 8 float32 (or 4 float64) values at once:

    v = n ln2 + r,  n = round(v / ln2),  |r| <= ln2/2       (Cody-Waite: ln2 split in two parts)
    e^r - 1 = r + r^2 (1/2! + r/3! + ... )                  (Taylor, enough terms for the dtype)
    2^n     = the float whose exponent field is n + bias    (an integer shift, no libm)
    e^v = 2^n (e^r - 1) + 2^n,    e^v - 1 = 2^n (e^r - 1) + (2^n - 1)

They are accurate to a few units in the last place for float32 and float64. tanh is built on
e^v - 1 for v <= 0, which never overflows and keeps full relative precision near 0; the sigmoid on
e^v itself, so that σ of a very negative v (a closed gate, e^-30 say) keeps its relative precision
too (1 + (e^v - 1) would round it to a multiple of the float's epsilon):

    tanh(v) = sign(v) * -m / (2 + m) for |v| < 1/2, sign(v) * (1 - 2e / (1 + e)) beyond,
              m = e^(-2|v|) - 1,  e = m + 1 = e^(-2|v|)
    σ(v) = 1 / (1 + e) for v >= 0, e / (1 + e) for v < 0,   e = e^(-|v|)

The scalar helpers are written as ``numba.extending.overload``s so that each is compiled for the
float type it is called with: float32 code uses float32 constants and never widens to float64.
Outside Numba they are ordinary NumPy functions with the same meaning. Two more details keep loops
vectorisable: ``error_model="numpy"`` (a division does not check for zero and raise) and the
fastmath flags in FASTMATH (fused multiply-add, no signed zeros, reciprocal), which never assume
that there are no NaNs or infinities.

The activation, loss and recurrent kernels use ``exp_nonpos``, ``tanh`` and ``sigmoid``.
"""
from __future__ import annotations

import math

import numpy as np
from numba import literal_unroll
from numba.extending import overload
from numba.np.numpy_support import as_dtype

from engine.backends.numba_cpu.common import SCALAR_JIT


def exp_parts(v):
    """(2^n, e^r - 1) with e^v = 2^n (e^r - 1) + 2^n, for v <= 0 (see the module docstring)."""
    n = np.floor(v / np.log(2) + 0.5)
    return 2.0 ** n, np.expm1(v - n * np.log(2))


@overload(exp_parts, **SCALAR_JIT)
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


@overload(exp_nonpos, **SCALAR_JIT)
def _exp_nonpos(v):
    def impl(v):
        two_n, em1 = exp_parts(v)
        return two_n * em1 + two_n
    return impl


def tanh(v):
    """tanh(v), vectorisable (see the module docstring)."""
    return np.tanh(v)


@overload(tanh, **SCALAR_JIT)
def _tanh(v):
    F = as_dtype(v).type
    half, one, two = F(0.5), F(1), F(2)

    def impl(v):
        two_n, em1 = exp_parts(-two * abs(v))
        e = two_n * em1 + two_n                  # e^(-2|v|), in (0, 1]
        m = two_n * em1 + (two_n - one)          # e^(-2|v|) - 1, in (-1, 0]
        q = one / (one + e)
        # near 0, -m/(1+e) keeps tanh's relative precision; from |v| = 0.5 on, 1 - 2e/(1+e) rounds
        # only the small correction to 1 (tanh - 1 is what the derivative 1 - tanh^2 depends on)
        t = -m * q if abs(v) < half else one - two * e * q
        return math.copysign(t, v)
    return impl


def sigmoid(v):
    """σ(v) = 1 / (1 + e^-v), vectorisable and overflow-free (see the module docstring)."""
    return 0.5 * (1 + np.tanh(0.5 * v))


@overload(sigmoid, **SCALAR_JIT)
def _sigmoid(v):
    F = as_dtype(v).type
    one, zero = F(1), F(0)

    def impl(v):
        two_n, em1 = exp_parts(-abs(v))
        e = two_n * em1 + two_n                  # e^-|v|, to full relative precision
        d = one / (one + e)                      # 1 / (1 + e^-|v|) = σ(|v|)
        return d if v >= zero else e * d         # σ(-|v|) = e^-|v| σ(|v|)
    return impl
