"""The `.nn` language in Jupyter/IPython: `%load_ext shell.jupyter`, then

    %%nn
    data digits
    model cnn input=(8,8,1)
      conv2d 10 kernel=3 padding=same activation=relu
      flatten
      dense 10 activation=softmax
    end

or one statement with the line magic `%nn summary`. Every cell of a notebook runs on one Session (the
same data and models, as at the shell's prompt); output is plain text, errors are the language's
positioned messages, never a traceback.
"""
from __future__ import annotations

import sys

_session = None


def session():
    """The notebook's Session, made on first use (its output goes to the cell's stdout)."""
    global _session
    if _session is None:
        from shell.interpreter import Session
        _session = Session(_StdoutOutput())
    return _session


def _StdoutOutput():  # noqa: N802 (reads as the class it returns)
    """Plain-text output that writes to whatever sys.stdout is when called (Jupyter swaps it per cell)."""
    from shell.output import Output

    class CellStdout:
        def write(self, text):
            return sys.stdout.write(text)

        def flush(self):
            sys.stdout.flush()

        def isatty(self):
            return False

    return Output(CellStdout(), terminal=False)


def run_cell(text: str) -> bool:
    """Run a cell's statements; True when all succeeded."""
    return session().execute_source(text, "<cell>")


def load_ipython_extension(ipython) -> None:
    """`%load_ext shell.jupyter`: registers the `%%nn` cell magic and the `%nn` line magic."""
    def nn(line, cell=None):
        run_cell(cell if cell is not None else line)

    ipython.register_magic_function(nn, magic_kind="line_cell", magic_name="nn")
