"""The session side of issue 11: block editing (help/layers/summary inside a block, `undo`, closing an
empty block), user mistakes reported as such (sizes, whole numbers, missing folders), `save session`
recording what ran and the prompt's error style (no NumPy before the first prompt: tests/test_repl.py)."""
from __future__ import annotations

import io
import re
import signal

import numpy as np

from shell.interpreter import Session
from shell.output import Output
from tests.test_interpreter import GAN_MODELS, SMALL, RaiseAt


def session(terminal=False, width=100):
    buf = io.StringIO()
    return Session(Output(buf, terminal=terminal, width=width)), buf


# --- inside a block ------------------------------------------------------------------------------------

def test_help_layers_and_summary_work_inside_an_open_block():
    s, buf = session()
    s.feed_line("model m input=(8,8,1)")
    s.feed_line("  conv2d 4 kernel=3")
    for line in ("  help dense", "  layers", "  summary"):
        errors = s.error_count
        assert s.feed_line(line) is True                    # the block stays open
        assert s.error_count == errors, buf.getvalue()
    out = buf.getvalue()
    assert "dense (Dense)" in out and "maxpool2d" in out and 'Model: "m"' in out and "Total params: 40" in out
    s.feed_line("  flatten")
    s.feed_line("end")
    assert s.transcript == ["model m input=(8,8,1)\n  conv2d 4 kernel=3\n  flatten\nend"]


def test_undo_takes_back_the_last_layer_line():
    s, buf = session()
    for line in ("model m input=(4,)", "  dense 3", "  dense 5", "  undo"):
        s.feed_line(line)
    assert "took back dense_1 (Dense); output now (None, 3)" in buf.getvalue()
    s.feed_line("  dense 2")                               # named dense_1 again: the number was given back
    s.feed_line("end")
    model = s.models["m"].model
    assert [layer.name for layer in model.layers] == ["dense", "dense_1"] and model.count_params() == 15 + 8
    assert s.transcript == ["model m input=(4,)\n  dense 3\n  dense 2\nend"]
    s.feed_line("model k input=(4,)")
    s.feed_line("  undo")
    assert "there is no layer line in this block to take back" in buf.getvalue()
    s.feed_line("abort")
    s.feed_line("undo")                                     # outside a block
    assert "there is no open model block" in buf.getvalue()


def test_undo_in_a_script_and_of_an_input_line():
    s, buf = session()
    assert s.execute_source("model m\n  input (4,)\n  dense 3\n  undo\n  undo\n  input (6,)\n  dense 2\nend\n",
                            "t.nn"), buf.getvalue()
    assert s.models["m"].model.layers[0].input_shape == (None, 6) and s.models["m"].model.count_params() == 14


def test_an_empty_block_can_be_closed():
    s, buf = session()
    s.feed_line("model keep input=(2,)")
    s.feed_line("  dense 1")
    s.feed_line("end")
    assert s.feed_line("model empty input=(4,)") is True
    assert s.feed_line("end") is False                      # closed, no error
    assert s.error_count == 0 and "no model defined" in buf.getvalue()
    assert "empty" not in s.models and s.current == "keep"


# --- user mistakes ---------------------------------------------------------------------------------------

def test_a_size_too_large_for_memory_is_a_user_error_at_the_layer_line():
    s, buf = session()
    ok = s.execute_source("model m input=(64,)\n  flatten\n  dense 100000000000\nend\n", "big.nn")
    out = buf.getvalue()
    assert not ok and "internal error" not in out and "MemoryError" not in out
    # engine.resources refuses the layer before allocating: the kernel's shape and what it would take
    assert re.search(r"big.nn:3:9: error: layer 'dense' \(Dense\) with its kernel of shape \(64, 100000000000\) "
                     r"\(and its gradient and optimizer slots\) needs \d+\.\d TB of memory, more than the ", out)


def test_a_fractional_count_says_whole_number():
    s, buf = session()
    s.feed_line("model m input=(4,)")
    s.feed_line("  dense 10.5")
    out = buf.getvalue()
    assert "units must be an integer, got 10.5" in out
    assert "a whole number; 10 or 11?" in out and "write units=N" not in out


def test_a_missing_output_folder_is_a_sentence(tmp_path):
    s, buf = session()
    target = tmp_path / "file"
    target.write_text("x")                                  # a file where a folder is needed
    assert not s.execute_source(f"save session {tmp_path / 'nowhere' / 'deeper' / 's.nn'}\n"
                                .replace("nowhere", "file/nowhere"), "t.nn")
    out = buf.getvalue()
    assert "[Errno" not in out and "Errno" not in out
    assert f"{target}" in out


# --- what save session records ---------------------------------------------------------------------------

def test_save_session_after_ctrl_c_records_the_epochs_that_ran_and_replays_them(tmp_path):
    s, buf = session()
    assert s.execute_source(SMALL, "t.nn")
    s.train_callbacks = [RaiseAt(2, 14, how="signal")]      # the last batch of the third epoch (15 steps)
    s.feed_line("train epochs=200 batch_size=100")
    assert "stopped by Ctrl-C after epoch 3/200" in buf.getvalue()
    path = tmp_path / "s.nn"
    s.feed_line(f"save session {path}")
    script = path.read_text()
    assert "train epochs=3 batch_size=100  # stopped by Ctrl-C after epoch 3/200" in script
    assert "epochs=200" not in script
    again, again_buf = session()
    assert again.execute_source(script, "s.nn"), again_buf.getvalue()
    for a, b in zip(s.models["m"].model.get_weights(), again.models["m"].model.get_weights()):
        np.testing.assert_array_equal(a, b)                 # the replay is the same model


def test_save_session_notes_an_unfinished_epoch(tmp_path):
    s, buf = session()
    assert s.execute_source(SMALL, "t.nn")
    s.train_callbacks = [RaiseAt(0, 4, how="signal")]
    s.feed_line("train batch_size=100 epochs=7")
    s.feed_line(f"save session {tmp_path / 's.nn'}")
    script = (tmp_path / "s.nn").read_text()
    assert "# train batch_size=100 epochs=7  # stopped by Ctrl-C in epoch 1/7 after batch 5/15; the batches of " \
           "the unfinished epoch changed the weights too" in script


def test_save_session_records_the_gan_epochs_that_ran(tmp_path, monkeypatch):
    from engine.lecture import gan
    train_gan = gan.train_gan

    def stop_in_the_second_epoch(*args, on_batch, **kwargs):
        def batch(epoch, step, *losses):
            on_batch(epoch, step, *losses)
            if epoch == 1:
                signal.raise_signal(signal.SIGINT)
        return train_gan(*args, on_batch=batch, **kwargs)
    monkeypatch.setattr(gan, "train_gan", stop_in_the_second_epoch)
    s, buf = session()
    assert s.execute_source(GAN_MODELS, "t.nn"), buf.getvalue()
    s.feed_line("gan train generator=g discriminator=d epochs=5 batch_size=512")
    assert "gan training stopped by Ctrl-C after 1 finished epoch;" in buf.getvalue()
    s.feed_line(f"save session {tmp_path / 's.nn'}")
    script = (tmp_path / "s.nn").read_text()
    assert "gan train generator=g discriminator=d epochs=1 batch_size=512  # stopped by Ctrl-C in epoch 2/5; " \
           "the batches of the unfinished epoch changed the weights too" in script
    assert "epochs=5" not in script


def test_a_recorded_train_line_keeps_its_file_names_quoted(tmp_path, monkeypatch):
    s, buf = session()
    assert s.execute_source(SMALL, "t.nn")
    monkeypatch.chdir(tmp_path)
    s.train_callbacks = [RaiseAt(1, 14, how="signal")]
    s.feed_line('train epochs=9 batch_size=100 checkpoint="my $HOME run.npz"')
    s.feed_line(f"save session {tmp_path / 's.nn'}")
    script = (tmp_path / "s.nn").read_text()
    assert 'train epochs=2 batch_size=100 checkpoint="my \\$HOME run.npz"  # stopped by Ctrl-C after epoch 2/9' \
        in script, script


# --- the prompt's error style ----------------------------------------------------------------------------

def test_errors_at_the_prompt_name_the_block_line_not_the_session_line():
    s, buf = session(terminal=True, width=60)
    for _ in range(40):                                     # many lines before: not counted
        s.feed_line("set seed 1")
    s.feed_line("model m")                                  # no input, no data: the layer line fails
    s.feed_line("  dense 3")
    out = buf.getvalue()
    assert "error (line 2 of this block): model 'm' does not know its input shape yet" in \
        " ".join(re.sub(r"\x1b\[[0-9;]*m", "", out).split())
    assert "<stdin>" not in out and "╭" not in out         # no panel, no session-wide line number
    s.feed_line("abort")
    s.feed_line("train")
    assert "error: there is no model yet" in buf.getvalue()
