"""What the numba kernels share: compiler options, the compute dtype, array layouts and the thread rule.

Threads. Arrays of PARALLEL_MIN_SIZE elements or more are cut into one block of rows (or elements) per
thread: each elementwise kernel is a serial ``@njit`` function plus a three-line ``prange`` driver that
calls it on every block (``launch`` picks one). Smaller arrays run on the calling thread, where starting
threads would cost more than it saves.

Two compiler options keep loops vectorisable: ``error_model="numpy"`` (a division does not check for
zero and raise) and the fastmath flags in FASTMATH (fused multiply-add, no signed zeros, reciprocal),
which never assume that there are no NaNs or infinities.

Importing this module settles where Numba caches the kernels (cache.py) before any kernel is defined:
every kernel module imports it first (conv.py for that alone).
"""
from __future__ import annotations

import numba
import numpy as np

from engine.backends.contract import compute_dtype
from engine.backends.numba_cpu.cache import settle_cache_dir

settle_cache_dir()

FASTMATH = {"contract", "nsz", "arcp"}
SERIAL_JIT = dict(cache=True, error_model="numpy", fastmath=FASTMATH)
JIT = dict(SERIAL_JIT, parallel=True)
#: options for numba.extending.overload: the scalar helpers compile with the same math flags
SCALAR_JIT = dict(jit_options=dict(error_model="numpy", fastmath=FASTMATH))

# Arrays smaller than this many elements are done by one thread: starting the others costs ~10 µs,
# more than the work saves (and on a busy machine a sleeping thread can take a whole time slice).
PARALLEL_MIN_SIZE = 1 << 17


def as_flat(x, dtype):
    """x as a contiguous 1-D array of `dtype` (a view when x already is one, else a copy)."""
    return np.ascontiguousarray(x, dtype=dtype).reshape(-1)


def as_rows(x, dtype):
    """x as a contiguous (rows, last axis) matrix of `dtype`."""
    x = np.ascontiguousarray(x, dtype=dtype)
    return x.reshape(-1, x.shape[-1]) if x.ndim else x.reshape(1, 1)


def launch(kernel, parallel_kernel, size, *args):
    """kernel(*args) on one thread for small arrays, else parallel_kernel(*args, blocks): the same work
    cut into one block of rows (or elements) per thread."""
    if size < PARALLEL_MIN_SIZE or numba.get_num_threads() == 1:
        return kernel(*args)
    return parallel_kernel(*args, numba.get_num_threads())


def float_array(a, dtype=None):
    """a as a C-contiguous array of its compute dtype (float32 or float64), or of `dtype`."""
    return np.ascontiguousarray(a, dtype=compute_dtype(a) if dtype is None else dtype)
