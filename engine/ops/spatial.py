"""Convolution and pooling ops. Shapes are resolved here; the arithmetic is the backend's kernels."""
from __future__ import annotations

from engine.autograd import Function
from engine.backends import get_backend


class Conv2D(Function):
    """y = x * w (+ b): Keras Conv2D, x (N,H,W,Cin), w (kh,kw,Cin,Cout)."""

    def forward(self, x, w, b, strides, pads, dilation):
        self.kernels = get_backend()
        self.x, self.w, self.geometry = x, w, (strides, pads, dilation)
        return self.kernels.conv2d_forward(x, w, b, strides, pads, dilation)

    def backward(self, g):
        k = self.kernels
        dx = k.conv2d_backward_input(g, self.w, self.x.shape, *self.geometry) if self.needs_grad[0] else None
        dw = k.conv2d_backward_weight(g, self.x, self.w.shape, *self.geometry) if self.needs_grad[1] else None
        db = g.sum(axis=(0, 1, 2)) if self.needs_grad[2] else None
        return dx, dw, db, None, None, None


class Conv2DTranspose(Function):
    """The adjoint of a convolution: the same kernels as Conv2D with the roles of forward and backward swapped.

    w has Keras's transpose layout (kh, kw, filters, Cin): as a forward conv it maps filters -> Cin, so the
    transposed conv (Cin -> filters) is that conv's input gradient, evaluated on x.
    """

    def forward(self, x, w, b, out_shape, strides, pads):
        self.kernels = get_backend()
        self.x, self.w, self.geometry = x, w, (strides, pads, (1, 1))
        y = self.kernels.conv2d_backward_input(x, w, out_shape, *self.geometry)
        return y if b is None else y + b

    def backward(self, g):
        k = self.kernels
        dx = k.conv2d_forward(g, self.w, None, *self.geometry) if self.needs_grad[0] else None
        # d<g, conv^T(x, w)>/dw = d<conv(g, w), x>/dw: the weight gradient of a conv on g with output-gradient x.
        dw = k.conv2d_backward_weight(self.x, g, self.w.shape, *self.geometry) if self.needs_grad[1] else None
        db = g.sum(axis=(0, 1, 2)) if self.needs_grad[2] else None
        return dx, dw, db, None, None, None


class MaxPool2D(Function):
    def forward(self, x, pool, strides, pads):
        self.kernels = get_backend()
        y, self.cache = self.kernels.max_pool2d_forward(x, pool, strides, pads)
        return y

    def backward(self, g):
        return self.kernels.max_pool2d_backward(g, self.cache), None, None, None


class AvgPool2D(Function):
    def forward(self, x, pool, strides, pads):
        self.kernels = get_backend()
        self.args = x.shape, pool, strides, pads
        return self.kernels.avg_pool2d_forward(x, pool, strides, pads)

    def backward(self, g):
        return self.kernels.avg_pool2d_backward(g, *self.args), None, None, None
