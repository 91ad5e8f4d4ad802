"""Activation ops: an activation by name (elementwise) and softmax over the last axis."""
from __future__ import annotations

from engine.autograd import Function
from engine.backends import get_backend


class Activation(Function):
    def forward(self, x, name, alpha):
        self.kernels = get_backend()
        self.x, self.name, self.alpha = x, name, alpha
        self.y = self.kernels.activation_forward(name, x, alpha)
        return self.y

    def backward(self, g):
        return self.kernels.activation_backward(self.name, g, self.x, self.y, self.alpha), None, None


class Softmax(Function):
    def forward(self, x):
        self.kernels = get_backend()
        self.y = self.kernels.softmax_forward(x)
        return self.y

    def backward(self, g):
        return (self.kernels.softmax_backward(g, self.y),)
