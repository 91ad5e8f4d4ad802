"""Weight penalties with Keras 3's formulas (``keras/src/regularizers/regularizers.py``).

A regularizer attached to a weight adds its penalty to the loss of every batch, not divided by the
batch size (see ``compute_loss``). ``reg(w)`` gives the penalty as a float, for display;
``reg.gradient(w)`` gives its derivative with respect to ``w``. The training code builds the same
penalty as a differentiable expression.

    L1(λ1):      λ1·Σ|w|             gradient λ1·sign(w)
    L2(λ2):      λ2·Σw²  (no ½)      gradient 2·λ2·w
    L1L2(λ1,λ2): the sum of both
"""
from __future__ import annotations

from engine.config import Configurable
from engine.backends import array_module


class L1L2(Configurable):
    """Penalty λ1·Σ|w| + λ2·Σw²; Keras defaults l1=0.0, l2=0.0."""

    def __init__(self, l1=0.0, l2=0.0):
        for name, value in (("l1", l1), ("l2", l2)):
            if value < 0:
                raise ValueError(f"`{name}` must be >= 0, got {value}")
        self.l1 = float(l1)
        self.l2 = float(l2)

    def __call__(self, w):
        """The penalty, computed in the dtype of ``w`` and returned as a Python float."""
        penalty = 0.0
        if self.l1:
            penalty += float(self.l1 * abs(w).sum())
        if self.l2:
            penalty += float(self.l2 * (w * w).sum())
        return penalty

    def gradient(self, w):
        """d(penalty)/dw = λ1·sign(w) + 2·λ2·w, an array like ``w``."""
        return self.l1 * array_module(w).sign(w) + 2 * self.l2 * w

    def get_config(self):
        return {"name": type(self).__name__, "l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """Penalty λ·Σ|w|; Keras default l1=0.01."""

    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"name": "L1", "l1": self.l1}


class L2(L1L2):
    """Penalty λ·Σw² with no ½ factor, so the gradient is 2λw; Keras default l2=0.01."""

    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"name": "L2", "l2": self.l2}


# Keras exports the classes under lower-case names too: regularizers.l2(0.01) is L2(0.01).
l1 = L1
l2 = L2
l1_l2 = L1L2

_BY_NAME = {"l1": L1, "l2": L2, "l1_l2": L1L2, "l1l2": L1L2}


def get(identifier):
    """A regularizer from None (no penalty: returns None), a name ('l1', 'l2', 'l1_l2'; any case,
    giving Keras's defaults) or a regularizer instance (returned as is)."""
    if identifier is None or isinstance(identifier, L1L2):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise ValueError(
        f"unknown regularizer {identifier!r}; use None, a regularizer or one of "
        f"{['l1', 'l2', 'l1_l2']}"
    )
