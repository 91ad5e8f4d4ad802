"""Launch CUDA C kernels compiled for the CPU the way CuPy does: EmuRawModule, the core of `cuda-emu`.

``EmuRawModule(code=..., name_expressions=[...])`` has the part of ``cupy.RawModule``'s API that nnlab's
launch code uses: ``get_function(name)(grid, block, args, shared_mem=0)``, with NumPy arrays in place of
CuPy arrays. build.py compiles the source (cached); cuda_emu.h and the runtime emulate the execution model.

Checks CuPy does not make, on every launch: every argument is compared with the kernel's parameter types.
Arrays must have the parameter's element type, be C-contiguous, and be writeable for a non-const pointer.
Scalars follow CuPy's rule (a Python int becomes a 64-bit long long, a float a double), so a Python int
for an ``int`` parameter, the classic silent bug on the GPU, is an error here. The launch configuration
must be one a GPU accepts: block and grid sizes within CUDA's limits (grid y and z at most 65535), a
block no larger than the kernel's ``__launch_bounds__``, dynamic shared memory over 48 KB only after
opting in (``max_dynamic_shared_size_bytes``, as on a CuPy kernel).

Checked launches (see ``checks``) also check every memory access (memory.cpp): each array argument is
copied between red zones for the launch, and a read or write outside the arrays, a shared-memory race
between two barriers or a race between blocks stops the launch with an EmuError naming the kernel, the
block and thread, the array and element, and the source line.

Environment:
    NNLAB_CACHE              cache root (compiled modules in $NNLAB_CACHE/cuda_emu; default ~/.cache/nnlab)
    NNLAB_CUDA_EMU_DEBUG=1   build with -O0 -g for gdb (see the package docstring)
    NNLAB_CUDA_EMU_ORDER     'forward' (default) or 'random' or 'random:SEED': thread and block order
    NNLAB_CUDA_EMU_CHECKS    'auto' (default: check launches of up to 65536 threads, the sizes tests use),
                             'full' (check every launch) or 'fast' (none: for training under emulation)
    CXX                      the C++ compiler (default g++)
"""
from __future__ import annotations

import contextlib
import ctypes
import math
import os
import re
import threading
from dataclasses import dataclass

import numpy as np

from engine.backends.cuda.emulator.build import EmuError, build, source_line

MAX_BLOCK = (1024, 1024, 64)
MAX_GRID = (2**31 - 1, 65535, 65535)
MAX_SHARED = 48 * 1024              # dynamic shared memory a launch may ask for without opting in
AUTO_CHECK_THREADS = 1 << 16        # 'auto' checks launches of at most this many threads
CHECK_LEVELS = ("auto", "full", "fast")
RED_ZONE = 256                      # bytes before and after each array argument of a checked launch

_KERNEL = re.compile(r'^(?:extern\s+"C"\s+)?__global__\s+void\s+(?:__launch_bounds__\([^)]*\)\s*)?(\w+)\s*\(', re.M)
_BOUNDS = re.compile(r"__global__\s+void\s+__launch_bounds__\(\s*([^,)]+?)\s*(?:,[^)]*)?\)\s*(\w+)\s*\(")


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


class Region(ctypes.Structure):
    """Mirrors emu::Region in cuda_emu.h: one array argument of a checked launch."""
    _fields_ = [("base", ctypes.c_void_p), ("bytes", ctypes.c_ulonglong), ("element", ctypes.c_ulonglong),
                ("name", ctypes.c_char_p)]


class LaunchConfig(ctypes.Structure):
    """Mirrors emu::LaunchConfig in cuda_emu.h."""
    _fields_ = [("grid", ctypes.c_uint * 3), ("block", ctypes.c_uint * 3), ("random_order", ctypes.c_int),
                ("seed", ctypes.c_ulonglong), ("shared_bytes", ctypes.c_ulonglong), ("checks", ctypes.c_int),
                ("region_count", ctypes.c_int), ("regions", ctypes.POINTER(Region)), ("error_pc", ctypes.c_void_p),
                ("error", ctypes.c_char * 2048)]


class _Settings:
    """Thread and block order (forward, or random with a seed that advances per launch) and the check level."""

    def __init__(self):
        order, _, seed = os.environ.get("NNLAB_CUDA_EMU_ORDER", "forward").partition(":")
        if order not in ("forward", "random"):
            raise EmuError(f"NNLAB_CUDA_EMU_ORDER must be 'forward', 'random' or 'random:SEED', not {order!r}")
        self.random, self.seed = order == "random", int(seed or 0)
        self.checks = os.environ.get("NNLAB_CUDA_EMU_CHECKS", "auto")
        if self.checks not in CHECK_LEVELS:
            raise EmuError(f"NNLAB_CUDA_EMU_CHECKS must be one of {', '.join(CHECK_LEVELS)}, not {self.checks!r}")

    def next_seed(self):
        self.seed += 1
        return self.seed

    def checked(self, threads: int) -> bool:
        return self.checks == "full" or (self.checks == "auto" and threads <= AUTO_CHECK_THREADS)


_settings = _Settings()
_launch_lock = threading.Lock()      # the emulated module state is global: one launch at a time
_loaded: dict = {}


@contextlib.contextmanager
def thread_order(order: str, seed: int = 0):
    """Run the launches inside the block in `order` ('forward' or 'random', seeded), then restore."""
    if order not in ("forward", "random"):
        raise ValueError(f"order must be 'forward' or 'random', not {order!r}")
    saved = _settings.random, _settings.seed
    _settings.random, _settings.seed = order == "random", seed
    try:
        yield
    finally:
        _settings.random, _settings.seed = saved


@contextlib.contextmanager
def checks(level: str):
    """Run the launches inside the block with memory checks 'full', 'fast' (none) or 'auto', then restore."""
    if level not in CHECK_LEVELS:
        raise ValueError(f"the check level must be one of {', '.join(CHECK_LEVELS)}, not {level!r}")
    saved, _settings.checks = _settings.checks, level
    try:
        yield
    finally:
        _settings.checks = saved


def debug_default() -> bool:
    return os.environ.get("NNLAB_CUDA_EMU_DEBUG", "") not in ("", "0")


def _parameter_names(code: str, kernel: str) -> list[str]:
    """Parameter names of `kernel` (template arguments stripped) as written in the source, for messages."""
    match = re.search(rf"\b{re.escape(kernel.split('<')[0])}\s*\(([^)]*)\)\s*\{{", code)
    if not match:
        return []
    return [re.findall(r"\w+", p)[-1] for p in match.group(1).split(",") if p.strip()]


def _launch_bounds(code: str) -> dict[str, int]:
    """kernel name -> the maximum block size its `__launch_bounds__` declares (a number or a constexpr int)."""
    bounds = {}
    for expression, name in _BOUNDS.findall(code):
        constant = re.search(rf"constexpr\s+int\s+{re.escape(expression)}\s*=\s*(\d+)\s*;", code)
        if not (expression.isdigit() or constant):
            raise EmuError(f"{name}: the emulator reads __launch_bounds__ given as a number or a constexpr int, "
                           f"not {expression!r}")
        bounds[name] = int(expression if expression.isdigit() else constant.group(1))
    return bounds


class EmuRawModule:
    """The kernels of one CUDA source compiled for the CPU (cupy.RawModule's API, NumPy arrays)."""

    def __init__(self, code: str, *, options=(), name_expressions=None, debug: bool | None = None):
        for option in options:
            if not option.startswith(("-D", "-U", "-I")):
                raise EmuError(f"EmuRawModule passes only -D, -U and -I options to the compiler, not {option!r}")
        self.code = code
        self.names = list(name_expressions) if name_expressions is not None else _KERNEL.findall(code)
        self.launch_bounds = _launch_bounds(code)
        self._build = dict(code=code, names=self.names, options=tuple(options),
                           debug=debug_default() if debug is None else debug)
        self.library(checked=False)              # compile errors show at once
        self._functions = {}

    def library(self, checked: bool):
        """(path, loaded library) of the plain or the checked build, compiled on first use."""
        path = build(**self._build, checked=checked)
        if path not in _loaded:
            _loaded[path] = ctypes.CDLL(str(path))
        return path, _loaded[path]

    def get_function(self, name: str) -> EmuFunction:
        if name not in self._functions:
            if name not in self.names:
                raise EmuError(f"no kernel {name!r} in this module; it has {', '.join(self.names)}")
            self._functions[name] = EmuFunction(self, self.names.index(name), name)
        return self._functions[name]


class EmuFunction:
    """One kernel: call it as ``kernel(grid, block, args, shared_mem=0)`` like a CuPy RawKernel."""

    def __init__(self, module: EmuRawModule, index: int, name: str):
        self.name = name
        self.max_dynamic_shared_size_bytes = 0      # opt-in above 48 KB of dynamic shared memory, as in CuPy
        self._module, self._index = module, index
        signature = getattr(module.library(checked=False)[1], f"cudaemu_signature_{index}")
        signature.restype = ctypes.c_char_p
        self.parameters = signature().decode().rstrip(",").split(",") if signature() else []
        names = _parameter_names(module.code, name)
        self.parameter_names = names if len(names) == len(self.parameters) else [f"#{i}" for i in
                                                                                 range(len(self.parameters))]
        self.launch_bound = module.launch_bounds.get(name.split("<")[0])

    def __call__(self, grid, block, args, *, shared_mem: int = 0):
        grid, block = _dim3(grid, "grid"), _dim3(block, "block")
        self._check_launch(grid, block, shared_mem)
        if len(args) != len(self.parameters):
            raise EmuError(f"{self.name} takes {len(self.parameters)} arguments "
                           f"({', '.join(self.parameter_names)}), got {len(args)}")
        values = [self._convert(i, code, value) for i, (code, value) in enumerate(zip(self.parameters, args))]
        config = LaunchConfig(grid, block)
        config.shared_bytes = shared_mem
        with _launch_lock:
            config.random_order = _settings.random
            config.seed = _settings.next_seed()
            checked = _settings.checked(math.prod(grid) * math.prod(block))
            path, library = self._module.library(checked)
            guard = _RedZones(args, self.parameters, self.parameter_names) if checked else None
            if guard:
                values = [ctypes.c_void_p(guard.address[i]) if i in guard.address else v for i, v in enumerate(values)]
                config.checks, config.region_count, config.regions = 1, len(guard.regions), guard.regions
            pointers = (ctypes.c_void_p * max(1, len(values)))(*[ctypes.addressof(v) for v in values])
            failed = self._launcher(library)(ctypes.byref(config), pointers)
            if guard and not failed:
                guard.copy_back()
        if failed:
            line = source_line(path, config.error_pc) if config.error_pc else ""
            raise EmuError(f"{self.name}: {config.error.decode()}" + (f"; at {line}" if line else ""))

    def _launcher(self, library):
        launch = getattr(library, f"cudaemu_launch_{self._index}")
        launch.argtypes = [ctypes.POINTER(LaunchConfig), ctypes.POINTER(ctypes.c_void_p)]
        return launch

    def _check_launch(self, grid, block, shared_mem):
        threads = block[0] * block[1] * block[2]
        if (min(*grid, *block) < 1 or threads > 1024 or any(b > m for b, m in zip(block, MAX_BLOCK))
                or any(g > m for g, m in zip(grid, MAX_GRID))):
            raise EmuError(f"{self.name}: invalid launch configuration grid {grid}, block {block} (CUDA allows "
                           f"blocks up to {MAX_BLOCK} with 1024 threads in all, grids up to {MAX_GRID})")
        if self.launch_bound is not None and threads > self.launch_bound:
            raise EmuError(f"{self.name}: blocks of {block} = {threads} threads are more than the kernel's "
                           f"__launch_bounds__({self.launch_bound}); a GPU refuses this launch "
                           "(too many resources requested for launch)")
        if shared_mem > max(MAX_SHARED, self.max_dynamic_shared_size_bytes):
            raise EmuError(f"{self.name}: shared_mem={shared_mem} bytes of dynamic shared memory is more than the "
                           f"{MAX_SHARED} bytes a launch may use without opting in (set the kernel's "
                           "max_dynamic_shared_size_bytes, cudaFuncAttributeMaxDynamicSharedMemorySize); a GPU "
                           "refuses this launch")

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


class _RedZones:
    """The array arguments of a checked launch, copied between red zones for the launch.

    Arguments that overlap in memory (the same array passed twice, or views of one buffer) share one copy,
    so that the kernel sees them alias as on the GPU. `address` maps argument index -> the address to pass,
    `regions` describes each argument's extent for memory.cpp, and copy_back() returns the results.
    """

    def __init__(self, args, parameters, names):
        spans = sorted((a.ctypes.data, a.ctypes.data + a.nbytes, i) for i, (a, code) in
                       enumerate(zip(args, parameters)) if code[0] in "pP")
        self._copies, self.address, regions = [], {}, []
        group = []
        for start, end, i in spans + [(None, None, None)]:      # the sentinel closes the last group
            if group and (start is None or start >= max(e for _, e, _ in group)):
                self._copy(group, parameters)
                group = []
            if start is not None:
                group.append((start, end, i))
        for i in sorted(self.address):
            regions.append(Region(self.address[i], args[i].nbytes, args[i].itemsize, names[i].encode()))
        self.regions = (Region * max(1, len(regions)))(*regions)
        self._names = regions                     # keeps the name bytes alive with the structures

    def _copy(self, group, parameters):
        begin, end = min(s for s, _, _ in group), max(e for _, e, _ in group)
        buffer = np.empty(end - begin + 2 * RED_ZONE, np.uint8)
        original = _bytes_at(begin, end - begin)
        buffer[RED_ZONE:RED_ZONE + end - begin] = original
        for start, _, i in group:
            self.address[i] = buffer.ctypes.data + RED_ZONE + start - begin
        if any(parameters[i][0] == "p" for _, _, i in group):      # written through a non-const pointer
            self._copies.append((original, buffer[RED_ZONE:RED_ZONE + end - begin]))
        else:
            self._copies.append((None, buffer))                      # kept alive for the launch only

    def copy_back(self):
        for original, copy in self._copies:
            if original is not None:
                original[...] = copy


def _bytes_at(address: int, size: int) -> np.ndarray:
    """A writeable uint8 view of `size` bytes of memory at `address`."""
    if size == 0:
        return np.empty(0, np.uint8)
    return np.ctypeslib.as_array((ctypes.c_ubyte * size).from_address(address))


def _dim3(value, what):
    dims = (value,) if isinstance(value, (int, np.integer)) else tuple(value)
    if not 1 <= len(dims) <= 3:
        raise EmuError(f"{what} must have 1 to 3 dimensions, got {value!r}")
    return tuple(int(d) for d in dims) + (1,) * (3 - len(dims))
