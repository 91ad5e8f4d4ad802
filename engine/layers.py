"""Keras-like layers: the lecture's code ports by changing `from tensorflow.keras import layers` to this module.

A layer owns its weights (created by ``build`` from the input shape, Keras initializers and layouts),
knows its output shape without running (``compute_output_shape``, so a shape error names the layer the
moment it is added), and computes with ``engine.functional``. Shapes here include the batch axis as None.
"""
from __future__ import annotations

import math
import re

import numpy as np

from engine import functional as F
from engine import initializers, random, regularizers, resources, shapes
from engine.autograd import Tensor, as_tensor
from engine.backends import get_backend, to_host
from engine.functional import ACTIVATION_NAMES
from engine.shapes import format_shape

class ShapeError(ValueError):
    """A layer cannot take the shape it is given; the message names the layer and both shapes."""


class Variable(Tensor):
    """A layer weight: a tensor with a name, a trainable flag and an optional regularizer."""

    __slots__ = ("trainable", "regularizer")

    def __init__(self, data, name, trainable=True, regularizer=None):
        super().__init__(data, requires_grad=trainable, name=name)
        self.trainable = trainable
        self.regularizer = regularizer


_name_counts: dict[str, int] = {}


def snake_case(class_name: str) -> str:
    """Keras's naming rule: Conv2D -> conv2d, MaxPooling2D -> max_pooling2d, LeakyReLU -> leaky_re_lu."""
    name = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", class_name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(base: str) -> str:
    """dense, dense_1, dense_2, ... per base name (Keras numbers names per session)."""
    count = _name_counts.get(base, 0)
    _name_counts[base] = count + 1
    return base if count == 0 else f"{base}_{count}"


def reset_names() -> None:
    """Start naming again from dense, conv2d, ... (Keras: keras.backend.clear_session())."""
    _name_counts.clear()


#: Keras's slope for the *string* activation "leaky_relu" (keras.activations.leaky_relu, negative_slope=0.2);
#: the LeakyReLU *layer* keeps its own default of 0.3 (keras.layers.LeakyReLU).
STRING_LEAKY_RELU_SLOPE = 0.2


def apply_activation(x, name):
    """An activation given by name, as Keras's `activation="..."` strings mean it."""
    return F.activation(x, name, STRING_LEAKY_RELU_SLOPE) if name == "leaky_relu" else F.activation(x, name)


def _check_activation(name):
    name = "linear" if name is None else name
    if name not in ACTIVATION_NAMES:
        raise ValueError(f"unknown activation {name!r}; use one of {', '.join(ACTIVATION_NAMES)}")
    return name


def _positive_int(value, what, layer):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        hint = f" (write int({value}) or use // )" if isinstance(value, float) and value.is_integer() else ""
        raise ValueError(f"{layer}: {what} must be a positive integer, got {value!r}{hint}")
    return int(value)


class SymbolicTensor:
    """What `Input(...)` and a layer called on it return: a shape and the layer that produced it (Keras's KerasTensor)."""

    def __init__(self, shape, layer, parent=None):
        self.shape, self.layer, self.parent = tuple(shape), layer, parent

    def __repr__(self):
        return f"<SymbolicTensor shape={format_shape(self.shape)} from {self.layer.name}>"


class HasWeights:
    """Splits `self.weights` into what the optimizer trains and what it leaves alone (moving statistics)."""

    weights: list

    @property
    def trainable_weights(self):
        return [w for w in self.weights if w.trainable]

    @property
    def non_trainable_weights(self):
        return [w for w in self.weights if not w.trainable]


class Layer(HasWeights):
    """Base class. Subclasses set weights in ``build``, shapes in ``compute_output_shape``, maths in ``call``."""

    def __init__(self, name=None, trainable=True, input_shape=None, dtype="float32"):
        self.name = name or unique_name(snake_case(type(self).__name__))
        self.trainable = trainable
        self.dtype = np.dtype(dtype)
        self.weights: list[Variable] = []
        self.input_shape = None if input_shape is None else (None, *input_shape)
        self.output_shape = None
        self.built = False

    # --- shapes and weights --------------------------------------------------------------------------
    def compute_output_shape(self, input_shape):
        return input_shape

    def build(self, input_shape):
        """Create weights for `input_shape` (batch axis included as None)."""

    def build_for(self, input_shape):
        """Check the shape, create the weights once, and remember input and output shapes."""
        input_shape = tuple(input_shape)
        if self.built:
            if not _compatible(input_shape, self.input_shape):
                raise self.shape_error(input_shape, f"it was built for {format_shape(self.input_shape)}")
            return self.output_shape
        output_shape = tuple(self.compute_output_shape(input_shape))
        self.build(input_shape)
        self.input_shape, self.output_shape, self.built = input_shape, output_shape, True
        return output_shape

    def shape_error(self, input_shape, why: str) -> ShapeError:
        return ShapeError(f"layer '{self.name}' ({type(self).__name__}) cannot take input shape "
                          f"{format_shape(input_shape)}: {why}")

    def add_weight(self, name, shape, initializer, regularizer=None, trainable=True) -> Variable:
        # training holds 4 arrays of this size (the weight, its gradient, up to two optimizer slots)
        resources.require_memory(4 * resources.array_bytes(shape, self.dtype.itemsize),
                                 f"layer '{self.name}' ({type(self).__name__}) with its {name} of shape "
                                 f"{tuple(shape)} (and its gradient and optimizer slots)",
                                 "use fewer units or filters, or a smaller input")
        data = initializers.get(initializer)(shape, dtype=self.dtype, rng=random.generator())
        weight = Variable(data, name, trainable=trainable and self.trainable,
                          regularizer=regularizers.get(regularizer))
        self.weights.append(weight)
        return weight

    def count_params(self) -> int:
        return sum(int(w.size) for w in self.weights)

    # --- running -------------------------------------------------------------------------------------
    def __call__(self, x, training=False):
        if isinstance(x, SymbolicTensor):
            return SymbolicTensor(self.build_for(x.shape), self, x)
        x = as_tensor(x)
        self.build_for((None, *x.shape[1:]))
        self.place_weights(get_backend())
        return self.call(x, training)

    def place_weights(self, backend) -> None:
        """Move the weights into the backend's array type (NumPy or CuPy) if they live elsewhere."""
        for w in self.weights:
            if not isinstance(w.data, backend.xp.ndarray):
                w.data = backend.asarray(to_host(w.data) if backend.xp is np else w.data)

    def call(self, x, training=False):
        raise NotImplementedError

    def get_config(self) -> dict:
        """The constructor options that define this layer (for printing and saving scripts)."""
        return {"name": self.name}

    def __repr__(self):
        return f"<{type(self).__name__} {self.name}>"


def _compatible(shape, expected):
    return len(shape) == len(expected) and all(a is None or b is None or a == b for a, b in zip(shape, expected))


class ActivatedLayer(Layer):
    """A layer with an `activation` option: call = activation(linear_call). Training may use `linear_call`
    directly to fuse a final softmax into the cross-entropy (as Keras's TensorFlow backend does)."""

    def __init__(self, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.activation = _check_activation(activation)

    def linear_call(self, x, training=False):
        raise NotImplementedError

    def call(self, x, training=False):
        y = self.linear_call(x, training)
        return y if self.activation == "linear" else apply_activation(y, self.activation)


class InputLayer(Layer):
    """The model's input: no weights, one shape (shown as a row in a functional model's summary)."""

    def __init__(self, shape=None, batch_shape=None, name=None, dtype="float32"):
        super().__init__(name=name, dtype=dtype)
        if (shape is None) == (batch_shape is None):
            raise ValueError("Input needs exactly one of shape=(...) or batch_shape=(None, ...)")
        full = (None, *shape) if batch_shape is None else tuple(batch_shape)
        self.input_shape = self.output_shape = full
        self.built = True

    def call(self, x, training=False):
        return x


def Input(shape=None, batch_shape=None, name=None, dtype="float32") -> SymbolicTensor:  # noqa: N802 (Keras name)
    """A symbolic input for the functional API: `Input(shape=(8, 8, 1))` or `Input(batch_shape=(None, 2, 1))`."""
    layer = InputLayer(shape, batch_shape, name, dtype)
    return SymbolicTensor(layer.output_shape, layer)


class Dense(ActivatedLayer):
    """y = activation(x W + b) on the last axis; W (in, units)."""

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(activation, **kwargs)
        self.units = _positive_int(units, "units", f"Dense '{self.name}'")
        self.use_bias = use_bias
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        self.kernel_regularizer, self.bias_regularizer = kernel_regularizer, bias_regularizer

    def compute_output_shape(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise self.shape_error(input_shape, "Dense needs a known last axis")
        return (*input_shape[:-1], self.units)

    def build(self, input_shape):
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units), self.kernel_initializer,
                                      self.kernel_regularizer)
        self.bias = (self.add_weight("bias", (self.units,), self.bias_initializer, self.bias_regularizer)
                     if self.use_bias else None)

    def linear_call(self, x, training=False):
        return F.dense(x, self.kernel, self.bias)

    def get_config(self):
        return {"name": self.name, "units": self.units, "activation": self.activation, "use_bias": self.use_bias}


class Conv2D(ActivatedLayer):
    """2-D convolution on (N, H, W, C) with kernel (kh, kw, Cin, filters)."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", dilation_rate=(1, 1), activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(activation, **kwargs)
        self.filters = _positive_int(filters, "filters", f"{type(self).__name__} '{self.name}'")
        self.kernel_size = shapes.pair(kernel_size, "kernel_size")
        self.strides = shapes.pair(strides, "strides")
        self.dilation_rate = shapes.pair(dilation_rate, "dilation_rate")
        self.padding = padding.lower() if isinstance(padding, str) else padding
        self.use_bias = use_bias
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        self.kernel_regularizer, self.bias_regularizer = kernel_regularizer, bias_regularizer

    def _check_image(self, input_shape):
        if len(input_shape) != 4:
            raise self.shape_error(input_shape, "it needs images (batch, height, width, channels)")

    def compute_output_shape(self, input_shape):
        self._check_image(input_shape)
        pads = shapes.resolve_padding(self.padding, input_shape[1:3], self.kernel_size, self.strides, self.dilation_rate)
        try:
            out = shapes.window_output_hw(input_shape[1:3], self.kernel_size, self.strides, pads, self.dilation_rate)
        except ValueError as exc:
            raise self.shape_error(input_shape, str(exc)) from None
        return (input_shape[0], *out, self.filters)

    def kernel_shape(self, channels):
        return (*self.kernel_size, channels, self.filters)

    def build(self, input_shape):
        self.kernel = self.add_weight("kernel", self.kernel_shape(input_shape[3]), self.kernel_initializer,
                                      self.kernel_regularizer)
        self.bias = (self.add_weight("bias", (self.filters,), self.bias_initializer, self.bias_regularizer)
                     if self.use_bias else None)

    def linear_call(self, x, training=False):
        return F.conv2d(x, self.kernel, self.bias, self.strides, self.padding, self.dilation_rate)

    def get_config(self):
        return {"name": self.name, "filters": self.filters, "kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding, "dilation_rate": self.dilation_rate, "activation": self.activation,
                "use_bias": self.use_bias}


class Conv2DTranspose(Conv2D):
    """Transposed convolution (the adjoint of a strided conv); kernel (kh, kw, filters, Cin)."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", **kwargs):
        super().__init__(filters, kernel_size, strides, padding, **kwargs)
        if self.padding not in shapes.PADDINGS:
            raise ValueError(f"Conv2DTranspose '{self.name}': padding must be 'valid' or 'same', got {padding!r}")

    def compute_output_shape(self, input_shape):
        self._check_image(input_shape)
        out = [None if n is None else shapes.conv_transpose_output_size(n, k, s, self.padding)
               for n, k, s in zip(input_shape[1:3], self.kernel_size, self.strides)]
        return (input_shape[0], *out, self.filters)

    def kernel_shape(self, channels):
        return (*self.kernel_size, self.filters, channels)

    def linear_call(self, x, training=False):
        return F.conv2d_transpose(x, self.kernel, self.bias, self.strides, self.padding)


class MaxPooling2D(Layer):
    """Maximum over pool_size windows; strides default to pool_size; 'valid' drops a leftover row/column."""

    pool_function = staticmethod(F.max_pool2d)

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", **kwargs):
        super().__init__(**kwargs)
        self.pool_size = shapes.pair(pool_size, "pool_size")
        self.strides = self.pool_size if strides is None else shapes.pair(strides, "strides")
        if padding not in shapes.PADDINGS:
            raise ValueError(f"{type(self).__name__} '{self.name}': padding must be 'valid' or 'same', got {padding!r}")
        self.padding = padding

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 4:
            raise self.shape_error(input_shape, "it needs images (batch, height, width, channels)")
        pads = shapes.resolve_padding(self.padding, input_shape[1:3], self.pool_size, self.strides)
        try:
            out = shapes.window_output_hw(input_shape[1:3], self.pool_size, self.strides, pads, what="window")
        except ValueError as exc:
            raise self.shape_error(input_shape, str(exc)) from None
        return (input_shape[0], *out, input_shape[3])

    def call(self, x, training=False):
        return self.pool_function(x, self.pool_size, self.strides, self.padding)

    def get_config(self):
        return {"name": self.name, "pool_size": self.pool_size, "strides": self.strides, "padding": self.padding}


class AveragePooling2D(MaxPooling2D):
    """Mean over pool_size windows (padded cells not counted)."""

    pool_function = staticmethod(F.avg_pool2d)


class Flatten(Layer):
    def compute_output_shape(self, input_shape):
        if any(d is None for d in input_shape[1:]):
            raise self.shape_error(input_shape, "Flatten needs every non-batch axis known")
        return (input_shape[0], math.prod(input_shape[1:]))

    def call(self, x, training=False):
        return F.flatten(x)


class Reshape(Layer):
    """Reshape the non-batch axes to `target_shape` (one entry may be -1)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)

    def compute_output_shape(self, input_shape):
        size = math.prod(input_shape[1:])
        known = math.prod(d for d in self.target_shape if d != -1)
        target = tuple(size // known if d == -1 else d for d in self.target_shape)
        if math.prod(target) != size:
            raise self.shape_error(input_shape, f"{size} values cannot be reshaped to {format_shape(self.target_shape)}")
        return (input_shape[0], *target)

    def call(self, x, training=False):
        return F.reshape(x, (x.shape[0], *self.output_shape[1:]))

    def get_config(self):
        return {"name": self.name, "target_shape": self.target_shape}


class Dropout(Layer):
    """Inverted dropout, active only when training."""

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"Dropout '{self.name}': rate must be in [0, 1), got {rate}")
        self.rate = float(rate)
        self.rng = None if seed is None else np.random.default_rng(seed)

    def call(self, x, training=False):
        return F.dropout(x, self.rate, training, rng=self.rng or random.generator())

    def get_config(self):
        return {"name": self.name, "rate": self.rate}


class BatchNormalization(Layer):
    """Normalise the last axis: batch statistics when training, moving statistics otherwise.

    As in Keras, center=False creates no beta and scale=False no gamma (they are not weights, not counted
    and not saved); the maths then uses a constant 0 shift or 1 scale.
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, **kwargs):
        super().__init__(**kwargs)
        if axis != -1:
            raise ValueError(f"BatchNormalization '{self.name}': only axis=-1 (channels last) is supported")
        self.momentum, self.epsilon, self.center, self.scale = momentum, epsilon, bool(center), bool(scale)

    def build(self, input_shape):
        n = (input_shape[-1],)
        self.gamma = self.add_weight("gamma", n, "ones") if self.scale else None
        self.beta = self.add_weight("beta", n, "zeros") if self.center else None
        self.moving_mean = self.add_weight("moving_mean", n, "zeros", trainable=False)
        self.moving_variance = self.add_weight("moving_variance", n, "ones", trainable=False)

    def call(self, x, training=False):
        xp, n = get_backend().xp, self.moving_mean.shape
        gamma = self.gamma if self.scale else Tensor(xp.ones(n, dtype=self.dtype))
        beta = self.beta if self.center else Tensor(xp.zeros(n, dtype=self.dtype))
        return F.batch_norm(x, gamma, beta, self.moving_mean, self.moving_variance, training,
                            self.momentum, self.epsilon)

    def get_config(self):
        return {"name": self.name, "momentum": self.momentum, "epsilon": self.epsilon, "center": self.center,
                "scale": self.scale}


class LeakyReLU(Layer):
    """f(x) = x for x >= 0, negative_slope * x otherwise (Keras default 0.3; `alpha` is the old name)."""

    def __init__(self, negative_slope=0.3, alpha=None, **kwargs):
        super().__init__(**kwargs)
        self.negative_slope = float(negative_slope if alpha is None else alpha)

    def call(self, x, training=False):
        return F.leaky_relu(x, self.negative_slope)

    def get_config(self):
        return {"name": self.name, "negative_slope": self.negative_slope}


class Activation(Layer):
    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = _check_activation(activation)

    def call(self, x, training=False):
        return apply_activation(x, self.activation)

    def get_config(self):
        return {"name": self.name, "activation": self.activation}


class SimpleRNN(Layer):
    """h_t = activation(x_t W + h_{t-1} U + b); output h_T, or (N, T, units) with return_sequences."""

    gates = 1

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, return_sequences=False, stateful=False,
                 recurrent_activation="sigmoid", **kwargs):
        super().__init__(**kwargs)
        label = f"{type(self).__name__} '{self.name}'"
        self.units = _positive_int(units, "units", label)
        self.activation = _check_activation(activation)
        if self.activation in ("softmax", "leaky_relu"):
            raise ValueError(f"{label}: activation must be linear, relu, sigmoid or tanh, got {activation!r}")
        if recurrent_activation != "sigmoid":
            raise ValueError(f"{label}: only recurrent_activation='sigmoid' (the Keras default) is supported")
        if stateful:
            raise ValueError(f"{label}: stateful=True is not supported (each batch starts from zero states)")
        self.use_bias, self.return_sequences = use_bias, return_sequences
        self.initializers = kernel_initializer, recurrent_initializer, bias_initializer
        self.regularizers = kernel_regularizer, recurrent_regularizer, bias_regularizer

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise self.shape_error(input_shape, "it needs sequences (batch, time, features)")
        if self.return_sequences:
            return (input_shape[0], input_shape[1], self.units)
        return (input_shape[0], self.units)

    def bias_shape(self):
        return (self.gates * self.units,)

    def bias_initializer(self):
        return self.initializers[2]

    def build(self, input_shape):
        width = self.gates * self.units
        kernel_init, recurrent_init, _ = self.initializers
        kernel_reg, recurrent_reg, bias_reg = self.regularizers
        self.kernel = self.add_weight("kernel", (input_shape[-1], width), kernel_init, kernel_reg)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, width), recurrent_init, recurrent_reg)
        if self.use_bias:
            self.bias = self.add_weight("bias", self.bias_shape(), self.bias_initializer(), bias_reg)
        else:  # no bias: a constant zero vector keeps one code path
            self.bias = Tensor(np.zeros(self.bias_shape(), dtype=self.dtype))

    def call(self, x, training=False):
        return F.simple_rnn(x, self.kernel, self.recurrent_kernel, self.bias, self.activation, self.return_sequences)

    def get_config(self):
        return {"name": self.name, "units": self.units, "activation": self.activation,
                "return_sequences": self.return_sequences}


class LSTM(SimpleRNN):
    """Keras LSTM: gates i, f, c, o in one (in, 4u) kernel and one bias; the forget-gate bias starts at 1."""

    gates = 4

    def __init__(self, units, unit_forget_bias=True, **kwargs):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = unit_forget_bias

    def bias_initializer(self):
        base = self.initializers[2]
        return initializers.UnitForgetBias(base) if self.unit_forget_bias else base

    def call(self, x, training=False):
        return F.lstm(x, self.kernel, self.recurrent_kernel, self.bias, self.return_sequences,
                      activation=self.activation)


class GRU(SimpleRNN):
    """Keras GRU with reset_after=True: gates z, r, h; bias (2, 3u) = [input bias; recurrent bias]."""

    gates = 3

    def __init__(self, units, reset_after=True, **kwargs):
        super().__init__(units, **kwargs)
        if not reset_after:
            raise ValueError(f"GRU '{self.name}': only reset_after=True (the Keras 2/3 default) is supported")

    def bias_shape(self):
        return (2, 3 * self.units)

    def call(self, x, training=False):
        return F.gru(x, self.kernel, self.recurrent_kernel, self.bias, self.return_sequences,
                     activation=self.activation)
