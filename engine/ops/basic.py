"""Elementary differentiable ops: arithmetic with broadcasting, reductions, reshapes, indexing, dense layers.

They use only the array module's own functions, so they run unchanged on every backend.
"""
from __future__ import annotations

from engine.autograd import Function
from engine.backends import array_module


def unbroadcast(grad, shape):
    """Sum a gradient over the axes NumPy broadcasting added or stretched, back to `shape`."""
    if grad.shape == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(i + extra for i, n in enumerate(shape) if n == 1 and grad.shape[i + extra] != 1)
    return grad.sum(axis=axes, keepdims=True).reshape(shape)


def _shape(value):
    return getattr(value, "shape", ())


class Add(Function):
    def forward(self, a, b):
        self.shapes = _shape(a), _shape(b)
        return a + b

    def backward(self, g):
        return unbroadcast(g, self.shapes[0]), unbroadcast(g, self.shapes[1])


class Sub(Function):
    def forward(self, a, b):
        self.shapes = _shape(a), _shape(b)
        return a - b

    def backward(self, g):
        return unbroadcast(g, self.shapes[0]), unbroadcast(-g, self.shapes[1])


class Mul(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, g):
        ga = unbroadcast(g * self.b, _shape(self.a)) if self.needs_grad[0] else None
        gb = unbroadcast(g * self.a, _shape(self.b)) if self.needs_grad[1] else None
        return ga, gb


class Div(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return a / b

    def backward(self, g):
        ga = unbroadcast(g / self.b, _shape(self.a)) if self.needs_grad[0] else None
        gb = unbroadcast(-g * self.a / (self.b * self.b), _shape(self.b)) if self.needs_grad[1] else None
        return ga, gb


class Neg(Function):
    def forward(self, a):
        return -a

    def backward(self, g):
        return (-g,)


class Power(Function):
    """a ** p for a constant exponent p: d/da = p a^(p-1)."""

    def forward(self, a, p):
        self.a, self.p = a, p
        return a ** p

    def backward(self, g):
        return g * self.p * self.a ** (self.p - 1), None


class Exp(Function):
    def forward(self, a):
        self.y = array_module(a).exp(a)
        return self.y

    def backward(self, g):
        return (g * self.y,)


class Log(Function):
    def forward(self, a):
        self.a = a
        return array_module(a).log(a)

    def backward(self, g):
        return (g / self.a,)


class Clip(Function):
    """clip(a, lo, hi): the gradient passes where lo <= a <= hi and is zero where the clip binds."""

    def forward(self, a, lo, hi):
        self.inside = (a >= lo) & (a <= hi)
        return array_module(a).clip(a, lo, hi)

    def backward(self, g):
        return g * self.inside, None, None


class MatMul(Function):
    """a @ b with a (..., n, k) and b (k, m) or a matching batch of matrices."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return a @ b

    def backward(self, g):
        xp = array_module(g)
        ga = unbroadcast(g @ xp.swapaxes(self.b, -1, -2), self.a.shape) if self.needs_grad[0] else None
        gb = None
        if self.needs_grad[1]:
            gb = xp.swapaxes(self.a, -1, -2) @ g
            gb = unbroadcast(gb, self.b.shape)
        return ga, gb


class Dense(Function):
    """y = x W + b on the last axis of x (Keras Dense on an N-D input), one BLAS matmul."""

    def forward(self, x, W, b):
        self.x, self.W = x, W
        y = x.reshape(-1, x.shape[-1]) @ W
        if b is not None:
            y += b
        return y.reshape(*x.shape[:-1], W.shape[1])

    def backward(self, g):
        g2 = g.reshape(-1, g.shape[-1])
        dx = (g2 @ self.W.T).reshape(self.x.shape) if self.needs_grad[0] else None
        dW = self.x.reshape(-1, self.x.shape[-1]).T @ g2 if self.needs_grad[1] else None
        db = g2.sum(axis=0) if self.needs_grad[2] else None
        return dx, dW, db


class Sum(Function):
    def forward(self, a, axis, keepdims):
        self.shape, self.axis, self.keepdims = a.shape, axis, keepdims
        return a.sum(axis=axis, keepdims=keepdims)

    def backward(self, g):
        if self.axis is not None and not self.keepdims:
            g = array_module(g).expand_dims(g, self.axis)
        return array_module(g).broadcast_to(g, self.shape), None, None


class Reshape(Function):
    def forward(self, a, shape):
        self.shape = a.shape
        return a.reshape(shape)

    def backward(self, g):
        return g.reshape(self.shape), None


class Transpose(Function):
    def forward(self, a, axes):
        self.axes = axes
        return array_module(a).transpose(a, axes)

    def backward(self, g):
        xp = array_module(g)
        inverse = None if self.axes is None else tuple(xp.argsort(xp.asarray(self.axes)).tolist())
        return xp.transpose(g, inverse), None


class GetItem(Function):
    """a[index] for basic and advanced indexing; the gradient is scattered back (repeats add up)."""

    def forward(self, a, index):
        self.shape, self.dtype, self.index = a.shape, a.dtype, index
        return a[index]

    def backward(self, g):
        xp = array_module(g)
        out = xp.zeros(self.shape, dtype=g.dtype)
        xp.add.at(out, self.index, g)
        return out, None


class Concatenate(Function):
    def forward(self, axis, *arrays):
        self.axis, self.sizes = axis, [a.shape[axis] for a in arrays]
        return array_module(arrays[0]).concatenate(arrays, axis=axis)

    def backward(self, g):
        xp = array_module(g)
        cuts = list(xp.cumsum(xp.asarray(self.sizes))[:-1].tolist())
        return (None, *xp.split(g, cuts, axis=self.axis))


def add(a, b): return Add.apply(a, b)
def sub(a, b): return Sub.apply(a, b)
def mul(a, b): return Mul.apply(a, b)
def div(a, b): return Div.apply(a, b)
def neg(a): return Neg.apply(a)
def power(a, p): return Power.apply(a, p)
def exp(a): return Exp.apply(a)
def log(a): return Log.apply(a)
def clip(a, lo, hi): return Clip.apply(a, lo, hi)
def matmul(a, b): return MatMul.apply(a, b)
def sum(a, axis=None, keepdims=False): return Sum.apply(a, axis, keepdims)  # noqa: A001 (mirrors a.sum)
def reshape(a, shape): return Reshape.apply(a, tuple(shape) if not isinstance(shape, int) else (shape,))
def transpose(a, axes=None): return Transpose.apply(a, axes)
def getitem(a, index): return GetItem.apply(a, index)
def concatenate(tensors, axis=0): return Concatenate.apply(axis, *tensors)


def mean(a, axis=None, keepdims=False):
    """Sum divided by the number of reduced elements."""
    shape = a.shape
    axes = range(len(shape)) if axis is None else ((axis,) if isinstance(axis, int) else axis)
    count = 1
    for ax in axes:
        count *= shape[ax]
    return sum(a, axis, keepdims) * (1.0 / count)
