"""Launch code for kernels/losses.cu: softmax cross-entropy on the logits, one warp per row."""
from __future__ import annotations

from engine.backends.contract import compute_dtype


def softmax_cross_entropy_forward(lib, logits, targets):
    logits = lib.array(logits, compute_dtype(logits))
    targets = lib.array(targets, logits.dtype)
    losses, probs = lib.empty(logits.shape[:-1], logits.dtype), lib.empty(logits.shape, logits.dtype)
    lib.launch_rows("losses.cu", "softmax_cross_entropy_forward", logits.dtype, logits.shape,
                    (logits, targets, losses, probs))
    return losses, probs


def softmax_cross_entropy_backward(lib, dlosses, probs, targets):
    dtype = compute_dtype(dlosses, probs)
    dlosses, probs, targets = (lib.array(a, dtype) for a in (dlosses, probs, targets))
    dlogits = lib.empty(probs.shape, dtype)
    lib.launch_rows("losses.cu", "softmax_cross_entropy_backward", dtype, probs.shape,
                    (dlosses, probs, targets, dlogits))
    return dlogits
