"""The `numpy` backend: the executable specification every other backend is tested against.

Each kernel is plain NumPy written to be read next to the formula it implements. Speed is not a goal
here; clarity and exactness are.
"""
from __future__ import annotations

import numpy as np

from engine.backends import Backend
from engine.backends.numpy_ref import activations, conv, losses, normalization, pool, recurrent

KERNEL_MODULES = (conv, pool, recurrent, activations, losses, normalization)


def collect_kernels(modules) -> dict:
    """Every public function listed in a module's __all__, by name."""
    return {name: getattr(m, name) for m in modules for name in m.__all__}


def make_backend() -> Backend:
    return Backend("numpy", np, collect_kernels(KERNEL_MODULES), "readable NumPy reference (the specification)")
