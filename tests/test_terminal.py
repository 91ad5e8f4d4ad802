"""The shell on a real pseudo-terminal at 60 and 120 columns (issue 11): what a person sees on the screen.

pexpect runs `python -m shell`; everything it prints is fed to pyte, an in-memory VT100, so the tests read
the screen (and the lines scrolled off it) as a person would: whether a message is whole, whether a table
keeps its boxes, whether the training bar shows its counts.
"""
from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import pytest

pexpect = pytest.importorskip("pexpect")
pyte = pytest.importorskip("pyte")
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")

ROOT = Path(__file__).resolve().parent.parent
WIDTHS = [60, 120]
BOX = "│┃┤├┼┐┘┌└┬┴┏┓┗┛┳┻╋┡┩╇━─"


class Terminal:
    """nnlab on a pseudo-terminal of `columns` x `lines`, its output rendered by pyte."""

    def __init__(self, tmp_path, columns, term="xterm", lines=40):
        env = dict(os.environ, PROMPT_TOOLKIT_NO_CPR="1", TERM=term, COLUMNS=str(columns), LINES=str(lines),
                   NNLAB_HISTORY=str(tmp_path / "history"), PYTHONPATH=str(ROOT), PAGER="cat",
                   NNLAB_OUT=str(tmp_path / "out"))
        env.pop("NO_COLOR", None)
        self.columns = columns
        self.screen = pyte.HistoryScreen(columns, lines, history=5000)
        self.stream = pyte.Stream(self.screen)
        self.child = pexpect.spawn(sys.executable, ["-m", "shell"], env=env, encoding="utf-8", timeout=30,
                                   dimensions=(lines, columns), cwd=str(tmp_path))
        self.child.logfile_read = self

    # pexpect's logfile: every character read goes to the emulated screen
    def write(self, data):
        self.stream.feed(data)

    def flush(self):
        pass

    def rows(self) -> list[str]:
        """Every row: those scrolled off the top, then the screen, each padded to the width."""
        top = ["".join(line[x].data for x in range(self.columns)) for line in self.screen.history.top]
        return top + list(self.screen.display)

    def text(self) -> str:
        """The rows as one text with the wrapping undone (a row that fills the width runs on)."""
        return "".join(row if len(row.rstrip()) == self.columns else row.rstrip() + "\n" for row in self.rows())

    def words(self) -> str:
        return " ".join(self.text().split())

    def wait_for(self, condition, what, timeout=30.0):
        """Read until condition(self) holds (the screen is checked after each read)."""
        deadline = time.monotonic() + timeout
        while not condition(self):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; screen:\n" + "\n".join(self.rows()[-40:]))
            try:
                self.child.read_nonblocking(100000, timeout=0.1)
            except pexpect.TIMEOUT:
                pass

    def see(self, text, timeout=30.0):
        self.wait_for(lambda t: text in t.words(), repr(text), timeout)

    def prompt(self, line):
        """Wait for the prompt (`nnlab>` or `NAME …`) to be the last thing on the screen, then type."""
        self.settle()
        self.child.sendline(line)

    def settle(self, quiet=0.4):
        """Read until nothing more comes for `quiet` seconds."""
        last = time.monotonic()
        while time.monotonic() - last < quiet:
            try:
                self.child.read_nonblocking(100000, timeout=0.05)
                last = time.monotonic()
            except pexpect.TIMEOUT:
                pass

    def close(self):
        self.child.close(force=True)


@pytest.fixture
def terminal(tmp_path):
    opened = []

    def start(columns, term="xterm"):
        t = Terminal(tmp_path, columns, term)
        opened.append(t)
        t.see("nnlab>")
        return t
    yield start
    for t in opened:
        t.close()


def expected_refusal(lines, last, place):
    """The error the session gives for `last` after `lines`, as the prompt shows it."""
    import io

    from shell.interpreter import Session
    from shell.output import Output
    session = Session(Output(io.StringIO()))
    for line in lines:
        session.feed_line(line)
    _, err = session.validate_text(last)
    return f"error ({place}): {err.message}" if place else f"error: {err.message}", err.hint


@pytest.mark.parametrize("columns", WIDTHS)
def test_a_refused_line_shows_its_whole_reason_wrapped(terminal, columns):
    t = terminal(columns)
    t.prompt("model m input=(8,8,1)")
    t.prompt("conv2d 4 kernel=9")
    message, hint = expected_refusal(["model m input=(8,8,1)"], "conv2d 4 kernel=9", "line 2 of this block")
    t.see("hint:")
    t.settle()
    assert message in t.text() and "(output would be 0x0)" in message    # the end of the message is there
    assert f"hint: {hint}" in t.text()
    t.child.sendcontrol("c")
    t.prompt("conv2d 4 kernel=3 fliters=2")                # an unknown option: the hint lists every option
    message, hint = expected_refusal(["model m input=(8,8,1)"], "conv2d 4 kernel=3 fliters=2", "line 2 of this block")
    t.see("hint:")
    t.settle()
    assert message in t.text() and f"hint: {hint}" in t.text() and hint.endswith("name")


@pytest.mark.parametrize("columns", WIDTHS)
def test_one_error_style_for_refused_and_failed_lines(terminal, columns):
    t = terminal(columns)
    for _ in range(5):
        t.prompt("set seed 1")
    t.prompt("train")                                     # fails as it runs
    t.see("hint: define one")
    t.prompt("model m")                                   # no input and no data: the layer line fails as it runs
    t.prompt("dense 3")
    t.see("does not know its input shape yet")
    t.settle()
    words = t.words()
    assert "error: there is no model yet" in words
    assert "error (line 2 of this block): model 'm' does not know its input shape yet" in words
    assert "<stdin>" not in words and "╭" not in words     # no panel, no line number counted over the session


@pytest.mark.parametrize("columns", WIDTHS)
def test_a_dumb_terminal_prints_the_error_of_a_refused_line(terminal, columns):
    t = terminal(columns, term="dumb")
    t.prompt("trian epochs=1")
    t.see("did you mean 'train'")
    t.prompt("model m input=(4,)")
    t.prompt("conv2d 4 3")
    t.see("cannot take input shape")
    t.prompt("dense 2")
    t.prompt("end")
    t.see("model m: 1 layer")
    assert "unknown statement 'trian'" in t.words()


@pytest.mark.parametrize("columns", WIDTHS)
def test_summary_and_help_fit_the_terminal(terminal, columns):
    t = terminal(columns)
    for line in ("model cnn input=(8,8,1)", "conv2d 10 kernel=3 padding=same activation=relu", "maxpool2d 2",
                 "flatten", "dense 50 activation=relu", "dense 10 activation=softmax", "end", "summary"):
        t.prompt(line)
    t.see("Non-trainable params")
    t.settle()
    table = [row.rstrip() for row in t.rows() if row.strip()[:1] in tuple(BOX)]
    assert len(table) >= 10
    assert all(row[-1] in BOX for row in table), "\n".join(table)     # every row of the boxes is closed
    words = t.words()
    assert "Total params: 8,660" in words and "MaxPooling2D" in words and "max_pooling2d" in words
    t.prompt("help train")
    t.see("example:")
    t.settle()
    from shell.registry import lookup
    for option in lookup.find_statement("train").options:
        assert option.name in t.words()
        assert " ".join(option.help.split()[:4]) in t.words()     # descriptions are there, not cut off


@pytest.mark.parametrize("columns", WIDTHS)
def test_the_training_bar_counts_each_epoch_and_stays_readable(terminal, columns):
    t = terminal(columns)
    for line in ("data digits", "model m", "flatten", "dense 10 activation=softmax", "end",
                 "compile optimizer=sgd loss=categorical_crossentropy metrics=accuracy",
                 "train epochs=3 batch_size=2"):
        t.prompt(line)
    bar = re.compile(r"epoch [123]/3 .*\b(\d+)/719\b.*\d:\d\d:\d\d")
    t.wait_for(lambda term: any(bar.search(row) for row in term.screen.display), "the live bar")
    live = next(row for row in t.screen.display if bar.search(row))
    assert "…" not in live and len(live.rstrip()) <= columns
    t.see("trained m: 3 epochs", timeout=120)
    words = t.words()
    assert all(f"epoch {n}/3 loss" in words for n in (1, 2, 3))


@pytest.mark.parametrize("columns", WIDTHS)
def test_editing_a_block_undo_empty_end_abort_history_and_ctrl_d(terminal, columns):
    t = terminal(columns)
    t.prompt("model m input=(4,)")
    t.prompt("dense 3")
    t.prompt("dense 5")
    t.prompt("undo")
    t.see("took back dense_1 (Dense); output now (None, 3)")
    t.prompt("summary")
    t.see("Total params: 15")
    t.prompt("layers")
    t.see("conv2d_transpose")
    t.child.sendcontrol("d")                              # inside a block: asks
    t.see("model block 'm' is still open")
    t.child.sendline("n")
    t.see("`end` closes the block, `abort` discards it")
    t.prompt("abort")
    t.see("model 'm' discarded")
    t.settle()
    t.child.send("\x1b[A")                                # Up: the block's lines are in the history
    t.wait_for(lambda term: "dense 3" in term.screen.display[term.screen.cursor.y - 1]
               + term.screen.display[term.screen.cursor.y], "the recalled block")
    t.child.sendcontrol("c")
    t.prompt("model empty input=(4,)")
    t.prompt("end")
    t.see("no model defined")
    t.prompt("model big input=(64,)")
    t.prompt("dense 100000000000")
    t.see("of memory")
    t.settle()
    # compared without spaces: a wrapped row that fills the width exactly cannot say where a space was
    assert "error(line2ofthisblock):layer'dense'(Dense)withitskernelofshape(64,100000000000)" \
        in "".join(t.words().split()) and "internal error" not in t.words()
    t.child.sendcontrol("c")
    t.prompt("dense 10.5")
    t.see("whole number")
    t.child.sendcontrol("c")
    t.prompt("abort")
    t.settle()
    t.child.sendcontrol("d")
    t.child.expect(pexpect.EOF)
