"""How the numba backend shares two cores with BLAS.

Numba's parallel loops and a multithreaded BLAS each keep a pool of threads, and on a small machine
the two pools spin against each other: a parallel loop right after a BLAS call waits for cores the
BLAS threads still hold (measured: a digits-CNN epoch took 310 ms instead of 17 ms). So while the
numba backend is active, BLAS runs on one thread and all parallelism comes from our kernels, which
call BLAS side by side on their own chunks. The libraries are found with threadpoolctl (a
scikit-learn dependency); without it BLAS keeps its threads, which is correct but slower.
"""
from __future__ import annotations

_libraries: list | None = None


def blas_libraries() -> list:
    """threadpoolctl's handles on the BLAS libraries in this process, including the one Numba's np.dot calls."""
    global _libraries
    if _libraries is None:
        try:
            import scipy.linalg.cython_blas  # noqa: F401  (where Numba finds BLAS: load it before looking)
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _libraries = []
        else:
            _libraries = [lib for lib in ThreadpoolController().lib_controllers if lib.user_api == "blas"]
    return _libraries


def limit_blas_to_one_thread():
    """Set every BLAS library to one thread; returns the function that restores the previous counts."""
    saved = [(lib, lib.get_num_threads()) for lib in blas_libraries()]
    for lib, _ in saved:
        lib.set_num_threads(1)

    def restore():
        for lib, n in saved:
            lib.set_num_threads(n)
    return restore


class single_threaded_blas:  # noqa: N801 (used as a statement: `with single_threaded_blas():`)
    """One BLAS thread for the duration of a kernel, also when the kernel is called outside the backend
    (tests, other backends): our threads must never start BLAS threads of their own inside a parallel loop."""

    def __enter__(self):
        self.restore = limit_blas_to_one_thread()

    def __exit__(self, *exc):
        self.restore()
