"""Say so when kernels compile: the first steps on the numba or cuda-emu backend wait for a compiler,
silently otherwise.

    with compilation_notices(print_line):
        model.fit(...)

calls ``print_line("compiling the numba kernels, once: ...")`` when the first kernel starts compiling inside
the block, and, at the end, ``print_line("compiled 9 numba kernels in 14.2 s; ...")`` with the measured time.
Both compilers cache what they build on disk, so this happens once per machine and source version: a kernel
that loads from the cache says nothing.

- Numba: its event API (``numba.core.event``, the "numba:compile" event of every dispatcher; a kernel that
  calls another compiles it inside its own event, so only the outermost ones are counted).
- cuda-emu: g++ builds one shared library per kernel file (``emulator.build.BUILD_LISTENERS``).

A compiler whose module has not been imported (another backend is active) gets no listener at all.
"""
from __future__ import annotations

import contextlib
import sys
import time

#: What the first compilation costs on the 2-core development machine (BENCHMARKS.md, issue 12: the digits
#: CNN 7 s, the DCGAN 11 s, a two-layer LSTM 7 s): the estimate the notice gives before the wait; the
#: closing line then reports what it really took.
NUMBA_ESTIMATE = "about 10 s"
EMULATOR_ESTIMATE = "a few seconds per kernel file"
EMULATOR_MODULE = "engine.backends.cuda.emulator.build"


class _Compilations:
    """Counts the outermost compilations between start(), end() pairs and announces the first one."""

    def __init__(self, print_line, what: str, estimate: str):
        self.print_line, self.what, self.estimate = print_line, what, estimate
        self.depth, self.count, self.seconds, self.started = 0, 0, 0.0, 0.0

    def start(self) -> None:
        if self.depth == 0:
            if self.count == 0:
                self.print_line(f"compiling the {self.what}, once (they are cached on disk afterwards): "
                                f"{self.estimate}")
            self.started = time.perf_counter()
        self.depth += 1

    def end(self) -> None:
        self.depth -= 1
        if self.depth == 0:
            self.count += 1
            self.seconds += time.perf_counter() - self.started

    def report(self, unit: str) -> None:
        if self.count:
            self.print_line(f"compiled {self.count} {unit}{'s' * (self.count != 1)} in {self.seconds:.1f} s; "
                            "the next runs load them from the cache")


@contextlib.contextmanager
def compilation_notices(print_line):
    """Report Numba and cuda-emu compilations that happen inside the block (see the module docstring)."""
    with contextlib.ExitStack() as stack:
        if "numba" in sys.modules:
            stack.enter_context(_numba_notices(print_line))
        if EMULATOR_MODULE in sys.modules:
            stack.enter_context(_emulator_notices(print_line))
        yield


@contextlib.contextmanager
def _numba_notices(print_line):
    from numba.core import event
    compilations = _Compilations(print_line, "numba kernels", NUMBA_ESTIMATE)

    class Listener(event.Listener):
        def on_start(self, ev):
            compilations.start()

        def on_end(self, ev):
            compilations.end()

    with event.install_listener("numba:compile", Listener()):
        try:
            yield
        finally:
            compilations.report("numba kernel")


@contextlib.contextmanager
def _emulator_notices(print_line):
    listeners = sys.modules[EMULATOR_MODULE].BUILD_LISTENERS
    compilations = _Compilations(print_line, "cuda-emu kernels with g++", EMULATOR_ESTIMATE)

    def listener(starting: bool) -> None:
        compilations.start() if starting else compilations.end()

    listeners.append(listener)
    try:
        yield
    finally:
        listeners.remove(listener)
        compilations.report("cuda-emu kernel file")
