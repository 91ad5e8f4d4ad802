"""MNIST and CIFAR-10 downloaded on first use, as Keras's ``load_data()`` does.

:func:`fetch` returns the folder that holds a data set's files in the data folder
(``$NNLAB_DATA`` or ``~/.nnlab/data``), downloading what is missing first:

- it says what it downloads, how big, from where and into which folder before the first request;
- each file goes to ``NAME.part`` beside its target, with a progress bar (size, speed, time left) on a
  terminal and one plain line per file otherwise; a ``.part`` left by an interrupted download is
  resumed with an HTTP ``Range`` request (a server that answers 200 instead of 206 starts it again);
- the file is renamed over its target only once its SHA-256 matches the published digest below; a
  mismatch removes it and says so;
- the CIFAR-10 *binary* archive is unpacked by hand: only its six ``.bin`` batches, copied into a
  temporary folder that is renamed into place, and an archive with a link, an absolute path or a
  ``..`` member is refused (no ``tarfile.extract``, no pickle: the "python version" is never used).

Mirrors: ``mirror=`` (a base URL or a comma-separated list) or ``$NNLAB_DATA_MIRROR`` replace the
official URLs; a file is then fetched from ``BASE/NAME``, trying each base in turn.  ``download=False``
or ``NNLAB_OFFLINE=1`` never touch the network.  Every failure is a :class:`DownloadError` (a
:class:`~engine.datasets.DataError`) with one sentence that says what happened and what to do.
"""
from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import shutil
import ssl
import tarfile
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

from engine.datasets import CIFAR10_TEST_FILE, CIFAR10_TRAIN_FILES, DataError, default_data_dir

__all__ = ["DownloadError", "Remote", "MNIST_REMOTE", "MNIST_MIRRORS", "CIFAR10_REMOTE", "CIFAR10_MIRRORS",
           "fetch", "mirror_urls", "downloads_allowed"]


class DownloadError(DataError):
    """A data set could not be downloaded, verified or unpacked (the message says why and what to do)."""


@dataclass(frozen=True)
class Remote:
    """One published file: its name on the server and on disk, its size in bytes and its SHA-256."""
    name: str
    size: int
    sha256: str


# The MNIST IDX files, gzip-compressed as distributed. Sizes and SHA-256 digests as published by
# tensorflow_datasets in tensorflow_datasets/url_checksums/mnist.txt (github.com/tensorflow/datasets),
# for the copies at storage.googleapis.com/cvdf-datasets/mnist/. The second mirror is torchvision's
# (torchvision/datasets/mnist.py, which checks the same files by MD5).
MNIST_MIRRORS = ("https://storage.googleapis.com/cvdf-datasets/mnist/",
                 "https://ossci-datasets.s3.amazonaws.com/mnist/")
MNIST_REMOTE = (
    Remote("train-images-idx3-ubyte.gz", 9912422, "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
    Remote("train-labels-idx1-ubyte.gz", 28881, "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
    Remote("t10k-images-idx3-ubyte.gz", 1648877, "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
    Remote("t10k-labels-idx1-ubyte.gz", 4542, "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
)

# The "CIFAR-10 binary version" from the dataset page https://www.cs.toronto.edu/~kriz/cifar.html (which
# publishes its MD5, c32a1d4ab5d03f1284b67883e8d87530). Size and SHA-256 as published by
# tensorflow_datasets in tensorflow_datasets/url_checksums/cifar10.txt (github.com/tensorflow/datasets).
CIFAR10_MIRRORS = ("https://www.cs.toronto.edu/~kriz/",)
CIFAR10_REMOTE = Remote("cifar-10-binary.tar.gz", 170052171,
                        "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd")
CIFAR10_FOLDER = "cifar-10-batches-bin"          # the archive's one folder, and the folder nnlab reads
CIFAR10_MEMBERS = CIFAR10_TRAIN_FILES + (CIFAR10_TEST_FILE,)

TIMEOUT = 30          # seconds to wait for a connection or for the next bytes
CHUNK = 1 << 16       # bytes read and written at a time


# ---------------------------------------------------------------------------------------------------
# What to fetch, from where, and whether the network may be used
# ---------------------------------------------------------------------------------------------------

def downloads_allowed(download=True) -> bool:
    """False when ``download`` is false or ``$NNLAB_OFFLINE`` is set (to anything but 0/false/no)."""
    offline = os.environ.get("NNLAB_OFFLINE", "").strip().lower() not in ("", "0", "false", "no")
    return bool(download) and not offline


def mirror_urls(default, mirror=None) -> tuple[str, ...]:
    """The base URLs to try, in order: ``mirror`` (a string of comma-separated URLs, or a list), else
    ``$NNLAB_DATA_MIRROR``, else ``default``. Each ends in '/'; anything but http(s) is a DataError."""
    given = os.environ.get("NNLAB_DATA_MIRROR", "") if mirror is None else mirror
    bases = [b.strip() for b in (given.split(",") if isinstance(given, str) else given) if b.strip()]
    for base in bases:
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise DataError(f"mirror {base!r} is not an http:// or https:// URL")
    return tuple(b if b.endswith("/") else b + "/" for b in bases) or tuple(default)


def fetch(dataset: str, *, download=True, mirror=None, console=None) -> Path:
    """The folder holding ``dataset`` ('mnist' or 'cifar10') in the data folder, downloaded first if
    files are missing. ``console`` (a Rich Console; default: standard output) shows what happens."""
    if dataset == "mnist":
        return _fetch_mnist(default_data_dir() / "mnist", download, mirror, console)
    if dataset == "cifar10":
        return _fetch_cifar10(default_data_dir(), download, mirror, console)
    raise DataError(f"nothing to download for {dataset!r}: only 'mnist' and 'cifar10'")


def _fetch_mnist(folder: Path, download, mirror, console) -> Path:
    missing = [r for r in MNIST_REMOTE            # a file counts whether it is gzipped or not
               if not ((folder / r.name).is_file() or (folder / r.name.removesuffix(".gz")).is_file())]
    if not missing:
        return folder
    names = ", ".join(r.name for r in missing)
    where = f"put the files in {folder} or set NNLAB_DATA"
    bases = _usable_bases(MNIST_MIRRORS, mirror, download, f"MNIST files not found in {folder} (missing: {names})",
                          where)
    out = _Reporter(console)
    out.line(f"MNIST: downloading {_count(missing)} ({_size(sum(r.size for r in missing))}) from "
             f"{_sources(bases)} into {folder}")
    for remote in missing:
        _download(remote, bases, folder, out, where)
    return folder


def _fetch_cifar10(root: Path, download, mirror, console) -> Path:
    target = root / CIFAR10_FOLDER
    if all((target / name).is_file() for name in (CIFAR10_TRAIN_FILES[0], CIFAR10_TEST_FILE)):
        return target
    archive = root / CIFAR10_REMOTE.name
    out = _Reporter(console)
    if archive.is_file():      # put there by hand: check it before unpacking it
        actual = _sha256(archive)
        if actual != CIFAR10_REMOTE.sha256:
            raise DownloadError(f"{archive} is not the published CIFAR-10 binary archive: its SHA-256 is "
                                f"{actual}, expected {CIFAR10_REMOTE.sha256}; delete it and try again")
    else:
        where = f"put the unpacked {CIFAR10_FOLDER} folder (or {CIFAR10_REMOTE.name}) in {root} or set NNLAB_DATA"
        bases = _usable_bases(CIFAR10_MIRRORS, mirror, download, f"CIFAR-10 binary files not found in {target}",
                              where)
        out.line(f"CIFAR-10: downloading {CIFAR10_REMOTE.name} ({_size(CIFAR10_REMOTE.size)}) from "
                 f"{_sources(bases)} into {root}")
        _download(CIFAR10_REMOTE, bases, root, out, where)
    _unpack_cifar10(archive, target)
    archive.unlink()
    out.line(f"CIFAR-10: unpacked {len(CIFAR10_MEMBERS)} files into {target} (the archive was removed)")
    return target


def _usable_bases(default, mirror, download, not_found: str, where: str):
    """The mirrors to try, or the DownloadError that says the files are missing and the network is off."""
    bases = mirror_urls(default, mirror)
    if not downloads_allowed(download):
        why = "download=false" if not download else "NNLAB_OFFLINE is set"
        raise DownloadError(f"{not_found} and downloading is off ({why}): {where} "
                            f"(they are published at {', '.join(bases)})")
    return bases


# ---------------------------------------------------------------------------------------------------
# One file: .part, resume, digest, rename
# ---------------------------------------------------------------------------------------------------

class _Failed(Exception):
    """One URL did not deliver the file; `reachable` is False when the server could not be reached."""

    def __init__(self, text: str, reachable: bool = True):
        super().__init__(text)
        self.reachable = reachable


def _download(remote: Remote, bases, folder: Path, out: _Reporter, where: str) -> Path:
    """``folder/remote.name``, downloaded from the first base URL that delivers it with the right digest."""
    target, part = folder / remote.name, folder / (remote.name + ".part")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create the data folder {folder} ({exc.strerror or exc}): "
                            f"set NNLAB_DATA to a folder you can write") from None
    failures = []
    for number, url in enumerate((base + remote.name for base in bases), start=1):
        try:
            _fetch_part(url, part, remote, out)
            actual = _sha256(part)
            if actual == remote.sha256:
                os.replace(part, target)
                return target
            part.unlink()
            raise _Failed(f"the downloaded {remote.name} does not match the published SHA-256 (expected "
                          f"{remote.sha256}, got {actual}); the file was removed")
        except _Failed as failure:
            failures.append(failure)
            if number < len(bases):
                out.line(f"  {url}: {failure}; trying the next mirror")
    urls = ", ".join(base + remote.name for base in bases)
    if not any(f.reachable for f in failures):
        raise DownloadError(f"no network: could not reach {urls} ({failures[-1]}): {where}")
    tried = "; ".join(f"{base + remote.name}: {failure}" for base, failure in zip(bases, failures))
    kept = (f"; the {_size(part.stat().st_size)} received so far are kept in {part} and the next try resumes there"
            if part.is_file() else "")
    raise DownloadError(f"could not download {remote.name}: {tried}{kept}. Try again, or {where}")


def _fetch_part(url: str, part: Path, remote: Remote, out: _Reporter, restarted: bool = False) -> None:
    """Write the file at ``url`` into ``part``, continuing a partial ``part`` with a Range request."""
    offset = part.stat().st_size if part.is_file() else 0
    if offset >= remote.size:     # complete (the digest decides) or too long (start again)
        if offset == remote.size:
            return
        part.unlink()
        offset = 0
    headers = {"User-Agent": "nnlab", "Range": f"bytes={offset}-"} if offset else {"User-Agent": "nnlab"}
    try:
        response = urlopen(Request(url, headers=headers), timeout=TIMEOUT)
    except HTTPError as exc:
        if exc.code == 416 and offset and not restarted:    # the server refuses our range: start again
            part.unlink()
            return _fetch_part(url, part, remote, out, restarted=True)
        raise _Failed(f"HTTP {exc.code} {exc.reason}") from None
    except URLError as exc:      # no connection (urllib wraps those); a TLS failure did reach the server
        reason = exc.reason
        reachable = isinstance(reason, ssl.SSLError) or not isinstance(reason, OSError)
        raise _Failed(str(getattr(reason, "strerror", None) or reason), reachable) from None
    except (http.client.HTTPException, ValueError, OSError) as exc:     # connected, but no proper answer
        raise _Failed(f"{type(exc).__name__}: {exc}") from None
    with response:
        if offset and response.status == 206:
            start = response.headers.get("Content-Range", "").removeprefix("bytes ").split("-")[0]
            if start != str(offset):
                part.unlink()
                raise _Failed(f"the server sent the wrong range ({response.headers.get('Content-Range')}); "
                              f"the part was removed")
            out.line(f"  resuming {remote.name} at {_size(offset)} of {_size(remote.size)}")
        elif offset:
            out.line(f"  {url} does not resume downloads: {remote.name} starts again from the beginning")
            offset = 0
        length = response.headers.get("Content-Length")
        expected = offset + int(length) if length and length.isdigit() else None
        _copy_body(response, part, offset, expected or remote.size, remote.name, out)
    received = part.stat().st_size
    if expected is not None and received < expected:
        raise _Failed(f"the connection closed after {_size(received)} of {_size(expected)}")


def _copy_body(response, part: Path, offset: int, total: int, name: str, out: _Reporter) -> None:
    """Append the response body to ``part`` (from ``offset``), showing progress; a broken connection
    keeps what arrived (the next try resumes there) and is a _Failed."""
    start = time.perf_counter()
    with out.progress(name, total, offset) as advance, open(part, "ab" if offset else "wb") as sink:
        while True:
            try:
                chunk = response.read(CHUNK)
            except (OSError, http.client.HTTPException) as exc:      # a reset, a timeout, a broken chunk
                raise _Failed(f"the connection broke ({type(exc).__name__}: {exc})") from None
            if not chunk:
                break
            sink.write(chunk)
            advance(len(chunk))
    received = part.stat().st_size - offset
    seconds = max(time.perf_counter() - start, 1e-6)
    out.line(f"  {name}: {_size(received)} in {seconds:.1f} s ({_size(received / seconds)}/s)")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------------
# The CIFAR-10 archive: only the expected regular files, through a temporary folder
# ---------------------------------------------------------------------------------------------------

def _unpack_cifar10(archive: Path, target: Path) -> None:
    """Copy the six batches of ``archive`` into ``target`` (created by renaming a temporary folder)."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = {}
            for member in tar.getmembers():
                _refuse_unsafe(archive, member)
                parts = [p for p in PurePosixPath(member.name).parts if p != "."]
                name = parts[-1] if parts else ""
                if member.isfile() and parts == [CIFAR10_FOLDER, name] and name in CIFAR10_MEMBERS:
                    members[name] = member
            missing = [name for name in CIFAR10_MEMBERS if name not in members]
            if missing:
                raise DownloadError(f"{archive} lacks {', '.join(f'{CIFAR10_FOLDER}/{m}' for m in missing)} "
                                    f"(not the CIFAR-10 binary archive?): delete it and try again")
            temp = Path(tempfile.mkdtemp(prefix=f".{CIFAR10_FOLDER}.", dir=target.parent))
            try:
                for name, member in members.items():
                    with tar.extractfile(member) as source, open(temp / name, "wb") as sink:
                        shutil.copyfileobj(source, sink)
                if target.exists():     # a partial folder: replace its files one by one
                    for file in temp.iterdir():
                        os.replace(file, target / file.name)
                else:
                    os.replace(temp, target)
            finally:
                shutil.rmtree(temp, ignore_errors=True)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise DownloadError(f"cannot unpack {archive}: {exc} (a damaged archive?): delete it and try again") from None


def _refuse_unsafe(archive: Path, member: tarfile.TarInfo) -> None:
    path = PurePosixPath(member.name)
    if member.issym() or member.islnk():
        why = f"is a link to {member.linkname!r}"
    elif not (member.isfile() or member.isdir()):
        why = "is a device or special file"
    elif path.is_absolute() or ".." in path.parts or "\\" in member.name:
        why = "has an unsafe path"
    else:
        return
    raise DownloadError(f"refusing to unpack {archive}: its member {member.name!r} {why} (the CIFAR-10 archive "
                        f"holds only regular files in {CIFAR10_FOLDER}/): delete it")


# ---------------------------------------------------------------------------------------------------
# Saying what happens: a Rich bar on a terminal, plain lines otherwise
# ---------------------------------------------------------------------------------------------------

class _Reporter:
    """Lines and per-file progress on a Rich console: a live bar (size, speed, time left) when the
    console is a terminal, else one line when the file is done."""

    def __init__(self, console=None):
        if console is None:
            from rich.console import Console
            console = Console()
        self.console = console

    def line(self, text: str) -> None:
        from rich.text import Text
        self.console.print(Text(text), soft_wrap=True)

    @contextlib.contextmanager
    def progress(self, name: str, total: int, completed: int):
        """A context whose value advances the bar by a number of bytes."""
        if not self.console.is_terminal:
            yield lambda n: None
            return
        from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn,
                                   TransferSpeedColumn)
        with Progress(TextColumn(f"  {name}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                      TimeRemainingColumn(), console=self.console, transient=True) as bar:
            task = bar.add_task(name, total=total, completed=completed)
            yield lambda n: bar.advance(task, n)


def _size(n: float) -> str:
    """Bytes as Rich's download column writes them: 4.5 kB, 9.9 MB, 170.1 MB (powers of 1000)."""
    for unit in ("bytes", "kB", "MB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def _count(remotes) -> str:
    return f"{len(remotes)} file" + ("s" if len(remotes) != 1 else "")


def _sources(bases) -> str:
    return bases[0] + (f" (then {', '.join(bases[1:])} if that fails)" if len(bases) > 1 else "")
