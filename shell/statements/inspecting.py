"""`compare` (a layer on several backends), `kernel` (the source of an op's kernels) and `gradcheck`
(a layer's backward pass against finite differences). The engine does the work (engine.tools.compare,
engine.tools.kernel_source, engine.tools.gradcheck); these handlers pick the layers and format tables."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

import engine
from shell.errors import did_you_mean
from shell.language.parser import Node
from shell.state import ModelEntry
from shell.statements.common import engine_errors

if TYPE_CHECKING:
    from shell.interpreter import Session


def _chosen_layers(node: Node, entry: ModelEntry) -> list:
    """The layer named layer=, else every layer of the model (which must be built)."""
    if not entry.model.built:
        raise node.error(f"model '{entry.name}' is not built yet", "give it an input shape (input=(...))")
    layers = entry.model.layers
    name = node.value("layer")
    if name is None:
        return list(layers)
    for layer in layers:
        if layer.name == name:
            return [layer]
    raise node.error(f"model '{entry.name}' has no layer '{name}'",
                     did_you_mean(name, [layer.name for layer in layers], "layers"), at="layer")


def _inputs(session: Session, entry: ModelEntry, batch: int, rng) -> list[np.ndarray]:
    """One input per layer: the first `batch` samples of the current data passed through the layers
    before it (numpy backend, inference), or random normal numbers when the data does not fit."""
    data = session.data
    shape = entry.model.layers[0].input_shape[1:]
    if data is not None and data.x_train is not None and tuple(data.x_train.shape[1:]) == tuple(shape):
        x = np.asarray(data.x_train[:batch], dtype=np.float32)
    else:
        x = rng.standard_normal((batch, *shape)).astype(np.float32)
    inputs = []
    with engine.use_backend("numpy"), engine.no_grad():
        for layer in entry.model.layers:
            inputs.append(x)
            x = layer(x, training=False).numpy()
    return inputs


def _diff(value: float | None) -> str:
    return "-" if value is None else "0" if value == 0 else f"{value:.1e}"


def st_compare(session: Session, node: Node) -> None:
    from engine.tools.compare import REFERENCE, compare_layer, split_backends

    entry = session.entry(node)
    layers = _chosen_layers(node, entry)
    names = node.value("backends")
    with engine_errors(node, at="backends"):
        runnable, missing = split_backends(list(names) if names else None)
    if not any(name != REFERENCE for name in runnable):
        raise node.error("no backend to compare with numpy runs here",
                         "; ".join(f"{n}: {why}" for n, why in missing.items()) or "`backend` lists them",
                         at="backends" if names else None)
    backends = [REFERENCE] + [name for name in runnable if name != REFERENCE]
    start = time.perf_counter()
    inputs = _inputs(session, entry, node.get("batch"), np.random.default_rng(session.seed))
    rows, totals, notes = [], {name: 0.0 for name in backends}, []
    worst = {name: 0.0 for name in backends}
    for layer in layers:
        x = inputs[entry.model.layers.index(layer)]
        with engine_errors(node):
            results = compare_layer(layer, x, backends, repeat=node.get("repeat"))
        for row in results:
            if row.error is not None:
                missing[row.backend] = row.error
                continue
            totals[row.backend] += row.ms
            worst[row.backend] = max(worst[row.backend], row.max_diff)
            grads = ", ".join(f"{key} {_diff(v)}" for key, v in row.grad_diffs.items()) or "no gradients"
            reference = row.backend == REFERENCE
            notes += [f"{layer.name} on {row.backend}: {note}" for note in row.notes]
            rows.append((layer.name, row.backend, f"{row.ms:.3f}", f"{row.speedup:.2f}x",
                         "reference" if reference else _diff(row.output_diff),
                         "reference" if reference else grads))
    session.out.table(("layer", "backend", "ms fwd+bwd", "speed-up", "output diff", "gradient diffs"), rows,
                      justify=("left", "left", "right", "right", "right", "left"))
    session.out.note(f"batch of {len(inputs[0])}, median of {node.get('repeat')} runs after a warm-up; "
                     f"diff = max|a - numpy| / max|numpy|; x is the input's gradient")
    if notes:
        session.out.print("why:")
        for note in notes:
            session.out.print(f"  {note}")
    descriptions = {name: description for name, description, _ in engine.backends.describe_backends()}
    for name in backends:
        if name != REFERENCE and name not in missing and totals[name] > 0:
            session.out.print(f"{name}: {totals[REFERENCE] / totals[name]:.2f}x the speed of numpy over these "
                              f"layers, largest difference {_diff(worst[name])} ({descriptions.get(name, '')})")
    for name, why in missing.items():
        session.out.note(f"{name} not compared: {why}")
    session.done(f"compared {len(layers)} layer{'s' * (len(layers) != 1)} of {entry.name}",
                 time.perf_counter() - start)


def st_kernel(session: Session, node: Node) -> None:
    from engine.tools.kernel_source import kernel_sources, summary

    op = node.value("op")
    backend = node.value("backend") or session.backend_name
    with engine_errors(node, at="backend" if node.has("backend") else None):
        sources = kernel_sources(op, backend)
    if not sources:
        raise node.error(f"no {backend} kernel found for {op}", at="op")
    session.out.note(summary(backend, sources))
    session.out.note("in call order: " + " -> ".join(source.name for source in sources))
    session.out.print()
    for source in sources:
        session.out.heading(f"{source.name}  [{source.kind}]  {source.where}")
        session.out.note(source.launch)
        session.out.code(source.source, source.language)
        session.out.print()


def st_gradcheck(session: Session, node: Node) -> None:
    from engine.tools.gradcheck import gradcheck_layer

    entry = session.entry(node)
    layers = _chosen_layers(node, entry)
    tol = node.get("tol")
    rng = np.random.default_rng(node.get("seed"))
    start = time.perf_counter()
    rows, failed = [], 0
    for layer in layers:
        x = rng.standard_normal((node.get("batch"), *layer.input_shape[1:]))
        with engine_errors(node):
            errors = gradcheck_layer(layer, x, seed=node.get("seed"))
        worst = max(errors.values())
        ok = worst <= tol
        failed += not ok
        rows.append((layer.name, type(layer).__name__, f"{worst:.1e}", "pass" if ok else "FAIL",
                     ", ".join(f"{key} {value:.1e}" for key, value in errors.items())))
    session.out.table(("layer", "class", "max error", f"tol {tol:g}", "per input"), rows,
                      justify=("left", "left", "right", "left", "left"))
    session.out.note(f"float64 copies of the layers, random input, backend {session.backend_name}; "
                     "error = max|analytic - numeric| / (max|analytic| + max|numeric|)")
    if failed:
        text = f"{len(rows) - failed} of {len(rows)} layers pass"
    else:
        text = f"all {len(rows)} layers pass" if len(rows) > 1 else f"layer {rows[0][0]} passes"
    session.done(text, time.perf_counter() - start)
    if failed:
        raise node.error(f"{failed} layer{'s' * (failed != 1)} failed the gradient check (tol {tol:g})",
                         "the table above shows which input or weight")
