"""NumPy reference conv/pool kernels against naive loops, finite differences and the Keras padding table."""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from engine.backends.numpy_ref import conv, pool
from engine.shapes import conv_output_size, resolve_padding, same_padding
from tests.numeric import numeric_grad, rel_err


# ----------------------------------------------------------------------------- independent naive versions
def naive_conv(x, w, b, strides, pads, dilation):
    """y[n,p,q,o] = b[o] + sum_{i,j,c} x[n, p*sh+i*dh-top, q*sw+j*dw-left, c] * w[i,j,c,o], zero outside x."""
    n_, h, wd, cin = x.shape
    kh, kw, _, cout = w.shape
    (sh, sw), ((top, bottom), (left, right)), (dh, dw) = strides, pads, dilation
    ho = (h + top + bottom - (kh - 1) * dh - 1) // sh + 1
    wo = (wd + left + right - (kw - 1) * dw - 1) // sw + 1
    y = np.zeros((n_, ho, wo, cout))
    for n in range(n_):
        for p in range(ho):
            for q in range(wo):
                for o in range(cout):
                    acc = 0.0 if b is None else b[o]
                    for i in range(kh):
                        for j in range(kw):
                            r, s = p * sh + i * dh - top, q * sw + j * dw - left
                            if 0 <= r < h and 0 <= s < wd:
                                for c in range(cin):
                                    acc += x[n, r, s, c] * w[i, j, c, o]
                    y[n, p, q, o] = acc
    return y


def naive_pool(x, size, strides, pads, reduce):
    """reduce() over the in-bounds cells of each window (padded cells are simply skipped)."""
    n_, h, wd, c_ = x.shape
    (ph, pw), (sh, sw), ((top, bottom), (left, right)) = size, strides, pads
    ho, wo = (h + top + bottom - ph) // sh + 1, (wd + left + right - pw) // sw + 1
    y = np.zeros((n_, ho, wo, c_))
    for n in range(n_):
        for p in range(ho):
            for q in range(wo):
                for c in range(c_):
                    cells = [x[n, r, s, c]
                             for r in range(p * sh - top, p * sh - top + ph)
                             for s in range(q * sw - left, q * sw - left + pw)
                             if 0 <= r < h and 0 <= s < wd]
                    y[n, p, q, c] = reduce(cells)
    return y






rng = np.random.default_rng(0)


# ----------------------------------------------------------------------------- Keras padding table
@pytest.mark.parametrize("n,k,s,pads,out", [
    (8, 3, 1, (1, 1), 8), (28, 5, 2, (1, 2), 14), (14, 5, 2, (1, 2), 7),
    (7, 4, 1, (1, 2), 7), (9, 2, 2, (0, 1), 5), (10, 4, 2, (1, 1), 5),
])
def test_keras_same_padding_table(n, k, s, pads, out):
    assert same_padding(n, k, s) == pads
    assert conv_output_size(n, k, s, pads) == out
    y = conv.conv2d_forward(np.ones((1, n, n, 1)), np.ones((k, k, 1, 1)), None, (s, s), (pads, pads), (1, 1))
    assert y.shape == (1, out, out, 1)


# ----------------------------------------------------------------------------- conv forward
@pytest.mark.parametrize("strides", [(1, 1), (2, 2), (2, 1)])
@pytest.mark.parametrize("dilation", [(1, 1), (2, 2)])
@pytest.mark.parametrize("pads", [((0, 0), (0, 0)), ((1, 2), (0, 1))])
@pytest.mark.parametrize("use_bias", [True, False])
def test_conv_forward_matches_naive(strides, dilation, pads, use_bias):
    x = rng.standard_normal((2, 7, 5, 3))
    w = rng.standard_normal((3, 2, 3, 4))
    b = rng.standard_normal(4) if use_bias else None
    y = conv.conv2d_forward(x, w, b, strides, pads, dilation)
    np.testing.assert_allclose(y, naive_conv(x, w, b, strides, pads, dilation), rtol=1e-12, atol=1e-12)


def test_conv_keeps_float32_and_float64():
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal((1, 5, 5, 2)).astype(dtype)
        w = rng.standard_normal((3, 3, 2, 2)).astype(dtype)
        b = np.zeros(2, dtype)
        y = conv.conv2d_forward(x, w, b, (1, 1), ((1, 1), (1, 1)), (1, 1))
        dy = np.ones_like(y)
        assert y.dtype == dtype
        assert conv.conv2d_backward_input(dy, w, x.shape, (1, 1), ((1, 1), (1, 1)), (1, 1)).dtype == dtype
        assert conv.conv2d_backward_weight(dy, x, w.shape, (1, 1), ((1, 1), (1, 1)), (1, 1)).dtype == dtype


def test_conv_rejects_kernel_larger_than_padded_input():
    with pytest.raises(ValueError):
        conv.conv2d_forward(np.ones((1, 3, 3, 1)), np.ones((5, 5, 1, 1)), None, (1, 1), ((0, 0), (0, 0)), (1, 1))


# ----------------------------------------------------------------------------- conv gradients
def same_pads(hw, k, s, d=(1, 1)):
    return resolve_padding("same", hw, k, s, d)


CONV_GRAD_CONFIGS = [
    # (x shape, kernel hw, strides, pads, dilation)
    ((2, 7, 7, 2), (4, 4), (2, 2), same_pads((7, 7), (4, 4), (2, 2)), (1, 1)),     # pads (1, 2)
    ((1, 9, 9, 2), (2, 2), (2, 2), same_pads((9, 9), (2, 2), (2, 2)), (1, 1)),     # pads (0, 1)
    ((2, 8, 7, 1), (3, 3), (2, 2), ((0, 0), (0, 0)), (1, 1)),                      # leftover row and column
    ((1, 7, 5, 3), (3, 2), (2, 1), ((1, 2), (0, 1)), (2, 2)),                      # dilation, asymmetric pads
    ((1, 4, 5, 2), (2, 2), (1, 2), ((3, 0), (0, 4)), (1, 1)),                      # pads larger than the kernel
]


@pytest.mark.parametrize("x_shape,k,strides,pads,dilation", CONV_GRAD_CONFIGS)
def test_conv_gradients_by_finite_differences(x_shape, k, strides, pads, dilation):
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((*k, x_shape[3], 3))
    b = rng.standard_normal(3)
    R = rng.standard_normal(conv.conv2d_forward(x, w, b, strides, pads, dilation).shape)

    def loss():
        return np.sum(conv.conv2d_forward(x, w, b, strides, pads, dilation) * R)

    dx = conv.conv2d_backward_input(R, w, x.shape, strides, pads, dilation)
    dw = conv.conv2d_backward_weight(R, x, w.shape, strides, pads, dilation)
    assert dx.shape == x.shape and dw.shape == w.shape
    assert rel_err(dx, numeric_grad(loss, x)) < 1e-6
    assert rel_err(dw, numeric_grad(loss, w)) < 1e-6


def test_conv_uncovered_rows_get_zero_gradient():
    # H=8, k=3, s=2, valid: windows start at rows 0, 2, 4 and cover rows 0..6; row 7 is never read.
    dx = conv.conv2d_backward_input(np.ones((1, 3, 3, 1)), np.ones((3, 3, 1, 1)), (1, 8, 8, 1),
                                    (2, 2), ((0, 0), (0, 0)), (1, 1))
    assert np.all(dx[:, 7, :, :] == 0) and np.all(dx[:, :, 7, :] == 0)
    assert np.all(dx[:, :7, :7, :] > 0)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 2), h=st.integers(1, 7), wd=st.integers(1, 7), cin=st.integers(1, 3),
       cout=st.integers(1, 3), kh=st.integers(1, 3), kw=st.integers(1, 3),
       strides=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       pads=st.tuples(st.tuples(st.integers(0, 3), st.integers(0, 3)), st.tuples(st.integers(0, 3), st.integers(0, 3))),
       dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)), seed=st.integers(0, 2**32 - 1))
def test_conv_random_shapes_forward_and_adjoint(n, h, wd, cin, cout, kh, kw, strides, pads, dilation, seed):
    assume(h + sum(pads[0]) >= (kh - 1) * dilation[0] + 1 and wd + sum(pads[1]) >= (kw - 1) * dilation[1] + 1)
    r = np.random.default_rng(seed)
    x = r.standard_normal((n, h, wd, cin))
    w = r.standard_normal((kh, kw, cin, cout))
    y = conv.conv2d_forward(x, w, None, strides, pads, dilation)
    np.testing.assert_allclose(y, naive_conv(x, w, None, strides, pads, dilation), rtol=1e-12, atol=1e-12)
    dy = r.standard_normal(y.shape)
    lhs = np.vdot(y, dy)  # <conv(x, w), dy>
    dx = conv.conv2d_backward_input(dy, w, x.shape, strides, pads, dilation)
    dw = conv.conv2d_backward_weight(dy, x, w.shape, strides, pads, dilation)
    scale = np.linalg.norm(y) * np.linalg.norm(dy) + 1e-300
    assert abs(lhs - np.vdot(x, dx)) <= 1e-9 * scale
    assert abs(lhs - np.vdot(w, dw)) <= 1e-9 * scale


# ----------------------------------------------------------------------------- pooling forward
def distinct(shape, negative=False):
    """Distinct values (a scaled random permutation), so every max is unique and robust to eps-sized nudges."""
    v = rng.permutation(int(np.prod(shape))).reshape(shape) / 10.0
    return -1.0 - v if negative else v - v.mean()


@pytest.mark.parametrize("n_in,n_out", [(8, 4), (13, 6), (30, 15)])
def test_valid_pool_sizes_drop_leftover(n_in, n_out):
    x = distinct((2, n_in, n_in, 2))
    valid = ((0, 0), (0, 0))
    y, _ = pool.max_pool2d_forward(x, (2, 2), (2, 2), valid)
    assert y.shape == (2, n_out, n_out, 2)
    np.testing.assert_array_equal(y, naive_pool(x, (2, 2), (2, 2), valid, max))
    np.testing.assert_allclose(pool.avg_pool2d_forward(x, (2, 2), (2, 2), valid),
                               naive_pool(x, (2, 2), (2, 2), valid, np.mean), rtol=1e-12)


def test_same_pool_ignores_padding_even_for_negative_inputs():
    x = distinct((1, 5, 7, 2), negative=True)          # every real value < 0 < padding zeros
    pads = resolve_padding("same", (5, 7), (2, 2), (2, 2))
    assert pads == ((0, 1), (0, 1))
    y, _ = pool.max_pool2d_forward(x, (2, 2), (2, 2), pads)
    assert y.shape == (1, 3, 4, 2) and np.all(y < 0)
    np.testing.assert_array_equal(y, naive_pool(x, (2, 2), (2, 2), pads, max))
    a = pool.avg_pool2d_forward(x, (2, 2), (2, 2), pads)
    np.testing.assert_allclose(a, naive_pool(x, (2, 2), (2, 2), pads, np.mean), rtol=1e-12)
    np.testing.assert_array_equal(a[0, 2, 3], x[0, 4, 6])   # the corner window holds one real cell


@pytest.mark.parametrize("pads", [((0, 0), (0, 0)), ((1, 1), (0, 1))])
def test_overlapping_pool_forward(pads):
    x = distinct((2, 7, 6, 3))
    y, _ = pool.max_pool2d_forward(x, (3, 3), (2, 2), pads)
    np.testing.assert_array_equal(y, naive_pool(x, (3, 3), (2, 2), pads, max))
    np.testing.assert_allclose(pool.avg_pool2d_forward(x, (3, 3), (2, 2), pads),
                               naive_pool(x, (3, 3), (2, 2), pads, np.mean), rtol=1e-12)


def test_pool_keeps_float32():
    x = distinct((1, 6, 6, 1)).astype(np.float32)
    y, cache = pool.max_pool2d_forward(x, (2, 2), (2, 2), ((0, 0), (0, 0)))
    a = pool.avg_pool2d_forward(x, (2, 2), (2, 2), ((0, 0), (0, 0)))
    assert y.dtype == a.dtype == np.float32
    assert pool.max_pool2d_backward(np.ones_like(y), cache).dtype == np.float32
    assert pool.avg_pool2d_backward(np.ones_like(a), x.shape, (2, 2), (2, 2), ((0, 0), (0, 0))).dtype == np.float32


# ----------------------------------------------------------------------------- pooling gradients
POOL_GRAD_CONFIGS = [
    # (x shape, pool, strides, pads)
    ((2, 8, 8, 2), (2, 2), (2, 2), ((0, 0), (0, 0))),
    ((1, 13, 13, 1), (2, 2), (2, 2), ((0, 0), (0, 0))),          # leftover row/column
    ((1, 5, 7, 2), (2, 2), (2, 2), ((0, 1), (0, 1))),            # 'same', odd input
    ((2, 7, 6, 2), (3, 3), (2, 2), ((1, 1), (0, 1))),            # overlapping windows
]


@pytest.mark.parametrize("x_shape,size,strides,pads", POOL_GRAD_CONFIGS)
def test_max_pool_backward_by_finite_differences(x_shape, size, strides, pads):
    x = distinct(x_shape)
    y, cache = pool.max_pool2d_forward(x, size, strides, pads)
    R = rng.standard_normal(y.shape)
    dx = pool.max_pool2d_backward(R, cache)
    num = numeric_grad(lambda: np.sum(pool.max_pool2d_forward(x, size, strides, pads)[0] * R), x)
    assert dx.shape == x.shape and rel_err(dx, num) < 1e-6


@pytest.mark.parametrize("x_shape,size,strides,pads", POOL_GRAD_CONFIGS)
def test_avg_pool_backward_by_finite_differences(x_shape, size, strides, pads):
    x = rng.standard_normal(x_shape)
    R = rng.standard_normal(pool.avg_pool2d_forward(x, size, strides, pads).shape)
    dx = pool.avg_pool2d_backward(R, x.shape, size, strides, pads)
    num = numeric_grad(lambda: np.sum(pool.avg_pool2d_forward(x, size, strides, pads) * R), x)
    assert dx.shape == x.shape and rel_err(dx, num) < 1e-6


def test_max_pool_ties_go_to_first_cell():
    x = np.full((1, 4, 4, 1), -3.0)
    y, cache = pool.max_pool2d_forward(x, (2, 2), (2, 2), ((0, 0), (0, 0)))
    dy = np.arange(1.0, 5.0).reshape(1, 2, 2, 1)
    expected = np.zeros_like(x)
    expected[0, ::2, ::2, 0] = dy[0, :, :, 0]
    np.testing.assert_array_equal(pool.max_pool2d_backward(dy, cache), expected)


def test_max_pool_ties_with_padding_and_overlap():
    # Constant negative input, pool 3 stride 2, pads (1, 1): each window's first *real* cell wins, never padding,
    # and windows sharing a first cell add their gradients.
    x = np.full((1, 5, 5, 1), -1.0)
    y, cache = pool.max_pool2d_forward(x, (3, 3), (2, 2), ((1, 1), (1, 1)))
    assert y.shape == (1, 3, 3, 1) and np.all(y == -1.0)
    dx = pool.max_pool2d_backward(np.ones_like(y), cache)
    expected = np.zeros((5, 5))
    for p in range(3):
        for q in range(3):
            expected[max(2 * p - 1, 0), max(2 * q - 1, 0)] += 1
    np.testing.assert_array_equal(dx[0, :, :, 0], expected)
