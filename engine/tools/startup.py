"""How long `nnlab` takes to show its first prompt: a benchmark, not a test.

    python -m engine.tools.startup [--runs 10]

Starts `python -m shell` on a pseudo-terminal `runs` times (after one warm-up run that fills the OS file
cache and Python's bytecode cache) and prints each time from the start of the process to the moment
"nnlab>" appears, the median and the minimum, and the load average (other work on the machine makes
start-up slower; measure on a quiet machine). The goal (issue 11) is under 0.3 s: the prompt comes
before NumPy and the engine load (the session imports them when the first statement runs).
"""
from __future__ import annotations

import argparse
import os
import pty
import select
import signal
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROMPT = b"nnlab>"


def time_to_prompt(timeout: float = 30.0) -> float:
    """Seconds from starting `python -m shell` on a new pseudo-terminal to its first prompt."""
    env = dict(os.environ, PROMPT_TOOLKIT_NO_CPR="1", TERM="xterm", NNLAB_HISTORY="",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")])))
    start = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:                                            # the child: become nnlab
        os.chdir(ROOT)
        os.execve(sys.executable, [sys.executable, "-m", "shell"], env)
    seen = b""
    try:
        while PROMPT not in seen:
            ready, _, _ = select.select([fd], [], [], max(0.0, start + timeout - time.perf_counter()))
            if not ready:
                raise TimeoutError(f"no prompt after {timeout} s; output so far: {seen[-300:]!r}")
            try:
                seen += os.read(fd, 65536)
            except OSError as exc:                          # the child ended
                raise RuntimeError(f"nnlab ended before its prompt: {seen[-300:]!r}") from exc
        return time.perf_counter() - start
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(fd)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.tools.startup", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="timed runs after one warm-up (default 10)")
    args = parser.parse_args(argv)
    time_to_prompt()                                        # warm-up
    times = [time_to_prompt() for _ in range(args.runs)]
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print("time to the first prompt (s): " + " ".join(f"{t:.3f}" for t in times))
    print(f"median {statistics.median(times):.3f} s, min {min(times):.3f} s over {len(times)} runs; "
          f"load average {load}; {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
