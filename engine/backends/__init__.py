"""Backend registry: which set of kernels the differentiable ops call.

A backend is a :class:`Backend`: a name, an array module ``xp`` (NumPy or CuPy) and the flat kernel
functions listed in :data:`KERNELS`. Every backend exposes the same kernels with the same signatures,
so the autodiff layer (``engine.ops``) never knows which one runs. Kernels take and return raw arrays
in Keras layouts (images NHWC, sequences NTF); they never see strings for padding, only explicit
``((top, bottom), (left, right))`` pairs.

The kernel contract (shapes: N batch, H/W spatial, C channels, T time, F features, u units):

conv2d_forward(x, w, b, strides, pads, dilation) -> y
    x (N,H,W,Cin), w (kh,kw,Cin,Cout), b (Cout,) or None -> y (N,Ho,Wo,Cout). Cross-correlation.
conv2d_backward_input(dy, w, x_shape, strides, pads, dilation) -> dx
conv2d_backward_weight(dy, x, w_shape, strides, pads, dilation) -> dw
    The bias gradient is dy summed over (N, Ho, Wo) and needs no kernel.
max_pool2d_forward(x, pool, strides, pads) -> (y, cache)
max_pool2d_backward(dy, cache) -> dx
    Padded cells never win; ties go to the first cell of the window in row-major order.
avg_pool2d_forward(x, pool, strides, pads) -> y
avg_pool2d_backward(dy, x_shape, pool, strides, pads) -> dx
    Padded cells are not counted in the average (TensorFlow 'same' semantics).
simple_rnn_forward(x, W, U, b, h0, activation) -> (hs, cache)
simple_rnn_backward(dhs, cache) -> (dx, dW, dU, db, dh0)
lstm_forward(x, W, U, b, h0, c0, activation) -> (hs, cache)
lstm_backward(dhs, cache) -> (dx, dW, dU, db, dh0, dc0)
gru_forward(x, W, U, B, h0, activation) -> (hs, cache)
gru_backward(dhs, cache) -> (dx, dW, dU, dB, dh0)
    x (N,T,F); hs (N,T,u) holds every hidden state. Keras layouts: LSTM gates i,f,c,o with one bias
    (4u,); GRU reset_after=True gates z,r,h with bias B (2,3u). The recurrent activation is sigmoid.
activation_forward(name, x, alpha) -> y
activation_backward(name, dy, x, y, alpha) -> dx
    name in ACTIVATIONS; alpha is the LeakyReLU negative slope.
softmax_forward(x) -> y;  softmax_backward(dy, y) -> dx          (over the last axis)
softmax_cross_entropy_forward(logits, targets) -> (losses, probs)
softmax_cross_entropy_backward(dlosses, probs, targets) -> dlogits
    losses[n] = -sum_c targets[n,c] * log_softmax(logits)[n,c], over the last axis.
batch_norm_train_forward(x, gamma, beta, epsilon) -> (y, mean, var, cache)
batch_norm_backward(dy, cache) -> (dx, dgamma, dbeta)
batch_norm_inference(x, gamma, beta, mean, var, epsilon) -> y
    Statistics over every axis but the last; var is the biased variance.
dropout_mask(shape, rate, rng, dtype) -> mask
    Inverted dropout: keep with probability 1-rate, kept entries equal 1/(1-rate).

``cache`` objects are opaque: each backend stores what its own backward kernel needs.
"""
from __future__ import annotations

import contextlib
import importlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import Callable

KERNELS = (
    "conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight",
    "max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward",
    "simple_rnn_forward", "simple_rnn_backward", "lstm_forward", "lstm_backward",
    "gru_forward", "gru_backward",
    "activation_forward", "activation_backward", "softmax_forward", "softmax_backward",
    "softmax_cross_entropy_forward", "softmax_cross_entropy_backward",
    "batch_norm_train_forward", "batch_norm_backward", "batch_norm_inference",
    "dropout_mask",
)

ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "leaky_relu")


class BackendUnavailable(RuntimeError):
    """Raised when a backend is unknown or cannot run on this machine (the message says why)."""


@dataclass
class Backend:
    """A named set of kernels plus the array module its arrays live in."""
    name: str
    xp: ModuleType
    kernels: dict = field(repr=False)
    description: str = ""
    #: called when the backend becomes active; returns the function that undoes it (e.g. thread settings)
    activate: Callable[[], Callable[[], None]] | None = field(default=None, repr=False)

    def __getattr__(self, item):
        try:
            return self.__dict__["kernels"][item]
        except KeyError:
            raise AttributeError(f"backend {self.name!r} has no kernel {item!r}") from None

    def asarray(self, data, dtype=None):
        return self.xp.asarray(data, dtype=dtype)

    def to_numpy(self, array):
        return to_host(array)


def array_module(array):
    """The array module an array belongs to: ``cupy`` for a CuPy array, otherwise ``numpy``."""
    if type(array).__module__.startswith("cupy"):
        import cupy
        return cupy
    import numpy
    return numpy


def to_host(array):
    """A NumPy array with the values of `array` (CuPy arrays copy to the host with .get())."""
    get = getattr(array, "get", None)
    return get() if callable(get) else array


# name -> (module path, one-line description). Loaded lazily so `import engine` stays fast.
_SPECS: dict[str, tuple[str, str]] = {
    "numpy": ("engine.backends.numpy_ref", "readable NumPy reference (the specification)"),
    "numba": ("engine.backends.numba_cpu", "hand-written Numba CPU kernels"),
    "cuda": ("engine.backends.cuda", "hand-written CUDA C kernels through CuPy (needs an NVIDIA GPU)"),
    "cuda-emu": ("engine.backends.cuda_emu", "the same CUDA C kernels compiled for the CPU by an emulator"),
}
_LOADED: dict[str, Backend] = {}
_FAILED: dict[str, str] = {}
_current: list[Backend] = []


def register(name: str, module: str, description: str) -> None:
    """Declare a backend. Its module exposes ``make_backend() -> Backend`` and, optionally,
    ``unavailable_reason() -> str | None`` (a cheap check: no GPU, no compiler). Importing the module
    must stay cheap; heavy imports (Numba, CuPy) belong inside ``make_backend``."""
    _SPECS[name] = (module, description)


def unavailable_reason(name: str) -> str | None:
    """None if backend `name` can run here, else a sentence saying why not."""
    if name not in _SPECS:
        return f"unknown backend {name!r}"
    if name in _FAILED:
        return _FAILED[name]
    module_path = _SPECS[name][0]
    try:
        module = importlib.import_module(module_path)
    except ImportError as exc:
        return f"cannot import {module_path}: {exc}"
    probe: Callable[[], str | None] | None = getattr(module, "unavailable_reason", None)
    return probe() if probe else None


def backend_names() -> list[str]:
    """Every registered backend, available here or not."""
    return list(_SPECS)


def describe_backends() -> list[tuple[str, str, str | None]]:
    """(name, description, why it is unavailable or None) for every known backend."""
    return [(name, description, unavailable_reason(name)) for name, (_, description) in _SPECS.items()]


def available_backends() -> list[str]:
    """Names of the backends that can run here."""
    return [name for name in _SPECS if unavailable_reason(name) is None]


def _load(name: str) -> Backend:
    if name in _LOADED:
        return _LOADED[name]
    if name not in _SPECS:
        raise BackendUnavailable(
            f"unknown backend {name!r}; available backends: {', '.join(available_backends())}")
    reason = unavailable_reason(name)
    if reason is None:
        try:
            backend = importlib.import_module(_SPECS[name][0]).make_backend()
        except (BackendUnavailable, ImportError, OSError, AttributeError) as exc:
            reason = str(exc)
    if reason is not None:
        others = ", ".join(n for n in available_backends() if n != name)
        _FAILED[name] = reason
        raise BackendUnavailable(f"backend {name!r} is not available here: {reason}. Available here: {others}")
    missing = [k for k in KERNELS if k not in backend.kernels]
    if missing:
        raise BackendUnavailable(f"backend {name!r} lacks kernels: {', '.join(missing)}")
    _LOADED[name] = backend
    return backend


def get_backend(name: str | None = None) -> Backend:
    """The active backend, or the named one."""
    if name is not None:
        return _load(name)
    if not _current:
        _enter(_load("numpy"))
    return _current[-1]


_undo: list[Callable[[], None] | None] = []   # one entry per entry of _current


def _enter(backend: Backend) -> None:
    _current.append(backend)
    _undo.append(backend.activate() if backend.activate else None)


def _leave() -> None:
    _current.pop()
    undo = _undo.pop()
    if undo:
        undo()


def set_backend(name: str) -> Backend:
    """Make `name` the active backend for every op from now on."""
    backend = _load(name)
    if _current:
        _leave()
    _enter(backend)
    return backend


@contextlib.contextmanager
def use_backend(name: str):
    """Run a block on another backend, then return to the previous one."""
    get_backend()
    _enter(_load(name))
    try:
        yield _current[-1]
    finally:
        _leave()
