"""The `cuda` backend: hand-written CUDA C kernels (kernels/*.cu) launched through CuPy.

Layout of this package:
    kernels/<family>.cu the CUDA C source of every kernel, one file per family of the contract (conv, pool,
                        recurrent, activations, losses, normalization), with a comment above each kernel
                        giving its formula and launch geometry (kernels/common.h: shared helpers)
    library.py          KernelLibrary: loads kernels/*.cu with a RawModule class, launch and argument helpers
    <family>.py         the launch code: shapes, grids and kernel arguments for each kernel of the contract
    emulator/           the `cuda-emu` backend: the same .cu files compiled for the CPU (see its __init__)
    every_kernel.py     one small run of every kernel, for compute-sanitizer and the emulator's checks

The launch code never imports CuPy: it receives a KernelLibrary holding the array module and the module
loader. Here that is (cupy, cupy.RawModule); the `cuda-emu` backend passes (numpy, EmuRawModule) and so
runs the very same .cu files and launch code on the CPU. Dense layers and the recurrent input projections
use cuBLAS through CuPy's @.

Inputs may be NumPy arrays (a model built on the numpy backend keeps NumPy weights): the launch code
copies them to the device with cupy.asarray, which is correct but costs a transfer per call.
"""
from __future__ import annotations

import importlib.util

ALTERNATIVES = "use 'cuda-emu' (the same kernels compiled for the CPU) or 'numba' instead"


def unavailable_reason() -> str | None:
    if importlib.util.find_spec("cupy") is None:
        return f"CuPy is not installed (pip install cupy-cuda13x); {ALTERNATIVES}"
    try:
        import cupy
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDARuntimeError without a driver, ImportError for a broken install
        return f"CuPy finds no usable CUDA device ({type(exc).__name__}: {exc}); {ALTERNATIVES}"
    if count == 0:
        return f"no CUDA device found; {ALTERNATIVES}"
    return None


def make_backend():
    import cupy

    from engine.backends import Backend
    from engine.backends.contract import collect_kernels
    from engine.backends.cuda.library import KernelLibrary
    return Backend("cuda", cupy, collect_kernels(__name__, bind=KernelLibrary(cupy, cupy.RawModule)))
