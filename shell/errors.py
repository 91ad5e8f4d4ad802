"""The one error type of the `.nn` language: a positioned message with the line, a caret and a hint.

Every user mistake (a typo, a bad value, a shape that does not fit, training before compiling, a missing
file) becomes an :class:`NNError`; nothing else ever reaches the user as a traceback. Plain rendering::

    digits.nn:5:22: error: unknown activation 'sofmax'
        dense 10 activation=sofmax
                            ^^^^^^
    hint: did you mean 'softmax'?
"""
from __future__ import annotations

import difflib
from typing import Iterable


class NNError(Exception):
    """A user error at a position. `line` and `column` count from 1; `length` is the caret's width."""

    def __init__(self, message: str, *, file: str = "<input>", line: int = 1, column: int = 1,
                 source_line: str = "", hint: str | None = None, length: int = 1):
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = max(1, int(line))
        self.column = max(1, int(column))
        self.source_line = source_line.rstrip("\r\n")
        self.hint = hint
        self.length = max(1, int(length))

    # --- rendering ------------------------------------------------------------------------------------
    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"

    def headline(self) -> str:
        return f"{self.location}: error: {self.message}"

    def caret_lines(self, indent: str = "    ") -> list[str]:
        """The offending line and a caret under the bad token (tabs shown as single spaces)."""
        if not self.source_line.strip():
            return []
        text = self.source_line.replace("\t", " ")
        start = min(self.column - 1, len(text))
        width = max(1, min(self.length, max(1, len(text) - start)))
        return [indent + text, indent + " " * start + "^" * width]

    def format(self) -> str:
        """`file:line:col: error: message`, the line, a caret and `hint: ...` as plain text."""
        lines = [self.headline(), *self.caret_lines()]
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()

    def __repr__(self) -> str:
        return f"NNError({self.message!r}, {self.location})"


def memory_message(exc: MemoryError) -> str:
    """What an allocation that failed asked for, in words: NumPy's MemoryError knows the array's shape and
    dtype ("an array of shape (64, 100000000000) of float32 would take 23.28 TB")."""
    shape, dtype = getattr(exc, "shape", None), getattr(exc, "dtype", None)
    if shape is None or dtype is None:
        return "not enough memory for what this asks for"
    from engine.summary import readable_memory_size
    size = float(dtype.itemsize)
    for n in shape:
        size *= n
    amount = readable_memory_size(size)
    shown = "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"
    return f"not enough memory: an array of shape {shown} of {dtype} would take {amount}"


def closest(word: str, candidates: Iterable[str], n: int = 1, cutoff: float = 0.6) -> list[str]:
    """The candidates closest to `word` (difflib), compared case-insensitively."""
    candidates = list(dict.fromkeys(candidates))
    lowered = {c.lower(): c for c in candidates}
    matches = difflib.get_close_matches(word.lower(), list(lowered), n=n, cutoff=cutoff)
    return [lowered[m] for m in matches]


def did_you_mean(word: str, candidates: Iterable[str], what: str = "", show_all: int = 12) -> str:
    """A hint: 'did you mean X?' when one is close, and the valid names when there are few of them."""
    candidates = list(dict.fromkeys(candidates))
    best = closest(word, candidates)
    parts = []
    if best:
        parts.append(f"did you mean '{best[0]}'?")
    if candidates and len(candidates) <= show_all:
        label = f"{what}: " if what else ""
        parts.append(f"{'valid ' + label if label else 'one of: '}{', '.join(candidates)}")
    return " ".join(parts) if parts else ""
