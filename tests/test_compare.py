"""engine.tools.compare: one layer on several backends, same weights and input, compared to numpy."""
import numpy as np
import pytest

from engine import layers
from engine.backends import unavailable_reason
from engine.tools.compare import compare_layer, layer_copy, relative_difference
from engine.tools.gradcheck import gradcheck_layer

needs_numba = pytest.mark.skipif(unavailable_reason("numba") is not None, reason="numba is not available")


def _conv():
    conv = layers.Conv2D(4, 3, padding="same", activation="tanh")
    x = np.random.default_rng(0).normal(size=(6, 8, 8, 2)).astype(np.float32)
    conv(x)
    return conv, x


def test_relative_difference():
    assert relative_difference(np.zeros(3), np.zeros(3)) == 0
    assert relative_difference([1.0, 2.0], [1.0, 4.0]) == pytest.approx(0.5)
    assert relative_difference([1.0], [1.0, 2.0]) == float("inf")


@needs_numba
def test_numpy_and_numba_agree_and_the_layer_is_untouched():
    conv, x = _conv()
    before = [w.data.copy() for w in conv.weights]
    rows = compare_layer(conv, x, ["numpy", "numba"], repeat=2)
    assert [r.backend for r in rows] == ["numpy", "numba"]
    numpy_row, numba_row = rows
    assert numpy_row.max_diff == 0 and numpy_row.speedup == 1
    assert set(numba_row.grad_diffs) == {"x", "kernel", "bias"}
    assert numba_row.max_diff < 1e-4 and numba_row.ms > 0 and numba_row.speedup > 0
    for w, data in zip(conv.weights, before):
        assert w.grad is None and np.array_equal(w.data, data)


def test_an_unavailable_backend_is_a_row_with_the_reason(monkeypatch):
    from engine import backends
    monkeypatch.setitem(backends._FAILED, "cuda", "no GPU in this test")
    conv, x = _conv()
    rows = compare_layer(conv, x, ["numpy", "cuda"], repeat=1)
    assert rows[1].backend == "cuda" and rows[1].error == "no GPU in this test" and rows[1].ms is None


def test_an_unbuilt_layer_is_built_and_a_layer_without_weights_works():
    rows = compare_layer(layers.MaxPooling2D(2), np.random.default_rng(1).normal(size=(2, 4, 4, 3)), ["numpy"])
    assert rows[0].grad_diffs == {"x": 0.0}


def test_layer_copy_and_gradcheck_layer_leave_the_layer_alone():
    conv, x = _conv()
    clone, attributes = layer_copy(conv, dtype=np.float64)
    assert attributes == {0: "kernel", 1: "bias"} and clone.kernel is clone.weights[0]
    assert clone.kernel.data.dtype == np.float64 and conv.kernel.data.dtype == np.float32
    errors = gradcheck_layer(conv, x[:2].astype(np.float64))
    assert set(errors) == {"x", "kernel", "bias"} and max(errors.values()) < 1e-6
    assert conv.kernel.data.dtype == np.float32 and conv.dtype == np.float32
