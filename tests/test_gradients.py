"""Gradient checks (float64 central differences) through the functional API and the ops, plus the loss values
that keras-semantics.md (sections 2.7, 2.9, 2.12) fixes exactly.

Every check goes through engine.tools.gradcheck: L = sum(fn(inputs) * R) for a fixed random R, backprop
against finite differences, relative error max|a - n| / (max|a| + max|n|) below 1e-6.
The raw kernels have their own tests (test_numpy_conv_pool.py, test_numpy_recurrent.py).
"""
import math

import numpy as np
import pytest

import engine
from engine import functional as F
from engine import shapes
from engine.autograd import Function, Tensor
from engine.ops import basic
from engine.tools.gradcheck import check_gradients, gradcheck, relative_error

TOL = 1e-6


def rng(seed=0):
    return np.random.default_rng(seed)


def normal(*shape, seed=0):
    return rng(seed).standard_normal(shape)


def positive(*shape, seed=0, low=0.5, high=2.0):
    return rng(seed).uniform(low, high, shape)


def away_from_zero(*shape, seed=0, low=0.2, high=1.5):
    """Random values with |v| in [low, high]: finite differences never straddle a kink at 0."""
    g = rng(seed)
    return np.where(g.random(shape) < 0.5, -1.0, 1.0) * g.uniform(low, high, shape)


def distinct(*shape, seed=0):
    """Values at least 0.05 apart (a shuffled ramp plus small noise): no max-pool ties within eps."""
    g = rng(seed)
    return (g.permutation(math.prod(shape)).reshape(shape) * 0.1 + g.uniform(-0.02, 0.02, shape))


def check(fn, *inputs, wrt=None, tol=TOL):
    return check_gradients(fn, inputs, tol=tol, wrt=wrt)


# --------------------------------------------------------------------------------------- the tool itself

class _WrongSquare(Function):
    """x**2 with a deliberately wrong backward (2x + 1)."""

    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, g):
        return (g * (2 * self.x + 1),)


def test_gradcheck_reports_small_errors_for_correct_ops():
    errors = gradcheck(lambda a, b: a * b + a, [normal(3, 2), normal(3, 2, seed=1)])
    assert set(errors) == {0, 1} and max(errors.values()) < 1e-8


def test_check_gradients_catches_a_wrong_backward():
    with pytest.raises(AssertionError, match=r"input 0 .*relative error"):
        check(lambda x: _WrongSquare.apply(x), normal(3, 4))


def test_gradcheck_wrt_restricts_inputs_and_closures_hold_constants():
    target = normal(4)
    errors = gradcheck(lambda a, b: (a - target) * b, [normal(4, seed=1), normal(4, seed=2)], wrt=[1])
    assert list(errors) == [1] and errors[1] < 1e-8


def test_gradcheck_rejects_nondeterministic_functions():
    g = rng(5)
    with pytest.raises(AssertionError, match="not deterministic"):
        gradcheck(lambda x: x * Tensor(g.standard_normal(3)), [normal(3)])


def test_relative_error_measure():
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error(np.ones(3), -np.ones(3)) == 1.0
    assert relative_error(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-9])) == pytest.approx(2.5e-10)


# --------------------------------------------------------------------------------------- elementary ops

BROADCAST_SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 3, 1), (1, 4)), ((3, 1), (3, 4)), ((2, 3), ())]


@pytest.mark.parametrize("shape_a, shape_b", BROADCAST_SHAPES)
@pytest.mark.parametrize("op", [basic.add, basic.sub, basic.mul], ids=["add", "sub", "mul"])
def test_arithmetic_with_broadcasting(op, shape_a, shape_b):
    check(op, normal(*shape_a, seed=1), normal(*shape_b, seed=2))


@pytest.mark.parametrize("shape_a, shape_b", BROADCAST_SHAPES)
def test_div_with_broadcasting(shape_a, shape_b):
    check(basic.div, normal(*shape_a, seed=1), away_from_zero(*shape_b, seed=2, low=0.5))


def test_operators_with_python_scalars_and_neg():
    check(lambda x: 2.0 - x * 3.0 + 1.0 / x - x / 4.0 + (-x) + 5.0 + x - 1.0, away_from_zero(3, 4, low=0.5))


@pytest.mark.parametrize("p", [2.0, 3.0, 0.5, -1.5])
def test_power(p):
    x = positive(3, 4) if p != int(p) else normal(3, 4)
    check(lambda a: a ** p, x)


def test_exp_and_log():
    check(basic.exp, normal(3, 4))
    check(basic.log, positive(3, 4))
    check(lambda a: a.log().exp() * a.exp(), positive(2, 3))


def test_clip_passes_gradient_only_inside():
    x = np.array([[-1.2, -0.3, 0.1, 0.45], [0.7, -0.6, 0.2, 1.5]])
    check(lambda a: basic.clip(a, -0.5, 0.5), x)
    t = engine.tensor(x, requires_grad=True)
    basic.clip(t, -0.5, 0.5).sum().backward()
    np.testing.assert_array_equal(t.grad, (np.abs(x) <= 0.5).astype(float))


@pytest.mark.parametrize("shape_a, shape_b", [((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)),
                                              ((2, 2, 3, 4), (2, 2, 4, 2))])
def test_matmul(shape_a, shape_b):
    check(basic.matmul, normal(*shape_a, seed=1), normal(*shape_b, seed=2))


@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2), (-1, 0)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_sum_and_mean_over_axes(axis, keepdims):
    x = normal(2, 3, 4)
    check(lambda a: basic.sum(a, axis, keepdims), x)
    check(lambda a: basic.mean(a, axis, keepdims), x)


def test_mean_value_divides_by_the_reduced_count():
    x = normal(2, 3, 4)
    np.testing.assert_allclose(basic.mean(engine.tensor(x), (0, 2)).numpy(), x.mean(axis=(0, 2)))


def test_reshape_and_transpose():
    x = normal(2, 3, 4)
    check(lambda a: a.reshape(4, 6), x)
    check(lambda a: a.reshape((-1,)), x)
    check(lambda a: basic.transpose(a), x)
    check(lambda a: a.transpose(1, 2, 0), x)
    check(lambda a: basic.transpose(a, (2, 0, 1)) * Tensor(normal(4, 2, 3, seed=1)), x)
    check(lambda a: a.T, normal(3, 5))


@pytest.mark.parametrize("index", [
    np.s_[1:, ::2],
    np.s_[::-1, 1],
    np.s_[..., -1],
    np.s_[[0, 2, 0, 0]],                 # repeated rows: their gradients add up
    np.s_[[1, 1, 2], [0, 3, 3]],         # repeated (row, col) pairs
    np.s_[[2, 0, 2], 1:3],
    np.s_[:, np.array([[0, 1], [1, 1]])],
])
def test_getitem(index):
    check(lambda a: a[index], normal(3, 4))


def test_getitem_repeats_accumulate():
    t = engine.tensor(np.zeros(4), requires_grad=True)
    t[[1, 1, 3, 1]].sum().backward()
    np.testing.assert_array_equal(t.grad, [0, 3, 0, 1])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate(axis):
    shapes_ = {0: [(1, 3), (2, 3), (3, 3)], 1: [(2, 1), (2, 3), (2, 2)], -1: [(2, 1), (2, 3), (2, 2)]}[axis]
    arrays = [normal(*s, seed=i) for i, s in enumerate(shapes_)]
    check(lambda a, b, c: basic.concatenate([a, b, c], axis=axis), *arrays)


# --------------------------------------------------------------------------------------- dense and conv

@pytest.mark.parametrize("x_shape", [(4, 3), (2, 3, 3)], ids=["2-D", "3-D"])
def test_dense(x_shape):
    x, W, b = normal(*x_shape, seed=1), normal(3, 5, seed=2), normal(5, seed=3)
    check(F.dense, x, W, b)
    check(F.dense, x, W)
    np.testing.assert_allclose(F.dense(x, W, b).numpy(), x @ W + b)


def test_conv2d_same_stride2_asymmetric_padding():
    # Keras 'same', k=5, s=2: n=8 -> out 4, pad_total 3; n=6 -> out 3, pad_total 3; both split (1, 2), the extra
    # row/column at the bottom/right (as for the GAN's 28 -> 14). n=7 would give out 4, pad_total 4 -> (2, 2).
    assert shapes.resolve_padding("same", (8, 6), (5, 5), (2, 2)) == ((1, 2), (1, 2))
    assert shapes.resolve_padding("same", (28, 7), (5, 5), (2, 2)) == ((1, 2), (2, 2))
    x, w, b = normal(2, 8, 6, 2, seed=1), normal(5, 5, 2, 3, seed=2), normal(3, seed=3)
    assert F.conv2d(x, w, b, strides=2, padding="same").shape == (2, 4, 3, 3)
    check(lambda x, w, b: F.conv2d(x, w, b, strides=2, padding="same"), x, w, b)


def test_conv2d_same_padding_matches_explicit_pads():
    x, w = normal(1, 8, 6, 2, seed=1), normal(5, 5, 2, 3, seed=2)
    same = F.conv2d(x, w, strides=2, padding="same").numpy()
    explicit = F.conv2d(x, w, strides=2, padding=((1, 2), (1, 2))).numpy()
    np.testing.assert_allclose(same, explicit)


def test_conv2d_dilation2():
    x, w, b = normal(1, 7, 6, 2, seed=1), normal(3, 2, 2, 3, seed=2), normal(3, seed=3)
    assert F.conv2d(x, w, b, dilation=2).shape == (1, 3, 4, 3)
    check(lambda x, w, b: F.conv2d(x, w, b, dilation=2), x, w, b)
    check(lambda x, w, b: F.conv2d(x, w, b, dilation=2, padding="same"), x, w, b)


def test_conv2d_explicit_asymmetric_padding_and_strides():
    x, w, b = normal(2, 5, 6, 2, seed=1), normal(3, 2, 2, 2, seed=2), normal(2, seed=3)
    pads = ((1, 0), (2, 1))
    assert F.conv2d(x, w, b, padding=pads).shape == (2, 4, 8, 2)
    check(lambda x, w, b: F.conv2d(x, w, b, padding=pads), x, w, b)
    check(lambda x, w, b: F.conv2d(x, w, b, strides=(2, 1), padding=pads), x, w, b)


def test_conv2d_valid_stride_with_leftover_rows():
    # (8 - 3) % 2 == 1: the last row/column is read by no window and gets a zero gradient.
    x, w = normal(1, 8, 8, 1, seed=1), normal(3, 3, 1, 2, seed=2)
    check(lambda x, w: F.conv2d(x, w, strides=2), x, w)


# -------------------------------------------------------------------------------------- conv2d_transpose

def naive_conv_transpose(x, w, b, s, padding):
    """keras-semantics.md 2.7: scatter-add full[y*s+i, x*s+j, f] += sum_c X[y,x,c] K[i,j,f,c] on a map of size
    (n-1)*s + k, then crop (k-1-left, k-1-right) per axis; a negative crop extends the map with zeros."""
    n_, h, wd, _ = x.shape
    kh, kw, filters, _ = w.shape
    full = np.zeros((n_, (h - 1) * s + kh, (wd - 1) * s + kw, filters))
    for n in range(n_):
        for yy in range(h):
            for xx in range(wd):
                for i in range(kh):
                    for j in range(kw):
                        full[n, yy * s + i, xx * s + j] += w[i, j] @ x[n, yy, xx]

    def crop(k):
        if padding == "valid":
            left, right = k - 1, k - 1 + max(k, s) - k
        else:
            pad_len = s + k - 2
            left = min(pad_len // 2 + pad_len % 2, k - 1)
            right = pad_len - left
        return k - 1 - left, k - 1 - right

    (t, bt), (l, r) = crop(kh), crop(kw)
    full = np.pad(full, ((0, 0), (max(-t, 0), max(-bt, 0)), (max(-l, 0), max(-r, 0)), (0, 0)))
    t, bt, l, r = max(t, 0), max(bt, 0), max(l, 0), max(r, 0)
    out = full[:, t:full.shape[1] - bt, l:full.shape[2] - r]
    return out if b is None else out + b


def test_conv2d_transpose_output_shapes():
    x = normal(1, 7, 7, 3)
    assert F.conv2d_transpose(x, normal(5, 5, 2, 3), strides=2, padding="same").shape == (1, 14, 14, 2)
    assert F.conv2d_transpose(x, normal(5, 5, 2, 3), strides=1, padding="same").shape == (1, 7, 7, 2)
    assert F.conv2d_transpose(x, normal(5, 5, 2, 3), strides=2, padding="valid").shape == (1, 17, 17, 2)
    assert F.conv2d_transpose(x, normal(2, 2, 2, 3), strides=3, padding="valid").shape == (1, 21, 21, 2)
    assert F.conv2d_transpose(normal(1, 14, 14, 3), normal(5, 5, 1, 3), strides=2, padding="same").shape == (1, 28, 28, 1)


def test_conv2d_transpose_k5_s2_same_crops_1_2():
    x, w = normal(1, 7, 7, 3, seed=1), normal(5, 5, 2, 3, seed=2)
    full = naive_conv_transpose(x, w, None, 2, "valid")  # k >= s: the uncropped map, size 6*2 + 5 = 17
    assert full.shape[1:3] == (17, 17)
    np.testing.assert_allclose(F.conv2d_transpose(x, w, strides=2, padding="same").numpy(),
                               full[:, 1:-2, 1:-2], atol=1e-12)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("s", [1, 2, 3])
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_conv2d_transpose_equals_scatter_add_then_crop(k, s, padding):
    x, w, b = normal(2, 4, 3, 3, seed=1), normal(k, k, 2, 3, seed=2), normal(2, seed=3)
    got = F.conv2d_transpose(x, w, b, strides=s, padding=padding).numpy()
    np.testing.assert_allclose(got, naive_conv_transpose(x, w, b, s, padding), atol=1e-12)


@pytest.mark.parametrize("k, s, padding", [(5, 2, "same"), (4, 2, "same"), (5, 1, "same"),
                                           (3, 2, "valid"), (3, 1, "valid"), (2, 3, "valid")])
def test_conv2d_transpose_gradients(k, s, padding):
    x, w, b = normal(2, 3, 4, 2, seed=1), normal(k, k, 3, 2, seed=2), normal(3, seed=3)
    check(lambda x, w, b: F.conv2d_transpose(x, w, b, strides=s, padding=padding), x, w, b)
    check(lambda x, w: F.conv2d_transpose(x, w, strides=s, padding=padding), x, w)


# -------------------------------------------------------------------------------------------- pooling

@pytest.mark.parametrize("pool, strides, padding, out", [
    (2, None, "valid", (3, 3)),     # 7 -> 3, the last row/column is dropped
    (2, None, "same", (4, 4)),
    (3, 2, "valid", (3, 3)),        # overlapping windows
    (3, 2, "same", (4, 4)),
    ((3, 2), (1, 2), "valid", (5, 3)),
])
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling(kind, pool, strides, padding, out):
    op = F.max_pool2d if kind == "max" else F.avg_pool2d
    x = distinct(2, 7, 7, 2, seed=1)
    assert op(x, pool, strides, padding).shape == (2, *out, 2)
    check(lambda a: op(a, pool, strides, padding), x)


def test_max_pool_gradient_goes_to_the_winner_and_adds_up_when_windows_overlap():
    x = np.zeros((1, 3, 3, 1))
    x[0, 1, 1, 0] = 5.0  # the centre wins all four overlapping 2x2 windows (stride 1)
    t = engine.tensor(x + distinct(1, 3, 3, 1) * 0.01, requires_grad=True)
    F.max_pool2d(t, 2, strides=1).sum().backward()
    expected = np.zeros((1, 3, 3, 1))
    expected[0, 1, 1, 0] = 4.0
    np.testing.assert_array_equal(t.grad, expected)


def test_avg_pool_same_does_not_count_padding():
    x = np.ones((1, 3, 3, 1))
    np.testing.assert_allclose(F.avg_pool2d(x, 2, padding="same").numpy(), np.ones((1, 2, 2, 1)))


# ----------------------------------------------------------------------------- batch norm and dropout

@pytest.mark.parametrize("x_shape", [(6, 3), (2, 3, 2, 3)], ids=["2-D", "4-D"])
def test_batch_norm_training_gradients(x_shape):
    x, gamma, beta = normal(*x_shape, seed=1), positive(3, seed=2), normal(3, seed=3)
    moving_mean, moving_var = np.zeros(3), np.ones(3)
    check(lambda x, g, b: F.batch_norm(x, g, b, moving_mean, moving_var, training=True), x, gamma, beta)


def test_batch_norm_training_value_and_moving_statistics_update():
    x, gamma, beta = normal(2, 4, 3, seed=1) * 2 + 1, positive(3, seed=2), normal(3, seed=3)
    mean0, var0 = normal(3, seed=4), positive(3, seed=5)
    moving_mean, moving_var = engine.tensor(mean0.copy()), engine.tensor(var0.copy())
    y = F.batch_norm(x, gamma, beta, moving_mean, moving_var, training=True)
    mu, var = x.mean(axis=(0, 1)), x.var(axis=(0, 1))  # biased variance
    np.testing.assert_allclose(y.numpy(), gamma * (x - mu) / np.sqrt(var + 1e-3) + beta, atol=1e-12)
    np.testing.assert_allclose(moving_mean.numpy(), 0.99 * mean0 + 0.01 * mu, atol=1e-12)
    np.testing.assert_allclose(moving_var.numpy(), 0.99 * var0 + 0.01 * var, atol=1e-12)
    assert not np.allclose(var, x.var(axis=(0, 1), ddof=1))  # the biased/unbiased distinction is visible


def test_batch_norm_inference_formula_and_gradients():
    x, gamma, beta = normal(4, 3, seed=1), positive(3, seed=2), normal(3, seed=3)
    mean, var = normal(3, seed=4), positive(3, seed=5)
    y = F.batch_norm(x, gamma, beta, mean, var, training=False)
    np.testing.assert_allclose(y.numpy(), gamma * (x - mean) / np.sqrt(var + 1e-3) + beta, atol=1e-12)
    check(lambda x, g, b, m, v: F.batch_norm(x, g, b, m, v, training=False), x, gamma, beta, mean, var)
    mean_t, var_t = engine.tensor(mean.copy()), engine.tensor(var.copy())
    F.batch_norm(x, gamma, beta, mean_t, var_t, training=False)
    np.testing.assert_array_equal(mean_t.numpy(), mean)  # inference never moves the statistics
    np.testing.assert_array_equal(var_t.numpy(), var)


def test_dropout_with_a_fixed_mask():
    mask = (rng(7).random((3, 4)) >= 0.3) / 0.7
    check(lambda x: F.dropout(x, 0.3, training=True, mask=mask), normal(3, 4))
    x = normal(3, 4)
    np.testing.assert_allclose(F.dropout(x, 0.3, training=True, mask=mask).numpy(), x * mask)


def test_dropout_is_identity_at_inference_and_masks_are_inverted():
    x = normal(50, 40)
    np.testing.assert_array_equal(F.dropout(x, 0.3, training=False).numpy(), x)
    y = F.dropout(np.ones((50, 40)), 0.3, training=True, rng=rng(1)).numpy()
    assert set(np.round(np.unique(y), 6)) <= {0.0, round(1 / 0.7, 6)}
    assert 0.6 < (y > 0).mean() < 0.8


# ---------------------------------------------------------------------------------------- activations

@pytest.mark.parametrize("name", ["linear", "relu", "sigmoid", "tanh", "leaky_relu", "softmax"])
def test_activations(name):
    check(lambda x: F.activation(x, name), away_from_zero(3, 5))


def test_leaky_relu_slope_and_values():
    x = away_from_zero(3, 4)
    check(lambda a: F.leaky_relu(a, 0.1), x)
    np.testing.assert_allclose(F.leaky_relu(x).numpy(), np.where(x >= 0, x, 0.3 * x))
    np.testing.assert_allclose(F.softmax(x).numpy().sum(axis=-1), 1.0)


# ---------------------------------------------------------------------------------------- recurrent

def rnn_inputs(gates, n=2, t=3, f=2, u=3, bias_shape=None):
    g = rng(11)
    return (g.standard_normal((n, t, f)), g.standard_normal((f, gates * u)) * 0.7,
            g.standard_normal((u, gates * u)) * 0.5, g.standard_normal(bias_shape or (gates * u,)) * 0.3,
            g.standard_normal((n, u)) * 0.5, g.standard_normal((n, u)) * 0.5)


@pytest.mark.parametrize("activation", ["linear", "relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("return_sequences", [True, False])
def test_simple_rnn(activation, return_sequences):
    x, W, U, b, h0, _ = rnn_inputs(1)
    run = lambda x, W, U, b, h0=None: F.simple_rnn(x, W, U, b, activation, return_sequences, h0)  # noqa: E731
    check(run, x, W, U, b, h0)
    check(run, x, W, U, b)
    assert run(x, W, U, b).shape == ((2, 3, 3) if return_sequences else (2, 3))


def test_simple_rnn_value_matches_the_step_formula():
    x, W, U, b, h0, _ = rnn_inputs(1)
    h = h0
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ W + b + h @ U)
    np.testing.assert_allclose(F.simple_rnn(x, W, U, b, h0=h0).numpy(), h, atol=1e-12)


@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("with_state", [True, False])
def test_lstm(return_sequences, with_state):
    x, W, U, b, h0, c0 = rnn_inputs(4)
    if with_state:
        check(lambda x, W, U, b, h0, c0: F.lstm(x, W, U, b, return_sequences, h0, c0), x, W, U, b, h0, c0)
    else:
        check(lambda x, W, U, b: F.lstm(x, W, U, b, return_sequences), x, W, U, b)


def test_lstm_with_only_h0_and_other_activation():
    x, W, U, b, h0, c0 = rnn_inputs(4)
    check(lambda x, h0: F.lstm(x, W, U, b, True, h0=h0), x, h0)
    check(lambda x, c0: F.lstm(x, W, U, b, True, c0=c0), x, c0)
    check(lambda x, W, U, b: F.lstm(x, W, U, b, True, activation="sigmoid"), x, W, U, b)


@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("with_state", [True, False])
def test_gru(return_sequences, with_state):
    x, W, U, B, h0, _ = rnn_inputs(3, bias_shape=(2, 9))
    if with_state:
        check(lambda x, W, U, B, h0: F.gru(x, W, U, B, return_sequences, h0), x, W, U, B, h0)
    else:
        check(lambda x, W, U, B: F.gru(x, W, U, B, return_sequences), x, W, U, B)


def test_gru_other_activation():
    x, W, U, B, h0, _ = rnn_inputs(3, bias_shape=(2, 9))
    check(lambda x, W, U, B, h0: F.gru(x, W, U, B, True, h0, activation="relu"), x, W, U, B, h0)


# --------------------------------------------------------------------------------------------- losses

@pytest.mark.parametrize("true_shape, pred_shape", [((5,), (5, 1)), ((5, 1), (5,)), ((5, 1), (5, 1)), ((4, 3), (4, 3))])
def test_mean_squared_error_gradients(true_shape, pred_shape):
    y = normal(*true_shape, seed=1)
    check(lambda p: F.mean_squared_error(y, p), normal(*pred_shape, seed=2))


def test_categorical_crossentropy_gradients():
    y = np.eye(4)[[0, 3, 1, 1, 2]]
    soft = rng(3).dirichlet(np.ones(4), size=5)  # soft targets as well
    p = positive(5, 4, seed=2)  # not normalised: exercises the p / sum(p) step
    for targets in (y, soft):
        check(lambda p: F.categorical_crossentropy(targets, p), p)
        check(lambda z: F.categorical_crossentropy(targets, z, from_logits=True), normal(5, 4, seed=4))


@pytest.mark.parametrize("labels", [np.array([0, 3, 1, 1, 2]), np.array([[0], [3], [1], [1], [2]])],
                         ids=["(N,)", "(N,1)"])
def test_sparse_categorical_crossentropy_gradients_and_values(labels):
    z = normal(5, 4, seed=4)
    check(lambda z: F.sparse_categorical_crossentropy(labels, z, from_logits=True), z)
    p = positive(5, 4, seed=2)
    check(lambda p: F.sparse_categorical_crossentropy(labels, p), p)
    onehot = np.eye(4)[labels.reshape(-1)]
    assert F.sparse_categorical_crossentropy(labels, z, from_logits=True).item() == pytest.approx(
        F.categorical_crossentropy(onehot, z, from_logits=True).item(), abs=1e-12)
    log_softmax = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    expected = -log_softmax[np.arange(5), labels.reshape(-1)].mean()
    assert F.sparse_categorical_crossentropy(labels, z, from_logits=True).item() == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("shape", [(5, 1), (4, 3), (6,)])
def test_binary_crossentropy_gradients(shape):
    y = (rng(1).random(shape) > 0.5).astype(float)
    check(lambda z: F.binary_crossentropy(y, z, from_logits=True), normal(*shape, seed=2) * 2)
    check(lambda p: F.binary_crossentropy(y, p), rng(3).uniform(0.05, 0.95, shape))


# --------------------------------------------------------------------- loss values (keras-semantics 2.12)

def test_mse_aligns_ranks_instead_of_broadcasting():
    assert F.mean_squared_error(np.array([1.0, 2.0, 3.0]), np.array([[1.0], [2.0], [5.0]])).item() == \
        pytest.approx(4 / 3, abs=1e-6)
    assert F.mean_squared_error(np.array([[1.0], [2.0], [5.0]]), np.array([1.0, 2.0, 3.0])).item() == \
        pytest.approx(4 / 3, abs=1e-6)
    # per sample: mean over the last axis, then the mean over the batch
    assert F.mean_squared_error(np.array([[0.0, 0.0], [0.0, 0.0]]), np.array([[1.0, 3.0], [2.0, 0.0]])).item() == \
        pytest.approx((5 + 2) / 2)


def test_cce_probabilities_clip_a_zero_true_class_probability():
    loss = F.categorical_crossentropy(np.array([[1.0, 0.0, 0.0]]), np.array([[0.0, 0.5, 0.5]]))
    assert loss.item() == pytest.approx(-math.log(1e-7), abs=1e-4)
    assert loss.item() == pytest.approx(16.118, abs=1e-3)
    # where the clip binds the gradient is zero
    p = engine.tensor(np.array([[0.0, 0.5, 0.5]]), requires_grad=True)
    F.categorical_crossentropy(np.array([[1.0, 0.0, 0.0]]), p).backward()
    np.testing.assert_array_equal(p.grad, 0.0)


def test_cce_probabilities_normalise_then_log():
    p = np.array([[2.0, 1.0, 1.0], [0.1, 0.6, 0.3]])
    y = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    expected = -(math.log(0.5) + math.log(0.3)) / 2
    assert F.categorical_crossentropy(y, p).item() == pytest.approx(expected, abs=1e-12)


def test_cce_from_logits_is_negative_log_softmax():
    z = np.array([[1.0, 2.0, 3.0], [1000.0, 0.0, -1000.0]])  # the second row would overflow a naive exp
    y = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    first = -(3.0 - np.log(np.exp([1.0, 2.0, 3.0]).sum()))
    assert F.categorical_crossentropy(y, z, from_logits=True).item() == pytest.approx((first + 1000.0) / 2, abs=1e-9)


def test_bce_from_logits_equals_the_stable_formula_and_the_naive_one():
    z = np.array([[-3.0], [-0.5], [0.0], [0.7], [2.5]])
    y = np.array([[1.0], [0.0], [1.0], [1.0], [0.0]])
    stable = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
    sigma = 1 / (1 + np.exp(-z))
    naive = -(y * np.log(sigma) + (1 - y) * np.log(1 - sigma))
    loss = F.binary_crossentropy(y, z, from_logits=True).item()
    assert loss == pytest.approx(stable.mean(), abs=1e-12)
    assert loss == pytest.approx(naive.mean(), abs=1e-12)
    # extreme logits stay finite and exact in the stable form
    big = F.binary_crossentropy(np.array([[0.0], [1.0]]), np.array([[100.0], [-100.0]]), from_logits=True).item()
    assert big == pytest.approx(100.0, abs=1e-9)


def test_bce_probabilities_value_and_clipping():
    p = np.array([[0.9, 0.2], [0.4, 0.6]])
    y = np.array([[1.0, 0.0], [0.0, 1.0]])
    expected = (-(np.log(0.9) + np.log(0.8)) / 2 - (np.log(0.6) + np.log(0.6)) / 2) / 2
    assert F.binary_crossentropy(y, p).item() == pytest.approx(expected, abs=1e-12)
    assert F.binary_crossentropy(np.array([[1.0]]), np.array([[0.0]])).item() == pytest.approx(-math.log(1e-7), rel=1e-6)


LOSS_CASES = {
    "mse": lambda p32: F.mean_squared_error(np.array([0.3, -1.2, 2.0, 0.5]), p32),
    "cce": lambda p32: F.categorical_crossentropy(np.eye(3)[[0, 2, 1, 1]], p32),
    "cce_logits": lambda z32: F.categorical_crossentropy(np.eye(3)[[0, 2, 1, 1]], z32, from_logits=True),
    "scce_logits": lambda z32: F.sparse_categorical_crossentropy(np.array([0, 2, 1, 1]), z32, from_logits=True),
    "scce": lambda p32: F.sparse_categorical_crossentropy(np.array([0, 2, 1, 1]), p32),
    "bce_logits": lambda z32: F.binary_crossentropy(np.eye(3)[[0, 2, 1, 1]], z32, from_logits=True),
    "bce": lambda p32: F.binary_crossentropy(np.eye(3)[[0, 2, 1, 1]], p32),
}


@pytest.mark.parametrize("name", list(LOSS_CASES))
def test_loss_float32_matches_float64(name):
    shape = (4, 1) if name == "mse" else (4, 3)
    values = rng(9).uniform(0.05, 0.95, shape) if name in ("cce", "scce", "bce") else normal(*shape, seed=9)
    loss64 = LOSS_CASES[name](engine.tensor(values))
    loss32 = LOSS_CASES[name](engine.tensor(values.astype(np.float32)))
    assert loss64.dtype == np.float64 and loss32.dtype == np.float32
    assert abs(loss32.item() - loss64.item()) <= 1e-6


def test_gradcheck_perturbs_fortran_ordered_inputs_too():
    # reshape(-1) of an F-ordered array is a copy: perturbing it would leave the input unchanged.
    W = np.asfortranarray(np.random.default_rng(0).normal(size=(3, 4)))
    x = np.random.default_rng(1).normal(size=(2, 3))
    errors = gradcheck(lambda x, W: F.dense(x, W), [x, W])
    assert max(errors.values()) < 1e-6
