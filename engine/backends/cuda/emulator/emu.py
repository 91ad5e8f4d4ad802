"""Compile CUDA C for the CPU and launch it the way CuPy does: EmuRawModule, the core of `cuda-emu`.

``EmuRawModule(code=..., name_expressions=[...])`` has the part of ``cupy.RawModule``'s API that nnlab's
launch code uses: ``get_function(name)(grid, block, args)``, with NumPy arrays in place of CuPy arrays.

Build: the source is written to ``<cache>/<hash>.cu`` and compiled by g++ into ``<hash>.so`` together with
cuda_emu.h (which emulates the CUDA execution model) and, per kernel, two exported C functions: one that
launches it and one that returns its parameter types. The hash covers the header, the source, the kernel
names and the flags, so a changed kernel is rebuilt and an unchanged one loads in a millisecond.

Checks CuPy does not make: every argument is compared with the kernel's parameter types. Arrays must
have the parameter's element type, be C-contiguous, and be writeable for a non-const pointer. Scalars
follow CuPy's rule (a Python int becomes a 64-bit long long, a float a double), so a Python int for an
``int`` parameter, the classic silent bug on the GPU, is an error here. Launch sizes are checked
against CUDA's limits.

Environment:
    NNLAB_CACHE              cache root (compiled modules in $NNLAB_CACHE/cuda_emu; default ~/.cache/nnlab)
    NNLAB_CUDA_EMU_DEBUG=1   build with -O0 -g for gdb (see the package docstring)
    NNLAB_CUDA_EMU_ORDER     'forward' (default) or 'random' or 'random:SEED': thread and block order
    CXX                      the C++ compiler (default g++)
"""
from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import re
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HEADER = Path(__file__).with_name("cuda_emu.h")
FLAGS = ("-std=c++20", "-fPIC", "-fvisibility=hidden", "-w")
MAX_BLOCK = (1024, 1024, 64)
MAX_GRID = (2**31 - 1, 65535, 65535)

_SHARED = re.compile(r"__shared__\s+([\w:<>, ]+?)\s+(\w+)\s*((?:\[[^\]\n]+\])*)\s*;")
_KERNEL = re.compile(r'^(?:extern\s+"C"\s+)?__global__\s+void\s+(?:__launch_bounds__\([^)]*\)\s*)?(\w+)\s*\(', re.M)


class EmuError(RuntimeError):
    """A kernel could not be built or launched, or misused barriers or arguments."""


@dataclass(frozen=True)
class _Type:
    c_name: str
    numpy: type
    ctype: type


# The type codes cuda_emu.h's code_of() reports, and what stands for them on the Python side.
TYPES = {
    "f": _Type("float", np.float32, ctypes.c_float),
    "d": _Type("double", np.float64, ctypes.c_double),
    "i": _Type("int", np.int32, ctypes.c_int32),
    "I": _Type("unsigned int", np.uint32, ctypes.c_uint32),
    "q": _Type("long long", np.int64, ctypes.c_int64),
    "Q": _Type("unsigned long long", np.uint64, ctypes.c_uint64),
    "?": _Type("bool", np.bool_, ctypes.c_bool),
}
_CODE_OF_DTYPE = {np.dtype(t.numpy): code for code, t in TYPES.items()}
_CODE_OF_PYTHON = {bool: "?", int: "q", float: "d"}        # how CuPy passes Python scalars


class LaunchConfig(ctypes.Structure):
    """Mirrors emu::LaunchConfig in cuda_emu.h."""
    _fields_ = [("grid", ctypes.c_uint * 3), ("block", ctypes.c_uint * 3), ("random_order", ctypes.c_int),
                ("seed", ctypes.c_ulonglong), ("error", ctypes.c_char * 1024)]


class _Schedule:
    """Thread and block order of the launches: forward, or random with a seed that advances per launch."""

    def __init__(self):
        order, _, seed = os.environ.get("NNLAB_CUDA_EMU_ORDER", "forward").partition(":")
        if order not in ("forward", "random"):
            raise EmuError(f"NNLAB_CUDA_EMU_ORDER must be 'forward', 'random' or 'random:SEED', not {order!r}")
        self.random, self.seed = order == "random", int(seed or 0)

    def next_seed(self):
        self.seed += 1
        return self.seed


_schedule = _Schedule()
_launch_lock = threading.Lock()      # the emulated module state is global: one launch at a time
_loaded: dict[Path, ctypes.CDLL] = {}


@contextlib.contextmanager
def thread_order(order: str, seed: int = 0):
    """Run the launches inside the block in `order` ('forward' or 'random', seeded), then restore."""
    if order not in ("forward", "random"):
        raise ValueError(f"order must be 'forward' or 'random', not {order!r}")
    saved = _schedule.random, _schedule.seed
    _schedule.random, _schedule.seed = order == "random", seed
    try:
        yield
    finally:
        _schedule.random, _schedule.seed = saved


def cache_dir() -> Path:
    root = os.environ.get("NNLAB_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "nnlab") / "cuda_emu"


def compiler() -> str:
    return os.environ.get("CXX", "g++")


def debug_default() -> bool:
    return os.environ.get("NNLAB_CUDA_EMU_DEBUG", "") not in ("", "0")


def emulator_source(code: str) -> str:
    """`code` with each `__shared__ T name[...];` turned into a static array that registers itself with the
    scheduler (which poisons it before every block); see cuda_emu.h. Line numbers do not change."""
    code = _SHARED.sub(r"static \1 \2\3; emu::shared_memory(&\2, sizeof \2);", code)
    for number, line in enumerate(code.splitlines(), 1):
        if "__shared__" in line.split("//")[0]:
            raise EmuError(f"line {number}: the emulator understands `__shared__ T name[...];` inside a function, "
                           f"one array per declaration, not: {line.strip()}")
    return code


def build(code: str, names: list[str], options=(), debug: bool = False) -> Path:
    """Compile `code` with launch thunks for `names` into a cached shared library; return its path."""
    code = emulator_source(code)
    flags = (*FLAGS, *(("-O0", "-g") if debug else ("-O2",)))
    thunks = "".join(
        f'extern "C" __attribute__((visibility("default"))) int cudaemu_launch_{i}'
        f"(emu::LaunchConfig* cfg, void** args) {{ return emu::launch({name}, cfg, args); }}\n"
        f'extern "C" __attribute__((visibility("default"))) const char* cudaemu_signature_{i}()'
        f" {{ return emu::signature({name}); }}\n" for i, name in enumerate(names))
    key = _key(code, thunks, *flags, *options)
    library = cache_dir() / f"{key}.so"
    if not library.exists():
        source, main = library.with_suffix(".cu"), library.with_suffix(".cpp")
        _write_atomically(source, code)
        _write_atomically(main, f'#include "cuda_emu.h"\n#include "{source}"\n{thunks}')
        _compile([*flags, "-shared", *options, "-x", "c++", str(main), "-x", "none", str(_runtime(flags))],
                 library, f"could not compile the kernels (source {source})")
    return library


def _runtime(flags) -> Path:
    """The scheduler part of cuda_emu.h, compiled once per set of flags."""
    runtime = cache_dir() / f"runtime-{_key(*flags)}.o"
    if not runtime.exists():
        _compile([*flags, "-c", "-DCUDA_EMU_RUNTIME", "-x", "c++", str(HEADER)], runtime,
                 "could not compile the emulator runtime")
    return runtime


def _key(*parts) -> str:
    """Cache key: a hash of the parts, the header and the compiler."""
    return hashlib.sha256("\0".join([HEADER.read_text(), compiler(), *parts]).encode()).hexdigest()[:24]


def _compile(arguments, output: Path, failure: str):
    """Run the compiler into a temporary file, then move it to `output` (safe with parallel builds)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=output.parent, suffix=output.suffix, delete=False) as tmp:
        pass
    result = subprocess.run([compiler(), *arguments, "-I", str(HEADER.parent), "-o", tmp.name],
                            capture_output=True, text=True)
    if result.returncode != 0:
        os.unlink(tmp.name)
        raise EmuError(f"{compiler()} {failure}:\n{result.stderr[:6000]}")
    os.replace(tmp.name, output)


def _write_atomically(path: Path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as tmp:
        tmp.write(text)
    os.replace(tmp.name, path)


def _parameter_names(code: str, kernel: str) -> list[str]:
    """Parameter names of `kernel` (template arguments stripped) as written in the source, for messages."""
    match = re.search(rf"\b{re.escape(kernel.split('<')[0])}\s*\(([^)]*)\)\s*\{{", code)
    if not match:
        return []
    return [re.findall(r"\w+", p)[-1] for p in match.group(1).split(",") if p.strip()]


class EmuRawModule:
    """The kernels of one CUDA source compiled for the CPU (cupy.RawModule's API, NumPy arrays)."""

    def __init__(self, code: str, *, options=(), name_expressions=None, debug: bool | None = None):
        for option in options:
            if not option.startswith(("-D", "-U", "-I")):
                raise EmuError(f"EmuRawModule passes only -D, -U and -I options to {compiler()}, not {option!r}")
        self.code = code
        self.names = list(name_expressions) if name_expressions is not None else _KERNEL.findall(code)
        path = build(code, self.names, tuple(options), debug_default() if debug is None else debug)
        if path not in _loaded:
            _loaded[path] = ctypes.CDLL(str(path))
        self._library = _loaded[path]
        self._functions = {}

    def get_function(self, name: str) -> EmuFunction:
        if name not in self._functions:
            if name not in self.names:
                raise EmuError(f"no kernel {name!r} in this module; it has {', '.join(self.names)}")
            self._functions[name] = EmuFunction(self, self.names.index(name), name)
        return self._functions[name]


class EmuFunction:
    """One kernel: call it as ``kernel(grid, block, args)`` like a CuPy RawKernel."""

    def __init__(self, module: EmuRawModule, index: int, name: str):
        self.name = name
        self._launch = getattr(module._library, f"cudaemu_launch_{index}")
        self._launch.argtypes = [ctypes.POINTER(LaunchConfig), ctypes.POINTER(ctypes.c_void_p)]
        self._launch.restype = ctypes.c_int
        signature = getattr(module._library, f"cudaemu_signature_{index}")
        signature.restype = ctypes.c_char_p
        self.parameters = signature().decode().rstrip(",").split(",") if signature() else []
        names = _parameter_names(module.code, name)
        self.parameter_names = names if len(names) == len(self.parameters) else [f"#{i}" for i in
                                                                                 range(len(self.parameters))]

    def __call__(self, grid, block, args, *, shared_mem: int = 0):
        grid, block = _dim3(grid, "grid"), _dim3(block, "block")
        self._check_launch(grid, block, shared_mem)
        if len(args) != len(self.parameters):
            raise EmuError(f"{self.name} takes {len(self.parameters)} arguments "
                           f"({', '.join(self.parameter_names)}), got {len(args)}")
        values = [self._convert(i, code, value) for i, (code, value) in enumerate(zip(self.parameters, args))]
        pointers = (ctypes.c_void_p * max(1, len(values)))(*[ctypes.addressof(v) for v in values])
        config = LaunchConfig(grid, block)
        with _launch_lock:
            config.random_order = _schedule.random
            config.seed = _schedule.next_seed()
            failed = self._launch(ctypes.byref(config), pointers)
        if failed:
            raise EmuError(f"{self.name}: {config.error.decode()}")

    def _check_launch(self, grid, block, shared_mem):
        if shared_mem:
            raise EmuError(f"{self.name}: dynamic shared memory (shared_mem={shared_mem}) is not emulated; "
                           "use static __shared__ arrays")
        threads = block[0] * block[1] * block[2]
        if (min(*grid, *block) < 1 or threads > 1024 or any(b > m for b, m in zip(block, MAX_BLOCK))
                or any(g > m for g, m in zip(grid, MAX_GRID))):
            raise EmuError(f"{self.name}: invalid launch configuration grid {grid}, block {block} (CUDA allows "
                           f"blocks up to {MAX_BLOCK} with 1024 threads in all, grids up to {MAX_GRID})")

    def _convert(self, i, code, value):
        """The ctypes value for argument i after checking it against parameter type `code`."""
        where = f"{self.name}: argument {i} ({self.parameter_names[i]})"
        kind, expected = code[0], TYPES.get(code[1])
        if expected is None:
            raise EmuError(f"{where}: the emulator does not support this parameter type")
        if kind in "pP":
            if not isinstance(value, np.ndarray):
                raise EmuError(f"{where}: expected a NumPy array for a {expected.c_name} pointer, "
                               f"got {type(value).__name__}")
            if value.dtype != expected.numpy:
                raise EmuError(f"{where}: {value.dtype} array passed for a pointer to {expected.c_name}")
            if not value.flags.c_contiguous:
                raise EmuError(f"{where}: the array is not C-contiguous; a kernel would read it as if it were "
                               "(CuPy passes only the data pointer)")
            if kind == "p" and not value.flags.writeable:
                raise EmuError(f"{where}: read-only array passed for a non-const pointer")
            return ctypes.c_void_p(value.ctypes.data)
        if isinstance(value, np.generic):
            got, described = _CODE_OF_DTYPE.get(value.dtype), f"a numpy.{value.dtype}"
        else:
            got, described = _CODE_OF_PYTHON.get(type(value)), f"a Python {type(value).__name__}"
        if got != code[1]:
            passed = f", which CuPy passes as {TYPES[got].c_name}" if got else ", which CuPy cannot pass"
            raise EmuError(f"{where}: {described}{passed}, but the parameter is {expected.c_name}; "
                           f"pass numpy.{np.dtype(expected.numpy)}(...)")
        return expected.ctype(value)


def _dim3(value, what):
    dims = (value,) if isinstance(value, (int, np.integer)) else tuple(value)
    if not 1 <= len(dims) <= 3:
        raise EmuError(f"{what} must have 1 to 3 dimensions, got {value!r}")
    return tuple(int(d) for d in dims) + (1,) * (3 - len(dims))
