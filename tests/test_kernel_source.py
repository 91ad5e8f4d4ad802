"""`kernel OP backend=B` shows the wrapper and every kernel function it calls, in call order (issue 11);
`compare` says why a row is slow; a notice while Numba compiles."""
import io
import re

import numpy as np
import pytest

from engine.backends import unavailable_reason
from engine.tools.compare import CompareRow, slow_reasons
from engine.tools.compile_notice import compilation_notices
from engine.tools.kernel_source import kernel_sources, summary
from shell.interpreter import Session
from shell.output import Output

needs_numba = pytest.mark.skipif(unavailable_reason("numba") is not None, reason="numba is not available")


def names(op, backend):
    return [source.name for source in kernel_sources(op, backend)]


@needs_numba
def test_numba_conv2d_shows_the_njit_loops_in_call_order():
    shown = names("conv2d", "numba")
    # the wrapper, the parallel driver it calls, then the helpers the driver calls
    assert shown.index("conv2d_forward") < shown.index("_forward") < shown.index("_im2col") < \
        shown.index("_next_pixel") < shown.index("conv2d_backward_input") < shown.index("_col2im")
    sources = {s.name: s for s in kernel_sources("conv2d", "numba")}
    assert sources["_forward"].kind == "@njit parallel" and "prange" in sources["_forward"].source
    assert sources["_im2col"].kind == "@njit" and "def _im2col(" in sources["_im2col"].source
    assert "numba's" in summary("numba", list(sources.values()))


@needs_numba
@pytest.mark.parametrize("op, expected", [
    ("lstm", ["lstm_forward", "_lstm_steps", "sigmoid", "exp_parts", "_lstm_steps_parallel", "lstm_backward",
              "_lstm_bptt"]),
    ("maxpool2d", ["max_pool2d_forward", "_max_forward", "max_pool2d_backward", "_max_backward"]),
    ("activation", ["activation_forward", "activate_into", "tanh", "_activation_forward_parallel"]),
])
def test_numba_recurrent_pooling_and_vectormath_overloads(op, expected):
    shown = names(op, "numba")
    assert [name for name in shown if name in expected] == expected
    if op == "maxpool2d":
        return
    overload = next(s for s in kernel_sources(op, "numba") if s.name in ("sigmoid", "tanh"))
    assert overload.kind == "overload" and "@overload" in overload.source and "def impl(" in overload.source


@pytest.mark.parametrize("backend", ["cuda", "cuda-emu"])
def test_cuda_launch_code_then_global_kernels_then_device_helpers(backend):
    sources = kernel_sources("simple_rnn", backend)
    shown = [s.name for s in sources]
    assert shown[0] == "simple_rnn_forward" and sources[0].language == "python"
    step = shown.index("simple_rnn_forward_step")
    assert shown.index("_run_steps") < step < shown.index("times_U") < shown.index("simple_rnn_backward")
    by_name = {s.name: s for s in sources}
    assert by_name["times_U"].kind == "__device__" and "__device__" in by_name["times_U"].source
    assert by_name["simple_rnn_forward_step"].launch.startswith("launch: grid (ceil(u / 32)")
    assert by_name["activate"].where.startswith("engine/backends/cuda/kernels/common.h:")
    softmax = {s.name: s for s in kernel_sources("softmax", backend)}
    assert {"warp_max", "warp_sum"} <= set(softmax) and "one warp per row" in softmax["softmax_forward"].launch
    conv = kernel_sources("conv2d_forward", backend)
    assert [s.name for s in conv] == ["conv2d_forward", "conv2d_forward", "multiply_tiles", "_geometry"]
    assert conv[1].kind == "__global__" and "block (16, 16)" in conv[1].launch


def run(text, terminal=False):
    buf = io.StringIO()
    ok = Session(Output(buf, terminal=terminal, width=120)).execute_source(text, "t.nn")
    return ok, buf.getvalue()


@needs_numba
def test_kernel_statement_prints_every_function_with_kind_and_launch():
    ok, out = run("kernel conv2d backend=numba\n")
    assert ok, out
    assert "_im2col  [@njit]  engine.backends.numba_cpu.conv._im2col" in out
    assert "@njit(cache=True)\ndef _im2col(" in out
    assert "in call order: conv2d_forward -> _forward -> _im2col" in out
    ok, out = run("kernel lstm backend=cuda-emu\n", terminal=True)
    assert ok and "\x1b[" in out and "times_U" in out and "__device__" in out


def test_compare_explains_slow_rows():
    emu = CompareRow("conv2d", "cuda-emu", ms=50.0, speedup=0.05, first_ms=60.0)
    assert slow_reasons(emu, 2.5)[0].startswith("emulation:")
    small = CompareRow("flatten", "numba", ms=0.04, speedup=0.5, first_ms=0.05)
    assert slow_reasons(small, 0.02)[0].startswith("problem too small:")
    compiled = CompareRow("conv2d", "numba", ms=3.0, speedup=2.0, first_ms=9000.0)
    assert slow_reasons(compiled, 6.0) == [slow_reasons(compiled, 6.0)[0]]
    assert slow_reasons(compiled, 6.0)[0].startswith("compilation: its first run took 9.0 s")
    assert slow_reasons(CompareRow("dense", "numba", ms=1.0, speedup=1.5, first_ms=1.2), 1.5) == []


@needs_numba
def test_compare_statement_prints_the_reasons():
    from tests.test_interpreter import DIGITS_CNN
    ok, out = run(DIGITS_CNN + "compare backends=numpy,numba,cuda-emu batch=2 repeat=1 layer=conv2d\n")
    assert ok, out
    assert "why:" in out and "conv2d on cuda-emu: emulation:" in out


@needs_numba
def test_a_compilation_is_announced_and_timed():
    import numba

    @numba.njit
    def fresh(x):          # defined here: never in a cache, so the first call compiles
        return x + 1

    lines = []
    with compilation_notices(lines.append):
        fresh(np.float64(1))
        fresh(np.float64(2))
    assert len(lines) == 2
    assert lines[0].startswith("compiling the numba kernels, once")
    assert lines[1].startswith("compiled 1 numba kernel in ")
    with compilation_notices(lines.append):
        fresh(np.float64(3))            # compiled already: nothing to say
    assert len(lines) == 2


@needs_numba
def test_the_session_announces_compilation_during_train():
    import numba

    from engine.training import Callback

    @numba.njit
    def fresh(x):
        return x * 2

    class CompilesOnce(Callback):
        def on_batch_end(self, batch, logs=None):
            fresh(np.float32(batch))

    import engine
    from tests.test_interpreter import SMALL
    buf = io.StringIO()
    session = Session(Output(buf), backend="numba")
    session.train_callbacks.append(CompilesOnce())
    try:
        assert session.execute_source(SMALL + "train epochs=1\n", "t.nn"), buf.getvalue()
    finally:
        engine.set_backend("numpy")     # the backend is process-wide: leave it as the other tests expect
    out = buf.getvalue()
    assert "compiling the numba kernels, once" in out and re.search(r"compiled \d+ numba kernels? in", out)
