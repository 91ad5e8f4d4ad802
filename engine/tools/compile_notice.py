"""Say so when Numba compiles: the first steps on the numba backend wait for the compiler, silently otherwise.

    with compilation_notices(print_line):
        model.fit(...)

calls ``print_line("compiling the numba kernels, once: ...")`` when the first kernel starts compiling inside
the block, and, at the end, ``print_line("compiled 9 numba kernels in 14.2 s; ...")`` with the measured time.
Numba's kernels are compiled on their first call and cached on disk (``cache=True``), so this happens once
per machine and source version: a cached kernel loads without a ``numba:compile`` event and nothing is said.

It listens to Numba's event API (``numba.core.event``, the "numba:compile" event of every dispatcher; a
kernel that calls another compiles it inside its own event, so only the outermost ones are counted). When
Numba has not been imported (another backend is active) the block runs with no listener at all.
"""
from __future__ import annotations

import contextlib
import sys
import time

#: What the first compilation costs on the 2-core development machine (BENCHMARKS.md, issue 12: the digits
#: CNN 7 s, the DCGAN 11 s, a two-layer LSTM 7 s): the estimate the notice gives before the wait, the
#: closing line then reports what it really took.
ESTIMATE = "about 10 s"


@contextlib.contextmanager
def compilation_notices(print_line):
    """Report Numba compilations that happen inside the block (see the module docstring)."""
    if "numba" not in sys.modules:
        yield
        return
    from numba.core import event

    class Listener(event.Listener):
        depth, kernels, seconds, started = 0, 0, 0.0, 0.0

        def on_start(self, ev):
            if self.depth == 0:
                if self.kernels == 0:
                    print_line(f"compiling the numba kernels, once (they are cached on disk afterwards): {ESTIMATE}")
                self.started = time.perf_counter()
            self.depth += 1

        def on_end(self, ev):
            self.depth -= 1
            if self.depth == 0:
                self.kernels += 1
                self.seconds += time.perf_counter() - self.started

    listener = Listener()
    with event.install_listener("numba:compile", listener):
        try:
            yield
        finally:
            if listener.kernels:
                print_line(f"compiled {listener.kernels} numba kernel{'s' * (listener.kernels != 1)} in "
                           f"{listener.seconds:.1f} s; the next runs load them from the cache")
