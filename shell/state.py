"""What a session holds: the current :class:`Data` and a :class:`ModelEntry` for each model."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.models import Sequential
from shell.language.parser import Node
from shell.output import format_shape


@dataclass
class Data:
    """The current data: training and test arrays and, for series, the series itself."""
    name: str
    x_train: np.ndarray | None = None
    y_train: np.ndarray | None = None
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    series: np.ndarray | None = None      # 1-D values (sine, energies, csv series)
    series_x: np.ndarray | None = None    # its x axis
    train_points: int | None = None       # the known / training part of the series
    format: str = "windows"               # series samples: "windows" (y values -> next y) or "standard" (x -> y)
    note: str = ""

    def has_test(self) -> bool:
        return self.x_test is not None and len(self.x_test) > 0

    def split(self, which: str):
        if which == "test":
            return self.x_test, self.y_test
        return self.x_train, self.y_train

    @property
    def input_shape(self) -> tuple | None:
        """One sample's shape (what a model without input= takes), or None for a bare series."""
        return None if self.x_train is None else tuple(int(d) for d in self.x_train.shape[1:])

    def describe(self) -> str:
        parts = []
        if self.x_train is not None:
            parts.append(f"{len(self.x_train)} train" + (f", {len(self.x_test)} test" if self.has_test() else "")
                         + f"; x {format_shape((None, *self.x_train.shape[1:]))}"
                         + f", y {format_shape((None, *np.shape(self.y_train)[1:]))}")
        elif self.series is not None:
            parts.append(f"a series of {len(self.series)} values")
        if self.note:
            parts.append(self.note)
        return "; ".join(parts)


@dataclass
class ModelEntry:
    """A model defined with `model NAME ... end` and what the session knows about it."""
    name: str
    model: Sequential
    header: Node
    input_shape: tuple | None = None
    layers: list = field(default_factory=list)       # [(Node, layer name)] of accepted layer lines
    counts: dict = field(default_factory=dict)        # Keras-style name numbering within this model
    compile_node: Node | None = None
    history: dict = field(default_factory=dict)       # every epoch trained in this session
    epochs_trained: int = 0
    unsaved: bool = False                             # weights changed since the last `save/load weights`

    @property
    def compiled(self) -> bool:
        return self.model.optimizer is not None

    def add_history(self, epochs: int, history: dict) -> None:
        """Append `epochs` finished epochs (`history`: key -> one value per epoch); keys new to this model
        are padded with NaN for its earlier epochs, keys it had but `history` lacks get NaN."""
        if not epochs:
            return
        for key in dict.fromkeys([*self.history, *history]):
            column = self.history.setdefault(key, [float("nan")] * self.epochs_trained)
            column.extend(history.get(key, [float("nan")] * epochs))
        self.epochs_trained += epochs
