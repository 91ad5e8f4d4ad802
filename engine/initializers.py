"""Weight initializers with Keras 3's distributions (``keras/src/initializers/``).

An initializer is a callable ``init(shape, dtype="float32", rng=None) -> numpy array``. ``rng`` is a
``numpy.random.Generator``; without one the engine's generator is used (reseed it with
``engine.random.set_seed``). Keras draws from its backend's RNG, so only the *distributions* match
Keras, never the exact numbers.
"""
from __future__ import annotations

import math

import numpy as np

from engine import random

def compute_fans(shape):
    """(fan_in, fan_out) of a weight shape, as Keras's ``compute_fans``.

    ()          -> (1, 1)
    (n,)        -> (n, n)
    (a, b)      -> (a, b)
    (k1, ..., kn, in, out) -> (in·r, out·r) with receptive field r = k1·...·kn
    """
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return int(shape[0]), int(shape[0])
    receptive_field = math.prod(shape[:-2])
    return int(shape[-2] * receptive_field), int(shape[-1] * receptive_field)


def _truncated_normal(shape, stddev, rng):
    """Normal(0, stddev) samples, each one outside ±2·stddev redrawn (as Keras's truncated_normal)."""
    x = rng.standard_normal(shape)
    outside = np.abs(x) > 2
    while outside.any():
        x[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(x) > 2
    return stddev * x


class Initializer:
    """Base class: ``__call__`` picks the generator and casts; subclasses implement ``sample``."""

    def __call__(self, shape, dtype="float32", rng=None):
        shape = tuple(int(d) for d in shape)
        values = self.sample(shape, rng if rng is not None else random.generator())
        return np.ascontiguousarray(values, dtype=dtype)

    def sample(self, shape, rng):
        raise NotImplementedError

    def get_config(self):
        return {"name": type(self).__name__, **vars(self)}

    @classmethod
    def from_config(cls, config):
        return cls(**{k: v for k, v in config.items() if k != "name"})

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class Zeros(Initializer):
    """All zeros."""

    def sample(self, shape, rng):
        return np.zeros(shape)


class Ones(Initializer):
    """All ones."""

    def sample(self, shape, rng):
        return np.ones(shape)


class Constant(Initializer):
    """Every entry equal to ``value``."""

    def __init__(self, value=0.0):
        self.value = value

    def sample(self, shape, rng):
        return np.full(shape, self.value)


class RandomNormal(Initializer):
    """Normal(mean, stddev); Keras defaults mean=0, stddev=0.05."""

    def __init__(self, mean=0.0, stddev=0.05):
        self.mean = mean
        self.stddev = stddev

    def sample(self, shape, rng):
        return rng.normal(self.mean, self.stddev, shape)


class RandomUniform(Initializer):
    """Uniform[minval, maxval); Keras defaults minval=-0.05, maxval=0.05."""

    def __init__(self, minval=-0.05, maxval=0.05):
        self.minval = minval
        self.maxval = maxval

    def sample(self, shape, rng):
        return rng.uniform(self.minval, self.maxval, shape)


class GlorotUniform(Initializer):
    """U(-L, L) with L = sqrt(6 / (fan_in + fan_out)) (Keras's default kernel initializer)."""

    def sample(self, shape, rng):
        fan_in, fan_out = compute_fans(shape)
        fan_avg = max(1.0, (fan_in + fan_out) / 2)
        limit = math.sqrt(3.0 / fan_avg)
        return rng.uniform(-limit, limit, shape)


class GlorotNormal(Initializer):
    """Normal truncated at ±2σ, σ = sqrt(2 / (fan_in + fan_out)) / 0.87962566103423978.

    The constant is the standard deviation of a standard normal truncated at ±2, so the samples
    end up with standard deviation sqrt(2 / (fan_in + fan_out)).
    """

    def sample(self, shape, rng):
        fan_in, fan_out = compute_fans(shape)
        fan_avg = max(1.0, (fan_in + fan_out) / 2)
        stddev = math.sqrt(1.0 / fan_avg) / 0.87962566103423978
        return _truncated_normal(shape, stddev, rng)


class HeUniform(Initializer):
    """U(-L, L) with L = sqrt(6 / fan_in)."""

    def sample(self, shape, rng):
        fan_in, _ = compute_fans(shape)
        limit = math.sqrt(6.0 / max(1.0, fan_in))
        return rng.uniform(-limit, limit, shape)


class Orthogonal(Initializer):
    """An orthogonal matrix times ``gain`` (Keras's default recurrent initializer).

    rows = product of shape[:-1], cols = shape[-1]. Draw A ~ Normal(0, 1) of shape
    (max(rows, cols), min(rows, cols)), factor A = QR, multiply column j of Q by sign(R[j, j]),
    transpose Q if rows < cols, then reshape. The result has orthonormal columns when
    rows >= cols and orthonormal rows when rows < cols (e.g. an LSTM's (u, 4u) recurrent kernel).
    """

    def __init__(self, gain=1.0):
        self.gain = gain

    def sample(self, shape, rng):
        if len(shape) < 2:
            raise ValueError(f"Orthogonal needs a shape of rank >= 2, got {shape}")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = rng.standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return self.gain * q.reshape(shape)


class UnitForgetBias(Initializer):
    """The LSTM bias with ``unit_forget_bias=True``: [base(u), ones(u), base(2u)] for shape (4u,).

    The gate order is i, f, c, o, so the forget-gate block starts at 1; ``base`` (default zeros)
    fills the other three blocks, as Keras's LSTM does with its ``bias_initializer``.
    """

    def __init__(self, base="zeros"):
        self.base = base

    def sample(self, shape, rng):
        if len(shape) != 1 or shape[0] % 4:
            raise ValueError(f"UnitForgetBias needs a shape (4*units,), got {shape}")
        units = shape[0] // 4
        base = get(self.base)
        return np.concatenate([
            base((units,), "float64", rng),
            np.ones(units),
            base((2 * units,), "float64", rng),
        ])


_BY_NAME = {
    "zeros": Zeros,
    "ones": Ones,
    "constant": Constant,
    "random_normal": RandomNormal,
    "random_uniform": RandomUniform,
    "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal,
    "he_uniform": HeUniform,
    "orthogonal": Orthogonal,
}


def get(identifier):
    """An initializer from a Keras name ('glorot_uniform', 'orthogonal', ...; the class name
    'GlorotUniform' works too), an Initializer class (instantiated) or a callable (returned as is).
    """
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if callable(identifier):
        return identifier
    if isinstance(identifier, str):
        by_class_name = {cls.__name__.lower(): cls for cls in _BY_NAME.values()}
        key = identifier.lower()
        cls = _BY_NAME.get(key) or by_class_name.get(key)
        if cls is not None:
            return cls()
    raise ValueError(
        f"unknown initializer {identifier!r}; use a callable or one of {sorted(_BY_NAME)}"
    )
