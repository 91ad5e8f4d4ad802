"""`nnlab`: the command-line entry point."""
from __future__ import annotations

import argparse
import sys

import engine

DESCRIPTION = """nnlab - a teaching engine for convolutional and recurrent neural networks.

The interactive shell and `nnlab run FILE.nn` are not built yet. Until then, run the lecture
examples ported to the Python API, e.g.

    python -m engine.examples.digits_cnn
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="nnlab", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"nnlab {engine.__version__}")
    parser.parse_args(argv)
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
