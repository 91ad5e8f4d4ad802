"""The recorded autodiff graph of one training step (`trace_graph`) and the time each op takes in it
(`profile_step`).

Profiling wraps ``Function.apply`` and every op's ``backward`` only inside :func:`timing_ops` and puts the
originals back afterwards, so the normal path pays nothing. ``profile_step`` computes the loss and its
gradients but takes no optimizer step, and restores the weights and gradients it found: the model is
not trained by being profiled.
"""
from __future__ import annotations

import contextlib
import time

import numpy as np

from engine.autograd import Function, Tensor, _topological_order
from engine.backends import get_backend
from engine.layers import Variable


def _shape(value) -> tuple:
    return tuple(int(d) for d in np.shape(value.data if isinstance(value, Tensor) else value))


def trace_graph(loss: Tensor, model=None) -> list[dict]:
    """One row per recorded op, in forward order: ``step`` (1, 2, ...), ``op`` (the Function class name),
    ``shape`` (the output's), ``inputs``: per tensor argument a dict with ``shape``, ``kind`` ('param': a
    trainable layer weight, ``name`` set; 'step': the output of an earlier op, ``step`` set; 'const': data
    or a constant) and ``name``/``step`` as they apply. Given the model, a weight's name is 'layer/weight'."""
    rows, step_of = [], {}
    names = {id(w): f"{owner.name}/{w.name}" for w, owner in zip(model.weights, model._weight_owners())} \
        if model is not None and model.built else {}
    for t in _topological_order(loss):
        if t._fn is None:
            continue
        inputs = []
        for inp in t._fn.inputs:
            if not isinstance(inp, (Tensor, np.ndarray)) and not hasattr(inp, "shape"):
                continue  # an option passed positionally (an axis, a stride)
            item = {"shape": _shape(inp), "kind": "const", "name": None, "step": None}
            if isinstance(inp, Tensor) and id(inp) in step_of:
                item.update(kind="step", step=step_of[id(inp)])
            elif isinstance(inp, Variable):
                item.update(kind="param", name=names.get(id(inp), inp.name))
            inputs.append(item)
        step_of[id(t)] = len(rows) + 1
        rows.append({"step": len(rows) + 1, "op": type(t._fn).__name__, "shape": _shape(t), "inputs": inputs})
    return rows


def step_loss(model, x, y) -> Tensor:
    """The data loss of one training-mode forward pass of `model` on (x, y), with its graph recorded."""
    x, y = model.prepare_inputs(x), model.prepare_targets(y)
    model.ensure_ready(x, y)
    loss, _ = model._loss_and_output(x, y, training=True)
    return loss


def _all_subclasses(cls) -> list[type]:
    found, stack = [], list(cls.__subclasses__())
    while stack:
        sub = stack.pop()
        found.append(sub)
        stack.extend(sub.__subclasses__())
    return found


def _sync() -> None:
    """Wait for a GPU to finish (CuPy), so that a time covers the op's kernels."""
    cuda = getattr(get_backend().xp, "cuda", None)
    if cuda is not None and hasattr(cuda, "Device"):
        cuda.Device().synchronize()


@contextlib.contextmanager
def timing_ops():
    """Inside: every ``Function.apply`` and op ``backward`` adds its seconds to the yielded dict
    ``{op name: {"calls", "forward", "backward"}}``. The original methods are restored in ``finally``."""
    stats: dict[str, dict] = {}
    original_apply = Function.__dict__["apply"]
    originals = {cls: cls.__dict__["backward"] for cls in _all_subclasses(Function) if "backward" in cls.__dict__}

    def entry(name):
        return stats.setdefault(name, {"calls": 0, "forward": 0.0, "backward": 0.0})

    def apply(cls, *args, **options):
        _sync()
        start = time.perf_counter()
        out = original_apply.__func__(cls, *args, **options)
        _sync()
        row = entry(cls.__name__)
        row["forward"] += time.perf_counter() - start
        row["calls"] += 1
        return out

    def timed(backward):
        def wrapper(self, grad):
            _sync()
            start = time.perf_counter()
            result = backward(self, grad)
            _sync()
            entry(type(self).__name__)["backward"] += time.perf_counter() - start
            return result
        return wrapper

    try:
        Function.apply = classmethod(apply)
        for cls, backward in originals.items():
            cls.backward = timed(backward)
        yield stats
    finally:
        Function.apply = original_apply
        for cls, backward in originals.items():
            cls.backward = backward


def profile_step(model, x, y, warmup: bool = True) -> list[dict]:
    """Time one training step's loss and backward pass per op type (no optimizer step; the weights and
    gradients are restored). Rows, slowest first: ``op``, ``calls``, ``forward`` and ``backward`` (ms),
    ``total`` (ms) and ``share`` (of the summed op time, 0..1). A warm-up step runs first (it compiles
    Numba kernels) unless warmup=False."""
    weights = model.get_weights() if model.built else None
    params = model.weights if model.built else []
    grads = [w.grad for w in params]
    try:
        if warmup:
            step_loss(model, x, y).backward()
        with timing_ops() as stats:
            step_loss(model, x, y).backward()
    finally:
        if weights is not None:
            model.set_weights(weights)      # training mode may move statistics (batch normalization)
        for w in model.weights:             # a model built here had no gradients
            w.grad = None
        for w, g in zip(params, grads):
            w.grad = g
    total = sum(row["forward"] + row["backward"] for row in stats.values()) or 1.0
    rows = [{"op": name, "calls": row["calls"], "forward": row["forward"] * 1e3, "backward": row["backward"] * 1e3,
             "total": (row["forward"] + row["backward"]) * 1e3, "share": (row["forward"] + row["backward"]) / total}
            for name, row in stats.items()]
    return sorted(rows, key=lambda row: row["total"], reverse=True)
