"""The `compare`, `kernel` and `gradcheck` statements on the digits CNN."""
import io

import pytest

from engine.backends import unavailable_reason
from shell.interpreter import Session
from shell.output import Output
from tests.test_interpreter import DIGITS_CNN

needs_numba = pytest.mark.skipif(unavailable_reason("numba") is not None, reason="numba is not available")
needs_emu = pytest.mark.skipif(unavailable_reason("cuda-emu") is not None, reason="cuda-emu is not available")

LAYERS = ("conv2d", "max_pooling2d", "flatten", "dense", "dense_1")


def table_rows(out):
    """The rows (split into words) of the last table printed."""
    table = out.split("\nlayer ")[-1]
    return [line.split() for line in table.splitlines() if line.split()[:1] and line.split()[0] in LAYERS]


def run(text):
    buf = io.StringIO()
    session = Session(Output(buf))
    ok = session.execute_source(text, "t.nn")
    return ok, buf.getvalue(), session


@needs_numba
def test_compare_digits_cnn_numpy_numba_one_row_per_layer_and_tiny_differences():
    ok, out, session = run(DIGITS_CNN + "compare backends=numpy,numba repeat=2\n")
    assert ok, out
    rows = [r for r in table_rows(out) if len(r) > 2 and r[1] in ("numpy", "numba")]
    assert [(r[0], r[1]) for r in rows] == [(name, b) for name in LAYERS for b in ("numpy", "numba")]
    diffs = [float(word.rstrip(",")) for r in rows if r[1] == "numba" for word in r[4:] if word[:1].isdigit()]
    assert diffs and max(diffs) < 1e-4
    assert "numba:" in out and "the speed of numpy" in out
    weights = session.models["cnn"].model.layers[0].kernel
    assert weights.grad is None and str(weights.data.dtype) == "float32"


def test_compare_one_layer_and_errors():
    ok, out, _ = run(DIGITS_CNN + "compare layer=dens backends=numpy,numba\n")
    assert not ok and "has no layer 'dens'" in out and "dense" in out
    ok, out, _ = run("compare\n")
    assert not ok and "there is no model yet" in out
    ok, out, _ = run("compare backends=numpy,nosuch\n")
    assert not ok and "nosuch" in out


@needs_numba
def test_kernel_conv2d_numpy_and_numba_print_python_source():
    for backend, module in (("numpy", "numpy_ref"), ("numba", "numba_cpu")):
        ok, out, _ = run(f"kernel conv2d backend={backend}\n")
        assert ok, out
        assert "def conv2d_forward(" in out and "def conv2d_backward_weight(" in out
        assert f"engine.backends.{module}.conv.conv2d_forward" in out
        assert "\x1b[" not in out   # plain text when not a terminal


@needs_emu
def test_kernel_conv2d_cuda_emu_prints_the_global_kernels_with_their_launch_comment():
    ok, out, _ = run("kernel conv2d backend=cuda-emu\n")
    assert ok, out
    assert "__global__" in out and "conv2d_forward(" in out and "// Launch: grid" in out
    assert "engine/backends/cuda/kernels/conv.cu:" in out


def test_kernel_default_backend_single_contract_name_and_unknown_op():
    ok, out, _ = run("kernel lstm_backward\n")
    assert ok and "def lstm_backward(" in out and "lstm_forward" not in out
    ok, out, _ = run("kernel conv3d\n")
    assert not ok and "unknown op 'conv3d'" in out


def test_kernel_syntax_highlighting_on_a_terminal():
    buf = io.StringIO()
    session = Session(Output(buf, terminal=True))
    assert session.execute_source("kernel dropout backend=numpy\n", "t.nn")
    assert "\x1b[" in buf.getvalue() and "dropout_mask" in buf.getvalue()


def test_gradcheck_passes_for_the_digits_cnn_layers():
    ok, out, session = run(DIGITS_CNN + "gradcheck\n")
    assert ok, out
    rows = table_rows(out)
    assert [r[0] for r in rows] == list(LAYERS) and all(r[3] == "pass" for r in rows)
    assert "all 5 layers pass" in out
    assert str(session.models["cnn"].model.layers[3].kernel.data.dtype) == "float32"


def test_gradcheck_one_layer_and_errors():
    ok, out, _ = run(DIGITS_CNN + "gradcheck layer=conv2d\n")
    assert ok and "layer conv2d passes" in out and [r[0] for r in table_rows(out)] == ["conv2d"]
    ok, out, _ = run(DIGITS_CNN + "gradcheck layer=conv\n")
    assert not ok and "has no layer 'conv'" in out and "conv2d" in out
    ok, out, _ = run("gradcheck\n")
    assert not ok and "there is no model yet" in out
