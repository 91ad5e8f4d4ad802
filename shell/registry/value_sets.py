"""The value sets: the words a choice-like option accepts (`Option.values` names one of them).

Value sets that the engine already defines (activations, paddings, optimizers, losses, metrics, backends)
are read from the engine, when first asked for; nothing is listed twice.
"""
from __future__ import annotations

from typing import Callable


def _activations() -> tuple[str, ...]:
    from engine.functional import ACTIVATION_NAMES
    return tuple(ACTIVATION_NAMES)


def _recurrent_activations() -> tuple[str, ...]:
    from engine.backends.contract import RECURRENT_ACTIVATIONS
    return RECURRENT_ACTIVATIONS


def _paddings() -> tuple[str, ...]:
    from engine.shapes import PADDINGS
    return PADDINGS


def _optimizers() -> tuple[str, ...]:
    from engine import optimizers
    return tuple(sorted(optimizers.BY_NAME))


def _losses() -> tuple[str, ...]:
    from engine import losses
    return tuple(losses.BY_NAME)


def _metrics() -> tuple[str, ...]:
    from engine import metrics
    names = ["accuracy", *metrics.SCORES, *metrics.ALIASES]
    return tuple(dict.fromkeys(names))


def _edge_filters() -> tuple[str, ...]:
    from engine.lecture.experiments import EDGE_FILTERS
    return tuple(EDGE_FILTERS)


def _kernel_ops() -> tuple[str, ...]:
    from engine.tools.kernel_source import op_names
    return op_names()


def _backends() -> tuple[str, ...]:
    from engine.backends import backend_names
    return tuple(backend_names())


# The layer names and the help topics are the tables' own words: read through the lookups when first asked
# for (the tables import this module, so the lookups cannot be imported here at import time).

def _layers() -> tuple[str, ...]:
    from shell.registry.lookup import layer_heads
    return tuple(layer_heads())


def _topics() -> tuple[str, ...]:
    from shell.registry.lookup import help_topics
    return tuple(dict.fromkeys([*help_topics(), *(word for name in _WORD_SETS
                                                  for word in value_set(name))]))


SPLITS = ("train", "test")
EVAL_SPLITS = ("both", "train", "test")
LAYOUTS = ("steps", "features")
SCALES = ("unit", "symmetric", "none")
SERIES_FORMATS = ("windows", "standard")
VALIDATION_DATA = ("none", "test")

#: name -> tuple of words or a zero-argument function returning them (dynamic sets come from the engine).
VALUE_SETS: dict[str, tuple[str, ...] | Callable[[], tuple[str, ...]]] = {
    "activations": _activations,
    "recurrent_activations": _recurrent_activations,
    "optimizers": _optimizers,
    "losses": _losses,
    "metrics": _metrics,
    "paddings": _paddings,
    "backends": _backends,
    "kernel_ops": _kernel_ops,
    "splits": SPLITS,
    "eval_splits": EVAL_SPLITS,
    "layouts": LAYOUTS,
    "scales": SCALES,
    "series_formats": SERIES_FORMATS,
    "validation_data": VALIDATION_DATA,
    "edge_filters": _edge_filters,
    "layers": _layers,
    "topics": _topics,
}

#: the value sets whose words `help` explains
_WORD_SETS = ("activations", "optimizers", "losses", "metrics", "paddings", "backends")

_VALUE_CACHE: dict[str, tuple[str, ...]] = {}


def value_set(name: str) -> tuple[str, ...]:
    """The words of value set `name` (engine-defined sets are read once)."""
    if name not in _VALUE_CACHE:
        source = VALUE_SETS[name]
        _VALUE_CACHE[name] = tuple(source() if callable(source) else source)
    return _VALUE_CACHE[name]
