"""One seedable source of randomness for weight initialisation, dropout masks and shuffling.

`set_seed(s)` makes a run repeatable (Keras: keras.utils.set_random_seed).
"""
from __future__ import annotations

import numpy as np

_generator = [np.random.default_rng()]


def set_seed(seed: int | None) -> None:
    _generator[0] = np.random.default_rng(seed)


def generator() -> np.random.Generator:
    return _generator[0]
