"""`save`/`load` (weights, the session), `run` (another script), `set` (seed, output folder) and `quit`."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from engine import random
from engine.files import FileError, read_text
from engine.models import ModelError
from shell import writing
from shell.language.parser import Node, parse
from shell.statements.common import engine_error, engine_errors, input_path

if TYPE_CHECKING:
    from shell.interpreter import Session

MAX_RUN_DEPTH = 8
#: the largest script `run` reads (a .nn script is a page of text; this stops /dev/zero-like surprises)
MAX_SCRIPT_BYTES = 16 * 1024 * 1024


class Quit(Exception):
    """`quit` in a script or at the prompt: the session ends (not an error)."""


def read_script(path: Path) -> str:
    """The text of a .nn script (UTF-8, a BOM is fine). Only files named *.nn are read as scripts, so no error
    ever shows a line of another file (`run /etc/passwd`); pipes and devices are refused (engine.files)."""
    if not path.name.endswith(".nn"):
        raise FileError(f"cannot run {path}: only .nn scripts run (the name must end in .nn)")
    return read_text(path, "a .nn script", limit=MAX_SCRIPT_BYTES)


def st_save(session: Session, node: Node) -> None:
    entry = session.entry(node) if node.sub == "weights" else None
    path = writing.target(session, node, "file")
    start = time.perf_counter()
    with engine_errors(node, at="file"):
        written = session.save_session(path) if entry is None else entry.model.save_weights(path)
    writing.wrote(session, written)
    if entry is None:
        session.out.print(f"saved {len(session.transcript)} statements to {written}")
        return
    entry.unsaved = False
    session.done(f"saved {len(entry.model.weights)} weight arrays ({entry.model.count_params():,} params) of "
                 f"{entry.name} to {written}", time.perf_counter() - start)


def st_load(session: Session, node: Node) -> None:
    entry = session.entry(node)
    path = input_path(node, "file", must_exist=True)
    start = time.perf_counter()
    try:
        entry.model.load_weights(path)
    except FileError as exc:
        raise node.error(str(exc), "give a weights file written by `save weights` (nothing was changed)",
                         at="file") from None
    except ModelError as exc:
        raise node.error(str(exc), "the file holds the weights of a different model (`summary` shows this "
                         "one's shapes); nothing was changed", at="file") from None
    except (ValueError, OSError) as exc:
        raise engine_error(exc, node, at="file") from None
    entry.unsaved = False
    session.done(f"loaded {len(entry.model.weights)} weight arrays into {entry.name} from {path}",
                 time.perf_counter() - start)


def st_run(session: Session, node: Node) -> None:
    path = input_path(node, "file", must_exist=True)
    if session.depth >= MAX_RUN_DEPTH:
        raise node.error(f"scripts run each other more than {MAX_RUN_DEPTH} deep", "does a script run itself?",
                         at="file")
    try:
        text = read_script(path)
    except FileError as exc:
        raise node.error(str(exc), at="file") from None
    session.execute_nested(parse(text, str(node.value("file"))))


def st_set(session: Session, node: Node) -> None:
    if node.sub == "out":
        folder = Path(os.path.expanduser(str(node.value("folder"))))
        if folder.exists() and not folder.is_dir():
            raise node.error(f"{folder} is a file, not a folder", at="folder")
        writing.check_out_folder(session, node, folder)
        session.out_dir = folder
        session.out.print(f"output folder: {folder} (plots and CSV files with a relative path go there)")
        return
    value = node.value("value")
    random.set_seed(value)
    session.seed = value
    session.out.print(f"seed {value}")


def st_quit(session: Session, node: Node) -> None:
    raise Quit()
