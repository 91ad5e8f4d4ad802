"""The interpreter: statements, echoes, errors at their lines, interrupts, session round trips."""
from __future__ import annotations

import io
import re
import signal
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from shell.interpreter import Session
from shell.output import Output
from engine.training import Callback

ROOT = Path(__file__).resolve().parent.parent

DIGITS_CNN = """\
data digits train=0.8 seed=0
model cnn input=(8,8,1)
  conv2d 10 kernel=3 padding=same activation=relu l2=1e-4
  maxpool2d 2
  flatten
  dense 50 activation=relu l2=1e-4
  dense 10 activation=softmax l2=1e-4
end
compile optimizer=sgd lr=0.01 loss=categorical_crossentropy metrics=accuracy
"""

SMALL = """\
data digits
model m
  flatten
  dense 10 activation=softmax
end
compile optimizer=sgd lr=0.01 loss=categorical_crossentropy metrics=accuracy
"""


def session(**kwargs):
    buf = io.StringIO()
    return Session(Output(buf), **kwargs), buf


def run_ok(text, **kwargs):
    s, buf = session(**kwargs)
    ok = s.execute_source(text, "t.nn")
    assert ok, buf.getvalue()
    return s, buf


def run_fail(text, **kwargs):
    s, buf = session(**kwargs)
    assert not s.execute_source(text, "t.nn")
    return s, buf.getvalue()


def strip_times(text):
    return re.sub(r"\s*\(\d[\d.]* (s|min \d+ s)\)", "", text)


# --------------------------------------------------------------------------------------------------
# The digits CNN, line by line at the prompt
# --------------------------------------------------------------------------------------------------

def test_digits_cnn_line_by_line_echoes_shapes_and_params():
    s, buf = session()
    assert s.feed_line("data digits") is False
    assert "1437 train, 360 test" in buf.getvalue()
    assert s.feed_line("model cnn input=(8,8,1)") is True
    assert s.in_block and s.block_model == "cnn"
    mark = len(buf.getvalue())
    assert s.feed_line("  conv2d 10 kernel=3 padding=same activation=relu l2=1e-4") is True
    echo = buf.getvalue()[mark:]
    assert "(None, 8, 8, 10)" in echo and re.search(r"\b100 params", echo)
    for line in ("  maxpool2d 2", "  flatten", "  dense 50 activation=relu l2=1e-4",
                 "  dense 10 activation=softmax l2=1e-4"):
        assert s.feed_line(line) is True
    assert "(None, 4, 4, 10)" in buf.getvalue() and "8,050 params" in buf.getvalue()
    assert s.feed_line("end") is False
    assert not s.in_block
    assert "model cnn: 5 layers, output (None, 10), 8,660 params" in buf.getvalue()
    s.feed_line("compile optimizer=sgd lr=0.01 loss=categorical_crossentropy metrics=accuracy")
    mark = len(buf.getvalue())
    s.feed_line("summary")
    summary = buf.getvalue()[mark:]
    assert 'Model: "cnn"' in summary and "Total params: 8,660 (33.83 KB)" in summary
    assert "dense_1 (Dense)" in summary
    mark = len(buf.getvalue())
    s.feed_line("train epochs=1 batch_size=100")
    trained = buf.getvalue()[mark:]
    assert "epoch 1/1" in trained and "accuracy" in trained and "trained cnn: 1 epoch of 15 steps" in trained
    assert re.search(r"\(\d[\d.]* s\)", trained), "train reports its time"
    mark = len(buf.getvalue())
    s.feed_line("evaluate")
    table = buf.getvalue()[mark:]
    assert re.search(r"train\s+1437\s+\d\.\d{4}\s+0\.\d{4}", table)
    assert re.search(r"test\s+360\s+\d\.\d{4}\s+0\.\d{4}", table)
    assert "evaluated cnn" in table
    assert s.models["cnn"].history["loss"] and len(s.models["cnn"].history["accuracy"]) == 1
    assert "\x1b" not in buf.getvalue()


def test_model_input_comes_from_the_data():
    s, buf = run_ok(SMALL)
    assert "input (None, 8, 8, 1) from the data" in buf.getvalue()
    assert s.models["m"].model.count_params() == 650


def test_blank_lines_and_comments_inside_a_block():
    s, buf = session()
    s.feed_line("model m input=(4,)  # four inputs")
    assert s.feed_line("") is True
    assert s.feed_line("   # nothing") is True
    s.feed_line("  dense 3")
    assert s.feed_line("end") is False
    assert s.transcript == ["model m input=(4,)\n  dense 3\nend"]


def test_abort_discards_the_block_at_the_prompt():
    s, buf = session()
    s.execute_source("model keep input=(4,)\n dense 2\nend\n")
    s.feed_line("model tmp input=(4,)")
    s.feed_line("dense 5")
    assert s.feed_line("abort") is False
    assert "tmp" not in s.models and s.current == "keep"
    assert "discarded" in buf.getvalue()


# --------------------------------------------------------------------------------------------------
# Errors at their lines; state survives
# --------------------------------------------------------------------------------------------------

def test_shape_error_is_reported_on_the_layer_line():
    s, out = run_fail("data digits\nmodel cnn\n  conv2d 10 kernel=3 padding=same\n  maxpool2d 2\n"
                      "  conv2d 10 kernel=5\n  flatten\nend\n")
    lines = out.splitlines()
    error = next(i for i, line in enumerate(lines) if "error:" in line)
    assert lines[error].startswith("t.nn:5:3: error: layer 'conv2d_1' (Conv2D) cannot take input shape "
                                   "(None, 4, 4, 10)")
    assert lines[error + 1] == "      conv2d 10 kernel=5"
    assert lines[error + 2] == "      ^^^^^^"
    assert lines[error + 3] == "hint: the previous layer 'max_pooling2d' outputs (None, 4, 4, 10)"
    assert "Traceback" not in out
    # the model keeps the layers built before the error
    assert [layer.name for layer in s.models["cnn"].model.layers] == ["conv2d", "max_pooling2d"]


def test_shape_error_at_the_prompt_keeps_the_block_open():
    s, buf = session()
    s.feed_line("model m input=(8,8,1)")
    assert s.feed_line("  dense 10 activation=sofmax") is True        # a syntax error: the block stays open
    assert "<stdin>:2:23: error: unknown activation 'sofmax'" in buf.getvalue()
    assert s.feed_line("  lstm 4") is True                            # a shape error: the block stays open
    assert "cannot take input shape (None, 8, 8, 1)" in buf.getvalue()
    s.feed_line("  flatten")
    s.feed_line("  dense 3")
    s.feed_line("end")
    assert [layer.name for layer in s.models["m"].model.layers] == ["flatten", "dense"]
    assert s.transcript == ["model m input=(8,8,1)\n  flatten\n  dense 3\nend"]


def test_train_before_compile():
    s, out = run_fail("data digits\nmodel m\n  flatten\n  dense 10\nend\n  train epochs=1\n")
    assert "t.nn:6:3: error: model 'm' is not compiled" in out
    assert "hint: compile it first" in out


def test_train_without_data_or_model():
    _, out = run_fail("train\n")
    assert "t.nn:1:1: error: there is no model yet" in out
    _, out = run_fail("model m input=(3,)\n dense 1\nend\ncompile loss=mse\ntrain\n")
    assert "t.nn:5:1: error: there is no data yet" in out


@pytest.mark.parametrize("line, column", [
    ("load weights nothere.npz", 14),
    ("run nothere.nn", 5),
    ("data csv nothere.csv", 10),
    ("data npz path=missing.npz", 15),
])
def test_missing_file(line, column, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _, out = run_fail("model m input=(3,)\n dense 1\nend\n" + line + "\n")
    assert f"t.nn:4:{column}: error: file not found:" in out
    assert "hint:" in out


def test_missing_file_suggests_a_close_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "weights.npz").write_bytes(b"")
    _, out = run_fail("model m input=(3,)\n dense 1\nend\nload weights wieghts.npz\n")
    assert "hint: did you mean 'weights.npz'?" in out


def test_data_shape_mismatch_at_train():
    _, out = run_fail("data digits\nmodel m input=(4,)\n dense 10 activation=softmax\nend\n"
                      "compile optimizer=sgd loss=categorical_crossentropy\ntrain\n")
    assert "t.nn:6:1: error: model 'm' expects input shape (None, 4), got data of shape (None, 8, 8, 1)" in out


def test_wrong_optimizer_option_points_at_the_key():
    _, out = run_fail("model m input=(4,)\n dense 1\nend\ncompile optimizer=adam momentum=0.9 loss=mse\n")
    assert "t.nn:4:24: error: optimizer adam has no option momentum" in out
    assert "hint: momentum works with: rmsprop, sgd" in out


def test_session_keeps_its_state_after_errors():
    s, buf = run_ok(SMALL)
    assert not s.execute_source("train epochs=x\n", "t.nn")
    assert not s.execute_source("evaluate on=nowhere\n", "t.nn")
    s.feed_line("bogus")
    s.feed_line("summary")
    assert "Total params: 650" in buf.getvalue()
    assert s.data.name == "digits" and s.current == "m"


def test_script_stops_at_the_first_error_and_reports_syntax_errors_before_running():
    s, out = run_fail("data digits\ntrian epochs=3\nsummary\n")
    assert s.data is None, "a syntax error anywhere stops the script before it runs"
    assert "t.nn:2:1: error: unknown statement 'trian'" in out
    s, out = run_fail("model m input=(3,)\n dense 1\nend\ntrain\nsummary\n")
    assert "Model:" not in out


def test_internal_errors_are_one_line_unless_debug(monkeypatch):
    from shell.statements import info

    def broken(session, node):
        raise ZeroDivisionError("boom")
    monkeypatch.setattr(info, "st_layers", broken)
    s, out = run_fail("layers\n")
    assert "internal error at t.nn:1: ZeroDivisionError: boom (run with --debug for the traceback)" in out
    assert "Traceback" not in out
    s, out = run_fail("layers\n", debug=True)
    assert "Traceback (most recent call last)" in out


def test_backend_errors_become_positioned_errors(monkeypatch):
    import engine
    from engine.backends import BackendUnavailable

    def refuse(name):
        raise BackendUnavailable(f"backend {name!r} is not available here: no GPU. Use one of: numpy")
    monkeypatch.setattr(engine, "set_backend", refuse)
    _, out = run_fail("backend cuda\n")
    assert "t.nn:1:9: error: backend 'cuda' is not available here: no GPU" in out
    assert "hint: `backend` lists the backends" in out


def test_backend_list_and_switch():
    s, buf = run_ok("backend\nbackend numpy\n")
    out = buf.getvalue()
    assert "numpy *" in out and "numba" in out and "available" in out
    assert "backend numpy:" in out and s.backend_name == "numpy"


# --------------------------------------------------------------------------------------------------
# Ctrl-C during train
# --------------------------------------------------------------------------------------------------

class RaiseAt(Callback):
    """An engine callback that raises KeyboardInterrupt (or sends SIGINT) at one batch."""

    def __init__(self, epoch, batch, how="raise"):
        self.target, self.how, self.epoch = (epoch, batch), how, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.target:
            if self.how == "raise":
                raise KeyboardInterrupt
            signal.raise_signal(signal.SIGINT)


def test_keyboard_interrupt_during_train_keeps_model_and_history():
    s, buf = run_ok(SMALL)
    s.train_callbacks = [RaiseAt(1, 2)]
    before = [w.copy() for w in s.models["m"].model.get_weights()]
    s.feed_line("train epochs=5 batch_size=100")
    out = buf.getvalue()
    assert "training stopped by Ctrl-C in epoch 2/5 after batch 3/15" in out
    assert "history keeps 1 finished epoch" in out
    entry = s.models["m"]
    assert len(entry.history["loss"]) == 1
    assert any(not np.array_equal(a, b) for a, b in zip(before, entry.model.get_weights()))
    s.train_callbacks = []
    s.feed_line("train epochs=1 batch_size=100")             # training can continue
    assert len(entry.history["loss"]) == 2
    s.feed_line("evaluate")
    assert "evaluated m" in buf.getvalue()


def test_sigint_during_train_stops_after_the_current_batch():
    s, buf = run_ok(SMALL)
    s.train_callbacks = [RaiseAt(0, 4, how="signal")]
    s.feed_line("train epochs=3 batch_size=100")
    out = buf.getvalue()
    assert "training stopped by Ctrl-C in epoch 1/3 after batch 5/15" in out
    assert "history keeps 0 finished epochs" in out
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert s.models["m"].model.stop_training is True


def test_ctrl_c_just_before_fit_starts_is_not_lost(monkeypatch):
    # the handler is installed and the live bar started before fit(), which clears model.stop_training:
    # a Ctrl-C in between must still stop training (after the first batch)
    s, buf = run_ok(SMALL)
    model = s.models["m"].model
    fit = model.fit

    def fit_after_a_ctrl_c(*args, **kwargs):
        signal.raise_signal(signal.SIGINT)
        return fit(*args, **kwargs)
    monkeypatch.setattr(model, "fit", fit_after_a_ctrl_c)
    s.feed_line("train epochs=3 batch_size=100")
    out = buf.getvalue()
    assert "training stopped by Ctrl-C in epoch 1/3 after batch 1/15" in out
    assert s.unsaved_models() == ["m"]                      # one batch changed the weights
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


GAN_MODELS = ("data digits\nmodel g input=(8,)\n  dense 64 activation=tanh\n  reshape (8,8,1)\nend\n"
              "model d input=(8,8,1)\n  flatten\n  dense 1\nend\n")


def test_ctrl_c_just_before_gan_training_stops_it_after_the_first_batch(monkeypatch):
    from engine.lecture import gan
    train_gan = gan.train_gan
    batches = []

    def train_after_a_ctrl_c(*args, on_batch, **kwargs):
        signal.raise_signal(signal.SIGINT)
        return train_gan(*args, on_batch=lambda *a: (batches.append(a), on_batch(*a)), **kwargs)
    monkeypatch.setattr(gan, "train_gan", train_after_a_ctrl_c)
    s, buf = run_ok(GAN_MODELS + "gan train generator=g discriminator=d epochs=2 batch_size=512\n")
    assert len(batches) == 1
    assert "gan training stopped by Ctrl-C after 0 finished epochs" in buf.getvalue()
    assert sorted(s.unsaved_models()) == ["d", "g"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# --------------------------------------------------------------------------------------------------
# What the REPL asks of the session: errors, unsaved weights, the prompt's check
# --------------------------------------------------------------------------------------------------

def test_error_count_counts_every_failed_line_and_statement(monkeypatch):
    s, buf = session()
    s.feed_line("set seed 1")
    assert s.error_count == 0
    s.feed_line("trian")                                    # syntax error
    s.feed_line("use nothing")                              # runtime error
    s.feed_line("model m")
    s.feed_line("  dense 3")                                # no input shape: fails inside the block
    assert s.error_count == 3 and s.in_block
    s.feed_line("abort")
    assert not s.execute_source("set seed 2\nsummary\n") and s.error_count == 4
    assert not s.execute_source("set seed 2\nsumary\n") and s.error_count == 5
    from shell.statements import info

    def broken(session, node):
        raise ZeroDivisionError("boom")
    monkeypatch.setattr(info, "st_layers", broken)
    s.feed_line("layers")                                   # an internal error counts too
    assert s.error_count == 6


def test_unsaved_models_follow_training_saving_loading_and_run_scripts(tmp_path):
    s, buf = run_ok(SMALL)
    assert s.unsaved_models() == []
    s.feed_line("train epochs=1 batch_size=100")
    assert s.unsaved_models() == ["m"]
    s.feed_line(f"save weights {tmp_path / 'm.npz'}")
    assert s.unsaved_models() == []
    s.feed_line("train epochs=1 batch_size=100")
    s.feed_line(f"load weights {tmp_path / 'm.npz'}")
    assert s.unsaved_models() == []
    script = tmp_path / "more.nn"
    script.write_text("train epochs=1 batch_size=100\n")
    s.feed_line(f"run {script}")
    assert s.unsaved_models() == ["m"]
    s.feed_line("compile optimizer=sgd")                    # no weights change
    s.feed_line(f"save weights {tmp_path / 'm.npz'}")
    s.feed_line("evaluate")
    assert s.unsaved_models() == []
    _, out = run_fail(SMALL + "train epochs=1 batch_size=100 validation_data=test validation_split=0.5\n")
    assert "not both" in out                                # a train that never ran changes nothing


def test_validate_line_checks_the_layer_shape_inside_an_open_block():
    from engine import layers, random
    s, _ = session()
    s.feed_line("model m input=(4,)")
    s.feed_line("  dense 6")
    counters = dict(layers._name_counts)
    state = random.generator().bit_generator.state
    err = s.validate_line("  conv2d 3 3")
    assert "cannot take input shape (None, 6)" in err.message
    assert err.hint == "the previous layer 'dense' outputs (None, 6)" and err.column == 3
    assert s.validate_line("  dense 2") is None and s.validate_line("  dense 2 name=dense") is None
    err = s.validate_line("  dense 0")
    assert "units" in err.message and err.column == 9                # an engine ValueError, at its option
    assert dict(layers._name_counts) == counters                     # no engine names used
    assert random.generator().bit_generator.state == state           # no random numbers drawn
    assert len(s.models["m"].model.layers) == 1 and s.error_count == 0
    assert s.validate_line("  dnse 2").message.startswith("unknown layer 'dnse'")
    s.feed_line("end")
    assert "layers go inside a model block" in s.validate_line("conv2d 3 3").message     # outside the block


def test_validate_text_follows_shapes_through_a_buffer():
    s, _ = session()
    text = "model p input=(8,8,1)\n  conv2d 4 3\n  flatten\n  maxpool2d 2\nend"
    offset, err = s.validate_text(text)
    assert offset == text.index("maxpool2d") and "(None, 144)" in err.message
    assert err.hint == "the previous layer 'flatten' outputs (None, 144)"
    assert s.validate_text("model q input=(3,)\n  dense 2\nend\nsummary") is None
    assert s.models == {} and s.transcript == []


# --------------------------------------------------------------------------------------------------
# Statements
# --------------------------------------------------------------------------------------------------

def test_epochs_override():
    s, buf = run_ok(SMALL + "train epochs=7 batch_size=200\n", epochs=1)
    assert "epoch 1/1" in buf.getvalue() and "epoch 2/" not in buf.getvalue()


def test_set_seed_makes_training_repeatable():
    script = SMALL + "set seed 3\ntrain epochs=1 batch_size=100\nevaluate\n"
    _, a = run_ok(script)
    _, b = run_ok(script)
    table = [line for line in strip_times(a.getvalue()).splitlines() if line.startswith(("train ", "test "))]
    assert table and table == [line for line in strip_times(b.getvalue()).splitlines()
                               if line.startswith(("train ", "test "))]


def test_predict_table_and_csv(tmp_path):
    s, buf = run_ok(SMALL + f"predict rows=3 to={tmp_path / 'p.csv'}\n")
    out = buf.getvalue()
    assert "m on test (360 samples, output (None, 10))" in out
    assert re.search(r"^0\s+\d\s+[01]\.\d{4}\s+\d$", out, re.M)
    rows = (tmp_path / "p.csv").read_text().splitlines()
    assert rows[0].startswith("pred_0,pred_1") and len(rows) == 361


def test_save_and_load_weights(tmp_path):
    s, buf = run_ok(SMALL + f"save weights {tmp_path / 'w'}\n")
    assert (tmp_path / "w.npz").exists()
    saved = s.models["m"].model.get_weights()
    s.execute_source("train epochs=1\n", "t.nn")
    s.execute_source(f"load weights {tmp_path / 'w.npz'}\n", "t.nn")
    for a, b in zip(saved, s.models["m"].model.get_weights()):
        np.testing.assert_array_equal(a, b)
    _, out = run_fail(f"model other input=(3,)\n dense 2\nend\nload weights {tmp_path / 'w.npz'}\n")
    assert "t.nn:4:14: error: weight 'dense/kernel' has shape (3, 2), got (64, 10)" in out
    assert "hint: the file holds the weights of a different model" in out


def test_use_switches_models():
    s, buf = run_ok("model a input=(4,)\n dense 2\nend\nmodel b input=(4,)\n dense 3\nend\nuse a\nsummary\n")
    assert s.current == "a" and 'Model: "a"' in buf.getvalue()
    _, out = run_fail("model a input=(4,)\n dense 2\nend\nuse c\n")
    assert "t.nn:4:5: error: no model named 'c'" in out


def test_energies_and_window():
    s, buf = run_ok("data energies\nwindow 3 train=12\n")
    assert s.data.x_train.shape == (9, 3, 1) and s.data.x_test.shape == (8, 3, 1)
    s, buf = run_ok("data energies window=2 train=12\n")
    assert s.data.x_train.shape == (10, 2, 1) and s.data.y_train.shape == (10,)
    np.testing.assert_allclose(s.data.y_train[-1], -0.8702784034)
    _, out = run_fail("data energies\nwindow 12\n")
    assert "t.nn:2:8: error: a window of 12 needs more than 12 training points" in out


def test_csv_and_npz_data(tmp_path):
    csv = tmp_path / "d.csv"
    csv.write_text("a,b,c\n" + "\n".join(f"{i},{2 * i},{i % 2}" for i in range(10)) + "\n")
    s, buf = run_ok(f"data csv {csv} x=a,b y=c train=0.5\n")
    assert s.data.x_train.shape == (5, 2) and s.data.y_test.shape == (5,)
    s, buf = run_ok(f"data csv {csv} series=b train=0.8\nwindow 2 layout=features\n")
    assert s.data.x_train.shape == (6, 1, 2)
    _, out = run_fail(f"data csv {csv} x=a,q\n")
    assert "error: no column named 'q'" in out
    npz = tmp_path / "d.npz"
    np.savez(npz, x_train=np.ones((6, 3)), y_train=np.arange(6), x_test=np.zeros((2, 3)), y_test=np.arange(2))
    s, buf = run_ok(f"data npz {npz}\n")
    assert s.data.x_train.shape == (6, 3) and s.data.x_test.shape == (2, 3)
    _, out = run_fail(f"data npz {npz} x=images\n")
    assert "error: d.npz has no key 'images'" in out


def test_mnist_from_local_idx_files(tmp_path):
    from engine import datasets
    rng = np.random.default_rng(0)
    folder = tmp_path / "mnist"
    folder.mkdir()
    for prefix, n in (("train", 12), ("t10k", 5)):
        datasets.write_idx(folder / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        datasets.write_idx(folder / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n, dtype=np.uint8))
    s, buf = run_ok(f"data mnist {folder} limit=10 scale=symmetric one_hot=true\n")
    assert s.data.x_train.shape == (10, 28, 28, 1) and s.data.y_train.shape == (10, 10)
    assert s.data.x_test.shape == (5, 28, 28, 1)
    assert -1.0 <= s.data.x_train.min() and s.data.x_train.max() <= 1.0
    _, out = run_fail(f"data mnist {tmp_path / 'nowhere'}\n")
    assert "t.nn:1:12: error: file not found:" in out


def test_engine_value_errors_point_at_their_option():
    _, out = run_fail("data energies\nmodel m\n  dense 1\nend\ncompile loss=mse\ntrain validation_split=0.95\n")
    assert "t.nn:6:24: error: validation_split=0.95 leaves no samples" in out
    assert "hint: `help train` shows the options" in out


def test_a_pasted_block_equals_typing_it():
    typed, _ = session()
    for line in ["model m input=(4,)", "  dense 3 activation=tanh", "  dense 1", "end"]:
        typed.feed_line(line)
    pasted, _ = session()
    assert pasted.feed_text("model m input=(4,)\n  dense 3 activation=tanh\n  dense 1\nend\n") is False
    assert pasted.transcript == typed.transcript
    assert pasted.feed_text("model n input=(4,)\n  dense 3") is True and pasted.in_block


def test_help_and_layers_come_from_the_registry():
    s, buf = run_ok("help\nhelp conv2d\nhelp compile\nhelp activations\nlayers\nhelp language\n")
    out = buf.getvalue()
    from shell.registry import lookup
    from shell.registry.layer_table import LAYERS
    for name in lookup.statement_names():
        assert re.search(rf"^{name}\b", out, re.M), name
    for spec in LAYERS:
        assert re.search(rf"^{spec.name}\s", out, re.M), spec.name
    assert "usage: conv2d FILTERS KERNEL" in out and "shape: same: ceil(H / s)" in out
    assert "activations: linear, relu, sigmoid, tanh, softmax, leaky_relu" in out
    assert "Grammar" in out
    _, out = run_fail("help sofmax\n")
    assert "t.nn:1:6: error: unknown topic 'sofmax'" in out and "did you mean 'softmax'?" in out
    s, buf = run_ok("help softmax\nhelp end\nlayers lstm\n")
    assert "softmax is one of the activations" in buf.getvalue() and "end: close the model block" in buf.getvalue()
    assert "lstm (LSTM)" in buf.getvalue()


def test_quit_stops_a_script():
    s, buf = run_ok("set seed 1\nquit\nset seed 2\n")
    assert s.finished and s.seed == 1


def test_run_runs_a_script_in_the_session(tmp_path):
    inner = tmp_path / "inner.nn"
    inner.write_text("model m input=(4,)\n  dense 2\nend\n")
    s, buf = run_ok(f"run {inner}\nsummary\n")
    assert "m" in s.models and s.transcript == [f"run {inner}", "summary"]
    inner.write_text("model m input=(4,)\n  dense 0\nend\n")
    _, out = run_fail(f"run {inner}\n")
    assert f"{inner}:2:9: error: units must be a positive integer, got 0" in out
    loop = tmp_path / "loop.nn"
    loop.write_text(f"run {loop}\n")
    _, out = run_fail(f"run {loop}\n")
    assert "scripts run each other more than 8 deep" in out


# --------------------------------------------------------------------------------------------------
# grid / extrapolate / plot (the plotting and experiment modules are faked: their contract is checked)
# --------------------------------------------------------------------------------------------------

@pytest.fixture
def fake_plots(monkeypatch):
    import engine.viz
    calls = []

    def recorder(name):
        def plot(*args, **kwargs):
            path = Path(args[1] if name in ("plot_history", "plot_image_grid", "plot_filters", "plot_feature_maps")
                        else args[4] if name == "plot_series_prediction" else args[3])
            calls.append((name, args, kwargs))
            path.write_bytes(b"png")
            return path
        return plot

    module = types.ModuleType("engine.viz.plots")
    for name in ("plot_history", "plot_series_prediction", "plot_heatmap", "plot_image_grid", "plot_filters",
                 "plot_feature_maps"):
        setattr(module, name, recorder(name))
    monkeypatch.setitem(sys.modules, "engine.viz.plots", module)
    monkeypatch.setattr(engine.viz, "plots", module, raising=False)
    return calls


def test_plots_write_files_and_print_their_paths(fake_plots, tmp_path):
    s, buf = run_ok(DIGITS_CNN + "train epochs=1 batch_size=100\n"
                    f"plot history to={tmp_path / 'h.png'}\n"
                    f"plot images to={tmp_path / 'i.png'} count=4\n"
                    f"plot filters to={tmp_path / 'f.png'}\n"
                    f"plot featuremaps to={tmp_path / 'm.png'} index=2\n")
    out = buf.getvalue()
    for name in ("h", "i", "f", "m"):
        assert f"wrote {tmp_path / (name + '.png')}" in out
    kinds = {name: (args, kwargs) for name, args, kwargs in fake_plots}
    history = kinds["plot_history"][0][0]
    assert set(history) == {"loss", "accuracy"} and len(history["loss"]) == 1
    assert kinds["plot_image_grid"][0][0].shape == (4, 8, 8, 1) and len(kinds["plot_image_grid"][1]["labels"]) == 4
    assert kinds["plot_filters"][0][0].shape == (3, 3, 1, 10)
    assert kinds["plot_feature_maps"][0][0].shape == (8, 8, 10)
    assert re.search(r"plot history \(\d", out)


def test_grid_runs_the_lecture_search(fake_plots, tmp_path):
    s, buf = run_ok(SMALL.replace("softmax", "softmax l2=1e-4")
                    + f"grid lr=0.01,0.1 l2=logspace(-4,-3,2) epochs=1 batch_size=200 to={tmp_path / 'g.png'}\n")
    out = buf.getvalue()
    assert "grid m: 2 learning rates x 2 l2 values, 1 epoch of batch 200 each" in out
    assert "[4/4] lr=0.1 l2=0.001" in out
    assert "training accuracy" in out and "test accuracy" in out and "best test accuracy" in out
    assert s.last_grid["train_accuracy"].shape == (2, 2)
    heatmaps = [args for name, args, _ in fake_plots if name == "plot_heatmap"]
    assert [Path(a[3]).name for a in heatmaps] == ["g_train.png", "g_test.png"]
    assert heatmaps[0][4] == "Training Accuracy" and list(heatmaps[0][1]) == [0.01, 0.1]
    # the grid trained copies: the session's model is untouched
    assert s.models["m"].epochs_trained == 0
    _, out = run_fail(SMALL.replace("metrics=accuracy", "") + "grid epochs=1\n")
    assert "grid reports accuracy" in out


def test_grid_respects_the_epochs_override(fake_plots):
    s, buf = run_ok(SMALL + "grid lr=0.01 l2=0 epochs=50\n", epochs=1)
    assert "1 epoch of batch 100" in buf.getvalue()


def test_extrapolate_prints_the_mse_over_the_whole_series(fake_plots, tmp_path):
    s, buf = run_ok("set seed 0\ndata energies\nmodel rnn\n  simple_rnn 8\n  dense 1\nend\n"
                    "compile optimizer=adam lr=0.01 loss=mse\ntrain epochs=20\n"
                    f"extrapolate to={tmp_path / 'e.png'} csv={tmp_path / 'e.csv'}\n")
    out = buf.getvalue()
    assert re.search(r"MSE over all 20 points: \S+ \(the first 12 are known", out)
    assert "rnn: 8 points predicted from the 12 known ones" in out
    rows = (tmp_path / "e.csv").read_text().splitlines()
    assert rows[0] == "x,true,predicted" and len(rows) == 21
    (name, args, kwargs), = [c for c in fake_plots if c[0] == "plot_series_prediction"]
    x, y_true, y_pred, region = args[:4]
    assert len(x) == 20 and region == (2.0, 24.0)
    np.testing.assert_array_equal(y_true[:12], y_pred[:12])
    s.feed_line(f"plot predictions to={tmp_path / 'p.png'}")
    assert f"wrote {tmp_path / 'p.png'}" in buf.getvalue()


def test_extrapolate_needs_a_sequence_model():
    _, out = run_fail("data energies\nmodel d input=(2,)\n  dense 1\nend\nextrapolate\n")
    assert "extrapolate feeds windows shaped (1, window, 1)" in out


def test_real_plot_history_if_available(tmp_path):
    pytest.importorskip("matplotlib")
    plots = pytest.importorskip("engine.viz.plots")
    assert callable(plots.plot_history)
    s, buf = run_ok(SMALL + f"train epochs=2 batch_size=200\nplot history to={tmp_path / 'h.png'}\n")
    assert (tmp_path / "h.png").stat().st_size > 1000


def test_plot_history_takes_a_y_range(fake_plots, tmp_path):
    run_ok(SMALL + f"train epochs=1 batch_size=200\nplot history to={tmp_path / 'h.png'} ylim=(0.5,1)\n"
           f"plot history to={tmp_path / 'g.png'}\n")
    ranges = [kwargs["ylim"] for name, _, kwargs in fake_plots if name == "plot_history"]
    assert ranges == [(0.5, 1.0), None]
    _, out = run_fail(SMALL + "train epochs=1\nplot history ylim=(1,0.5)\n")
    assert "t.nn:8:19: error: ylim must go from low to high, got (1,0.5)" in out
    assert "hint: write ylim=(0.5,1)" in out and "trained" not in out        # refused before anything ran
    _, out = run_fail(SMALL + "plot history ylim=0.5\n")
    assert "ylim must be two numbers (low,high), got 0.5" in out


# --------------------------------------------------------------------------------------------------
# save session: a fresh process reproduces the summary and the metrics
# --------------------------------------------------------------------------------------------------

def test_save_session_round_trip_in_a_fresh_process(tmp_path):
    s, buf = session(seed=7)
    for line in ["data digits", "model cnn input=(8,8,1)", "conv2d 4 kernel=3 padding=same activation=relu",
                 "lstm 4", "maxpool2d 2", "flatten", "dense 10 activation=softmax", "end",
                 "compile optimizer=sgd lr=0.05 loss=categorical_crossentropy metrics=accuracy",
                 "trian epochs=1", "help train", "train epochs=2 batch_size=64", "summary", "evaluate"]:
        s.feed_line(line)
    before_save = buf.getvalue()
    path = tmp_path / "session.nn"
    s.feed_line(f"save session {path}")
    script = path.read_text()
    assert script.splitlines()[1] == "set seed 7"
    assert "trian" not in script and "help" not in script and "save session" not in script
    assert "  conv2d 4 kernel=3 padding=same activation=relu\n" in script
    assert "lstm" not in script, "a layer line that failed is not part of the model"
    result = subprocess.run([sys.executable, "-m", "shell", "run", str(path)], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr

    def essentials(text):
        text = strip_times(text)
        start = text.index('Model: "cnn"')
        return text[start:]
    ours = essentials(before_save)
    theirs = essentials(result.stdout)
    assert "Total params:" in theirs and re.search(r"test\s+360\s+\d", theirs)
    assert ours == theirs
