"""The `.nn` language in Jupyter/IPython: `%load_ext shell.jupyter`, then

    %%nn
    data digits
    model cnn input=(8,8,1)
      conv2d 10 kernel=3 padding=same activation=relu
      flatten
      dense 10 activation=softmax
    end

or one statement with the line magic `%nn summary`. Every cell of a notebook runs on one Session (the
same data and models, as at the shell's prompt).

In a notebook (a Jupyter kernel):

- output is Rich's HTML (tables, the summary, highlighted kernel source) with a plain-text copy;
- `plot ...` shows the figure in the cell as well as writing the PNG;
- training shows one line per epoch that updates in place while the epoch runs, as Keras does;
- a mistake raises :class:`NNCellError`: the cell fails with the language's positioned message (no Python
  traceback), so "Run all" stops there. A model block that fails is undone, so no half-built model
  becomes current.

In a terminal IPython the output is the shell's (colours when it is a terminal); errors raise the same way.
`%nn` passes its line as typed: IPython's `{expression}` and `$name` expansion is switched off.
"""
from __future__ import annotations

import html
import sys
import time

from shell.output import TrainingProgress

_session = None


class NNCellError(Exception):
    """A `%%nn` cell failed. IPython shows `_render_traceback_()` instead of a Python traceback: the
    language's messages in a notebook, nothing more in a terminal IPython (where the shell printed them)."""

    def __init__(self, messages: list[str]):
        super().__init__("\n".join(messages) or "the %%nn cell failed (the error is printed above)")
        self.messages = messages

    def _render_traceback_(self) -> list[str]:
        return [line for message in self.messages for line in message.splitlines()]


def in_notebook() -> bool:
    """True inside a Jupyter kernel (Rich's own test: the shell is a ZMQInteractiveShell)."""
    from rich.console import _is_jupyter
    return _is_jupyter()


def session():
    """The notebook's Session, made on first use."""
    global _session
    if _session is None:
        from shell.interpreter import Session
        _session = Session(notebook_output() if in_notebook() else _stdout_output())
        _session.atomic_blocks = True       # a failed cell leaves no half-built model current
    return _session


def _stdout_output():
    """The shell's output, writing to whatever sys.stdout is when called (IPython may swap it per cell)."""
    from shell.output import Output, stream_is_terminal

    class CellStdout:
        def write(self, text):
            return sys.stdout.write(text)

        def flush(self):
            sys.stdout.flush()

        def isatty(self):
            return stream_is_terminal(sys.stdout)

    return Output(CellStdout())


def notebook_output():
    """Output for a notebook: a Rich console in Jupyter mode (every print is a display with HTML and plain
    text), images shown inline, progress as display lines updated in place."""
    from rich.console import Console

    from shell.output import Output

    class NotebookOutput(_CollectErrors, Output):
        def wrote(self, path) -> None:
            super().wrote(path)
            if str(path).lower().endswith((".png", ".jpg", ".jpeg", ".svg")):
                from IPython.display import Image, SVG, display
                display(SVG(filename=str(path)) if str(path).lower().endswith(".svg") else Image(filename=str(path)))

        def training_progress(self, epochs: int, steps: int):
            return NotebookProgress(self, epochs, steps)

    console = Console(force_jupyter=True, force_terminal=True, highlight=False, markup=False, emoji=False)
    return NotebookOutput(sys.stdout, terminal=True, console=console)


class _CollectErrors:
    """Mixin for Output: errors are kept (not printed) for the NNCellError that fails the cell."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.errors: list[str] = []

    def take_errors(self) -> list[str]:
        taken, self.errors = self.errors, []
        return taken

    def error(self, err, place=None) -> None:
        self.errors.append(err.format())

    def internal_error(self, exc, debug=False, where=""):
        if debug:
            super().internal_error(exc, debug, where)
        place = f" at {where}" if where else ""
        self.errors.append(f"internal error{place}: {type(exc).__name__}: {exc} (a bug in nnlab)")


class NotebookProgress(TrainingProgress):
    """Training progress in a notebook: per epoch one display line, updated in place (at most every
    UPDATE_SECONDS) while the epoch runs and left as the epoch's summary when it ends."""

    UPDATE_SECONDS = 0.2
    BAR = 24

    def __enter__(self):
        self._handle, self._shown = None, 0.0
        return self

    def __exit__(self, *exc):
        return False

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch, logs)
        from IPython.display import display
        self._handle = display(self._bundle(self._bar_line()), raw=True, display_id=True)
        self._shown = time.perf_counter()

    def on_batch_end(self, batch, logs=None):
        super().on_batch_end(batch, logs)
        now = time.perf_counter()
        if self._handle is not None and now - self._shown >= self.UPDATE_SECONDS:
            self._handle.update(self._bundle(self._bar_line()), raw=True)
            self._shown = now

    def on_epoch_end(self, epoch, logs=None):
        self.finished_epochs += 1
        line = self.epoch_line(epoch, logs)
        if self._handle is not None:
            self._handle.update(self._bundle(line), raw=True)
            self._handle = None
        else:
            self.output.print(line)

    def _bar_line(self) -> str:
        done = round(self.BAR * self.batch / max(self.steps, 1))
        return (f"epoch {self.epoch + 1}/{self.epochs} {'━' * done}{'─' * (self.BAR - done)} "
                f"{self.batch}/{self.steps}  {self.format_logs(self.logs)}")

    @staticmethod
    def _bundle(line: str) -> dict:
        return {"text/plain": line, "text/html": f"<pre style='margin:0'>{html.escape(line)}</pre>"}


def run_cell(text: str) -> bool:
    """Run a cell's statements; True when all succeeded."""
    return session().execute_source(text, "<cell>")


def _run_magic(text: str) -> None:
    """Run a cell (or a %nn line); a failure raises NNCellError (with the errors a notebook kept back)."""
    out = session().out
    take = getattr(out, "take_errors", list)
    take()
    if not run_cell(text):
        raise NNCellError(take())


def load_ipython_extension(ipython) -> None:
    """`%load_ext shell.jupyter`: registers the `%%nn` cell magic and the `%nn` line magic."""
    from IPython.core.magic import no_var_expand

    @no_var_expand
    def nn(line, cell=None):
        _run_magic(cell if cell is not None else line)

    ipython.register_magic_function(nn, magic_kind="line_cell", magic_name="nn")
