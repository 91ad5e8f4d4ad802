"""SimpleRNN, LSTM and GRU over a whole sequence: fused Numba kernels, forward and backward.

The formulas are those of numpy_ref/recurrent.py (Keras layouts: x (N, T, F), hs (N, T, u), LSTM gates
i, f, c, o, GRU reset_after=True gates z, r, h; the recurrent activation is σ). What differs is how the
work is laid out:

1. The input projection of every time step is one matrix product, x_t·W for all t at once. The
   kernels work time-major: xw is (T, N, k), so xw[t] is a contiguous (N, k) block.
2. The samples of a batch never interact, so a kernel runs the WHOLE time loop for a block of batch
   rows ``lo:hi``, and large batches are cut into one block per thread: one parallel region per
   sequence, no synchronisation between time steps. A step is one BLAS call, h_{t-1}·U for the block
   into a preallocated buffer (the LSTM: one per gate, small enough for OpenBLAS's no-packing kernels,
   see _gate_blocks) (``np.dot(a, b, out)``; BLAS is kept to one thread meanwhile, see
   ``single_threaded_blas`` in blas.py), then ONE fused pass over the block's rows that computes
   every gate, the new cell state and the new hidden state. σ and tanh come from vectormath.py:
   written with +, *, floor and a shift, so LLVM evaluates 8 float32 values per instruction instead
   of calling libm for each one.
3. Backpropagation through time is laid out the same way, walking t down: per step one fused pass
   writes the gradient of every gate pre-activation, then one BLAS call (that gradient)·Uᵀ carries it
   to h_{t-1}. The weight gradients are three large matrix products over all T·N rows at the end,
   their rows split between the threads too: dW = Σ_t x_tᵀ dz_t, dU = Σ_t h_{t-1}ᵀ dz_t, dx = dz Wᵀ.

State buffers hold T+1 steps: hbuf[0] = h_0 and hbuf[t+1] = h_{t+1}, so hbuf[:T] are the previous
states of all steps as one contiguous (T·N, u) matrix for dU. ``cache`` is a dict of these buffers.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from engine.backends.numba_cpu.blas import single_threaded_blas
from engine.backends.contract import RECURRENT_ACTIVATIONS, activation_code, compute_dtype
from engine.backends.numba_cpu.activations import activate_into, activation_grad
from engine.backends.numba_cpu.common import JIT, SERIAL_JIT
from engine.backends.numba_cpu.vectormath import sigmoid

# Work is split between threads from this many multiply-adds on (about 20 µs on one core): below,
# starting the threads costs more than they save.
PARALLEL_MIN_MACS = 1 << 21


# ---------------------------------------------------------------- layouts, threads, matrix products

def _blocks(rows, macs):
    """How many blocks of rows (one per thread) to cut `rows` into for `macs` multiply-adds in all."""
    return 1 if macs < PARALLEL_MIN_MACS else max(1, min(rows, numba.get_num_threads()))


def _run(kernel, parallel_kernel, rows, macs, *args):
    """kernel(0, rows, *args) on this thread, or parallel_kernel(blocks, *args) (same work, in blocks)."""
    blocks = _blocks(rows, macs)
    if blocks == 1:
        kernel(0, rows, *args)
    else:
        parallel_kernel(blocks, *args)


def _time_major(x, dtype):
    """x (N, T, F) -> contiguous (T, N, F) of `dtype`."""
    return np.ascontiguousarray(np.asarray(x, dtype=dtype).transpose(1, 0, 2))


def _state_buffer(s0, T, dtype):
    """(T+1, N, u) buffer with s_0 in slot 0."""
    buf = np.empty((T + 1, *np.shape(s0)), dtype=dtype)
    buf[0] = s0
    return buf


@njit(**JIT)
def _matmul_parallel(a, b, out, blocks):
    """out = a·b, the rows of a and out cut into one block per thread."""
    for k in prange(blocks):
        lo, hi = k * a.shape[0] // blocks, (k + 1) * a.shape[0] // blocks
        np.dot(a[lo:hi], b, out[lo:hi])


@njit(**JIT)
def _matmul_t_parallel(a, b, blocks):
    """aᵀ·b = Σ_k a_kᵀ·b_k over blocks k of rows, one block per thread, the partial products added last."""
    partial = np.empty((blocks, a.shape[1], b.shape[1]), dtype=a.dtype)
    for k in prange(blocks):
        lo, hi = k * a.shape[0] // blocks, (k + 1) * a.shape[0] // blocks
        np.dot(a[lo:hi].T, b[lo:hi], partial[k])
    return partial.sum(axis=0)


def _matmul(a, b, out):
    """out = a·b for C-contiguous matrices, split between threads when it is large."""
    blocks = _blocks(a.shape[0], a.shape[0] * a.shape[1] * b.shape[1])
    if blocks == 1:
        np.dot(a, b, out=out)
    else:
        _matmul_parallel(a, b, out, blocks)


def _matmul_t(a, b):
    """aᵀ·b for C-contiguous matrices with many rows, split between threads when it is large."""
    blocks = _blocks(a.shape[0], a.shape[0] * a.shape[1] * b.shape[1])
    return a.T @ b if blocks == 1 else _matmul_t_parallel(a, b, blocks)


def _project_in(x_tm, W):
    """x_t·W for every step with one matrix product: (T, N, F) -> (T, N, k)."""
    T, N, F = x_tm.shape
    xw = np.empty((T, N, W.shape[1]), dtype=x_tm.dtype)
    _matmul(x_tm.reshape(T * N, F), W, xw.reshape(T * N, -1))
    return xw


def _project_back(x_tm, W, dxw, h_prev, dhu):
    """(dx (N, T, F), dW, dU) from dxw = dLoss/d(x_t·W) and dhu = dLoss/d(h_{t-1}·U), both (T, N, k):
    dx_t = dxw_t·Wᵀ, dW = Σ_t x_tᵀ·dxw_t, dU = Σ_t h_{t-1}ᵀ·dhu_t, each one product over all T·N rows."""
    T, N, F = x_tm.shape
    rows, k = T * N, W.shape[1]
    dxw2 = dxw.reshape(rows, k)
    dx = np.empty((T, N, F), dtype=x_tm.dtype)
    _matmul(dxw2, np.ascontiguousarray(W.T), dx.reshape(rows, F))
    dW = _matmul_t(x_tm.reshape(rows, F), dxw2)
    dU = _matmul_t(h_prev.reshape(rows, -1), dhu.reshape(rows, k))
    return np.ascontiguousarray(dx.transpose(1, 0, 2)), dW, dU


def _gate_blocks(U, n_gates, transposed=False):
    """U (u, n_gates*u) as n_gates contiguous (u, u) blocks, U_k = U[:, k*u:(k+1)*u] (or U_kᵀ).

    Why per gate: OpenBLAS multiplies a product of up to about 10^6 multiply-adds with its small-matrix
    kernels, which skip the packing of both operands. A step of 32 batch rows times (128, 512) is 2·10^6,
    and the packing of U at every step cost a third of it: four (128, 128) products took 31 µs against
    46 µs for one (128, 512), and the backward's four (32, 128)·(128, 128) 29 µs against 49 µs (measured
    on the dev box; for 64 rows and more the two are within 8%).
    """
    u = U.shape[0]
    blocks = U.reshape(u, n_gates, u).transpose(1, 2, 0) if transposed else U.reshape(u, n_gates, u).transpose(1, 0, 2)
    return np.ascontiguousarray(blocks)


def _column_sums(a):
    """a (T, N, k) summed over T and N: the bias gradient."""
    return a.reshape(-1, a.shape[-1]).sum(axis=0)


# ---------------------------------------------------------------- SimpleRNN

@njit(**SERIAL_JIT)
def _simple_rnn_steps(lo, hi, xw, U, b, code, hbuf, hs):
    """h_{t+1} = act(xw[t] + b + h_t·U) into hbuf[t+1] and hs[:, t] for batch rows lo..hi-1 and
    t = 0..T-1, from hbuf[0] = h_0."""
    T, _, u = xw.shape
    zero = xw.dtype.type(0)
    for t in range(T):
        np.dot(hbuf[t, lo:hi], U, hbuf[t + 1, lo:hi])    # a = h_t·U
        for n in range(lo, hi):
            a, x_n = hbuf[t + 1, n], xw[t, n]
            for j in range(u):
                a[j] += x_n[j] + b[j]                     # a = x_t·W + b + h_t·U
            activate_into(a, code, zero, a)               # h_{t+1} = act(a), in place
            for j in range(u):
                hs[n, t, j] = a[j]


@njit(**SERIAL_JIT)
def _simple_rnn_bptt(lo, hi, dhs, UT, code, hbuf, da, dh):
    """da[t] = dLoss/da_t for batch rows lo..hi-1 and t = T-1..0.  dh: zeros on entry, dLoss/dh_0 on return."""
    _, T, u = dhs.shape
    for t in range(T - 1, -1, -1):
        for n in range(lo, hi):
            h, dh_n, da_n = hbuf[t + 1, n], dh[n], da[t, n]
            for j in range(u):
                # h_t feeds the loss and step t+1;  h_t = act(a_t)
                da_n[j] = (dhs[n, t, j] + dh_n[j]) * activation_grad(h[j], code)
        np.dot(da[t, lo:hi], UT, dh[lo:hi])               # a_t = ... + h_{t-1}·U


@njit(**JIT)
def _simple_rnn_steps_parallel(blocks, xw, U, b, code, hbuf, hs):
    for k in prange(blocks):
        _simple_rnn_steps(k * xw.shape[1] // blocks, (k + 1) * xw.shape[1] // blocks, xw, U, b, code, hbuf, hs)


@njit(**JIT)
def _simple_rnn_bptt_parallel(blocks, dhs, UT, code, hbuf, da, dh):
    for k in prange(blocks):
        _simple_rnn_bptt(k * dhs.shape[0] // blocks, (k + 1) * dhs.shape[0] // blocks, dhs, UT, code, hbuf, da, dh)


def simple_rnn_forward(x, W, U, b, h0, activation):
    """h_t = act(x_t·W + b + h_{t-1}·U) for t = 1..T. Returns (hs (N, T, u), cache)."""
    code = activation_code(activation, RECURRENT_ACTIVATIONS)
    dtype = compute_dtype(x, W, U, b, h0)
    x_tm = _time_major(x, dtype)
    W, U, b = (np.ascontiguousarray(a, dtype=dtype) for a in (W, U, b))
    T, N, u = x_tm.shape[0], x_tm.shape[1], U.shape[0]
    hbuf = _state_buffer(h0, T, dtype)
    hs = np.empty((N, T, u), dtype=dtype)
    with single_threaded_blas():
        _run(_simple_rnn_steps, _simple_rnn_steps_parallel, N, T * N * u * u,
             _project_in(x_tm, W), U, b, code, hbuf, hs)
    return hs, dict(x_tm=x_tm, W=W, U=U, hbuf=hbuf, code=code)


def simple_rnn_backward(dhs, cache):
    """Backpropagation through time for SimpleRNN. Returns (dx, dW, dU, db, dh0)."""
    hbuf = cache["hbuf"]
    T, N, u = hbuf.shape[0] - 1, hbuf.shape[1], hbuf.shape[2]
    da = np.empty((T, N, u), dtype=hbuf.dtype)
    dh = np.zeros((N, u), dtype=hbuf.dtype)
    with single_threaded_blas():
        _run(_simple_rnn_bptt, _simple_rnn_bptt_parallel, N, T * N * u * u,
             np.ascontiguousarray(dhs, dtype=hbuf.dtype), np.ascontiguousarray(cache["U"].T), cache["code"],
             hbuf, da, dh)
        dx, dW, dU = _project_back(cache["x_tm"], cache["W"], da, hbuf[:T], da)
    return dx, dW, dU, _column_sums(da), dh


# ---------------------------------------------------------------- LSTM

@njit(**SERIAL_JIT)
def _lstm_steps(lo, hi, xw, U_gates, b, code, hbuf, cbuf, gates, act_c, hs):
    """The LSTM recurrence for batch rows lo..hi-1 and t = 0..T-1, from hbuf[0], cbuf[0] = h_0, c_0:

    z = xw[t] + b + h_t·U;  i, f, o = σ(z_i), σ(z_f), σ(z_o);  g = act(z_c)
    c_{t+1} = f*c_t + i*g;  h_{t+1} = o*act(c_{t+1})
    gates[t] keeps i, f, g, o and act_c[t] keeps act(c_{t+1}) for the backward pass.

    h_t·U is one product per gate, U_gates[k] = U[:, k*u:(k+1)*u] (see _gate_blocks).
    """
    T, _, G = xw.shape
    u = G // 4
    zero = xw.dtype.type(0)
    z = np.empty((4, hi - lo, u), dtype=xw.dtype)
    for t in range(T):
        for k in range(4):
            np.dot(hbuf[t, lo:hi], U_gates[k], z[k])      # z_k = h_t·U_k
        for n in range(lo, hi):
            x_n, gate = xw[t, n], gates[t, n]
            z_i, z_f, z_c, z_o = z[0, n - lo], z[1, n - lo], z[2, n - lo], z[3, n - lo]
            for j in range(u):                            # z = x_t·W + b + h_t·U; i, f, o = σ(z)
                gate[j] = sigmoid(z_i[j] + (x_n[j] + b[j]))
                gate[u + j] = sigmoid(z_f[j] + (x_n[u + j] + b[u + j]))
                gate[3 * u + j] = sigmoid(z_o[j] + (x_n[3 * u + j] + b[3 * u + j]))
                z_c[j] += x_n[2 * u + j] + b[2 * u + j]
            activate_into(z_c, code, zero, gate[2 * u:3 * u])                # g
            i, f, g, o = gate[:u], gate[u:2 * u], gate[2 * u:3 * u], gate[3 * u:]
            c_prev, c, ac, h = cbuf[t, n], cbuf[t + 1, n], act_c[t, n], hbuf[t + 1, n]
            for j in range(u):
                c[j] = f[j] * c_prev[j] + i[j] * g[j]
            activate_into(c, code, zero, ac)
            for j in range(u):
                h[j] = o[j] * ac[j]
                hs[n, t, j] = h[j]


@njit(**SERIAL_JIT)
def _lstm_bptt(lo, hi, dhs, UT_gates, code, cbuf, gates, act_c, dz, dh, dc):
    """dz[t] = dLoss/dz_t for the i, f, c, o pre-activations, batch rows lo..hi-1, t = T-1..0.

    dh, dc: zeros on entry; they carry dLoss/dh_t and dLoss/dc_t down the steps and hold dLoss/dh_0,
    dLoss/dc_0 on return. dz_t·Uᵀ is one product per gate, UT_gates[k] = U_kᵀ (see _gate_blocks), taken
    from a gate-major copy of the step's dz.
    """
    _, T, u = dhs.shape
    one = dz.dtype.type(1)
    dz_gates = np.empty((4, hi - lo, u), dtype=dz.dtype)
    product = np.empty((hi - lo, u), dtype=dz.dtype)
    for t in range(T - 1, -1, -1):
        for n in range(lo, hi):
            gate, d = gates[t, n], dz[t, n]
            i, f, g, o = gate[:u], gate[u:2 * u], gate[2 * u:3 * u], gate[3 * u:]
            di, df, dg, do = dz_gates[0, n - lo], dz_gates[1, n - lo], dz_gates[2, n - lo], dz_gates[3, n - lo]
            ac, c_prev, dh_n, dc_n = act_c[t, n], cbuf[t, n], dh[n], dc[n]
            for j in range(u):
                dh_t = dhs[n, t, j] + dh_n[j]                         # h_t feeds the loss and step t+1
                dc_t = dc_n[j] + dh_t * o[j] * activation_grad(ac[j], code)   # h_t = o*act(c_t)
                di[j] = dc_t * g[j] * i[j] * (one - i[j])             # c_t = ... + i*g,       i = σ(z_i)
                df[j] = dc_t * c_prev[j] * f[j] * (one - f[j])        # c_t = f*c_{t-1} + ..., f = σ(z_f)
                dg[j] = dc_t * i[j] * activation_grad(g[j], code)     # g = act(z_c)
                do[j] = dh_t * ac[j] * o[j] * (one - o[j])            # h_t = o*act(c_t),      o = σ(z_o)
                dc_n[j] = dc_t * f[j]                                 # c_t = f*c_{t-1} + ...
                d[j], d[u + j], d[2 * u + j], d[3 * u + j] = di[j], df[j], dg[j], do[j]
        np.dot(dz_gates[0], UT_gates[0], dh[lo:hi])                    # z = ... + h_{t-1}·U
        for k in range(1, 4):
            np.dot(dz_gates[k], UT_gates[k], product)
            for r in range(hi - lo):
                for j in range(u):
                    dh[lo + r, j] += product[r, j]


@njit(**JIT)
def _lstm_steps_parallel(blocks, xw, U_gates, b, code, hbuf, cbuf, gates, act_c, hs):
    for k in prange(blocks):
        _lstm_steps(k * xw.shape[1] // blocks, (k + 1) * xw.shape[1] // blocks,
                    xw, U_gates, b, code, hbuf, cbuf, gates, act_c, hs)


@njit(**JIT)
def _lstm_bptt_parallel(blocks, dhs, UT_gates, code, cbuf, gates, act_c, dz, dh, dc):
    for k in prange(blocks):
        _lstm_bptt(k * dhs.shape[0] // blocks, (k + 1) * dhs.shape[0] // blocks,
                   dhs, UT_gates, code, cbuf, gates, act_c, dz, dh, dc)


def lstm_forward(x, W, U, b, h0, c0, activation):
    """Keras LSTM, gates i, f, c, o. Returns (hs (N, T, u), cache)."""
    code = activation_code(activation, RECURRENT_ACTIVATIONS)
    dtype = compute_dtype(x, W, U, b, h0, c0)
    x_tm = _time_major(x, dtype)
    W, U, b = (np.ascontiguousarray(a, dtype=dtype) for a in (W, U, b))
    T, N, u = x_tm.shape[0], x_tm.shape[1], U.shape[0]
    hbuf, cbuf = _state_buffer(h0, T, dtype), _state_buffer(c0, T, dtype)
    gates = np.empty((T, N, 4 * u), dtype=dtype)
    act_c = np.empty((T, N, u), dtype=dtype)
    hs = np.empty((N, T, u), dtype=dtype)
    with single_threaded_blas():
        _run(_lstm_steps, _lstm_steps_parallel, N, gates.size * u,
             _project_in(x_tm, W), _gate_blocks(U, 4), b, code, hbuf, cbuf, gates, act_c, hs)
    return hs, dict(x_tm=x_tm, W=W, U=U, hbuf=hbuf, cbuf=cbuf, gates=gates, act_c=act_c, code=code)


def lstm_backward(dhs, cache):
    """Backpropagation through time for the LSTM. Returns (dx, dW, dU, db, dh0, dc0)."""
    hbuf, gates = cache["hbuf"], cache["gates"]
    T, N, G = gates.shape
    dz = np.empty_like(gates)
    dh = np.zeros((N, G // 4), dtype=gates.dtype)
    dc = np.zeros_like(dh)
    with single_threaded_blas():
        _run(_lstm_bptt, _lstm_bptt_parallel, N, gates.size * G // 4,
             np.ascontiguousarray(dhs, dtype=gates.dtype), _gate_blocks(cache["U"], 4, transposed=True),
             cache["code"], cache["cbuf"], gates, cache["act_c"], dz, dh, dc)
        dx, dW, dU = _project_back(cache["x_tm"], cache["W"], dz, hbuf[:T], dz)
    return dx, dW, dU, _column_sums(dz), dh, dc


# ---------------------------------------------------------------- GRU

@njit(**SERIAL_JIT)
def _gru_steps(lo, hi, xw, U, B, code, hbuf, gates, hs):
    """The GRU (reset_after=True) recurrence for batch rows lo..hi-1 and t = 0..T-1, from hbuf[0] = h_0:

    x_z, x_r, x_h = xw[t] + B[0] (xw[t] = x_t·W);  h_z, h_r, h_h = h_t·U + B[1]
    z = σ(x_z + h_z);  r = σ(x_r + h_r);  ĥ = act(x_h + r*h_h);  h_{t+1} = z*h_t + (1-z)*ĥ
    gates[t] keeps z, r, h_h, ĥ for the backward pass.
    """
    T, _, G = xw.shape
    u = G // 3
    b_x, b_h = B[0], B[1]
    zero, one = xw.dtype.type(0), xw.dtype.type(1)
    hu = np.empty((hi - lo, G), dtype=xw.dtype)
    for t in range(T):
        np.dot(hbuf[t, lo:hi], U, hu)                     # h_t·U
        for n in range(lo, hi):
            x_n, hu_n, gate = xw[t, n], hu[n - lo], gates[t, n]
            for j in range(2 * u):
                gate[j] = sigmoid(x_n[j] + b_x[j] + hu_n[j] + b_h[j])   # z, r
            z, r, hh, hc = gate[:u], gate[u:2 * u], gate[2 * u:3 * u], gate[3 * u:]
            x_h, hu_h, b_xh, b_hh = x_n[2 * u:], hu_n[2 * u:], b_x[2 * u:], b_h[2 * u:]
            for j in range(u):
                hh[j] = hu_h[j] + b_hh[j]                               # h_h
                hc[j] = x_h[j] + b_xh[j] + r[j] * hh[j]
            activate_into(hc, code, zero, hc)                           # ĥ = act(x_h + r*h_h), in place
            h_prev, h = hbuf[t, n], hbuf[t + 1, n]
            for j in range(u):
                h[j] = z[j] * h_prev[j] + (one - z[j]) * hc[j]
                hs[n, t, j] = h[j]


@njit(**SERIAL_JIT)
def _gru_bptt(lo, hi, dhs, UT, code, hbuf, gates, dxw, dhu, dh):
    """dxw[t] = dLoss/d(x_t·W + B[0]) and dhu[t] = dLoss/d(h_{t-1}·U + B[1]), batch rows lo..hi-1, t = T-1..0.

    dh: dLoss/dh_0 on return. Two paths lead from h_{t-1} to the loss: the direct one, z*h_{t-1}
    (its gradient kept in `direct`), and h_{t-1}·U (the BLAS call into `via_u`).
    """
    _, T, u = dhs.shape
    one = dxw.dtype.type(1)
    direct = np.zeros((hi - lo, u), dtype=dxw.dtype)
    via_u = np.zeros((hi - lo, u), dtype=dxw.dtype)
    for t in range(T - 1, -1, -1):
        for n in range(lo, hi):
            gate, h_prev, dx_n, du_n = gates[t, n], hbuf[t, n], dxw[t, n], dhu[t, n]
            z, r, hh, hc = gate[:u], gate[u:2 * u], gate[2 * u:3 * u], gate[3 * u:]
            dx_z, dx_r, dx_h = dx_n[:u], dx_n[u:2 * u], dx_n[2 * u:]
            du_z, du_r, du_h = du_n[:u], du_n[u:2 * u], du_n[2 * u:]
            direct_n, via_u_n = direct[n - lo], via_u[n - lo]
            for j in range(u):
                dh_t = dhs[n, t, j] + direct_n[j] + via_u_n[j]        # h_t feeds the loss and step t+1
                dsz = dh_t * (h_prev[j] - hc[j]) * z[j] * (one - z[j])   # h_t = z*h_{t-1} + (1-z)*ĥ
                da = dh_t * (one - z[j]) * activation_grad(hc[j], code)   # ĥ = act(a)
                dsr = da * hh[j] * r[j] * (one - r[j])                # a = x_h + r*h_h,  r = σ(x_r + h_r)
                dx_z[j], dx_r[j], dx_h[j] = dsz, dsr, da
                du_z[j], du_r[j], du_h[j] = dsz, dsr, da * r[j]       # h_h enters a scaled by r
                direct_n[j] = dh_t * z[j]
        np.dot(dhu[t, lo:hi], UT, via_u)
    for n in range(lo, hi):
        for j in range(u):
            dh[n, j] = direct[n - lo, j] + via_u[n - lo, j]


@njit(**JIT)
def _gru_steps_parallel(blocks, xw, U, B, code, hbuf, gates, hs):
    for k in prange(blocks):
        _gru_steps(k * xw.shape[1] // blocks, (k + 1) * xw.shape[1] // blocks, xw, U, B, code, hbuf, gates, hs)


@njit(**JIT)
def _gru_bptt_parallel(blocks, dhs, UT, code, hbuf, gates, dxw, dhu, dh):
    for k in prange(blocks):
        _gru_bptt(k * dhs.shape[0] // blocks, (k + 1) * dhs.shape[0] // blocks,
                  dhs, UT, code, hbuf, gates, dxw, dhu, dh)


def gru_forward(x, W, U, B, h0, activation):
    """Keras GRU with reset_after=True, gates z, r, h. Returns (hs (N, T, u), cache)."""
    code = activation_code(activation, RECURRENT_ACTIVATIONS)
    dtype = compute_dtype(x, W, U, B, h0)
    x_tm = _time_major(x, dtype)
    W, U, B = (np.ascontiguousarray(a, dtype=dtype) for a in (W, U, B))
    T, N, u = x_tm.shape[0], x_tm.shape[1], U.shape[0]
    hbuf = _state_buffer(h0, T, dtype)
    gates = np.empty((T, N, 4 * u), dtype=dtype)
    hs = np.empty((N, T, u), dtype=dtype)
    with single_threaded_blas():
        _run(_gru_steps, _gru_steps_parallel, N, 3 * T * N * u * u, _project_in(x_tm, W), U, B, code, hbuf, gates, hs)
    return hs, dict(x_tm=x_tm, W=W, U=U, hbuf=hbuf, gates=gates, code=code)


def gru_backward(dhs, cache):
    """Backpropagation through time for the GRU (reset_after=True). Returns (dx, dW, dU, dB, dh0)."""
    hbuf = cache["hbuf"]
    T, N, u = hbuf.shape[0] - 1, hbuf.shape[1], hbuf.shape[2]
    dxw = np.empty((T, N, 3 * u), dtype=hbuf.dtype)
    dhu = np.empty_like(dxw)
    dh = np.empty((N, u), dtype=hbuf.dtype)
    with single_threaded_blas():
        _run(_gru_bptt, _gru_bptt_parallel, N, dxw.size * u,
             np.ascontiguousarray(dhs, dtype=hbuf.dtype), np.ascontiguousarray(cache["U"].T), cache["code"],
             hbuf, cache["gates"], dxw, dhu, dh)
        dx, dW, dU = _project_back(cache["x_tm"], cache["W"], dxw, hbuf[:T], dhu)
    return dx, dW, dU, np.stack([_column_sums(dxw), _column_sums(dhu)]), dh
