"""SimpleRNN, LSTM and GRU over a whole sequence: forward pass and backpropagation through time.

Layouts follow Keras: x (N, T, F), hidden states hs (N, T, u) = h_1 .. h_T, kernels multiply from the
right (x_t·W), LSTM gates are stacked i, f, c, o and GRU (reset_after=True) gates z, r, h. The
recurrent activation is always the sigmoid σ; ``activation`` names the other one.

Every forward pass computes the input projection of all time steps with one matmul, then loops over
t for the recurrence. Every backward pass walks t from T-1 down to 0, carrying the gradient that flows
into the previous state (dh_next, and dc_next for the LSTM), stores the gradient of each step's
pre-activations, and finishes with one matmul per weight over all steps (see ``recurrent_gemm.project_back``).

``cache`` is a dict of what the backward pass needs: the inputs, the weights, the activation name and
the per-step states and gate activations of the forward pass.
"""
from __future__ import annotations

import numpy as np

from engine.backends.recurrent_gemm import previous_states, project_back, project_in


def _sigmoid(a):
    """σ(a) = 1 / (1 + e^-a), written through tanh so that it never overflows."""
    return 0.5 * (1.0 + np.tanh(0.5 * a))


# name -> (y = act(a), act'(a) written through the output y)
_ACTIVATIONS = {
    "linear": (lambda a: a, lambda y: np.ones_like(y)),
    "relu": (lambda a: np.maximum(a, 0), lambda y: (y > 0).astype(y.dtype)),
    "sigmoid": (_sigmoid, lambda y: y * (1 - y)),
    "tanh": (np.tanh, lambda y: 1 - y * y),
}


def _activation(name):
    """The (forward, derivative-from-output) pair of an activation, or ValueError."""
    if name not in _ACTIVATIONS:
        raise ValueError(f"unknown recurrent activation {name!r}; valid ones: {', '.join(_ACTIVATIONS)}")
    return _ACTIVATIONS[name]


# ---------------------------------------------------------------- SimpleRNN

def simple_rnn_forward(x, W, U, b, h0, activation):
    """h_t = act(x_t·W + b + h_{t-1}·U) for t = 1..T. Returns (hs (N, T, u), cache)."""
    act, _ = _activation(activation)
    xw = project_in(x, W, b)
    hs = np.empty_like(xw)
    h = h0
    for t in range(x.shape[1]):
        h = act(xw[:, t] + h @ U)
        hs[:, t] = h
    cache = dict(x=x, W=W, U=U, h0=h0, hs=hs, activation=activation)
    return hs, cache


def simple_rnn_backward(dhs, cache):
    """Backpropagation through time for SimpleRNN. Returns (dx, dW, dU, db, dh0)."""
    _, dact = _activation(cache["activation"])
    U, hs = cache["U"], cache["hs"]
    da = np.empty_like(hs)             # dLoss/da_t, a_t = x_t·W + b + h_{t-1}·U
    dh_next = np.zeros_like(cache["h0"])
    for t in reversed(range(hs.shape[1])):
        dh = dhs[:, t] + dh_next                 # h_t feeds the loss and step t+1
        da[:, t] = dh * dact(hs[:, t])           # h_t = act(a_t)
        dh_next = da[:, t] @ U.T                 # a_t = ... + h_{t-1}·U
    h_prev = previous_states(cache["h0"], hs)
    dx, dW, dU = project_back(cache["x"], cache["W"], da, h_prev, U, da)
    return dx, dW, dU, da.sum(axis=(0, 1)), dh_next


# ---------------------------------------------------------------- LSTM

def lstm_forward(x, W, U, b, h0, c0, activation):
    """Keras LSTM, gates i, f, c, o. Returns (hs (N, T, u), cache).

    z = x_t·W + h_{t-1}·U + b;  i, f, o = σ(z_i), σ(z_f), σ(z_o);  g = act(z_c)
    c_t = f*c_{t-1} + i*g;  h_t = o*act(c_t)
    """
    act, _ = _activation(activation)
    xw = project_in(x, W, b)
    N, T, _ = xw.shape
    u = U.shape[0]
    gates = np.empty_like(xw)          # activated gates i, f, g, o of every step
    cs = np.empty((N, T, u), dtype=xw.dtype)
    act_cs = np.empty_like(cs)         # act(c_t), kept for h_t and for its derivative
    hs = np.empty_like(cs)
    h, c = h0, c0
    for t in range(T):
        z = xw[:, t] + h @ U
        i, f, o = _sigmoid(z[:, :u]), _sigmoid(z[:, u:2 * u]), _sigmoid(z[:, 3 * u:])
        g = act(z[:, 2 * u:3 * u])
        c = f * c + i * g
        ac = act(c)
        h = o * ac
        gates[:, t] = np.concatenate([i, f, g, o], axis=1)
        cs[:, t], act_cs[:, t], hs[:, t] = c, ac, h
    cache = dict(x=x, W=W, U=U, h0=h0, c0=c0, hs=hs, cs=cs, act_cs=act_cs, gates=gates,
                 activation=activation)
    return hs, cache


def lstm_backward(dhs, cache):
    """Backpropagation through time for the LSTM. Returns (dx, dW, dU, db, dh0, dc0)."""
    _, dact = _activation(cache["activation"])
    U, gates, act_cs = cache["U"], cache["gates"], cache["act_cs"]
    c_prev_all = previous_states(cache["c0"], cache["cs"])
    dz = np.empty_like(gates)          # dLoss/dz_t for the pre-activations z_i, z_f, z_c, z_o
    dh_next = np.zeros_like(cache["h0"])
    dc_next = np.zeros_like(cache["c0"])
    for t in reversed(range(gates.shape[1])):
        i, f, g, o = np.split(gates[:, t], 4, axis=1)
        ac, c_prev = act_cs[:, t], c_prev_all[:, t]
        dh = dhs[:, t] + dh_next                      # h_t feeds the loss and step t+1
        dc = dc_next + dh * o * dact(ac)              # h_t = o*act(c_t)
        dz[:, t] = np.concatenate([
            dc * g * i * (1 - i),                     # c_t = ... + i*g,      i = σ(z_i)
            dc * c_prev * f * (1 - f),                # c_t = f*c_{t-1} + ..., f = σ(z_f)
            dc * i * dact(g),                         # g = act(z_c)
            dh * ac * o * (1 - o),                    # h_t = o*act(c_t),     o = σ(z_o)
        ], axis=1)
        dc_next = dc * f                              # c_t = f*c_{t-1} + ...
        dh_next = dz[:, t] @ U.T                      # z = ... + h_{t-1}·U
    h_prev = previous_states(cache["h0"], cache["hs"])
    dx, dW, dU = project_back(cache["x"], cache["W"], dz, h_prev, U, dz)
    return dx, dW, dU, dz.sum(axis=(0, 1)), dh_next, dc_next


# ---------------------------------------------------------------- GRU

def gru_forward(x, W, U, B, h0, activation):
    """Keras GRU with reset_after=True, gates z, r, h. Returns (hs (N, T, u), cache).

    x_z, x_r, x_h = split(x_t·W + B[0]);  h_z, h_r, h_h = split(h_{t-1}·U + B[1])
    z = σ(x_z + h_z);  r = σ(x_r + h_r);  ĥ = act(x_h + r*h_h);  h_t = z*h_{t-1} + (1-z)*ĥ
    """
    act, _ = _activation(activation)
    xw = project_in(x, W, B[0])
    N, T, _ = xw.shape
    u = U.shape[0]
    z_all, r_all, hc_all, hh_all, hs = (np.empty((N, T, u), dtype=xw.dtype) for _ in range(5))
    h = h0
    for t in range(T):
        x_z, x_r, x_h = np.split(xw[:, t], 3, axis=1)
        h_z, h_r, h_h = np.split(h @ U + B[1], 3, axis=1)
        z = _sigmoid(x_z + h_z)
        r = _sigmoid(x_r + h_r)
        hc = act(x_h + r * h_h)
        h = z * h + (1 - z) * hc
        z_all[:, t], r_all[:, t], hc_all[:, t], hh_all[:, t], hs[:, t] = z, r, hc, h_h, h
    cache = dict(x=x, W=W, U=U, h0=h0, hs=hs, z=z_all, r=r_all, hc=hc_all, hh=hh_all,
                 activation=activation)
    return hs, cache


def gru_backward(dhs, cache):
    """Backpropagation through time for the GRU (reset_after=True). Returns (dx, dW, dU, dB, dh0)."""
    _, dact = _activation(cache["activation"])
    U = cache["U"]
    h_prev_all = previous_states(cache["h0"], cache["hs"])
    N, T, u = h_prev_all.shape
    dxw = np.empty((N, T, 3 * u), dtype=h_prev_all.dtype)   # dLoss/d(x_t·W + B[0])
    dhu = np.empty_like(dxw)                                 # dLoss/d(h_{t-1}·U + B[1])
    dh_next = np.zeros_like(cache["h0"])
    for t in reversed(range(T)):
        z, r, hc, hh = cache["z"][:, t], cache["r"][:, t], cache["hc"][:, t], cache["hh"][:, t]
        h_prev = h_prev_all[:, t]
        dh = dhs[:, t] + dh_next                   # h_t feeds the loss and step t+1
        dsz = dh * (h_prev - hc) * z * (1 - z)     # h_t = z*h_{t-1} + (1-z)*ĥ,  z = σ(x_z + h_z)
        da = dh * (1 - z) * dact(hc)               # ĥ = act(a),  a = x_h + r*h_h
        dsr = da * hh * r * (1 - r)                # a = ... + r*h_h,  r = σ(x_r + h_r)
        dxw[:, t] = np.concatenate([dsz, dsr, da], axis=1)
        dhu[:, t] = np.concatenate([dsz, dsr, da * r], axis=1)   # h_h enters a scaled by r
        dh_next = dh * z + dhu[:, t] @ U.T         # direct path z*h_{t-1}, and h_{t-1}·U
    dx, dW, dU = project_back(cache["x"], cache["W"], dxw, h_prev_all, U, dhu)
    dB = np.stack([dxw.sum(axis=(0, 1)), dhu.sum(axis=(0, 1))])
    return dx, dW, dU, dB, dh_next
