"""`graph` (the recorded autodiff graph of one training step) and `profile` (time per op in one step).
The engine does the work (engine.tools.profile); these handlers pick the batch and format the tables."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

from shell.language.parser import Node
from shell.output import format_shape
from shell.statements.common import engine_errors, need_compiled

if TYPE_CHECKING:
    from shell.interpreter import Session

GRAPH_BATCH = 4


def _batch(session: Session, node: Node, size: int):
    """The model (compiled) and the first `size` training samples of the current data."""
    entry = session.entry(node)
    data = session.need_data(node)
    need_compiled(entry, node)
    return entry, data.x_train[:size], data.y_train[:size]


def _input_text(item: dict) -> str:
    shape = format_shape(item["shape"])
    if item["kind"] == "param":
        return f"{item['name']} {shape}"
    if item["kind"] == "step":
        return f"#{item['step']} {shape}"
    return f"data {shape}"


def st_graph(session: Session, node: Node) -> None:
    from engine.tools.profile import step_loss, trace_graph

    entry, x, y = _batch(session, node, GRAPH_BATCH)
    weights = entry.model.get_weights() if entry.model.built else None
    start = time.perf_counter()
    with engine_errors(node):
        rows = trace_graph(step_loss(entry.model, x, y), entry.model)
    if weights is not None:
        entry.model.set_weights(weights)  # a training-mode pass may move statistics (batch normalization)
    session.out.table(("step", "op", "output shape", "inputs"),
                      [(f"#{r['step']}", r["op"], format_shape(r["shape"]),
                        ", ".join(_input_text(i) for i in r["inputs"])) for r in rows],
                      justify=("right", "left", "left", "left"))
    session.out.note(f"one training-mode forward pass and the loss of {entry.name} on {len(x)} samples; "
                     "#N: the output of step N; data: the batch, the targets or a constant")
    session.done(f"{len(rows)} recorded op{'s' * (len(rows) != 1)}", time.perf_counter() - start)


def st_profile(session: Session, node: Node) -> None:
    from engine.tools.profile import profile_step

    entry, x, y = _batch(session, node, node.get("batch"))
    start = time.perf_counter()
    with engine_errors(node):
        rows = profile_step(entry.model, x, y)
    total = sum(r["total"] for r in rows)
    session.out.table(("op", "calls", "forward ms", "backward ms", "share"),
                      [(r["op"], str(r["calls"]), f"{r['forward']:.3f}", f"{r['backward']:.3f}",
                        f"{100 * r['share']:.1f}%") for r in rows])
    session.out.note(f"backend {session.backend_name}, batch of {len(x)}: loss and backward pass only, no "
                     f"optimizer step (the weights are unchanged); {total:.3f} ms in ops, after a warm-up step")
    session.done(f"profiled one step of {entry.name}", time.perf_counter() - start)
