"""Memory and size bounds: estimate before allocating, and refuse what the machine cannot hold.

A request that needs more memory than is available (a `Dense(10**8)` layer, a data set of 10^9 windows, a
plot of 10^8 images) becomes one ResourceError naming what asked, the size it needs, what is available and a
smaller setting, instead of a MemoryError deep inside NumPy, a swap storm or a crash. Counts that multiply
work (grid cells, plotted images, repeats) have fixed limits here too.
"""
from __future__ import annotations

import math
import os

#: the most cells a grid search may have (the lecture's is 7 x 7)
MAX_GRID_CELLS = 1_000
#: the most images one plot may draw
MAX_PLOT_IMAGES = 1_024
#: the most times a measurement may be repeated
MAX_REPEATS = 1_000


class ResourceError(ValueError):
    """A request larger than the machine (or a limit) allows; the message names it and a smaller setting."""


def available_memory() -> int:
    """Bytes of memory available now (MemAvailable on Linux, else the physical memory)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - no way to ask: do not refuse
        return 2 ** 62


def format_bytes(n: float) -> str:
    """1536 -> '1.5 KB' (powers of 1024, as `summary` shows sizes)."""
    n = float(n)
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1024 or unit == "PB":
            return f"{int(n)} bytes" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PB"  # pragma: no cover


def array_bytes(shape, itemsize: int = 4) -> int:
    """Bytes of an array of `shape` (exact Python integers: never overflows)."""
    return math.prod(int(d) for d in shape) * int(itemsize)


def require_memory(nbytes: int, what: str, smaller: str) -> None:
    """Refuse `what` when it needs more than the memory available; `smaller` says what to change."""
    available = available_memory()
    if nbytes > available:
        raise ResourceError(f"{what} needs {format_bytes(nbytes)} of memory, more than the "
                            f"{format_bytes(available)} available here; {smaller}")


def require_at_most(count: int, limit: int, what: str, smaller: str) -> None:
    """Refuse a count above a fixed limit (grid cells, plotted images, repeats)."""
    if count > limit:
        raise ResourceError(f"{what} is {count:,}, more than the limit of {limit:,}; {smaller}")
