"""Fused loss ops: softmax + cross-entropy, and binary cross-entropy from logits."""
from __future__ import annotations

from engine.autograd import Function
from engine.backends import array_module, get_backend


class SoftmaxCrossEntropy(Function):
    """Per-sample -sum_c t_c log softmax(z)_c over the last axis (the stable log-sum-exp form)."""

    def forward(self, logits, targets):
        self.kernels = get_backend()
        losses, self.probs = self.kernels.softmax_cross_entropy_forward(logits, targets)
        self.targets = targets
        return losses

    def backward(self, g):
        return self.kernels.softmax_cross_entropy_backward(g, self.probs, self.targets), None


class SigmoidBinaryCrossEntropy(Function):
    """Elementwise l = max(z, 0) - z*y + log(1 + exp(-|z|)), the stable form of
    -[y log sigma(z) + (1 - y) log(1 - sigma(z))]; dl/dz = sigma(z) - y."""

    def forward(self, logits, targets):
        xp = array_module(logits)
        self.logits, self.targets = logits, targets
        return xp.maximum(logits, 0) - logits * targets + xp.log1p(xp.exp(-xp.abs(logits)))

    def backward(self, g):
        xp = array_module(g)
        sigma = 0.5 * (1 + xp.tanh(0.5 * self.logits))
        return g * (sigma - self.targets), None
