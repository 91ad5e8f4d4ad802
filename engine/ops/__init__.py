"""Differentiable ops: each a forward/backward pair that calls the active backend's kernels."""
