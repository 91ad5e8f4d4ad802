"""Activations, dense layers, batch normalisation and dropout as differentiable ops."""
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


class BatchNormTrain(Function):
    """Training-mode batch norm. As Keras does, it also moves the running statistics toward this batch's:
    moving <- momentum * moving + (1 - momentum) * batch (in place; they are not differentiated)."""

    def forward(self, x, gamma, beta, moving_mean, moving_var, momentum, epsilon):
        self.kernels = get_backend()
        y, mean, var, self.cache = self.kernels.batch_norm_train_forward(x, gamma, beta, epsilon)
        moving_mean *= momentum
        moving_mean += (1 - momentum) * mean
        moving_var *= momentum
        moving_var += (1 - momentum) * var
        return y

    def backward(self, g):
        dx, dgamma, dbeta = self.kernels.batch_norm_backward(g, self.cache)
        return dx, dgamma, dbeta, None, None, None, None
