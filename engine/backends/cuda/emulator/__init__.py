"""The `cuda-emu` backend: the `cuda` backend's .cu kernels compiled for the CPU, no GPU needed.

It lives inside the cuda package because it runs that package's code: every kernel file of
engine/backends/cuda/kernels is compiled by g++ (build.py) with cuda_emu.h, which turns the CUDA keywords
into C++, and a runtime that emulates blocks, threads, __syncthreads, warp shuffles, shared memory and
atomics (scheduler.cpp) and checks memory accesses (memory.cpp); cuda_emu.h's top comment explains how.
emu.EmuRawModule loads the result with ctypes. The launch code is the `cuda` backend's own, given NumPy and
EmuRawModule instead of CuPy and cupy.RawModule, so grids, argument types and kernels are all exercised.
It is slow (one CPU core, every CUDA thread a fiber) and meant for correctness, tests and learning.
Needs Linux (ucontext fibers; WSL works) and a C++20 compiler (g++ 10 or newer).

What it catches, with a message naming the kernel, block, thread, array and line: out-of-bounds accesses,
shared-memory races between barriers and races between blocks (in checked launches: see
NNLAB_CUDA_EMU_CHECKS in emu.py), barrier and shuffle misuse, launches a GPU would refuse, arguments of
the wrong type, and (through outputs that start as NaN) output elements no kernel writes.
make_backend(limits=...) caps grid sizes so that small test arrays reach the paths of large ones;
NNLAB_CUDA_KERNELS=FOLDER runs changed copies of kernel files (see library.kernel_path).

Stepping through a kernel in gdb
--------------------------------
1. Build with debug information: ``export NNLAB_CUDA_EMU_DEBUG=1`` (modules are then compiled with
   ``-O0 -g`` and cached apart from the optimised ones). Compile errors and breakpoints refer to the
   original file names and lines, e.g. ``conv.cu:80``.
2. Write a short script that runs the op on the emulator, e.g. ``debug_conv.py``::

       import numpy as np, engine
       from engine.backends import get_backend
       k = get_backend("cuda-emu")
       x = np.random.rand(2, 5, 5, 3).astype(np.float32); w = np.random.rand(3, 3, 3, 4).astype(np.float32)
       print(k.conv2d_forward(x, w, None, (1, 1), ((1, 1), (1, 1)), (1, 1)))

3. Run it under gdb with a breakpoint on one CUDA thread of one block, here on the line of
   conv2d_forward that fills the shared tile As (the module is loaded only when the kernel is first
   used, hence ``breakpoint pending``)::

       gdb -q -ex 'set breakpoint pending on' \\
           -ex 'break conv.cu:80 if threadIdx.x == 3 && threadIdx.y == 1 && blockIdx.x == 0' \\
           -ex run --args python debug_conv.py

   ``info locals`` shows the thread's variables, ``p As`` the block's shared tile (``-nan`` where no
   thread has written yet), ``p threadIdx`` and ``p blockIdx`` where you are. ``next`` over
   ``__syncthreads()`` returns in the same CUDA thread after the other threads of the block have
   reached the barrier. ``printf`` inside a kernel prints too.
   VS Code: attach a C++ (gdb) debugger to the Python process and set the breakpoint in the .cu file.

Thread order: ``NNLAB_CUDA_EMU_ORDER=random`` (or ``random:SEED``) runs the threads of each barrier phase
and the blocks in a random order, which exposes a missing __syncthreads; see emu.thread_order for tests.
"""
from __future__ import annotations

import shutil
import sys


def unavailable_reason() -> str | None:
    from engine.backends.cuda.emulator.build import EmuError, cache_dir, compiler
    if not sys.platform.startswith("linux"):
        return "the CUDA emulator needs Linux (its fibers use ucontext); on Windows use WSL"
    if shutil.which(compiler()) is None:
        return f"the C++ compiler {compiler()!r} was not found (install g++ or set CXX)"
    try:
        cache_dir()
    except EmuError as exc:      # a cache folder others could write: refused
        return str(exc)
    return None


def make_backend(limits=None):
    """The `cuda-emu` backend; `limits` (a library.LaunchLimits) caps grid sizes, for tests of large-size paths."""
    import numpy as np

    from engine.backends import Backend
    from engine.backends.contract import collect_kernels
    from engine.backends.cuda.emulator.emu import EmuRawModule
    from engine.backends.cuda.library import KernelLibrary, LaunchLimits
    library = KernelLibrary(np, EmuRawModule, limits or LaunchLimits(), poison=True)
    return Backend("cuda-emu", np, collect_kernels("engine.backends.cuda", bind=library))
