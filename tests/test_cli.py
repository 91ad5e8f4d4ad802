"""The `nnlab` command: run, stdin, flags, exit codes, plain output, lazy imports; the output module."""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "models" / "digits_cnn.nn"


def nnlab(*args, input=None, cwd=None, env_extra=None, timeout=120):
    env = dict(os.environ, PYTHONPATH=str(ROOT), TERM="xterm-256color", COLUMNS="100")
    env.pop("NO_COLOR", None)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "shell", *args], input=input, cwd=cwd or ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


QUICK = """\
data energies
model rnn
  simple_rnn 4
  dense 1
end
compile optimizer=adam loss=mse
train epochs=3
evaluate
"""


def test_help():
    result = nnlab("--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: nnlab")
    assert "run" in result.stdout and "--epochs" in result.stdout and "models/digits_cnn.nn" in result.stdout
    result = nnlab("run", "--help")
    assert result.returncode == 0 and "FILE.nn" in result.stdout


def test_version():
    import engine
    result = nnlab("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"nnlab {engine.__version__}"


def test_run_the_lecture_script_with_epochs_override(tmp_path):
    result = nnlab("run", str(SCRIPT), "--epochs", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "conv2d (Conv2D)" in out and "(None, 8, 8, 10)" in out
    assert "Total params: 8,660 (33.83 KB)" in out
    assert "epoch 1/1" in out and "epoch 2/" not in out
    assert "test        360" in out
    assert "\x1b" not in out and "\x1b" not in result.stderr
    assert "Traceback" not in result.stderr
    if (tmp_path / "digits_history.png").exists():
        assert f"wrote digits_history.png" in out


def test_failing_script_exits_non_zero_with_a_positioned_error(tmp_path):
    script = tmp_path / "bad.nn"
    script.write_text("data energies\nmodel m\n  simple_rnn 4\n  dense 1 activation=sofmax\nend\n")
    result = nnlab("run", str(script))
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == f"{script}:4:22: error: unknown activation 'sofmax'"
    assert "hint: did you mean 'softmax'?" in result.stderr
    assert "Traceback" not in result.stderr and "\x1b" not in result.stderr
    assert result.stdout == "", "a syntax error stops the script before anything runs"


def test_runtime_error_exits_non_zero(tmp_path):
    script = tmp_path / "late.nn"
    script.write_text("data energies\nmodel m\n  dense 1\nend\ntrain epochs=1\n")
    result = nnlab("run", str(script))
    assert result.returncode == 1
    assert f"{script}:5:1: error: model 'm' is not compiled" in result.stderr
    assert "model m:" in result.stdout


def test_stdin_is_run_without_the_interactive_ui():
    result = nnlab(input=QUICK)
    assert result.returncode == 0, result.stderr
    assert "epoch 3/3" in result.stdout and "evaluated rnn" in result.stdout
    assert "\x1b" not in result.stdout
    result = nnlab("--epochs", "1", input=QUICK)
    assert "epoch 1/1" in result.stdout and "epoch 2/" not in result.stdout
    result = nnlab(input="data energies\nbogus\n")
    assert result.returncode == 1 and "<stdin>:2:1: error: unknown statement 'bogus'" in result.stderr


def test_run_dash_reads_stdin_and_file_shorthand(tmp_path):
    result = nnlab("run", "-", input=QUICK)
    assert result.returncode == 0 and "epoch 3/3" in result.stdout
    script = tmp_path / "q.nn"
    script.write_text(QUICK)
    result = nnlab(str(script), "--epochs", "2")
    assert result.returncode == 0 and "epoch 2/2" in result.stdout


def test_seed_flag_is_recorded_and_repeatable():
    a = nnlab("--seed", "5", input=QUICK)
    b = nnlab("--seed", "5", input=QUICK)
    table = [line for line in a.stdout.splitlines() if line.startswith(("train ", "test "))]
    assert table and table == [line for line in b.stdout.splitlines() if line.startswith(("train ", "test "))]


def test_usage_errors_exit_2(tmp_path):
    result = nnlab("run", str(tmp_path / "missing.nn"))
    assert result.returncode == 2 and "nnlab: cannot read" in result.stderr and "missing.nn" in result.stderr
    result = nnlab("--epochs", "0", "run", str(SCRIPT))
    assert result.returncode == 2 and "positive integer" in result.stderr
    result = nnlab("run", str(SCRIPT), "--backend", "nonesuch")
    assert result.returncode == 2 and "unknown backend 'nonesuch'" in result.stderr


def test_installed_console_script():
    exe = shutil.which("nnlab")
    if exe is None:
        pytest.skip("nnlab is not installed (pip install -e .)")
    result = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("nnlab ")


def test_start_up_imports_stay_light():
    code = ("import sys, shell.__main__, shell.interpreter, shell.language.parser, shell.language.completion_context,"
            " shell.registry.lookup;"
            "heavy = [m for m in ('numba', 'cupy', 'matplotlib', 'sklearn', 'prompt_toolkit') if m in sys.modules];"
            "print(heavy)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_interactive_without_prompt_toolkit_prints_one_line(monkeypatch, capsys):
    import shell
    from shell import __main__ as cli
    monkeypatch.delattr(shell, "repl", raising=False)
    monkeypatch.delitem(sys.modules, "shell.repl", raising=False)
    monkeypatch.setitem(sys.modules, "prompt_toolkit", None)  # as on the GPU machines
    args = cli.build_parser().parse_args([])
    assert cli.interactive(args) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "nnlab run FILE.nn" in err


def test_interactive_hands_the_session_to_the_repl(monkeypatch):
    import types
    from shell import __main__ as cli
    seen = {}
    fake = types.ModuleType("shell.repl")
    fake.main = lambda session: seen.setdefault("session", session) and 0
    monkeypatch.setitem(sys.modules, "shell.repl", fake)
    import shell
    monkeypatch.setattr(shell, "repl", fake, raising=False)
    args = cli.build_parser().parse_args(["--seed", "3", "--epochs", "2"])
    assert cli.interactive(args) == 0
    assert seen["session"].seed == 3 and seen["session"].epochs_override == 2


# --------------------------------------------------------------------------------------------------
# Output: plain without a terminal, Rich with one
# --------------------------------------------------------------------------------------------------

def test_plain_output_has_no_escape_codes():
    from shell.errors import NNError
    from shell.output import Output
    buf = io.StringIO()
    out = Output(buf)
    assert out.terminal is False
    out.print("hello", "bold red")
    out.table(("a", "b"), [("x", 1.5)])
    out.error(NNError("bad", file="f.nn", line=2, column=3, source_line="ab cd", hint="fix it"))
    text = buf.getvalue()
    assert "\x1b" not in text
    assert "f.nn:2:3: error: bad\n    ab cd\n      ^\nhint: fix it" in text


def test_terminal_output_uses_rich(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    from shell.errors import NNError
    from shell.output import Output
    buf = io.StringIO()
    out = Output(buf, terminal=True, width=80)
    out.error(NNError("bad", file="f.nn", line=2, column=3, source_line="ab cd", hint="fix it"))
    text = buf.getvalue()
    assert "\x1b[" in text and "f.nn:2:3: error: bad" in text and "╭" in text


def test_no_color_means_plain(monkeypatch):
    from shell.output import stream_is_terminal

    class Tty(io.StringIO):
        def isatty(self):
            return True
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert stream_is_terminal(Tty())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not stream_is_terminal(Tty())
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("TERM", "dumb")
    assert not stream_is_terminal(Tty())


def test_training_progress_on_a_terminal(monkeypatch):
    from shell.output import Output
    buf = io.StringIO()
    out = Output(buf, terminal=True, width=100)
    progress = out.training_progress(2, 3)
    with progress:
        for epoch in range(2):
            progress.on_epoch_begin(epoch)
            for batch in range(3):
                progress.on_batch_end(batch, {"loss": 0.5, "accuracy": 0.75})
            progress.on_epoch_end(epoch, {"loss": 0.5, "accuracy": 0.75})
    text = buf.getvalue()
    assert "epoch 2/2  loss 0.5000  accuracy 0.7500" in text
    assert progress.finished_epochs == 2 and progress.batch == 3


def test_out_option_sends_plots_to_the_given_folder(tmp_path):
    script = tmp_path / "s.nn"
    script.write_text("demo polynomial a=(1,2) b=(3,1) to=p.png\n")
    result = subprocess.run([sys.executable, "-m", "shell", "run", str(script), "--out", str(tmp_path / "plots")],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "plots" / "p.png").is_file()
    assert not (tmp_path / "nnlab_out").exists()


def test_nnlab_bench_runs_the_benchmark_command(tmp_path):
    out = tmp_path / "b.json"
    result = subprocess.run([sys.executable, "-m", "shell", "bench", "--quick", "--cases", "simple_rnn",
                             "--backends", "numpy", "--no-torch", "--json", str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "simple_rnn_fwd_bwd" in result.stdout and out.is_file()
