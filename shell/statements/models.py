"""`model` (the line that opens a block: see blocks.py), `use`, `compile` and `summary`."""
from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

from shell.errors import did_you_mean
from shell.language.parser import Node
from shell.registry.value_sets import value_set
from shell.statements.common import engine_error, engine_errors

if TYPE_CHECKING:
    from shell.interpreter import Session


def st_model(session: Session, node: Node) -> None:  # a `model` line is always part of a block (blocks.py)
    raise node.error("a model line opens a block", "follow it with layer lines and `end`")


def st_use(session: Session, node: Node) -> None:
    name = node.value("name")
    if name not in session.models:
        raise node.error(f"no model named '{name}'", did_you_mean(name, list(session.models), "models") or
                         "define it with `model NAME ... end`", at="name")
    session.current = name
    session.out.print(f"current model: {name}")


def st_compile(session: Session, node: Node) -> None:
    entry = session.entry(node)
    optimizer, loss, metrics = compile_parts(node)
    with engine_errors(node):
        entry.model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    entry.compile_node = node
    config = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                       for k, v in optimizer.get_config().items() if k != "name")
    shown = f"{type(optimizer).__name__}({config})"
    metric_text = ", ".join(metrics) if metrics else "none"
    logits = " (from logits)" if node.get("from_logits") else ""
    session.out.print(f"compiled {entry.name}: optimizer {shown}, loss {loss.name}{logits}, metrics {metric_text}")


def compile_parts(node: Node, lr: float | None = None):
    """(optimizer, loss, metric names) of a `compile` line; `lr` replaces its learning rate (for grid)."""
    from engine import losses, optimizers
    name = node.get("optimizer")
    cls = type(optimizers.get(name))
    kwargs = {}
    rate = lr if lr is not None else node.value("lr")
    if rate is not None:
        kwargs["learning_rate"] = rate
    for option in ("momentum", "nesterov"):
        if not node.has(option):
            continue
        if not _accepts(cls, option):
            users = [n for n in value_set("optimizers") if _accepts(type(optimizers.get(n)), option)]
            raise node.error(f"optimizer {name} has no option {option}", f"{option} works with: {', '.join(users)}",
                             at=option, key=True)
        kwargs[option] = node.value(option)
    try:
        optimizer = cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise engine_error(exc, node) from None
    loss = losses.get(node.get("loss"))
    if node.get("from_logits"):
        if isinstance(loss, losses.MeanSquaredError):
            raise node.error("from_logits only applies to the cross-entropy losses", at="from_logits")
        loss = type(loss)(from_logits=True)
    metrics = list(node.get("metrics") or ())
    return optimizer, loss, metrics


def _accepts(cls, keyword: str) -> bool:
    return keyword in inspect.signature(cls.__init__).parameters


def st_summary(session: Session, node: Node) -> None:
    entry = session.entry(node, "name")
    if not entry.model.built:
        raise node.error(f"model '{entry.name}' is not built yet", "give it an input shape")
    from engine.summary import render_summary
    out = session.out
    # Keras's 88 columns, narrower on a narrower terminal (the columns keep their ratios; long names wrap)
    session.out.raw(render_summary(entry.model, max(40, min(88, out.console.width - 4)) if out.terminal else None))


def st_undo(session: Session, node: Node) -> None:
    """`undo` outside a block (inside one, blocks.py takes back the last layer line)."""
    raise node.error("there is no open model block to take a layer back from",
                     "`undo` works between `model NAME` and `end`; to change a finished model, define it again")
