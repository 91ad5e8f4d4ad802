"""Numba conv/pool kernels against the NumPy reference: random geometries, both float types, odd layouts."""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

pytest.importorskip("numba")

from engine.backends.numba_cpu import conv as nb_conv, pool as nb_pool  # noqa: E402
from engine.backends.numpy_ref import conv as ref_conv, pool as ref_pool  # noqa: E402

TOLERANCE = {np.float32: 1e-4, np.float64: 1e-10}
EXAMPLES = settings(max_examples=30, deadline=None)


def max_rel_err(result, reference):
    """max |result - reference| / max |reference| (the reference computed in float64)."""
    assert np.all(np.isfinite(result) == np.isfinite(reference))
    finite = np.isfinite(reference)
    scale = max(np.abs(reference[finite]).max(initial=0.0), 1e-30)
    return np.abs(result[finite] - reference[finite]).max(initial=0.0) / scale


def in_layout(a, layout):
    """The same values as `a`, stored C-contiguous, as a strided slice, or as a transposed view."""
    if layout == "strided":
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
        big[..., ::2] = a
        return big[..., ::2]
    if layout == "transposed":
        return np.swapaxes(np.ascontiguousarray(np.swapaxes(a, 1, 2)), 1, 2)
    return a


layouts = st.sampled_from(["C", "strided", "transposed"])
dtypes = st.sampled_from([np.float32, np.float64])


@st.composite
def conv_problems(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    strides = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    dilation = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    pads = (draw(st.integers(0, 5)), draw(st.integers(0, 5))), (draw(st.integers(0, 5)), draw(st.integers(0, 5)))
    x_shape = draw(st.integers(1, 3)), draw(st.integers(1, 9)), draw(st.integers(1, 9)), draw(st.integers(1, 5))
    h_eff, w_eff = (kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1
    assume(x_shape[1] + sum(pads[0]) >= h_eff and x_shape[2] + sum(pads[1]) >= w_eff)
    return x_shape, (kh, kw, x_shape[3], draw(st.integers(1, 4))), strides, pads, dilation


@EXAMPLES
@given(problem=conv_problems(), dtype=dtypes, bias=st.booleans(), layout=layouts,
       chunk_bytes=st.sampled_from([1, nb_conv.CHUNK_BYTES]), seed=st.integers(0, 2**16))
def test_conv_matches_reference(problem, dtype, bias, layout, chunk_bytes, seed):
    x_shape, w_shape, strides, pads, dilation = problem
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[3]).astype(dtype) if bias else None
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    y_ref = ref_conv.conv2d_forward(x64, w64, None if b is None else b.astype(np.float64), strides, pads, dilation)
    dy = rng.standard_normal(y_ref.shape).astype(dtype)
    dx_ref = ref_conv.conv2d_backward_input(dy.astype(np.float64), w64, x_shape, strides, pads, dilation)
    dw_ref = ref_conv.conv2d_backward_weight(dy.astype(np.float64), x64, w_shape, strides, pads, dilation)

    saved, nb_conv.CHUNK_BYTES = nb_conv.CHUNK_BYTES, chunk_bytes  # 1 byte: one patch row (or image) per chunk
    try:
        x_in, w_in, dy_in = in_layout(x, layout), in_layout(w, layout), in_layout(dy, layout)
        y = nb_conv.conv2d_forward(x_in, w_in, b, strides, pads, dilation)
        dx = nb_conv.conv2d_backward_input(dy_in, w_in, x_shape, strides, pads, dilation)
        dw = nb_conv.conv2d_backward_weight(dy_in, x_in, w_shape, strides, pads, dilation)
    finally:
        nb_conv.CHUNK_BYTES = saved
    for result, reference in ((y, y_ref), (dx, dx_ref), (dw, dw_ref)):
        assert result.dtype == dtype and result.shape == reference.shape
        assert max_rel_err(result, reference) < TOLERANCE[dtype]


def test_conv_mixed_dtypes_compute_in_float64():
    x, w = np.ones((1, 3, 3, 2), np.float32), np.ones((2, 2, 2, 1), np.float64)
    y = nb_conv.conv2d_forward(x, w, None, (1, 1), ((0, 0), (0, 0)), (1, 1))
    assert y.dtype == np.float64 and np.all(y == 8.0)


def test_conv_restores_blas_threads():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = [lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"]
    nb_conv.conv2d_forward(np.ones((2, 5, 5, 3)), np.ones((3, 3, 3, 4)), None, (1, 1), ((1, 1), (1, 1)), (1, 1))
    after = [lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"]
    assert after[:len(before)] == before


def test_conv_rejects_a_kernel_that_does_not_fit():
    with pytest.raises(ValueError, match="does not fit"):
        nb_conv.conv2d_forward(np.ones((1, 2, 2, 1)), np.ones((3, 3, 1, 1)), None, (1, 1), ((0, 0), (0, 0)), (1, 1))


@st.composite
def pool_problems(draw):
    pool = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    strides = draw(st.integers(1, 3)), draw(st.integers(1, 3))  # stride < pool: overlapping windows
    pads = (draw(st.integers(0, 5)), draw(st.integers(0, 5))), (draw(st.integers(0, 5)), draw(st.integers(0, 5)))
    x_shape = draw(st.integers(1, 3)), draw(st.integers(1, 9)), draw(st.integers(1, 9)), draw(st.integers(1, 5))
    assume(x_shape[1] + sum(pads[0]) >= pool[0] and x_shape[2] + sum(pads[1]) >= pool[1])
    return x_shape, pool, strides, pads


@EXAMPLES
@given(problem=pool_problems(), dtype=dtypes, layout=layouts, values=st.sampled_from(["normal", "ties", "nans"]),
       seed=st.integers(0, 2**16))
def test_pooling_matches_reference(problem, dtype, layout, values, seed):
    x_shape, pool, strides, pads = problem
    rng = np.random.default_rng(seed)
    # Few distinct values make ties common (and windows of only negative numbers): the first cell must win.
    x = (rng.integers(-3, 1, x_shape) if values == "ties" else rng.standard_normal(x_shape)).astype(dtype)
    if values == "nans":  # a NaN wins its max-pool window, as in np.max, and spreads through the average
        x[rng.random(x_shape) < 0.2] = np.nan
    x64 = x.astype(np.float64)

    y_ref, cache_ref = ref_pool.max_pool2d_forward(x64, pool, strides, pads)
    dy = rng.standard_normal(y_ref.shape).astype(dtype)
    y, cache = nb_pool.max_pool2d_forward(in_layout(x, layout), pool, strides, pads)
    dx = nb_pool.max_pool2d_backward(in_layout(dy, layout), cache)
    assert y.dtype == dtype and dx.dtype == dtype
    np.testing.assert_array_equal(y, y_ref)  # a max is exact; all-padding windows give -inf in both
    assert max_rel_err(dx, ref_pool.max_pool2d_backward(dy.astype(np.float64), cache_ref)) < TOLERANCE[dtype]

    a = nb_pool.avg_pool2d_forward(in_layout(x, layout), pool, strides, pads)
    da = nb_pool.avg_pool2d_backward(in_layout(dy, layout), x_shape, pool, strides, pads)
    assert a.dtype == dtype and da.dtype == dtype
    assert max_rel_err(a, ref_pool.avg_pool2d_forward(x64, pool, strides, pads)) < TOLERANCE[dtype]
    assert max_rel_err(da, ref_pool.avg_pool2d_backward(dy.astype(np.float64), x_shape, pool, strides, pads)) \
        < TOLERANCE[dtype]


def test_max_pool_same_padding_never_wins_over_negative_inputs():
    x = -np.arange(1.0, 10.0).reshape(1, 3, 3, 1)  # every input below the zero a naive padding would add
    pads = ((0, 1), (0, 1))  # 'same' for pool 2, stride 2 on 3x3
    y, cache = nb_pool.max_pool2d_forward(x, (2, 2), (2, 2), pads)
    np.testing.assert_array_equal(y[0, :, :, 0], [[-1.0, -3.0], [-7.0, -9.0]])
    dx = nb_pool.max_pool2d_backward(np.ones_like(y), cache)
    np.testing.assert_array_equal(dx[0, :, :, 0], [[1, 0, 1], [0, 0, 0], [1, 0, 1]])


def test_max_pool_ties_go_to_the_first_cell_and_overlaps_add_up():
    x = np.zeros((1, 3, 3, 1))  # all equal: every window picks its top-left cell
    y, cache = nb_pool.max_pool2d_forward(x, (2, 2), (1, 1), ((0, 0), (0, 0)))
    dx = nb_pool.max_pool2d_backward(np.ones_like(y), cache)
    np.testing.assert_array_equal(dx[0, :, :, 0], [[1, 1, 0], [1, 1, 0], [0, 0, 0]])


def test_avg_pool_does_not_count_padding():
    x = np.full((1, 3, 3, 1), 6.0)
    y = nb_pool.avg_pool2d_forward(x, (2, 2), (2, 2), ((0, 1), (0, 1)))
    np.testing.assert_array_equal(y, np.full((1, 2, 2, 1), 6.0))
    dx = nb_pool.avg_pool2d_backward(np.ones_like(y), x.shape, (2, 2), (2, 2), ((0, 1), (0, 1)))
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0.25, 0.25, 0.5], [0.25, 0.25, 0.5], [0.5, 0.5, 1.0]])


def test_the_numba_backend_runs_blas_on_one_thread_while_active_and_restores_it():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    import engine

    def blas_threads():
        return [lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"]

    before = blas_threads()
    with engine.use_backend("numba"):
        assert set(blas_threads()) == {1}
    assert blas_threads()[:len(before)] == before
