"""Users' files are safe (issue 9), the shell side: where statements may write, what they ask first, what a
saved session records, lines that are lines, Ctrl-C in a script, divergence, checkpoints, resource bounds."""
from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine import resources
from shell.interpreter import Session
from shell.output import Output
from tests.test_interpreter import SMALL

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def here(tmp_path, monkeypatch):
    """Work in a fresh folder, with the output folder inside it."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def session(script=False, **kwargs):
    buf = io.StringIO()
    s = Session(Output(buf), **kwargs)
    s.script = script
    return s, buf


def run(text, script=False, **kwargs):
    s, buf = session(script, **kwargs)
    ok = s.execute_source(text, "t.nn")
    return ok, buf.getvalue(), s


def nnlab(*args, cwd, input=None, timeout=180):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "shell", *args], cwd=cwd, env=env, input=input,
                          capture_output=True, text=True, timeout=timeout)


# --------------------------------------------------------------------------------------------------
# One way to write: suffixes, links, overwrites
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("statement, shown", [
    ("save weights w.txt", "weights file must have a name ending in .npz"),
    ("save session s.sh", "session script must have a name ending in .nn"),
    ("plot history to=h.sh", "plot must have a name ending in .png or .svg or .pdf"),
    ("predict to=p.py", "table must have a name ending in .csv"),
    ("train epochs=1 checkpoint=c.json", "checkpoint must have a name ending in .npz"),
])
def test_each_statement_writes_only_its_own_suffixes(here, statement, shown):
    ok, out, _ = run(SMALL + "train epochs=1 batch_size=200\n" + statement + "\n")
    assert not ok and shown in out
    assert "hint: add overwrite" not in out and not list(here.glob("*.txt")) + list(here.glob("*.sh"))


def test_a_name_without_a_suffix_gets_the_statements_own(here):
    ok, out, _ = run(SMALL + "save weights w\nsave session s\n")
    assert ok, out
    assert (here / "w.npz").is_file() and (here / "s.nn").is_file()


def test_an_existing_file_is_kept_unless_overwrite_is_given(here):
    (here / "w.npz").write_bytes(b"precious")
    ok, out, _ = run(SMALL + "save weights w.npz\n")
    assert not ok and "w.npz already exists and this session did not write it" in out
    assert "hint: add overwrite=true to replace it" in out
    assert "data digits" not in out, "the script was refused before its first statement ran"
    assert (here / "w.npz").read_bytes() == b"precious"
    ok, out, _ = run(SMALL + "save weights w.npz overwrite=true\n")
    assert ok, out
    assert (here / "w.npz").read_bytes()[:2] == b"PK"


def test_run_checks_the_files_of_the_script_it_runs_before_running_it(here):
    (here / "w.npz").write_bytes(b"precious")
    (here / "inner.nn").write_text("set seed 5\nsave weights w.npz\n")
    s, buf = session()
    s.execute_source(SMALL, "setup.nn")
    s.feed_line("run inner.nn")
    assert "inner.nn:2:14: error: w.npz already exists and this session did not write it" in buf.getvalue()
    assert s.seed == 0 and (here / "w.npz").read_bytes() == b"precious"


def test_a_file_this_session_wrote_is_replaced_without_a_question(here):
    ok, out, s = run(SMALL + "save weights w.npz\ntrain epochs=1 batch_size=200\nsave weights w.npz\n"
                     "plot history to=h.png term=true\nplot history to=h.png\n")
    assert ok, out
    assert out.count("saved 2 weight arrays") == 2


def test_at_the_prompt_replacing_a_file_is_asked(here):
    (here / "w.npz").write_bytes(b"precious")
    s, buf = session()
    questions = []
    s.ask = lambda question: questions.append(question) or False
    s.execute_source(SMALL, "setup.nn")
    s.feed_line("save weights w.npz")
    assert questions == [f"w.npz exists and was not written in this session: replace it? [y/N] "]
    assert "kept w.npz: nothing was written" in buf.getvalue()
    assert (here / "w.npz").read_bytes() == b"precious"
    s.ask = lambda question: True
    s.feed_line("save weights w.npz")
    assert (here / "w.npz").read_bytes()[:2] == b"PK"


def test_a_symbolic_link_is_never_written_through(here):
    victim = here / "victim.csv"
    victim.write_text("precious\n")
    (here / "out").mkdir()
    (here / "out" / "p.csv").symlink_to(victim)
    ok, out, _ = run(SMALL + "predict to=p.csv overwrite=true\n", out_dir=here / "out")
    assert not ok and "it is a symbolic link" in out
    assert victim.read_text() == "precious\n"


# --------------------------------------------------------------------------------------------------
# Scripts write only inside the current folder and the output folder
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["~/w.npz", "../w.npz", "{elsewhere}/w.npz", "sub/../../w.npz",
                                    "$(echo ..)/w.npz"])
def test_a_script_cannot_plant_files_outside_its_folders(here, tmp_path_factory, target):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    work = here / "work"
    work.mkdir()
    os.chdir(work)
    ok, out, _ = run(SMALL + f"save weights {target.format(elsewhere=elsewhere)}\n", script=True,
                     out_dir=work / "nnlab_out")
    if target.startswith("$("):                 # nothing is evaluated: a folder of that name, inside
        assert ok and (work / "$(echo ..)" / "w.npz").is_file()
        assert not list(elsewhere.iterdir()) and not (here / "w.npz").exists()
        return
    assert not ok and "a script writes only inside the current folder and the output folder" in out
    assert not list(elsewhere.iterdir()) and not (here / "w.npz").exists()


def test_a_script_can_move_the_output_folder_only_inside_its_folders(here, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    ok, out, _ = run(f"set out {elsewhere}\n", script=True)
    assert not ok and "a script may set the output folder only inside the current folder" in out
    ok, out, _ = run(SMALL + "set out figs/run1\ntrain epochs=1 batch_size=200\nplot history to=h.png\n",
                     script=True)
    assert ok, out
    assert (here / "figs" / "run1" / "h.png").is_file()
    ok, out, _ = run(f"set out {elsewhere / 'sub'}\n", script=True, out_dir=elsewhere)   # --out elsewhere
    assert ok, out


def test_folders_are_created_only_inside_the_current_and_the_output_folder(here, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    ok, out, _ = run(SMALL + f"save weights {elsewhere}/new/w.npz\n")          # at the prompt-like session
    assert not ok and "does not exist (nnlab creates folders only inside" in out
    assert not (elsewhere / "new").exists()
    ok, out, _ = run(SMALL + "save weights models/new/w.npz\n")
    assert ok and (here / "models" / "new" / "w.npz").is_file()


def test_the_command_line_script_is_confined_and_refused_before_it_runs(here):
    (here / "s.nn").write_text(SMALL + "train epochs=1 batch_size=200\nsave weights /tmp/nnlab_planted.npz\n")
    result = nnlab("run", "s.nn", cwd=here)
    assert result.returncode == 1
    assert "s.nn:8:14: error: a script writes only inside the current folder" in result.stderr
    assert "data digits" not in result.stdout and not Path("/tmp/nnlab_planted.npz").exists()


# --------------------------------------------------------------------------------------------------
# A saved session runs nothing in a shell
# --------------------------------------------------------------------------------------------------

def test_a_saved_session_quotes_what_a_shell_would_run(here):
    s, buf = session()
    for line in ["set out $(touch PWNED)`touch${IFS}PWNED2`", "data digits", 'plot images to="a b;touch PWNED3.png"',
                 "save session s.nn"]:
        s.feed_line(line)
    assert s.error_count == 0, buf.getvalue()
    text = (here / "s.nn").read_text()
    assert 'set out "\\$(touch PWNED)\\`touch\\${IFS}PWNED2\\`"' in text
    assert 'plot images to="a b;touch PWNED3.png"' in text
    subprocess.run(["bash", "s.nn"], cwd=here, capture_output=True, timeout=60)
    subprocess.run(["sh", "s.nn"], cwd=here, capture_output=True, timeout=60)
    assert not list(here.glob("PWNED*")), "a shell ran part of the saved session"
    ok, out, replay = run(text.replace("plot images", "plot images overwrite=true"))
    assert ok, out
    assert replay.out_dir == Path("$(touch PWNED)`touch${IFS}PWNED2`")


def test_save_session_refuses_a_shell_start_up_file(here):
    s, buf = session()
    s.feed_line("save session .bashrc.sh")
    assert "session script must have a name ending in .nn" in buf.getvalue()
    assert not (here / ".bashrc.sh").exists()


# --------------------------------------------------------------------------------------------------
# Lines are lines
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("char, name", [("\f", "U+000C (form feed)"), ("\v", "U+000B (vertical tab)"),
                                        ("\x85", "U+0085 (next line, NEL)"), ("\u2028", "U+2028 (line separator)"),
                                        ("\u2029", "U+2029 (paragraph separator)"),
                                        ("\x1c", "U+001C (control character)"),
                                        ("\x00", "U+0000 (NUL)"), ("\u202e", "U+202E (right-to-left override)")])
def test_a_control_character_in_a_comment_is_an_error_not_a_new_statement(here, char, name):
    script = f"set seed 1\n# a comment{char}save weights planted.npz\nset seed 2\n"
    ok, out, s = run(script)
    assert not ok and f"t.nn:2:12: error: control character {name} in this line" in out
    assert s.seed == 0 and not (here / "planted.npz").exists(), "nothing ran"


def test_line_ends_and_a_byte_order_mark(here):
    ok, out, s = run("\ufeffset seed 1\r\nset seed 2\rset seed 3\nbogus\n")
    assert not ok and "t.nn:4:1: error: unknown statement 'bogus'" in out
    (here / "bom.nn").write_bytes("\ufeffset seed 5\r\n".encode("utf-8"))
    result = nnlab("run", "bom.nn", cwd=here)
    assert result.returncode == 0 and "seed 5" in result.stdout


# --------------------------------------------------------------------------------------------------
# Ctrl-C in a script, divergence
# --------------------------------------------------------------------------------------------------

def test_ctrl_c_in_nnlab_run_stops_after_the_batch_and_exits_130(here):
    (here / "long.nn").write_text(SMALL.replace("data digits", "data digits train=0.5")
                                  + "train epochs=100000 batch_size=10\nsave weights late.npz\nset seed 3\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    child = subprocess.Popen([sys.executable, "-m", "shell", "run", "long.nn"], cwd=here, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while not child.stdout.readline().startswith("epoch"):     # training has started
        assert child.poll() is None, child.stderr.read()
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 130, err
    assert "training stopped by Ctrl-C" in out and "the model keeps its weights" in out
    assert re.search(r"script stopped by Ctrl-C in epoch \d+/100000 after batch \d+/90; no later statement ran", out)
    assert not (here / "late.npz").exists() and "seed 3" not in out


def test_divergence_in_a_script_exits_nonzero_and_keeps_finite_weights(here):
    script = ("data digits\nmodel m\n  flatten\n  dense 10\nend\ncompile optimizer=sgd lr=1e10 loss=mse\n"
              "train epochs=3 batch_size=100\nsave weights after.npz\n")
    (here / "nan.nn").write_text(script)
    result = nnlab("run", "nan.nn", cwd=here)
    assert result.returncode == 1
    assert "error: training stopped: the loss became" in result.stderr and "in epoch 1/3 at batch" in result.stderr
    assert "RuntimeWarning" not in result.stderr and not (here / "after.npz").exists()
    ok, out, s = run(script.replace("save weights after.npz", ""))
    assert not ok and all(np.isfinite(w).all() for w in s.models["m"].model.get_weights())


# --------------------------------------------------------------------------------------------------
# Checkpoints from the shell
# --------------------------------------------------------------------------------------------------

def test_train_resume_equals_the_run_never_stopped(here):
    _, out, whole = run(SMALL + "set seed 4\ntrain epochs=4 batch_size=100 validation_split=0.2\n")
    ok, out, _ = run(SMALL + "set seed 4\ntrain epochs=2 batch_size=100 validation_split=0.2 checkpoint=c.npz\n")
    assert ok, out
    ok, out, resumed = run(SMALL + "set seed 9\ntrain epochs=4 batch_size=100 validation_split=0.2 resume=c.npz\n")
    assert ok, out
    assert resumed.models["m"].history == whole.models["m"].history
    assert resumed.models["m"].epochs_trained == 4
    for a, b in zip(whole.models["m"].model.get_weights(), resumed.models["m"].model.get_weights()):
        np.testing.assert_array_equal(a, b)
    ok, out, _ = run(SMALL + "train epochs=4 batch_size=50 validation_split=0.2 resume=c.npz\n")
    assert not ok and "batch_size=100, this one has batch_size=50" in out
    ok, out, _ = run(SMALL + "train epochs=3 batch_size=100 validation_split=0.2 checkpoint=c.npz\n")
    assert not ok and "c.npz already exists and this session did not write it" in out
    ok, out, again = run(SMALL + "train epochs=3 batch_size=100 validation_split=0.2 resume=c.npz checkpoint=c.npz\n")
    assert ok, out                               # going on from a checkpoint and saving over it is asked for
    assert again.models["m"].history["loss"] == whole.models["m"].history["loss"][:3]


# --------------------------------------------------------------------------------------------------
# Resource bounds: each a clear error, never a hang or a crash
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, shown", [
    ("model m input=(64,)\n  dense 1e8\nend\n", "layer 'dense' (Dense) with its kernel of shape (64, 100000000)"),
    (SMALL + "grid lr=logspace(-5,1,10000) l2=logspace(-5,1,10000)\n",
     "has 100,000,000 cells, more than the limit of 1,000"),
    (SMALL + "compare repeat=1e9\n", "repeat must be between 1 and 1,000, got 1e9"),
    ("model g input=(8,)\n  dense 64\n  reshape (8,8,1)\nend\nplot samples count=1e8\n",
     "count must be between 1 and 1,024, got 1e8"),
    ("data sine n=1e12\n", "data sine with 1,000,000,000,000 points and windows of 4 needs"),
    ("model m input=" + "(" * 1000 + "1" + ")" * 1000 + "\nend\n", "brackets nest more than 32 deep here"),
    ("model m input=(" + "9" * 5000 + ",)\nend\n", "this number has more than 100 digits"),
    ("data digits\nmodel m\n  conv2d 20000 3 padding=same\n  flatten\n  dense 10 activation=softmax\nend\n"
     "compile optimizer=sgd loss=categorical_crossentropy\ntrain epochs=1 batch_size=200\n",
     "training model 'm' with batch_size=200 (its layer outputs) needs"),
])
def test_oversized_requests_are_clear_errors(here, monkeypatch, text, shown):
    monkeypatch.setattr(resources, "available_memory", lambda: 2 ** 30)      # a 1 GB machine
    ok, out, _ = run(text)
    assert not ok and shown in out, out
    assert "internal error" not in out and "Traceback" not in out


def test_resource_errors_on_the_command_line(here):
    (here / "big.nn").write_text("model m input=(64,)\n  dense 1e12\nend\n")
    result = nnlab("run", "big.nn", cwd=here)
    assert result.returncode == 1 and "needs" in result.stderr and "more than the" in result.stderr
    assert "MemoryError" not in result.stderr and "internal error" not in result.stderr
    result = nnlab(cwd=here, input="data digits\n" + "#" * (17 * 2 ** 20))
    assert result.returncode == 2 and "standard input holds more than 16 MB" in result.stderr


@pytest.mark.parametrize("make", ["fifo", "zero"])
def test_pipes_and_devices_never_hang_run_or_load(here, make):
    for name in ("s.nn", "w.npz"):
        if make == "fifo":
            os.mkfifo(here / name)
        else:
            (here / name).symlink_to("/dev/zero")
    what = "a named pipe (FIFO)" if make == "fifo" else "a character device"
    result = nnlab("run", "s.nn", cwd=here, timeout=60)
    assert result.returncode == 2 and f"cannot read a .nn script from s.nn: it is {what}, not a file" in result.stderr
    (here / "l.nn").write_text("model m input=(3,)\n  dense 2\nend\nload weights w.npz\nrun s.nn\n")
    result = nnlab("run", "l.nn", cwd=here, timeout=60)
    assert result.returncode == 1 and f"cannot read weights from w.npz: it is {what}" in result.stderr
