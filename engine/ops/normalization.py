"""Batch normalisation as a differentiable op (training mode; inference is plain arithmetic in
engine.functional). Dropout needs no op of its own: it multiplies by a mask from the dropout_mask kernel."""
from __future__ import annotations

from engine.autograd import Function
from engine.backends import get_backend


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
