"""The `numpy` backend: the executable specification every other backend is tested against.

Each kernel is plain NumPy written to be read next to the formula it implements, one module per family
of the contract (conv, pool, recurrent, activations, losses, normalization). Speed is not a goal here;
clarity and exactness are.
"""
from __future__ import annotations

def make_backend():
    import numpy as np

    from engine.backends import Backend
    from engine.backends.contract import collect_kernels
    return Backend("numpy", np, collect_kernels(__name__))
