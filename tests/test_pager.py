"""Long output goes through a pager at the prompt only (checklist row 20): help, layers, kernel and
summary (the registry's `pages` statements) when taller than the screen; never in scripts or pipes."""
from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shell.interpreter import Session
from shell.output import Output
from shell.registry.statement_table import STATEMENTS
from tests.test_repl import CTRL_D, _m, drive, lines, new_session

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _history_elsewhere(tmp_path, monkeypatch):
    monkeypatch.setenv("NNLAB_HISTORY", str(tmp_path / "history"))


@pytest.fixture
def paged(monkeypatch):
    """What shell.repl.page received (the real pager never runs)."""
    shown: list[str] = []
    monkeypatch.setattr(_m(), "page", shown.append)
    return shown


def _no_pager(monkeypatch):
    import pydoc

    def fail(*args, **kwargs):
        raise AssertionError("the pager must not run here")
    monkeypatch.setattr(pydoc, "pager", fail)
    monkeypatch.setattr(_m(), "page", fail)


def terminal_session(height: int):
    """A session whose output counts as a terminal (paging needs one), `height` rows high."""
    buf = io.StringIO()
    session = Session(Output(buf, terminal=True, width=100))
    session.out.console.height = height
    return session, buf


def test_the_registry_marks_the_long_statements():
    assert {s.name for s in STATEMENTS if s.pages} == {"help", "layers", "kernel", "summary"}


def test_long_help_at_the_prompt_goes_through_the_pager(paged):
    session, buf = terminal_session(10)
    drive(lines("help") + CTRL_D, session=session)
    assert len(paged) == 1 and "what it does" in paged[0] and paged[0].count("\n") >= 9
    assert "what it does" not in buf.getvalue()


def test_short_output_and_other_statements_are_printed(paged):
    session, buf = terminal_session(10)
    drive(lines("help relu", "backend", "data digits") + CTRL_D, session=session)
    assert not paged
    out = buf.getvalue()
    assert "relu is one of the activations" in out and "current backend" in out and "data digits" in out


def test_a_tall_screen_shows_help_without_paging(paged):
    session, buf = terminal_session(10_000)
    drive(lines("layers") + CTRL_D, session=session)
    assert not paged and "conv2d_transpose" in buf.getvalue()


def test_run_at_the_prompt_does_not_page_the_script(paged, tmp_path):
    script = tmp_path / "s.nn"
    script.write_text("help\nlayers\n", encoding="utf-8")
    session, buf = terminal_session(10)
    drive(lines(f"run {script}") + CTRL_D, session=session)
    assert not paged and "what it does" in buf.getvalue()


def test_output_that_is_not_a_terminal_never_pages(paged):
    session, buf = new_session()
    session.out.console.height = 10
    drive(lines("help") + CTRL_D, session=session)
    assert not paged and "what it does" in buf.getvalue()


def test_errors_in_a_paged_statement_are_still_shown(paged):
    session, buf = terminal_session(10)
    drive(lines("summary nothere") + CTRL_D, session=session)
    assert "no model" in buf.getvalue() + "".join(paged)


def test_page_hands_plain_text_to_pydoc(monkeypatch):
    import pydoc
    got = []
    monkeypatch.setattr(pydoc, "pager", got.append)
    _m().page("\x1b[1mbold\x1b[0m line\n")
    assert got == ["bold line\n"]


def test_scripts_never_page_in_process(monkeypatch):
    _no_pager(monkeypatch)
    buf = io.StringIO()
    session = Session(Output(buf))
    session.out.console.height = 5
    assert session.execute_source("help\nlayers\nmodel m input=(4,)\n  dense 3\nend\nsummary\nkernel activation\n")
    assert "what it does" in buf.getvalue()


@pytest.mark.parametrize("how", ["run", "stdin"])
def test_scripts_never_page_with_a_failing_pager(how, tmp_path):
    marker = tmp_path / "paged"
    pager = tmp_path / "pager.sh"
    pager.write_text(f"#!/bin/sh\ntouch {marker}\nexit 3\n", encoding="utf-8")
    pager.chmod(0o755)
    script = tmp_path / "long.nn"
    script.write_text("help\nlayers\nhelp conv2d\n", encoding="utf-8")
    env = {**os.environ, "PAGER": str(pager), "MANPAGER": str(pager), "LINES": "5"}
    args = [sys.executable, "-m", "shell"] + (["run", str(script)] if how == "run" else [])
    result = subprocess.run(args, input=None if how == "run" else script.read_text(), cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "what it does" in result.stdout and "conv2d_transpose" in result.stdout
    assert not marker.exists()
