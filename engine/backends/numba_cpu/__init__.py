"""The `numba` backend: hand-written CPU kernels compiled by Numba, meant to be read and to be fast.

Each kernel is a plain loop nest over NHWC / NTF arrays, decorated with ``@njit(cache=True)`` and, where
the work is large enough, ``parallel=True`` with ``prange`` over independent outputs. Matrix products
that are already optimal in BLAS (the recurrent cells' projections) call ``np.dot``; everything around
them is fused into single passes:

- conv.py: 2-D convolution and its two gradients as im2col + BLAS GEMM, in cache-sized chunks per thread.
- pool.py: max and average pooling, forward and backward.
- recurrent.py: SimpleRNN, LSTM and GRU; the whole time loop runs inside one compiled function, each
  step one GEMM for h_{t-1}·U plus one fused pass over every gate.
- activations.py, losses.py, normalization.py: activations and softmax, softmax cross-entropy, batch norm
  and dropout masks, each a loop over contiguous rows or elements.
- vectormath.py: the vectorisable exp/tanh/sigmoid those kernels share; common.py: compiler options,
  layouts and the rule for when to use threads; blas.py: the BLAS thread policy; memory.py: the malloc
  policy; cache.py: where the compiled kernels are cached.

While the backend is active, BLAS runs on one thread (blas.py says why): all parallelism is ours. Turning
it on also keeps freed memory in the process for the next step's arrays (memory.py: page faults).

Importing this package is cheap: it imports neither Numba nor the kernels. ``make_backend`` imports
them; each kernel is compiled on its first call for the dtypes it sees (float32, float64) and the
machine code is cached in ``__pycache__`` so the next process starts without compiling.
"""
from __future__ import annotations

import importlib.util

def unavailable_reason() -> str | None:
    """None if Numba (and SciPy, which Numba's np.dot calls into BLAS through) can be imported."""
    for package, role in (("numba", "the compiler"), ("scipy", "BLAS for np.dot inside Numba code")):
        if importlib.util.find_spec(package) is None:
            return f"{package} ({role}) is not installed; pip install numba scipy"
    return None


def make_backend():
    import numpy as np

    from engine.backends import Backend
    from engine.backends.contract import collect_kernels
    from engine.backends.numba_cpu.blas import limit_blas_to_one_thread
    from engine.backends.numba_cpu.memory import keep_freed_memory

    def activate():
        keep_freed_memory()
        return limit_blas_to_one_thread()

    return Backend("numba", np, collect_kernels(__name__), activate=activate)
