"""`help`, `layers` (both read the registry) and `backend` (list the backends, or switch)."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

import engine
from shell.language.parser import Node
from shell.output import format_shape
from shell.registry import lookup
from shell.registry.layer_table import LAYERS
from shell.registry.specs import Command, LayerSpec
from shell.registry.statement_table import BLOCK_KEYWORDS, STATEMENTS
from shell.registry.value_sets import VALUE_SETS, value_set
from shell.statements.common import engine_errors

if TYPE_CHECKING:
    from shell.interpreter import Session


def st_help(session: Session, node: Node) -> None:
    topic = node.value("topic")
    if topic is None:
        _help_overview(session)
        return
    word = topic.lower()
    stmt = lookup.find_statement(word)
    layer = lookup.find_layer(word)
    if stmt is not None:
        _help_statement(session, stmt)
    elif layer is not None:
        _help_layer(session, layer)
    elif word == "language":
        from shell.language.parser import GRAMMAR
        session.out.raw(GRAMMAR)
    elif word in BLOCK_KEYWORDS:
        session.out.print(f"{word}: {BLOCK_KEYWORDS[word]} (inside `model NAME ... end`)")
    elif word in VALUE_SETS:
        session.out.print(f"{word}: {', '.join(value_set(word))}")
    else:
        for name in VALUE_SETS:
            if name not in ("topics", "layers") and word in value_set(name):
                session.out.print(f"{word} is one of the {name}: {', '.join(value_set(name))}")
                break


def _help_overview(session: Session) -> None:
    rows = [(s.name + (f" ({', '.join(s.aliases)})" if s.aliases else ""), s.help) for s in STATEMENTS]
    session.out.table(("statement", "what it does"), rows, justify=("left", "left"))
    session.out.print("Inside `model NAME ... end`: one layer per line (`layers` lists them), `end` closes the block.")
    session.out.print("`help TOPIC` for a statement, a layer, a value set (activations, optimizers, losses, "
                      "metrics, backends) or `language`.")


def _options_table(session: Session, options) -> None:
    rows = []
    for opt in options:
        names = opt.name + (f" ({', '.join(opt.aliases)})" if opt.aliases else "")
        kind = opt.placeholder if opt.kind != "choice" else "|".join(opt.choices)
        check = f"; {opt.check.describe}" if opt.check is not None else ""
        rows.append((names + (" *" if opt.positional else ""), kind, opt.describe_default(), opt.help + check))
    if rows:
        session.out.table(("option", "value", "default", "meaning"), rows, justify=("left", "left", "left", "left"))
        if any(opt.positional for opt in options):
            session.out.note("* may be written without its name, in this order")


def _help_statement(session: Session, stmt: Command) -> None:
    session.out.heading(f"{stmt.name}: {stmt.help}")
    if stmt.details:
        session.out.print(stmt.details)
    forms = stmt.subcommands or (stmt,)
    for form in forms:
        session.out.print(f"usage: {form.usage()}")
        if stmt.subcommands:
            session.out.print(f"  {form.help}")
        _options_table(session, form.options)
        if stmt.subcommands and form.example:
            session.out.print(f"example: {form.example}")
    if not stmt.subcommands and stmt.example:
        session.out.print("example:")
        for line in stmt.example.splitlines():
            session.out.print("    " + line)


def _help_layer(session: Session, spec: LayerSpec) -> None:
    session.out.heading(f"{spec.name} ({spec.keras}): {spec.help}")
    session.out.print(f"usage: {spec.usage()}")
    if spec.shape_rule:
        session.out.print(f"shape: {spec.shape_rule}")
    _options_table(session, spec.options)
    session.out.print(f"example (input {format_shape((None, *spec.example_input))}): {spec.example}")


def st_layers(session: Session, node: Node) -> None:
    name = node.value("layer")
    if name is not None:
        _help_layer(session, lookup.find_layer(name))
        return
    rows = [(spec.name, spec.keras, spec.usage().split(" ", 1)[1] if " " in spec.usage() else "")
            for spec in LAYERS]
    session.out.table(("layer", "engine class", "options"), rows, justify=("left", "left", "left"))
    session.out.note("`layers NAME` or `help NAME` for one layer's options, shape rule and an example")


def st_backend(session: Session, node: Node) -> None:
    name = node.value("backend")
    start = time.perf_counter()
    if name is None:
        rows = []
        for backend, description, reason in engine.backends.describe_backends():
            mark = "*" if backend == session.backend_name else ""
            rows.append((f"{backend}{' ' + mark if mark else ''}", "yes" if reason is None else "no",
                         description if reason is None else f"{description} - {reason}"))
        session.out.table(("backend", "available", "what / why not"), rows, justify=("left", "left", "left"))
        session.done(f"current backend: {session.backend_name}", time.perf_counter() - start)
        return
    with engine_errors(node, at="backend"):
        backend = engine.set_backend(name)
    session.backend_name = backend.name
    session.done(f"backend {backend.name}: {backend.description or ''}".rstrip(": "), time.perf_counter() - start)
