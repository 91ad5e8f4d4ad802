"""The shell's history: a file of accepted commands that the REPL writes itself, after a command ran.

One entry per command, a whole `model ... end` block as one entry (its lines stay in memory while the block
is open), consecutive duplicates dropped, the newest MAX_HISTORY kept. The file is $NNLAB_HISTORY (empty:
memory only), else ~/.nnlab_history.
"""
from __future__ import annotations

import os
from pathlib import Path

from prompt_toolkit.history import FileHistory, History

HISTORY_ENV = "NNLAB_HISTORY"
DEFAULT_HISTORY = "~/.nnlab_history"
MAX_HISTORY = 2000


def history_path() -> Path | None:
    """Where the history lives: $NNLAB_HISTORY (empty: nowhere), else ~/.nnlab_history."""
    value = os.environ.get(HISTORY_ENV)
    if value is None:
        return Path(DEFAULT_HISTORY).expanduser()
    if not value.strip():
        return None
    return Path(value).expanduser()


# --------------------------------------------------------------------------------------------------
# History
# --------------------------------------------------------------------------------------------------

class NNHistory(FileHistory):
    """A FileHistory the REPL writes to itself, after a command ran (prompt-toolkit's own append on Enter
    is ignored): consecutive duplicates are dropped, the lines of an open block stay in memory until
    `end` stores the whole block as one entry, and the file keeps the newest `limit` entries."""

    def __init__(self, filename, limit: int = MAX_HISTORY):
        self.limit = limit
        self.write_error: str | None = None
        self._transient = 0      # entries at the front of memory that are not in the file (an open block)
        super().__init__(str(filename))

    # prompt-toolkit calls this when Enter is accepted; the REPL records after running instead
    def append_string(self, string: str) -> None:
        pass

    def load_history_strings(self):
        try:
            newest_first = list(super().load_history_strings())
        except OSError:
            return []
        kept: list[str] = []
        for entry in newest_first:
            if kept and kept[-1] == entry:
                continue
            kept.append(entry)
        if len(kept) > self.limit:
            kept = kept[:self.limit]
        if len(newest_first) > self.limit + self.limit // 4:
            self._rewrite(kept)
        return kept

    def _rewrite(self, newest_first: list[str]) -> None:
        """Compact the file to the kept entries (written aside, then moved over the old file)."""
        path = Path(self.filename)
        temporary = path.with_name(path.name + ".tmp")
        try:
            with open(temporary, "w", encoding="utf-8") as handle:
                for entry in reversed(newest_first):
                    handle.write("\n# compacted\n")
                    for line in entry.split("\n"):
                        handle.write(f"+{line}\n")
            os.replace(temporary, path)
        except OSError:
            try:
                temporary.unlink()
            except OSError:
                pass

    def store_string(self, string: str) -> None:
        try:
            Path(self.filename).parent.mkdir(parents=True, exist_ok=True)
            super().store_string(string)
        except OSError as exc:
            self.write_error = f"{self.filename}: {exc.strerror or exc}"

    def _ensure_loaded(self) -> None:
        if not self._loaded:
            self._loaded_strings = list(self.load_history_strings())
            self._loaded = True

    def record(self, text: str, transient: bool = False) -> None:
        """Remember an accepted command (newest first); `transient` keeps it out of the file for now."""
        self._ensure_loaded()
        if not text.strip() or (self._loaded_strings and self._loaded_strings[0] == text):
            return
        self._loaded_strings.insert(0, text)
        if transient:
            self._transient += 1
        else:
            self.store_string(text)

    def settle(self, replacement: str | None = None) -> None:
        """Drop the transient entries (the lines of a block) and record `replacement` (the whole block)."""
        self._ensure_loaded()
        del self._loaded_strings[:self._transient]
        self._transient = 0
        if replacement:
            self.record(replacement)


class MemoryHistory(NNHistory):
    """The same behaviour without a file (NNLAB_HISTORY set to an empty string)."""

    def __init__(self, limit: int = MAX_HISTORY):
        self.limit = limit
        self.write_error = None
        self._transient = 0
        History.__init__(self)
        self.filename = ""

    def load_history_strings(self):
        return []

    def store_string(self, string: str) -> None:
        pass
