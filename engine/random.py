"""One seedable source of randomness for weight initialisation, dropout masks and shuffling.

`set_seed(s)` makes a run repeatable (Keras: keras.utils.set_random_seed). `get_state` / `set_state`
save and restore the generator exactly (a checkpoint records it, so a resumed run draws what the
uninterrupted run would have drawn).
"""
from __future__ import annotations

import numpy as np

_generator = [np.random.default_rng()]


def set_seed(seed: int | None) -> None:
    _generator[0] = np.random.default_rng(seed)


def generator() -> np.random.Generator:
    return _generator[0]


def get_state(rng: np.random.Generator | None = None) -> dict:
    """The generator's full state (plain ints and strings: JSON can hold it)."""
    return (rng or generator()).bit_generator.state


def set_state(state: dict, rng: np.random.Generator | None = None) -> None:
    """Put `state` (from get_state) back; a state that does not fit raises ValueError."""
    target = rng or generator()
    try:
        target.bit_generator.state = state
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
        raise ValueError(f"not a {type(target.bit_generator).__name__} random state") from exc
