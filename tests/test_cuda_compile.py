"""Every CUDA kernel file compiles to cubin for sm_80 (A100) and sm_90 (H100/H200), without a GPU.

Compiling to cubin (not just PTX) runs ptxas, which rejects what the GPU would: too much shared memory,
too many registers. With `ptxas -v` it also reports register spills, which fail the test here.

The compiler is NVRTC through CuPy when it is installed (what the `cuda` backend uses at run time, with
CuPy's own options and name expressions; it is stricter than nvcc, e.g. it has no INFINITY macro), else
nvcc from the CUDA toolkit (one call per file for both archs, the float and double instantiations forced
by taking their addresses). The test is skipped only when neither is present.
"""
import io
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from engine.backends.cuda.library import KERNEL_FILES, kernel_source, name_expressions

ARCHS = ("80", "90")


def _nvcc():
    return shutil.which("nvcc") or shutil.which("/usr/local/cuda/bin/nvcc")


def _nvrtc_problem():
    """None if CuPy can compile with NVRTC here, else why not."""
    try:
        from cupy.cuda import nvrtc
        nvrtc.getVersion()
    except Exception as exc:  # ImportError without CuPy, DynamicLibNotFoundError without NVRTC
        return f"{type(exc).__name__}: {exc}"
    return None


COMPILER = "nvrtc" if _nvrtc_problem() is None else "nvcc" if _nvcc() else None


def compile_with_nvcc(file, tmp_dir):
    source = kernel_source(file)
    forced = ", ".join(f"(void*)&{name}" for name in name_expressions(source))
    path = tmp_dir / file
    path.write_text(f"{source}\nstatic void* const nnlab_instances[] = {{{forced}}};\n")
    gencode = [f"-gencode=arch=compute_{a},code=sm_{a}" for a in ARCHS]
    result = subprocess.run([_nvcc(), "-std=c++17", "-fatbin", *gencode, "-Xptxas", "-v", "-diag-suppress", "177",
                             "-o", str(path.with_suffix(".fatbin")), str(path)], capture_output=True, text=True)
    return result.returncode == 0, result.stdout + result.stderr


def compile_with_nvrtc(file, tmp_dir):
    from cupy.cuda.compiler import CompileException, _NVRTCProgram  # no public API compiles without a device
    source = kernel_source(file)
    log = io.StringIO()
    for arch in ARCHS:
        program = _NVRTCProgram(source, file, name_expressions=name_expressions(source), method="cubin")
        options = (f"-arch=sm_{arch}", "--ptxas-options=-v", "--device-as-default-execution-space", "-ftz=true")
        try:
            program.compile(options, log)
        except CompileException as exc:
            return False, log.getvalue() + str(exc)
    return True, log.getvalue()


@pytest.fixture(scope="session")
def compiled(tmp_path_factory):
    """file -> (ok, ptxas log), every file compiled once per session (nvcc processes in parallel)."""
    tmp_dir = tmp_path_factory.mktemp("cubin")
    if COMPILER == "nvrtc":
        return {f: compile_with_nvrtc(f, tmp_dir) for f in KERNEL_FILES}
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(KERNEL_FILES, pool.map(lambda f: compile_with_nvcc(f, tmp_dir), KERNEL_FILES)))


def ptxas_report(log):
    """{(mangled kernel, arch): (registers, spill store bytes, spill load bytes)} from a `ptxas -v` log."""
    report, entry = {}, None
    for line in log.splitlines():
        if m := re.search(r"Compiling entry function '(\w+)' for '(sm_\d+)'", line):
            entry = m.groups()
        elif entry and (m := re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", line)):
            report[entry] = (None, int(m.group(1)), int(m.group(2)))
        elif entry and (m := re.search(r"Used (\d+) registers", line)):
            report[entry] = (int(m.group(1)), *report.get(entry, (None, 0, 0))[1:])
    return report


@pytest.mark.skipif(COMPILER is None, reason="neither nvcc nor NVRTC is available: install the CUDA toolkit "
                                             "or `pip install cupy-cuda13x nvidia-cuda-nvrtc==13.0.*`")
@pytest.mark.parametrize("file", KERNEL_FILES)
def test_kernels_compile_to_cubin_without_spills(compiled, file):
    ok, log = compiled[file]
    assert ok, f"{COMPILER} failed on {file}:\n{log}"
    report = ptxas_report(log)
    expected = len(name_expressions(kernel_source(file))) * len(ARCHS)
    assert len(report) == expected, f"ptxas compiled {len(report)} kernels of {file}, expected {expected}:\n{log}"
    spills = {k: v for k, v in report.items() if v[1] or v[2]}
    assert not spills, f"register spills in {file} ({COMPILER}): {spills}"
