"""nnlab's engine: tensors with reverse-mode autodiff, swappable kernel backends, Keras-faithful layers.

    import engine
    x = engine.tensor([[1.0, 2.0]], requires_grad=True)
    engine.set_backend("numpy")          # or use_backend("numba") as a context manager
"""
from engine.autograd import Tensor, is_grad_enabled, no_grad, tensor
from engine.backends import (BackendUnavailable, available_backends, get_backend, set_backend,
                             use_backend)

__version__ = "0.1.0"

__all__ = ["Tensor", "tensor", "no_grad", "is_grad_enabled", "set_backend", "use_backend", "get_backend",
           "available_backends", "BackendUnavailable", "__version__"]
