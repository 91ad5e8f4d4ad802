"""The CUDA kernels run on the CPU emulator (`cuda-emu`) against the NumPy reference, and the emulator itself.

Every kernel of the contract runs through the `cuda` backend's own launch code, on small shapes with ragged
edges (odd sizes, sizes just past a tile, stride 2, dilation, asymmetric padding), forward and gradients, in
float32 and float64, with the threads of every block run in forward and in random order. The second half
plants bugs in small kernels and checks that the emulator reports them.
"""
import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import engine
from engine import functional as F
from engine.backends import KERNELS, BackendUnavailable, get_backend, set_backend, unavailable_reason
from engine.backends.cuda.library import KERNEL_FILES, kernel_source, name_expressions
from engine.losses import categorical_crossentropy

pytestmark = pytest.mark.skipif(unavailable_reason("cuda-emu") is not None,
                                reason=f"cuda-emu unavailable: {unavailable_reason('cuda-emu')}")

ref = get_backend("numpy")
rng = np.random.default_rng(7)
DTYPES = (np.float32, np.float64)


@pytest.fixture(scope="session")
def emu():
    """The emulator module, with every kernel file compiled once (in parallel) before the first test."""
    from engine.backends.cuda.emulator import emu

    def build(file):
        source = kernel_source(file)
        emu.EmuRawModule(code=source, name_expressions=name_expressions(source))

    build(KERNEL_FILES[0])                       # also builds the shared runtime object
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(build, KERNEL_FILES[1:]))
    return emu


@pytest.fixture(params=["forward", "random"])
def k(request, emu):
    """The cuda-emu kernels, with threads and blocks scheduled in forward or in random order."""
    with emu.thread_order(request.param, seed=2024):
        yield get_backend("cuda-emu")


def assert_close(actual, expected, dtype, tolerance32=1e-5):
    """Max-abs error relative to the largest reference value below tolerance32 (float32) or 1e-12 (float64);
    infinities must match exactly."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape and actual.dtype == expected.dtype, (actual.shape, expected.shape,
                                                                               actual.dtype, expected.dtype)
    finite = np.isfinite(expected)
    np.testing.assert_array_equal(actual[~finite], expected[~finite])
    scale = max(np.abs(expected[finite]).max(initial=0.0), 1e-30)
    err = np.abs(actual[finite].astype(np.float64) - expected[finite]).max(initial=0.0) / scale
    assert err < (tolerance32 if dtype == np.float32 else 1e-12), f"relative error {err:.3g}"


def randn(shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def test_backend_exposes_every_kernel_of_the_contract(emu):
    backend = get_backend("cuda-emu")
    assert backend.xp is np and set(KERNELS) <= set(backend.kernels)


@pytest.mark.skipif(unavailable_reason("cuda") is None, reason="a GPU is present")
def test_cuda_backend_without_gpu_explains_why():
    """Without CuPy or a device, set_backend('cuda') says why and points to cuda-emu and numba."""
    with pytest.raises(BackendUnavailable) as info:
        set_backend("cuda")
    message = str(info.value)
    assert ("CuPy" in message or "device" in message) and "cuda-emu" in message and "numba" in message


# ------------------------------------------------------------------------------------------ convolution
CONV_CASES = [  # x shape, w shape, strides, pads, dilation
    ((2, 7, 9, 5), (3, 3, 5, 6), (1, 1), ((1, 1), (1, 1)), (1, 1)),       # 'same'
    ((3, 8, 7, 3), (3, 2, 3, 4), (2, 2), ((0, 1), (1, 0)), (1, 1)),       # stride 2, asymmetric pads
    ((1, 9, 11, 2), (2, 3, 2, 3), (1, 2), ((2, 0), (0, 1)), (2, 1)),      # dilation
    ((2, 13, 13, 17), (5, 5, 17, 70), (2, 2), ((2, 2), (2, 2)), (1, 1)),  # Cout past one 64-wide tile
    ((4, 10, 9, 3), (3, 3, 3, 8), (1, 1), ((0, 0), (0, 0)), (1, 1)),      # 224 pixels: two 128-row tiles
    ((2, 8, 8, 3), (3, 3, 3, 4), (2, 2), ((0, 0), (0, 0)), (1, 1)),       # leftover row/column never read
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "x{}w{}s{}".format(*c[:3]))
def test_conv2d_forward_and_gradients(k, case, dtype):
    x_shape, w_shape, strides, pads, dilation = case
    x, w, b = randn(x_shape, dtype), randn(w_shape, dtype), randn(w_shape[3], dtype)
    y = ref.conv2d_forward(x, w, b, strides, pads, dilation)
    assert_close(k.conv2d_forward(x, w, b, strides, pads, dilation), y, dtype)
    assert_close(k.conv2d_forward(x, w, None, strides, pads, dilation),
                 ref.conv2d_forward(x, w, None, strides, pads, dilation), dtype)
    dy = randn(y.shape, dtype)
    assert_close(k.conv2d_backward_input(dy, w, x.shape, strides, pads, dilation),
                 ref.conv2d_backward_input(dy, w, x.shape, strides, pads, dilation), dtype)
    assert_close(k.conv2d_backward_weight(dy, x, w.shape, strides, pads, dilation),
                 ref.conv2d_backward_weight(dy, x, w.shape, strides, pads, dilation), dtype)


def test_conv2d_accepts_non_contiguous_and_mixed_inputs(k):
    """Views and float32/float64 mixes are converted by the launch code (result type as in NumPy)."""
    x = randn((2, 6, 6, 8), np.float32)[:, ::2, :, 1::2]          # strided view
    w = randn((3, 3, 4, 2), np.float64)
    geometry = ((1, 1), ((1, 1), (1, 1)), (1, 1))
    assert_close(k.conv2d_forward(x, w, None, *geometry), ref.conv2d_forward(x, w, None, *geometry), np.float64)


# ------------------------------------------------------------------------------------------ pooling
POOL_CASES = [  # x shape, pool, strides, pads
    ((2, 7, 9, 3), (2, 2), (2, 2), ((0, 0), (0, 0))),
    ((2, 7, 9, 3), (3, 3), (2, 2), ((1, 1), (1, 1))),
    ((1, 8, 5, 37), (3, 2), (1, 2), ((0, 2), (1, 0))),                    # overlapping, asymmetric
    ((1, 4, 4, 2), (2, 2), (2, 2), ((2, 0), (0, 2))),                     # windows wholly in the padding
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: "x{}p{}s{}".format(*c[:3]))
def test_pooling_forward_and_gradients(k, case, dtype):
    x_shape, pool, strides, pads = case
    x = rng.integers(0, 4, x_shape).astype(dtype)                        # many ties: the first cell must win
    y, cache = k.max_pool2d_forward(x, pool, strides, pads)
    y_ref, cache_ref = ref.max_pool2d_forward(x, pool, strides, pads)
    assert_close(y, y_ref, dtype)
    dy = randn(y.shape, dtype)
    assert_close(k.max_pool2d_backward(dy, cache), ref.max_pool2d_backward(dy, cache_ref), dtype)
    assert_close(k.avg_pool2d_forward(x, pool, strides, pads), ref.avg_pool2d_forward(x, pool, strides, pads), dtype)
    assert_close(k.avg_pool2d_backward(dy, x.shape, pool, strides, pads),
                 ref.avg_pool2d_backward(dy, x.shape, pool, strides, pads), dtype)


# ------------------------------------------------------------------------------------------ recurrent
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("units", [8, 37])
@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid", "linear"])
def test_recurrent_cells_forward_and_gradients(k, activation, units, dtype):
    n, steps, features = 3, 4, 5
    x, h0, c0 = randn((n, steps, features), dtype), randn((n, units), dtype), randn((n, units), dtype)
    dhs = randn((n, steps, units), dtype)

    def weights(gates):
        return [0.4 * randn(s, dtype) for s in ((features, gates * units), (units, gates * units))]

    cells = [
        ("simple_rnn", (*weights(1), randn(units, dtype), h0)),
        ("lstm", (*weights(4), randn(4 * units, dtype), h0, c0)),
        ("gru", (*weights(3), randn((2, 3 * units), dtype), h0)),
    ]
    for cell, params in cells:
        hs, cache = getattr(k, f"{cell}_forward")(x, *params, activation)
        hs_ref, cache_ref = getattr(ref, f"{cell}_forward")(x, *params, activation)
        assert_close(hs, hs_ref, dtype)
        for grad, grad_ref in zip(getattr(k, f"{cell}_backward")(dhs, cache),
                                  getattr(ref, f"{cell}_backward")(dhs, cache_ref), strict=True):
            assert_close(grad, grad_ref, dtype)


def test_recurrent_rejects_unknown_activation(k):
    x, W, U, b, h0 = randn((1, 2, 3), np.float32), randn((3, 4), np.float32), randn((4, 4), np.float32), \
        randn(4, np.float32), randn((1, 4), np.float32)
    with pytest.raises(ValueError, match="unknown recurrent activation 'leaky_relu'"):
        k.simple_rnn_forward(x, W, U, b, h0, "leaky_relu")


# ------------------------------------------------------------------------------------------ elementwise
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["linear", "relu", "sigmoid", "tanh", "leaky_relu"])
def test_activations(k, name, dtype):
    x = randn((3, 7, 11), dtype)
    x[0, 0, :3] = 0                                                      # the ReLU kink belongs to x < 0
    y, y_ref = k.activation_forward(name, x, 0.2), ref.activation_forward(name, x, 0.2)
    assert_close(y, y_ref, dtype)
    dy = randn(x.shape, dtype)
    assert_close(k.activation_backward(name, dy, x, y, 0.2), ref.activation_backward(name, dy, x, y_ref, 0.2), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5, 37), (2, 3, 70), (9, 1)])
def test_softmax_and_cross_entropy(k, shape, dtype):
    z = 3 * randn(shape, dtype)
    y = ref.softmax_forward(z)
    assert_close(k.softmax_forward(z), y, dtype)
    dy = randn(shape, dtype)
    assert_close(k.softmax_backward(dy, y), ref.softmax_backward(dy, y), dtype)
    for targets in (np.eye(shape[-1], dtype=dtype)[rng.integers(0, shape[-1], shape[:-1])],   # one-hot
                    rng.random(shape).astype(dtype)):                                         # soft, unnormalised
        losses, probs = k.softmax_cross_entropy_forward(z, targets)
        losses_ref, probs_ref = ref.softmax_cross_entropy_forward(z, targets)
        assert_close(losses, losses_ref, dtype)
        assert_close(probs, probs_ref, dtype)
        dl = randn(shape[:-1], dtype)
        assert_close(k.softmax_cross_entropy_backward(dl, probs, targets),
                     ref.softmax_cross_entropy_backward(dl, probs_ref, targets), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(4, 5, 3, 7), (33, 6), (300, 40)])
def test_batch_norm(k, shape, dtype):
    x = randn(shape, dtype) * 2 + 5                                      # a mean far from zero
    gamma, beta = randn(shape[-1], dtype), randn(shape[-1], dtype)
    out, out_ref = k.batch_norm_train_forward(x, gamma, beta, 1e-3), ref.batch_norm_train_forward(x, gamma, beta, 1e-3)
    for a, b in zip(out[:3], out_ref[:3]):                               # y, mean, var
        assert_close(a, b, dtype)
    dy = randn(shape, dtype)
    for a, b in zip(k.batch_norm_backward(dy, out[3]), ref.batch_norm_backward(dy, out_ref[3]), strict=True):
        assert_close(a, b, dtype)
    assert_close(k.batch_norm_inference(x, gamma, beta, out_ref[1], out_ref[2], 1e-3),
                 ref.batch_norm_inference(x, gamma, beta, out_ref[1], out_ref[2], 1e-3), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_mask(k, dtype):
    mask = k.dropout_mask((200, 50), 0.3, np.random.default_rng(5), dtype)
    assert mask.dtype == dtype and mask.shape == (200, 50)
    assert set(np.unique(mask)) == {0, dtype(1 / 0.7)}
    assert abs((mask == 0).mean() - 0.3) < 0.02                          # 10000 draws: sd 0.0046
    np.testing.assert_array_equal(mask, k.dropout_mask((200, 50), 0.3, np.random.default_rng(5), dtype))
    assert (mask != k.dropout_mask((200, 50), 0.3, np.random.default_rng(6), dtype)).any()


# ------------------------------------------------------------------------------------------ large-size paths
@pytest.fixture(params=["forward", "random"])
def capped(request, emu):
    """cuda-emu with grids capped (library.LaunchLimits), so that small arrays take the paths of large ones;
    yields the backend and the list of its launches (file, kernel, grid, args)."""
    from engine.backends.cuda.emulator import make_backend
    from engine.backends.cuda.library import LaunchLimits
    backend = make_backend(limits=LaunchLimits(elementwise_blocks=2, weight_grad_blocks=2, row_blocks=1))
    library = backend.kernels["conv2d_forward"].args[0]
    launches, launch = [], library.launch

    def recorded(file, kernel, dtype, grid, block, args):
        launches.append((kernel, grid, args))
        launch(file, kernel, dtype, grid, block, args)

    library.launch = recorded
    with emu.thread_order(request.param, seed=11):
        yield backend, launches


@pytest.mark.parametrize("dtype", DTYPES)
def test_large_size_paths_on_small_data(capped, dtype):
    """Split-K with several 16-pixel slices per block (and a ragged last chunk), grid-stride loops that take
    second and third passes, and column sums with one block of rows, all against the reference."""
    k, launches = capped
    x, w = randn((2, 9, 9, 3), dtype), randn((3, 3, 3, 8), dtype)
    geometry = ((1, 1), ((0, 0), (0, 0)), (1, 1))
    dy = randn((2, 7, 7, 8), dtype)                                       # 98 pixels: 7 slices in 2 chunks
    assert_close(k.conv2d_backward_weight(dy, x, w.shape, *geometry),
                 ref.conv2d_backward_weight(dy, x, w.shape, *geometry), dtype)
    (_, grid, args), = [launch for launch in launches if launch[0] == "conv2d_backward_weight"]
    assert grid[2] == 2 and args[-1] == 64                                # 4 slices per block, the last 2 ragged

    a, d = randn((3, 500), dtype), randn((3, 500), dtype)                  # 1500 elements, 512 threads
    for name in ("relu", "tanh"):
        y = k.activation_forward(name, a, 0.2)
        assert_close(y, ref.activation_forward(name, a, 0.2), dtype)
        assert_close(k.activation_backward(name, d, a, y, 0.2), ref.activation_backward(name, d, a, y, 0.2), dtype)
    xb, dyb = randn((300, 7), dtype) * 2 + 5, randn((300, 7), dtype)        # 300 rows in one block of rows
    gamma, beta = randn(7, dtype), randn(7, dtype)
    out, out_ref = k.batch_norm_train_forward(xb, gamma, beta, 1e-3), ref.batch_norm_train_forward(xb, gamma, beta, 1e-3)
    for got, want in zip((*out[:3], *k.batch_norm_backward(dyb, out[3])),
                         (*out_ref[:3], *ref.batch_norm_backward(dyb, out_ref[3]))):
        assert_close(got, want, dtype)
    mask = k.dropout_mask((40, 30), 0.5, np.random.default_rng(1), dtype)
    assert set(np.unique(mask)) == {0, 2}
    grids = {kernel: grid for kernel, grid, _ in launches}
    assert grids["activation_forward"] == grids["batch_norm_apply"] == grids["dropout_mask"] == (2,)
    assert grids["batch_norm_moments"] == grids["batch_norm_backward_sums"] == (1, 1)


def test_recurrent_cells_with_several_blocks_and_slices(k):
    """9 batch rows (two blocks of 8) and 70 units (three 32-wide unit blocks and reduction slices)."""
    n, steps, features, units = 9, 3, 4, 70
    x, h0, c0, dhs = (randn(s, np.float64) for s in ((n, steps, features), (n, units), (n, units), (n, steps, units)))
    W, U, b = 0.2 * randn((features, 4 * units), np.float64), 0.2 * randn((units, 4 * units), np.float64), \
        randn(4 * units, np.float64)
    hs, cache = k.lstm_forward(x, W, U, b, h0, c0, "tanh")
    hs_ref, cache_ref = ref.lstm_forward(x, W, U, b, h0, c0, "tanh")
    assert_close(hs, hs_ref, np.float64)
    for grad, grad_ref in zip(k.lstm_backward(dhs, cache), ref.lstm_backward(dhs, cache_ref), strict=True):
        assert_close(grad, grad_ref, np.float64)


def test_only_the_atomic_kernels_depend_on_the_order_of_blocks_and_threads(emu):
    """Every kernel but library.ATOMIC_KERNELS gives bitwise the same result whatever order blocks and threads
    run in (what the README promises for the GPU); the atomic ones agree to rounding."""
    from engine.backends.cuda.every_kernel import kernel_calls
    from engine.backends.cuda.library import ATOMIC_KERNELS

    def arrays(value):
        if isinstance(value, np.ndarray):
            return [value]
        return [a for v in value for a in arrays(v)] if isinstance(value, (tuple, list)) else []

    runs = []
    for seed in (1, 2):
        with emu.thread_order("random", seed=seed):
            runs.append({name: arrays(call()) for name, call in kernel_calls(get_backend("cuda-emu"), np.float32)})
    for name, outputs in runs[0].items():
        for a, b in zip(outputs, runs[1][name], strict=True):
            if name in ATOMIC_KERNELS:
                assert_close(a, b, np.float32)
            else:
                np.testing.assert_array_equal(a, b, err_msg=name)


def test_network_gradients_match_the_numpy_backend(emu):
    """Ops -> backend -> launch code: a conv/pool/transpose/LSTM/loss graph gives the numpy backend's gradients."""
    x0, w0, wt0 = randn((2, 6, 6, 3), np.float64), randn((3, 3, 3, 4), np.float64), randn((2, 2, 5, 4), np.float64)
    W0, U0, b0 = randn((10, 8), np.float64), randn((2, 8), np.float64), randn(8, np.float64)
    targets = np.eye(2)[[0, 1]]

    def grads(backend):
        with engine.use_backend(backend):
            x, w, wt, W, U, b = (engine.tensor(a, requires_grad=True) for a in (x0, w0, wt0, W0, U0, b0))
            h = F.max_pool2d(F.relu(F.conv2d(x, w, padding="same")), 2, padding="same")      # (2, 3, 3, 4)
            h = F.conv2d_transpose(h, wt, strides=2, padding="same")                        # (2, 6, 6, 5)
            seq = F.reshape(F.avg_pool2d(h, 2), (2, 3, 15))[:, :, :10]                       # (2, 3, 10)
            logits = F.lstm(seq, W, U, b)
            loss = categorical_crossentropy(targets, logits, from_logits=True) + (F.softmax(logits) * targets).sum()
            loss.backward()
            return [t.grad for t in (x, w, wt, W, U, b)]

    for got, want in zip(grads("cuda-emu"), grads("numpy"), strict=True):
        assert_close(got, want, np.float64)


# ------------------------------------------------------------------------------------------ the emulator
SHARED_REVERSE = r"""
extern "C" __global__ void reverse(const float* x, float* y, int n) {
    __shared__ float tile[64];
    int t = threadIdx.x;
    tile[t] = x[blockIdx.x * 64 + t];
    BARRIER
    y[blockIdx.x * 64 + t] = tile[63 - t];
}
"""


def build(emu, code, **options):
    return emu.EmuRawModule(code=code, **options)


def test_missing_syncthreads_is_caught(emu):
    """Even without memory checks (which report the race itself: test_cuda_emu_checks.py), the poison and
    the thread orders make a missing barrier give wrong results."""
    x = np.arange(128, dtype=np.float32)
    for barrier, expect_ok in (("__syncthreads();", True), ("", False)):
        kernel = build(emu, SHARED_REVERSE.replace("BARRIER", barrier)).get_function("reverse")
        results = []
        for order in ("forward", "random"):
            y = np.zeros_like(x)
            with emu.thread_order(order, seed=3), emu.checks("fast"):
                kernel((2,), (64,), (x, y, np.int32(128)))
            results.append(np.array_equal(y, x.reshape(2, 64)[:, ::-1].ravel()))
        assert all(results) if expect_ok else not any(results)   # unwritten shared memory reads as NaN


def test_barrier_misuse_is_reported(emu):
    early_exit = """extern "C" __global__ void k(float* y) {
        if (threadIdx.x >= 40) return;
        __syncthreads();
        y[threadIdx.x] = 1;
    }"""
    with pytest.raises(emu.EmuError, match=r"__syncthreads at .*:3 is reached by 40 of the 64 threads"):
        build(emu, early_exit).get_function("k")((1,), (64,), (np.zeros(64, np.float32),))
    divergent = """extern "C" __global__ void k(float* y) {
        if (threadIdx.x % 2) __syncthreads();
        else __syncthreads();
    }"""
    with pytest.raises(emu.EmuError, match="divergent __syncthreads"):
        build(emu, divergent).get_function("k")((1,), (64,), (np.zeros(64, np.float32),))
    late_barrier = """extern "C" __global__ void k(float* y) {
        if (blockIdx.x == 1) __syncthreads();
    }"""
    with pytest.raises(emu.EmuError, match="first block of this launch reached none"):
        build(emu, late_barrier).get_function("k")((2,), (32,), (np.zeros(64, np.float32),))


def test_shuffles_and_atomics(emu):
    code = """extern "C" __global__ void k(const float* x, float* sums, int* top, unsigned* flags) {
        float v = x[blockIdx.x * 64 + threadIdx.x];
        for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
        if (threadIdx.x % 32 == 0) atomicAdd(&sums[0], v);
        atomicMax(&top[0], int(x[blockIdx.x * 64 + threadIdx.x]));
        atomicCAS(&flags[threadIdx.x], 0u, 1u + blockIdx.x);
    }"""
    x = rng.integers(0, 1000, 192).astype(np.float32)
    sums, top, flags = np.zeros(1, np.float32), np.zeros(1, np.int32), np.zeros(64, np.uint32)
    with emu.thread_order("random", seed=9):
        build(emu, code).get_function("k")((3,), (64,), (x, sums, top, flags))
    assert sums[0] == x.sum() and top[0] == x.max() and set(flags) <= {1, 2, 3} and flags.all()
    exited_lanes = """extern "C" __global__ void k(float* y) {
        if (threadIdx.x == 5) return;
        y[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.0f, 1);
    }"""
    with pytest.raises(emu.EmuError, match="reached by 31 of the 32 lanes"):
        build(emu, exited_lanes).get_function("k")((1,), (32,), (np.zeros(32, np.float32),))


def test_arguments_are_checked_against_the_kernel_signature(emu):
    kernel = build(emu, SHARED_REVERSE.replace("BARRIER", "__syncthreads();")).get_function("reverse")
    x, y, read_only = np.zeros(64, np.float32), np.zeros(64, np.float32), np.zeros(64, np.float32)
    read_only.flags.writeable = False
    cases = [
        ((x, y, 64), r"argument 2 \(n\): a Python int, which CuPy passes as long long, but the parameter is int"),
        ((x, y, np.int64(64)), r"a numpy.int64.*parameter is int; pass numpy.int32"),
        ((x.astype(np.float64), y, np.int32(64)), r"argument 0 \(x\): float64 array passed for a pointer to float"),
        ((x, np.zeros(128, np.float32)[::2], np.int32(64)), "not C-contiguous"),
        ((x, read_only, np.int32(64)), "read-only array passed for a non-const pointer"),
        ((x, y), r"takes 3 arguments \(x, y, n\), got 2"),
    ]
    for args, message in cases:
        with pytest.raises(emu.EmuError, match=message):
            kernel((1,), (64,), args)
    with pytest.raises(emu.EmuError, match="invalid launch configuration"):
        kernel((1,), (2048,), (x, y, np.int32(64)))


def test_compile_errors_and_unknown_kernels_are_reported(emu):
    with pytest.raises(emu.EmuError, match="could not compile"):
        build(emu, 'extern "C" __global__ void k(float* y) { y[0] = undefined_name; }')
    with pytest.raises(emu.EmuError, match="no kernel 'other'"):
        build(emu, 'extern "C" __global__ void k(float* y) { y[0] = 1; }').get_function("other")


def test_modules_are_cached_by_source(emu):
    code = 'extern "C" __global__ void k(float* y) { y[threadIdx.x] = threadIdx.x; }'
    first = emu.build(code, ["k"])
    mtime = first.stat().st_mtime_ns
    assert emu.build(code, ["k"]) == first and first.stat().st_mtime_ns == mtime
    assert emu.build(code + "\n", ["k"]) != first


def test_debug_build_runs(emu):
    """The -O0 -g build (for gdb) compiles the same kernels and gives the same results."""
    kernel = build(emu, SHARED_REVERSE.replace("BARRIER", "__syncthreads();"), debug=True).get_function("reverse")
    x, y = np.arange(64, dtype=np.float32), np.zeros(64, np.float32)
    kernel((1,), (64,), (x, y, np.int32(64)))
    np.testing.assert_array_equal(y, x[::-1])


def test_shared_memory_is_poisoned_before_every_block(emu):
    """Shared memory no thread of the block wrote reads as NaN (0xFF bytes), also in template kernels."""
    code = """template <typename T>
    __global__ void k(T* y) {
        __shared__ T tile[64];
        if (threadIdx.x % 2 == 0) tile[threadIdx.x] = T(blockIdx.x);
        __syncthreads();
        y[blockIdx.x * 64 + threadIdx.x] = tile[threadIdx.x];
    }"""
    y = np.zeros(128)
    build(emu, code, name_expressions=["k<double>"]).get_function("k<double>")((2,), (64,), (y,))
    assert (y.reshape(2, 32, 2)[:, :, 0] == [[0], [1]]).all() and np.isnan(y.reshape(2, 32, 2)[:, :, 1]).all()
    with pytest.raises(emu.EmuError, match="one array per declaration"):
        build(emu, 'extern "C" __global__ void k(float* y) { __shared__ float a[4], b[4]; }')


def test_a_g_plus_plus_build_is_announced_once_and_a_cached_one_not_at_all(tmp_path, monkeypatch):
    from engine.backends.cuda.emulator import emu
    from engine.tools.compile_notice import compilation_notices
    monkeypatch.setenv("NNLAB_CACHE", str(tmp_path))          # an empty cache: this build cannot be found
    code = 'extern "C" __global__ void twice(float* x) { x[threadIdx.x] *= 2.0f; }\n'
    lines = []
    with compilation_notices(lines.append):
        build(emu, code)
    assert len(lines) == 2
    assert lines[0].startswith("compiling the cuda-emu kernels with g++, once")
    assert re.fullmatch(r"compiled 1 cuda-emu kernel file in \d+\.\d s; the next runs load them from the cache",
                        lines[1])
    with compilation_notices(lines.append):
        build(emu, code)                                       # in the cache now: nothing to say
    assert len(lines) == 2
