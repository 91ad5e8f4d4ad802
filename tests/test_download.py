"""Datasets that download on first use (engine/download.py), against a local HTTP server.

The server (http.server in a thread) serves small generated MNIST and CIFAR-10 files with their own
digests (the module's published digests are swapped for them), implements Range requests itself, and can
ignore Range, cut a body short once, or answer an HTTP error. The real hosts are never contacted:
conftest.py sets NNLAB_OFFLINE=1 for every test, and these tests clear it only with a local mirror set.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from engine import datasets, download
from engine.datasets import DataError
from engine.download import DownloadError, Remote
from shell.interpreter import Session
from shell.output import Output
from tests.datafiles import write_small_datasets

ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------------------------------
# The local server
# --------------------------------------------------------------------------------------------------

class FileServer:
    """Serves `files` (URL path -> bytes). `ignore_range`: always 200 with the whole body; `wrong_range`:
    206 but from the first byte; `cut_once`
    (path -> n): the first answer for that path announces the whole length but sends n bytes and closes;
    `errors` (path -> status) answers that status. `requests` records (path, Range header) pairs."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.ignore_range = False
        self.wrong_range = False
        self.cut_once: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):      # keep the test output clean
                pass

            def do_GET(self):
                path, asked = self.path.lstrip("/"), self.headers.get("Range")
                server.requests.append((path, asked))
                if path in server.errors:
                    self.send_error(server.errors[path])
                    return
                if path not in server.files:
                    self.send_error(404)
                    return
                body, status, start = server.files[path], 200, 0
                if asked and not server.ignore_range:
                    start = int(asked.removeprefix("bytes=").split("-")[0])
                    if start >= len(body):
                        self.send_error(416)
                        return
                    status = 206
                    start = 0 if server.wrong_range else start
                self.send_response(status)
                self.send_header("Content-Length", str(len(body) - start))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.end_headers()
                cut = server.cut_once.pop(path, None)
                self.wfile.write(body[start:start + cut] if cut is not None else body[start:])
                self.close_connection = True

        return Handler

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = FileServer()
    yield srv
    srv.close()


@pytest.fixture
def data_root(tmp_path, monkeypatch):
    """An empty data folder (NNLAB_DATA), the network allowed (only the local mirrors are ever set)."""
    root = tmp_path / "data"
    monkeypatch.setenv("NNLAB_DATA", str(root))
    monkeypatch.delenv("NNLAB_OFFLINE", raising=False)
    monkeypatch.delenv("NNLAB_DATA_MIRROR", raising=False)
    return root


def remote_for(name: str, body: bytes) -> Remote:
    return Remote(name, len(body), hashlib.sha256(body).hexdigest())


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """Small MNIST .gz files and a CIFAR-10 binary archive, as bytes, with the arrays they hold."""
    source = write_small_datasets(tmp_path_factory.mktemp("source"), train=20, test=8)
    mnist = {f"{name}.gz": gzip.compress((source / "mnist" / name).read_bytes()) for name in datasets.MNIST_FILES}
    cifar = source / "cifar-10-batches-bin"
    rng = np.random.default_rng(1)
    for k in range(2, 6):
        datasets.write_cifar10_batch(cifar / f"data_batch_{k}.bin",
                                     rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 3))
    members = {f"cifar-10-batches-bin/{p.name}": p.read_bytes() for p in sorted(cifar.iterdir())}
    members["cifar-10-batches-bin/readme.html"] = b"<html>not extracted</html>"
    return {"mnist": mnist, "archive": make_tar(members), "source": source}


def make_tar(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        folder = tarfile.TarInfo("cifar-10-batches-bin")
        folder.type = tarfile.DIRTYPE
        tar.addfile(folder)
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buffer.getvalue()


def serve_mnist(server, monkeypatch, generated, prefix=""):
    """The generated MNIST files at server.url + prefix, with the module's digests swapped for theirs."""
    for name, body in generated["mnist"].items():
        server.files[prefix + name] = body
    monkeypatch.setattr(download, "MNIST_REMOTE", tuple(remote_for(n, b) for n, b in generated["mnist"].items()))


def serve_archive(server, monkeypatch, body: bytes):
    server.files["cifar-10-binary.tar.gz"] = body
    monkeypatch.setattr(download, "CIFAR10_REMOTE", remote_for("cifar-10-binary.tar.gz", body))
    monkeypatch.setenv("NNLAB_DATA_MIRROR", server.url)


def plain_console():
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=False, color_system=None, width=200), buffer


def no_leftovers(folder: Path):
    """Nothing half-done is left: no .part file and no temporary folder."""
    return not [p for p in folder.rglob("*") if p.name.endswith(".part") or p.name.startswith(".cifar")]


# --------------------------------------------------------------------------------------------------
# MNIST: first use, progress, digests, resume
# --------------------------------------------------------------------------------------------------

def test_mnist_downloads_on_first_use_says_so_and_loads(server, data_root, monkeypatch, generated):
    serve_mnist(server, monkeypatch, generated)
    monkeypatch.setenv("NNLAB_DATA_MIRROR", server.url)
    console, buffer = plain_console()
    folder = download.fetch("mnist", console=console)
    out = buffer.getvalue()
    total = sum(len(b) for b in generated["mnist"].values())
    first = out.splitlines()[0]
    assert first == f"MNIST: downloading 4 files ({download._size(total)}) from {server.url} into {data_root / 'mnist'}"
    for name, body in generated["mnist"].items():
        assert f"  {name}: {download._size(len(body))} in " in out and "/s)" in out
        assert (folder / name).read_bytes() == body
    assert folder == data_root / "mnist" and no_leftovers(data_root)
    assert [r[1] for r in server.requests] == [None] * 4, "a fresh download asks for whole files"
    (x_train, y_train), (x_test, y_test) = datasets.load_mnist()
    expected_train = datasets.read_idx(generated["source"] / "mnist" / "train-images-idx3-ubyte")
    assert x_train.shape == (20, 28, 28, 1) and x_test.shape == (8, 28, 28, 1)
    np.testing.assert_array_equal(x_train[..., 0], expected_train)
    # second use: the files are there, nothing is requested and nothing printed
    console, buffer = plain_console()
    assert download.fetch("mnist", console=console) == folder
    assert len(server.requests) == 4 and buffer.getvalue() == ""


def test_only_the_missing_files_are_downloaded(server, data_root, monkeypatch, generated):
    serve_mnist(server, monkeypatch, generated)
    monkeypatch.setenv("NNLAB_DATA_MIRROR", server.url)
    (data_root / "mnist").mkdir(parents=True)
    for name in datasets.MNIST_FILES[:3]:      # the user put three files there, uncompressed
        (data_root / "mnist" / name).write_bytes(gzip.decompress(generated["mnist"][name + ".gz"]))
    console, buffer = plain_console()
    download.fetch("mnist", console=console)
    assert [r[0] for r in server.requests] == ["t10k-labels-idx1-ubyte.gz"]
    assert "downloading 1 file (" in buffer.getvalue()
    assert datasets.load_mnist()[1][1].shape == (8,)


def test_progress_bar_on_a_terminal(server, data_root, monkeypatch, generated):
    serve_mnist(server, monkeypatch, generated)
    monkeypatch.setenv("NNLAB_DATA_MIRROR", server.url)
    buffer = io.StringIO()
    download.fetch("mnist", console=Console(file=buffer, force_terminal=True, width=120))
    out = buffer.getvalue()
    assert "\x1b[" in out and "━" in out, "a live Rich bar"
    assert "train-images-idx3-ubyte.gz" in out and "kB" in out
    assert "MNIST: downloading 4 files" in out


def test_digest_mismatch_rejects_and_removes_the_file(server, data_root, monkeypatch, generated):
    serve_mnist(server, monkeypatch, generated)
    monkeypatch.setenv("NNLAB_DATA_MIRROR", server.url)
    good = download.MNIST_REMOTE[0]
    wrong = Remote(good.name, good.size, "0" * 64)
    monkeypatch.setattr(download, "MNIST_REMOTE", (wrong,) + download.MNIST_REMOTE[1:])
    with pytest.raises(DownloadError) as info:
        download.fetch("mnist", console=plain_console()[0])
    message = str(info.value)
    assert message.startswith(f"could not download {good.name}: {server.url}{good.name}: the downloaded {good.name} "
                              f"does not match the published SHA-256 (expected {'0' * 64}, got {good.sha256}); "
                              f"the file was removed")
    assert not (data_root / "mnist" / good.name).exists() and no_leftovers(data_root)


def test_interrupted_download_resumes_with_a_range_request(server, data_root, monkeypatch, generated):
    serve_mnist(server, monkeypatch, generated)
    monkeypatch.setenv("NNLAB_DATA_MIRROR", server.url)
    name = "train-images-idx3-ubyte.gz"
    body = generated["mnist"][name]
    cut = len(body) // 3
    server.cut_once[name] = cut
    with pytest.raises(DownloadError) as info:
        download.fetch("mnist", console=plain_console()[0])
    part = data_root / "mnist" / (name + ".part")
    assert f"the connection closed after {download._size(cut)} of {download._size(len(body))}" in str(info.value)
    assert f"kept in {part} and the next try resumes there" in str(info.value)
    assert part.read_bytes() == body[:cut] and not (data_root / "mnist" / name).exists()
    console, buffer = plain_console()
    download.fetch("mnist", console=console)
    assert (name, f"bytes={cut}-") in server.requests, "the second request asks for the remaining bytes"
    assert f"resuming {name} at {download._size(cut)}" in buffer.getvalue()
    assert (data_root / "mnist" / name).read_bytes() == body and no_leftovers(data_root)
    assert datasets.load_mnist()[0][0].shape == (20, 28, 28, 1)


def test_a_server_that_ignores_range_starts_the_file_again(server, data_root, monkeypatch, generated):
    serve_mnist(server, monkeypatch, generated)
    monkeypatch.setenv("NNLAB_DATA_MIRROR", server.url)
    name = "t10k-images-idx3-ubyte.gz"
    body = generated["mnist"][name]
    server.cut_once[name] = 100
    with pytest.raises(DownloadError):
        download.fetch("mnist", console=plain_console()[0])
    server.ignore_range = True
    console, buffer = plain_console()
    download.fetch("mnist", console=console)
    assert (name, "bytes=100-") in server.requests
    assert f"does not resume downloads: {name} starts again from the beginning" in buffer.getvalue()
    assert (data_root / "mnist" / name).read_bytes() == body, "200 instead of 206: not appended to the part"


def test_a_part_the_server_cannot_continue_starts_again(server, data_root, monkeypatch, generated):
    """416 (the part is as long as the server's file, which is shorter than expected) and a 206 from the
    wrong byte: the part is dropped and the file fetched whole."""
    serve_mnist(server, monkeypatch, generated)
    monkeypatch.setenv("NNLAB_DATA_MIRROR", server.url)
    name = "train-labels-idx1-ubyte.gz"
    body = generated["mnist"][name]
    remotes = [Remote(r.name, r.size + 10, r.sha256) if r.name == name else r for r in download.MNIST_REMOTE]
    monkeypatch.setattr(download, "MNIST_REMOTE", tuple(remotes))
    (data_root / "mnist").mkdir(parents=True)
    (data_root / "mnist" / (name + ".part")).write_bytes(body)
    download.fetch("mnist", console=plain_console()[0])
    assert [r for r in server.requests if r[0] == name] == [(name, f"bytes={len(body)}-"), (name, None)]
    assert (data_root / "mnist" / name).read_bytes() == body
    server.wrong_range, server.requests[:] = True, []
    other = "t10k-labels-idx1-ubyte.gz"
    (data_root / "mnist" / other).unlink()
    (data_root / "mnist" / (other + ".part")).write_bytes(generated["mnist"][other][:10])
    with pytest.raises(DownloadError, match=r"the server sent the wrong range \(bytes 0-.*\); the part was removed"):
        download.fetch("mnist", console=plain_console()[0])
    assert not (data_root / "mnist" / (other + ".part")).exists()
    server.wrong_range = False
    download.fetch("mnist", console=plain_console()[0])
    assert (data_root / "mnist" / other).read_bytes() == generated["mnist"][other]


def test_a_complete_part_is_checked_without_a_request(server, data_root, monkeypatch, generated):
    serve_mnist(server, monkeypatch, generated)
    monkeypatch.setenv("NNLAB_DATA_MIRROR", server.url)
    (data_root / "mnist").mkdir(parents=True)
    for name, body in generated["mnist"].items():
        (data_root / "mnist" / (name + ".part")).write_bytes(body)
    download.fetch("mnist", console=plain_console()[0])
    assert server.requests == [] and no_leftovers(data_root)
    assert all((data_root / "mnist" / name).is_file() for name in generated["mnist"])


# --------------------------------------------------------------------------------------------------
# Failures: offline, HTTP errors, mirrors
# --------------------------------------------------------------------------------------------------

def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def test_no_network_says_where_to_put_the_files(data_root, monkeypatch):
    url = closed_port_url()
    monkeypatch.setenv("NNLAB_DATA_MIRROR", url)
    with pytest.raises(DownloadError) as info:
        datasets.load_mnist()
    message = str(info.value)
    assert message.startswith(f"no network: could not reach {url}train-images-idx3-ubyte.gz")
    assert f"put the files in {data_root / 'mnist'} or set NNLAB_DATA" in message
    assert "Connection refused" in message and "\n" not in message


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_offline_never_touches_the_network(server, data_root, monkeypatch, generated, how):
    serve_mnist(server, monkeypatch, generated)
    monkeypatch.setenv("NNLAB_DATA_MIRROR", server.url)
    if how == "environment":
        monkeypatch.setenv("NNLAB_OFFLINE", "1")
    with pytest.raises(DownloadError) as info:
        datasets.load_cifar10(download=how == "environment")      # environment: download=True, still off
    message = str(info.value)
    assert f"CIFAR-10 binary files not found in {data_root / 'cifar-10-batches-bin'} and downloading is off" in message
    assert ("NNLAB_OFFLINE is set" if how == "environment" else "download=false") in message
    assert f"in {data_root} or set NNLAB_DATA" in message and server.url in message
    assert server.requests == []


@pytest.mark.parametrize("status", [404, 500])
def test_http_errors_are_one_sentence(server, data_root, monkeypatch, generated, status):
    serve_mnist(server, monkeypatch, generated)
    monkeypatch.setenv("NNLAB_DATA_MIRROR", server.url)
    server.errors["train-images-idx3-ubyte.gz"] = status
    with pytest.raises(DownloadError) as info:
        download.fetch("mnist", console=plain_console()[0])
    message = str(info.value)
    assert message.startswith(f"could not download train-images-idx3-ubyte.gz: "
                              f"{server.url}train-images-idx3-ubyte.gz: HTTP {status} ")
    assert f"put the files in {data_root / 'mnist'}" in message and no_leftovers(data_root)


def test_mirror_fallback_first_404_second_works(server, data_root, monkeypatch, generated):
    serve_mnist(server, monkeypatch, generated, prefix="good/")
    monkeypatch.setenv("NNLAB_DATA_MIRROR", f"{server.url}gone, {server.url}good")
    console, buffer = plain_console()
    folder = download.fetch("mnist", console=console)
    out = buffer.getvalue()
    assert f"from {server.url}gone/ (then {server.url}good/ if that fails)" in out
    assert f"{server.url}gone/train-images-idx3-ubyte.gz: HTTP 404 Not Found; trying the next mirror" in out
    assert all((folder / name).read_bytes() == body for name, body in generated["mnist"].items())


def test_mirror_argument_wins_and_must_be_a_url(server, data_root, monkeypatch, generated):
    serve_mnist(server, monkeypatch, generated)
    unreachable = closed_port_url()
    monkeypatch.setenv("NNLAB_DATA_MIRROR", unreachable)
    (x_train, _), _ = datasets.load_mnist(mirror=[server.url])
    assert x_train.shape == (20, 28, 28, 1) and all(r[0] in generated["mnist"] for r in server.requests)
    assert download.mirror_urls(("https://a/",), None) == (unreachable,)
    assert download.mirror_urls(("https://a/",), "http://m.org/x, http://n.org/") == ("http://m.org/x/",
                                                                                      "http://n.org/")
    monkeypatch.delenv("NNLAB_DATA_MIRROR")
    assert download.mirror_urls(("https://a/",)) == ("https://a/",)
    with pytest.raises(DataError, match="mirror 'ftp://x/' is not an http:// or https:// URL"):
        download.mirror_urls(("https://a/",), "ftp://x/")


# --------------------------------------------------------------------------------------------------
# CIFAR-10: the archive, unpacked safely
# --------------------------------------------------------------------------------------------------

def test_cifar10_downloads_unpacks_and_loads(server, data_root, monkeypatch, generated):
    serve_archive(server, monkeypatch, generated["archive"])
    console, buffer = plain_console()
    target = download.fetch("cifar10", console=console)
    out = buffer.getvalue()
    assert out.startswith(f"CIFAR-10: downloading cifar-10-binary.tar.gz ({download._size(len(generated['archive']))})"
                          f" from {server.url} into {data_root}")
    assert f"CIFAR-10: unpacked 6 files into {target} (the archive was removed)" in out
    assert sorted(p.name for p in target.iterdir()) == sorted(download.CIFAR10_MEMBERS), "only the expected files"
    assert sorted(p.name for p in data_root.iterdir()) == ["cifar-10-batches-bin"], "no archive, no temp folder"
    (x_train, y_train), (x_test, y_test) = datasets.load_cifar10()
    assert x_train.shape == (20 + 4 * 3, 32, 32, 3) and x_test.shape == (8, 32, 32, 3)
    expected, _ = datasets.read_cifar10_batch(generated["source"] / "cifar-10-batches-bin" / "test_batch.bin")
    np.testing.assert_array_equal(x_test, expected)


def test_an_archive_put_in_the_data_folder_is_checked_and_unpacked_offline(data_root, monkeypatch, generated):
    monkeypatch.setattr(download, "CIFAR10_REMOTE", remote_for("cifar-10-binary.tar.gz", generated["archive"]))
    monkeypatch.setenv("NNLAB_OFFLINE", "1")
    data_root.mkdir()
    (data_root / "cifar-10-binary.tar.gz").write_bytes(generated["archive"])
    assert datasets.load_cifar10()[1][0].shape == (8, 32, 32, 3)
    assert not (data_root / "cifar-10-binary.tar.gz").exists()


def test_a_wrong_archive_in_the_data_folder_is_reported_and_kept(data_root, generated):
    data_root.mkdir()
    archive = data_root / "cifar-10-binary.tar.gz"
    archive.write_bytes(generated["archive"])     # not the published archive
    with pytest.raises(DownloadError) as info:
        datasets.load_cifar10()
    assert f"{archive} is not the published CIFAR-10 binary archive: its SHA-256 is " \
           f"{hashlib.sha256(generated['archive']).hexdigest()}, expected {download.CIFAR10_REMOTE.sha256}" \
           in str(info.value)
    assert archive.is_file(), "a file the user put there is not deleted"


@pytest.mark.parametrize("damage", ["truncated", "not gzip"])
def test_a_corrupt_archive_is_a_clear_error(server, data_root, monkeypatch, generated, damage):
    body = generated["archive"]
    body = body[: len(body) // 2] if damage == "truncated" else b"this is not an archive" * 10
    serve_archive(server, monkeypatch, body)      # its own digest: the download itself succeeds
    with pytest.raises(DownloadError) as info:
        download.fetch("cifar10", console=plain_console()[0])
    message = str(info.value)
    assert message.startswith(f"cannot unpack {data_root / 'cifar-10-binary.tar.gz'}: ")
    assert message.endswith("(a damaged archive?): delete it and try again")
    assert not (data_root / "cifar-10-batches-bin").exists() and no_leftovers(data_root)


@pytest.mark.parametrize("member, link, why", [
    ("cifar-10-batches-bin/data_batch_1.bin", "/etc/passwd", "is a link to '/etc/passwd'"),
    ("../escaped.bin", None, "has an unsafe path"),
    ("/tmp/absolute.bin", None, "has an unsafe path"),
])
def test_a_hostile_archive_is_refused(server, data_root, monkeypatch, generated, member, link, why):
    members = {f"cifar-10-batches-bin/{n}": b"x" * 3073 for n in download.CIFAR10_MEMBERS}
    if link:
        members.pop(member)
        body = make_tar(members, links={member: link})
    else:
        body = make_tar({**members, member: b"evil"})
    serve_archive(server, monkeypatch, body)
    with pytest.raises(DownloadError) as info:
        download.fetch("cifar10", console=plain_console()[0])
    assert f"refusing to unpack {data_root / 'cifar-10-binary.tar.gz'}: its member {member!r} {why}" in str(info.value)
    assert not (data_root / "cifar-10-batches-bin").exists() and no_leftovers(data_root)
    assert not (data_root.parent / "escaped.bin").exists() and not Path("/tmp/absolute.bin").exists()


def test_an_archive_without_the_batches_is_refused(server, data_root, monkeypatch):
    serve_archive(server, monkeypatch, make_tar({"cifar-10-batches-bin/data_batch_1.bin": b"x" * 3073}))
    with pytest.raises(DownloadError, match=r"lacks cifar-10-batches-bin/data_batch_2\.bin, .* \(not the CIFAR-10"):
        download.fetch("cifar10", console=plain_console()[0])
    assert not (data_root / "cifar-10-batches-bin").exists()


# --------------------------------------------------------------------------------------------------
# The shell: mirror= and download= options, and a script end to end through `python -m shell run`
# --------------------------------------------------------------------------------------------------

def test_data_mnist_mirror_option_in_the_shell(server, data_root, monkeypatch, generated):
    serve_mnist(server, monkeypatch, generated)
    buffer = io.StringIO()
    session = Session(Output(buffer))
    assert session.execute_source(f'data mnist mirror="{closed_port_url()},{server.url}" limit=10\n', "t.nn")
    out = buffer.getvalue()
    assert "MNIST: downloading 4 files" in out and "Connection refused; trying the next mirror" in out
    assert "data mnist: 10 train, 8 test" in out and session.data.x_train.shape == (10, 28, 28, 1)


def test_data_cifar10_offline_in_the_shell_is_one_error(data_root):
    buffer = io.StringIO()
    session = Session(Output(buffer))
    assert not session.execute_source("data cifar10 download=false\n", "t.nn")
    out = buffer.getvalue()
    assert "t.nn:1:23: error: CIFAR-10 binary files not found in" in out and "download=false" in out
    assert "hint: `help data` shows mirror= and download=" in out and "Traceback" not in out


_RUN_PATCHED = """
import json, runpy, sys
from engine import download
download.MNIST_REMOTE = tuple(download.Remote(*r) for r in json.loads(sys.argv[1]))
sys.argv = ["nnlab", "run", sys.argv[2]]
runpy.run_module("shell", run_name="__main__", alter_sys=True)
"""


def test_a_script_downloads_mnist_end_to_end(server, data_root, monkeypatch, generated, tmp_path):
    """`python -m shell run` (its digests swapped for the generated files' before it starts) fetches MNIST
    from the local server named by NNLAB_DATA_MIRROR and trains on it."""
    serve_mnist(server, monkeypatch, generated)
    script = tmp_path / "gan_data.nn"
    script.write_text("data mnist limit=16 scale=symmetric\nmodel m\n  flatten\n  dense 10 activation=softmax\n"
                      "end\ncompile optimizer=sgd loss=sparse_categorical_crossentropy metrics=accuracy\n"
                      "train epochs=1 batch_size=8\n")
    remotes = json.dumps([[r.name, r.size, r.sha256] for r in download.MNIST_REMOTE])
    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1", NNLAB_DATA_MIRROR=server.url,
               NNLAB_OUT=str(tmp_path / "out"))
    result = subprocess.run([sys.executable, "-c", _RUN_PATCHED, remotes, str(script)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "MNIST: downloading 4 files" in out and f"from {server.url} into {data_root / 'mnist'}" in out
    assert "data mnist: 16 train, 8 test; x (None, 28, 28, 1)" in out and "epoch 1/1" in out
    assert sorted(p.name for p in (data_root / "mnist").iterdir()) == sorted(generated["mnist"])
    assert len(server.requests) == 4
