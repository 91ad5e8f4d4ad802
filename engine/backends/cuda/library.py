"""What the launch code of `cuda` and `cuda-emu` shares: kernel sources, compiled modules, argument helpers.

A :class:`KernelLibrary` pairs an array module with a module loader that has cupy.RawModule's API:

    KernelLibrary(cupy, cupy.RawModule)                                      # on the GPU
    KernelLibrary(numpy, engine.backends.cuda.emulator.emu.EmuRawModule)  # on the CPU emulator

Every launch function (conv.py, pool.py, recurrent.py, activations.py, losses.py, normalization.py) takes
the library as its first argument, so the same grid arithmetic and argument types run on both. The kernels
of family F live in kernels/F.cu.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.backends.contract import FAMILIES, FLOAT_DTYPES

KERNEL_DIR = Path(__file__).with_name("kernels")
KERNEL_FILES = tuple(f"{family}.cu" for family in FAMILIES)
CTYPES = dict(zip(FLOAT_DTYPES, ("float", "double")))
INT32_MAX = 2**31 - 1
#: The kernels that add partial sums of several blocks with atomicAdd, in an order a GPU does not fix:
#: their results can differ in the last bits from run to run. Every other kernel is bitwise repeatable.
ATOMIC_KERNELS = ("conv2d_backward_weight", "batch_norm_train_forward", "batch_norm_backward")
ELEMENTWISE_THREADS = 256                                  # grid-stride kernels: block 256
ROW_THREADS = (32, 8)                                      # row kernels: one warp per row, 8 rows per block

_INCLUDE = re.compile(r'^#include "([^"]+)"[ \t]*$', re.M)
_KERNEL = re.compile(r"^__global__\s+void\s+(?:__launch_bounds__\([^)]*\)\s*)?(\w+)\s*\(", re.M)


def kernel_path(file: str) -> Path:
    """kernels/<file>, or the file of that name in the folder $NNLAB_CUDA_KERNELS when it has one: a way to
    try a changed kernel without touching the repository (the mutation test runs planted bugs so)."""
    override = os.environ.get("NNLAB_CUDA_KERNELS")
    if override and (Path(override) / file).is_file():
        return Path(override) / file
    return KERNEL_DIR / file


def kernel_source(file: str) -> str:
    """kernels/<file> with each `#include "x"` replaced by the text of kernels/x (see kernel_path for both).

    `#line` directives keep compiler messages and debuggers pointing at the original files and lines.
    Pasting the headers in (instead of passing an include path) makes the text self-contained, so
    CuPy's and the emulator's caches, both keyed by the text, see every change to a header.
    """
    path = kernel_path(file)
    text = path.read_text()

    def paste(match):
        header = kernel_path(match.group(1))
        line = text.count("\n", 0, match.start()) + 2
        return f'#line 1 "{header}"\n{header.read_text()}\n#line {line} "{path}"'

    return f'#line 1 "{path}"\n' + _INCLUDE.sub(paste, text)


def name_expressions(source: str) -> list[str]:
    """`kernel<float>` and `kernel<double>` for every kernel template of a source."""
    return [f"{name}<{ctype}>" for name in _KERNEL.findall(source) for ctype in CTYPES.values()]


@dataclass(frozen=True)
class LaunchLimits:
    """Caps on the grid sizes the launch code chooses. The defaults suit a GPU. Tests lower them, so that
    small arrays take the paths that otherwise only large ones reach: several reduction slices per block
    in the split-K weight gradient, second passes of grid-stride loops, many rows per reduction thread."""
    elementwise_blocks: int = 4096     # grid-stride kernels: at most this many blocks
    weight_grad_blocks: int = 528      # conv weight gradient: split the reduction up to about this many
    #                                    blocks (about 4 per SM of an H100)
    row_blocks: int = 1024             # batch-norm column sums: at most this many blocks of rows


def blocks(count: int, per_block: int) -> int:
    """Blocks needed to cover `count` items, `per_block` each (at least one)."""
    return max(1, math.ceil(count / per_block))


class KernelLibrary:
    """Compiled kernel modules (one per .cu file, loaded on first use) and launch helpers.

    `poison`: fill every array `empty` returns with NaN (floats) or 0xAA bytes (integers), as the emulator
    does, so that an output element no kernel writes shows up instead of reading as a leftover value.
    """

    def __init__(self, xp, raw_module, limits: LaunchLimits = LaunchLimits(), poison: bool = False):
        self.xp = xp
        self.limits = limits
        self.poison = poison
        self._raw_module = raw_module
        self._modules = {}
        self._functions = {}

    def module(self, file: str):
        """The compiled module of kernels/<file>, with every kernel instantiated for float and double."""
        if file not in self._modules:
            source = kernel_source(file)
            self._modules[file] = self._raw_module(code=source, name_expressions=name_expressions(source))
        return self._modules[file]

    def function(self, file: str, kernel: str, dtype):
        """The kernel `kernel<float>` or `kernel<double>` of kernels/<file>, matching `dtype`."""
        key = (file, kernel, np.dtype(dtype))
        if key not in self._functions:
            self._functions[key] = self.module(file).get_function(f"{kernel}<{CTYPES[key[2]]}>")
        return self._functions[key]

    def launch(self, file, kernel, dtype, grid, block, args):
        self.function(file, kernel, dtype)(grid, block, args)

    def launch_elementwise(self, file, kernel, dtype, n, args):
        """Launch a grid-stride kernel over n elements (block 256, grid min(ceil(n / 256), 4096))."""
        grid = (min(blocks(n, ELEMENTWISE_THREADS), self.limits.elementwise_blocks),)
        self.launch(file, kernel, dtype, grid, (ELEMENTWISE_THREADS,), args)

    def launch_rows(self, file, kernel, dtype, shape, args):
        """Launch a one-warp-per-row kernel over the rows of the last axis of `shape`; the kernel's last
        two arguments are the number of rows and the row length."""
        rows, columns = math.prod(shape[:-1]), shape[-1]
        self.launch(file, kernel, dtype, (blocks(rows, ROW_THREADS[1]),), ROW_THREADS,
                    (*args, *self.ints(rows, columns)))

    def array(self, a, dtype):
        """`a` as a C-contiguous array of this library's array module (NumPy inputs move to the GPU)."""
        out = self.xp.ascontiguousarray(self.xp.asarray(a, dtype=dtype))
        self._check_size(out.size)
        return out

    def empty(self, shape, dtype):
        self._check_size(math.prod(shape))
        out = self.xp.empty(shape, dtype=dtype)
        if self.poison:
            if out.dtype.kind == "f":
                out.fill(self.xp.nan)
            else:
                out.view(self.xp.uint8).fill(0xAA)
        return out

    def zeros(self, shape, dtype):
        self._check_size(math.prod(shape))
        return self.xp.zeros(shape, dtype=dtype)

    @staticmethod
    def ints(*values):
        """Values for `int` kernel parameters (a Python int would be passed as a 64-bit long long)."""
        return tuple(np.int32(v) for v in values)

    @staticmethod
    def _check_size(size):
        if size > INT32_MAX:
            raise ValueError(f"array of {size} elements: the CUDA kernels index with 32-bit ints")
