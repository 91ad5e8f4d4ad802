"""The one way nnlab writes a file, and the checks before it reads one.

Writing (`write_file`): the content goes to a temporary file in the target's folder, is flushed and
fsynced, and is renamed over the target. A rename is atomic, so a crash, a kill -9 or a full disk at any
moment leaves either the old file or the complete new one, never a mix. Before writing:

- the name must end in a suffix of its kind (`KINDS`: .npz weights and checkpoints, .nn sessions,
  .png/.svg/.pdf plots, .csv tables), so a weights file can never become `~/.bashrc`;
- a symbolic link at the target is refused (the rename would replace the link, not what it points to,
  so nothing is ever written through one), and so is anything that is not a regular file;
- an existing file is replaced only with `overwrite=True` (the shell asks, or wants `overwrite=true`);
- missing folders are created only with `create_folders=True`.

Reading (`read_bytes`, `read_text`, `read_npz`): the file is opened without blocking and checked to be a
regular file before a byte is read (a named pipe would hang a plain open; /dev/zero never ends), its size
is checked against the memory available, and every problem is one FileError sentence naming the file and
what was expected. Nothing is unpickled; `read_npz` parses the .npy members itself and never prints what
the file holds.
"""
from __future__ import annotations

import ast
import gzip
import io
import os
import secrets
import stat
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Callable

import numpy as np

from engine.resources import available_memory, format_bytes


class FileError(ValueError):
    """A file that cannot be read or written as asked; the message names the file and what was expected."""


class OverwriteRefused(FileError):
    """The target exists and replacing it was not allowed; `path` is the target."""

    def __init__(self, message: str, path: Path):
        super().__init__(message)
        self.path = path


#: kind -> (what it is called in messages, the endings its file names may have)
KINDS = {
    "weights": ("weights file", (".npz",)),
    "checkpoint": ("checkpoint", (".npz",)),
    "session": ("session script", (".nn",)),
    "plot": ("plot", (".png", ".svg", ".pdf")),
    "table": ("table", (".csv",)),
    "results": ("results file", (".json",)),
    "idx": ("IDX data file", ("-ubyte", "-ubyte.gz", ".idx", ".idx.gz")),
    "cifar10": ("CIFAR-10 batch", (".bin",)),
}

_FILE_TYPES = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
               (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
               (stat.S_ISSOCK, "a socket"))


def endings(kind: str) -> tuple[str, ...]:
    return KINDS[kind][1]


def has_ending(path, kind: str) -> bool:
    name = Path(path).name.lower()
    return any(name.endswith(end) and len(name) > len(end) for end in endings(kind))


def _not_regular(mode: int) -> str | None:
    """What a file of this mode is, when it is not a regular file."""
    for test, what in _FILE_TYPES:
        if test(mode):
            return what
    return None if stat.S_ISREG(mode) else "not a regular file"


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------

def check_target(path, kind: str, overwrite: bool = True) -> Path:
    """The checks `write_file` makes before writing (also usable to refuse a statement before it runs)."""
    path = Path(os.fspath(path))
    what, allowed = KINDS[kind]
    if not has_ending(path, kind):
        raise FileError(f"cannot write {path}: a {what} must have a name ending in {' or '.join(allowed)}")
    if any(ord(c) < 32 or ord(c) == 127 for c in str(path)):
        raise FileError(f"cannot write {path!r}: the name holds control characters")
    try:
        info = path.lstat()
    except FileNotFoundError:
        return path
    except OSError as exc:
        raise FileError(f"cannot write {path}: {exc.strerror or exc}") from None
    if stat.S_ISLNK(info.st_mode):
        raise FileError(f"cannot write {path}: it is a symbolic link, and nnlab does not write through links "
                        f"(remove it, or give the path it points to)")
    other = _not_regular(info.st_mode)
    if other:
        raise FileError(f"cannot write {path}: it is {other}, not a file")
    if not overwrite:
        raise OverwriteRefused(f"{path} already exists", path)
    return path


def write_file(path, content: bytes | Callable, kind: str, *, overwrite: bool = True,
               create_folders: bool = False) -> Path:
    """Write `content` (bytes, or a function that writes to a binary file object) to `path` atomically:
    a temporary file in the same folder, flush + fsync, then a rename over the target. Returns the path."""
    path = check_target(path, kind, overwrite)
    folder = path.parent
    if not folder.is_dir():
        if folder.exists():
            raise FileError(f"cannot write {path}: {folder} is not a folder")
        if not create_folders:
            raise FileError(f"cannot write {path}: the folder {folder} does not exist")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FileError(f"cannot create the folder {folder}: {exc.strerror or exc}") from None
    temporary, handle = _create_temporary(path)
    try:
        with handle:
            if callable(content):
                content(handle)
            else:
                handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException as exc:
        temporary.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise FileError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise
    _sync_folder(folder)
    return path


def write_text(path, text: str, kind: str, **options) -> Path:
    return write_file(path, text.encode("utf-8"), kind, **options)


def _create_temporary(path: Path):
    """A new file `.NAME.RANDOM.tmp` beside `path` (created exclusively; permissions from the umask)."""
    for _ in range(100):
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o666)
        except FileExistsError:
            continue
        except OSError as exc:
            raise FileError(f"cannot write {path}: {exc.strerror or exc}") from None
        return temporary, os.fdopen(fd, "wb")
    raise FileError(f"cannot write {path}: no free temporary name in {path.parent}")  # pragma: no cover


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (where the system allows opening a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------

def read_bytes(path, what: str, limit: int | None = None) -> bytes:
    """The whole file. `what` names what was expected ("weights", "a .nn script") in every error; a missing
    file, a folder, a pipe, a device or a file larger than `limit` (default: the memory available) is a
    FileError. The file is opened non-blocking and checked before reading, so a FIFO never hangs."""
    path = Path(os.fspath(path))
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise FileError(f"cannot read {what} from {path}: file not found") from None
    except IsADirectoryError:
        raise FileError(f"cannot read {what} from {path}: it is a folder") from None
    except OSError as exc:
        raise FileError(f"cannot read {what} from {path}: {exc.strerror or exc}") from None
    info = os.fstat(fd)
    other = _not_regular(info.st_mode)
    if other:
        os.close(fd)
        raise FileError(f"cannot read {what} from {path}: it is {other}" + ("" if other == "a folder" else
                                                                            ", not a file"))
    with os.fdopen(fd, "rb") as handle:
        limit = available_memory() if limit is None else limit
        if info.st_size > limit:
            raise FileError(f"cannot read {what} from {path}: it holds {format_bytes(info.st_size)}, more than the "
                            f"{format_bytes(limit)} nnlab can take")
        try:
            data = handle.read(limit + 1)      # files in /proc report size 0: read at most limit + 1 bytes
        except OSError as exc:
            raise FileError(f"cannot read {what} from {path}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise FileError(f"cannot read {what} from {path}: it holds more than the {format_bytes(limit)} "
                        f"nnlab can take")
    return data


def read_text(path, what: str, limit: int | None = None) -> str:
    """The file as UTF-8 text (a leading byte order mark is dropped). A file that is not UTF-8 is an error
    that says where, never what it holds."""
    data = read_bytes(path, what, limit)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileError(f"cannot read {what} from {path}: it is not UTF-8 text (byte {exc.start + 1} is not "
                        f"valid); is it a binary file?") from None
    return text[1:] if text.startswith("\ufeff") else text


def gunzip(data: bytes, path, what: str) -> bytes:
    """`data` (the bytes of a .gz file) unpacked, at most as much as the memory available."""
    limit = available_memory()
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as unpacked:
            result = unpacked.read(limit + 1)
    except (OSError, EOFError, zlib.error) as exc:   # gzip.BadGzipFile is an OSError
        raise FileError(f"cannot read {what} from {path}: it is not a complete gzip file") from exc
    if len(result) > limit:
        raise FileError(f"cannot read {what} from {path}: it unpacks to more than the "
                        f"{format_bytes(limit)} of memory available")
    return result


_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_NPY_MAGIC = b"\x93NUMPY"


def read_npz(path, what: str) -> dict[str, np.ndarray]:
    """The arrays of an .npz archive, in the archive's order, keyed by name (without `.npy`).

    Only plain numeric arrays are accepted (no object arrays, so nothing can be unpickled); each member is
    parsed here from its .npy header, checked against its size, and copied. A file that is not an archive,
    a truncated or damaged archive, or a member that is not a plain array is one FileError naming the file.
    """
    raw = read_bytes(path, what)
    if raw.startswith(_NPY_MAGIC):
        raise FileError(f"cannot read {what} from {path}: it is a single .npy array, not an .npz archive "
                        f"(write it with numpy.savez)")
    if not raw.startswith(_ZIP_MAGIC):
        raise FileError(f"cannot read {what} from {path}: it is not an .npz archive")
    arrays: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            members = archive.infolist()
            total = sum(m.file_size for m in members)
            if total > available_memory():
                raise FileError(f"cannot read {what} from {path}: its arrays hold {format_bytes(total)}, more "
                                f"than the {format_bytes(available_memory())} of memory available")
            for member in members:
                name = member.filename[:-4] if member.filename.endswith(".npy") else member.filename
                if name in arrays:
                    raise FileError(f"cannot read {what} from {path}: the archive holds an array name twice")
                arrays[name] = _parse_npy(archive.read(member), path, what, len(arrays) + 1)
    except FileError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, struct.error, NotImplementedError, EOFError,
            OSError, ValueError, RuntimeError, KeyError, IndexError, OverflowError) as exc:
        raise FileError(f"cannot read {what} from {path}: the archive is truncated or damaged") from exc
    return arrays


def _parse_npy(data: bytes, path: Path, what: str, number: int) -> np.ndarray:
    """One .npy member: version 1-3 header (a Python literal dict, read with ast.literal_eval, never eval),
    a plain numeric dtype, and exactly as many data bytes as the shape needs."""
    def damaged(reason):
        return FileError(f"cannot read {what} from {path}: array {number} {reason}")
    if not data.startswith(_NPY_MAGIC) or len(data) < 10:
        raise damaged("is not a .npy array")
    major = data[6]
    if major == 1:
        length, start = int.from_bytes(data[8:10], "little"), 10
    elif major in (2, 3):
        length, start = int.from_bytes(data[8:12], "little"), 12
    else:
        raise damaged(f"has an unknown .npy version {major}")
    if len(data) < start + length or length > 65536:
        raise damaged("has a truncated header")
    try:
        header = ast.literal_eval(data[start:start + length].decode("latin1" if major < 3 else "utf-8"))
        dtype = np.dtype(header["descr"]) if isinstance(header, dict) and isinstance(header.get("descr"), str) \
            else None
        shape, fortran = header["shape"], header["fortran_order"]
    except (ValueError, SyntaxError, TypeError, KeyError, MemoryError, RecursionError, UnicodeDecodeError):
        raise damaged("has a damaged header") from None
    if dtype is None or dtype.kind not in "biufc" or dtype.hasobject or dtype.fields or dtype.subdtype:
        raise damaged("does not hold plain numbers (nnlab reads no object arrays, so nothing is unpickled)")
    if not (isinstance(shape, tuple) and all(isinstance(d, int) and d >= 0 for d in shape)) \
            or not isinstance(fortran, bool):
        raise damaged("has a damaged header")
    count = 1
    for d in shape:
        count *= d
    body = data[start + length:]
    if count * dtype.itemsize != len(body):
        raise damaged(f"is truncated or damaged (its header promises {count * dtype.itemsize} bytes, it has "
                      f"{len(body)})")
    return np.frombuffer(body, dtype=dtype).reshape(shape, order="F" if fortran else "C").copy()
