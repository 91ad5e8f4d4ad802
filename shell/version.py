"""nnlab's version without importing the engine (and NumPy): the installed distribution's, else the
engine's __version__ read from its source."""
from __future__ import annotations

import re
from pathlib import Path


def version() -> str:
    """e.g. "0.1.0"; "?" when neither is found."""
    try:
        from importlib.metadata import PackageNotFoundError, version as installed
        try:
            return installed("nnlab")
        except PackageNotFoundError:
            pass
    except ImportError:  # pragma: no cover
        pass
    source = (Path(__file__).resolve().parent.parent / "engine" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"', source, re.M)
    return match.group(1) if match else "?"
