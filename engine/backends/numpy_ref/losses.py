"""Softmax and cross-entropy fused: the numerically stable way to score logits against targets."""
from __future__ import annotations

import numpy as np


def softmax_cross_entropy_forward(logits, targets):
    """losses[n] = -sum_c t[n,c] * log_softmax(z)[n,c], with log_softmax(z) = z - max z - log sum exp(z - max z)."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_sum = np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    log_probs = shifted - log_sum
    losses = -(targets * log_probs).sum(axis=-1)
    return losses, np.exp(log_probs)


def softmax_cross_entropy_backward(dlosses, probs, targets):
    """d loss_n / d z_c = p_c * sum_k t_k - t_c (= p - t for targets that sum to one)."""
    return dlosses[..., None] * (probs * targets.sum(axis=-1, keepdims=True) - targets)
