"""Convolution ops (Conv2D and its adjoint, Conv2DTranspose). Shapes are resolved by the caller
(engine.functional); the arithmetic is the active backend's conv kernels."""
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
