"""The interactive shell: completion, highlighting, validation, history, keys, Ctrl-C/Ctrl-D, the toolbar.

Three layers (shell-anchors §0.10): the completer/lexer/validator called directly; the real prompt loop
driven through prompt-toolkit's pipe input with a DummyOutput (keys in, Session output captured); and one
short pexpect session on a real pseudo-terminal.
"""
from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.filters import to_filter
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from prompt_toolkit.validation import ValidationError

from shell.completion import NNCompleter
from shell.highlight import NNLexer, lex_buffer
from shell.interpreter import Session
from shell.output import Output
from shell.registry import lookup
from shell.registry.layer_table import LAYERS
from shell.registry.statement_table import STATEMENTS
from shell.registry.value_sets import value_set
from tests.test_interpreter import SMALL, RaiseAt

ROOT = Path(__file__).resolve().parent.parent


def _m():
    """shell.repl, imported when a test runs (collecting this file must not import it: tests/test_cli.py
    checks what `nnlab` does when the module is missing)."""
    import shell.repl
    return shell.repl

UP, DOWN, RIGHT = "\x1b[A", "\x1b[B", "\x1b[C"
CTRL_A, CTRL_C, CTRL_D, CTRL_K, CTRL_R = "\x01", "\x03", "\x04", "\x0b", "\x12"
PASTE_START, PASTE_END = "\x1b[200~", "\x1b[201~"

DIGITS_LINES = [
    "data digits train=0.8 seed=0",
    "model cnn input=(8,8,1)",
    "  conv2d 10 kernel=3 padding=same activation=relu l2=1e-4",
    "  maxpool2d 2",
    "  flatten",
    "  dense 50 activation=relu l2=1e-4",
    "  dense 10 activation=softmax l2=1e-4",
    "end",
    "compile optimizer=sgd lr=0.01 loss=categorical_crossentropy metrics=accuracy",
]



@pytest.fixture(autouse=True)
def _history_elsewhere(tmp_path, monkeypatch):
    """No test touches ~/.nnlab_history."""
    monkeypatch.setenv("NNLAB_HISTORY", str(tmp_path / "default_history"))


def new_session(script: str = ""):
    buf = io.StringIO()
    session = Session(Output(buf))
    if script:
        assert session.execute_source(script, "setup.nn"), buf.getvalue()
    return session, buf


# --------------------------------------------------------------------------------------------------
# Driving the real prompt loop through a pipe
# --------------------------------------------------------------------------------------------------

class Type(str):
    """A driver step sent without waiting for the prompt to return (the line is not finished yet)."""


class Wait:
    """A driver step that waits (in the feeding thread) until `condition(repl)` holds."""

    def __init__(self, condition, what: str):
        self.condition, self.what = condition, what


def drive(steps, session=None, history=None, timeout: float = 20.0):
    """Run Repl.run() in this (main) thread; a feeder thread sends each text step and waits until a prompt
    has returned (a Type step does not wait; a Wait step polls a condition), so every prompt reads its own
    keys (as a person typing would) and finds the history loaded. A watchdog closes the input after
    `timeout`: the loop then ends with EOF instead of hanging, and the test fails."""
    if isinstance(steps, str):
        steps = [steps]
    if session is None:
        session, _ = new_session()
    out = session.out.file
    with create_pipe_input() as inp:
        repl = _m().Repl(session, input=inp, output=DummyOutput(), history=history)
        returned = [0]
        cond = threading.Condition()
        original = repl.prompt_session.prompt

        def counting_prompt(*args, **kwargs):
            try:
                return original(*args, **kwargs)
            finally:
                with cond:
                    returned[0] += 1
                    cond.notify_all()
        repl.prompt_session.prompt = counting_prompt
        failures: list[str] = []
        deadline = time.monotonic() + timeout

        def feed():
            for step in steps:
                if isinstance(step, Wait):
                    while not step.condition(repl):
                        if time.monotonic() > deadline:
                            failures.append(f"timed out waiting for {step.what}")
                            return
                        time.sleep(0.005)
                    continue
                with cond:
                    target = returned[0] + 1
                inp.send_text(step)
                if isinstance(step, Type):
                    continue
                with cond:
                    while returned[0] < target and not failures:
                        left = deadline - time.monotonic()
                        if left <= 0:
                            failures.append(f"the prompt never returned after {step!r}")
                            return
                        cond.wait(min(left, 0.5))

        def watchdog():
            if not done.wait(timeout):
                failures.append("the REPL was still running at the timeout")
                inp.close()

        done = threading.Event()
        feeder = threading.Thread(target=feed, daemon=True)
        guard = threading.Thread(target=watchdog, daemon=True)
        feeder.start()
        guard.start()
        try:
            status = repl.run()
        finally:
            done.set()
            feeder.join(2)
    assert not failures, failures
    assert status == 0
    return repl, out.getvalue()


def lines(*texts: str) -> str:
    return "".join(text + "\r" for text in texts)


# --------------------------------------------------------------------------------------------------
# Completion (checklist 4, 13, 14)
# --------------------------------------------------------------------------------------------------

def complete(text: str, session=None, in_block: bool | None = None):
    completer = NNCompleter(session, in_block=(lambda: in_block) if in_block is not None else None)
    return list(completer.get_completions(Document(text, len(text)), CompleteEvent(completion_requested=True)))


def texts(completions) -> list[str]:
    return [c.text for c in completions]


def test_every_statement_is_offered_at_the_line_start_with_meta():
    offered = complete("")
    assert texts(offered) == lookup.statement_names()
    assert all(c.display_meta_text for c in offered)


def test_statement_prefix_and_alias():
    assert texts(complete("tr")) == ["train"]
    assert texts(complete("ex")) == ["extrapolate", "exit"]
    assert texts(complete("TR")) == ["train"]


def test_every_layer_and_the_block_words_are_offered_inside_a_block():
    offered = complete("  ", in_block=True)
    assert texts(offered) == lookup.layer_names() + lookup.block_keywords()
    assert all(c.display_meta_text for c in offered)
    assert "data" not in texts(offered)
    assert texts(complete("conv", in_block=True)) == ["conv2d", "conv2d_transpose"]
    assert texts(complete("fc", in_block=True)) == ["fc"]         # an alias, shown with its layer


def test_a_block_opened_earlier_in_the_buffer_counts():
    text = "model m input=(4,)\n  den"
    completer = NNCompleter(None, in_block=lambda: False)
    got = texts(completer.get_completions(Document(text, len(text)), CompleteEvent()))
    assert got == ["dense"]


@pytest.mark.parametrize("spec", LAYERS, ids=lambda s: s.name)
def test_every_layer_offers_its_options_as_key_equals(spec):
    offered = complete(f"{spec.name} ", in_block=True)
    first = next((opt for opt in spec.options if opt.positional), None)
    if first is not None and lookup.values_for(first):       # `activation <Tab>` offers the words instead
        assert texts(offered)[:len(lookup.values_for(first))] == list(lookup.values_for(first))
    expected = [f"{opt.name}=" for opt in spec.options if not (opt is first and lookup.values_for(opt))]
    assert texts(offered)[-len(expected):] == expected
    assert all(c.display_meta_text for c in offered)


@pytest.mark.parametrize("form", [form for _, form in lookup.iter_forms()], ids=lambda f: f.full_name)
def test_every_statement_form_offers_its_options(form):
    offered = texts(complete(f"{form.full_name} "))
    first = next((opt for opt in form.options if opt.positional), None)
    for opt in form.options:
        if opt is first and (opt.takes_path or lookup.values_for(opt)):
            continue                                   # its values (or file names) are offered instead
        assert f"{opt.name}=" in offered


def test_subcommands_are_offered():
    for stmt in STATEMENTS:
        if stmt.subcommands:
            assert texts(complete(f"{stmt.name} ")) == [s.name for s in stmt.subcommands]
    assert texts(complete("plot fi")) == ["filters"]


def test_used_options_are_not_offered_again():
    offered = texts(complete("dense 10 activation=relu ", in_block=True))
    assert "activation=" not in offered and "units=" not in offered and "l2=" in offered


@pytest.mark.parametrize("line, set_name", [
    ("conv2d 10 3 activation=", "activations"),
    ("dense 4 activation=", "activations"),
    ("conv2d 10 3 padding=", "paddings"),
    ("maxpool2d 2 padding=", "paddings"),
    ("simple_rnn 4 activation=", "recurrent_activations"),
])
def test_layer_option_values(line, set_name):
    assert texts(complete(line, in_block=True)) == list(value_set(set_name))


@pytest.mark.parametrize("line, set_name", [
    ("compile optimizer=", "optimizers"),
    ("compile loss=", "losses"),
    ("compile metrics=", "metrics"),
    ("compile metrics=accuracy,", "metrics"),
    ("backend ", "backends"),
    ("evaluate on=", "eval_splits"),
])
def test_statement_option_values(line, set_name):
    assert texts(complete(line)) == list(value_set(set_name))


def test_value_prefixes_bools_and_topics():
    assert texts(complete("dense 3 activation=so", in_block=True)) == ["softmax"]
    assert texts(complete("compile optimizer=s")) == ["sgd"]
    assert texts(complete("train shuffle=")) == ["true", "false"]
    assert "conv2d" in texts(complete("help ")) and "activations" in texts(complete("help "))
    assert texts(complete("layers ")) == list(value_set("layers"))
    values = complete("compile loss=")
    assert all(c.display_meta_text == "loss" for c in values)


def test_session_names_are_offered_for_models_and_layers():
    session, _ = new_session("model a input=(4,)\n  dense 3 name=hidden\n  dense 2\nend\n"
                             "model b input=(4,)\n  dense 1\nend\n")
    assert texts(complete("use ", session)) == ["a", "b"]
    assert texts(complete("summary ", session)) == ["a", "b"]
    assert texts(complete("train model=", session)) == ["a", "b"]
    session.feed_line("use a")
    assert texts(complete("plot filters layer=", session)) == ["hidden", "dense"]


def test_paths_are_completed_for_path_options_run_load_and_save(tmp_path, monkeypatch):
    (tmp_path / "digits.nn").write_text("data digits\n")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "w.npz").write_bytes(b"")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)

    def files(line):
        return sorted(t for t in texts(complete(line)) if not t.endswith("="))
    assert files("run ") == ["digits.nn", "sub"]                  # .nn files and folders
    assert texts(complete("run di")) == ["gits.nn"]
    assert files("load weights ") == ["sub", "w.npz"]
    assert files("save weights ") == ["sub", "w.npz"]
    assert files("data csv ") == ["sub"]
    assert files("plot history to=") == ["sub"]
    assert files("predict to=") == ["sub"]
    assert "model=" in texts(complete("save weights "))
    assert all("file" in c.display_meta_text for c in complete("run "))
    (tmp_path / ".hidden.nn").write_text("")
    assert files("run ") == ["digits.nn", "sub"] and files("run .") == ["hidden.nn"]


def test_nothing_in_comments_or_after_unknown_words():
    assert complete("train epochs=3 # tr") == []
    assert complete("bogus ") == []
    assert complete("dense ", in_block=False) == []


def _all_contexts():
    yield ""
    for stmt in STATEMENTS:
        yield stmt.name[:2]
        yield f"{stmt.name} "
    for _, form in lookup.iter_forms():
        for opt in form.options:
            if not opt.takes_path:
                yield f"{form.full_name} {opt.name}="
    for spec in LAYERS:
        yield ("block", f"  {spec.name} ")
        for opt in spec.options:
            yield ("block", f"  {spec.name} {opt.name}=")


def test_completion_is_fast_and_never_touches_the_disk(monkeypatch):
    session, _ = new_session("model a input=(4,)\n  dense 3\nend\n")
    contexts = list(_all_contexts())
    for ctx in contexts:                       # warm the registry's value sets
        complete(ctx[1] if isinstance(ctx, tuple) else ctx, session, in_block=isinstance(ctx, tuple))

    def no_disk(*args, **kwargs):
        raise AssertionError("completion touched the disk")
    monkeypatch.setattr(os, "listdir", no_disk)
    monkeypatch.setattr(os, "scandir", no_disk)
    monkeypatch.setattr("builtins.open", no_disk)
    start = time.perf_counter()
    count = 0
    for ctx in contexts:
        in_block = isinstance(ctx, tuple)
        complete(ctx[1] if in_block else ctx, session, in_block=in_block)
        count += 1
    per_key = (time.perf_counter() - start) / count
    assert per_key < 0.01, f"{per_key * 1000:.2f} ms per completion"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.sampled_from(list(" \tabcdeilmnoprstuvwxyz_=()[],.#'\"0123456789-/\n")), max_size=50),
       st.booleans())
def test_completer_never_raises(text, in_block):
    complete(text, in_block=in_block)


# --------------------------------------------------------------------------------------------------
# Highlighting (checklist 4)
# --------------------------------------------------------------------------------------------------

def styles_of(line: str, in_block: bool = False) -> dict[str, str]:
    return {text: style for style, text in lex_buffer([line], in_block)[0] if text.strip()}


def test_lexer_tags_statements_options_values_numbers_comments():
    got = styles_of("data digits train=0.8 # the lecture's data")
    assert got["data"] == "class:nn.statement"
    assert got["digits"] == "class:nn.subcommand"
    assert got["train"] == "class:nn.key" and got["0.8"] == "class:nn.number"
    assert got["# the lecture's data"] == "class:nn.comment"
    got = styles_of("  conv2d 10 kernel=3 padding=same activation=sofmax name='c 1'", in_block=True)
    assert got["conv2d"] == "class:nn.layer"
    assert got["same"] == "class:nn.value"
    assert got["sofmax"] == "class:nn.error"             # not an activation: shown while typing
    assert got["'c 1'"] == "class:nn.string"
    assert styles_of("end", in_block=True)["end"] == "class:nn.block"
    assert styles_of("trian epochs=1")["trian"] == "class:nn.error"
    assert styles_of("x = 'open")["'open"] == "class:nn.error"


def test_every_statement_and_layer_is_highlighted_as_such():
    for head in lookup.all_heads():
        assert styles_of(head)[head] == "class:nn.statement"
    for head in lookup.layer_heads():
        assert styles_of(f"  {head}", in_block=True)[head] == "class:nn.layer"
        assert styles_of(head)[head] == "class:nn.error"           # a layer outside a block


def test_lexer_follows_blocks_through_the_buffer():
    lexer = NNLexer(lambda: False)
    get = lexer.lex_document(Document("model m input=(4,)\n  dense 2\nend\ntrain"))
    assert ("class:nn.layer", "dense") in get(1)
    assert ("class:nn.statement", "train") in get(3)
    inside = NNLexer(lambda: True).lex_document(Document("dense 2"))
    assert ("class:nn.layer", "dense") in inside(0)
    assert get(99) == []


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80), st.booleans())
def test_lexer_never_raises_and_covers_every_character(text, in_block):
    lexer = NNLexer(lambda: in_block)
    document = Document(text)
    get = lexer.lex_document(document)
    for number, line in enumerate(document.lines):
        assert "".join(fragment for _, fragment in get(number)) == line


# --------------------------------------------------------------------------------------------------
# Validation (checklist 5, 6, 7, 10)
# --------------------------------------------------------------------------------------------------

def refuse(session, text: str) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        _m().NNValidator(session).validate(Document(text))
    return info.value


def test_validator_refuses_an_unknown_layer_with_a_suggestion_at_its_column():
    session, _ = new_session()
    session.feed_line("model m input=(4,)")
    err = refuse(session, "  dnse 3 activation=relu")
    assert "unknown layer 'dnse'" in err.message and "did you mean 'dense'" in err.message
    assert err.cursor_position == 2
    err = refuse(session, "  dense 3 activation=sofmax")
    assert "did you mean 'softmax'" in err.message and err.cursor_position == len("  dense 3 activation=")


def test_validator_refuses_unknown_statements_and_accepts_good_lines():
    session, _ = new_session()
    err = refuse(session, "trian epochs=1")
    assert "did you mean 'train'" in err.message and err.cursor_position == 0
    validator = _m().NNValidator(session)
    for good in ("", "   ", "# just a comment", "train epochs=1", "\n".join(DIGITS_LINES)):
        validator.validate(Document(good))


def test_validator_refuses_a_layer_whose_shape_does_not_fit():
    from engine import random
    session, _ = new_session()
    session.feed_line("model m input=(4,)")
    session.feed_line("  dense 6")
    state = random.generator().bit_generator.state
    err = refuse(session, "  conv2d 3 3")
    assert "cannot take input shape (None, 6)" in err.message and "images" in err.message
    assert "previous layer 'dense' outputs (None, 6)" in err.message
    assert err.cursor_position == 2
    assert random.generator().bit_generator.state == state       # nothing was built: no random numbers used
    _m().NNValidator(session).validate(Document("  dense 2"))
    assert len(session.models["m"].model.layers) == 1             # validating adds nothing


def test_validator_follows_shapes_through_a_pasted_block():
    session, _ = new_session()
    text = "model p input=(8,8,1)\n  conv2d 4 3\n  flatten\n  maxpool2d 2\nend"
    err = refuse(session, text)
    assert err.message.startswith("line 4: ") and "cannot take input shape (None, 144)" in err.message
    assert err.cursor_position == text.index("maxpool2d")
    err = refuse(session, "model r\n  input (3,)\n  conv2d 1 1\nend")            # an `input` line
    assert err.message.startswith("line 3: ") and "(None, 3)" in err.message
    session.feed_line("data digits")                              # no input=: the data's shape is used
    err = refuse(session, "model q\n  flatten\n  conv2d 2 2\nend")
    assert err.message.startswith("line 3: ") and "cannot take input shape (None, 64)" in err.message
    err = refuse(session, "model s\n  input (5,)\n  conv2d 1 1\nend")       # `input` overrides the data's
    assert "cannot take input shape (None, 5)" in err.message
    if lookup.find_option(lookup.find_statement("model"), "extend") is not None:
        session.feed_text("model t input=(8,8,1)\n  conv2d 2 3\n  flatten\nend")
        _m().NNValidator(session).validate(Document("model t extend=true\n  dense 3\nend"))    # after flatten: fits
        err = refuse(session, "model t extend=true\n  maxpool2d 2\nend")
        assert "cannot take input shape (None, 72)" in err.message


# --------------------------------------------------------------------------------------------------
# The prompt loop (pipe input): typing, refusing, blocks, pastes (checklist 7, 8, 9, 10, 11)
# --------------------------------------------------------------------------------------------------

def test_typing_the_digits_cnn_line_by_line_then_train_and_evaluate(tmp_path):
    history = tmp_path / "history"
    keys = lines(*DIGITS_LINES, "summary", "train epochs=1 batch_size=100", "evaluate") + CTRL_D + "y\r"
    repl, out = drive(keys, history=history)
    assert re.search(r"conv2d \(Conv2D\)\s+\(None, 8, 8, 10\)\s+100 params", out)      # echoed while typing
    assert "model cnn: 5 layers, output (None, 10), 8,660 params" in out
    assert "Total params: 8,660" in out
    assert "trained cnn: 1 epoch of 15 steps" in out
    assert re.search(r"test\s+360\s+\S+\s+0\.\d{4}", out) and "accuracy" in out
    assert "cnn (1 epoch, unsaved)" in repl.toolbar_text()
    assert "backend numpy" in repl.toolbar_text() and "data digits" in repl.toolbar_text()
    assert repl.last_seconds is not None and "last " in repl.toolbar_text()
    stored = _m().NNHistory(history).load_history_strings()
    block = "\n".join(["model cnn input=(8,8,1)"] + ["  " + line.strip() for line in DIGITS_LINES[2:7]] + ["end"])
    assert stored[:5] == ["evaluate", "train epochs=1 batch_size=100", "summary", DIGITS_LINES[-1], block]
    assert stored[5] == DIGITS_LINES[0]


def test_a_refused_line_stays_in_the_buffer_with_the_cursor_at_the_error():
    # after Enter is refused the cursor sits on 'dnse' (column 2): Ctrl-K kills from there, the fix is typed
    keys = [lines("model m input=(4,)"), "  dnse 3 activation=relu\r" + CTRL_K + "dense 3\r",
            lines("end", "summary"), CTRL_D]
    repl, out = drive(keys)
    assert "unknown layer" not in out                 # refused at the prompt: never ran, never printed
    assert re.search(r"dense \(Dense\)\s+\(None, 3\)\s+15 params", out)
    assert "Total params: 15" in out


def test_no_menu_pops_up_over_a_refused_line():
    seen = []

    def refused_and_settled(repl):
        buffer = repl.prompt_session.default_buffer
        if buffer.validation_error is None:
            return False
        time.sleep(0.2)                                   # let any completion started by the typing finish
        seen.append((buffer.validation_error.message, buffer.cursor_position, buffer.complete_state))
        return True
    keys = [lines("model m input=(4,)"), Type("dnse 3\r"), Wait(refused_and_settled, "the refusal"),
            CTRL_C + "abort\r", CTRL_D]
    drive(keys)
    (message, cursor, menu), = seen
    assert "did you mean 'dense'" in message and cursor == 0 and menu is None


def test_a_layer_that_does_not_fit_is_refused_inside_the_block():
    keys = [lines("model m input=(4,)"), "  conv2d 3 3\r" + CTRL_A + CTRL_K + "  dense 2\r", lines("end"), CTRL_D]
    repl, out = drive(keys)
    assert "Conv2D" not in out and "cannot take" not in out
    assert "model m: 1 layer, output (None, 2), 10 params" in out


def test_a_layer_line_that_fails_when_run_comes_back_for_editing():
    # no input= and no data: the line fails in the interpreter; the next prompt starts with it again
    keys = [lines("model m"), "dense 3\r", "\r", CTRL_C + "input (4,)\r", "dense 3\r", lines("end"), CTRL_D]
    repl, out = drive(keys)
    assert out.count("does not know its input shape yet") == 2       # Enter on the returned line ran it again
    assert "model m: 1 layer, output (None, 3), 15 params" in out


def test_ctrl_c_clears_the_line_and_keeps_an_open_block():
    keys = ["garbage words" + CTRL_C + "set seed 5\r", lines("model m input=(2,)"), "dense" + CTRL_C + "dense 1\r",
            lines("end"), CTRL_D]
    repl, out = drive(keys)
    assert "seed 5" in out and "unknown statement" not in out and "garbage" not in out
    assert "model m: 1 layer, output (None, 1), 3 params" in out


def test_a_pasted_block_builds_the_same_model_as_a_script(tmp_path):
    block = "model p input=(4,)\n  dense 3 activation=relu\n  dense 2\nend\n"
    repl, out = drive([PASTE_START + block + PASTE_END + "\r", lines("summary"), CTRL_D], history=tmp_path / "h")
    script_session, script_out = new_session(block + "summary\n")
    assert "Total params: 23" in out
    summary = out[out.index('Model: "p"'):]
    assert summary.strip() == script_out.getvalue()[script_out.getvalue().index('Model: "p"'):].strip()
    assert _m().NNHistory(tmp_path / "h").load_history_strings()[1] == block.strip()     # one entry for the block


def test_a_failing_line_in_a_paste_comes_back_with_the_rest():
    paste = "set seed 1\nuse nothing\nset seed 2\n"
    keys = [PASTE_START + paste + PASTE_END + "\r", "\r", CTRL_C + "set seed 3\r", CTRL_D]
    repl, out = drive(keys)
    assert "seed 1" in out and out.count("no model named 'nothing'") == 2     # Enter re-ran what came back
    assert "seed 2" not in out                        # never ran: it came back with the failing line
    assert "seed 3" in out


# --------------------------------------------------------------------------------------------------
# Ctrl-C during train, Ctrl-D, unsaved weights (checklist 17, 18)
# --------------------------------------------------------------------------------------------------

def SigintAt(epoch, batch):  # noqa: N802 (reads like the callback class it builds)
    """An engine callback that sends this process SIGINT at one batch (as Ctrl-C on a terminal does)."""
    return RaiseAt(epoch, batch, how="signal")


def test_ctrl_c_during_train_stops_after_the_batch_and_keeps_the_model():
    session, buf = new_session(SMALL)
    session.train_callbacks.append(SigintAt(1, 2))
    keys = lines("train epochs=4 batch_size=100", "evaluate") + CTRL_D + "y\r"
    repl, out = drive(keys, session=session)
    assert "training stopped by Ctrl-C in epoch 2/4 after batch 3/15" in out
    assert "history keeps 1 finished epoch" in out
    assert "evaluated m" in out and "accuracy" in out
    assert session.models["m"].epochs_trained == 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    session.train_callbacks.clear()
    repl, out = drive(lines("train epochs=1 batch_size=100") + CTRL_D + "y\r", session=session)   # and continue
    assert session.models["m"].epochs_trained == 2


def test_ctrl_d_on_an_empty_line_exits():
    repl, out = drive(CTRL_D)
    assert out.startswith("nnlab ") and out.count("\n") == 1


def test_ctrl_d_asks_once_about_unsaved_trained_weights(tmp_path):
    session, _ = new_session(SMALL)
    keys = [lines("train epochs=1 batch_size=100"), CTRL_D + "n\r", "set seed 7\r", CTRL_D + "y\r"]
    repl, out = drive(keys, session=session)
    assert "kept the session" in out and "seed 7" in out
    # saved weights: Ctrl-D leaves at once (the line after it is never read)
    session, _ = new_session(SMALL)
    weights = tmp_path / "m.npz"
    repl, out = drive([lines("train epochs=1 batch_size=100", f"save weights {weights}"), CTRL_D + "set seed 9\r"],
                      session=session)
    assert weights.exists() and "seed 9" not in out and session.unsaved_models() == []


def test_quit_also_asks_about_unsaved_weights():
    session, _ = new_session(SMALL)
    repl, out = drive([lines("train epochs=1 batch_size=100", "quit"), "n\r", "set seed 4\r", "quit\r" + "y\r"],
                      session=session)
    assert "kept the session" in out and "seed 4" in out


# --------------------------------------------------------------------------------------------------
# History, Up prefix search, Ctrl-R, suggestions (checklist 15, 16)
# --------------------------------------------------------------------------------------------------

def test_history_is_written_and_reloaded_by_the_next_session(tmp_path):
    history = tmp_path / "history"
    drive(lines("set seed 3", "layers", "layers", "model m input=(4,)", "  dense 2", "end") + CTRL_D, history=history)
    stored = _m().NNHistory(history).load_history_strings()
    assert stored == ["model m input=(4,)\n  dense 2\nend", "layers", "set seed 3"]   # no duplicate 'layers'
    # a second session: Up recalls the block (one entry) and runs it; prefix search; Ctrl-R; → suggestion
    session, _ = new_session()
    steps = [UP + "\r",
             "se" + UP + "\r",
             CTRL_R + "lay" + "\r" + "\r",
             Type("set s"), Wait(lambda r: r.prompt_session.default_buffer.suggestion is not None, "a suggestion"),
             RIGHT + "\r",
             CTRL_D]
    repl, out = drive(steps, session=session, history=history)
    assert "model m: 1 layer, output (None, 2), 10 params" in out
    assert out.count("seed 3") == 2
    assert "engine class" in out                                  # the layers table, found with Ctrl-R
    # the block repeated the newest entry: not stored again; the others are new, non-consecutive entries
    assert _m().NNHistory(history).load_history_strings() == ["set seed 3", "layers", "set seed 3", *stored]


def test_up_searches_only_entries_starting_with_the_typed_text(tmp_path):
    history = tmp_path / "history"
    drive(lines("set seed 11", "help dense", "set seed 12", "layers") + CTRL_D, history=history)
    steps = ["set" + UP + UP + "\r", CTRL_D]            # the second-newest 'set' entry, skipping 'layers'/'help'
    repl, out = drive(steps, history=history)
    assert "seed 11" in out and "seed 12" not in out


def menu_open(repl) -> bool:
    return repl.prompt_session.default_buffer.complete_state is not None


def menu_for(text: str, first: str):
    """A Wait condition: the completion menu for `text` is loaded and starts with `first`."""
    def loaded(repl) -> bool:
        state = repl.prompt_session.default_buffer.complete_state
        return (state is not None and state.original_document.text == text and bool(state.completions)
                and state.completions[0].text == first)
    return Wait(loaded, f"the completion menu for {text!r}")


def test_completion_menu_keys(tmp_path):
    history = tmp_path / "history"
    drive(lines("set seed 21", "layers") + CTRL_D, history=history)
    steps = [
        # the menu pops up while typing; Up with nothing selected still searches the history
        Type("se"), Wait(menu_open, "the completion menu"), UP + "\r",
        # Down selects the first completion; Enter takes it (closes the menu) instead of running the line
        Type("compile loss="), menu_for("compile loss=", "mean_squared_error"), Type(DOWN),
        Wait(lambda r: r.prompt_session.default_buffer.text == "compile loss=mean_squared_error", "the selection"),
        Type("\r"), Wait(lambda r: not menu_open(r), "the menu to close"),
        " metrics=mae\r",
        CTRL_D]
    repl, out = drive(steps, history=history)
    assert "seed 21" in out
    assert "there is no model yet" in out
    assert _m().NNHistory(history).load_history_strings()[0] == "compile loss=mean_squared_error metrics=mae"


def test_history_file_is_capped_and_deduplicated(tmp_path):
    path = tmp_path / "history"
    history = _m().NNHistory(path, limit=10)
    for i in range(30):
        history.record(f"set seed {i}")
        history.record(f"set seed {i}")               # consecutive duplicate: dropped
    reloaded = _m().NNHistory(path, limit=10).load_history_strings()
    assert reloaded == [f"set seed {i}" for i in range(29, 19, -1)]
    assert path.read_text().count("+set seed") == 10              # compacted on load


def test_history_location_and_unwritable_file(tmp_path, monkeypatch):
    monkeypatch.setenv("NNLAB_HISTORY", str(tmp_path / "h"))
    assert _m().history_path() == tmp_path / "h"
    monkeypatch.setenv("NNLAB_HISTORY", "")
    assert _m().history_path() is None
    with create_pipe_input() as inp:
        assert isinstance(_m().Repl(new_session()[0], input=inp, output=DummyOutput()).history, _m().MemoryHistory)
    monkeypatch.delenv("NNLAB_HISTORY")
    assert _m().history_path() == Path("~/.nnlab_history").expanduser()
    blocker = tmp_path / "file"
    blocker.write_text("")
    repl, out = drive(lines("set seed 1", "set seed 2") + CTRL_D, history=blocker / "sub" / "history")
    assert out.count("cannot write the history file") == 1 and "seed 2" in out


# --------------------------------------------------------------------------------------------------
# Toolbar, prompt, configuration, errors, start-up (checklist 21, 24, 25, 1)
# --------------------------------------------------------------------------------------------------

def test_toolbar_and_prompt_show_backend_data_model_and_the_block():
    session, _ = new_session()
    with create_pipe_input() as inp:
        repl = _m().Repl(session, input=inp, output=DummyOutput())
        text = repl.toolbar_text()
        assert "backend numpy" in text and "data none" in text and "model none" in text
        assert repl.prompt_text() == "nnlab> "
        session.feed_line("model cnn input=(8,8,1)")
        session.feed_line("  conv2d 4 3")
        text = repl.toolbar_text()
        assert "model cnn" in text and "1 layer, output (None, 6, 6, 4)" in text
        assert "end closes the block" in text and "abort discards it" in text
        assert repl.prompt_text() == "cnn … "
        session.feed_line("end")
        assert "model cnn (not compiled)" in repl.toolbar_text()


def test_prompt_configuration():
    with create_pipe_input() as inp:
        repl = _m().Repl(new_session()[0], input=inp, output=DummyOutput())
        prompt = repl.prompt_session
        assert not to_filter(prompt.mouse_support)()
        assert prompt.completer.inner is repl.completer and prompt.lexer is repl.lexer
        assert prompt.validator is repl.validator and not to_filter(prompt.validate_while_typing)()
        assert prompt.history is repl.history and prompt.auto_suggest is not None
        assert to_filter(prompt.search_ignore_case)()


def test_an_internal_error_prints_one_line_and_the_debug_hint(monkeypatch):
    session, _ = new_session()
    with create_pipe_input() as inp:
        repl = _m().Repl(session, input=inp, output=DummyOutput())
    monkeypatch.setattr(repl, "_record", lambda *a: 1 / 0)
    with create_pipe_input() as inp:
        repl.input = inp
        repl.prompt_session = repl._prompt_session()
        inp.send_text(lines("set seed 1", "set seed 2") + CTRL_D)
        repl.run()
    out = session.out.file.getvalue()
    assert out.count("internal error at the shell: ZeroDivisionError: division by zero (run with --debug") == 2
    assert "Traceback" not in out and "seed 2" in out


def test_building_the_repl_loads_no_heavy_modules():
    code = (
        "import sys, time\n"
        "start = time.perf_counter()\n"
        "from prompt_toolkit.input import create_pipe_input\n"
        "from prompt_toolkit.output import DummyOutput\n"
        "from shell.interpreter import Session\n"
        "from shell.output import Output\n"
        "from shell.repl import Repl\n"
        "with create_pipe_input() as inp:\n"
        "    repl = Repl(Session(Output()), input=inp, output=DummyOutput(), history=None)\n"
        "    repl._banner(); repl.toolbar_text(); repl.prompt_text(); repl.completer; repl.lexer.lex_document\n"
        "print(round(time.perf_counter() - start, 3))\n"
        "print(sorted(m for m in ('numpy', 'engine', 'numba', 'cupy', 'matplotlib', 'sklearn', 'scipy', 'torch')\n"
        "             if m in sys.modules))\n")
    env = dict(os.environ, NNLAB_HISTORY="")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    seconds, loaded = result.stdout.strip().splitlines()[-2:]          # after the banner
    assert loaded == "[]"
    assert float(seconds) < 5


# --------------------------------------------------------------------------------------------------
# End to end on a real pseudo-terminal (checklist 1, 3, 17, 18)
# --------------------------------------------------------------------------------------------------

def _spawn(tmp_path, term: str):
    pexpect = pytest.importorskip("pexpect")
    env = dict(os.environ, PROMPT_TOOLKIT_NO_CPR="1", TERM=term, COLUMNS="100", LINES="40",
               NNLAB_HISTORY=str(tmp_path / "history"), PYTHONPATH=str(ROOT))
    env.pop("NO_COLOR", None)
    return pexpect, pexpect.spawn(sys.executable, ["-m", "shell"], env=env, encoding="utf-8", timeout=20,
                                  dimensions=(40, 100), cwd=str(tmp_path))


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_end_to_end_on_a_terminal(tmp_path):
    start = time.perf_counter()
    pexpect, child = _spawn(tmp_path, "xterm")
    try:
        child.expect_exact("nnlab>")
        first_prompt = time.perf_counter() - start
        child.sendline("data digits")
        child.expect("1437 train")
        for line in ("model cnn input=(8,8,1)", "conv2d 10 kernel=3 padding=same activation=relu", "flatten",
                     "dense 10 activation=softmax"):
            child.expect_exact("…" if line != "model cnn input=(8,8,1)" else "nnlab>")
            child.sendline(line)
        child.expect_exact("cnn …")
        child.sendline("end")
        child.expect("model cnn: 3 layers, output \\(None, 10\\), 6,510 params")
        child.expect_exact("nnlab>")
        child.sendline("compile optimizer=sgd lr=0.01 loss=categorical_crossentropy metrics=accuracy")
        child.expect("compiled cnn")
        child.expect_exact("nnlab>")
        child.sendline("train epochs=500 batch_size=4")
        child.expect(r"\b[1-9]\d*/360\b")                 # the live bar counts the epoch's batches (as Keras)
        child.sendintr()                                  # a real Ctrl-C on the terminal
        child.expect("stopped by Ctrl-C")
        child.expect_exact("nnlab>")
        child.sendline("evaluate")
        child.expect("evaluated cnn")
        child.expect_exact("nnlab>")
        child.send("garbage")
        child.expect_exact("garbage")
        child.sendintr()                                  # at the prompt: clears the line
        child.sendline("set seed 1")
        child.expect(r"seed 1\r?\n")
        child.expect_exact("nnlab>")
        child.sendcontrol("d")
        child.expect("quit anyway")
        child.sendline("y")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    assert "unknown statement" not in (child.before or "")
    print(f"first prompt after {first_prompt:.2f} s")
    assert first_prompt < 10


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_end_to_end_on_a_dumb_terminal(tmp_path):
    pexpect, child = _spawn(tmp_path, "dumb")
    try:
        child.expect_exact("nnlab>")
        child.sendline("set seed 2")
        child.expect(r"\nseed 2")
        child.expect_exact("nnlab>")
        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
