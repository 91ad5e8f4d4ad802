"""Hypothesis fuzzing of the parser and of every file loader: whatever the bytes (random, or a valid file
truncated, with flipped bytes, with bytes spliced in), the only exceptions are nnlab's own error types."""
from __future__ import annotations

import gzip
import io
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import datasets, layers, optimizers, random, saving
from engine.datachecks import DataError
from engine.files import FileError, read_npz
from engine.models import ModelError, Sequential
from engine.resources import ResourceError
from shell.errors import NNError
from shell.interpreter import Session
from shell.language.parser import parse
from shell.output import Output
from shell.statements.data import _read_csv
from shell.statements.files import read_script

OWN_ERRORS = (FileError, DataError, ModelError, NNError, ResourceError)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def model():
    random.set_seed(0)
    m = Sequential([layers.Dense(4, input_shape=(3,), activation="relu"), layers.Dropout(0.5), layers.Dense(2)])
    m.compile(optimizer=optimizers.Adam(), loss="mse")
    return m


def _valid_files(folder):
    """One valid file of every format nnlab reads (the seeds the mutations start from)."""
    m = model()
    m.save_weights(folder / "w.npz")
    x, y = np.random.default_rng(0).random((8, 3)), np.random.default_rng(1).random((8, 2))
    m.fit(x, y, epochs=1, batch_size=4, verbose=0, checkpoint=folder / "c.npz")
    images = datasets.write_idx(folder / "i-ubyte", np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28))
    datasets.write_cifar10_batch(folder / "b.bin", np.zeros((2, 32, 32, 3), np.uint8), np.array([1, 2]))
    return {"weights": (folder / "w.npz").read_bytes(), "checkpoint": (folder / "c.npz").read_bytes(),
            "idx": images.read_bytes(), "idx.gz": gzip.compress(images.read_bytes()),
            "cifar": (folder / "b.bin").read_bytes(), "csv": b"a,b,c\n1,2,3\n4,5,6\n",
            "energies": b"x,y\n2,0.5\n4,0.25\n", "script": b"data digits\nmodel m\n  flatten\n  dense 10\nend\n"}


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    return _valid_files(tmp_path_factory.mktemp("seeds"))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@st.composite
def mutated(draw, seed: bytes):
    """Random bytes, or `seed` truncated, with a byte flipped, or with random bytes spliced in."""
    how = draw(st.sampled_from(["random", "truncate", "flip", "splice", "same"]))
    if how == "random" or not seed:
        return draw(st.binary(max_size=600))
    if how == "truncate":
        return seed[:draw(st.integers(0, len(seed) - 1))]
    if how == "flip":
        i = draw(st.integers(0, len(seed) - 1))
        return seed[:i] + bytes([seed[i] ^ draw(st.integers(1, 255))]) + seed[i + 1:]
    if how == "splice":
        i = draw(st.integers(0, len(seed)))
        return seed[:i] + draw(st.binary(min_size=1, max_size=40)) + seed[i:]
    return seed


def write(folder, name, data: bytes):
    path = folder / name
    path.write_bytes(data)
    return path


def only_own_errors(call):
    try:
        call()
    except OWN_ERRORS:
        pass


# --------------------------------------------------------------------------------------------------
# The parser
# --------------------------------------------------------------------------------------------------

_PIECES = st.sampled_from(["data digits", "model m input=", "(", ")", "[", "]", ",", "=", "#", " ", "\t", "\n",
                           "\r", "\r\n", "\f", "\v", "\x85", "\u2028", "\u2029", "\x00", "\ufeff", "\u202e",
                           "9" * 120, "1e400", "logspace(", "dense 3", "end", '"', "'", "\\", "$(x)", "~", ".."])


@FUZZ
@given(st.lists(_PIECES | st.text(max_size=8), max_size=40).map("".join))
def test_parser_raises_only_nnerror(text):
    try:
        parse(text, "fuzz.nn")
    except NNError:
        pass


@FUZZ
@given(st.integers(0, 3000), st.integers(0, 6000))
def test_deep_brackets_and_long_numbers_are_nnerrors(depth, digits):
    try:
        parse(f"model m input={'(' * depth}{'7' * digits}{')' * depth}\nend\n")
    except NNError:
        pass


# --------------------------------------------------------------------------------------------------
# The loaders
# --------------------------------------------------------------------------------------------------

@FUZZ
@given(st.data())
def test_npz_loaders(seeds, folder, data):
    raw = data.draw(mutated(seeds[data.draw(st.sampled_from(["weights", "checkpoint"]))]))
    path = write(folder, "f.npz", raw)
    only_own_errors(lambda: read_npz(path, "arrays"))
    target = model()
    before = target.get_weights()
    try:
        target.load_weights(path)
    except OWN_ERRORS:
        for a, b in zip(before, target.get_weights()):
            np.testing.assert_array_equal(a, b)       # all or nothing
    only_own_errors(lambda: saving.read_checkpoint(model(), path))


@FUZZ
@given(st.data())
def test_data_file_loaders(seeds, folder, data):
    kind = data.draw(st.sampled_from(["idx", "idx.gz", "cifar", "csv", "energies"]))
    raw = data.draw(mutated(seeds[kind]))
    if kind.startswith("idx"):
        only_own_errors(lambda: datasets.read_idx(write(folder, "f-ubyte" + kind[3:], raw)))
    elif kind == "cifar":
        only_own_errors(lambda: datasets.read_cifar10_batch(write(folder, "f.bin", raw)))
    elif kind == "csv":
        only_own_errors(lambda: _read_csv(write(folder, "f.csv", raw)))
    else:
        only_own_errors(lambda: datasets.energies(write(folder, "e.csv", raw)))


@FUZZ
@given(st.data())
def test_scripts(seeds, folder, data):
    path = write(folder, "s.nn", data.draw(mutated(seeds["script"])))
    only_own_errors(lambda: parse(read_script(path), "s.nn"))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_statements_reading_fuzzed_files_report_errors_not_tracebacks(seeds, folder, data):
    kind, statement, name = data.draw(st.sampled_from([
        ("weights", "model m input=(3,)\n  dense 4 activation=relu\n  dropout 0.5\n  dense 2\nend\n"
                    "load weights w.npz\n", "w.npz"),
        ("weights", "data npz d.npz\n", "d.npz"), ("csv", "data csv d.csv\n", "d.csv"),
        ("energies", "data energies path=e.csv\n", "e.csv"), ("script", "run s.nn\n", "s.nn")]))
    write(folder, name, data.draw(mutated(seeds[kind])))
    buf = io.StringIO()
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        Session(Output(buf)).execute_source(statement, "t.nn")
    finally:
        os.chdir(cwd)
    out = buf.getvalue()
    assert "internal error" not in out and "Traceback" not in out, out
