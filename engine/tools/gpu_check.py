"""Every GPU check in one command, for the few minutes a GPU machine is lent (no install step, no internet):

    PYTHONPATH=. python -m engine.tools.gpu_check --out gpu-results

from the repository root. It writes gpu-results/gpu_check.md and gpu-results/gpu_check.json, with the
full logs beside them, and rewrites both after every step and every benchmark case: a fault, a hang or a
lost machine keeps what came before. Every step runs in a subprocess with its own timeout, all of them
within --budget seconds (default 450, under 8 minutes):

1. preflight: device, driver and versions; CuPy compiles a tiny kernel with NVRTC and runs it;
2. tests: `pytest -m gpu`: the `cuda` backend against the NumPy reference (at the tests' shapes and at
   the benchmark sizes), against the CPU emulator (when g++ is there) and against PyTorch/cuDNN;
3. compute-sanitizer memcheck and racecheck on one small run of every kernel (engine/backends/cuda/
   every_kernel.py, CuPy's memory pool off), then synccheck and initcheck if time is left;
4. benchmarks: the `cuda` backend against PyTorch/cuDNN, float32, medians of timed repetitions with the
   device synchronised, TF32 off in PyTorch (CuPy does not use it), convolutions and pooling timed in NCHW
   and channels_last with the faster kept. Ratio = nnlab / PyTorch (lower is better); targets are the project's.

Needs Python, NumPy and CuPy with NVRTC on a machine with an NVIDIA GPU; uses PyTorch (CUDA), pytest,
compute-sanitizer (the CUDA toolkit's, or the nvidia-cuda-sanitizer-api wheel's) and scikit-learn when
they are there, and records the reason when one is missing. Never imports prompt_toolkit.

`--backend cuda-emu` runs the same kit on the CPU emulator, to check the kit without a GPU: what needs a
GPU is recorded as skipped with the reason, the emulator's full memory checks stand in for
compute-sanitizer, and each benchmark runs once on tiny shapes (as --smoke does).
Testing the kit: NNLAB_GPU_CHECK_FAULT=CASE:raise (or CASE:abort) makes the benchmark case whose name
contains CASE raise (or kill its process), to see that the cases before it are kept.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import traceback
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
TESTS_DIR = ROOT / "tests"
BUDGET_S = 450
#: step -> its own timeout in seconds (each also stops at the overall budget)
TIMEOUTS = {"preflight": 90, "tests": 210, "memcheck": 75, "racecheck": 90, "emulator checks": 120,
            "benchmarks": 150, "synccheck": 60, "initcheck": 60}
REPORT = "gpu_check"


# ------------------------------------------------------------------------------------------ the report
class Report:
    """The results so far, rewritten to OUT/gpu_check.md and OUT/gpu_check.json after every change."""

    def __init__(self, folder: Path, backend: str):
        self.folder, self.backend, self.started = folder, backend, time.time()
        self.info: dict = {"backend": backend}
        self.steps: list[dict] = []
        self.benchmarks: list[dict] = []
        self.finished = False

    def step(self, name, status, summary="", details="", seconds=None):
        self.steps.append(dict(step=name, status=status, summary=summary, details=details,
                               seconds=None if seconds is None else round(seconds, 1)))
        print(f"{name}: {status}{f' - {summary}' if summary else ''}", flush=True)
        self.write()

    def benchmark(self, result: dict):
        self.benchmarks.append(result)
        self.write()

    def write(self):
        elapsed = round(time.time() - self.started, 1)
        data = dict(info=self.info, finished=self.finished, elapsed_s=elapsed, steps=self.steps,
                    benchmarks=self.benchmarks)
        _write_atomically(self.folder / f"{REPORT}.json", json.dumps(data, indent=2, default=str))
        _write_atomically(self.folder / f"{REPORT}.md", self.markdown(elapsed))

    def markdown(self, elapsed):
        versions = ", ".join(f"{k} {v}" for k, v in self.info.items() if k not in ("device", "backend"))
        lines = [f"# GPU check: {self.info.get('device', 'no GPU')} (backend {self.backend})", "", versions, "",
                 f"{'Finished' if self.finished else 'Not finished (a step is running, or the run stopped)'} after "
                 f"{elapsed} s.", "", "| step | result | seconds | summary |", "|---|---|---|---|"]
        lines += [f"| {s['step']} | {s['status']} | {_fmt(s['seconds'])} | {_cell(s['summary'])} |" for s in self.steps]
        lines += ["", "## Benchmarks (ms; ratio = nnlab / PyTorch, lower is better)", "",
                  "| case | nnlab | PyTorch | ratio | target | met | note |", "|---|---|---|---|---|---|---|"]
        for r in self.benchmarks:
            ratio = r["nnlab_ms"] / r["torch_ms"] if r.get("nnlab_ms") and r.get("torch_ms") else None
            met = "" if r.get("target") is None or ratio is None else ("yes" if ratio <= r["target"] else "no")
            lines.append(f"| {r['case']} | {_fmt(r.get('nnlab_ms'))} | {_fmt(r.get('torch_ms'))} | {_fmt(ratio, 'x')} | "
                         f"{_fmt(r.get('target'), 'x')} | {met} | {_cell(r.get('note') or r.get('error', ''))} |")
        for s in self.steps:
            if s["details"]:
                lines += ["", f"### {s['step']}", "", "```", s["details"], "```"]
        return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    """`text` as one cell of a markdown table."""
    return text.replace("|", "\\|").replace("\n", " ")


def _fmt(value, suffix=""):
    return "n/a" if value is None else f"{value:.3g}{suffix}"


def _write_atomically(path: Path, text: str):
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def _tail(text: str, lines=40) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


# ------------------------------------------------------------------------------------------ the steps
class Run:
    """One run of the kit: where it writes, what it tests, and how much time is left."""

    def __init__(self, args):
        self.folder, self.backend, self.smoke = Path(args.out), args.backend, args.smoke or args.backend != "cuda"
        self.budget, self.deadline = args.budget, time.monotonic() + args.budget
        self.report = Report(self.folder, self.backend)
        self.gpu_problem = None if self.backend == "cuda" else "the kit runs on cuda-emu, not on a GPU"
        self.env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))

    def timeout(self, step) -> float:
        return min(TIMEOUTS[step], self.deadline - time.monotonic() - 5)

    def command(self, step, command, env=None):
        """Run `command` for `step` with the step's timeout; (exit code or None on timeout, output).
        The whole output goes to OUT/<step>.log."""
        process = self.start(command, subprocess.PIPE, env)
        try:
            output, _ = process.communicate(timeout=self.timeout(step))
            code = process.returncode
        except subprocess.TimeoutExpired as exc:
            stop(process)
            output, _ = process.communicate()
            code, output = None, output + f"\n[timed out after {exc.timeout:.0f} s]"
        (self.folder / f"{step.replace(' ', '-')}.log").write_text(output)
        return code, output

    def start(self, command, stdout, env=None):
        """Start `command` in a session of its own, so that stop() also ends what it started (the Python
        process under compute-sanitizer, which would otherwise hold the GPU)."""
        return subprocess.Popen(command, cwd=ROOT, env=env or self.env, stdout=stdout, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True)

    def child(self, mode, *extra):
        return [sys.executable, "-m", "engine.tools.gpu_check", "--child", mode, "--backend", self.backend, *extra]


def stop(process):
    """Kill a step's process and everything it started."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _status(code) -> str:
    return {None: "timed out", 0: "passed"}.get(code, f"crashed (signal {-code})" if code and code < 0 else "FAILED")


def step_preflight(run: Run):
    code, output = run.command("preflight", run.child("preflight"))
    found = [line for line in output.splitlines() if line.startswith("{")]
    if found:
        run.report.info.update(json.loads(found[-1]))
    if run.backend == "cuda" and code != 0:
        run.gpu_problem = f"preflight failed: {_tail(output, 1)}"
    summary = run.report.info.get("compile", "") if code == 0 else _tail(output, 1)
    run.report.step("preflight", _status(code), summary, "" if code == 0 else _tail(output))


def step_tests(run: Run):
    files = sorted(str(p.relative_to(ROOT)) for p in TESTS_DIR.glob("test_*.py") if "pytest.mark.gpu" in p.read_text())
    xml = run.folder / "pytest-gpu.xml"
    code, output = run.command("tests", [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider",
                                         "-rfEs", f"--junitxml={xml}", *files])
    summary = _tail(output, 1)
    if xml.exists():
        suite = ElementTree.parse(xml).getroot()
        suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
        summary = ", ".join(f"{suite.get(k)} {k}" for k in ("tests", "failures", "errors", "skipped"))
        reasons = {s.get("message", "") for s in suite.iter("skipped")}
        if reasons:
            summary += f" (skipped: {'; '.join(sorted(reasons))[:300]})"
    status = "passed" if code in (0, 5) else _status(code)
    if code == 0 and xml.exists() and suite.get("tests") == suite.get("skipped"):
        status = "skipped"
    run.report.step("tests", status, summary, "" if code == 0 else _tail(output, 60))


def find_sanitizer() -> str | None:
    """compute-sanitizer on PATH, in the CUDA toolkit, or from the nvidia-cuda-sanitizer-api wheel."""
    places = [os.path.join(os.environ.get("CUDA_HOME", "/usr/local/cuda"), "bin", "compute-sanitizer")]
    for entry in sys.path:
        places += glob.glob(os.path.join(entry, "nvidia", "*", "bin", "compute-sanitizer"))
        places += glob.glob(os.path.join(entry, "nvidia", "*", "compute-sanitizer", "compute-sanitizer"))
    return shutil.which("compute-sanitizer") or next((p for p in places if os.access(p, os.X_OK)), None)


def step_sanitizer(run: Run, tool):
    sanitizer = find_sanitizer()
    problem = run.gpu_problem or (None if sanitizer else "compute-sanitizer not found (CUDA toolkit, or "
                                                           "pip install nvidia-cuda-sanitizer-api)")
    if problem:
        run.report.step(tool, "skipped", problem)
        return
    code, output = run.command(tool, [sanitizer, "--tool", tool, "--error-exitcode", "99", "--print-limit", "30",
                                      sys.executable, "-m", "engine.backends.cuda.every_kernel"])
    verdicts = [line.strip("= ").strip() for line in output.splitlines() if "SUMMARY" in line]
    status = "errors found" if code == 99 else _status(code)
    run.report.step(tool, status, "; ".join(verdicts) or _tail(output, 1), "" if code == 0 else _tail(output, 60))


def step_emulator_checks(run: Run):
    """On cuda-emu, the emulator's own full checks take the place of compute-sanitizer."""
    code, output = run.command("emulator checks", [sys.executable, "-m", "engine.backends.cuda.every_kernel",
                                                   "--backend", "cuda-emu"], env=dict(run.env, NNLAB_CUDA_EMU_CHECKS="full"))
    ran = sum(line.endswith(": ran") for line in output.splitlines())
    run.report.step("emulator checks", _status(code), f"{ran} kernel runs with every memory access checked",
                    "" if code == 0 else _tail(output))


def step_benchmarks(run: Run):
    """The benchmark cases in a child process that appends each result to a JSON-lines file; the report
    takes them in as they come."""
    if run.gpu_problem and run.backend == "cuda":
        run.report.step("benchmarks", "skipped", run.gpu_problem)
        return
    lines_file = run.folder / "benchmarks.jsonl"
    lines_file.write_text("")
    command = run.child("bench", "--jsonl", str(lines_file), *(["--smoke"] if run.smoke else []))
    log = (run.folder / "benchmarks.log").open("w")
    process = run.start(command, log)
    start, seen = time.monotonic(), 0
    deadline = start + run.timeout("benchmarks")
    while True:
        code = process.poll()
        complete = lines_file.read_text().split("\n")[:-1]        # a line still being written has no newline yet
        for line in complete[seen:]:
            run.report.benchmark(json.loads(line))
        seen = max(seen, len(complete))
        if code is not None or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    if code is None:
        stop(process)
        process.wait()
    log.close()
    failed = [b["case"] for b in run.report.benchmarks if "error" in b]
    summary = f"{seen} cases" + (f", {len(failed)} raised: {', '.join(failed)}" if failed else "")
    output = (run.folder / "benchmarks.log").read_text()
    run.report.step("benchmarks", "FAILED" if failed and code == 0 else _status(code), summary,
                    "" if code == 0 and not failed else _tail(output), time.monotonic() - start)


STEPS = {"preflight": step_preflight, "tests": step_tests, "memcheck": lambda run: step_sanitizer(run, "memcheck"),
         "racecheck": lambda run: step_sanitizer(run, "racecheck"), "emulator checks": step_emulator_checks,
         "benchmarks": step_benchmarks, "synccheck": lambda run: step_sanitizer(run, "synccheck"),
         "initcheck": lambda run: step_sanitizer(run, "initcheck")}


def run_steps(run: Run, names):
    """Each step in turn; an exception in one is recorded and the next goes on."""
    for name in names:
        if run.deadline - time.monotonic() < 20:
            run.report.step(name, "skipped", f"out of time (--budget {run.budget:.0f} s)")
            continue
        start = time.monotonic()
        try:
            STEPS[name](run)
        except Exception as exc:  # a bug in the kit itself: keep going, keep the traceback
            run.report.step(name, "error", f"{type(exc).__name__}: {exc}", traceback.format_exc())
        if run.report.steps and run.report.steps[-1]["seconds"] is None:
            run.report.steps[-1]["seconds"] = round(time.monotonic() - start, 1)


def step_names(backend):
    if backend == "cuda":
        return ["preflight", "tests", "memcheck", "racecheck", "benchmarks", "synccheck", "initcheck"]
    return ["preflight", "tests", "emulator checks", "memcheck", "racecheck", "benchmarks"]


# ------------------------------------------------------------------------------------------ children
def child_preflight(backend):
    """Prints one JSON line: versions, device and what compiling and running a tiny kernel took."""
    info = {"python": platform.python_version(), "numpy": np.__version__}
    try:
        import cupy
        info.update(cupy=cupy.__version__, cuda_runtime=cupy.cuda.runtime.runtimeGetVersion())
    except ImportError as exc:
        info["cupy"] = f"not importable ({exc})"
    from engine.tools.gpu_bench import torch_or_none
    torch = torch_or_none()
    if torch:
        info.update(torch=torch.__version__, cudnn=torch.backends.cudnn.version())
    info["compute_sanitizer"] = find_sanitizer() or "not found"
    start = time.perf_counter()
    if backend == "cuda":
        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        info.update(device=props["name"].decode(), compute_capability=cupy.cuda.Device().compute_capability,
                    driver=cupy.cuda.runtime.driverGetVersion(), nvrtc=cupy.cuda.nvrtc.getVersion())
        kernel = cupy.RawKernel(r'extern "C" __global__ void twice(float* x) { x[threadIdx.x] *= 2; }', "twice")
        x = cupy.arange(32, dtype=cupy.float32)
        kernel((1,), (32,), (x,))
        if not (x.get() == 2 * np.arange(32)).all():
            raise RuntimeError(f"the test kernel computed {x.get()}")
        info["compile"] = f"NVRTC compiled and ran a kernel in {time.perf_counter() - start:.2f} s"
    else:
        try:                                     # NVRTC to cubin needs no device; CuPy has no public call for it
            from cupy.cuda.compiler import _NVRTCProgram
            _NVRTCProgram('extern "C" __global__ void k(float* x) { x[0] = 1; }', "k.cu", method="cubin").compile(
                ("-arch=sm_90",))
            info["compile"] = f"NVRTC compiled a kernel for sm_90 in {time.perf_counter() - start:.2f} s (no device)"
        except Exception as exc:  # no CuPy, or no NVRTC library
            info["compile"] = f"NVRTC unusable here: {type(exc).__name__}: {str(exc)[:200]}"
    print(json.dumps(info, default=str))


# ------------------------------------------------------------------------------------------ main
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="folder for gpu_check.md, gpu_check.json and the logs "
                                                     "(created if missing)")
    parser.add_argument("--backend", default="cuda", choices=["cuda", "cuda-emu"],
                        help="cuda (default), or cuda-emu to check the kit itself without a GPU")
    parser.add_argument("--smoke", action="store_true", help="each benchmark once on tiny shapes")
    parser.add_argument("--budget", type=float, default=BUDGET_S, help=f"seconds for all steps (default {BUDGET_S})")
    parser.add_argument("--steps", help=f"comma-separated subset of: {', '.join(STEPS)}")
    parser.add_argument("--child", choices=["preflight", "bench"], help=argparse.SUPPRESS)
    parser.add_argument("--jsonl", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "preflight":
        return child_preflight(args.backend)
    if args.child == "bench":
        from engine.tools.gpu_bench import run_cases
        return run_cases(args.backend, args.smoke, Path(args.jsonl))
    if not args.out:
        parser.error("--out FOLDER is required (the report and logs are written into it)")
    names = step_names(args.backend) if not args.steps else [s.strip() for s in args.steps.split(",")]
    unknown = [name for name in names if name not in STEPS]
    if unknown:
        parser.error(f"unknown step(s) {', '.join(unknown)}; the steps are: {', '.join(STEPS)}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        parser.error(f"--out {out} is a file; give a folder (it is created if missing)")
    out.mkdir(parents=True, exist_ok=True)
    run = Run(args)
    run.report.write()
    run_steps(run, names)
    run.report.finished = True
    run.report.write()
    print(f"wrote {out / (REPORT + '.md')} and {out / (REPORT + '.json')}")
    bad = [s for s in run.report.steps if s["status"] not in ("passed", "skipped")]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
