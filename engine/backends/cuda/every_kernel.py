"""One small run of every kernel of the contract, for compute-sanitizer (or the emulator's checks):

    compute-sanitizer --tool memcheck python -m engine.backends.cuda.every_kernel            # on a GPU
    NNLAB_CUDA_EMU_CHECKS=full python -m engine.backends.cuda.every_kernel --backend cuda-emu

Small shapes with ragged edges (sizes just past a tile, stride 2, padding), float32 then float64, through
the backend's own launch code; the device is synchronised after every kernel, so that a fault shows at the
kernel that caused it. On a GPU, CuPy's memory pool is switched off first: with the pool, a read just past
an array lands inside the pool's larger allocation, where memcheck cannot see it. Prints one line per
kernel; exits 0 when every kernel ran.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from engine.backends import get_backend


def kernel_calls(k, dtype):
    """(kernel name, call) for every kernel of the contract, in an order where each backward pass follows
    the forward pass whose cache it needs; call() returns what the kernel returned."""
    rng = np.random.default_rng(0)

    def randn(*shape):
        return rng.standard_normal(shape).astype(dtype)

    conv = ((2, 1), ((1, 1), (0, 1)), (1, 1))
    x, w, b = randn(2, 9, 10, 3), randn(3, 3, 3, 70), randn(70)                # Cout past one 64-wide tile
    dy = randn(2, 5, 9, 70)
    img, pool = randn(2, 7, 9, 5), ((3, 3), (2, 2), ((1, 1), (1, 1)))
    pooled = randn(2, 4, 5, 5)
    seq, units = randn(9, 3, 4), 37                                            # two blocks of rows, two slices
    h0, c0, dhs = randn(9, units), randn(9, units), randn(9, 3, units)
    rows, targets = randn(5, 3, 40), rng.random((5, 3, 40)).astype(dtype)
    gamma, beta = randn(40), randn(40)
    caches = {}

    def recurrent(cell, gates):
        W, U = 0.3 * randn(4, gates * units), 0.3 * randn(units, gates * units)
        bias = randn(2, 3 * units) if cell == "gru" else randn(gates * units)
        state = (h0, c0) if cell == "lstm" else (h0,)

        def forward():
            hs, caches[cell] = getattr(k, f"{cell}_forward")(seq, W, U, bias, *state, "tanh")
            return hs
        return [(f"{cell}_forward", forward), (f"{cell}_backward", lambda: getattr(k, f"{cell}_backward")(dhs, caches[cell]))]

    def batch_norm():
        caches["bn"] = k.batch_norm_train_forward(rows, gamma, beta, 1e-3)
        return caches["bn"][:3]

    def max_pool():
        y, caches["pool"] = k.max_pool2d_forward(img, *pool)
        return y

    return [
        ("conv2d_forward", lambda: k.conv2d_forward(x, w, b, *conv)),
        ("conv2d_backward_input", lambda: k.conv2d_backward_input(dy, w, x.shape, *conv)),
        ("conv2d_backward_weight", lambda: k.conv2d_backward_weight(dy, x, w.shape, *conv)),
        ("max_pool2d_forward", max_pool),
        ("max_pool2d_backward", lambda: k.max_pool2d_backward(pooled, caches["pool"])),
        ("avg_pool2d_forward", lambda: k.avg_pool2d_forward(img, *pool)),
        ("avg_pool2d_backward", lambda: k.avg_pool2d_backward(pooled, img.shape, *pool)),
        *recurrent("simple_rnn", 1), *recurrent("lstm", 4), *recurrent("gru", 3),
        ("activation_forward", lambda: k.activation_forward("leaky_relu", rows, 0.2)),
        ("activation_backward", lambda: k.activation_backward("tanh", rows, rows, rows, 0.2)),
        ("softmax_forward", lambda: k.softmax_forward(rows)),
        ("softmax_backward", lambda: k.softmax_backward(rows, rows)),
        ("softmax_cross_entropy_forward", lambda: k.softmax_cross_entropy_forward(rows, targets)),
        ("softmax_cross_entropy_backward", lambda: k.softmax_cross_entropy_backward(rows[..., 0], targets, targets)),
        ("batch_norm_train_forward", batch_norm),
        ("batch_norm_backward", lambda: k.batch_norm_backward(rows, caches["bn"][3])),
        ("batch_norm_inference", lambda: k.batch_norm_inference(rows, gamma, beta, gamma, beta ** 2, 1e-3)),
        ("dropout_mask", lambda: k.dropout_mask((33, 17), 0.3, np.random.default_rng(1), dtype)),
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="cuda", help="cuda (default) or cuda-emu")
    args = parser.parse_args(argv)
    k = get_backend(args.backend)
    sync = (lambda: None) if k.xp is np else k.xp.cuda.Device().synchronize
    if k.xp is not np:
        k.xp.cuda.set_allocator(None)              # every array its own allocation: exact bounds for memcheck
    for dtype in (np.float32, np.float64):
        for name, call in kernel_calls(k, dtype):
            call()
            sync()
            print(f"{name} {np.dtype(dtype).name}: ran", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
