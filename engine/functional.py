"""The functional API: differentiable ops in Keras layouts that work on every backend.

Images are (N, H, W, C), sequences (N, T, F), Conv2D kernels (kh, kw, Cin, Cout), Dense kernels (in, out).
Arguments may be engine tensors or plain arrays; results are tensors.
"""
from __future__ import annotations

from engine import shapes
from engine.autograd import Tensor, as_tensor
from engine.backends import get_backend
from engine.backends.contract import ACTIVATIONS, RECURRENT_ACTIVATIONS
from engine.losses import (binary_crossentropy, categorical_crossentropy, mean_squared_error,  # noqa: F401
                           sparse_categorical_crossentropy)
from engine.ops import basic
from engine.ops.activations import Activation, Softmax
from engine.ops.basic import Dense
from engine.ops.conv import Conv2D, Conv2DTranspose
from engine.ops.normalization import BatchNormTrain
from engine.ops.pool import AvgPool2D, MaxPool2D
from engine.ops.recurrent import GRU, LSTM, SimpleRNN

#: every name an `activation=` option accepts, in the order help lists them: the four a recurrent cell also
#: accepts, softmax (a kernel of its own), then the other activation kernels (leaky_relu)
ACTIVATION_NAMES = (*RECURRENT_ACTIVATIONS, "softmax", *(a for a in ACTIVATIONS if a not in RECURRENT_ACTIVATIONS))


def _rank(x: Tensor, rank: int, op: str, layout: str) -> None:
    if x.ndim != rank:
        raise ValueError(f"{op} expects a {rank}-D input {layout}, got shape {x.shape}")


# --- dense and convolution ------------------------------------------------------------------------------

def dense(x, W, b=None) -> Tensor:
    """y = x W + b, acting on the last axis of x (so (N, T, in) -> (N, T, out), as Keras Dense)."""
    x, W = as_tensor(x), as_tensor(W)
    if x.shape[-1] != W.shape[0]:
        raise ValueError(f"dense: input has {x.shape[-1]} features on its last axis but the kernel "
                         f"expects {W.shape[0]} (kernel shape {W.shape})")
    return Dense.apply(x, W, None if b is None else as_tensor(b))


def conv2d(x, w, b=None, strides=1, padding="valid", dilation=1) -> Tensor:
    """2-D cross-correlation: y[n,p,q,o] = b[o] + sum_{i,j,c} x_pad[n, p*sh + i*dh, q*sw + j*dw, c] w[i,j,c,o].

    padding: "valid", "same" (TensorFlow rule, extra row/column at the end), an int, or ((top, bottom), (left, right)).
    """
    x, w = as_tensor(x), as_tensor(w)
    _rank(x, 4, "conv2d", "(N, H, W, C)")
    if x.shape[3] != w.shape[2]:
        raise ValueError(f"conv2d: input has {x.shape[3]} channels but the kernel {w.shape} expects {w.shape[2]}")
    strides, dilation = shapes.pair(strides, "strides"), shapes.pair(dilation, "dilation")
    pads = shapes.resolve_padding(padding, x.shape[1:3], w.shape[:2], strides, dilation)
    try:
        shapes.window_output_hw(x.shape[1:3], w.shape[:2], strides, pads, dilation)
    except ValueError as exc:
        raise ValueError(f"conv2d: {exc}") from None
    return Conv2D.apply(x, w, None if b is None else as_tensor(b), strides, pads, dilation)


def conv2d_transpose(x, w, b=None, strides=1, padding="valid") -> Tensor:
    """Keras Conv2DTranspose with w of shape (kh, kw, filters, Cin): the adjoint of a strided convolution.

    Output size: 'same' -> n*s; 'valid' -> (n-1)*s + max(k, s).
    """
    x, w = as_tensor(x), as_tensor(w)
    _rank(x, 4, "conv2d_transpose", "(N, H, W, C)")
    if x.shape[3] != w.shape[3]:
        raise ValueError(f"conv2d_transpose: input has {x.shape[3]} channels but the kernel {w.shape} "
                         f"expects {w.shape[3]} (layout (kh, kw, filters, in_channels))")
    strides = shapes.pair(strides, "strides")
    out_hw = [shapes.conv_transpose_output_size(n, k, s, padding) for n, k, s in zip(x.shape[1:3], w.shape[:2], strides)]
    pads = tuple(shapes.conv_transpose_pads(o, k, s, padding) for o, k, s in zip(out_hw, w.shape[:2], strides))
    out_shape = (x.shape[0], *out_hw, w.shape[2])
    return Conv2DTranspose.apply(x, w, None if b is None else as_tensor(b), out_shape, strides, pads)


# --- pooling --------------------------------------------------------------------------------------------

def _pool_geometry(x, pool_size, strides, padding, op):
    _rank(x, 4, op, "(N, H, W, C)")
    pool = shapes.pair(pool_size, "pool_size")
    strides = pool if strides is None else shapes.pair(strides, "strides")  # Keras: strides=None means pool_size
    if not isinstance(padding, str) or padding.lower() not in shapes.PADDINGS:
        raise ValueError(f"{op}: padding must be 'valid' or 'same', got {padding!r}")
    pads = shapes.resolve_padding(padding, x.shape[1:3], pool, strides)
    try:
        shapes.window_output_hw(x.shape[1:3], pool, strides, pads, what="window")
    except ValueError as exc:
        raise ValueError(f"{op}: {exc}") from None
    return pool, strides, pads


def max_pool2d(x, pool_size=2, strides=None, padding="valid") -> Tensor:
    """Maximum over each window; 'valid' drops a leftover row/column (8 -> 4, 13 -> 6)."""
    x = as_tensor(x)
    return MaxPool2D.apply(x, *_pool_geometry(x, pool_size, strides, padding, "max_pool2d"))


def avg_pool2d(x, pool_size=2, strides=None, padding="valid") -> Tensor:
    """Mean over each window; with 'same', padded cells are not counted."""
    x = as_tensor(x)
    return AvgPool2D.apply(x, *_pool_geometry(x, pool_size, strides, padding, "avg_pool2d"))


# --- reshaping ------------------------------------------------------------------------------------------

def flatten(x) -> Tensor:
    """(N, d1, d2, ...) -> (N, d1*d2*...)."""
    x = as_tensor(x)
    return basic.reshape(x, (x.shape[0], -1))


def reshape(x, shape) -> Tensor:
    """The whole new shape, batch axis included (-1 allowed once)."""
    return basic.reshape(as_tensor(x), shape)


# --- recurrent layers -----------------------------------------------------------------------------------

def _initial_state(x, state, units, name):
    if state is None:
        xp = get_backend().xp
        return Tensor(xp.zeros((x.shape[0], units), dtype=x.dtype))
    state = as_tensor(state)
    if state.shape != (x.shape[0], units):
        raise ValueError(f"initial {name} must have shape {(x.shape[0], units)}, got {state.shape}")
    return state


def _sequence_output(hs, return_sequences):
    return hs if return_sequences else basic.getitem(hs, (slice(None), -1))


def _check_recurrent(x, W, U, gates, op):
    _rank(x, 3, op, "(N, T, features)")
    units = U.shape[0]
    if W.shape != (x.shape[2], gates * units) or U.shape != (units, gates * units):
        raise ValueError(f"{op}: kernel {W.shape} / recurrent kernel {U.shape} do not fit input features "
                         f"{x.shape[2]} (expected ({x.shape[2]}, {gates * units}) and ({units}, {gates * units}))")
    return units


def _check_activation(name):
    if name not in RECURRENT_ACTIVATIONS:
        raise ValueError(f"unknown recurrent activation {name!r}; use one of {', '.join(RECURRENT_ACTIVATIONS)}")


def simple_rnn(x, W, U, b, activation="tanh", return_sequences=False, h0=None) -> Tensor:
    """h_t = act(x_t W + b + h_{t-1} U); returns h_T, or every h_t with return_sequences."""
    x, W, U, b = (as_tensor(a) for a in (x, W, U, b))
    units = _check_recurrent(x, W, U, 1, "simple_rnn")
    _check_activation(activation)
    hs = SimpleRNN.apply(x, W, U, b, _initial_state(x, h0, units, "h0"), activation)
    return _sequence_output(hs, return_sequences)


def lstm(x, W, U, b, return_sequences=False, h0=None, c0=None, activation="tanh") -> Tensor:
    """Keras LSTM, gates i, f, c, o: c_t = f c_{t-1} + i act(z_c); h_t = o act(c_t)."""
    x, W, U, b = (as_tensor(a) for a in (x, W, U, b))
    units = _check_recurrent(x, W, U, 4, "lstm")
    _check_activation(activation)
    hs = LSTM.apply(x, W, U, b, _initial_state(x, h0, units, "h0"), _initial_state(x, c0, units, "c0"), activation)
    return _sequence_output(hs, return_sequences)


def gru(x, W, U, B, return_sequences=False, h0=None, activation="tanh") -> Tensor:
    """Keras GRU with reset_after=True, gates z, r, h and bias B (2, 3u): h_t = z h_{t-1} + (1 - z) h_cand."""
    x, W, U, B = (as_tensor(a) for a in (x, W, U, B))
    units = _check_recurrent(x, W, U, 3, "gru")
    _check_activation(activation)
    hs = GRU.apply(x, W, U, B, _initial_state(x, h0, units, "h0"), activation)
    return _sequence_output(hs, return_sequences)


# --- normalisation and regularisation ------------------------------------------------------------------

def batch_norm(x, gamma, beta, mean, var, training, momentum=0.99, epsilon=1e-3) -> Tensor:
    """Keras BatchNormalization over the last axis.

    training=True: normalise with the batch statistics and update the moving `mean`/`var` tensors in place;
    training=False: y = gamma (x - mean) / sqrt(var + eps) + beta with the moving statistics.
    """
    x, gamma, beta, mean, var = (as_tensor(a) for a in (x, gamma, beta, mean, var))
    if training:
        return BatchNormTrain.apply(x, gamma, beta, mean.data, var.data, momentum, epsilon)
    scale = gamma / basic.power(var + epsilon, 0.5)
    return (x - mean) * scale + beta


def dropout(x, rate, training, mask=None, rng=None) -> Tensor:
    """Inverted dropout (training only): y = x * mask, mask entries 0 or 1/(1-rate).

    `mask` fixes the mask (for tests); otherwise one is drawn from `rng` (a numpy Generator).
    """
    x = as_tensor(x)
    if not training or rate == 0:
        return x
    if not 0 <= rate < 1:
        raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
    if mask is None:
        import numpy as np
        mask = get_backend().dropout_mask(x.shape, rate, rng or np.random.default_rng(), x.dtype)
    mask = mask.data if isinstance(mask, Tensor) else mask
    return x * Tensor(get_backend().xp.asarray(mask, dtype=x.dtype))


# --- activations ----------------------------------------------------------------------------------------

def activation(x, name: str, alpha: float = 0.3) -> Tensor:
    """Apply an activation by name: linear, relu, sigmoid, tanh, leaky_relu or softmax."""
    x = as_tensor(x)
    if name == "softmax":
        return Softmax.apply(x)
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; use one of {', '.join(ACTIVATION_NAMES)}")
    return Activation.apply(x, name, alpha)


def relu(x): return activation(x, "relu")
def sigmoid(x): return activation(x, "sigmoid")
def tanh(x): return activation(x, "tanh")
def linear(x): return activation(x, "linear")
def softmax(x): return activation(x, "softmax")
def leaky_relu(x, negative_slope=0.3): return activation(x, "leaky_relu", negative_slope)
