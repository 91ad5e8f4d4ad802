"""Every example `help` shows runs (checklist row 23).

The registry (`shell.registry`) holds a runnable example for every statement, every statement form and
every layer; `help` prints them. Each example runs here in a fresh Session, after the smallest setup it
needs (SETUP, keyed by the statement or form name: data, a model, a training run, a file to load), with
`--epochs 1` (Session(epochs=1)) and a temporary output folder, from a temporary working folder that holds
small generated MNIST / CIFAR-10 files (engine.datasets.write_idx / write_cifar10_batch), a copy of the
energies CSV, an .npz file and the repository's `models/` scripts. Nothing is skipped: an example that
fails is fixed in the registry.
"""
from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest

from shell.interpreter import Session
from shell.output import Output
from shell.registry.layer_table import LAYERS
from shell.registry.statement_table import STATEMENTS
from tests.datafiles import write_small_datasets

REPO = Path(__file__).resolve().parent.parent

_DIGITS = "data digits\n"
_DENSE = ("model cnn\n  flatten\n  dense 10 activation=softmax l2=1e-4\nend\n"
          "compile optimizer=sgd loss=categorical_crossentropy metrics=accuracy\n")
_CNN = ("model cnn\n  conv2d 4 kernel=3 padding=same activation=relu\n  maxpool2d 2\n  flatten\n"
        "  dense 10 activation=softmax\nend\n")
_TRAINED = _DIGITS + _DENSE + "train epochs=1 batch_size=100\n"
_GENERATOR = "model generator input=(8,)\n  dense 64 activation=tanh\n  reshape (8,8,1)\nend\n"

#: what runs before an example (by statement or form name); no entry: a fresh session
SETUP = {
    "plot": _TRAINED,
    "plot history": _TRAINED,
    "plot predictions": "data energies\nmodel rnn input=(2,1)\n  simple_rnn 4\n  dense 1\nend\n",
    "plot grid": _DIGITS + _DENSE + "grid lr=0.1 l2=1e-4 epochs=1\n",
    "plot images": _DIGITS,
    "plot filters": _DIGITS + _CNN,
    "plot featuremaps": _DIGITS + _CNN,
    "plot samples": _GENERATOR,
    "gan train": (_DIGITS + "model G input=(100,)\n  dense 64 activation=tanh\n  reshape (8,8,1)\nend\n"
                  "model D input=(8,8,1)\n  flatten\n  dense 1\nend\n"),
    "save": _DIGITS + _CNN,
    "save weights": _DIGITS + _CNN,
    "load": _DIGITS + _CNN + "save weights cnn.npz\n",
    "load weights": _DIGITS + _CNN + "save weights cnn.npz\n",
}


def _examples():
    """(id, setup name, example text) for every example the registry holds."""
    found = []
    for stmt in STATEMENTS:
        found.append((f"statement:{stmt.name}", stmt.name, stmt.example))
        for sub in stmt.subcommands:
            found.append((f"form:{sub.full_name}", sub.full_name, sub.example))
    for spec in LAYERS:
        if spec.keras == "InputLayer":
            text = f"model m\n  {spec.example}\n  flatten\nend\nsummary"   # a model needs one layer
        else:
            shape = "(" + ",".join(str(d) for d in spec.example_input) + ("," if len(spec.example_input) == 1 else "") + ")"
            text = f"model m input={shape}\n  {spec.example}\nend\nsummary"
        found.append((f"layer:{spec.name}", None, text))
    return found


EXAMPLES = _examples()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A working folder with everything the examples read: data/mnist, data/cifar-10-batches-bin,
    data/energies.csv, arrays.npz and models/ (the repository's scripts)."""
    root = tmp_path_factory.mktemp("help_examples")
    data = write_small_datasets(root / "data", train=40, test=20)
    rng = np.random.default_rng(0)
    shutil.copy(REPO / "data" / "energies.csv", data / "energies.csv")
    np.savez(root / "arrays.npz", images=rng.random((30, 4)).astype(np.float32), labels=rng.random((30, 1)))
    shutil.copytree(REPO / "models", root / "models")
    return root


def test_every_statement_form_and_layer_has_an_example_here():
    names = {name for _, name, _ in EXAMPLES if name}
    assert set(SETUP) <= names, sorted(set(SETUP) - names)
    assert len([e for e in EXAMPLES if e[0].startswith("layer:")]) == len(LAYERS)


@pytest.mark.parametrize("name, text", [(name, text) for _, name, text in EXAMPLES],
                         ids=[ident for ident, _, _ in EXAMPLES])
def test_help_example_runs(name, text, workdir, tmp_path, monkeypatch):
    # each example runs in a folder of its own that links to the shared files: a file another example wrote
    # (cnn.npz) is not this session's to replace (shell.writing)
    here = tmp_path / "work"
    here.mkdir()
    for entry in workdir.iterdir():
        (here / entry.name).symlink_to(entry)
    monkeypatch.chdir(here)
    monkeypatch.setenv("NNLAB_DATA", str(workdir / "data"))
    buf = io.StringIO()
    session = Session(Output(buf), epochs=1, out_dir=tmp_path / "out")
    setup = SETUP.get(name, "")
    if setup:
        assert session.execute_source(setup, "<setup>"), buf.getvalue()
        assert session.error_count == 0, buf.getvalue()
    ok = session.execute_source(text, f"help {name}")
    out = buf.getvalue()
    assert ok and session.error_count == 0, out
    assert "internal error" not in out and "Traceback" not in out, out


@pytest.mark.parametrize("stmt", STATEMENTS, ids=[s.name for s in STATEMENTS])
def test_help_shows_the_examples_that_run_here(stmt):
    """The examples `help NAME` prints are the registry's (the ones the test above runs)."""
    buf = io.StringIO()
    session = Session(Output(buf))
    session.execute_source(f"help {stmt.name}")
    out = buf.getvalue()
    shown = [sub.example for sub in stmt.subcommands] or stmt.example.splitlines()
    for line in shown:
        assert line in out, (stmt.name, line)


@pytest.mark.parametrize("spec", LAYERS, ids=[s.name for s in LAYERS])
def test_layer_help_shows_its_example(spec):
    buf = io.StringIO()
    Session(Output(buf)).execute_source(f"help {spec.name}")
    assert spec.example in buf.getvalue()
