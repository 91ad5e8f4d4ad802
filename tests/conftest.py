"""Test-wide settings."""
import os
import signal

import pytest

# No test downloads a data set from the internet (the scripts' subprocesses inherit this too); the download
# tests serve their own files from a local server and clear it themselves.
os.environ["NNLAB_OFFLINE"] = "1"


@pytest.fixture(autouse=True)
def python_sigint_handler():
    """Run every test with Python's own Ctrl-C handler, whatever the runner inherited (a job started in the
    background of a non-interactive shell ignores SIGINT); the shell's tests check that it is restored."""
    before = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)
