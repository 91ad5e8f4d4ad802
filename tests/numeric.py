"""Finite-difference helpers shared by the raw-kernel tests (the autodiff tests use engine.tools.gradcheck)."""
import numpy as np


def numeric_grad(loss, array, eps=1e-6):
    """Central differences of loss() with respect to every entry of `array` (changed in place, then restored)."""
    grad = np.zeros_like(array)
    for idx in np.ndindex(array.shape):
        old = array[idx]
        array[idx] = old + eps
        up = loss()
        array[idx] = old - eps
        down = loss()
        array[idx] = old
        grad[idx] = (up - down) / (2 * eps)
    return grad


def rel_err(a, b):
    """||a - b|| / (||a|| + ||b||), guarded against two zero arrays."""
    return np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-300)
