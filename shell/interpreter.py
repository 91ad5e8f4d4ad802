"""The `.nn` interpreter: a :class:`Session` holds the data, the models, the backend and the seed, and runs
statements from scripts (`execute_source`) or from the prompt one line at a time (`feed_line`).

Every user mistake becomes an :class:`~shell.errors.NNError` printed at its line and column; the session
keeps its state after an error. Engine errors (ShapeError, ModelError, DataError, BackendUnavailable,
ValueError) are converted at the statement or option that caused them. Anything else is an nnlab bug:
one line, and the traceback with --debug.

The statements themselves live in `shell.statements`, one handler per registry statement; this module
holds the session: its state, running lines and scripts, error reporting and the transcript.

The engine (NumPy, the layers, the statement handlers) is imported when the first statement runs, not when
a Session is made, so the shell's first prompt appears before it loads (`_start_engine`).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from shell.errors import NNError, did_you_mean, memory_message
from shell.language.lexer import split_lines
from shell.language.parser import ModelBlock, Node, parse, parse_line
from shell.output import Output, format_seconds

if TYPE_CHECKING:
    from shell.state import Data, ModelEntry
    from shell.statements.blocks import PromptBlock

DEFAULT_OUT_DIR = "nnlab_out"


def default_out_dir() -> Path:
    """Where plots and CSV files with a relative path go: $NNLAB_OUT if set, else ./nnlab_out."""
    env = os.environ.get("NNLAB_OUT", "").strip()
    return Path(os.path.expanduser(env)) if env else Path(DEFAULT_OUT_DIR)


class Session:
    """An nnlab session. `output` receives everything printed; `epochs` overrides every train/grid."""

    def __init__(self, output: Output | None = None, *, seed: int = 0, backend: str | None = None,
                 epochs: int | None = None, debug: bool = False, out_dir=None):
        self.out = output if output is not None else Output()
        #: the folder for plots and CSV files given with a relative path (`set out DIR`)
        self.out_dir = Path(os.path.expanduser(str(out_dir))) if out_dir else default_out_dir()
        self.debug = debug
        self.epochs_override = epochs
        self.seed = seed
        self.initial_seed = seed
        self.initial_backend = backend or None
        self.backend_name = backend or "numpy"
        self._engine_started = False
        if backend:
            self._start_engine()            # BackendUnavailable is the caller's to report
        self.data: Data | None = None
        self.models: dict[str, ModelEntry] = {}
        self.current: str | None = None
        self.transcript: list[str] = []
        self.finished = False
        self.last_grid: dict | None = None
        self.last_extrapolation: dict | None = None
        self.train_callbacks: list = []   # extra engine callbacks for every `train` (tests, the REPL)
        #: statements (and lines) that failed so far: a caller compares it before and after a line
        self.error_count = 0
        #: how many `run` scripts deep the running statement is (0: typed, or the script itself)
        self.depth = 0
        #: undo a script's model block that fails instead of keeping its first layers (notebook cells)
        self.atomic_blocks = False
        self._block: PromptBlock | None = None
        #: True while a line typed at the prompt runs (its errors are shown in the prompt's style)
        self._typing = False
        #: what a statement asks the transcript to record instead of its source (set while it runs)
        self.recorded: str | None = None
        # --- files (shell.writing) ---
        #: files this session wrote (resolved): writing one again needs no question
        self.written: set[Path] = set()
        #: ask(question) -> bool puts a yes/no question at the prompt (None: nobody to ask, as in a script)
        self.ask = None
        #: a script run by `nnlab run` or `nnlab < FILE`: it writes only inside the current and the output
        #: folder, and Ctrl-C stops it after the current batch (as `run FILE` does inside any session)
        self.script = False
        self.initial_out_dir = self.out_dir
        #: the script was stopped by Ctrl-C (`nnlab run` exits 130)
        self.interrupted = False

    def _start_engine(self) -> None:
        """Import the engine, seed its random numbers and choose the backend: once, before the first
        statement runs (or at once when a backend was given, so a bad one is reported at start)."""
        if self._engine_started:
            return
        import engine
        from engine import random
        random.set_seed(self.initial_seed)
        if self.initial_backend:
            engine.set_backend(self.initial_backend)
        self.backend_name = engine.get_backend().name
        self._engine_started = True

    # --- public entry points ------------------------------------------------------------------------
    @property
    def in_block(self) -> bool:
        """True while a `model ... end` block is open at the prompt."""
        return self._block is not None

    @property
    def in_script(self) -> bool:
        """A script runs (`nnlab run`, or `run FILE`): writes stay inside the current and the output folder
        (shell.writing), Ctrl-C stops the whole script, and nobody is asked anything."""
        return self.script or self.depth > 0

    @property
    def can_ask(self) -> bool:
        """A question can be put to the user (a statement typed at the prompt)."""
        return self.ask is not None and not self.in_script

    @property
    def block_model(self) -> str | None:
        return self._block.entry.name if self._block else None

    def execute_source(self, text: str, filename: str = "<input>") -> bool:
        """Run a whole script. Syntax errors are reported before anything runs; execution stops at the
        first error. Returns True when every statement succeeded."""
        from shell import writing
        try:
            program = parse(text, filename)
            writing.preflight(self, program)
        except NNError as err:
            self._report(err)
            return False
        try:
            for item in program:
                if not self._guarded(self._execute_item, item):
                    return False
                if self.finished:
                    break
        except KeyboardInterrupt as stop:           # Ctrl-C in a script (in_script): no later statement runs
            self.interrupted = True
            where = f" {stop}" if str(stop) else ""
            self.out.warning(f"script stopped by Ctrl-C{where}; no later statement ran")
            return False
        return True

    def feed_line(self, line: str) -> bool:
        """Run one line typed at the prompt; True while more lines are needed (inside a model block).
        Lines are numbered within their block (the `model` line is line 1), a line outside blocks is line 1."""
        in_block = self._block is not None
        self._typing = True
        try:
            try:
                node = parse_line(line, self._line_number(), "<stdin>", in_block=in_block)
            except NNError as err:
                self._report(err)
                return in_block
            if node.kind == "blank":
                return in_block
            if in_block:
                self._guarded(self._block_line, node)
            elif node.spec.opens_block:
                self._guarded(self._open_block, node)
            else:
                self._guarded(self._execute_item, node)
            return self._block is not None
        finally:
            self._typing = False

    def _line_number(self, after: int = 0) -> int:
        """The number of the next typed line (plus `after` more): within the open block, else 1."""
        return (len(self._block.lines) + 1 if self._block is not None else 1) + after

    def feed_text(self, text: str) -> bool:
        """Feed several lines (a paste) one by one, exactly as if typed; True while a block is open."""
        more = self._block is not None
        for line in split_lines(text):
            more = self.feed_line(line)
            if self.finished:
                break
        return more

    def validate_line(self, line: str) -> NNError | None:
        """The error the prompt should refuse the line with now, or None (see validate_text)."""
        found = self.validate_text(line)
        return found[1] if found is not None else None

    def validate_text(self, text: str) -> tuple[int, NNError] | None:
        """(offset in `text`, error) for the first line of a prompt buffer that would fail as typed, or None:
        a syntax error, or inside a `model ... end` block a layer whose output shape does not fit. Shapes
        are followed through the buffer's lines without building anything (the session is not changed)."""
        from shell.statements import blocks
        in_block = self._block is not None
        shapes = blocks.LayerShapes.after(self, self._block.entry) if in_block else None
        offset = 0
        for index, line in enumerate(text.split("\n")):
            try:
                node = parse_line(line, self._line_number(index), "<stdin>", in_block=in_block)
                err = shapes.check(node) if node.kind == "layer" and shapes is not None else None
            except NNError as caught:
                err = caught
            if err is not None:
                return offset + min(max(err.column - 1, 0), len(line)), err
            if node.kind in ("end", "abort"):
                in_block, shapes = False, None
            elif node.kind == "statement" and node.spec.opens_block:
                in_block, shapes = True, blocks.LayerShapes.for_header(self, node)
            offset += len(line) + 1
        return None

    def unsaved_models(self) -> list[str]:
        """Models whose weights changed (train, gan train, also interrupted or in a `run` script) since
        they were last saved or loaded with `save weights` / `load weights`."""
        return [name for name, entry in self.models.items() if entry.unsaved]

    def save_session(self, path) -> Path:
        """Write the accepted statements as a runnable script (with the seed and backend it started with)."""
        import engine
        from engine import files
        path = Path(path).expanduser()
        lines = [f"# nnlab {engine.__version__} session: the statements accepted so far, replayable with "
                 f"`nnlab run {path.name}`"]
        if self.epochs_override:
            lines.append(f"# recorded under --epochs {self.epochs_override}: run with the same flag to repeat it")
        lines.append(f"set seed {self.initial_seed}")
        if self.initial_backend:
            lines.append(f"backend {self.initial_backend}")
        lines.extend(self.transcript)
        return files.write_text(path, "\n".join(lines) + "\n", "session")

    def execute_nested(self, program: list) -> None:
        """Run the items of a script read by `run`: the first error propagates (to the `run` line's
        report); nothing inside is recorded in the transcript (the `run` line is). Its files are checked
        first, as a script's (shell.writing.preflight)."""
        from shell import writing
        self.depth += 1
        try:
            writing.preflight(self, program)
            for item in program:
                self._execute_item(item)
        finally:
            self.depth -= 1

    # --- what the statement handlers ask of the session -----------------------------------------------
    def entry(self, node: Node, option: str = "model") -> ModelEntry:
        """The model named by `option` (default: the current one); it must have layers."""
        name = node.value(option)
        if name is None:
            if self.current is None:
                raise node.error("there is no model yet", "define one: model NAME input=(...) / layer lines / end")
            name = self.current
        if name not in self.models:
            raise node.error(f"no model named '{name}'", did_you_mean(name, list(self.models), "models") or None,
                             at=option)
        entry = self.models[name]
        if not entry.model.layers:
            raise node.error(f"model '{name}' has no layers yet", "add layer lines before `end`", at=option)
        return entry

    def need_data(self, node: Node, need_arrays: bool = True) -> Data:
        if self.data is None:
            raise node.error("there is no data yet", "load some first, e.g. `data digits` (help data)")
        if need_arrays and self.data.x_train is None:
            raise node.error(f"the {self.data.name} data is a series without samples yet",
                             "cut it into samples with `window SIZE`")
        return self.data

    def data_input_shape(self) -> tuple | None:
        """One sample's shape of the current data (the input of a model without input=), or None."""
        return self.data.input_shape if self.data is not None else None

    def epochs(self, node: Node) -> int:
        return self.epochs_override or node.get("epochs")

    def done(self, text: str, seconds: float) -> None:
        """The statement's closing line, with the time it took."""
        self.out.print(f"{text} ({format_seconds(seconds)})" if text else f"({format_seconds(seconds)})")

    # --- running and error handling -----------------------------------------------------------------
    def _report(self, err: NNError) -> None:
        self.error_count += 1
        if not self._typing:
            self.out.error(err)
        elif err.file != "<stdin>":                 # in a script that a typed `run` runs
            self.out.error(err, place=f"line {err.line} of {err.file}")
        else:
            self.out.error(err, place=f"line {err.line} of this block" if self._block is not None else "")

    def _guarded(self, function, item) -> bool:
        """Run one statement; print any error; never let a user mistake escape as a traceback."""
        self._start_engine()
        from engine.tools.compile_notice import compilation_notices
        from shell.statements.files import Quit
        node = item.header if isinstance(item, ModelBlock) else item
        try:
            with compilation_notices(self.out.note):
                function(item)
            return True
        except NNError as err:
            self._report(err)
            return False
        except Quit:
            self.finished = True
            return True
        except KeyboardInterrupt:
            if self.in_script:
                raise
            self.out.warning("interrupted")
        except MemoryError as exc:                  # a size the user asked for (e.g. `dense 100000000000`)
            self._report(node.error(memory_message(exc), "ask for something smaller"))
            return False
        except RecursionError as exc:
            self.out.internal_error(exc, self.debug)
        except Exception as exc:  # a bug in nnlab, not a user mistake
            self.out.internal_error(exc, self.debug, f"{node.file}:{node.line}")
        self.error_count += 1
        return False

    def _execute_item(self, item) -> None:
        from shell import statements, writing
        from shell.statements import blocks
        self.recorded = None
        if isinstance(item, ModelBlock):
            blocks.run_block(self, item)
            records = True
        else:
            if item.kind in blocks.BLOCK_ONLY:
                raise item.error(f"'{item.kind}' without a model block")
            statements.handler(item.name)(self, item)
            records = item.spec.records and (item.form is None or item.form.records)
        if records and self.depth == 0:
            # what ran: a statement that did less than its line says (train stopped by Ctrl-C) records that
            self.transcript.append(writing.recorded_source(item) if self.recorded is None else self.recorded)

    def _open_block(self, node: Node) -> None:
        from shell.statements import blocks
        self._block = blocks.open_block(self, node)

    def _block_line(self, node: Node) -> None:
        from shell.statements import blocks
        if blocks.block_line(self, self._block, node):
            self._block = None
