"""Run one layer forward and backward on several backends and compare: same numbers, how much faster.

Each backend gets its own copy of the layer with the same weights, the same input and the same output
gradient R (seeded), so the only difference is the kernels. One row per backend::

    import numpy as np
    from engine import layers
    from engine.tools.compare import compare_layer

    conv = layers.Conv2D(10, 3, padding="same", activation="relu")
    x = np.random.default_rng(0).normal(size=(32, 8, 8, 1)).astype(np.float32)
    for row in compare_layer(conv, x, ["numpy", "numba"], repeat=5):
        print(row.backend, row.ms, row.output_diff, row.grad_diffs, row.speedup)

Differences are measured against the first backend (numpy by default) as

    max |a - ref| / max |ref|        (0 when both are all zero)

for the output and for every gradient (the input's, `x`, and each weight's, by weight name). The time is
the median of `repeat` runs of forward + backward after one warm-up run (which also compiles Numba
kernels); speed-up is the reference's time over this backend's.

A row that is slower than the reference, or whose warm-up compiled, says why in `notes` (see `slow_reasons`):
compilation (the warm-up run was much slower: a compiler ran, and the time shown leaves it out), emulation
(cuda-emu runs every GPU thread as a fiber on the CPU), or a problem too small for the backend's fixed
costs (threads, launches, copies) to pay off.
"""
from __future__ import annotations

import copy
import statistics
import time
from dataclasses import dataclass, field

import numpy as np

from engine.autograd import Tensor
from engine.backends import available_backends, to_host, unavailable_reason, use_backend

REFERENCE = "numpy"


@dataclass
class CompareRow:
    """One backend's result for one layer (`error` set, numbers None, when it could not run)."""
    layer: str
    backend: str
    ms: float | None = None
    output_diff: float | None = None
    grad_diffs: dict[str, float] = field(default_factory=dict)
    speedup: float | None = None
    error: str | None = None
    first_ms: float | None = None          # the warm-up run (compiles Numba kernels on their first call)
    notes: list[str] = field(default_factory=list)   # why the row is slow, or that its warm-up compiled

    @property
    def max_diff(self) -> float | None:
        """The largest difference over the output and every gradient."""
        if self.output_diff is None:
            return None
        return max([self.output_diff, *self.grad_diffs.values()])


def layer_copy(layer, weights: list | None = None, dtype=None):
    """(a shallow copy of `layer` with its own weight tensors, {weight index: the layer attribute that
    holds it}). `weights` replaces the weights' arrays; `dtype` casts them and sets the copy's dtype.
    The copy computes with its weights and leaves the layer's alone (their arrays are not shared when
    `weights` or `dtype` is given)."""
    clone = copy.copy(layer)
    clone.weights = [copy.copy(w) for w in layer.weights]
    for w, data in zip(clone.weights, weights if weights is not None else [w.data for w in layer.weights]):
        w.data, w.grad = data, None
    if dtype is not None:
        clone.dtype = np.dtype(dtype)
        for w in clone.weights:
            w.data = w.data.astype(clone.dtype)
    attributes = {}
    for name, value in vars(layer).items():   # the copy's attributes point at the copied weights
        for index, original in enumerate(layer.weights):
            if value is original:
                setattr(clone, name, clone.weights[index])
                attributes[index] = name
    return clone, attributes


def relative_difference(values: np.ndarray, reference: np.ndarray) -> float:
    """max |values - reference| / max |reference| (0 when both are all zero, inf if only reference is)."""
    a, r = np.asarray(values, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    if a.shape != r.shape:
        return float("inf")
    if r.size == 0:
        return 0.0
    diff = float(np.abs(a - r).max())
    scale = float(np.abs(r).max())
    if scale == 0:
        return 0.0 if diff == 0 else float("inf")
    return diff / scale


def split_backends(names=None) -> tuple[list[str], dict[str, str]]:
    """(the backends among `names` that run here, {name: why not} for the others). Default: every
    available backend, the reference first."""
    if names is None:
        names = available_backends()
    names = list(dict.fromkeys(names))
    missing = {name: reason for name in names if (reason := unavailable_reason(name)) is not None}
    return [name for name in names if name not in missing], missing


def _run(layer, x: np.ndarray, weights: list[np.ndarray], dy: np.ndarray, backend: str, repeat: int,
         training: bool):
    """(median seconds, warm-up seconds, output, {name: gradient}) of forward + backward of a copy of `layer`
    on `backend`."""
    with use_backend(backend) as active:
        xp = active.xp
        clone, _ = layer_copy(layer, [xp.asarray(data) for data in weights])
        seconds = []
        for _ in range(repeat + 1):
            for w in clone.weights:
                w.grad = None
            start = time.perf_counter()
            xt = Tensor(xp.asarray(x), requires_grad=True)
            y = clone(xt, training=training)
            if y.requires_grad:
                y.backward(xp.asarray(dy, dtype=y.dtype))
            output = to_host(y.data)           # copying to the host waits for a GPU to finish
            grads = {"x": to_host(xt.grad) if xt.grad is not None else np.zeros_like(x)}
            for w in clone.weights:
                if w.trainable:
                    grads[w.name] = to_host(w.grad) if w.grad is not None else np.zeros(w.shape)
            seconds.append(time.perf_counter() - start)
    # run 0 warms up (and compiles Numba kernels): it is reported apart, not in the median
    return statistics.median(seconds[1:]), seconds[0], np.asarray(output), grads


def compare_layer(layer, x, backends=None, repeat: int = 3, seed: int = 0, training: bool = False,
                  reference: str = REFERENCE) -> list[CompareRow]:
    """Forward + backward of `layer` on input `x` on each backend; one CompareRow per backend named
    (unavailable ones with `error` set). The reference backend always runs first (it is added when
    missing, and reported only if it was named). The layer itself is not changed (built if it was not)."""
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, got {repeat}")
    names = list(dict.fromkeys(backends if backends is not None else available_backends()))
    runnable, missing = split_backends(names)
    x = np.asarray(to_host(x.data if isinstance(x, Tensor) else x))
    if not layer.built:
        with use_backend(reference):
            layer(x[:1])
    weights = [np.array(to_host(w.data)) for w in layer.weights]
    x = x.astype(layer.dtype, copy=False)
    out_shape = (len(x), *layer.output_shape[1:])
    dy = np.random.default_rng(seed).standard_normal(out_shape).astype(x.dtype)

    order = [reference] + [name for name in runnable if name != reference]
    results = {}
    for name in order:
        try:
            results[name] = _run(layer, x, weights, dy, name, repeat, training)
        except Exception as exc:  # report and go on: one backend failing should not hide the others
            if name == reference:
                raise
            missing[name] = f"{type(exc).__name__}: {exc}"
    ref_seconds, _, ref_output, ref_grads = results[reference]
    rows = []
    for name in names:
        if name in missing:
            rows.append(CompareRow(layer.name, name, error=missing[name]))
            continue
        seconds, first, output, grads = results[name]
        row = CompareRow(
            layer.name, name, ms=seconds * 1e3, output_diff=relative_difference(output, ref_output),
            grad_diffs={key: relative_difference(g, ref_grads[key]) for key, g in grads.items()},
            speedup=ref_seconds / seconds if seconds > 0 else float("inf"), first_ms=first * 1e3)
        row.notes = slow_reasons(row, ref_seconds * 1e3)
        rows.append(row)
    return rows


#: A warm-up run this many times slower than the median (and over COMPILE_MS) compiled something.
COMPILE_RATIO, COMPILE_MS = 20, 100.0
#: Below this much reference time (fwd+bwd) fixed costs decide: thread start-up (~10 us per parallel loop),
#: Python dispatch and array copies are about as large as the work.
SMALL_MS = 1.0


def slow_reasons(row: CompareRow, reference_ms: float) -> list[str]:
    """Why `row` is slower than the reference (or took long to warm up), as short sentences."""
    notes = []
    if row.first_ms is not None and row.first_ms > max(COMPILE_MS, COMPILE_RATIO * row.ms):
        notes.append(f"compilation: its first run took {row.first_ms / 1e3:.1f} s compiling kernels (cached on "
                     f"disk afterwards); the time shown leaves it out")
    if row.speedup is None or row.speedup >= 1 or row.backend == REFERENCE:
        return notes
    if row.backend == "cuda-emu":
        notes.append("emulation: cuda-emu runs every GPU thread as a fiber on the CPU, to check the CUDA "
                     "kernels, not to be fast")
    elif reference_ms < SMALL_MS:
        notes.append(f"problem too small: {reference_ms:.3f} ms of work, about what starting threads, calling "
                     f"kernels and copying arrays costs; a larger batch shows the kernels' speed")
    else:
        notes.append("slower on this problem with no known cause (a busy machine? try a larger repeat)")
    return notes
