"""Keras 3's `model.summary()` table (keras/src/utils/summary_utils.py), rendered with Rich.

Three columns at positions [0.45, 0.80, 1.0] of an 88-character line, a row per layer (a functional
model also lists its InputLayer), then the parameter totals with their float32 memory size.
"""
from __future__ import annotations

import io

from engine.shapes import format_shape

POSITIONS = (0.45, 0.80, 1.0)
HEADER = ("Layer (type)", "Output Shape", "Param #")
JUSTIFY = ("left", "left", "right")


def readable_memory_size(size_bytes: float) -> str:
    """33.83 KB style: steps of 1024, two decimals (Keras's readable_memory_size)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size_bytes / 1024 < 1:
            return f"{size_bytes:.2f} {unit}"
        size_bytes /= 1024
    return f"{size_bytes:.2f} PB"


def _count_line(label, count, itemsize=4):
    return f" {label}: {count:,} ({readable_memory_size(count * itemsize)})"


def summary_rows(model):
    """(name (Type), output shape, params) for each row of the table."""
    layers = ([model.input_layer] if model.input_layer is not None and type(model).__name__ == "Model" else [])
    layers += model.layers
    return [(f"{layer.name} ({type(layer).__name__})", format_shape(layer.output_shape), f"{layer.count_params():,}")
            for layer in layers]


def summary_totals(model) -> list[str]:
    trainable = sum(int(w.size) for w in model.trainable_weights)
    frozen = sum(int(w.size) for w in model.non_trainable_weights)
    lines = []
    optimizer_params = 0
    if model.optimizer is not None and model.optimizer.iterations > 0:  # Keras builds it on the first step
        optimizer_params = model.optimizer.variable_count(trainable)
    lines.append(_count_line("Total params", trainable + frozen + optimizer_params))
    lines.append(_count_line("Trainable params", trainable))
    lines.append(_count_line("Non-trainable params", frozen))
    if optimizer_params:
        lines.append(_count_line("Optimizer params", optimizer_params))
    return lines


def render_summary(model, line_length=None) -> str:
    """The summary as plain text (what Keras prints to a non-terminal)."""
    from rich.console import Console
    from rich.table import Column, Table

    model.require_built()
    line_length = line_length or 88
    positions = [int(line_length * p) for p in POSITIONS]
    widths = [b - a for a, b in zip([0] + positions[:-1], positions)]
    columns = [Column(h, justify=j, width=w) for h, j, w in zip(HEADER, JUSTIFY, widths)]
    table = Table(*columns, width=line_length, show_lines=True)
    for row in summary_rows(model):
        table.add_row(*row)
    out = io.StringIO()
    console = Console(file=out, width=line_length, color_system=None, force_terminal=False, highlight=False)
    console.print(f'Model: "{model.name}"')
    console.print(table)
    for line in summary_totals(model):
        console.print(line)
    return out.getvalue().rstrip("\n")
