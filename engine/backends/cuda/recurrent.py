"""Launch code for kernels/recurrent.cu: SimpleRNN, LSTM and GRU, one fused kernel launch per time step.

The input projection x·W + b of all steps, the weight gradients and dh0 are single matrix products
(cuBLAS on the GPU, through the array module's @), shared with the NumPy reference in
engine/backends/recurrent_gemm.py: they only use @, reshape and concatenate, which dispatch to CuPy.
"""
from __future__ import annotations

import numpy as np

from engine.backends.contract import RECURRENT_ACTIVATIONS, activation_code, compute_dtype
from engine.backends.cuda.library import blocks
from engine.backends.recurrent_gemm import previous_states, project_back, project_in

THREADS = (32, 8)                      # units x batch rows per block


def _run_steps(lib, kernel, dtype, shape, arrays, activation, reverse=False):
    """Launch recurrent.cu's `kernel` once per time step t (T-1 down to 0 when reverse).

    shape = (N, T, u); the kernel takes the arrays, then N, T, u, t and the activation code.
    """
    n, steps, units = shape
    step = lib.function("recurrent.cu", kernel, dtype)
    grid = (blocks(units, THREADS[0]), blocks(n, THREADS[1]))
    sizes, act = lib.ints(n, steps, units), np.int32(activation)
    for t in (reversed(range(steps)) if reverse else range(steps)):
        step(grid, THREADS, (*arrays, *sizes, np.int32(t), act))


def _inputs(lib, *arrays):
    dtype = compute_dtype(*arrays)
    return dtype, [lib.array(a, dtype) for a in arrays]


# ---------------------------------------------------------------- SimpleRNN

def simple_rnn_forward(lib, x, W, U, b, h0, activation):
    act = activation_code(activation, RECURRENT_ACTIVATIONS)
    dtype, (x, W, U, b, h0) = _inputs(lib, x, W, U, b, h0)
    xw = lib.array(project_in(x, W, b), dtype)
    hs = lib.empty(xw.shape, dtype)
    _run_steps(lib, "simple_rnn_forward_step", dtype, hs.shape, (xw, U, h0, hs), act)
    return hs, dict(x=x, W=W, U=U, h0=h0, hs=hs, activation=act)


def simple_rnn_backward(lib, dhs, cache):
    U, hs = cache["U"], cache["hs"]
    dhs = lib.array(dhs, hs.dtype)
    da = lib.empty(hs.shape, hs.dtype)                 # dLoss/da_t, a_t = x_t·W + b + h_{t-1}·U
    _run_steps(lib, "simple_rnn_backward_step", hs.dtype, hs.shape, (dhs, hs, U, da), cache["activation"],
               reverse=True)
    h_prev = previous_states(cache["h0"], hs)
    dx, dW, dU = project_back(cache["x"], cache["W"], da, h_prev, U, da)
    return dx, dW, dU, da.sum(axis=(0, 1)), da[:, 0] @ U.T


# ---------------------------------------------------------------- LSTM

def lstm_forward(lib, x, W, U, b, h0, c0, activation):
    act = activation_code(activation, RECURRENT_ACTIVATIONS)
    dtype, (x, W, U, b, h0, c0) = _inputs(lib, x, W, U, b, h0, c0)
    xw = lib.array(project_in(x, W, b), dtype)
    gates = lib.empty(xw.shape, dtype)                 # activated gates i, f, g, o of every step
    n, steps, units = x.shape[0], x.shape[1], U.shape[0]
    cs, act_cs, hs = (lib.empty((n, steps, units), dtype) for _ in range(3))
    _run_steps(lib, "lstm_forward_step", dtype, hs.shape, (xw, U, h0, c0, gates, cs, act_cs, hs), act)
    cache = dict(x=x, W=W, U=U, h0=h0, c0=c0, hs=hs, cs=cs, act_cs=act_cs, gates=gates, activation=act)
    return hs, cache


def lstm_backward(lib, dhs, cache):
    U, hs = cache["U"], cache["hs"]
    dhs = lib.array(dhs, hs.dtype)
    dz = lib.empty(cache["gates"].shape, hs.dtype)      # dLoss/dz_t for z_i, z_f, z_c, z_o
    dc = lib.zeros(cache["c0"].shape, hs.dtype)         # carries dc_{t+1} * f_{t+1} down the steps
    arrays = (dhs, cache["gates"], cache["cs"], cache["act_cs"], cache["c0"], U, dz, dc)
    _run_steps(lib, "lstm_backward_step", hs.dtype, hs.shape, arrays, cache["activation"], reverse=True)
    h_prev = previous_states(cache["h0"], hs)
    dx, dW, dU = project_back(cache["x"], cache["W"], dz, h_prev, U, dz)
    return dx, dW, dU, dz.sum(axis=(0, 1)), dz[:, 0] @ U.T, dc


# ---------------------------------------------------------------- GRU

def gru_forward(lib, x, W, U, B, h0, activation):
    act = activation_code(activation, RECURRENT_ACTIVATIONS)
    dtype, (x, W, U, B, h0) = _inputs(lib, x, W, U, B, h0)
    xw = lib.array(project_in(x, W, B[0]), dtype)
    n, steps, units = x.shape[0], x.shape[1], U.shape[0]
    zs, rs, hcs, hhs, hs = (lib.empty((n, steps, units), dtype) for _ in range(5))
    _run_steps(lib, "gru_forward_step", dtype, hs.shape, (xw, U, lib.array(B[1], dtype), h0, zs, rs, hcs, hhs, hs),
               act)
    return hs, dict(x=x, W=W, U=U, h0=h0, hs=hs, z=zs, r=rs, hc=hcs, hh=hhs, activation=act)


def gru_backward(lib, dhs, cache):
    U, hs = cache["U"], cache["hs"]
    dhs = lib.array(dhs, hs.dtype)
    n, steps, units = hs.shape
    dxw = lib.empty((n, steps, 3 * units), hs.dtype)   # dLoss/d(x_t·W + B[0])
    dhu = lib.empty(dxw.shape, hs.dtype)               # dLoss/d(h_{t-1}·U + B[1])
    carry = lib.zeros((n, units), hs.dtype)            # dh_{t+1} * z_{t+1}
    arrays = (dhs, hs, cache["h0"], cache["z"], cache["r"], cache["hc"], cache["hh"], U, dxw, dhu, carry)
    _run_steps(lib, "gru_backward_step", hs.dtype, hs.shape, arrays, cache["activation"], reverse=True)
    h_prev = previous_states(cache["h0"], hs)
    dx, dW, dU = project_back(cache["x"], cache["W"], dxw, h_prev, U, dhu)
    dB = lib.xp.stack([dxw.sum(axis=(0, 1)), dhu.sum(axis=(0, 1))])
    return dx, dW, dU, dB, carry + dhu[:, 0] @ U.T
