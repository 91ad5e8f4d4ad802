"""The matrix products around every recurrent cell, shared by the backends whose arrays support ``@``.

A recurrent layer's work splits in two: the recurrence (step t needs step t-1: each backend's own kernels)
and products that involve every step at once, done here as single matmuls over the N*T rows:
the input projection x_t·W (+ b) of all steps before the recurrence, and after backpropagation through
time the gradients dx = dxw·Wᵀ, dW = Σ_t x_tᵀ·dxw_t and dU = Σ_t h_{t-1}ᵀ·dhu_t.
They work on NumPy and CuPy arrays alike (``np.concatenate`` dispatches to CuPy for CuPy arrays).
"""
from __future__ import annotations

import numpy as np


def project_in(x, W, b):
    """x_t·W + b for every time step with one matmul: (N, T, F) -> (N, T, k)."""
    N, T, F = x.shape
    return (x.reshape(N * T, F) @ W + b).reshape(N, T, W.shape[1])


def previous_states(s0, states):
    """s_0 .. s_{T-1}: the state each step starts from, shape (N, T, u)."""
    return np.concatenate([s0[:, None, :], states[:, :-1, :]], axis=1)


def project_back(x, W, dxw, h_prev, U, dhu):
    """Backward of the projections x_t·W and h_{t-1}·U summed over all steps.

    dxw (N, T, k) is dLoss/d(x_t·W) and dhu (N, T, k) is dLoss/d(h_{t-1}·U). Returns (dx, dW, dU)
    with dW = Σ_t x_tᵀ·dxw_t and dU = Σ_t h_{t-1}ᵀ·dhu_t, each as one matmul over the N·T rows.
    """
    N, T, F = x.shape
    k = W.shape[1]
    dxw2 = dxw.reshape(N * T, k)
    dx = (dxw2 @ W.T).reshape(N, T, F)
    dW = x.reshape(N * T, F).T @ dxw2
    dU = h_prev.reshape(N * T, -1).T @ dhu.reshape(N * T, k)
    return dx, dW, dU
