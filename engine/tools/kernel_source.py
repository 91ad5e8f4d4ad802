"""The source of everything that computes an op on a backend, in call order (the shell's `kernel` statement).

    kernel_sources("conv2d", "numba")     conv2d_forward (the kernel-table function), then what it calls:
                                          _forward (@njit parallel), _im2col (@njit), _next_pixel, ...
    kernel_sources("lstm", "cuda-emu")    lstm_forward (the launch code), the __global__ kernels it launches
                                          (lstm_forward_step), the __device__ functions they call (times_U,
                                          sigmoid from common.h), then lstm_backward and its kernels

The walk starts at each contract function of the op (engine.backends.contract: OPS for a short name such
as conv2d, or one kernel name such as conv2d_backward_weight) and follows, in the order they appear in the
source and depth first, every name that is:

- a Numba dispatcher (an ``@njit`` function), shown with its Python source;
- a function with a ``numba.extending.overload`` (vectormath's tanh, sigmoid, exp_parts): the overload is
  what Numba compiles, so that is shown;
- a Python helper of the backend's own package or of the modules the backends share (recurrent_gemm);
- for cuda and cuda-emu, a string naming a ``__global__`` kernel of kernels/<family>.cu, shown with the
  comment above it and followed by the ``__device__`` functions it calls (in that file or common.h).

Every entry carries a one-line `launch`: how it runs (serial or parallel, prange, grid and block).
"""
from __future__ import annotations

import ast
import functools
import importlib
import inspect
import re
import textwrap
from dataclasses import dataclass, replace
from pathlib import Path

from engine.backends import BackendUnavailable
from engine.backends.contract import KERNELS, OPS, WHERE

CUDA_KERNEL_DIR = Path(__file__).resolve().parent.parent / "backends" / "cuda" / "kernels"
ROOT = CUDA_KERNEL_DIR.parents[3]
#: backend -> the package whose family modules hold its kernel-table functions
PACKAGES = {"numpy": "engine.backends.numpy_ref", "numba": "engine.backends.numba_cpu",
            "cuda": "engine.backends.cuda", "cuda-emu": "engine.backends.cuda"}
#: modules that are infrastructure, not kernel code (the registry, the contract, the CUDA module loader)
NOT_SHOWN = ("engine.backends", "engine.backends.contract", "engine.backends.cuda.library")

_CUDA_FUNCTION = re.compile(r"__(global|device)__\s[^;{]*?(\w+)\s*\(")
_LAUNCH_BOUNDS = re.compile(r"__launch_bounds__\s*\([^)]*\)")
_LAUNCH_SENTENCE = re.compile(r"\b(?:[Ll]aunch\b[^:.]*:|share one launch:)\s*(.*)")
#: the launch of a kernel passed to one of KernelLibrary's launch helpers (engine/backends/cuda/library.py)
LAUNCHERS = {"launch_elementwise": "launch: 1-D grid-stride loop, block 256, grid min(ceil(n / 256), 4096)",
             "launch_rows": "launch: one warp per row of the last axis, block (32, 8), grid ceil(rows / 8)"}


@dataclass
class KernelSource:
    name: str          # the function or CUDA kernel
    where: str         # module.qualname (Python) or file:line (CUDA)
    source: str
    language: str      # "python" or "cuda"
    kind: str = ""     # "kernel table", "helper", "@njit", "@njit parallel", "overload", "__global__", "__device__"
    launch: str = ""   # one line: how it runs


def op_names() -> tuple[str, ...]:
    """Every word `kernel_sources` accepts: the short op names, then the contract names."""
    return (*OPS, *KERNELS)


def _family(op: str) -> tuple[str, tuple[str, ...]]:
    """(family, contract names) for a short op name or one contract name."""
    if op in OPS:
        return WHERE[OPS[op][0]][0], OPS[op]
    if op in WHERE:
        return WHERE[op][0], (op,)
    raise ValueError(f"unknown kernel {op!r}; one of: {', '.join(op_names())}")


def kernel_sources(op: str, backend: str) -> list[KernelSource]:
    """The contract functions of `op` on `backend` and every kernel function they call, in call order."""
    family, names = _family(op)
    if backend not in PACKAGES:
        raise BackendUnavailable(f"unknown backend {backend!r}; kernels are shown for {', '.join(PACKAGES)}")
    package = PACKAGES[backend]
    module = importlib.import_module(f"{package}.{family}")
    walk = _Walk(package, _cuda_functions(family) if package == PACKAGES["cuda"] else {})
    for name in names:
        walk.python(getattr(module, name), "kernel table")
    return walk.found


def summary(backend: str, sources: list[KernelSource]) -> str:
    """One line on how the shown code runs in parallel on `backend`."""
    kinds = [source.kind for source in sources]

    def count(n, what):
        return f"{n} {what}{'s' * (n != 1)}"

    if backend == "numpy":
        return ("numpy: NumPy array operations called from Python on one thread (only the BLAS inside "
                "np.dot / @ may use more)")
    if backend == "numba":
        import numba
        jitted = sum(kind.startswith("@njit") for kind in kinds)
        return (f"numba: {count(jitted, '@njit function')}, {kinds.count('@njit parallel')} of them with prange "
                f"loops over numba's {numba.get_num_threads()} threads, {count(kinds.count('overload'), 'overload')} "
                f"compiled into their callers; compiled on first use, then cached in __pycache__")
    where = "on the CPU, each CUDA thread a fiber (for reading and checking, not for speed)" if backend == "cuda-emu" \
        else "on the GPU through CuPy"
    return (f"{backend}: {count(kinds.count('__global__'), '__global__ kernel')} launched from Python, "
            f"{count(kinds.count('__device__'), '__device__ function')} inlined into them; run {where}")


class _Walk:
    """Depth-first walk from the kernel-table functions; `found` is the call order, each entry once."""

    def __init__(self, package: str, cuda: dict[str, KernelSource]):
        self.package, self.cuda, self.found, self.seen = package, cuda, [], set()

    def _add(self, key, entry: KernelSource) -> bool:
        if key in self.seen:
            return False
        self.seen.add(key)
        self.found.append(entry)
        return True

    def python(self, obj, kind: str | None = None) -> None:
        """Show `obj` if it is kernel code (see the module docstring), then what it refers to."""
        dispatcher_options = getattr(obj, "targetoptions", None)
        function = getattr(obj, "py_func", obj)
        if not inspect.isfunction(function) or not _shown(function.__module__, self.package):
            return
        overload = _overload_of(function)
        if dispatcher_options is not None:
            parallel = dispatcher_options.get("parallel", False)
            kind = "@njit parallel" if parallel else "@njit"
            launch = (f"compiled; the iterations of {_prange(function)} are shared out to numba's threads"
                      if parallel else "compiled; runs on the thread that calls it")
        elif overload is not None:
            function, kind = overload, "overload"
            launch = "numba overload of a NumPy-level function: compiled into its caller for each float type"
        else:
            kind = kind or "helper"
            launch = "Python: " + ("called by the engine's autodiff op" if kind == "kernel table"
                                   else "the launch and shape code around the kernels")
        source = textwrap.dedent(inspect.getsource(function))
        shown_name = getattr(obj, "__name__", function.__name__)    # an overload is shown under its function's name
        if self._add(function, KernelSource(shown_name, f"{function.__module__}.{function.__qualname__}",
                                            source, "python", kind, launch)):
            for name, launcher in _referenced(source):
                self._follow(function.__globals__, name, launcher)

    def _follow(self, namespace: dict, name: str, launcher: str = "") -> None:
        if name.startswith('"'):
            kernel = self.cuda.get(name.strip('"'))
            if kernel is not None and kernel.kind == "__global__":
                launch = kernel.launch or LAUNCHERS.get(launcher) or _header_launch(Path(kernel.where).stem)
                self.cuda_function(replace(kernel, launch=launch))
            return
        obj = namespace
        for part in name.split("."):
            obj = obj.get(part) if isinstance(obj, dict) else getattr(obj, part, None)
            if obj is None:
                return
        self.python(obj)

    def cuda_function(self, entry: KernelSource) -> None:
        if self._add(entry.name, entry):
            for callee in _cuda_callees(entry, self.cuda):
                self.cuda_function(callee)


def _prange(function) -> str:
    """The prange loop(s) of a parallel Numba function as written, e.g. "prange(n_threads)"."""
    source = textwrap.dedent(inspect.getsource(function))
    loops = [ast.get_source_segment(source, node) for node in ast.walk(ast.parse(source))
             if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "prange"]
    return ", ".join(dict.fromkeys(loops)) or "its prange loops"


def _shown(module: str, package: str) -> bool:
    """Kernel code: the backend's own modules and the modules the backends share (engine/backends/*.py)."""
    if module in NOT_SHOWN:
        return False
    return module.startswith(package + ".") or (module.startswith("engine.backends.") and module.count(".") == 2)


def _referenced(source: str) -> list[tuple[str, str]]:
    """(name, launcher) for the names (a, a.b) and string constants ("...") the function body uses, in source
    order, each once; launcher is the method a string is passed to (lib.launch_rows: "launch_rows"), else "".
    The decorators are left out (their names are njit and the option dicts)."""
    definition = ast.parse(source).body[0]
    found = []
    for statement in definition.body:
        for node in ast.walk(statement):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                found.append((node.lineno, node.col_offset, node.id, ""))
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                found.append((node.lineno, node.col_offset, f"{node.value.id}.{node.attr}", ""))
            if isinstance(node, ast.Call):
                launcher = getattr(node.func, "attr", "")
                found.extend((arg.lineno, arg.col_offset, f'"{arg.value}"', launcher) for arg in node.args
                             if isinstance(arg, ast.Constant) and isinstance(arg.value, str))
    return list(dict.fromkeys((name, launcher) for *_, name, launcher in sorted(found)))


@functools.cache
def _overloads(module_name: str) -> dict[str, str]:
    """function name -> name of the function decorated `@overload(function, ...)` in the same module."""
    tree = ast.parse(inspect.getsource(importlib.import_module(module_name)))
    found = {}
    for node in tree.body:
        for decorator in getattr(node, "decorator_list", ()):
            if (isinstance(decorator, ast.Call) and getattr(decorator.func, "id", None) == "overload"
                    and decorator.args and isinstance(decorator.args[0], ast.Name)):
                found[decorator.args[0].id] = node.name
    return found


def _overload_of(function):
    name = _overloads(function.__module__).get(function.__name__)
    return None if name is None else function.__globals__[name]


# --------------------------------------------------------------------------------------------- CUDA
@functools.cache
def _cuda_functions(family: str) -> dict[str, KernelSource]:
    """Every __global__ and __device__ function of kernels/<family>.cu and common.h, by name."""
    functions = {}
    for file in (CUDA_KERNEL_DIR / "common.h", CUDA_KERNEL_DIR / f"{family}.cu"):
        lines = file.read_text().splitlines()
        for index, line in enumerate(lines):
            if not re.search(r"__(global|device)__", line):
                continue
            match = _CUDA_FUNCTION.search(_LAUNCH_BOUNDS.sub("", "\n".join(lines[index:index + 3])))
            if match is None:
                continue
            start = index
            while start > 0 and lines[start - 1].lstrip().startswith(("//", "template", "*")):
                start -= 1
            end = _closing_line(lines, index)
            kind = f"__{match.group(1)}__"
            functions[match.group(2)] = KernelSource(
                match.group(2), f"{file.relative_to(ROOT)}:{index + 1}", "\n".join(lines[start:end + 1]), "cuda",
                kind, _launch_line(lines, start, index, kind))
    return functions


def _closing_line(lines: list[str], index: int) -> int:
    """The line holding the brace that closes the function starting at lines[index]."""
    depth, opened = 0, False
    for end in range(index, len(lines)):
        depth += lines[end].count("{") - lines[end].count("}")
        opened = opened or "{" in lines[end]
        if opened and depth <= 0:
            return end
    return len(lines) - 1


def _launch_line(lines: list[str], start: int, index: int, kind: str) -> str:
    """The "Launch: ..." sentence of a kernel's own comment, or "" when it has none."""
    if kind == "__device__":
        return "__device__: inlined into the kernels that call it, on each of their threads"
    return _launch_sentence(lines[start:index])


def _launch_sentence(comment: list[str]) -> str:
    text = " ".join(line.lstrip("/ ").strip() for line in comment if line.lstrip().startswith("//"))
    match = _LAUNCH_SENTENCE.search(text)
    return "launch: " + match.group(1).split(". ")[0].rstrip(".") if match else ""


@functools.cache
def _header_launch(family: str) -> str:
    """The launch sentence of the comment at the top of kernels/<family>.cu (shared by its kernels)."""
    lines = (CUDA_KERNEL_DIR / f"{family}.cu").read_text().splitlines()
    header = lines[:next((i for i, line in enumerate(lines) if not line.startswith("//")), len(lines))]
    return _launch_sentence(header) or "launch: see the launch code above"


def _cuda_callees(entry: KernelSource, functions: dict[str, KernelSource]) -> list[KernelSource]:
    """The __device__ functions `entry` calls, in the order of their first call (comments ignored)."""
    body = entry.source[entry.source.find("{", entry.source.find(entry.name)):]
    body = re.sub(r"//[^\n]*", "", body)
    calls = []
    for name, function in functions.items():
        match = re.search(rf"\b{name}\s*(?:<[^<>()]*>)?\s*\(", body)
        if function.kind == "__device__" and name != entry.name and match:
            calls.append((match.start(), function))
    return [function for _, function in sorted(calls, key=lambda call: call[0])]


def cuda_sources(short: str) -> list[KernelSource]:
    """The __global__ kernels (with their __device__ helpers) of op `short`, without the launch code."""
    return [s for s in kernel_sources(short, "cuda") if s.language == "cuda"]
