"""Pooling ops (max and average). Shapes are resolved by the caller (engine.functional); the arithmetic is the
active backend's pool kernels."""
from __future__ import annotations

from engine.autograd import Function
from engine.backends import get_backend


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
