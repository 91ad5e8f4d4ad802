"""`model NAME ... end` blocks: a Sequential built line by line (from a script, or typed at the prompt where
`abort` discards it), rebuilt with fresh weights for `grid`, and the shape check that the prompt makes
on a layer line before it runs (`LayerShapes`: nothing is built, no weights, no random numbers)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.layers import InputLayer, ShapeError, snake_case
from engine.models import ModelError, Sequential
from shell.errors import NNError, did_you_mean, memory_message
from shell.language.parser import ModelBlock, Node
from shell.output import format_shape
from shell.registry import lookup
from shell.registry.specs import LayerSpec
from shell.registry.statement_table import BLOCK_KEYWORDS
from shell.state import ModelEntry
from shell.statements.common import engine_error

if TYPE_CHECKING:
    from shell.interpreter import Session


@dataclass
class PromptBlock:
    """A model block being typed at the prompt."""
    entry: ModelEntry
    lines: list
    previous_current: str | None
    replaced: ModelEntry | None
    extended: tuple | None = None    # (model layers, entry layers, counts) before an `extend=true` block


# --- scripts and the prompt ----------------------------------------------------------------------------

#: The line kinds that only mean something inside a block (the registry's block keywords).
BLOCK_ONLY = tuple(BLOCK_KEYWORDS)


def run_block(session: Session, block: ModelBlock) -> None:
    """A whole block from a script: a script keeps the layers built before a failing line (to look at);
    with `session.atomic_blocks` (notebook cells) the block is undone as `abort` would, so no half-built
    model is left current (the model it replaced, or extended, is back)."""
    opened = open_block(session, block.header)
    try:
        for node in block.layers:
            _block_item(session, opened, node)
        finish_model(session, opened.entry, block.end)
    except BaseException:
        if session.atomic_blocks:
            _abort(session, opened, quiet=True)
        raise


def open_block(session: Session, node: Node) -> PromptBlock:
    """`model NAME ...` typed at the prompt: the block stays open for the layer lines."""
    previous = session.current
    replaced = session.models.get(node.value("name"))
    entry = start_model(session, node)
    extended = None
    if node.get("extend"):
        replaced = None
        extended = (len(entry.model.layers), len(entry.layers), dict(entry.counts))
    return PromptBlock(entry, [node.source], previous, replaced, extended)


def block_line(session: Session, block: PromptBlock, node: Node) -> bool:
    """One line typed inside an open block; True when it closed the block (`end` or `abort`). An `end`
    with no layers closes the block without defining a model (nothing to keep)."""
    if node.kind == "end":
        if not block.entry.model.layers and block.extended is None:
            _abort(session, block, quiet=True)
            session.out.note(f"model '{block.entry.name}' has no layers: the block is closed, no model defined")
            return True
        finish_model(session, block.entry, node)
        session.transcript.append("\n".join(block.lines + ["end"]))
        return True
    if node.kind == "abort":
        _abort(session, block)
        return True
    _block_item(session, block, node)
    return False


def _block_item(session: Session, block: PromptBlock, node: Node) -> None:
    """A line inside a block that does not close it: a layer, `undo`, or a statement that only looks."""
    if node.kind == "statement" and node.name == "undo":
        _undo(session, block, node)
    elif node.kind == "statement":
        from shell import statements
        statements.handler(node.name)(session, node)
    else:
        add_layer(session, block.entry, node)
        block.lines.append("  " + node.source)


def _undo(session: Session, block: PromptBlock, node: Node) -> None:
    """Take back the block's last layer line (its layer, its name number and its source line)."""
    entry = block.entry
    kept = block.extended[1] if block.extended is not None else 0     # an extended model keeps its own layers
    if len(entry.layers) <= kept:
        raise node.error("there is no layer line in this block to take back",
                         "`abort` discards the block, `end` closes it")
    layer_node, name = entry.layers.pop()
    block.lines.pop()
    if layer_node.spec.keras == "InputLayer":
        entry.model.input_layer, entry.input_shape = None, None
        what = "input"
    else:
        layer = entry.model.layers.pop()
        if "name" not in layer_node.values():
            entry.counts[snake_case(layer_node.spec.keras)] -= 1
        what = f"{name} ({type(layer).__name__})"
    model = entry.model
    shape = (model.layers[-1].output_shape if model.layers else
             model.input_layer.output_shape if model.input_layer is not None else None)
    now = f"output now {format_shape(shape)}" if shape is not None else "no layers left"
    session.out.print(f"  took back {what}; {now}")


def _abort(session: Session, block: PromptBlock, quiet: bool = False) -> None:
    """Undo an open block: its model goes (the one it replaced comes back), or an extended model loses
    the added layers; the model that was current before is current again."""
    entry = block.entry
    session.current = block.previous_current
    if block.extended is not None:
        n_model, n_entry, counts = block.extended
        added = len(entry.model.layers) - n_model
        del entry.model.layers[n_model:]
        del entry.layers[n_entry:]
        entry.counts = counts
        what = f"model '{entry.name}': {added} added layer{'s' if added != 1 else ''} discarded"
    else:
        del session.models[entry.name]
        if block.replaced is not None:
            session.models[block.replaced.name] = block.replaced
        what = f"model '{entry.name}' discarded"
    if not quiet:
        session.out.note(what)


# --- building ------------------------------------------------------------------------------------------

def start_model(session: Session, node: Node) -> ModelEntry:
    name = node.value("name")
    input_shape = node.value("input")
    if node.get("extend"):
        entry = session.models.get(name)
        if entry is None:
            raise node.error(f"no model named '{name}' to extend",
                             did_you_mean(name, list(session.models), "models") or
                             "define it first: model NAME input=(...) / layer lines / end", at="name")
        if input_shape is not None:
            raise node.error(f"model '{name}' already has its input; extend=true only adds layers", at="input")
        session.current = name
        last = entry.model.layers[-1] if entry.model.layers else None
        after = f"after {last.name} {format_shape(last.output_shape)}" if last is not None else \
            "(it has no layers yet)"
        session.out.print(f"model {name}: adding layers {after}")
        return entry
    if name in session.models:
        session.out.note(f"replacing model '{name}'")
    entry = ModelEntry(name, Sequential(name=name), node, input_shape=input_shape)
    if input_shape is not None:
        entry.model.input_layer = InputLayer(shape=input_shape, name="input_layer")
    session.models[name] = entry
    session.current = name
    shown = format_shape((None, *input_shape)) if input_shape else "from the data"
    session.out.print(f"model {name}: input {shown}")
    return entry


def add_layer(session: Session, entry: ModelEntry, node: Node) -> None:
    spec: LayerSpec = node.spec
    model = entry.model
    if spec.keras == "InputLayer":
        if model.layers or model.input_layer is not None:
            raise node.error("the input shape is already set", "`input (...)` can only be the first line "
                             "of a model without input=")
        shape = node.value("shape")
        entry.input_shape = shape
        model.input_layer = InputLayer(shape=shape, name="input_layer")
        entry.layers.append((node, "input_layer"))
        session.out.print(f"  input                              {format_shape((None, *shape))}")
        return
    if model.input_layer is None and not model.layers:
        shape = session.data_input_shape()
        if shape is None:
            raise node.error(f"model '{entry.name}' does not know its input shape yet",
                             f"write `model {entry.name} input=(8,8,1)`, start the block with `input (8,8,1)`, "
                             f"or load data first")
        entry.input_shape = shape
        model.input_layer = InputLayer(shape=shape, name="input_layer")
        session.out.note(f"  input {format_shape((None, *shape))} from the data")
    values = node.values()
    name = _layer_name(entry.counts, spec, values)
    if any(layer.name == name for layer in model.layers):
        raise node.error(f"model '{entry.name}' already has a layer named '{name}'", "choose another name=",
                         at="name")
    try:
        layer = spec.build(values, name=name)
        model.add(layer)
    except MemoryError as exc:          # the size asked for (e.g. dense 100000000000): at the layer's line
        raise node.error(f"layer '{name}': {memory_message(exc)}", "ask for fewer units or filters") from None
    except ShapeError as exc:
        raise node.error(str(exc), LayerShapes.after(session, entry).hint()) from None
    except (ValueError, ModelError) as exc:
        raise engine_error(exc, node) from None
    _count_name(entry.counts, spec, values)
    entry.layers.append((node, name))
    label, shape, params = f"{name} ({type(layer).__name__})", format_shape(layer.output_shape), layer.count_params()
    if session.out.console.width >= 80:
        session.out.print(f"  {label:<34} {shape:<22} {params:>9,} params")
    else:                               # a narrow terminal: no alignment, so the line fits
        session.out.print(f"  {label} {shape} {params:,} params")


def finish_model(session: Session, entry: ModelEntry, end: Node | None) -> None:
    model = entry.model
    if not model.layers:
        node = end or entry.header
        raise node.error(f"model '{entry.name}' has no layers",
                         "put layer lines between `model NAME` and `end`; `layers` lists them")
    count = len(model.layers)
    session.out.print(f"model {entry.name}: {count} layer{'s' if count != 1 else ''}, output "
                      f"{format_shape(model.output_shape)}, {model.count_params():,} params")


def rebuild(entry: ModelEntry, l2: float | None = None) -> Sequential:
    """A fresh copy of a model's architecture (new weights), optionally with every l2 option replaced."""
    model = Sequential(name=entry.name)
    if entry.input_shape is not None:
        model.input_layer = InputLayer(shape=entry.input_shape, name="input_layer")
    for node, name in entry.layers:
        spec = node.spec
        if spec.keras == "InputLayer":
            continue
        values = node.values()
        if l2 is not None and lookup.find_option(spec, "l2") is not None:
            values["l2"] = l2
        model.add(spec.build(values, name=name))
    return model


def _layer_name(counts: dict, spec: LayerSpec, values: dict) -> str:
    """The layer's name=, else Keras's numbering within the model: dense, dense_1, ..."""
    base = snake_case(spec.keras)
    count = counts.get(base, 0)
    return values.get("name") or (base if count == 0 else f"{base}_{count}")


def _count_name(counts: dict, spec: LayerSpec, values: dict) -> None:
    """Take the number _layer_name gave (after the layer was accepted)."""
    if "name" not in values:
        base = snake_case(spec.keras)
        counts[base] = counts.get(base, 0) + 1


# --- the prompt's shape check --------------------------------------------------------------------------

class LayerShapes:
    """Follows the output shape through layer lines without building anything: each layer is constructed
    with the name it would get (so the engine's name counters are not used) and asked for
    `compute_output_shape`, the check `Sequential.add` makes when the line runs."""

    def __init__(self, shape, counts=None, layers: int = 0, declared: bool = False, previous: str | None = None):
        self.shape = None if shape is None else tuple(shape)
        self.counts = dict(counts or {})
        self.layers = layers
        self.declared = declared   # the input shape was written (input= or an `input` line), not the data's
        self.previous = previous   # the last layer's name (for the hint)

    @classmethod
    def after(cls, session: Session, entry: ModelEntry) -> LayerShapes:
        """At the end of a model's layers so far (an open block, or `model NAME extend=true`)."""
        model = entry.model
        tracker = cls(None, entry.counts, len(model.layers), declared=bool(model.layers) or
                      model.input_layer is not None)
        if model.layers:
            tracker.shape, tracker.previous = model.layers[-1].output_shape, model.layers[-1].name
        elif model.input_layer is not None:
            tracker.shape = model.input_layer.output_shape
        else:
            shape = session.data_input_shape()
            tracker.shape = None if shape is None else (None, *shape)
        return tracker

    @classmethod
    def for_header(cls, session: Session, node: Node) -> LayerShapes:
        """After a `model` line that opens a block (not run yet)."""
        if node.get("extend"):
            entry = session.models.get(node.value("name"))
            return cls.after(session, entry) if entry is not None else cls(None, declared=True)
        shape = node.value("input")
        if shape is not None:
            return cls((None, *shape), declared=True)
        data_shape = session.data_input_shape()
        return cls(None if data_shape is None else (None, *data_shape))

    def hint(self) -> str:
        if self.previous:
            return f"the previous layer '{self.previous}' outputs {format_shape(self.shape)}"
        if self.shape is not None:
            return f"the model's input is {format_shape(self.shape)}"
        return "check the input shape"

    def check(self, node: Node) -> NNError | None:
        """The error the layer line would give for the shape so far (None when it fits or cannot be known);
        a line that fits moves the shape on."""
        spec = node.spec
        if spec.keras == "InputLayer":
            if self.layers == 0 and not self.declared:
                self.shape, self.declared = (None, *node.value("shape")), True
            else:
                self.shape = None            # the interpreter reports it; stop following shapes
            return None
        if self.shape is None:
            return None
        values = node.values()
        name = _layer_name(self.counts, spec, values)
        try:
            output = tuple(spec.build(values, name=name).compute_output_shape(self.shape))
        except ShapeError as exc:
            return node.error(str(exc), self.hint())
        except (ValueError, ModelError) as exc:
            return engine_error(exc, node)
        except Exception:  # anything unexpected is left to the interpreter, which reports it when the line runs
            self.shape = None
            return None
        _count_name(self.counts, spec, values)
        self.layers += 1
        self.previous = name
        self.shape = output
        return None
