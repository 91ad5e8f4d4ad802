"""The GPU run kit (engine/tools/gpu_check.py), checked on the CPU emulator: `--backend cuda-emu`.

It must run end to end where prompt_toolkit, pexpect and IPython cannot be imported (as on the GPU
machines), write into the folder it is given, and keep every result that came before a case that raises
or a process that dies.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.backends import KERNELS, get_backend, unavailable_reason
from engine.tools import gpu_check

pytestmark = pytest.mark.skipif(unavailable_reason("cuda-emu") is not None,
                                reason=f"cuda-emu unavailable: {unavailable_reason('cuda-emu')}")
ROOT = Path(__file__).resolve().parents[1]
BLOCKED = ("prompt_toolkit", "pexpect", "IPython")


@pytest.fixture(scope="module")
def blocker(tmp_path_factory):
    """A folder that, first on PYTHONPATH, makes importing prompt_toolkit, pexpect or IPython fail."""
    folder = tmp_path_factory.mktemp("blocked")
    for name in BLOCKED:
        (folder / name).mkdir()
        (folder / name / "__init__.py").write_text(f"raise ImportError('{name} is not installed on the GPU machines')")
    return folder


def kit(blocker, out, *args, fault=""):
    env = dict(os.environ, PYTHONPATH=f"{blocker}{os.pathsep}{ROOT}", NNLAB_GPU_CHECK_FAULT=fault)
    done = subprocess.run([sys.executable, "-m", "engine.tools.gpu_check", "--out", str(out), "--backend", "cuda-emu",
                           *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    return done, (json.loads((out / "gpu_check.json").read_text()) if (out / "gpu_check.json").exists() else None)


def statuses(report):
    return {s["step"]: s["status"] for s in report["steps"]}


def test_the_kit_runs_end_to_end_without_prompt_toolkit_and_writes_into_its_folder(blocker, tmp_path):
    out = tmp_path / "results" / "gpu"                           # created, parents too
    done, report = kit(blocker, out)
    assert done.returncode == 0, done.stdout + done.stderr
    assert report["finished"] and report["info"]["backend"] == "cuda-emu"
    assert statuses(report) == {"preflight": "passed", "tests": "skipped", "emulator checks": "passed",
                                "memcheck": "skipped", "racecheck": "skipped", "benchmarks": "passed"}
    assert "no usable GPU" in next(s["summary"] for s in report["steps"] if s["step"] == "tests")
    assert len(report["benchmarks"]) == 9 and all(b["nnlab_ms"] > 0 for b in report["benchmarks"])
    markdown = (out / "gpu_check.md").read_text()
    assert "| emulator checks | passed |" in markdown and "| max pool 2x2, 2x8x8x4, fwd+bwd |" in markdown
    assert {"preflight.log", "tests.log", "emulator-checks.log", "benchmarks.log"} <= {p.name for p in out.iterdir()}
    assert sorted(p.name for p in out.parent.iterdir()) == ["gpu"]     # nothing written beside the folder


def test_a_case_that_raises_loses_nothing_else(blocker, tmp_path):
    done, report = kit(blocker, tmp_path, "--steps", "benchmarks", fault="max pool:raise")
    assert done.returncode == 1
    cases = {b["case"].split(",")[0]: b for b in report["benchmarks"]}
    assert len(report["benchmarks"]) == 9 and "fault injected" in cases["max pool 2x2"]["error"]
    assert cases["gru T=3 batch 2"]["nnlab_ms"] > 0                  # the cases after it still ran
    step = report["steps"][0]
    assert step["status"] == "FAILED" and "1 raised: max pool" in step["summary"] and report["finished"]
    assert "fault injected" in (tmp_path / "gpu_check.md").read_text()


def test_a_process_that_dies_keeps_the_cases_before_and_the_later_steps_run(blocker, tmp_path):
    done, report = kit(blocker, tmp_path, "--steps", "benchmarks,emulator checks", fault="lstm:abort")
    assert done.returncode == 1
    assert [b["case"].split(" ")[0] for b in report["benchmarks"]][-2:] == ["max", "simple_rnn"]
    assert statuses(report) == {"benchmarks": "crashed (signal 6)", "emulator checks": "passed"}


def test_a_step_that_raises_is_recorded_with_its_traceback(tmp_path, monkeypatch):
    seen = []

    def broken(run):
        seen.append(json.loads((tmp_path / "gpu_check.json").read_text()))     # written before the first step
        raise KeyError("planted")

    monkeypatch.setitem(gpu_check.STEPS, "preflight", broken)
    code = gpu_check.main(["--out", str(tmp_path), "--backend", "cuda-emu", "--steps", "preflight,emulator checks"])
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert code == 1 and seen[0]["finished"] is False and seen[0]["steps"] == []
    assert statuses(report) == {"preflight": "error", "emulator checks": "passed"}
    assert "KeyError: 'planted'" in report["steps"][0]["details"] and report["finished"]


def test_out_must_be_a_folder_and_steps_must_exist(tmp_path, capsys):
    existing = tmp_path / "results.md"
    existing.write_text("")
    for argv, message in ((["--out", str(existing)], "is a file; give a folder"),
                          ([], "--out FOLDER is required"),
                          (["--out", str(tmp_path), "--steps", "tests,benchmark"], "unknown step(s) benchmark")):
        with pytest.raises(SystemExit) as info:
            gpu_check.main([*argv, "--backend", "cuda-emu"])
        assert info.value.code == 2 and message in capsys.readouterr().err


def test_the_every_kernel_run_covers_the_contract():
    from engine.backends.cuda.every_kernel import kernel_calls
    names = [name for name, _ in kernel_calls(get_backend("numpy"), np.float32)]
    assert sorted(names) == sorted(KERNELS)


def test_what_the_gpu_machines_import_never_needs_prompt_toolkit(blocker):
    modules = ["engine.tools.gpu_check", "engine.tools.gpu_bench", "engine.backends.cuda.every_kernel",
               "tests.conftest", "tests.test_cuda_gpu", "tests.test_cuda_emu"]
    code = f"import importlib, sys; [importlib.import_module(m) for m in {modules}]; " \
           f"assert not {{{', '.join(repr(m) for m in BLOCKED)}}} & set(sys.modules)"
    env = dict(os.environ, PYTHONPATH=f"{blocker}{os.pathsep}{ROOT}")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_a_step_past_its_timeout_is_stopped_and_keeps_its_cases(tmp_path, monkeypatch):
    monkeypatch.setitem(gpu_check.TIMEOUTS, "benchmarks", 4)
    code = gpu_check.main(["--out", str(tmp_path), "--backend", "cuda-emu", "--steps", "benchmarks"])
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert code == 1 and statuses(report) == {"benchmarks": "timed out"}
    assert 0 < len(report["benchmarks"]) < 9 and report["steps"][0]["summary"] == f"{len(report['benchmarks'])} cases"
    code = gpu_check.main(["--out", str(tmp_path), "--backend", "cuda-emu", "--budget", "10"])
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert code == 0 and {s["summary"] for s in report["steps"]} == {"out of time (--budget 10 s)"}
