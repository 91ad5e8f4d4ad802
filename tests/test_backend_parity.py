"""Every kernel of every non-reference backend against the NumPy reference, plus two end-to-end checks.

A backend joins by name in BACKENDS as soon as it can run here (numba, and cuda-emu/cuda when their
modules land and the machine allows them). For each kernel in engine.backends.KERNELS, random problems
(Hypothesis) in float32 and float64, with odd sizes and non-contiguous inputs, go through both backends;
forward outputs and every gradient (backward kernels fed the same upstream gradient) must agree:

    max |backend - reference| / max |reference|  <  1e-5 (float32),  1e-9 (float64)

and dtypes must match (float32 stays float32). Inputs must come back unchanged.
"""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import engine
from engine import datasets, layers, optimizers, random, regularizers
from engine.backends import get_backend, unavailable_reason
from engine.backends.contract import ACTIVATIONS, FAMILIES, KERNELS, OPS, RECURRENT_ACTIVATIONS
from engine.models import Sequential
from engine.shapes import same_padding

BACKENDS = [name for name in ("numba", "cuda-emu", "cuda") if unavailable_reason(name) is None]
if not BACKENDS:
    pytest.skip("no backend besides numpy can run here", allow_module_level=True)

REF = get_backend("numpy")
TOLERANCE = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-9}
EXAMPLES = settings(max_examples=20, deadline=None)
backends = pytest.mark.parametrize("name", BACKENDS)
dtypes = st.sampled_from([np.float32, np.float64])
layouts = st.sampled_from(["C", "transposed", "strided", "reversed"])
seeds = st.integers(0, 2**32 - 1)

# The ops of the contract each test below checks (every kernel of each); test_every_kernel_is_covered
# keeps this honest: a kernel added to the contract without a parity test fails it.
COVERED = {
    "test_conv_matches_reference": ["conv2d"],
    "test_pooling_matches_reference": ["maxpool2d", "avgpool2d"],
    "test_recurrent_matches_reference": list(FAMILIES["recurrent"]),
    "test_activations_match_reference": ["activation"],
    "test_softmax_and_cross_entropy_match_reference": ["softmax", "softmax_cross_entropy"],
    "test_batch_norm_matches_reference": ["batch_norm"],
    "test_dropout_mask_statistics_dtype_and_seeding": ["dropout"],
}


def test_every_kernel_is_covered():
    covered = [kernel for ops in COVERED.values() for op in ops for kernel in OPS[op]]
    assert sorted(covered) == sorted(KERNELS)
    assert all(callable(globals().get(test)) for test in COVERED)


# ---------------------------------------------------------------- helpers

def in_layout(a, layout):
    """The same values as `a`, stored C-contiguous, transposed (reversed strides), as every other element
    of a larger array, or with negative strides."""
    a = np.asarray(a)
    if a.ndim == 0 or layout == "C":
        return a
    if layout == "transposed":
        return np.ascontiguousarray(a.T).T
    if layout == "strided":
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
        big[..., ::2] = a
        return big[..., ::2]
    flipped = np.ascontiguousarray(a[::-1])       # "reversed"
    return flipped[::-1]


def on(backend, *arrays):
    """The arrays in the backend's memory (a copy on a GPU, the arrays themselves on the CPU)."""
    return [None if a is None else backend.asarray(a) if backend.xp is not np else a for a in arrays]


def host(backend, value):
    return None if value is None else np.asarray(backend.to_numpy(value))


def assert_close(got, want, what="", floor=1e-30, slack=0.0):
    """Same shape, same dtype, max |got - want| / max |want| below the dtype's tolerance (plus `slack`).

    `floor` bounds the scale from below where the exact result can be far smaller than the numbers it
    is computed from (softmax_backward on a saturated softmax: both results are rounding noise).
    `slack` widens the tolerance by what rounding alone does to this example (rounding_sensitivity).
    """
    want = np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    scale = max(float(np.abs(want).max(initial=0.0)), floor)
    err = float(np.abs(got.astype(np.float64) - want).max(initial=0.0)) / scale
    assert err < TOLERANCE[want.dtype] + slack, f"{what}: relative error {err:.3g}"


def run_both(name, kernel, *args):
    """(backend result, reference result) of one kernel call with the same arguments; checks that the
    backend left its array arguments unchanged."""
    backend = get_backend(name)
    arrays = [a for a in args if isinstance(a, np.ndarray)]
    before = [a.copy() for a in arrays]
    ref_args = [np.array(a) if isinstance(a, np.ndarray) else a for a in args]   # contiguous copies
    got = getattr(backend, kernel)(*[on(backend, a)[0] if isinstance(a, np.ndarray) else a for a in args])
    for a, b in zip(arrays, before):
        np.testing.assert_array_equal(a, b, err_msg=f"{kernel} changed an input")
    return got, getattr(REF, kernel)(*ref_args)


def random_array(rng, shape, dtype, layout="C", scale=1.0):
    return in_layout((scale * rng.standard_normal(shape)).astype(dtype), layout)


# ---------------------------------------------------------------- convolution

@st.composite
def conv_problems(draw):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    strides = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    dilation = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    pads = (draw(st.integers(0, 2)), draw(st.integers(0, 2))), (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    n, h, w, cin, cout = (draw(st.integers(1, 3)), draw(st.integers(1, 9)), draw(st.integers(1, 9)),
                          draw(st.integers(1, 4)), draw(st.integers(1, 5)))
    assume(h + sum(pads[0]) >= (kh - 1) * dilation[0] + 1 and w + sum(pads[1]) >= (kw - 1) * dilation[1] + 1)
    return (n, h, w, cin), (kh, kw, cin, cout), strides, pads, dilation


def check_conv(name, x_shape, w_shape, strides, pads, dilation, dtype, layout, bias, seed):
    rng = np.random.default_rng(seed)
    x = random_array(rng, x_shape, dtype, layout)
    w = random_array(rng, w_shape, dtype, layout)
    b = random_array(rng, w_shape[3], dtype) if bias else None
    y, y_ref = run_both(name, "conv2d_forward", x, w, b, strides, pads, dilation)
    assert_close(host(get_backend(name), y), y_ref, "conv2d_forward")
    dy = random_array(rng, y_ref.shape, dtype, layout)
    dx, dx_ref = run_both(name, "conv2d_backward_input", dy, w, x_shape, strides, pads, dilation)
    assert_close(host(get_backend(name), dx), dx_ref, "conv2d_backward_input")
    dw, dw_ref = run_both(name, "conv2d_backward_weight", dy, x, w_shape, strides, pads, dilation)
    assert_close(host(get_backend(name), dw), dw_ref, "conv2d_backward_weight")


@backends
@EXAMPLES
@given(problem=conv_problems(), dtype=dtypes, layout=layouts, bias=st.booleans(), seed=seeds)
def test_conv_matches_reference(name, problem, dtype, layout, bias, seed):
    check_conv(name, *problem, dtype, layout, bias, seed)


@backends
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_stride_2_dilation_2_asymmetric_pads(name, dtype):
    check_conv(name, (2, 9, 8, 3), (3, 2, 3, 4), (2, 2), ((0, 2), (1, 0)), (2, 2), dtype, "transposed", True, 1)
    check_conv(name, (1, 7, 7, 2), (3, 3, 2, 5), (2, 1), ((2, 1), (0, 1)), (1, 2), dtype, "strided", False, 2)


# ---------------------------------------------------------------- pooling

@st.composite
def pool_problems(draw):
    pool = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    strides = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    n, h, w, c = draw(st.integers(1, 3)), draw(st.integers(1, 8)), draw(st.integers(1, 8)), draw(st.integers(1, 4))
    if draw(st.booleans()):   # TensorFlow 'same'
        pads = same_padding(h, pool[0], strides[0]), same_padding(w, pool[1], strides[1])
    else:                     # 'valid'
        pads = (0, 0), (0, 0)
    assume(h + sum(pads[0]) >= pool[0] and w + sum(pads[1]) >= pool[1])
    return (n, h, w, c), pool, strides, pads


def check_pool(name, x, pool, strides, pads, seed):
    backend = get_backend(name)
    rng = np.random.default_rng(seed)
    (y, cache), (y_ref, cache_ref) = run_both(name, "max_pool2d_forward", x, pool, strides, pads)
    assert_close(host(backend, y), y_ref, "max_pool2d_forward")
    dy = random_array(rng, y_ref.shape, x.dtype)
    dx = host(backend, backend.max_pool2d_backward(*on(backend, dy), cache))
    assert_close(dx, REF.max_pool2d_backward(dy, cache_ref), "max_pool2d_backward")
    a, a_ref = run_both(name, "avg_pool2d_forward", x, pool, strides, pads)
    assert_close(host(backend, a), a_ref, "avg_pool2d_forward")
    da, da_ref = run_both(name, "avg_pool2d_backward", dy, x.shape, pool, strides, pads)
    assert_close(host(backend, da), da_ref, "avg_pool2d_backward")


@backends
@EXAMPLES
@given(problem=pool_problems(), dtype=dtypes, layout=layouts, ties=st.booleans(), seed=seeds)
def test_pooling_matches_reference(name, problem, dtype, layout, ties, seed):
    x_shape, pool, strides, pads = problem
    rng = np.random.default_rng(seed)
    # ties: small integers, so most windows hold their maximum more than once
    values = rng.integers(-2, 3, x_shape) if ties else rng.standard_normal(x_shape)
    check_pool(name, in_layout(values.astype(dtype), layout), pool, strides, pads, seed)


@backends
def test_max_pool_ties_and_same_padding_on_negative_inputs(name):
    x = -np.ones((1, 5, 5, 2), dtype=np.float32)   # every window is a tie; the padding (-inf) never wins
    check_pool(name, x, (3, 3), (2, 2), (same_padding(5, 3, 2), same_padding(5, 3, 2)), 0)


# ---------------------------------------------------------------- recurrent cells

GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}      # the ops of the recurrent family

# In float32, rounding alone can move a recurrent output by more than TOLERANCE: a bias gradient that
# sums T*N terms of size 1 to a result of 0.06, or a tanh derivative 1 - h^2 taken at h = 0.999, turns
# one unit in the last place of its terms into 1e-5 or more of the result. Two correct float32
# implementations then differ by that much (seen: simple_rnn tanh db, 1.3e-5 and 9e-4 apart, each
# as far from the float64 result as the other). So for float32 each output's tolerance grows by
# ROUNDING_SLACK times the example's own sensitivity to rounding, measured on the reference: how far
# its float32 results move from its float64 results when every input is perturbed by one unit in the
# last place (the largest of ROUNDING_DRAWS draws). On a well-conditioned example that is ~1e-7 and
# changes nothing. A backend a few ulp less exact than NumPy (vectormath.py) stays within 4x.
ROUNDING_DRAWS, ROUNDING_SLACK = 3, 4.0


def rounding_sensitivity(cell, activation, inputs, dhs, seed):
    """Per recurrent output (hs, then each gradient): max over draws of the relative distance between the
    float32 reference on inputs perturbed by +-1 ulp and the float64 reference on the exact inputs."""
    def outputs(arrays, dtype):
        arrays = [np.array(a, dtype=dtype) for a in arrays]
        hs, cache = getattr(REF, f"{cell}_forward")(*arrays[:-1], activation)
        return [hs, *getattr(REF, f"{cell}_backward")(arrays[-1], cache)]

    def distance(a, b):
        return float(np.abs(a.astype(np.float64) - b).max(initial=0.0)) / max(float(np.abs(b).max(initial=0.0)), 1e-30)

    rng, eps = np.random.default_rng(seed), np.finfo(np.float32).eps
    exact = outputs([*inputs, dhs], np.float64)
    worst = [0.0] * len(exact)
    for _ in range(ROUNDING_DRAWS):
        nudged = [a * (1 + eps * rng.choice([-1.0, 1.0], np.shape(a))) for a in (*inputs, dhs)]
        worst = [max(w, distance(got, want)) for w, got, want in zip(worst, outputs(nudged, np.float32), exact)]
    return worst


@backends
@EXAMPLES
@given(cell=st.sampled_from(sorted(GATES)), activation=st.sampled_from(RECURRENT_ACTIVATIONS),
       n=st.integers(1, 5), t=st.integers(1, 6), f=st.integers(1, 4), u=st.integers(1, 6),
       dtype=dtypes, layout=layouts, seed=seeds)
def test_recurrent_matches_reference(name, cell, activation, n, t, f, u, dtype, layout, seed):
    backend = get_backend(name)
    rng = np.random.default_rng(seed)
    k = GATES[cell] * u
    x = random_array(rng, (n, t, f), dtype, layout)
    W = random_array(rng, (f, k), dtype, layout, scale=0.6)
    U = random_array(rng, (u, k), dtype, layout, scale=0.4)
    b = random_array(rng, (2, k) if cell == "gru" else (k,), dtype, scale=0.3)
    states = [random_array(rng, (n, u), dtype, layout) for _ in range(2 if cell == "lstm" else 1)]  # h0 (, c0)
    (hs, cache), (hs_ref, cache_ref) = run_both(name, f"{cell}_forward", x, W, U, b, *states, activation)
    dhs = random_array(rng, hs_ref.shape, dtype, layout)
    slack = [ROUNDING_SLACK * s for s in rounding_sensitivity(cell, activation, (x, W, U, b, *states), dhs, seed)] \
        if dtype == np.float32 else [0.0] * 7
    assert_close(host(backend, hs), hs_ref, f"{cell}_forward {activation}", slack=slack[0])
    grads = getattr(backend, f"{cell}_backward")(*on(backend, dhs), cache)
    grads_ref = getattr(REF, f"{cell}_backward")(dhs, cache_ref)
    assert len(grads) == len(grads_ref)
    for label, g, g_ref, extra in zip(["dx", "dW", "dU", "db", "dh0", "dc0"], grads, grads_ref, slack[1:]):
        assert_close(host(backend, g), g_ref, f"{cell}_backward {activation} {label}", slack=extra)


# ---------------------------------------------------------------- activations and softmax

shapes_1to3d = st.lists(st.integers(1, 7), min_size=1, max_size=3).map(tuple)


@backends
@EXAMPLES
@given(act=st.sampled_from(ACTIVATIONS), shape=shapes_1to3d,
       alpha=st.floats(0.01, 0.5), dtype=dtypes, layout=layouts, seed=seeds)
def test_activations_match_reference(name, act, shape, alpha, dtype, layout, seed):
    backend = get_backend(name)
    rng = np.random.default_rng(seed)
    x = 4 * rng.standard_normal(shape)
    x.flat[::3] = 0.0                                   # the kink of relu / leaky_relu
    x = in_layout(x.astype(dtype), layout)
    y, y_ref = run_both(name, "activation_forward", act, x, alpha)
    assert_close(host(backend, y), y_ref, f"{act} forward")
    dy = random_array(rng, shape, dtype, layout)
    dx = host(backend, backend.activation_backward(act, *on(backend, dy, x, y), alpha))
    assert_close(dx, REF.activation_backward(act, dy, x, y_ref, alpha), f"{act} backward")


@backends
def test_activations_saturate_without_overflow(name):
    backend = get_backend(name)
    for dtype in (np.float32, np.float64):
        x = np.array([-1e4, -100, -30, -1e-7, 0, 1e-7, 30, 100, 1e4], dtype=dtype)
        for act in ("sigmoid", "tanh"):
            y = host(backend, backend.activation_forward(act, *on(backend, x), 0.3))
            assert np.all(np.isfinite(y))
            assert_close(y, REF.activation_forward(act, x, 0.3), act)


@backends
@EXAMPLES
@given(rows=st.integers(1, 9), classes=st.integers(1, 12), dtype=dtypes, layout=layouts, seed=seeds,
       normalised=st.booleans(), scale=st.sampled_from([1.0, 30.0]))
def test_softmax_and_cross_entropy_match_reference(name, rows, classes, dtype, layout, seed, normalised, scale):
    backend = get_backend(name)
    rng = np.random.default_rng(seed)
    z = random_array(rng, (rows, classes), dtype, layout, scale=scale)
    p, p_ref = run_both(name, "softmax_forward", z)
    assert_close(host(backend, p), p_ref, "softmax_forward")
    dy = random_array(rng, (rows, classes), dtype, layout)
    dx = host(backend, backend.softmax_backward(*on(backend, dy, p)))
    assert_close(dx, REF.softmax_backward(dy, p_ref), "softmax_backward", floor=float(np.abs(dy).max()))

    targets = rng.random((rows, classes))               # soft targets
    if normalised:
        targets /= targets.sum(axis=1, keepdims=True)
    targets = in_layout(targets.astype(dtype), layout)
    (losses, probs), (losses_ref, probs_ref) = run_both(name, "softmax_cross_entropy_forward", z, targets)
    assert_close(host(backend, losses), losses_ref, "softmax_cross_entropy_forward losses")
    assert_close(host(backend, probs), probs_ref, "softmax_cross_entropy_forward probs")
    dlosses = random_array(rng, (rows,), dtype)
    dz = host(backend, backend.softmax_cross_entropy_backward(*on(backend, dlosses, probs, targets)))
    assert_close(dz, REF.softmax_cross_entropy_backward(dlosses, probs_ref, targets), "softmax_cross_entropy_backward")


# ---------------------------------------------------------------- batch normalisation and dropout

@backends
@EXAMPLES
@given(shape=st.sampled_from([(7, 3), (9, 5), (3, 4, 5, 2), (2, 3, 3, 7), (1, 6, 1, 5)]), dtype=dtypes,
       layout=layouts, offset=st.sampled_from([0.0, 5.0]), epsilon=st.sampled_from([1e-3, 1e-5]), seed=seeds)
def test_batch_norm_matches_reference(name, shape, dtype, layout, offset, epsilon, seed):
    # At least 6 samples per channel: with 2, dx = 0 up to epsilon and both results are rounding noise.
    backend = get_backend(name)
    rng = np.random.default_rng(seed)
    x = in_layout((offset + 2 * rng.standard_normal(shape)).astype(dtype), layout)
    gamma, beta = random_array(rng, shape[-1], dtype), random_array(rng, shape[-1], dtype)
    (y, mean, var, cache), (y_ref, mean_ref, var_ref, cache_ref) = run_both(
        name, "batch_norm_train_forward", x, gamma, beta, epsilon)
    for got, want, what in ((y, y_ref, "y"), (mean, mean_ref, "mean"), (var, var_ref, "var")):
        assert_close(host(backend, got), want, f"batch_norm_train_forward {what}")
    dy = random_array(rng, shape, dtype, layout)
    grads = backend.batch_norm_backward(*on(backend, dy), cache)
    for got, want, what in zip(grads, REF.batch_norm_backward(dy, cache_ref), ("dx", "dgamma", "dbeta")):
        assert_close(host(backend, got), want, f"batch_norm_backward {what}")
    moving_mean, moving_var = mean_ref + 0.5, var_ref + 0.25
    y, y_ref = run_both(name, "batch_norm_inference", x, gamma, beta, moving_mean, moving_var, epsilon)
    assert_close(host(backend, y), y_ref, "batch_norm_inference")


@backends
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rate", [0.0, 0.2, 0.5, 0.9])
def test_dropout_mask_statistics_dtype_and_seeding(name, dtype, rate):
    backend = get_backend(name)
    shape = (200, 300)
    mask = host(backend, backend.dropout_mask(shape, rate, np.random.default_rng(7), dtype))
    assert mask.shape == shape and mask.dtype == np.dtype(dtype)
    kept_value = dtype(1 / (1 - rate))
    assert np.all((mask == 0) | (mask == kept_value))
    keep = np.mean(mask != 0)
    assert abs(keep - (1 - rate)) < 5 * np.sqrt(rate * (1 - rate) / mask.size) + 1e-12   # 5 sigma
    again = host(backend, backend.dropout_mask(shape, rate, np.random.default_rng(7), dtype))
    np.testing.assert_array_equal(mask, again)           # the generator's seed fixes the mask
    other = host(backend, backend.dropout_mask(shape, rate, np.random.default_rng(8), dtype))
    assert rate == 0 or not np.array_equal(mask, other)


# ---------------------------------------------------------------- large problems

@backends
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_problems_match_reference(name, dtype):
    """Sizes at which a CPU backend splits the work between threads (the random ones above are small)."""
    backend = get_backend(name)
    rng = np.random.default_rng(11)
    x = random_array(rng, (33, 20, 7), dtype)
    for cell in GATES:
        k = GATES[cell] * 64
        W, U = random_array(rng, (7, k), dtype, scale=0.3), random_array(rng, (64, k), dtype, scale=0.1)
        b = random_array(rng, (2, k) if cell == "gru" else (k,), dtype, scale=0.1)
        states = [random_array(rng, (33, 64), dtype) for _ in range(2 if cell == "lstm" else 1)]
        (hs, cache), (hs_ref, cache_ref) = run_both(name, f"{cell}_forward", x, W, U, b, *states, "tanh")
        assert_close(host(backend, hs), hs_ref, f"{cell}_forward")
        dhs = random_array(rng, hs_ref.shape, dtype)
        for g, g_ref in zip(getattr(backend, f"{cell}_backward")(*on(backend, dhs), cache),
                            getattr(REF, f"{cell}_backward")(dhs, cache_ref)):
            assert_close(host(backend, g), g_ref, f"{cell}_backward")

    a = random_array(rng, (3, 130, 411), dtype, scale=3)
    dy = random_array(rng, a.shape, dtype)
    for act in ("relu", "sigmoid", "tanh", "leaky_relu"):
        y, y_ref = run_both(name, "activation_forward", act, a, 0.2)
        assert_close(host(backend, y), y_ref, f"{act} forward")
        dx, dx_ref = run_both(name, "activation_backward", act, dy, a, y_ref, 0.2)
        assert_close(host(backend, dx), dx_ref, f"{act} backward")
    p, p_ref = run_both(name, "softmax_forward", a)
    assert_close(host(backend, p), p_ref, "softmax_forward")
    dx, dx_ref = run_both(name, "softmax_backward", dy, p_ref)
    assert_close(host(backend, dx), dx_ref, "softmax_backward", floor=float(np.abs(dy).max()))
    targets = rng.random(a.shape).astype(dtype)
    targets /= targets.sum(axis=-1, keepdims=True)
    (losses, probs), (losses_ref, probs_ref) = run_both(name, "softmax_cross_entropy_forward", a, targets)
    assert_close(host(backend, losses), losses_ref, "softmax_cross_entropy_forward")
    dlosses = random_array(rng, losses_ref.shape, dtype)
    dz, dz_ref = run_both(name, "softmax_cross_entropy_backward", dlosses, probs_ref, targets)
    assert_close(host(backend, dz), dz_ref, "softmax_cross_entropy_backward")
    gamma, beta = random_array(rng, 411, dtype), random_array(rng, 411, dtype)
    (y, mean, var, cache), (y_ref, mean_ref, var_ref, cache_ref) = run_both(
        name, "batch_norm_train_forward", a + dtype(3), gamma, beta, 1e-3)
    assert_close(host(backend, y), y_ref, "batch_norm_train_forward")
    for got, want in zip(backend.batch_norm_backward(*on(backend, dy), cache), REF.batch_norm_backward(dy, cache_ref)):
        assert_close(host(backend, got), want, "batch_norm_backward")
    y, y_ref = run_both(name, "batch_norm_inference", a, gamma, beta, mean_ref, var_ref, 1e-3)
    assert_close(host(backend, y), y_ref, "batch_norm_inference")


# ---------------------------------------------------------------- end to end

def digits_cnn():
    """The lecture's digits CNN (as tests/test_training.py builds it), SGD with lr 0.01."""
    model = Sequential([
        layers.Conv2D(10, (3, 3), input_shape=(8, 8, 1), padding="same", activation="relu",
                      kernel_regularizer=regularizers.l2(1e-4)),
        layers.MaxPooling2D((2, 2)),
        layers.Flatten(),
        layers.Dense(50, activation="relu", kernel_regularizer=regularizers.l2(1e-4)),
        layers.Dense(10, activation="softmax", kernel_regularizer=regularizers.l2(1e-4)),
    ])
    model.compile(optimizer=optimizers.SGD(lr=0.01), loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def train_digits(backend_name, epochs):
    (x_train, y_train), (x_test, y_test) = datasets.digits()
    random.set_seed(0)
    layers.reset_names()
    with engine.use_backend(backend_name):
        model = digits_cnn()
        history = model.fit(x_train, y_train, epochs=epochs, batch_size=100, verbose=0)
        _, accuracy = model.evaluate(x_test, y_test)
    return history.history["loss"], accuracy


@backends
def test_digits_cnn_trains_like_numpy(name):
    """Same seed, same batches: the loss curves agree to rounding, and so does the test accuracy."""
    epochs = 5
    losses_ref, accuracy_ref = train_digits("numpy", epochs)
    losses, accuracy = train_digits(name, epochs)
    np.testing.assert_allclose(losses, losses_ref, rtol=1e-3)
    assert abs(accuracy - accuracy_ref) <= 2 / 360        # at most two of the 360 test images differ
    assert losses[-1] < 0.5 * losses[0]


def small_models(dtype):
    """A CNN and a recurrent stack that between them run every layer kind with kernels behind it."""
    kw = dict(dtype=dtype)
    cnn = Sequential([
        layers.Conv2D(4, (3, 3), strides=(2, 1), padding="same", use_bias=False, input_shape=(9, 8, 2), **kw),
        layers.BatchNormalization(**kw),       # (a bias before it would get a zero gradient: rounding noise)
        layers.LeakyReLU(0.2, **kw),
        layers.AveragePooling2D((2, 2), padding="same", **kw),
        layers.Conv2D(3, (2, 2), dilation_rate=(2, 1), activation="sigmoid", **kw),
        layers.MaxPooling2D((2, 2), strides=(1, 1), padding="same", **kw),
        layers.Flatten(**kw),
        layers.Dense(5, activation="softmax", **kw),
    ])
    cnn.compile(optimizer="sgd", loss="categorical_crossentropy")
    rnn = Sequential([
        layers.SimpleRNN(4, activation="relu", return_sequences=True, input_shape=(5, 3), **kw),
        layers.LSTM(5, return_sequences=True, **kw),
        layers.GRU(3, activation="tanh", **kw),
        layers.Dense(2, activation="tanh", **kw),
    ])
    rnn.compile(optimizer="sgd", loss="mse")
    return [(cnn, (6, 9, 8, 2), np.eye(5)[[0, 1, 2, 3, 4, 0]]), (rnn, (4, 5, 3), np.full((4, 2), 0.3))]


def weight_gradients(model, x, y, backend_name):
    with engine.use_backend(backend_name):
        for w in model.trainable_weights:
            w.grad = None
        loss, _ = model._loss_and_output(model.prepare_inputs(x), model.prepare_targets(y), training=True)
        loss.backward()
        return [np.array(get_backend().to_numpy(w.grad)) for w in model.trainable_weights]


@backends
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_autodiff_through_the_backend_gives_numpy_gradients(name, dtype):
    random.set_seed(3)
    rng = np.random.default_rng(3)
    for model, x_shape, y in small_models(dtype):
        x = rng.standard_normal(x_shape)
        model.build((None, *x_shape[1:]))
        reference = weight_gradients(model, x, y, "numpy")
        got = weight_gradients(model, x, y, name)
        assert len(got) == len(reference) == len(model.trainable_weights)
        for w, g, g_ref in zip(model.trainable_weights, got, reference):
            assert_close(g, g_ref, f"gradient of {w.name}")
