"""A corpus of broken, truncated, foreign and special files (weights, checkpoints, data, scripts), generated
here: each one, given to the statement that reads it, yields its own one-sentence message naming the file,
changes nothing, never hangs, never shows a traceback, and never shows what a non-script file holds."""
from __future__ import annotations

import gzip
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from engine import datasets
from shell.interpreter import Session
from shell.output import Output

SECRET = "SECRET-7f3a"          # written into every foreign file: no error may show it

MODEL = "model m input=(3,)\n  dense 2\nend\n"
TRAIN = ("data npz d.npz\nmodel m input=(3,)\n  dense 2\nend\ncompile optimizer=adam loss=mse\n"
         "train epochs=3 batch_size=4 resume=c.npz\n")


def npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def weights(**changes) -> dict:
    """The arrays of a good weights file for MODEL, with some replaced (None removes one)."""
    arrays = {"000.dense/kernel": np.ones((3, 2), np.float32), "001.dense/bias": np.zeros(2, np.float32)}
    arrays.update(changes)
    return {k: v for k, v in arrays.items() if v is not None}


def good_weights() -> bytes:
    return npz_bytes(**weights())


def zip_of(members: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buf.getvalue()


def npy(header: str, body: bytes = b"", version: int = 1) -> bytes:
    text = header.encode("latin1")
    size = len(text).to_bytes(2 if version == 1 else 4, "little")
    return b"\x93NUMPY" + bytes([version, 0]) + size + text + body


def flipped(data: bytes, where: float) -> bytes:
    i = int(len(data) * where)
    return data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:]


def checkpoint(tmp_path: Path, change=None, state=None) -> bytes:
    """A good checkpoint of TRAIN's model (written by a first run), with arrays changed or the state edited."""
    folder = tmp_path / "good"
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    np.savez(folder / "d.npz", x=rng.random((8, 3)), y=rng.random((8, 2)))
    s = Session(Output(io.StringIO()))
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        assert s.execute_source(TRAIN.replace(" resume=c.npz", " checkpoint=c.npz").replace("epochs=3", "epochs=1"))
    finally:
        os.chdir(cwd)
    with np.load(folder / "c.npz") as archive:
        arrays = {k: archive[k] for k in archive.files}
    if state is not None:
        record = json.loads(arrays["state"].tobytes())
        edited = state(record)
        text = edited if isinstance(edited, (str, bytes)) else json.dumps(record)
        arrays["state"] = np.frombuffer(text.encode() if isinstance(text, str) else text, np.uint8)
    if change is not None:
        change(arrays)
        arrays = {k: v for k, v in arrays.items() if v is not None}
    return npz_bytes(**arrays)


def idx(code: int, shape, body: bytes | None = None) -> bytes:
    header = bytes([0, 0, code, len(shape)]) + np.asarray(shape, ">u4").tobytes()
    size = int(np.prod(shape)) * {0x08: 1, 0x0D: 4}[code]
    return header + (bytes(size) if body is None else body)


def mnist(tmp_path: Path, **replace) -> Path:
    """A small MNIST folder (8 train, 4 test images) with some of its four files replaced by raw bytes."""
    folder = tmp_path / "mnist"
    folder.mkdir(exist_ok=True)
    good = {"train-images-idx3-ubyte": idx(0x08, (8, 28, 28)), "train-labels-idx1-ubyte": idx(0x08, (8,)),
            "t10k-images-idx3-ubyte": idx(0x08, (4, 28, 28)), "t10k-labels-idx1-ubyte": idx(0x08, (4,))}
    for name, data in {**good, **replace}.items():
        if data is not None:
            (folder / name).write_bytes(data)
    return folder


def labels_with(value, at=3, n=8) -> bytes:
    body = np.zeros(n, np.uint8)
    body[at] = value
    return idx(0x08, (n,), body.tobytes())


# --------------------------------------------------------------------------------------------------
# The corpus: (id, statement prefix, file name, content or maker, expected message)
# A maker is a function of tmp_path returning bytes, or "fifo" / "zero" / "folder" / "missing".
# --------------------------------------------------------------------------------------------------

GOOD = good_weights()
LOAD = MODEL + "load weights w.npz\n"
WEIGHTS_CASES = [
    ("empty", b"", "cannot read weights from w.npz: it is not an .npz archive"),
    ("text", f"hello {SECRET}\n".encode(), "it is not an .npz archive"),
    ("random bytes", bytes(np.random.default_rng(1).integers(0, 256, 500, dtype=np.uint8)), "not an .npz archive"),
    ("gzip", gzip.compress(GOOD), "it is not an .npz archive"),
    ("a .npy named .npz", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", bytes(8)),
     "it is a single .npy array, not an .npz archive"),
    *[(f"truncated to {n} bytes", GOOD[:n], "the archive is truncated or damaged")
      for n in (4, 30, 64, 100, 200, 300, len(GOOD) // 2, len(GOOD) - 30, len(GOOD) - 1)],
    ("a flipped data byte", flipped(GOOD, 0.25), "the archive is truncated or damaged"),
    ("a damaged end record", GOOD[:-22] + bytes([GOOD[-22] ^ 0xFF]) + GOOD[-21:], "truncated or damaged"),
    ("an empty archive", zip_of({}), "the archive holds no arrays"),
    ("a pickled object array", zip_of({"000.dense/kernel.npy": npy(
        "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", SECRET.encode())}),
     "array 1 does not hold plain numbers (nnlab reads no object arrays, so nothing is unpickled)"),
    ("a text array", npz_bytes(**weights(**{"000.dense/kernel": np.array([SECRET] * 6).reshape(3, 2)})),
     "does not hold plain numbers"),
    ("a structured array", npz_bytes(**weights(**{"001.dense/bias": np.zeros(2, "i4,f4")})), "does not hold plain"),
    ("complex weights", npz_bytes(**weights(**{"001.dense/bias": np.zeros(2, np.complex64)})),
     "weight 'dense/bias' takes real numbers, got an array of complex64 in w.npz"),
    ("boolean weights", npz_bytes(**weights(**{"001.dense/bias": np.zeros(2, bool)})), "got an array of bool"),
    ("NaN weights", npz_bytes(**weights(**{"001.dense/bias": np.array([0, np.nan], np.float32)})),
     "weight 'dense/bias' would get 1 NaN or infinite value in w.npz"),
    ("inf weights", npz_bytes(**weights(**{"000.dense/kernel": np.full((3, 2), np.inf, np.float32)})),
     "would get 6 NaN or infinite values"),
    ("float16 NaN", npz_bytes(**weights(**{"001.dense/bias": np.array([np.nan, 1], np.float16)})), "NaN or infinite"),
    ("an array missing", npz_bytes(**weights(**{"001.dense/bias": None})),
     "model 'm' has 2 weight arrays, got 1 in w.npz"),
    ("an array too many", npz_bytes(**weights(**{"002.dense/extra": np.zeros(2, np.float32)})),
     "has 2 weight arrays, got 3"),
    ("a wrong shape", npz_bytes(**weights(**{"000.dense/kernel": np.ones((4, 2), np.float32)})),
     r"weight 'dense/kernel' has shape (3, 2), got (4, 2) in w.npz"),
    ("a scalar", npz_bytes(**weights(**{"001.dense/bias": np.float32(1)})), "has shape (2,), got ()"),
    ("swapped names", npz_bytes(**{"000.dense/bias": np.ones((3, 2), np.float32),
                                   "001.dense/kernel": np.zeros(2, np.float32)}),
     "w.npz holds the weights of a different model: its array 0 is not a 'kernel'"),
    ("names not numbered", npz_bytes(kernel=np.ones((3, 2)), bias=np.zeros(2)),
     "it is not a weights file written by save_weights (its array names are not NNN.layer/weight)"),
    ("a number twice", npz_bytes(**{"000.dense/kernel": np.ones((3, 2)), "000.other/bias": np.zeros(2)}),
     "its arrays are not numbered 0 to 1 once each"),
    ("a gap in the numbers", npz_bytes(**{"000.dense/kernel": np.ones((3, 2)), "002.dense/bias": np.zeros(2)}),
     "not numbered 0 to 1 once each"),
    ("a member that is not .npy", zip_of({"000.dense/kernel.npy": SECRET.encode(), "001.dense/bias.npy": b""}),
     "array 1 is not a .npy array"),
    ("a damaged header", zip_of({"000.dense/kernel.npy": npy(f"{{'descr': {SECRET}}}")}),
     "array 1 has a damaged header"),
    ("a header that is not a dict", zip_of({"000.dense/kernel.npy": npy("[1, 2, 3]")}), "has a damaged header"),
    ("a header nested 5000 deep", zip_of({"000.dense/kernel.npy": npy("[" * 5000 + "]" * 5000)}),
     "has a damaged header"),
    ("a header with a 5000-digit number", zip_of({"000.dense/kernel.npy": npy(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (" + "9" * 5000 + ",), }")}), "has a damaged header"),
    ("a header longer than its member", zip_of({"000.dense/kernel.npy": npy("{}")[:9]}), "is not a .npy array"),
    ("a header promising more data", zip_of({"000.dense/kernel.npy": npy(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000,), }", bytes(24))}),
     "array 1 is truncated or damaged (its header promises 4000000 bytes, it has 24)"),
    ("a negative shape", zip_of({"000.dense/kernel.npy": npy(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }")}), "has a damaged header"),
    ("an unknown .npy version", zip_of({"000.dense/kernel.npy": npy("{}", version=9)}),
     "has an unknown .npy version 9"),
    ("a named pipe", "fifo", "cannot read weights from w.npz: it is a named pipe (FIFO), not a file"),
    ("/dev/zero", "zero", "cannot read weights from w.npz: it is a character device, not a file"),
    ("a folder", "folder", "cannot read weights from w.npz: it is a folder"),
    ("a missing file", "missing", "file not found: w.npz"),
]

RESUME_CASES = [
    ("a weights file", lambda t: good_weights(), "it is not a checkpoint written by fit(checkpoint=...)"),
    ("a state that is not JSON", lambda t: checkpoint(t, state=lambda r: f"{{{SECRET}"),
     "its state record it is damaged"),
    ("a state that is a list", lambda t: checkpoint(t, state=lambda r: "[1, 2]"), "is not an nnlab checkpoint's"),
    ("another version", lambda t: checkpoint(t, state=lambda r: r.update(version=99)),
     "has another version than the 1 this nnlab reads"),
    ("a negative epoch", lambda t: checkpoint(t, state=lambda r: r.update(epoch=-1)), "its state record it is damaged"),
    ("a 5000-digit epoch", lambda t: checkpoint(t, state=lambda r: '{"format": "nnlab-checkpoint", "version": 1, '
                                                 '"epoch": ' + "9" * 5000 + "}"), "its state record it is damaged"),
    ("a state nested 100000 deep", lambda t: checkpoint(t, state=lambda r: "[" * 100000 + "]" * 100000),
     "its state record it is damaged"),
    ("a history of the wrong length", lambda t: checkpoint(t, state=lambda r: r["history"].update(loss=[1, 2, 3])),
     "has a history that does not match its epochs"),
    ("a random state that is not valid", lambda t: checkpoint(t, state=lambda r: r["random"].update(
        engine={"bit_generator": "PCG64", "state": {"state": -5, "inc": SECRET}})),
     "has a random state that is not valid"),
    ("the random state of a missing layer", lambda t: checkpoint(t, state=lambda r: r["random"].update(
        {"7": r["random"]["engine"]})), "it holds the random state of a layer this model does not have"),
    ("a slot of the wrong shape", lambda t: checkpoint(t, change=lambda a: a.update(
        {"slots/000/momentum": np.zeros((5, 5), np.float32)})), "the optimizer state of weight 0 does not fit"),
    ("a NaN slot", lambda t: checkpoint(t, change=lambda a: a.update(
        {"slots/001/velocity": np.full(2, np.nan, np.float32)})), "does not fit this model (or is not finite)"),
    ("an unknown array", lambda t: checkpoint(t, change=lambda a: a.update({"extra": np.zeros(1)})),
     "it holds arrays a checkpoint does not"),
    ("NaN weights", lambda t: checkpoint(t, change=lambda a: a.update(
        {"weights/001.dense/bias": np.full(2, np.nan, np.float32)})), "would get 2 NaN or infinite values in c.npz"),
    ("a missing weight", lambda t: checkpoint(t, change=lambda a: a.update({"weights/001.dense/bias": None})),
     "model 'm' has 2 weight arrays, got 1 in c.npz"),
    ("another optimizer", lambda t: checkpoint(t, state=lambda r: r["optimizer"].update(name="SGD")),
     "c.npz was written while training with the SGD optimizer; this model is compiled with adam"),
    ("other settings", lambda t: checkpoint(t, state=lambda r: r["settings"].update(batch_size=7)),
     "it was written by a fit with batch_size=7, this one has batch_size=4"),
    ("a named pipe", "fifo", "cannot read a checkpoint from c.npz: it is a named pipe (FIFO), not a file"),
]

CSV = "data csv d.csv\n"
CSV_CASES = [
    ("a NaN", b"a,b\n1,2\n3,nan\n", "d.csv: 1 values are NaN or infinite (the first on line 3, value 2)"),
    ("an inf", b"a,b\n1,2\n3,4\n-inf,5\n", "(the first on line 4, value 1); expected finite numbers"),
    ("a word", f"a,b\n1,{SECRET}\n".encode(), "d.csv, line 2: value 2 is not a number"),
    ("a short row", b"a,b,c\n1,2,3\n4,5\n", "d.csv, line 3: expected 3 values, got 2"),
    ("empty", b"", "d.csv is empty"),
    ("only comments", b"# nothing\n\n", "d.csv is empty"),
    ("a header only", b"a,b\n", "d.csv has a header but no data rows"),
    ("not UTF-8", b"a,b\n\xff\xfe,1\n",
     "cannot read a CSV table from d.csv: it is not UTF-8 text (byte 5 is not valid)"),
    ("a named pipe", "fifo", "cannot read a CSV table from d.csv: it is a named pipe (FIFO), not a file"),
    ("/dev/zero", "zero", "cannot read a CSV table from d.csv: it is a character device, not a file"),
    ("a folder", "folder", "cannot read a CSV table from d.csv: it is a folder"),
]

ENERGIES = "data energies path=e.csv\n"
ENERGIES_CASES = [
    ("a wrong header", f"a,b\n{SECRET}\n".encode(), "e.csv: the first line must be the header 'x,y'"),
    ("empty", b"", "the first line must be the header 'x,y' (the file is empty)"),
    ("a header only", b"x,y\n", "e.csv: no data rows after the header 'x,y'"),
    ("three values", b"x,y\n1,2,3\n", "e.csv, line 2: expected 2 comma-separated values, got 3"),
    ("a word", f"x,y\n1,{SECRET}\n".encode(), "e.csv, line 2: expected two numbers"),
    ("a NaN", b"x,y\n1,2\n2,nan\n", "e.csv, line 3: values must be finite (not NaN or inf)"),
    ("not UTF-8", b"x,y\n\xc3\x28\n", "it is not UTF-8 text (byte 5 is not valid)"),
    ("a named pipe", "fifo", "cannot read the energies (a CSV file with header 'x,y') from e.csv: it is a named pipe"),
]

NPZ = "data npz d.npz\n"
NPZ_CASES = [
    ("no x key", npz_bytes(a=np.ones(3)), "d.npz has none of the keys x, x_train"),
    ("a NaN in x", npz_bytes(x=np.array([[1.0], [np.nan]]), y=np.ones(2)),
     "d.npz: array 'x' holds 1 NaN or infinite value (the first in sample 1)"),
    ("an inf in y", npz_bytes(x=np.ones((3, 2)), y=np.array([1, np.inf, 2])), "array 'y' holds 1 NaN or infinite"),
    ("complex x", npz_bytes(x=np.ones((3, 2), complex), y=np.ones(3)),
     "d.npz: array 'x' must hold real numbers, got complex numbers"),
    ("text y", npz_bytes(x=np.ones((2, 2)), y=np.array([SECRET, "b"])), "array 2 does not hold plain numbers"),
    ("x and y of different lengths", npz_bytes(x=np.ones((6, 2)), y=np.ones(5)), "x has 6 samples but y has 5"),
    ("a scalar x", npz_bytes(x=np.float64(3), y=np.ones(1)), "d.npz: array 'x' is a single number"),
    ("no samples", npz_bytes(x=np.ones((0, 2)), y=np.ones(0)), "d.npz: x holds no samples (0 of them)"),
    ("truncated", npz_bytes(x=np.ones((6, 2)), y=np.ones(6))[:150], "the archive is truncated or damaged"),
    ("text", f"{SECRET}\n".encode(), "cannot read arrays (an .npz file) from d.npz: it is not an .npz archive"),
    ("/dev/zero", "zero", "it is a character device, not a file"),
]

MNIST = "data mnist path=mnist\n"
MNIST_CASES = [
    ("a label of 200", {"train-labels-idx1-ubyte": labels_with(200)},
     "train-labels-idx1-ubyte: 1 of the labels is outside the class range 0..9 (the first is number 3, 200)"),
    ("a label of 10 in the test set", {"t10k-labels-idx1-ubyte": labels_with(10, at=0, n=4)},
     "the class range 0..9 (the first is number 0, 10)"),
    ("no training images", {"train-images-idx3-ubyte": idx(0x08, (0, 28, 28)),
                            "train-labels-idx1-ubyte": idx(0x08, (0,))},
     "the training images holds no samples (0 of them); expected at least one"),
    ("a bad magic number", {"train-images-idx3-ubyte": b"\x01\x02\x08\x03" + bytes(20)},
     "bad IDX magic number 0x01020803 (not an IDX file?)"),
    ("a truncated header", {"train-labels-idx1-ubyte": b"\x00\x00\x08\x03\x00"}, "IDX header truncated"),
    ("truncated images", {"train-images-idx3-ubyte": idx(0x08, (8, 28, 28))[:-5]},
     "IDX file truncated: header says shape (8, 28, 28)"),
    ("extra bytes", {"train-labels-idx1-ubyte": idx(0x08, (8,)) + b"x"}, "IDX file has extra bytes"),
    ("27 x 27 images", {"train-images-idx3-ubyte": idx(0x08, (8, 27, 27))}, "expected 28 x 28 images, got 27 x 27"),
    ("float images", {"train-images-idx3-ubyte": idx(0x0D, (8, 28, 28))}, "expected an image file"),
    ("labels in an image file", {"train-labels-idx1-ubyte": idx(0x08, (8, 28, 28))}, "expected a label file"),
    ("more labels than images", {"train-labels-idx1-ubyte": idx(0x08, (9,))}, "has 8 images but"),
    ("a damaged gzip file", {"train-images-idx3-ubyte": None, "train-images-idx3-ubyte.gz": SECRET.encode()},
     "cannot read a data file from"),
    ("a missing file", {"t10k-labels-idx1-ubyte": None}, "MNIST files not found"),
]

CIFAR = "data cifar10 path=cifar\n"
CIFAR_CASES = [
    ("a partial record", b"\x01" * 3074, "size 3074 bytes is not a whole number of 3073-byte CIFAR-10 records"),
    ("a label of 12", bytes([12]) + bytes(3072), "label byte 12 is out of range 0..9"),
    ("an empty batch", b"", "size 0 bytes is not a whole number"),
]

SCRIPT_CASES = [
    ("a form feed", "set seed 1\n# x\fsave weights w.npz\n", "s.nn:2:4: error: control character U+000C (form feed)"),
    ("a vertical tab", "set seed 1\x0bset seed 2\n", "control character U+000B (vertical tab)"),
    ("NEL", "# \x85quit\n", "s.nn:1:3: error: control character U+0085 (next line, NEL)"),
    ("U+2028", "set seed 1 # \u2028 set seed 2\n", "control character U+2028 (line separator)"),
    ("U+2029", "\u2029\n", "control character U+2029 (paragraph separator)"),
    ("NUL", "set seed 1\x00\n", "control character U+0000 (NUL)"),
    ("escape", "set \x1b[31mseed 1\n", "control character U+001B (escape)"),
    ("delete", "set seed\x7f 1\n", "control character U+007F (delete)"),
    ("a C1 control", "set seed 1 \x9b\n", "control character U+009B"),
    ("a right-to-left override", "set seed 1 # \u202e 2 dees tes\n", "U+202E (right-to-left override)"),
    ("a later line's number", "set seed 1\r\n\r\n\rbogus\n", "s.nn:4:1: error: unknown statement 'bogus'"),
    ("1000 nested brackets", "model m input=" + "(" * 1000 + "2" + ")" * 1000 + "\nend\n",
     "brackets nest more than 32 deep here"),
    ("a 5000-digit integer", "set seed " + "7" * 5000 + "\n", "this number has more than 100 digits"),
    ("a 5000-digit float", "compile lr=1." + "5" * 5000 + " loss=mse\n", "this number has more than 100 digits"),
    ("a model never closed", "model m input=(3,)\n  dense 2\n", "model 'm' is never closed"),
    ("a script that runs itself", "run s.nn\n", "scripts run each other more than 8 deep"),
    ("not UTF-8", b"set seed 1\n\xff\n", "cannot read a .nn script from s.nn: it is not UTF-8 text (byte 12"),
    ("too large", lambda t: b"#" * (16 * 2 ** 20 + 1), "it holds 16.0 MB, more than the 16.0 MB nnlab can take"),
    ("a named pipe", "fifo", "cannot read a .nn script from s.nn: it is a named pipe (FIFO), not a file"),
    ("/dev/zero", "zero", "cannot read a .nn script from s.nn: it is a character device, not a file"),
    ("a folder", "folder", "cannot read a .nn script from s.nn: it is a folder"),
]

CASES = ([("weights", *c) for c in WEIGHTS_CASES] + [("resume", *c) for c in RESUME_CASES]
         + [("csv", *c) for c in CSV_CASES] + [("energies", *c) for c in ENERGIES_CASES]
         + [("npz", *c) for c in NPZ_CASES] + [("mnist", *c) for c in MNIST_CASES]
         + [("cifar", *c) for c in CIFAR_CASES] + [("script", *c) for c in SCRIPT_CASES])

STATEMENTS = {"weights": (LOAD, "w.npz"), "resume": (TRAIN, "c.npz"), "csv": (CSV, "d.csv"),
              "energies": (ENERGIES, "e.csv"), "npz": (NPZ, "d.npz"), "mnist": (MNIST, None),
              "cifar": (CIFAR, None), "script": ("run s.nn\n", "s.nn")}


def test_the_corpus_has_more_than_100_cases():
    assert len(CASES) >= 100 and len({(kind, name) for kind, name, *_ in CASES}) == len(CASES)


def place(tmp_path: Path, name: str, content) -> None:
    path = tmp_path / name
    if content == "fifo":
        os.mkfifo(path)
    elif content == "zero":
        path.symlink_to("/dev/zero")
    elif content == "folder":
        path.mkdir()
    elif content != "missing":
        path.write_bytes(content(tmp_path) if callable(content) else
                         content.encode("utf-8") if isinstance(content, str) else content)


@pytest.mark.parametrize("kind, name, content, expected", CASES, ids=[f"{c[0]}: {c[1]}" for c in CASES])
def test_a_broken_file_yields_its_message(tmp_path, monkeypatch, kind, name, content, expected):
    monkeypatch.chdir(tmp_path)
    statement, file = STATEMENTS[kind]
    if kind == "resume":
        rng = np.random.default_rng(0)
        np.savez(tmp_path / "d.npz", x=rng.random((8, 3)), y=rng.random((8, 2)))
    if kind == "mnist":
        mnist(tmp_path, **content)
    elif kind == "cifar":
        folder = tmp_path / "cifar"
        folder.mkdir()
        (folder / "data_batch_1.bin").write_bytes(content)
        (folder / "test_batch.bin").write_bytes(bytes(3073))
    else:
        place(tmp_path, file, content)
    buf = io.StringIO()
    session = Session(Output(buf))
    before = None
    if kind == "weights":
        session.execute_source(MODEL)
        before = session.models["m"].model.get_weights()
        statement = statement[len(MODEL):]
    ok = session.execute_source(statement, "s.nn")
    out = buf.getvalue()
    assert not ok, out
    assert expected in out, out
    assert "Traceback" not in out and "internal error" not in out
    if kind != "script":
        assert SECRET not in out, "an error showed what a non-script file holds"
    assert len([line for line in out.splitlines() if ": error: " in line]) == 1
    if before is not None:
        for a, b in zip(before, session.models["m"].model.get_weights()):
            np.testing.assert_array_equal(a, b)          # nothing was assigned
