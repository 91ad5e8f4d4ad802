"""Checks on data before training on it: finite values, labels in the class range, non-empty, real numbers.

Each failed check is one DataError that names where the data came from (a file, or `x` / `y` of fit),
how many values are wrong, where the first one is, and the range that was expected, so a NaN in a CSV file
is found before it turns every loss into nan.
"""
from __future__ import annotations

import numpy as np


class DataError(ValueError):
    """A data file is missing or malformed, or an argument has the wrong size."""


def check_numbers(array, what: str, source: str | None = None) -> np.ndarray:
    """`array` as a NumPy array of real numbers (no complex, text or objects)."""
    array = np.asarray(array)
    if array.dtype.kind not in "biuf":
        raise DataError(f"{_where(source)}{what} must hold real numbers, got {_dtype_name(array.dtype)}")
    return array


def check_finite(array, what: str, source: str | None = None, first_row: int = 0, row_word: str = "sample") -> None:
    """No NaN or infinite values; the error counts them and names the first one's row (`first_row` is the
    number of the array's first row, e.g. 1 for lines of a file)."""
    array = np.asarray(array)
    if array.dtype.kind != "f":
        return
    finite = np.isfinite(array)
    if finite.all():
        return
    bad = int(array.size - np.count_nonzero(finite))
    row = int(np.argwhere(~finite)[0][0]) + first_row if array.ndim else first_row
    raise DataError(f"{_where(source)}{what} holds {bad} NaN or infinite value{'s' if bad != 1 else ''} "
                    f"(the first in {row_word} {row}); expected finite numbers")


def check_labels(labels, classes: int, what: str, source: str | None = None) -> None:
    """Integer class labels in 0..classes-1."""
    labels = np.asarray(labels)
    if labels.size == 0:
        return
    outside = (labels < 0) | (labels >= classes)
    if outside.any():
        count = int(np.count_nonzero(outside))
        first = int(np.argwhere(outside.reshape(-1))[0][0])
        verb = "are" if count != 1 else "is"
        raise DataError(f"{_where(source)}{count} of the {what} {verb} outside the class range "
                        f"0..{classes - 1} (the first is number {first}, {int(labels.reshape(-1)[first])}); "
                        f"expected labels 0 to {classes - 1}")


def check_not_empty(array, what: str, source: str | None = None) -> None:
    if len(array) == 0:
        raise DataError(f"{_where(source)}{what} holds no samples (0 of them); expected at least one")


def check_training_data(x, y, classes: int | None, source: str | None = None) -> None:
    """What fit needs of its data: real finite inputs and targets, and (for integer class labels and a
    model with `classes` outputs) labels in range."""
    check_numbers(x, "x", source)
    check_finite(x, "x", source)
    y = check_numbers(y, "y", source)
    check_finite(y, "y", source)
    if classes is not None and y.dtype.kind in "iu":
        check_labels(y, classes, "labels", source)


def _where(source: str | None) -> str:
    return f"{source}: " if source else ""


def _dtype_name(dtype) -> str:
    return {"c": "complex numbers", "U": "text", "S": "bytes", "O": "Python objects",
            "M": "dates", "m": "time spans", "V": "records"}.get(dtype.kind, str(dtype))
