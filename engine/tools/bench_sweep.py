"""`nnlab bench --sweep`: the numba backend against PyTorch (CPU) as one size grows at a time.

Four sweeps, each from a middle-sized problem, each point timed like a benchmark case (bench.time_callable,
same-run medians, load-aware):

    batch      Conv2D 32->32 3x3 forward+backward on 32x32 images, batch 4 ... 128
    image      the same layer, batch 16, images 8x8 ... 64x64
    channels   Conv2D C->C 3x3 forward+backward, batch 16, 32x32 images, C = 8 ... 128
    length     LSTM forward+backward, batch 64, 32 inputs, 128 units, T = 10 ... 200

Small problems show the fixed costs (Python, op dispatch, starting threads), large ones the kernels'
arithmetic rate, so the curves show where each backend's cost grows and where the two cross.
Writes PREFIX.png (one panel per sweep: milliseconds on log axes, and the numba/PyTorch ratio) and
PREFIX.json (every point), both atomically through engine.files.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Callable

import engine
from engine import files
from engine import functional as F
from engine.tools.bench import (_engine_fwd_bwd, _torch, _torch_fwd_bwd, machine_info, time_callable,
                                torch_available)


@dataclass
class Sweep:
    """One panel: `make(value, torch)` returns the callable that runs the problem of size `value` once."""
    name: str
    label: str
    values: list[int]
    quick_values: list[int]
    make: Callable[[int, bool], Callable[[], None]]


def _conv(n, size, channels, torch):
    """Conv2D channels->channels 3x3 'valid', forward+backward, on (n, size, size, channels)."""
    if not torch:
        return _engine_fwd_bwd(F.conv2d, (n, size, size, channels), (3, 3, channels, channels), (channels,))
    conv = _torch().nn.Conv2d(channels, channels, 3).to(memory_format=_torch().channels_last)
    return _torch_fwd_bwd(conv, (n, channels, size, size), channels_last=True)


def _lstm(length, torch, batch=64, inputs=32, units=128):
    """LSTM inputs->units returning every state, forward+backward, on (batch, length, inputs)."""
    if not torch:
        return _engine_fwd_bwd(lambda x, W, U, b: F.lstm(x, W, U, b, return_sequences=True),
                               (batch, length, inputs), (inputs, 4 * units), (units, 4 * units), (4 * units,))
    module = _torch().nn.LSTM(inputs, units, batch_first=True)
    return _torch_fwd_bwd(module, (batch, length, inputs))


SWEEPS = [
    Sweep("batch", "batch size (Conv2D 32->32 3x3, 32x32 images)", [4, 8, 16, 32, 64, 128], [1, 2],
          lambda v, torch: _conv(v, 32, 32, torch)),
    Sweep("image", "image side (Conv2D 32->32 3x3, batch 16)", [8, 16, 32, 48, 64], [4, 6],
          lambda v, torch: _conv(16, v, 32, torch)),
    Sweep("channels", "channels in = out (Conv2D 3x3, batch 16, 32x32)", [8, 16, 32, 64, 128], [2, 3],
          lambda v, torch: _conv(16, 32, v, torch)),
    Sweep("length", "sequence length (LSTM 32->128, batch 64)", [10, 25, 50, 100, 200], [2, 3],
          lambda v, torch: _lstm(v, torch, **({} if v > 3 else dict(batch=2, units=4)))),
]


def measure(quick=False, samples=5, report=print, **timing) -> dict:
    """Time every point of every sweep on numba and (when installed) PyTorch: {sweep: [point, ...]},
    each point {"value", "numba_ms", "torch_ms", "ratio"} (torch_ms and ratio None without PyTorch)."""
    with_torch = torch_available()
    results = {}
    for sweep in SWEEPS:
        points = []
        for value in (sweep.quick_values if quick else sweep.values):
            with engine.use_backend("numba"):
                mine = time_callable(sweep.make(value, False), samples, quick=quick, **timing).median_ms
            theirs = time_callable(sweep.make(value, True), samples, quick=quick, **timing).median_ms \
                if with_torch else None
            points.append({"value": value, "numba_ms": mine, "torch_ms": theirs,
                           "ratio": None if theirs is None else mine / theirs})
            report(f"[{sweep.name} {value}] numba {mine:.3f} ms" +
                   ("" if theirs is None else f", torch {theirs:.3f} ms, ratio {mine / theirs:.2f}"))
        results[sweep.name] = points
    return results


def plot(results: dict, path, title: str):
    """One panel per sweep: ms of each backend (log-log) and the numba/PyTorch ratio (right axis)."""
    from engine.viz.plots import _new_figure, _save

    fig = _new_figure((12, 8.5))
    fig.suptitle(title, fontsize=12)
    for index, sweep in enumerate(s for s in SWEEPS if s.name in results):
        ax = fig.add_subplot(2, 2, index + 1)
        points = results[sweep.name]
        xs = [p["value"] for p in points]
        ax.plot(xs, [p["numba_ms"] for p in points], "o-", label="numba")
        if all(p["torch_ms"] is not None for p in points):
            ax.plot(xs, [p["torch_ms"] for p in points], "s--", label="PyTorch")
            ratio_ax = ax.twinx()
            ratio_ax.plot(xs, [p["ratio"] for p in points], ":", color="grey", label="numba / PyTorch")
            ratio_ax.axhline(1.0, color="grey", linewidth=0.5)
            ratio_ax.set_ylabel("numba / PyTorch", color="grey")
            ratio_ax.set_ylim(0, max(2.0, 1.1 * max(p["ratio"] for p in points)))
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.minorticks_off()
        ax.set_yscale("log")
        ax.set_xlabel(sweep.label)
        ax.set_ylabel("ms per forward+backward")
        ax.legend(loc="upper left")
    fig.tight_layout()
    return _save(fig, path)


def run_sweep(prefix: str, quick=False, samples=5, **timing) -> int:
    """Measure, then write PREFIX.png and PREFIX.json; returns the exit status."""
    from engine.backends import unavailable_reason

    why = unavailable_reason("numba")
    if why is not None:
        print(f"the sweep compares the numba backend with PyTorch, but numba cannot run here: {why}")
        return 2
    info = machine_info(torch_available())
    print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()))
    results = measure(quick=quick, samples=samples, **timing)
    stamp = time.strftime("%Y-%m-%d %H:%M")
    png = plot(results, f"{prefix}.png", f"numba against PyTorch on the CPU ({info['processor']}, {stamp})")
    data = {"machine": info, "date": stamp, "quick": quick, "sweeps": results}
    out = files.write_text(f"{prefix}.json", json.dumps(data, indent=1), "results", create_folders=True)
    print(f"wrote {png} and {out}")
    return 0
