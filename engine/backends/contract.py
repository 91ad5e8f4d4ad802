"""The kernel contract: every family, op and kernel a backend provides, in one table.

A backend is one package with a module per family, named as the family: ``conv.py``, ``pool.py``,
``recurrent.py``, ``activations.py``, ``losses.py``, ``normalization.py`` (and, for CUDA, the kernel
files ``kernels/<family>.cu``). Each family module defines the family's kernels with the signatures
below; :func:`collect_kernels` gathers them by name. So the path of an op reads the same on every floor:

    engine.functional.conv2d -> engine/ops/conv.py -> engine/backends/<backend>/conv.py
                             -> engine/backends/cuda/kernels/conv.cu

Kernels take and return raw arrays in Keras layouts (images NHWC, sequences NTF); they never see strings
for padding, only explicit ``((top, bottom), (left, right))`` pairs.
Shapes: N batch, H/W spatial, C channels, T time, F features, u units.

conv
    conv2d_forward(x, w, b, strides, pads, dilation) -> y
        x (N,H,W,Cin), w (kh,kw,Cin,Cout), b (Cout,) or None -> y (N,Ho,Wo,Cout). Cross-correlation.
    conv2d_backward_input(dy, w, x_shape, strides, pads, dilation) -> dx
    conv2d_backward_weight(dy, x, w_shape, strides, pads, dilation) -> dw
        The bias gradient is dy summed over (N, Ho, Wo) and needs no kernel.
pool
    max_pool2d_forward(x, pool, strides, pads) -> (y, cache);  max_pool2d_backward(dy, cache) -> dx
        Padded cells never win; ties go to the first cell of the window in row-major order.
    avg_pool2d_forward(x, pool, strides, pads) -> y;  avg_pool2d_backward(dy, x_shape, pool, strides, pads) -> dx
        Padded cells are not counted in the average (TensorFlow 'same' semantics).
recurrent
    simple_rnn_forward(x, W, U, b, h0, activation) -> (hs, cache)
    simple_rnn_backward(dhs, cache) -> (dx, dW, dU, db, dh0)
    lstm_forward(x, W, U, b, h0, c0, activation) -> (hs, cache)
    lstm_backward(dhs, cache) -> (dx, dW, dU, db, dh0, dc0)
    gru_forward(x, W, U, B, h0, activation) -> (hs, cache)
    gru_backward(dhs, cache) -> (dx, dW, dU, dB, dh0)
        x (N,T,F); hs (N,T,u) holds every hidden state. Keras layouts: LSTM gates i,f,c,o with one bias
        (4u,); GRU reset_after=True gates z,r,h with bias B (2,3u). The recurrent activation is sigmoid;
        `activation` is one of RECURRENT_ACTIVATIONS.
activations
    activation_forward(name, x, alpha) -> y;  activation_backward(name, dy, x, y, alpha) -> dx
        name in ACTIVATIONS; alpha is the LeakyReLU negative slope.
    softmax_forward(x) -> y;  softmax_backward(dy, y) -> dx          (over the last axis)
losses
    softmax_cross_entropy_forward(logits, targets) -> (losses, probs)
    softmax_cross_entropy_backward(dlosses, probs, targets) -> dlogits
        losses[n] = -sum_c targets[n,c] * log_softmax(logits)[n,c], over the last axis.
normalization
    batch_norm_train_forward(x, gamma, beta, epsilon) -> (y, mean, var, cache)
    batch_norm_backward(dy, cache) -> (dx, dgamma, dbeta)
    batch_norm_inference(x, gamma, beta, mean, var, epsilon) -> y
        Statistics over every axis but the last; var is the biased variance.
    dropout_mask(shape, rate, rng, dtype) -> mask
        Inverted dropout: keep with probability 1-rate, kept entries equal 1/(1-rate).

``cache`` objects are opaque: each backend stores what its own backward kernel needs.
Kernels compute in float32 when every floating input is float32, else in float64 (:func:`compute_dtype`).
"""
from __future__ import annotations

import importlib
from functools import partial

import numpy as np

#: family -> op -> the kernels that compute the op. The op names are what `kernel OP` accepts in the shell.
FAMILIES: dict[str, dict[str, tuple[str, ...]]] = {
    "conv": {
        "conv2d": ("conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight"),
    },
    "pool": {
        "maxpool2d": ("max_pool2d_forward", "max_pool2d_backward"),
        "avgpool2d": ("avg_pool2d_forward", "avg_pool2d_backward"),
    },
    "recurrent": {
        "simple_rnn": ("simple_rnn_forward", "simple_rnn_backward"),
        "lstm": ("lstm_forward", "lstm_backward"),
        "gru": ("gru_forward", "gru_backward"),
    },
    "activations": {
        "activation": ("activation_forward", "activation_backward"),
        "softmax": ("softmax_forward", "softmax_backward"),
    },
    "losses": {
        "softmax_cross_entropy": ("softmax_cross_entropy_forward", "softmax_cross_entropy_backward"),
    },
    "normalization": {
        "batch_norm": ("batch_norm_train_forward", "batch_norm_backward", "batch_norm_inference"),
        "dropout": ("dropout_mask",),
    },
}

#: op -> its kernels, for every family
OPS: dict[str, tuple[str, ...]] = {op: kernels for ops in FAMILIES.values() for op, kernels in ops.items()}
#: every kernel a backend must provide
KERNELS: tuple[str, ...] = tuple(kernel for kernels in OPS.values() for kernel in kernels)
#: kernel -> (family, op)
WHERE: dict[str, tuple[str, str]] = {kernel: (family, op) for family, ops in FAMILIES.items()
                                     for op, kernels in ops.items() for kernel in kernels}

#: The activations the activation kernels compute, with the integer codes compiled kernels use for them
#: (the numba kernels, and `enum Activation` in cuda/kernels/common.h, which a test keeps equal to this).
ACTIVATION_CODES: dict[str, int] = {"linear": 0, "relu": 1, "sigmoid": 2, "tanh": 3, "leaky_relu": 4}
ACTIVATIONS: tuple[str, ...] = tuple(ACTIVATION_CODES)
#: The activations a recurrent cell accepts for its candidate/output (`activation=`); gates use sigmoid.
RECURRENT_ACTIVATIONS: tuple[str, ...] = ("linear", "relu", "sigmoid", "tanh")
#: The dtypes kernels compute in
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def activation_code(name: str, allowed: tuple[str, ...] = ACTIVATIONS) -> int:
    """The integer code of activation `name`, or ValueError naming the valid ones."""
    if name not in allowed:
        what = "recurrent activation" if allowed == RECURRENT_ACTIVATIONS else "activation"
        raise ValueError(f"unknown {what} {name!r}; valid ones: {', '.join(allowed)}")
    return ACTIVATION_CODES[name]


def compute_dtype(*arrays) -> np.dtype:
    """The dtype a kernel computes in: float32 if every input is float32, else float64."""
    return FLOAT_DTYPES[0] if np.result_type(*arrays) == np.float32 else FLOAT_DTYPES[1]


def family_of(kernel: str) -> str:
    """The family a kernel belongs to (which module of a backend defines it)."""
    return WHERE[kernel][0]


def collect_kernels(package: str, bind=None) -> dict:
    """Every kernel of the contract, taken from the family modules ``<package>.<family>``.

    With `bind`, each kernel is ``partial(kernel, bind)``: the CUDA launch code takes its KernelLibrary
    (array module + module loader) as the first argument.
    """
    kernels = {}
    for family, ops in FAMILIES.items():
        module = importlib.import_module(f"{package}.{family}")
        for name in (kernel for names in ops.values() for kernel in names):
            function = getattr(module, name, None)
            if function is None:
                raise AttributeError(f"{module.__name__} does not define the kernel {name!r} of the contract")
            kernels[name] = function if bind is None else partial(function, bind)
    return kernels
