"""Everything nnlab prints goes through :class:`Output`, a small wrapper around a Rich Console.

On a terminal: colours, tables, error panels and a live training bar. When the stream is not a terminal,
`NO_COLOR` is set or `TERM=dumb`: plain text without a single escape code (one line per epoch, errors
as `file:line:col: error: ...` lines), so logs and pipes stay readable.
"""
from __future__ import annotations

import io
import math
import os
import sys
import time
import traceback

from rich import box
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from shell.errors import NNError


def stream_is_terminal(stream) -> bool:
    """True when `stream` is an interactive terminal that may receive escape codes."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("TERM") == "dumb":
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, io.UnsupportedOperation):
        return False


def format_seconds(seconds: float) -> str:
    """0.012 s, 1.23 s, 12.3 s, 2 min 5 s."""
    if seconds < 0.1:
        return f"{seconds:.3f} s"
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest} s"


def format_number(value) -> str:
    """Numbers in tables: 4 significant decimals, scientific for very small or large values."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0:
        return "0"
    if abs(v) < 1e-3 or abs(v) >= 1e5:
        return f"{v:.3e}"
    return f"{v:.4f}"


def format_shape(shape) -> str:
    """(None, 8, 8, 10) as Keras prints it; a 1-tuple keeps its comma; None is '(unknown)'."""
    if shape is None:
        return "(unknown)"
    from engine.shapes import format_shape as keras_shape      # here, so the shell starts without the engine
    return keras_shape(shape)


class Output:
    """A Rich Console (stdout) and an error console (stderr by default) with nnlab's formatting."""

    def __init__(self, file=None, err_file=None, *, terminal: bool | None = None, width: int | None = None,
                 console: Console | None = None):
        self.file = file if file is not None else sys.stdout
        self.err_file = err_file if err_file is not None else (sys.stderr if file is None else self.file)
        self.terminal = stream_is_terminal(self.file) if terminal is None else terminal
        self.err_terminal = self.terminal if self.err_file is self.file else stream_is_terminal(self.err_file)
        if console is not None:             # a given console (a notebook's) takes everything
            self.console = self.err_console = console
            return
        self.console = self._console(self.file, self.terminal, width)
        self.err_console = self.console if self.err_file is self.file else self._console(self.err_file,
                                                                                          self.err_terminal, width)

    @staticmethod
    def _console(stream, terminal: bool, width: int | None) -> Console:
        if terminal:
            return Console(file=stream, force_terminal=True, highlight=False, markup=False, emoji=False,
                           width=width)
        return Console(file=stream, force_terminal=False, color_system=None, no_color=True, highlight=False,
                       markup=False, emoji=False, width=width or 100, legacy_windows=False,
                       force_interactive=False)

    # --- text ------------------------------------------------------------------------------------------
    def print(self, text: str = "", style: str | None = None) -> None:
        """A line of text: on a terminal wrapped between words at its width, elsewhere as one line."""
        self.console.print(Text(text, style=style or ""), soft_wrap=not self.terminal)

    def note(self, text: str) -> None:
        """Secondary information (timings, hints): dim on a terminal."""
        self.print(text, "dim")

    def heading(self, text: str) -> None:
        self.print(text, "bold")

    def success(self, text: str) -> None:
        self.print(text, "green")

    def warning(self, text: str) -> None:
        self.print(f"warning: {text}", "yellow")

    def wrote(self, path) -> None:
        """A file nnlab wrote (a plot, a CSV file): its path (a notebook also shows an image inline)."""
        self.print(f"wrote {path}")

    def raw(self, text: str) -> None:
        """Pre-formatted text (e.g. the Keras summary table), printed as is."""
        self.console.print(Text(text), soft_wrap=True)

    def code(self, source: str, language: str) -> None:
        """Source code ("python" or "cuda"): syntax-highlighted on a terminal, as is otherwise."""
        if not self.terminal:
            self.raw(source)
            return
        from rich.syntax import Syntax
        self.console.print(Syntax(source, "cuda" if language == "cuda" else language, theme="monokai",
                                  background_color="default", word_wrap=True))

    # --- tables ------------------------------------------------------------------------------------------
    #: below this many columns a table too wide for the terminal is printed stacked, one field per line
    STACK_BELOW = 70

    def table(self, columns, rows, title: str | None = None, justify=None) -> None:
        """A table; floats are formatted with format_number, the rest with str. A last column of text
        (left-justified) wraps when the table is wider than the console; the others never do, unless the
        table still does not fit: then every column may wrap (Rich shares the width out), and on a
        terminal narrower than STACK_BELOW columns each row is printed as a little block of lines."""
        if title:
            self.print(title, "bold")
        cells = [[format_number(c) if isinstance(c, float) else str(c) for c in row] for row in rows]
        widths = [max([len(str(column))] + [len(row[index]) for row in cells if index < len(row)])
                  for index, column in enumerate(columns)]
        fits = sum(widths) + 2 * (len(columns) - 1) <= self.console.width
        last_wraps = justify is not None and justify[-1] == "left" and len(columns) > 1
        if not fits and self.console.width < self.STACK_BELOW:
            self._stacked(columns, cells)
            return
        squeeze = not fits and (not last_wraps or sum(widths[:-1]) + 2 * len(columns) + 10 > self.console.width)
        table = Table(box=box.SIMPLE_HEAD if self.terminal else box.SIMPLE, show_edge=False, pad_edge=False,
                      highlight=False, expand=False)
        last = len(columns) - 1
        for index, column in enumerate(columns):
            align = justify[index] if justify else ("left" if index == 0 else "right")
            wraps = squeeze or (index == last and align == "left" and index > 0)
            table.add_column(str(column), justify=align, no_wrap=not wraps,
                             min_width=None if wraps else widths[index], overflow="fold")
        for row in cells:
            table.add_row(*row)
        self.console.print(table)

    def _stacked(self, columns, cells) -> None:
        """Each row as its first cell (bold), then `column  value` lines, the values wrapped under themselves."""
        for number, row in enumerate(cells):
            if number:
                self.console.print()
            self.console.print(Text(row[0], style="bold", overflow="fold"))
            fields = Table.grid(padding=(0, 1))
            fields.add_column(no_wrap=True, style="dim")
            fields.add_column(overflow="fold")
            for column, value in zip(columns[1:], row[1:]):
                if value.strip():
                    fields.add_row(f"  {column}", value)
            self.console.print(fields)

    # --- errors -------------------------------------------------------------------------------------------
    def error(self, err: NNError, place: str | None = None) -> None:
        """A user error. Plain `file:line:col: error:` lines when the output is not a terminal; on a
        terminal, a red panel for scripts, and for a line typed at the prompt (`place` given: "" for a
        single line, "line 3 of this block", "line 5 of FILE") the prompt's style: the message, the line
        with a caret and the hint, each wrapped at the terminal's width, never cut."""
        if not self.err_terminal:
            self.err_console.print(Text(err.format()), soft_wrap=True)
            return
        parts = [Text(f"error ({place}): {err.message}" if place else f"error: {err.message}", style="bold red")
                 if place is not None else Text(err.headline(), style="bold red")]
        caret = err.caret_lines(indent="  ")
        if caret:
            parts += [Text(caret[0], no_wrap=True, overflow="fold"), Text(caret[1], style="bold red")]
        if err.hint:
            parts.append(Text(f"hint: {err.hint}", style="cyan"))
        if place is not None:
            for part in parts:
                self.err_console.print(part)
            return
        self.err_console.print(Panel(Group(*parts), border_style="red", expand=False, box=box.ROUNDED))

    def internal_error(self, exc: BaseException, debug: bool = False, where: str = "") -> None:
        """A bug in nnlab: one line (plus the traceback with --debug)."""
        place = f" at {where}" if where else ""
        line = f"internal error{place}: {type(exc).__name__}: {exc}"
        if debug:
            self.err_console.print(Text("".join(traceback.format_exception(type(exc), exc, exc.__traceback__))),
                                   soft_wrap=True)
            self.err_console.print(Text(line, style="bold red"), soft_wrap=True)
        else:
            self.err_console.print(Text(f"{line} (run with --debug for the traceback)", style="bold red"),
                                   soft_wrap=True)

    # --- training progress -------------------------------------------------------------------------------
    def training_progress(self, epochs: int, steps: int):
        return TrainingProgress(self, epochs, steps)


class TrainingProgress:
    """An engine Callback that shows training: a live Rich bar on a terminal, one plain line per epoch
    otherwise. As Keras, the bar counts the batches of the epoch in progress ("epoch 2/5 ... 12/45") and each
    finished epoch leaves one line. It remembers where training is (for the Ctrl-C message).

    On a terminal narrower than WIDE columns the loss and metrics go on a second line under the bar, so
    the bar and the counts keep their width (at 60 columns: "epoch 2/5 ━━━━━━━━━━ 12/45 0:00:01")."""

    WIDE = 100
    model = None

    def __init__(self, output: Output, epochs: int, steps: int):
        self.output, self.epochs, self.steps = output, epochs, steps
        self.epoch = 0            # 0-based epoch in progress
        self.batch = 0            # batches finished in that epoch
        self.finished_epochs = 0
        self.logs: dict = {}
        self._progress = None
        self._task = None
        self._epoch_start = time.perf_counter()

    # context manager: the live display exists only while training runs
    def __enter__(self):
        if self.output.terminal:
            self._progress = _progress_display(self.output.console, self.output.console.width < self.WIDE)
            self._progress.start()
            self._task = self._progress.add_task("train", total=self.steps, epoch=f"1/{self.epochs}", metrics="")
        return self

    def __exit__(self, *exc):
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        return False

    @staticmethod
    def format_logs(logs: dict) -> str:
        return "  ".join(f"{k} {format_number(v)}" for k, v in logs.items())

    # engine Callback interface
    def on_train_begin(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.batch = epoch, 0
        self._epoch_start = time.perf_counter()
        if self._progress is not None:
            self._progress.reset(self._task, total=self.steps, epoch=f"{epoch + 1}/{self.epochs}", metrics="")

    def on_batch_end(self, batch, logs=None):
        self.batch = batch + 1
        self.logs = dict(logs or {})
        if self._progress is not None:
            self._progress.update(self._task, completed=self.batch, epoch=f"{self.epoch + 1}/{self.epochs}",
                                  metrics=self.format_logs(self.logs))

    def epoch_line(self, epoch, logs) -> str:
        elapsed = time.perf_counter() - self._epoch_start
        return f"epoch {epoch + 1}/{self.epochs}  {self.format_logs(logs or {})}  ({format_seconds(elapsed)})"

    def on_epoch_end(self, epoch, logs=None):
        self.finished_epochs += 1
        line = self.epoch_line(epoch, logs)
        if self._progress is not None:
            self._progress.console.print(Text(line), soft_wrap=True)
        else:
            self.output.print(line)

    def on_train_end(self, logs=None):
        pass


def _progress_display(console: Console, narrow: bool):
    """The Rich progress bar of TrainingProgress: one line, or on a narrow terminal the metrics on a
    second line (a Progress whose renderables are the bar's table and then each task's metrics)."""
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    class MetricsBelow(Progress):
        def get_renderables(self):
            yield self.make_tasks_table(self.tasks)
            for task in self.tasks:
                if task.fields.get("metrics"):
                    yield Text("  " + task.fields["metrics"], overflow="fold")

    if narrow:
        return MetricsBelow(TextColumn("epoch {task.fields[epoch]}"), BarColumn(bar_width=None),
                            MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=True,
                            expand=True)
    return Progress(TextColumn("epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[metrics]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                    console=console, transient=True)
