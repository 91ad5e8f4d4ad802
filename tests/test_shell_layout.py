"""The shell stays readable: no source file under shell/ is longer than 600 lines (the project's limit)."""
from __future__ import annotations

from pathlib import Path

SHELL = Path(__file__).resolve().parent.parent / "shell"
MAX_LINES = 600


def test_no_shell_source_file_is_over_600_lines():
    sources = sorted(SHELL.rglob("*.py"))
    assert len(sources) > 10, "the shell's sources were not found"
    too_long = {str(path.relative_to(SHELL)): n for path in sources
                if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not too_long, f"split these along their seams (lines): {too_long}"
