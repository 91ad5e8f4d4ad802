"""Optimizers with Keras 3's update rules (``keras/src/optimizers/{sgd,rmsprop,adam}.py``).

An optimizer updates *parameters*: objects with ``.data`` (a NumPy or CuPy array) and ``.grad``
(an array of the same shape, or None). ``optimizer.apply(params)`` takes one step:

    for every parameter with a gradient g:  w <- update(w, g, slots)    (in place, dtype kept)
    iterations <- iterations + 1

Slots (momentum, velocity, ...) are kept per parameter, keyed by ``id(param)``, and start at zero
the first time a parameter is updated, as Keras's optimizer variables do.
"""
from __future__ import annotations

import inspect

from engine.backends import array_module, to_host
from engine.config import Configurable


class Optimizer(Configurable):
    """Base class: learning rate handling, the ``iterations`` counter and the per-parameter slots.

    A subclass sets ``name`` and ``default_learning_rate`` and implements ``update(param, g)``,
    ``variable_count(n)`` and ``get_config()``.
    """

    name = "optimizer"
    default_learning_rate = 0.01

    def __init__(self, learning_rate=None, extra_kwargs=None):
        extra = dict(extra_kwargs or {})
        lr = extra.pop("lr", None)
        if extra:
            raise TypeError(
                f"{type(self).__name__}() got unexpected keyword argument(s) {sorted(extra)}; "
                f"accepted: {self._accepted_names()}"
            )
        if lr is not None and learning_rate is not None:
            raise ValueError("give either `learning_rate` or its alias `lr`, not both")
        if learning_rate is None:
            learning_rate = lr if lr is not None else self.default_learning_rate
        if learning_rate < 0:
            raise ValueError(f"`learning_rate` must be >= 0, got {learning_rate}")
        self.learning_rate = float(learning_rate)
        self.iterations = 0
        self._slots = {}

    @classmethod
    def _accepted_names(cls):
        params = inspect.signature(cls.__init__).parameters
        return [p for p in params if p not in ("self", "kwargs")] + ["lr"]

    def apply(self, params):
        """Update every parameter that has a gradient, then count one iteration."""
        for param in params:
            if param.grad is not None:
                self.update(param, param.grad.astype(param.data.dtype, copy=False))
        self.iterations += 1

    def update(self, param, g):
        raise NotImplementedError

    def slot(self, param, name):
        """The slot ``name`` of ``param`` (created at zero on first use; moved with the parameter when the
        backend changes between NumPy and CuPy)."""
        slots = self._slots.setdefault(id(param), {})
        xp = array_module(param.data)
        if name not in slots:
            slots[name] = xp.zeros_like(param.data)
        elif array_module(slots[name]) is not xp:
            slots[name] = xp.asarray(to_host(slots[name]))
        return slots[name]

    def slots_of(self, param) -> dict:
        """The slots of ``param`` created so far (name -> array; the live arrays, not copies)."""
        return self._slots.get(id(param), {})

    def set_slots(self, param, slots: dict) -> None:
        """Replace the slots of ``param`` (a checkpoint restores them; the arrays are used as given)."""
        self._slots[id(param)] = dict(slots)

    def variable_count(self, trainable_param_count):
        """Keras's 'Optimizer params' once built: ``iterations`` and ``learning_rate`` (2) + slots."""
        raise NotImplementedError

    def get_config(self):
        return {"name": self.name, "learning_rate": self.learning_rate}


class SGD(Optimizer):
    """Gradient descent, optionally with (Nesterov) momentum.

    Keras defaults: learning_rate=0.01, momentum=0.0, nesterov=False. With momentum μ the slot m
    starts at 0:

        momentum == 0:   w <- w - η·g
        momentum > 0:    m <- μ·m - η·g;   w <- w + m
        nesterov:        m <- μ·m - η·g;   w <- w + μ·m - η·g
    """

    name = "SGD"
    default_learning_rate = 0.01

    def __init__(self, learning_rate=None, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate, kwargs)
        if not 0 <= momentum <= 1:
            raise ValueError(f"`momentum` must be a float between [0, 1], got {momentum}")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def update(self, param, g):
        lr = self.learning_rate
        if self.momentum == 0:
            param.data -= lr * g
            return
        m = self.slot(param, "momentum")
        m *= self.momentum
        m -= lr * g
        if self.nesterov:
            param.data += self.momentum * m - lr * g
        else:
            param.data += m

    def variable_count(self, trainable_param_count):
        return 2 + (trainable_param_count if self.momentum != 0 else 0)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    """RMSprop, Keras 3 form (ε inside the square root).

    Keras defaults: learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False.

        v <- ρ·v + (1-ρ)·g²
        centered:      mg <- ρ·mg + (1-ρ)·g;   denominator = v - mg² + ε
        not centered:  denominator = v + ε
        step = η·g / sqrt(denominator)
        momentum > 0:  m <- μ·m + step;   w <- w - m
        otherwise:     w <- w - step

    PyTorch differs: alpha=0.99, eps=1e-8 and ε added outside the square root.
    """

    name = "rmsprop"
    default_learning_rate = 0.001

    def __init__(self, learning_rate=None, rho=0.9, momentum=0.0, epsilon=1e-7,
                 centered=False, **kwargs):
        super().__init__(learning_rate, kwargs)
        self.rho = float(rho)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.centered = bool(centered)

    def update(self, param, g):
        xp = array_module(param.data)
        rho = self.rho
        v = self.slot(param, "velocity")
        v *= rho
        v += (1 - rho) * g * g
        if self.centered:
            mg = self.slot(param, "average_gradient")
            mg *= rho
            mg += (1 - rho) * g
            denominator = v - mg * mg + self.epsilon
        else:
            denominator = v + self.epsilon
        step = self.learning_rate * g / xp.sqrt(denominator)
        if self.momentum > 0:
            m = self.slot(param, "momentum")
            m *= self.momentum
            m += step
            param.data -= m
        else:
            param.data -= step

    def variable_count(self, trainable_param_count):
        n = trainable_param_count
        return 2 + n + (n if self.momentum > 0 else 0) + (n if self.centered else 0)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}


class Adam(Optimizer):
    """Adam, Keras 3 form (bias correction folded into the step size, ε on the uncorrected sqrt(v)).

    Keras defaults: learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False.
    At step t = iterations + 1:

        m <- m + (1-β1)·(g - m)
        v <- v + (1-β2)·(g² - v)
        α = η·sqrt(1 - β2^t) / (1 - β1^t)
        amsgrad:  v̂ <- max(v̂, v), and v̂ replaces v below
        w <- w - α·m / (sqrt(v) + ε)

    PyTorch uses eps=1e-8 added to sqrt(v̂) after bias correction, so the two agree only when
    ε_keras = ε_torch·sqrt(1 - β2^t).
    """

    name = "adam"
    default_learning_rate = 0.001

    def __init__(self, learning_rate=None, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, **kwargs):
        super().__init__(learning_rate, kwargs)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.amsgrad = bool(amsgrad)

    def update(self, param, g):
        xp = array_module(param.data)
        t = self.iterations + 1
        alpha = self.learning_rate * (1 - self.beta_2 ** t) ** 0.5 / (1 - self.beta_1 ** t)
        m = self.slot(param, "momentum")
        v = self.slot(param, "velocity")
        m += (1 - self.beta_1) * (g - m)
        v += (1 - self.beta_2) * (g * g - v)
        if self.amsgrad:
            v_hat = self.slot(param, "velocity_hat")
            xp.maximum(v_hat, v, out=v_hat)
            v = v_hat
        param.data -= alpha * m / (xp.sqrt(v) + self.epsilon)

    def variable_count(self, trainable_param_count):
        n = trainable_param_count
        return 2 + 2 * n + (n if self.amsgrad else 0)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


BY_NAME = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam}


def get(identifier):
    """An optimizer from a name ('sgd', 'rmsprop', 'adam'; any case) or an Optimizer (returned as is).

    A name gives an instance with Keras's defaults, as ``compile(optimizer='adam')`` does.
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in BY_NAME:
        return BY_NAME[identifier.lower()]()
    raise ValueError(
        f"unknown optimizer {identifier!r}; use an Optimizer or one of {sorted(BY_NAME)}"
    )
