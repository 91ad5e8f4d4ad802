"""Backend registry: which set of kernels the differentiable ops call.

A backend is a :class:`Backend`: a name, an array module ``xp`` (NumPy or CuPy) and the flat kernel
functions listed in :data:`KERNELS`. Every backend exposes the same kernels with the same signatures,
so the autodiff layer (``engine.ops``) never knows which one runs. Kernels take and return raw arrays
in Keras layouts (images NHWC, sequences NTF); they never see strings for padding, only explicit
``((top, bottom), (left, right))`` pairs.

The kernel contract (families, ops, kernels and their signatures) is the table in
:mod:`engine.backends.contract`; a backend is one package with one module per family.
"""
from __future__ import annotations

import contextlib
import importlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import Callable

from engine.backends.contract import ACTIVATIONS, KERNELS  # noqa: F401 (the registry's public names)


class BackendUnavailable(RuntimeError):
    """Raised when a backend is unknown or cannot run on this machine (the message says why)."""


@dataclass
class Backend:
    """A named set of kernels plus the array module its arrays live in."""
    name: str
    xp: ModuleType
    kernels: dict = field(repr=False)
    description: str = ""
    #: called when the backend becomes active; returns the function that undoes it (e.g. thread settings)
    activate: Callable[[], Callable[[], None]] | None = field(default=None, repr=False)

    def __getattr__(self, item):
        try:
            return self.__dict__["kernels"][item]
        except KeyError:
            raise AttributeError(f"backend {self.name!r} has no kernel {item!r}") from None

    def asarray(self, data, dtype=None):
        return self.xp.asarray(data, dtype=dtype)

    def to_numpy(self, array):
        return to_host(array)


def array_module(array):
    """The array module an array belongs to: ``cupy`` for a CuPy array, otherwise ``numpy``."""
    if type(array).__module__.startswith("cupy"):
        import cupy
        return cupy
    import numpy
    return numpy


def to_host(array):
    """A NumPy array with the values of `array` (CuPy arrays copy to the host with .get())."""
    get = getattr(array, "get", None)
    return get() if callable(get) else array


# name -> (module path, one-line description). Loaded lazily so `import engine` stays fast.
_SPECS: dict[str, tuple[str, str]] = {
    "numpy": ("engine.backends.numpy_ref", "readable NumPy reference (the specification)"),
    "numba": ("engine.backends.numba_cpu", "hand-written Numba CPU kernels"),
    "cuda": ("engine.backends.cuda", "hand-written CUDA C kernels through CuPy (needs an NVIDIA GPU)"),
    "cuda-emu": ("engine.backends.cuda.emulator", "the same CUDA C kernels compiled for the CPU by an emulator"),
}
_LOADED: dict[str, Backend] = {}
_FAILED: dict[str, str] = {}
_current: list[Backend] = []


def register(name: str, module: str, description: str) -> None:
    """Declare a backend. Its module exposes ``make_backend() -> Backend`` and, optionally,
    ``unavailable_reason() -> str | None`` (a cheap check: no GPU, no compiler). Importing the module
    must stay cheap; heavy imports (Numba, CuPy) belong inside ``make_backend``."""
    _SPECS[name] = (module, description)


def unavailable_reason(name: str) -> str | None:
    """None if backend `name` can run here, else a sentence saying why not."""
    if name not in _SPECS:
        return f"unknown backend {name!r}"
    if name in _FAILED:
        return _FAILED[name]
    module_path = _SPECS[name][0]
    try:
        module = importlib.import_module(module_path)
    except ImportError as exc:
        return f"cannot import {module_path}: {exc}"
    probe: Callable[[], str | None] | None = getattr(module, "unavailable_reason", None)
    return probe() if probe else None


def backend_names() -> list[str]:
    """Every registered backend, available here or not."""
    return list(_SPECS)


def describe_backends() -> list[tuple[str, str, str | None]]:
    """(name, description, why it is unavailable or None) for every known backend."""
    return [(name, description, unavailable_reason(name)) for name, (_, description) in _SPECS.items()]


def available_backends() -> list[str]:
    """Names of the backends that can run here."""
    return [name for name in _SPECS if unavailable_reason(name) is None]


def _load(name: str) -> Backend:
    if name in _LOADED:
        return _LOADED[name]
    if name not in _SPECS:
        raise BackendUnavailable(
            f"unknown backend {name!r}; available backends: {', '.join(available_backends())}")
    reason = unavailable_reason(name)
    if reason is None:
        try:
            backend = importlib.import_module(_SPECS[name][0]).make_backend()
            backend.description = _SPECS[name][1]
        except (BackendUnavailable, ImportError, OSError, AttributeError) as exc:
            reason = str(exc)
    if reason is not None:
        others = ", ".join(n for n in available_backends() if n != name)
        _FAILED[name] = reason
        raise BackendUnavailable(f"backend {name!r} is not available here: {reason}. Available here: {others}")
    missing = [k for k in KERNELS if k not in backend.kernels]
    if missing:
        raise BackendUnavailable(f"backend {name!r} lacks kernels: {', '.join(missing)}")
    _LOADED[name] = backend
    return backend


def get_backend(name: str | None = None) -> Backend:
    """The active backend, or the named one."""
    if name is not None:
        return _load(name)
    if not _current:
        _enter(_load("numpy"))
    return _current[-1]


_undo: list[Callable[[], None] | None] = []   # one entry per entry of _current


def _enter(backend: Backend) -> None:
    _current.append(backend)
    _undo.append(backend.activate() if backend.activate else None)


def _leave() -> None:
    _current.pop()
    undo = _undo.pop()
    if undo:
        undo()


def set_backend(name: str) -> Backend:
    """Make `name` the active backend for every op from now on."""
    backend = _load(name)
    if _current:
        _leave()
    _enter(backend)
    return backend


@contextlib.contextmanager
def use_backend(name: str):
    """Run a block on another backend, then return to the previous one."""
    get_backend()
    _enter(_load(name))
    try:
        yield _current[-1]
    finally:
        _leave()
