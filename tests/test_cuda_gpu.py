"""The `cuda` backend on a real GPU: the same inputs through CUDA, the NumPy reference, the CPU emulator and,
where installed, PyTorch/cuDNN; and every kernel at the benchmark sizes against the reference.

Every test here is marked `gpu` and skipped without a usable device (test_cuda_emu.py checks the error
message then); `python -m engine.tools.gpu_check` runs them and the benchmarks. Only NumPy, CuPy and
(optionally) PyTorch are needed, not hypothesis or scikit-learn.
"""
import numpy as np
import pytest

from engine.backends import get_backend, to_host, unavailable_reason
from tests.test_cuda_emu import CONV_CASES, POOL_CASES, assert_close

NO_GPU = unavailable_reason("cuda")
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(NO_GPU is not None, reason=f"no usable GPU: {NO_GPU}")]
TOLERANCE32 = 3e-5        # fused multiply-adds, other summation orders and CUDA's expf/tanhf ulps
ref = get_backend("numpy")
rng = np.random.default_rng(11)
DTYPES = (np.float32, np.float64)


def randn(shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


@pytest.fixture(scope="module")
def others():
    """(name, kernels) of the backends compared with the reference: cuda, and cuda-emu where it can run."""
    names = ["cuda"] + (["cuda-emu"] if unavailable_reason("cuda-emu") is None else [])
    return [(name, get_backend(name)) for name in names]


def agree(others, case, dtype):
    """case(kernels) -> list of arrays; every backend must give the reference's arrays."""
    expected = case(ref)
    for name, kernels in others:
        got = [to_host(a) for a in case(kernels)]
        assert len(got) == len(expected), name
        for g, e in zip(got, expected):
            assert_close(g, e, dtype, TOLERANCE32)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "x{}w{}s{}".format(*c[:3]))
def test_conv2d(others, case, dtype):
    x_shape, w_shape, strides, pads, dilation = case
    x, w, b = randn(x_shape, dtype), randn(w_shape, dtype), randn(w_shape[3], dtype)
    dy = randn(ref.conv2d_forward(x, w, b, strides, pads, dilation).shape, dtype)
    agree(others, lambda k: [k.conv2d_forward(x, w, b, strides, pads, dilation),
                             k.conv2d_backward_input(dy, w, x.shape, strides, pads, dilation),
                             k.conv2d_backward_weight(dy, x, w.shape, strides, pads, dilation)], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: "x{}p{}s{}".format(*c[:3]))
def test_pooling(others, case, dtype):
    x_shape, pool, strides, pads = case
    x = rng.integers(0, 4, x_shape).astype(dtype)
    dy = randn(ref.avg_pool2d_forward(x, pool, strides, pads).shape, dtype)

    def run(k):
        y, cache = k.max_pool2d_forward(x, pool, strides, pads)
        return [y, k.max_pool2d_backward(dy, cache), k.avg_pool2d_forward(x, pool, strides, pads),
                k.avg_pool2d_backward(dy, x.shape, pool, strides, pads)]

    agree(others, run, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
def test_recurrent(others, cell, activation, dtype):
    n, steps, features, units = 5, 6, 7, 45
    gates = {"simple_rnn": 1, "lstm": 4, "gru": 3}[cell]
    x, h0, c0 = randn((n, steps, features), dtype), randn((n, units), dtype), randn((n, units), dtype)
    W, U = 0.3 * randn((features, gates * units), dtype), 0.3 * randn((units, gates * units), dtype)
    bias = randn((2, 3 * units) if cell == "gru" else gates * units, dtype)
    params = (W, U, bias, h0, c0) if cell == "lstm" else (W, U, bias, h0)
    dhs = randn((n, steps, units), dtype)

    def run(k):
        hs, cache = getattr(k, f"{cell}_forward")(x, *params, activation)
        return [hs, *getattr(k, f"{cell}_backward")(dhs, cache)]

    agree(others, run, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_elementwise_softmax_and_batch_norm(others, dtype):
    x, dy = randn((6, 5, 3, 70), dtype), randn((6, 5, 3, 70), dtype)
    targets = rng.random(x.shape).astype(dtype)
    dl = randn(x.shape[:-1], dtype)
    gamma, beta = randn(70, dtype), randn(70, dtype)

    def run(k):
        out = []
        for name in ("linear", "relu", "sigmoid", "tanh", "leaky_relu"):
            y = k.activation_forward(name, x, 0.2)
            out += [y, k.activation_backward(name, dy, x, y, 0.2)]
        y = k.softmax_forward(x)
        losses, probs = k.softmax_cross_entropy_forward(x, targets)
        y_bn, mean, var, cache = k.batch_norm_train_forward(x + 4, gamma, beta, 1e-3)
        return [*out, y, k.softmax_backward(dy, y), losses, probs,
                k.softmax_cross_entropy_backward(dl, probs, targets), y_bn, mean, var,
                *k.batch_norm_backward(dy, cache), k.batch_norm_inference(x, gamma, beta, mean, var, 1e-3)]

    agree(others, run, dtype)


def test_dropout_mask_statistics(others):
    for name, k in others:
        mask = to_host(k.dropout_mask((1000, 100), 0.25, np.random.default_rng(0), np.float32))
        assert abs((mask == 0).mean() - 0.25) < 0.005, name
        assert set(np.unique(mask)) == {0, np.float32(1 / 0.75)}, name


def test_numpy_inputs_are_moved_to_the_device():
    import cupy
    k = get_backend("cuda")
    x, w = randn((2, 5, 5, 3), np.float32), randn((3, 3, 3, 4), np.float32)
    y = k.conv2d_forward(x, cupy.asarray(w), None, (1, 1), ((1, 1), (1, 1)), (1, 1))
    assert isinstance(y, cupy.ndarray)
    assert_close(y.get(), ref.conv2d_forward(x, w, None, (1, 1), ((1, 1), (1, 1)), (1, 1)), np.float32, TOLERANCE32)


# ----------------------------------------------------------------------------------- benchmark sizes
SCALE_TOLERANCE = 1e-4    # float32 on the GPU against a float64 reference: sums over up to 230k products
CONV = ((1, 1), ((0, 0), (0, 0)), (1, 1))


def conv_case(n, hw, cin, cout, input_gradient=True):
    def run(k, x, w, dy):
        out = [k.conv2d_forward(x, w, None, *CONV), k.conv2d_backward_weight(dy, x, w.shape, *CONV)]
        return out + ([k.conv2d_backward_input(dy, w, x.shape, *CONV)] if input_gradient else [])
    return run, [(n, hw, hw, cin), (3, 3, cin, cout), (n, hw - 2, hw - 2, cout)]


def pool_case(k, x, dy):
    y, cache = k.max_pool2d_forward(x, (2, 2), (2, 2), ((0, 0), (0, 0)))
    return [y, k.max_pool2d_backward(dy, cache), k.avg_pool2d_forward(x, (2, 2), (2, 2), ((0, 0), (0, 0))),
            k.avg_pool2d_backward(dy, x.shape, (2, 2), (2, 2), ((0, 0), (0, 0)))]


def recurrent_case(cell):
    n, steps, features, units = 64, 50, 32, 128
    gates = {"simple_rnn": 1, "lstm": 4, "gru": 3}[cell]
    bias = (2, 3 * units) if cell == "gru" else (gates * units,)
    states = [(n, units)] * (2 if cell == "lstm" else 1)

    def run(k, x, W, U, b, dhs, *state):
        hs, cache = getattr(k, f"{cell}_forward")(x, 0.1 * W, 0.1 * U, b, *state, "tanh")
        return [hs, *getattr(k, f"{cell}_backward")(dhs, cache)]
    return run, [(n, steps, features), (features, gates * units), (units, gates * units), bias, (n, steps, units),
                 *states]


def rows_case(k, x, dy, targets):
    y = k.softmax_forward(x)
    losses, probs = k.softmax_cross_entropy_forward(x, targets)
    return [k.activation_forward("tanh", x, 0.2), k.activation_backward("leaky_relu", dy, x, x, 0.2), y,
            k.softmax_backward(dy, y), losses, k.softmax_cross_entropy_backward(x[..., 0], probs, targets)]


def batch_norm_case(k, x, dy, gamma, beta):
    y, mean, var, cache = k.batch_norm_train_forward(x + 3, gamma, beta, 1e-3)
    return [y, mean, var, *k.batch_norm_backward(dy, cache), k.batch_norm_inference(x, gamma, beta, mean, var, 1e-3)]


SCALE_CASES = {   # name -> (case(kernels, *inputs) -> arrays, input shapes); the sizes of engine/tools/gpu_bench.py
    "conv 32x32x64 batch 32": conv_case(32, 32, 64, 64),
    "CIFAR conv 1, batch 256": conv_case(256, 32, 3, 32, input_gradient=False),
    "CIFAR conv 2, batch 256": conv_case(256, 15, 32, 64),
    "CIFAR conv 3, batch 256": conv_case(256, 6, 64, 64),
    "pooling 64x32x32x64": (pool_case, [(64, 32, 32, 64), (64, 16, 16, 64)]),
    **{f"{cell} T=50 batch 64, 128 units": recurrent_case(cell) for cell in ("simple_rnn", "lstm", "gru")},
    "rows: 2^22 elements (grid-stride passes), softmax over 70": (rows_case, [(59919, 70)] * 3),
    "batch norm 256x32x32x64": (batch_norm_case, [(256, 32, 32, 64)] * 2 + [(64,)] * 2),
}


@pytest.mark.parametrize("name", SCALE_CASES)
def test_every_kernel_at_benchmark_sizes(name):
    """The cuda backend in float32 against the reference in float64 on the same values."""
    case, shapes = SCALE_CASES[name]
    inputs = [randn(shape, np.float32) for shape in shapes]
    got = [to_host(a) for a in case(get_backend("cuda"), *inputs)]
    want = case(ref, *[a.astype(np.float64) for a in inputs])
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert_close(g, np.asarray(w).astype(np.float32), np.float32, SCALE_TOLERANCE)


def test_dropout_mask_at_benchmark_size():
    mask = to_host(get_backend("cuda").dropout_mask(((1 << 22) + 7,), 0.3, np.random.default_rng(2), np.float32))
    assert abs((mask == 0).mean() - 0.3) < 0.001 and set(np.unique(mask)) == {0, np.float32(1 / 0.7)}


# ----------------------------------------------------------------------------------- PyTorch / cuDNN
def _torch():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("PyTorch has no CUDA device")
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    return torch


def _leaf(torch, array):
    return torch.tensor(array, device="cuda", requires_grad=True)


def test_conv_and_pool_match_cudnn():
    torch = _torch()
    k = get_backend("cuda")
    x, w, b = randn((4, 11, 10, 6), np.float64), randn((3, 3, 6, 8), np.float64), randn(8, np.float64)
    geometry = ((2, 1), ((1, 1), (1, 1)), (1, 1))
    y = k.conv2d_forward(x, w, b, *geometry)
    dy = randn(y.shape, np.float64)
    xt, wt = _leaf(torch, x.transpose(0, 3, 1, 2)), _leaf(torch, w.transpose(3, 2, 0, 1))
    yt = torch.nn.functional.conv2d(xt, wt, torch.tensor(b, device="cuda"), stride=(2, 1), padding=1)
    yt.backward(torch.tensor(dy.transpose(0, 3, 1, 2), device="cuda"))
    assert_close(y.get(), yt.detach().cpu().numpy().transpose(0, 2, 3, 1), np.float64)
    assert_close(k.conv2d_backward_input(dy, w, x.shape, *geometry).get(),
                 xt.grad.cpu().numpy().transpose(0, 2, 3, 1), np.float64)
    assert_close(k.conv2d_backward_weight(dy, x, w.shape, *geometry).get(),
                 wt.grad.cpu().numpy().transpose(2, 3, 1, 0), np.float64)

    x = randn((3, 9, 8, 5), np.float64)                                 # no ties: cuDNN breaks them its own way
    y, cache = k.max_pool2d_forward(x, (2, 2), (2, 2), ((0, 0), (0, 0)))
    dy = randn(y.shape, np.float64)
    xt = _leaf(torch, x.transpose(0, 3, 1, 2))
    yt = torch.nn.functional.max_pool2d(xt, 2)
    yt.backward(torch.tensor(dy.transpose(0, 3, 1, 2), device="cuda"))
    assert_close(y.get(), yt.detach().cpu().numpy().transpose(0, 2, 3, 1), np.float64)
    assert_close(k.max_pool2d_backward(dy, cache).get(), xt.grad.cpu().numpy().transpose(0, 2, 3, 1), np.float64)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_recurrent_matches_cudnn(cell):
    """Keras LSTM gates (i, f, c, o) are cuDNN's (i, f, g, o); Keras GRU (z, r, h), reset_after, is cuDNN's
    GRU with gates reordered to (r, z, n) and B[0], B[1] as its input and hidden biases."""
    torch = _torch()
    k = get_backend("cuda")
    n, steps, features, units = 4, 7, 5, 33
    gates = 4 if cell == "lstm" else 3
    x, h0, c0 = randn((n, steps, features), np.float64), randn((n, units), np.float64), randn((n, units), np.float64)
    W, U = 0.3 * randn((features, gates * units), np.float64), 0.3 * randn((units, gates * units), np.float64)
    B = randn((2, gates * units), np.float64)
    dhs = randn((n, steps, units), np.float64)
    order = np.arange(gates * units) if cell == "lstm" else np.r_[units:2 * units, :units, 2 * units:3 * units]
    if cell == "lstm":
        hs, cache = k.lstm_forward(x, W, U, B[0], h0, c0, "tanh")
        dx, dW, dU, db, dh0, dc0 = k.lstm_backward(dhs, cache)
        module = torch.nn.LSTM(features, units, batch_first=True).double().cuda()
        biases = (B[0], np.zeros(gates * units))
    else:
        hs, cache = k.gru_forward(x, W, U, B, h0, "tanh")
        dx, dW, dU, dB, dh0 = k.gru_backward(dhs, cache)
        module = torch.nn.GRU(features, units, batch_first=True).double().cuda()
        biases = (B[0], B[1])
    with torch.no_grad():
        module.weight_ih_l0.copy_(torch.tensor(W[:, order].T))
        module.weight_hh_l0.copy_(torch.tensor(U[:, order].T))
        module.bias_ih_l0.copy_(torch.tensor(biases[0][order]))
        module.bias_hh_l0.copy_(torch.tensor(biases[1][order]))
    xt, h0t = _leaf(torch, x), _leaf(torch, h0[None])
    state = (h0t, _leaf(torch, c0[None])) if cell == "lstm" else h0t
    hst, _ = module(xt, state)
    hst.backward(torch.tensor(dhs, device="cuda"))
    assert_close(hs.get(), hst.detach().cpu().numpy(), np.float64)
    assert_close(dx.get(), xt.grad.cpu().numpy(), np.float64)
    assert_close(dh0.get(), h0t.grad.cpu().numpy()[0], np.float64)
    assert_close(dW.get()[:, order], module.weight_ih_l0.grad.cpu().numpy().T, np.float64)
    assert_close(dU.get()[:, order], module.weight_hh_l0.grad.cpu().numpy().T, np.float64)
