"""Where statements may write files, and what they ask first (users' files are safe).

Every option that names a file nnlab writes says its kind in the registry (`Option.writes`: weights,
checkpoint, session, plot, table), and every such file goes through `claim` before the statement writes it
with engine.files.write_file (atomic, own suffix, never through a symbolic link):

- a relative path goes into the output folder (plots, tables) or the current folder (weights, checkpoints,
  sessions); a name without a suffix gets the kind's (`save weights w` writes w.npz);
- a script (`nnlab run`, `nnlab < FILE`, `run FILE`) writes only inside the current folder and the output
  folder: an absolute path, `~` or `..` that leads elsewhere is refused, and so is `set out` elsewhere
  (give `--out DIR` on the command line instead); folders are created only inside those two folders;
- an existing file this session did not write is replaced only after a yes at the prompt, or with
  `overwrite=true` on the statement (or when `train` resumes from the checkpoint it then saves over).

`preflight` makes these checks for every file a script names before its first statement runs, so a script
that would be refused at its last line does not train for an hour first. `recorded_source` quotes what
`save session` records so that no shell would run any of it.
"""
from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine import files
from engine.files import FileError
from shell.language.parser import ModelBlock, Node
from shell.registry import lookup

if TYPE_CHECKING:
    from shell.interpreter import Session

#: characters that no shell gives a meaning to (a value with any other is quoted in a saved session)
_SHELL_SAFE = re.compile(r"[A-Za-z0-9_./,:=+@%^-]*\Z")


def kind_of(node: Node, option: str) -> str:
    return lookup.find_option(node.form, option).writes


def path_of(session: Session, node: Node, option: str, default: str | None = None,
            out_dir: Path | None = None) -> Path:
    """The file option `option` names (or `default`): `~` expanded, the kind's suffix added when the name has
    none, relative paths in the output folder (plots, tables) or the current folder."""
    kind = kind_of(node, option)
    path = Path(os.path.expanduser(str(node.value(option, default))))
    if not path.suffix:
        path = path.with_name(path.name + files.endings(kind)[0])
    if path.is_absolute() or kind not in ("plot", "table"):
        return path
    return (out_dir if out_dir is not None else session.out_dir) / path


def claim(session: Session, node: Node, option: str, path: Path, *, dry: bool = False,
          planned: set | None = None, out_dir: Path | None = None) -> Path:
    """Check that the statement may write `path` (see the module's rules), asking at the prompt before
    replacing a file this session did not write; create its folder when allowed. `dry` (preflight) checks
    without asking or creating; `planned` holds the files a script writes before this statement and
    `out_dir` its output folder at this statement."""
    kind = kind_of(node, option)
    with as_nn_errors(node, option):
        files.check_target(path, kind)
    where = _real(path)
    roots = [_real(Path.cwd()), _real(out_dir or session.out_dir)]
    inside = any(where == root or root in where.parents for root in roots)
    if session.in_script and not inside:
        raise node.error(f"a script writes only inside the current folder and the output folder; {path} is "
                         f"outside both", "write to a relative path, or run with --out FOLDER to choose the "
                         "output folder", at=option)
    if not path.parent.is_dir() and not inside:
        raise node.error(f"the folder {path.parent} does not exist (nnlab creates folders only inside the "
                         f"current folder and the output folder)", "create it first, or write elsewhere", at=option)
    if os.path.lexists(path) and where not in session.written and where not in (planned or ()) \
            and not _replacing_asked(node, option, where):
        if dry or not session.can_ask:
            raise node.error(f"{path} already exists and this session did not write it",
                             "add overwrite=true to replace it, or choose another name", at=option)
        if not session.ask(f"{path} exists and was not written in this session: replace it? [y/N] "):
            raise node.error(f"kept {path}: nothing was written", "give another name, or answer y to replace it",
                             at=option)
    if not dry and not path.parent.is_dir():
        with as_nn_errors(node, option):
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise FileError(f"cannot create the folder {path.parent}: {exc.strerror or exc}") from None
    return path


def _replacing_asked(node: Node, option: str, where: Path) -> bool:
    """overwrite=true, or `train checkpoint=F resume=F`: going on from a checkpoint and saving over it."""
    if node.get("overwrite"):
        return True
    return option == "checkpoint" and node.has("resume") and \
        _real(Path(os.path.expanduser(str(node.value("resume"))))) == where


def target(session: Session, node: Node, option: str, default: str | None = None) -> Path:
    """path_of + claim: the checked file a statement is about to write."""
    return claim(session, node, option, path_of(session, node, option, default))


def write_table(session: Session, node: Node, option: str, table, columns: list[str], fmt) -> Path:
    """Write a CSV table (header line `columns`, numbers in `fmt`) to the file `option` names; returns it."""
    path = target(session, node, option)
    text = io.StringIO()
    np.savetxt(text, table, delimiter=",", header=",".join(columns), comments="", fmt=fmt)
    with as_nn_errors(node, option):
        files.write_text(path, text.getvalue(), "table")
    wrote(session, path)
    return path


def wrote(session: Session, path) -> None:
    """Remember a file this session wrote (writing it again needs no question)."""
    session.written.add(_real(Path(path)))


@contextlib.contextmanager
def as_nn_errors(node: Node, option: str):
    """Engine file errors (FileError, OSError) inside become an NNError at the option."""
    try:
        yield
    except (FileError, OSError) as exc:
        message = str(exc) if isinstance(exc, FileError) else f"cannot write: {exc.strerror or exc}"
        raise node.error(message, "check the path, its suffix and the permissions", at=option) from None


def check_out_folder(session: Session, node: Node, folder: Path) -> None:
    """`set out FOLDER` in a script: only inside the current folder or the output folder it started with."""
    where = _real(folder if folder.is_absolute() else Path.cwd() / folder)
    roots = [_real(Path.cwd()), _real(session.initial_out_dir)]
    if session.in_script and not any(where == root or root in where.parents for root in roots):
        raise node.error(f"a script may set the output folder only inside the current folder or "
                         f"{session.initial_out_dir}",
                         "choose the output folder on the command line: nnlab run FILE --out FOLDER", at="folder")


# --------------------------------------------------------------------------------------------------
# Before a script runs
# --------------------------------------------------------------------------------------------------

def preflight(session: Session, program: list) -> None:
    """Check every file the script names explicitly (suffix, folder, overwrite) before anything runs."""
    out_dir, planned = session.out_dir, set()
    for item in program:
        if isinstance(item, ModelBlock):
            continue
        if item.name == "set" and item.sub == "out":
            folder = Path(os.path.expanduser(str(item.value("folder"))))
            check_out_folder(session, item, folder)
            out_dir = folder
            continue
        for opt in item.form.options:
            if opt.writes and item.has(opt.name):
                path = path_of(session, item, opt.name, out_dir=out_dir)
                for each in derived_paths(item, path):
                    claim(session, item, opt.name, each, dry=True, planned=planned, out_dir=out_dir)
                    planned.add(_real(each))


def derived_paths(node: Node, path: Path) -> list[Path]:
    """The files a statement writes for one path option: `grid` and `plot grid` write FILE_train and FILE_test,
    `demo filters` FILE and FILE_kernels."""
    if node.name == "grid" or (node.name == "plot" and node.sub == "grid"):
        return [path.with_name(f"{path.stem}_{part}{path.suffix}") for part in ("train", "test")]
    if node.name == "demo" and node.sub == "filters":
        return [path, path.with_name(f"{path.stem}_kernels{path.suffix}")]
    return [path]


# --------------------------------------------------------------------------------------------------
# What `save session` records
# --------------------------------------------------------------------------------------------------

def recorded_source(item, replaced: dict[str, str] | None = None) -> str:
    """The statement as `save session` records it: every file name or text value that holds a character a
    shell would act on (`$`, backquotes, `;`, quotes, spaces ...) written in double quotes with `\\`, `"`, `$`
    and backquote escaped, which the .nn language and POSIX shells both read as the same plain text.
    `replaced` gives options a new value (a number or a word), written where they were, else added."""
    if not isinstance(item, Node):
        return item.source
    replaced = dict(replaced or {})
    text, end = item.text, item.words_end
    for arg in sorted(item.args.values(), key=lambda a: a.column, reverse=True):
        kind = lookup.find_option(item.form, arg.name).kind
        if arg.name in replaced:
            new = replaced.pop(arg.name)
        elif _SHELL_SAFE.match(arg.raw.strip()) or kind not in ("path", "str", "columns"):
            continue            # the other kinds are numbers, names and words from a fixed set
        else:
            new = _quote(arg.value) if kind != "columns" else ",".join(_item_text(v) for v in arg.value)
        start = arg.column - 1
        text = text[:start] + new + text[start + arg.length:]
        end += len(new) - arg.length
    return " ".join([text[:end].strip(), *(f"{name}={value}" for name, value in replaced.items())])


def record_stopped(session: Session, node: Node, finished: int, where: str, unfinished_batches: bool) -> None:
    """What `save session` records for a training statement stopped by Ctrl-C: the epochs that finished (a
    replay then builds the same model), with a comment saying where it stopped; nothing but the comment
    when no epoch finished."""
    ran = recorded_source(node, {"epochs": str(finished)}) if finished else f"# {recorded_source(node)}"
    partial = "; the batches of the unfinished epoch changed the weights too" if unfinished_batches else ""
    session.recorded = f"{ran}  # stopped by Ctrl-C {where}{partial}"


def _quote(value: str) -> str:
    return '"' + re.sub(r'([\\"$`])', r"\\\1", value) + '"'


def _item_text(value) -> str:
    """One item of a `columns` value (a name, an index or a range a:b) as a saved session writes it."""
    if isinstance(value, slice):
        return f"{'' if value.start is None else value.start}:{'' if value.stop is None else value.stop}"
    return _quote(value) if isinstance(value, str) else str(value)


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))
