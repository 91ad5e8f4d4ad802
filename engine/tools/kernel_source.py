"""The source of the kernels that compute an op, per backend (the shell's `kernel` statement).

    kernel_sources("conv2d", "numpy")     the Python functions of the numpy backend's kernel table
    kernel_sources("conv2d", "cuda-emu")  the __global__ kernels of engine/backends/cuda/kernels/*.cu
                                          whose names contain the op, with the comment above each
                                          (formula and launch geometry)

An op is a short name (contract.OPS: conv2d, maxpool2d, lstm, ...) or one kernel-contract name
(contract.KERNELS, e.g. conv2d_backward_weight). The CUDA kernels of an op live in kernels/<family>.cu.
"""
from __future__ import annotations

import functools
import inspect
import re
from dataclasses import dataclass
from pathlib import Path

from engine.backends import get_backend
from engine.backends.contract import KERNELS, OPS, WHERE

CUDA_KERNEL_DIR = Path(__file__).resolve().parent.parent / "backends" / "cuda" / "kernels"
_GLOBAL = re.compile(r"__global__\s+(?:void\s+)?(?:__launch_bounds__\s*\([^)]*\)\s*)?(?:void\s+)?(\w+)\s*\(")


@dataclass
class KernelSource:
    name: str          # the function or __global__ kernel
    where: str         # module path (Python) or file:line (CUDA)
    source: str
    language: str      # "python" or "cuda"


def op_names() -> tuple[str, ...]:
    """Every word `kernel_sources` accepts: the short op names, then the contract names."""
    return (*OPS, *KERNELS)


def _family(op: str) -> tuple[str, tuple[str, ...]]:
    """(short op name, contract names) for a short name or one contract name."""
    if op in OPS:
        return op, OPS[op]
    if op in WHERE:
        return WHERE[op][1], (op,)
    raise ValueError(f"unknown kernel {op!r}; one of: {', '.join(op_names())}")


def kernel_sources(op: str, backend: str) -> list[KernelSource]:
    """The source of every kernel of `op` on `backend` (see the module docstring)."""
    short, names = _family(op)
    if backend in ("cuda", "cuda-emu"):
        return cuda_sources(short, () if op == short else names)
    kernels = get_backend(backend).kernels
    found = []
    for name in names:
        function = kernels[name]
        while isinstance(function, functools.partial):
            function = function.func
        function = getattr(function, "py_func", function)      # a Numba dispatcher: its Python function
        function = inspect.unwrap(function)
        found.append(KernelSource(name, f"{function.__module__}.{function.__qualname__}",
                                  inspect.getsource(function), "python"))
    return found


def cuda_sources(short: str, names: tuple[str, ...] = ()) -> list[KernelSource]:
    """The __global__ kernels of kernels/<family>.cu that compute op `short`, each with the template line and
    the comment above it: those whose names contain one of the contract `names` when given (and found),
    else those that contain one of the op's contract names or start with the op's name (batch_norm_moments)."""
    kernels = _cuda_kernels(CUDA_KERNEL_DIR / f"{WHERE[OPS[short][0]][0]}.cu")
    chosen = [k for k in kernels if any(name in k.name for name in names)]
    return chosen or [k for k in kernels if k.name.startswith(short) or any(n in k.name for n in OPS[short])]


def _cuda_kernels(path: Path) -> list[KernelSource]:
    lines = path.read_text().splitlines()
    found = []
    for index, line in enumerate(lines):
        if "__global__" not in line:
            continue
        match = _GLOBAL.search("\n".join(lines[index:index + 3]))
        if match is None:
            continue
        start = index
        while start > 0 and (lines[start - 1].lstrip().startswith(("//", "template")) or
                             lines[start - 1].strip().startswith("*")):
            start -= 1
        end, depth, opened = index, 0, False
        while end < len(lines):
            depth += lines[end].count("{") - lines[end].count("}")
            opened = opened or "{" in lines[end]
            if opened and depth <= 0:
                break
            end += 1
        found.append(KernelSource(match.group(1), f"{path.relative_to(CUDA_KERNEL_DIR.parents[3])}:{index + 1}",
                                  "\n".join(lines[start:end + 1]), "cuda"))
    return found
