"""The interactive shell: a prompt-toolkit prompt in front of a :class:`shell.interpreter.Session`.

    nnlab> data digits
    nnlab> model cnn input=(8,8,1)
    cnn … conv2d 10 kernel=3 padding=same activation=relu     (each layer line echoes its shape)
    cnn … end

How it behaves:

- Each command runs after the prompt has returned, so Rich (training bars, tables) owns the terminal
  while it runs and nothing is printed while the prompt is drawn.
- Enter runs the line only when it is valid (the session's `validate_text`): syntax errors, and inside a
  `model ... end` block layers whose shape does not fit, are refused at the prompt; the text stays, the
  cursor sits at the error and the whole reason shows under the line, wrapped, never cut. A line that
  still fails when it runs inside a block comes back for editing.
- One error style at the prompt: a refused line and a statement that fails as it runs both say
  "error: ..." (with "line N of this block" inside a block, "line N of FILE" for `run FILE`), then the hint.
- On a terminal that cannot move the cursor (TERM=dumb) nothing is refused before it runs: the line runs
  and its error is printed, since such a terminal could show neither the reason nor the cursor.
- Inside a block `help`, `layers` and `summary` work, `undo` takes back the last layer line, `end` on an
  empty block just closes it, `abort` discards the block but keeps its lines in the history, and Ctrl-D
  asks before leaving with the block open.
- A pasted block (or a block recalled from history) runs exactly as if its lines were typed one by one;
  when a line fails, it and the lines after it come back in the buffer.
- Tab completes statements, layers (inside a block), options (`key=`) and their values, and file names;
  completions also pop up while typing. Up/Down search the history for lines that start with what is
  typed; Ctrl-R searches anywhere; → accepts the grey suggestion.
- History lives in ~/.nnlab_history (env NNLAB_HISTORY; empty = no file): one entry per accepted command,
  a whole `model ... end` block as one entry, consecutive duplicates dropped, the newest 2000 kept.
- Ctrl-C clears the line at the prompt; during `train` it stops after the current batch (the interpreter's
  handler; a second Ctrl-C stops at once) and the model keeps its weights. Ctrl-D on an empty line quits;
  when a model has trained weights that were not saved (the session's `unsaved_models`), or a model block
  is open, it asks once.
- An nnlab bug prints one line and the hint that `nnlab --debug` shows the traceback.
- Output taller than the screen of the statements the registry marks `pages` (help, layers, kernel,
  summary) goes through the pager ($PAGER, else `less`; `PAGER=cat` turns paging off). Only at this
  prompt: scripts (`nnlab run`, `nnlab < file`, and `run FILE` typed here) never page.

Start-up cost is prompt-toolkit and Rich only: nothing here imports NumPy (the session loads the engine
when the first statement runs), Numba, CuPy, matplotlib or scikit-learn.
"""
from __future__ import annotations

import contextlib
import time
from pathlib import Path

from prompt_toolkit import PromptSession
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.completion import Completer
from prompt_toolkit.document import Document
from prompt_toolkit.enums import DEFAULT_BUFFER
from prompt_toolkit.filters import Condition, has_focus, to_filter
from prompt_toolkit.history import History
from prompt_toolkit.key_binding import KeyBindings
from prompt_toolkit.layout import FormattedTextControl, Window
from prompt_toolkit.utils import is_dumb_terminal
from prompt_toolkit.validation import ValidationError, Validator

from shell.completion import NNCompleter
from shell.errors import NNError
from shell.highlight import STYLE, NNLexer
from shell.output import format_seconds, format_shape
from shell.registry import lookup
from shell.registry.statement_table import IN_BLOCK_STATEMENTS
from shell.repl_history import HISTORY_ENV, MemoryHistory, NNHistory, history_path  # noqa: F401 (tests use them)

TOP_PROMPT = "nnlab> "


# --------------------------------------------------------------------------------------------------
# Validation: the session's own check (syntax, and inside blocks the shapes)
# --------------------------------------------------------------------------------------------------

def page(text: str) -> None:
    """Show `text` through the system pager (pydoc's: $MANPAGER / $PAGER, else `less`; plain output when
    stdin or stdout is not a terminal). Styles are dropped: a pager shows escape codes as text."""
    import pydoc

    from rich.text import Text
    pydoc.pager(Text.from_ansi(text).plain)


def error_text(err: NNError, line_number: int | None = None) -> str:
    """One line for the validation bar: the message and the hint."""
    where = f"line {line_number}: " if line_number is not None else ""
    hint = f" — {err.hint}" if err.hint else ""
    return f"{where}{err.message}{hint}"


class NNValidator(Validator):
    """Refuses a buffer the session would reject: the cursor goes to the error; `refused` keeps the error
    and where it is ("line 2 of these lines", "line 3 of this block") for the lines under the prompt."""

    def __init__(self, session):
        self.session = session
        self.refused: tuple[str, NNError] | None = None

    def validate(self, document: Document) -> None:
        self.refused = None
        try:
            found = self.session.validate_text(document.text)
        except Exception:  # pragma: no cover - never block Enter because of a checker bug
            return
        if found is None:
            return
        offset, err = found
        multi = "\n" in document.text.rstrip("\n")
        line_number = document.text.count("\n", 0, offset) + 1 if multi else None
        place = (f"line {line_number} of these lines" if multi else
                 f"line {err.line} of this block" if self.session.in_block else "")
        self.refused = (place, err)
        raise ValidationError(cursor_position=offset, message=error_text(err, line_number))

    def fragments(self, message: str) -> list[tuple[str, str]]:
        """What shows under a refused line: the prompt's error style (see Output.error), one line each for
        the error and the hint; the window wraps them at the terminal's width."""
        if self.refused is None:
            return [("class:refusal.error", message)]
        place, err = self.refused
        fragments = [("class:refusal.error", f"error ({place}): {err.message}" if place else f"error: {err.message}")]
        if err.hint:
            fragments += [("", "\n"), ("class:refusal.hint", f"hint: {err.hint}")]
        return fragments


# --------------------------------------------------------------------------------------------------
# The REPL
# --------------------------------------------------------------------------------------------------

class Repl:
    """The prompt loop around a Session. `input`/`output` are prompt-toolkit objects (tests pass a pipe
    input and a DummyOutput); `history` is a path, a History, or None for history_path()."""

    def __init__(self, session, *, input=None, output=None, history=None):
        self.session = session
        self.input, self.output = input, output
        #: a terminal that cannot move the cursor: no refusing at the prompt (see the module docstring)
        self.dumb = output is None and is_dumb_terminal()
        if isinstance(history, History):
            self.history = history
        else:
            path = Path(history).expanduser() if history is not None else history_path()
            self.history = NNHistory(path) if path is not None else MemoryHistory()
        self.last_seconds: float | None = None
        self._default = ""
        self._block_lines: list[str] = []
        self._history_search = False
        self._warned_history = False
        self.completer = NNCompleter(session)
        self.lexer = NNLexer(lambda: bool(self.session.in_block))
        self.validator = NNValidator(session)
        self.prompt_session = self._prompt_session()
        self._show_whole_refusals()

    # --- construction -----------------------------------------------------------------------------------
    def _prompt_session(self) -> PromptSession:
        return PromptSession(
            message=self._message, prompt_continuation=self._continuation, bottom_toolbar=self._toolbar,
            completer=_QuietWhileRefused(self.completer, lambda: self.prompt_session.default_buffer),
            complete_in_thread=True, complete_while_typing=True,
            lexer=self.lexer, validator=None if self.dumb else self.validator, validate_while_typing=False,
            history=self.history, auto_suggest=AutoSuggestFromHistory(),
            enable_history_search=Condition(lambda: self._history_search), search_ignore_case=True,
            key_bindings=self._key_bindings(), mouse_support=False, style=STYLE,
            include_default_pygments_style=False, enable_suspend=True, reserve_space_for_menu=6,
            input=self.input, output=self.output)

    def _show_whole_refusals(self) -> None:
        """prompt-toolkit shows a refusal in a one-line bar (ValidationToolbar, cut at the screen's edge):
        give that bar our error lines, wrapped, as many lines as they need."""
        buffer = self.prompt_session.default_buffer

        def text():
            error = buffer.validation_error
            return self.validator.fragments(error.message) if error is not None else []

        for container in self.prompt_session.layout.walk():
            control = getattr(container, "content", None)
            source = getattr(control, "text", None)
            if isinstance(container, Window) and isinstance(control, FormattedTextControl) and \
                    getattr(source, "__qualname__", "").startswith("ValidationToolbar."):
                container.content = FormattedTextControl(text)
                container.height = None
                container.wrap_lines = container.dont_extend_height = to_filter(True)

    def _key_bindings(self) -> KeyBindings:
        bindings = KeyBindings()
        focused = has_focus(DEFAULT_BUFFER)
        selected = Condition(lambda: _completion_selected(self.prompt_session.default_buffer))

        @bindings.add("c-c", filter=focused)
        def _clear(event):
            """Ctrl-C at the prompt clears the line (a block stays open; `abort` discards it)."""
            event.current_buffer.reset()

        @bindings.add("up", filter=focused)
        def _up(event):
            """Up: move in the completion menu once one is selected, else search the history for
            entries that start with the text before the cursor."""
            buffer = event.current_buffer
            if _completion_selected(buffer):
                buffer.complete_previous(count=event.arg)
                return
            buffer.cancel_completion()
            self._history_search = True
            try:
                buffer.auto_up(count=event.arg)
            finally:
                self._history_search = False

        @bindings.add("down", filter=focused)
        def _down(event):
            buffer = event.current_buffer
            if buffer.complete_state is not None:
                buffer.complete_next(count=event.arg)
                return
            self._history_search = True
            try:
                buffer.auto_down(count=event.arg)
            finally:
                self._history_search = False

        @bindings.add("enter", filter=focused & selected)
        def _take_completion(event):
            """Enter on a selected completion takes it (and closes the menu) instead of running the line."""
            event.current_buffer.complete_state = None

        return bindings

    # --- prompt pieces --------------------------------------------------------------------------------
    def prompt_text(self) -> str:
        if self.session.in_block:
            return f"{self.session.block_model} … "
        return TOP_PROMPT

    def _message(self):
        style = "class:prompt.block" if self.session.in_block else "class:prompt"
        return [(style, self.prompt_text())]

    def _continuation(self, width, line_number, wrap_count):
        return [("class:continuation", "… ".rjust(width))]

    def toolbar_fragments(self) -> list[tuple[str, str]]:
        session = self.session
        sep = ("class:bottom-toolbar.dim", "  │  ")
        if session.in_block:
            name = session.block_model
            entry = session.models.get(name)
            model = entry.model if entry is not None else None
            count = len(model.layers) if model is not None else 0
            shape = (model.layers[-1].output_shape if model is not None and model.layers else
                     model.input_layer.output_shape if model is not None and model.input_layer is not None else None)
            shown = format_shape(shape) if shape is not None else "input from the data"
            return [("class:bottom-toolbar.block", f" model {name} "),
                    ("", f" {count} layer{'s' if count != 1 else ''}, output {shown}"), sep,
                    ("class:bottom-toolbar.key", "end"), ("", " closes the block · "),
                    ("class:bottom-toolbar.key", "undo"), ("", " takes back a line · "),
                    ("class:bottom-toolbar.key", "abort"), ("", " discards it · Tab lists layers ")]
        data = session.data.name if getattr(session, "data", None) is not None else "none"
        parts = [("", " backend "), ("class:bottom-toolbar.key", str(session.backend_name)), sep,
                 ("", "data "), ("class:bottom-toolbar.key", data), sep,
                 ("", "model "), ("class:bottom-toolbar.key", self._model_status())]
        if self.last_seconds is not None:
            parts += [sep, ("", f"last {format_seconds(self.last_seconds)}")]
        parts += [sep, ("class:bottom-toolbar.dim", "Tab completes · help · Ctrl-D quits ")]
        return parts

    def toolbar_text(self) -> str:
        return "".join(text for _, text in self.toolbar_fragments())

    def _toolbar(self):
        try:
            return self.toolbar_fragments()
        except Exception:  # pragma: no cover - the toolbar must never break the prompt
            return [("", f" backend {getattr(self.session, 'backend_name', '?')} ")]

    def _model_status(self) -> str:
        session = self.session
        name = session.current
        entry = session.models.get(name) if name else None
        if entry is None:
            return "none"
        if not entry.compiled:
            return f"{name} (not compiled)"
        epochs = entry.epochs_trained
        if epochs:
            return f"{name} ({epochs} epoch{'s' if epochs != 1 else ''}" + (", unsaved)" if entry.unsaved else ")")
        return f"{name} (compiled)"

    # --- the loop --------------------------------------------------------------------------------------
    def run(self) -> int:
        """Prompt, run, repeat until `quit` or Ctrl-D. Returns the exit status (0)."""
        self._banner()
        while True:
            try:
                if self._step():
                    break
            except KeyboardInterrupt:                  # Ctrl-C between the prompt and a command
                self.session.out.warning("interrupted")
        return 0

    def _step(self) -> bool:
        """One prompt and its command; True to leave."""
        try:
            default, self._default = self._default, ""
            text = self.prompt_session.prompt(default=default)
        except KeyboardInterrupt:
            return False
        except EOFError:                               # Ctrl-D on an empty line
            return self.confirm_quit()
        try:
            self.execute(text)
        except KeyboardInterrupt:
            self.session.out.warning("interrupted")
        except Exception as exc:  # a bug in the shell itself: one line, traceback with --debug
            self.session.out.internal_error(exc, getattr(self.session, "debug", False), "the shell")
        if self.session.finished:
            if self.confirm_quit():
                return True
            self.session.finished = False
        return False

    def _banner(self) -> None:
        from shell.version import version
        self.session.out.note(f"nnlab {version()} — `help` lists the statements, Tab completes, Ctrl-D quits")

    def execute(self, text: str) -> None:
        """Run what was accepted at the prompt, line by line as if typed. When a line fails inside a
        block, or any line of several fails, that line and the rest come back in the next prompt."""
        lines = text.split("\n")
        while len(lines) > 1 and not lines[-1].strip():
            lines.pop()
        for index, line in enumerate(lines):
            in_block = bool(self.session.in_block)
            outcome = self._run_line(line)
            if outcome == "stop":
                break
            if outcome == "failed" and (len(lines) > 1 or (in_block and self.session.in_block)):
                if not self.dumb:                      # a dumb terminal would not show the text it gets back
                    self._default = "\n".join(lines[index:])
                break
        self._warn_history()

    def _run_line(self, line: str) -> str:
        session = self.session
        was_in_block = bool(session.in_block)
        errors = session.error_count
        start = time.perf_counter()
        try:
            with self._paging(line, was_in_block):
                session.feed_line(line)
        except KeyboardInterrupt:
            session.out.warning("interrupted")
            return "stop"
        except Exception as exc:  # not expected: the session reports its own errors
            session.out.internal_error(exc, getattr(session, "debug", False), "the shell")
            return "failed"
        finally:
            if line.strip():
                self.last_seconds = time.perf_counter() - start
        failed = session.error_count > errors
        self._record(line, was_in_block, failed)
        if session.finished:
            return "stop"
        return "failed" if failed else "ok"

    @contextlib.contextmanager
    def _paging(self, line: str, in_block: bool):
        """Around a statement the registry marks `pages`: capture what it prints and show it through
        `page` when it is taller than the screen (less the prompt's line), else print it as it is. Output
        that is not a terminal (a pipe, a log) is never paged."""
        words = line.split(None, 1)
        looks = words and (not in_block or words[0].lower() in IN_BLOCK_STATEMENTS)
        spec = lookup.find_statement(words[0]) if looks else None
        if spec is None or not spec.pages or not self.session.out.terminal:
            yield
            return
        console = self.session.out.console
        console.begin_capture()
        try:
            yield
        finally:
            text = console.end_capture()
            if text.count("\n") >= console.size.height - 1:
                page(text)
            else:
                console.file.write(text)
                console.file.flush()

    # --- history ---------------------------------------------------------------------------------------
    def _record(self, line: str, was_in_block: bool, failed: bool) -> None:
        history = self.history
        if not isinstance(history, NNHistory):
            if line.strip():
                history.append_string(line.strip())
            return
        text = line.strip()
        if not text or text.startswith("#"):
            return
        in_block = bool(self.session.in_block)
        if not was_in_block:
            if in_block:                              # `model NAME` opened a block
                self._block_lines = [text]
                history.record(text, transient=True)
            else:
                history.record(text)
            return
        word = text.lower().split()[0]
        if in_block:                                  # a layer line (kept only if it was accepted)
            if failed or word in IN_BLOCK_STATEMENTS and word != "undo":
                return
            if word == "undo":                        # the layer line it took back leaves the block's entry
                if len(self._block_lines) > 1:
                    self._block_lines.pop()
                return
            self._block_lines.append("  " + text)
            history.record(text, transient=True)
            return
        # `abort` keeps the lines typed so far as one entry (Up brings them back to fix), without the abort
        history.settle("\n".join(self._block_lines + ([] if word == "abort" else [text])))
        self._block_lines = []

    def _warn_history(self) -> None:
        error = getattr(self.history, "write_error", None)
        if error and not self._warned_history:
            self._warned_history = True
            self.session.out.warning(f"cannot write the history file ({error}); set {HISTORY_ENV} to another "
                                     f"file, or to nothing to keep history in memory")

    # --- leaving ---------------------------------------------------------------------------------------
    def confirm_quit(self) -> bool:
        """True to leave: always, unless trained weights are unsaved or a model block is open and the
        answer is not yes. Ctrl-D at the question also quits; Ctrl-C keeps the shell."""
        reasons = []
        if self.session.in_block:
            reasons.append(f"model block '{self.session.block_model}' is still open")
        unsaved = self.session.unsaved_models()
        if unsaved:
            reasons.append(f"unsaved trained weights ({', '.join(unsaved)})")
        if not reasons:
            return True
        question = PromptSession(input=self.input, output=self.output)
        try:
            answer = question.prompt(f"{'; '.join(reasons)} — quit anyway? [y/N] ")
        except EOFError:
            return True
        except KeyboardInterrupt:
            answer = ""
        if answer.strip().lower() in ("y", "yes"):
            return True
        hints = (["`end` closes the block, `abort` discards it"] if self.session.in_block else []) + \
            (["`save weights FILE.npz` saves the current model"] if unsaved else [])
        self.session.out.note(f"kept the session; {'; '.join(hints)}")
        return False


class _QuietWhileRefused(Completer):
    """The prompt's completer: no completion pops up by itself while a refused line shows its error (the
    cursor jumped to the error; a menu there would hide the message). Tab still completes."""

    def __init__(self, inner: Completer, buffer):
        self.inner, self.buffer = inner, buffer

    def get_completions(self, document, complete_event):
        if complete_event.text_inserted and not complete_event.completion_requested:
            try:
                if self.buffer().validation_error is not None:
                    return
            except Exception:  # pragma: no cover
                pass
        yield from self.inner.get_completions(document, complete_event)


def _completion_selected(buffer) -> bool:
    state = buffer.complete_state
    return state is not None and state.complete_index is not None


def main(session) -> int:
    """The shell for `nnlab` on a terminal (called by shell.__main__ with a ready Session)."""
    return Repl(session).run()
