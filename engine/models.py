"""Sequential and functional (chain) models with Keras's compile / fit / evaluate / predict / summary."""
from __future__ import annotations

import numpy as np

from engine import losses as losses_module
from engine import metrics as metrics_module
from engine import datachecks, optimizers, training
from engine.autograd import Tensor, no_grad
from engine.backends import get_backend
from engine.layers import HasWeights, InputLayer, Layer, ShapeError, SymbolicTensor, snake_case, unique_name
from engine.shapes import format_shape


class ModelError(RuntimeError):
    """A model used the wrong way (not built, not compiled, weights that do not fit)."""


class TrainingDiverged(ModelError):
    """The loss became NaN or infinite; `epoch` and `batch` count from 1, `history` keeps finished epochs."""

    def __init__(self, message, epoch, batch, history):
        super().__init__(message)
        self.epoch, self.batch, self.history = epoch, batch, history


class Model(HasWeights):
    """A chain of layers. `Model(inputs, outputs)` builds one from the functional API."""

    def __init__(self, inputs=None, outputs=None, name=None):
        self.name = name or unique_name("functional" if type(self) is Model else snake_case(type(self).__name__))
        self.layers: list[Layer] = []
        self.input_layer: InputLayer | None = None
        self.optimizer = self.loss = None
        self.metric_names: list[str] = []
        self.history = None
        self.stop_training = False
        #: a NaN or infinite loss stops fit and restores the last finite weights (False: train on, as Keras)
        self.stop_on_divergence = True
        if inputs is not None or outputs is not None:
            self._trace(inputs, outputs)

    def _trace(self, inputs, outputs):
        """Walk back from the output to the input; only single chains are supported."""
        inputs, outputs = _single(inputs, "inputs"), _single(outputs, "outputs")
        chain, node = [], outputs
        while node is not None and node is not inputs:
            chain.append(node.layer)
            node = node.parent
        if node is None:
            raise ModelError("the outputs were not computed from the given inputs")
        self.input_layer = inputs.layer
        self.layers = chain[::-1]

    # --- structure -----------------------------------------------------------------------------------
    @property
    def built(self) -> bool:
        return bool(self.layers) and all(layer.built for layer in self.layers)

    @property
    def input_shape(self):
        return self.input_layer.output_shape if self.input_layer else self.layers[0].input_shape

    @property
    def output_shape(self):
        return self.layers[-1].output_shape

    @property
    def weights(self):
        return [w for layer in self.layers for w in layer.weights]

    def count_params(self) -> int:
        self.require_built()
        return sum(int(w.size) for w in self.weights)

    def require_built(self):
        if not self.built:
            raise ModelError(f"model '{self.name}' is not built yet: give its first layer input_shape=(...), "
                             f"start it with an Input, or call it on data first")

    def build(self, input_shape):
        """Build every layer in turn from the input shape (batch axis included as None)."""
        shape = tuple(input_shape)
        for layer in self.layers:
            shape = layer.build_for(shape)
        return shape

    # --- running -------------------------------------------------------------------------------------
    def __call__(self, x, training=False) -> Tensor:
        return self.forward(x, training)

    def forward(self, x, training=False, until=None) -> Tensor:
        """Run the layers (all of them, or the first `until`)."""
        if not self.built:
            self.build((None, *np.shape(x.data if isinstance(x, Tensor) else x)[1:]))
        for layer in self.layers[:until]:
            x = layer(x, training)
        return x

    def prepare_inputs(self, x) -> np.ndarray:
        """Inputs as float32 arrays (Keras casts inputs), with Keras 3's rank fix for a missing last axis of 1."""
        x = datachecks.check_numbers(x.numpy() if isinstance(x, Tensor) else x, "x").astype(self.dtype, copy=False)
        expected = self.input_shape if self.built or self.input_layer else None
        if expected and x.ndim == len(expected) - 1 and expected[-1] == 1:
            x = x[..., None]
        if expected and not _fits(x.shape, expected):
            raise ShapeError(f"model '{self.name}' expects input shape {format_shape(expected)}, got data of shape "
                             f"{format_shape((None, *x.shape[1:]))}")
        return x

    def prepare_targets(self, y) -> np.ndarray:
        y = datachecks.check_numbers(y.numpy() if isinstance(y, Tensor) else y, "y")
        return y if np.issubdtype(y.dtype, np.integer) else y.astype(self.dtype)

    @property
    def dtype(self):
        return self.layers[0].dtype if self.layers else np.dtype("float32")

    # --- training --------------------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None):
        """Choose the optimizer (name or instance), the loss (name or Loss) and metric names."""
        if loss is None:
            raise ValueError("compile needs a loss, e.g. loss='categorical_crossentropy' or 'mse'")
        self.optimizer = optimizers.get(optimizer)
        self.loss = losses_module.get(loss)
        self.metric_names = list(metrics or [])
        for name in self.metric_names:  # reject unknown names now, not at the end of the first epoch
            metrics_module.get(name, np.zeros((1, 2)), (None, 2))

    def ensure_ready(self, x, y):
        if self.optimizer is None:
            raise ModelError(f"model '{self.name}' is not compiled: call compile(optimizer=..., loss=...) first")
        if not self.built:
            self.build((None, *x.shape[1:]))

    def fresh_metrics(self, y):
        return [metrics_module.get(name, y, self.output_shape) for name in self.metric_names]

    def _fuses_softmax(self) -> bool:
        """Softmax output + categorical cross-entropy: compute the loss from the logits in one stable kernel
        (what Keras's TensorFlow backend does); equal to the clipped formula except where the clip binds."""
        last = self.layers[-1]
        return (getattr(last, "activation", None) == "softmax" and hasattr(last, "linear_call")
                and isinstance(self.loss, (losses_module.CategoricalCrossentropy,
                                           losses_module.SparseCategoricalCrossentropy))
                and not self.loss.from_logits)

    def _loss_and_output(self, x, y, training):
        """The data loss (a tensor to differentiate) and the model's output as a NumPy array."""
        backend = get_backend()
        xt = Tensor(backend.asarray(x))
        if self._fuses_softmax():
            hidden = self.forward(xt, training, until=-1)
            logits = self.layers[-1].linear_call(hidden, training)
            loss = type(self.loss)(from_logits=True)(y, logits)
            with no_grad():
                probs = backend.softmax_forward(logits.data)
            return loss, np.asarray(backend.to_numpy(probs))
        out = self.forward(xt, training)
        return self.loss(y, out), out.numpy()

    def regularization_penalty(self) -> float:
        """Sum over weights of their penalties (e.g. lambda * sum w^2), added to the loss, not averaged."""
        return sum(w.regularizer(w.data) for w in self.weights if w.regularizer is not None)

    def train_step(self, x, y):
        """One optimizer step on a batch; returns (total loss before the step, predictions)."""
        params = self.trainable_weights
        for w in params:
            w.grad = None
        loss, y_pred = self._loss_and_output(x, y, training=True)
        loss.backward()
        for w in params:  # d(lambda sum w^2)/dw = 2 lambda w, added straight to the gradient
            if w.regularizer is not None:
                w.grad = w.grad + w.regularizer.gradient(w.data)
        total = loss.item() + self.regularization_penalty()
        self.optimizer.apply(params)
        return total, y_pred

    def test_step(self, x, y):
        with no_grad():
            loss, y_pred = self._loss_and_output(x, y, training=False)
        return loss.item() + self.regularization_penalty(), y_pred

    def predict_step(self, x) -> np.ndarray:
        with no_grad():
            return self.forward(Tensor(get_backend().asarray(x)), training=False).numpy()

    def fit(self, x, y, epochs=1, batch_size=None, validation_split=0.0, validation_data=None, shuffle=True,
            verbose=1, callbacks=None, checkpoint=None, resume=None):
        """Keras's fit, plus: `checkpoint=FILE` saves everything needed to resume after every epoch,
        `resume=FILE` continues from one, and a NaN or infinite loss stops training with the last finite
        weights (TrainingDiverged) unless `stop_on_divergence` is False (see engine.training)."""
        return training.fit(self, x, y, epochs, batch_size, validation_split, validation_data, shuffle,
                            verbose, callbacks, checkpoint, resume)

    def evaluate(self, x, y, batch_size=None, verbose=0, return_dict=False):
        return training.evaluate(self, x, y, batch_size, verbose, return_dict)

    def predict(self, x, batch_size=None, verbose=0) -> np.ndarray:
        if not self.built:
            self.build((None, *np.shape(x)[1:]))
        return training.predict(self, x, batch_size, verbose)

    # --- inspection and persistence ----------------------------------------------------------------------
    def summary(self, print_fn=None, line_length=None):
        """Print Keras 3's summary table (Rich); `print_fn` receives the text instead."""
        from engine.summary import render_summary
        text = render_summary(self, line_length)
        (print_fn or print)(text)

    def get_weights(self) -> list[np.ndarray]:
        return [w.numpy().copy() for w in self.weights]

    def set_weights(self, arrays, source: str | None = None) -> None:
        """Copy `arrays` into the weights: all are checked first (count, shapes, real finite numbers), so a
        bad array changes nothing; the model never shares memory with the caller's arrays."""
        arrays = self.check_weights(arrays, source)
        backend = get_backend()
        for w, array in zip(self.weights, arrays):
            w.data = backend.asarray(np.array(array, dtype=w.dtype, copy=True))

    def check_weights(self, arrays, source: str | None = None) -> list[np.ndarray]:
        """`arrays` as NumPy arrays after checking that they fit this model's weights (ModelError if not)."""
        weights, where = self.weights, f" in {source}" if source else ""
        arrays = [np.asarray(a.numpy() if isinstance(a, Tensor) else a) for a in arrays]
        if len(arrays) != len(weights):
            raise ModelError(f"model '{self.name}' has {len(weights)} weight arrays, got {len(arrays)}{where}")
        for w, array, owner in zip(weights, arrays, self._weight_owners()):
            name = f"weight '{owner.name}/{w.name}'"
            if tuple(array.shape) != w.shape:
                raise ModelError(f"{name} has shape {w.shape}, got {tuple(array.shape)}{where}")
            if array.dtype.kind not in "iuf":
                raise ModelError(f"{name} takes real numbers, got an array of {array.dtype}{where}")
            if array.dtype.kind == "f" and not np.isfinite(array).all():
                bad = int(array.size - np.count_nonzero(np.isfinite(array)))
                raise ModelError(f"{name} would get {bad} NaN or infinite value{'s' if bad != 1 else ''}{where}")
        return arrays

    def _weight_owners(self):
        return [layer for layer in self.layers for _ in layer.weights]

    def save_weights(self, path, overwrite: bool = True):
        """Write every weight to an .npz file (no pickle), keyed `NNN.layer/weight` in model order; atomic
        (engine.files). Returns the path written."""
        from engine import saving
        return saving.save_weights(self, path, overwrite)

    def load_weights(self, path) -> None:
        """Read weights written by save_weights, matched by order; every array is checked before any is
        assigned, so a bad file changes nothing."""
        from engine import saving
        saving.load_weights(self, path)


class Sequential(Model):
    """A plain stack: `Sequential([Dense(...), ...])` or `model.add(layer)`."""

    def __init__(self, layers=None, name=None):
        super().__init__(name=name)
        for layer in layers or []:
            self.add(layer)

    def add(self, layer) -> None:
        """Append a layer; if the model's input shape is known, build it now so a misfit fails here."""
        if isinstance(layer, SymbolicTensor):  # Sequential([Input(shape=...), ...])
            layer = layer.layer
        if isinstance(layer, InputLayer):
            if self.layers or self.input_layer:
                raise ModelError("an Input can only come first in a Sequential model")
            self.input_layer = layer
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expects a layer, got {layer!r}")
        shape = self.layers[-1].output_shape if self.layers else (
            self.input_layer.output_shape if self.input_layer else layer.input_shape)
        if shape is not None:
            layer.build_for(shape)
        self.layers.append(layer)


def _single(value, what):
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise ModelError(f"only single-input, single-output chains are supported ({what} has {len(value)})")
        value = value[0]
    if not isinstance(value, SymbolicTensor):
        raise ModelError(f"{what} must come from Input(...) and layers called on it, got {value!r}")
    return value


def _fits(shape, expected):
    return len(shape) == len(expected) and all(e is None or s == e for s, e in zip(shape[1:], expected[1:]))
