"""`nnlab`: the command-line entry point.

    nnlab                         the interactive shell (on a terminal)
    nnlab < script.nn             run a script from standard input (no interactive UI)
    nnlab run FILE.nn [options]   run a script; exit status 1 when it fails, 130 after Ctrl-C
    nnlab FILE.nn                 the same as `nnlab run FILE.nn`

Start-up stays fast: only argparse here; the engine, Rich and the interpreter load when needed.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

EPILOG = """examples:
  nnlab                                   start the shell (help, layers, Tab completion inside)
  nnlab run models/digits_cnn.nn          the lecture's digits CNN
  nnlab run models/digits_cnn.nn --epochs 1 --backend numpy
  nnlab < models/digits_cnn.nn            the same, reading the script from stdin
  nnlab bench --cases conv lstm           time kernels on every backend and PyTorch (--help for more)

A .nn script holds one statement per line, e.g.
  data digits
  model cnn input=(8,8,1)
    conv2d 10 kernel=3 padding=same activation=relu
    maxpool2d 2
    flatten
    dense 10 activation=softmax
  end
  compile optimizer=sgd lr=0.01 loss=categorical_crossentropy metrics=accuracy
  train epochs=10 batch_size=100
  evaluate
"""


def _version() -> str:
    """The installed distribution's version, else the engine's (no NumPy import either way)."""
    from shell.version import version
    return version()


def _add_common(parser: argparse.ArgumentParser, suppress: bool) -> None:
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument("--backend", metavar="NAME", default=default,
                        help="kernel backend to start with: numpy, numba, cuda, cuda-emu (default numpy)")
    parser.add_argument("--epochs", metavar="N", type=_positive_int, default=default,
                        help="override the epochs of every train and grid statement (for quick tries)")
    parser.add_argument("--seed", metavar="N", type=_non_negative_int, default=default,
                        help="random seed for weights, shuffling and dropout (default 0)")
    parser.add_argument("--out", metavar="DIR", default=default,
                        help="folder for plots and CSV files given with a relative path (default ./nnlab_out)")
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS if suppress else False,
                        help="show Python tracebacks for internal errors")


def _int_at_least(minimum: int, what: str):
    """An argparse type: an integer >= minimum, with a message saying what was expected."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
        return value
    return parse


_positive_int = _int_at_least(1, "a positive integer")
_non_negative_int = _int_at_least(0, "an integer >= 0")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nnlab",
        description="nnlab - a teaching engine for convolutional and recurrent neural networks: "
                    "a shell and the .nn language over a Keras-like engine.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"nnlab {_version()}")
    _add_common(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = commands.add_parser("run", help="run a .nn script", description="Run a .nn script; the exit status "
                              "is 1 when a statement fails (or training diverges) and 130 when Ctrl-C stopped it "
                              "(after the current batch; no later statement runs). A script writes only inside "
                              "the current folder and the output folder (--out), and replaces a file it did not "
                              "write only with overwrite=true.")
    run.add_argument("file", metavar="FILE.nn", help="the script ('-' reads standard input)")
    _add_common(run, suppress=True)
    commands.add_parser("bench", help="time the kernels on every backend (and PyTorch); see `nnlab bench --help`",
                        add_help=False)
    return parser


def _session(args):
    """A Session with the command-line settings, or an exit status when the backend cannot run."""
    from shell.interpreter import Session
    from shell.output import Output
    import engine
    output = Output()
    try:
        session = Session(output, seed=args.seed if args.seed is not None else 0, backend=args.backend,
                          epochs=args.epochs, debug=args.debug, out_dir=args.out)
    except engine.BackendUnavailable as exc:
        print(f"nnlab: {exc}", file=sys.stderr)
        return None
    return session


def run_script(text: str, filename: str, args) -> int:
    """Exit status 0 (every statement ran), 1 (a statement failed, or training diverged) or 130 (Ctrl-C: the
    script stopped after the current batch; no later statement ran). A script writes only inside the current
    folder and the output folder (shell.writing)."""
    session = _session(args)
    if session is None:
        return 2
    session.script = True
    try:
        ok = session.execute_source(text, filename)
    except KeyboardInterrupt:
        print("nnlab: interrupted", file=sys.stderr)
        return 130
    return 130 if session.interrupted else 0 if ok else 1


def _run_stdin(args) -> int:
    """A script piped to standard input (at most MAX_SCRIPT_BYTES of UTF-8 text: `nnlab < /dev/zero` ends)."""
    from shell.statements.files import MAX_SCRIPT_BYTES
    data = sys.stdin.buffer.read(MAX_SCRIPT_BYTES + 1)
    if len(data) > MAX_SCRIPT_BYTES:
        print(f"nnlab: standard input holds more than {MAX_SCRIPT_BYTES // 2 ** 20} MB; expected a .nn script",
              file=sys.stderr)
        return 2
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        print(f"nnlab: standard input is not UTF-8 text (byte {exc.start + 1}); expected a .nn script", file=sys.stderr)
        return 2
    return run_script(text, "<stdin>", args)


def _ask(question: str) -> bool:
    """A yes/no question at the prompt (replacing a file): only y or yes is a yes; Ctrl-C or Ctrl-D is a no."""
    from prompt_toolkit import PromptSession
    try:
        return PromptSession().prompt(question).strip().lower() in ("y", "yes")
    except (EOFError, KeyboardInterrupt):
        return False


def interactive(args) -> int:
    try:
        from shell import repl
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("prompt_toolkit"):
            raise
        print("nnlab: the interactive shell needs prompt-toolkit (pip install prompt-toolkit); scripts run "
              "without it: `nnlab run FILE.nn` or `nnlab < FILE.nn`", file=sys.stderr)
        return 1
    session = _session(args)
    if session is None:
        return 2
    session.ask = _ask
    result = repl.main(session)
    return result if isinstance(result, int) else 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "bench":               # the benchmark has its own options (engine.tools.bench)
        from engine.tools import bench
        return bench.main(argv[1:])
    if argv and argv[0].endswith(".nn") and not argv[0].startswith("-"):
        argv.insert(0, "run")                     # `nnlab FILE.nn` means `nnlab run FILE.nn`
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            if args.file == "-":
                return _run_stdin(args)
            from engine.files import FileError
            from shell.statements.files import read_script
            try:
                text = read_script(Path(os.path.expanduser(args.file)))
            except FileError as exc:           # a missing file, not a .nn script, a pipe, a device, not UTF-8
                print(f"nnlab: {exc}", file=sys.stderr)
                return 2
            return run_script(text, args.file, args)
        if not sys.stdin.isatty():
            return _run_stdin(args)
        return interactive(args)
    except KeyboardInterrupt:
        print("nnlab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
