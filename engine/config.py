"""A mixin for objects described by their constructor options (optimizers, regularizers)."""
from __future__ import annotations


class Configurable:
    """`get_config()` returns {"name": ..., option: value, ...}; these rebuild and print from it."""

    def get_config(self) -> dict:
        raise NotImplementedError

    @classmethod
    def from_config(cls, config):
        return cls(**{k: v for k, v in config.items() if k != "name"})

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"
