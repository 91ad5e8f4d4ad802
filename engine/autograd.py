"""Reverse-mode automatic differentiation over a recorded graph.

Every differentiable op is a :class:`Function` with a ``forward`` on raw arrays and a ``backward`` that
turns the gradient of its output into gradients of its inputs. Calling ``SomeOp.apply(...)`` runs the
forward pass and, when gradients are being recorded and an input requires one, remembers the op on the
output tensor. ``loss.backward()`` then visits the recorded ops in reverse topological order, applying
the chain rule and summing the gradients of tensors used more than once.
"""
from __future__ import annotations

import contextlib
import math

import numpy as np

from engine.backends import get_backend

_grad_enabled = [True]


def is_grad_enabled() -> bool:
    return _grad_enabled[-1]


@contextlib.contextmanager
def no_grad():
    """Run a block without recording ops (inference, optimizer updates)."""
    _grad_enabled.append(False)
    try:
        yield
    finally:
        _grad_enabled.pop()


class Tensor:
    """An array of the active backend plus what autodiff needs: ``grad``, ``requires_grad`` and the op that made it."""

    __slots__ = ("data", "grad", "requires_grad", "_fn", "name")
    __array_priority__ = 100  # so that ndarray + Tensor calls Tensor.__radd__

    def __init__(self, data, requires_grad: bool = False, name: str | None = None):
        self.data = data
        self.grad = None
        self.requires_grad = requires_grad
        self._fn = None
        self.name = name

    # --- what a tensor is --------------------------------------------------------------------------
    shape = property(lambda self: tuple(self.data.shape))
    dtype = property(lambda self: self.data.dtype)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"tensor({np.array2string(self.numpy(), precision=4, threshold=20)}, dtype={self.dtype}{grad})"

    def numpy(self) -> np.ndarray:
        """The values as a NumPy array (copied from the GPU when they live there)."""
        return np.asarray(get_backend().to_numpy(self.data))

    def item(self) -> float:
        return self.numpy().item()

    def detach(self) -> "Tensor":
        """The same values, cut from the graph: no gradient flows back through the result."""
        return Tensor(self.data)

    # --- autodiff ----------------------------------------------------------------------------------
    def backward(self, grad=None, inputs=None) -> None:
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires a gradient.

        With ``inputs`` (a list of leaf tensors, as PyTorch's ``backward(inputs=...)``), only those leaves
        receive gradients and only the ops on a path from one of them to self run their backward: the GAN
        step asks for the discriminator's loss gradient in the discriminator's weights only, and so skips
        the whole generator, which the loss also depends on."""
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad (was it computed under no_grad?)")
        if grad is None:
            if self.size != 1:
                raise RuntimeError(f"backward() needs a gradient for a non-scalar tensor of shape {self.shape}")
            grad = get_backend().xp.ones_like(self.data)
        grads = {id(self): grad.data if isinstance(grad, Tensor) else grad}
        order = _topological_order(self)
        wanted = None if inputs is None else _leading_to(order, inputs)
        given = set()  # ids of arrays already stored as some leaf's .grad in this pass
        for t in reversed(order):
            g = grads.pop(id(t), None)
            if g is None or (wanted is not None and id(t) not in wanted):
                continue
            if t._fn is None:  # a leaf: parameters and inputs the user made
                if t.grad is not None:
                    g = t.grad + g
                elif id(g) in given or not _owned(g):
                    g = g.copy()  # never share one array between two leaves, nor hand out a read-only view
                given.add(id(g))
                t.grad = g
                continue
            for inp, g_in in zip(t._fn.inputs, _op_backward(t._fn, g, wanted)):
                if g_in is None or not isinstance(inp, Tensor) or not inp.requires_grad:
                    continue
                key = id(inp)
                grads[key] = g_in if key not in grads else grads[key] + g_in

    # --- operators (defined in engine.ops.basic) -----------------------------------------------------
    def __add__(self, other): return basic.add(self, other)
    def __radd__(self, other): return basic.add(other, self)
    def __sub__(self, other): return basic.sub(self, other)
    def __rsub__(self, other): return basic.sub(other, self)
    def __mul__(self, other): return basic.mul(self, other)
    def __rmul__(self, other): return basic.mul(other, self)
    def __truediv__(self, other): return basic.div(self, other)
    def __rtruediv__(self, other): return basic.div(other, self)
    def __neg__(self): return basic.neg(self)
    def __pow__(self, exponent): return basic.power(self, exponent)
    def __rpow__(self, base): return basic.exp(self * math.log(base))
    def __matmul__(self, other): return basic.matmul(self, other)
    def __getitem__(self, index): return basic.getitem(self, index)

    def sum(self, axis=None, keepdims=False): return basic.sum(self, axis, keepdims)
    def mean(self, axis=None, keepdims=False): return basic.mean(self, axis, keepdims)
    def reshape(self, *shape): return basic.reshape(self, shape[0] if len(shape) == 1 else shape)
    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return basic.transpose(self, axes or None)
    T = property(lambda self: basic.transpose(self, None))
    def exp(self): return basic.exp(self)
    def log(self): return basic.log(self)


def _owned(array) -> bool:
    """True for a writeable array that owns its memory (so storing it as a .grad aliases nothing)."""
    flags = getattr(array, "flags", None)
    return flags is not None and flags.owndata and flags.writeable


def _leading_to(order: list[Tensor], inputs) -> set[int]:
    """The ids of the tensors in `order` (a topological order) from which one of `inputs` can be reached
    backwards: the inputs themselves and every op output computed, directly or not, from one of them."""
    wanted = {id(t) for t in inputs}
    for t in order:
        if t._fn is not None and any(id(inp) in wanted for inp in t._fn.inputs if isinstance(inp, Tensor)):
            wanted.add(id(t))
    return wanted


def _op_backward(fn: "Function", grad, wanted: set[int] | None):
    """fn.backward(grad), told (through needs_grad) to skip the arguments no wanted tensor depends on."""
    if wanted is None:
        return fn.backward(grad)
    needs = fn.needs_grad
    fn.needs_grad = tuple(need and id(inp) in wanted for need, inp in zip(needs, fn.inputs))
    try:
        return fn.backward(grad)
    finally:
        fn.needs_grad = needs


def _topological_order(root: Tensor) -> list[Tensor]:
    """Tensors reachable from root, each after every tensor it was computed from (iterative DFS)."""
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        t, expanded = stack.pop()
        if expanded:
            order.append(t)
            continue
        if id(t) in seen:
            continue
        seen.add(id(t))
        stack.append((t, True))
        if t._fn is not None:
            stack.extend((inp, False) for inp in t._fn.inputs
                         if isinstance(inp, Tensor) and inp.requires_grad and id(inp) not in seen)
    return order


class Function:
    """One differentiable op.

    Subclasses implement ``forward(*args, **options) -> array`` on raw arrays (tensor arguments arrive
    as their ``.data``; other arguments as they are) and ``backward(grad) -> tuple`` with one gradient
    (or None) per positional argument. ``self.needs_grad[i]`` says whether argument i wants one, so a
    backward can skip work nobody uses.
    """

    inputs: tuple = ()
    needs_grad: tuple = ()

    @classmethod
    def apply(cls, *args, **options) -> Tensor:
        fn = cls()
        fn.needs_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        raw = [a.data if isinstance(a, Tensor) else a for a in args]
        out = Tensor(fn.forward(*raw, **options))
        if is_grad_enabled() and any(fn.needs_grad):
            fn.inputs = args
            out.requires_grad = True
            out._fn = fn
        return out

    def forward(self, *args, **options):
        raise NotImplementedError

    def backward(self, grad):
        raise NotImplementedError


def tensor(data, requires_grad: bool = False, dtype=None, name: str | None = None) -> Tensor:
    """Make a tensor on the active backend. Python numbers and lists become float32 (Keras's default);
    arrays keep their dtype unless ``dtype`` is given."""
    xp = get_backend().xp
    if isinstance(data, Tensor):
        data = data.data
    if dtype is None and not hasattr(data, "dtype"):
        dtype = np.float32
    return Tensor(xp.asarray(data, dtype=dtype), requires_grad=requires_grad, name=name)


def as_tensor(value, like: Tensor | None = None) -> Tensor:
    """Wrap a non-tensor operand (a number or array) as a constant tensor, matching `like`'s dtype for scalars."""
    if isinstance(value, Tensor):
        return value
    xp = get_backend().xp
    if like is not None and np.isscalar(value):
        return Tensor(xp.asarray(value, dtype=like.dtype))
    return tensor(value)


from engine.ops import basic  # noqa: E402  (the operators above need the ops, which need Tensor)
