"""Launch code for kernels/conv.cu: convolution forward, input gradient and weight gradient (NHWC).

All three are implicit matrix products tiled BM x BN per block of 16 x 16 threads (see conv.cu).
"""
from __future__ import annotations

from engine.backends.contract import compute_dtype
from engine.backends.cuda.library import blocks
from engine.shapes import window_output_hw

BM, BN, BK = 128, 64, 16          # tile sizes of conv.cu
THREADS = (16, 16)


def _geometry(lib, x_shape, y_shape, w_shape, strides, pads, dilation):
    """The int parameters every conv kernel takes: N, H, W, Cin, Ho, Wo, Cout, kh, kw, sh, sw, dh, dw, top, left."""
    n, h, w, cin = x_shape
    _, ho, wo, cout = y_shape
    return lib.ints(n, h, w, cin, ho, wo, cout, *w_shape[:2], *strides, *dilation, pads[0][0], pads[1][0])


def conv2d_forward(lib, x, w, b, strides, pads, dilation):
    dtype = compute_dtype(x, w)
    x, w = lib.array(x, dtype), lib.array(w, dtype)
    n, cout = x.shape[0], w.shape[3]
    b = lib.zeros((cout,), dtype) if b is None else lib.array(b, dtype)
    y = lib.empty((n, *window_output_hw(x.shape[1:3], w.shape[:2], strides, pads, dilation), cout), dtype)
    grid = (blocks(y.size // cout, BM), blocks(cout, BN))
    lib.launch("conv.cu", "conv2d_forward", dtype, grid, THREADS,
               (x, w, b, y, *_geometry(lib, x.shape, y.shape, w.shape, strides, pads, dilation)))
    return y


def conv2d_backward_input(lib, dy, w, x_shape, strides, pads, dilation):
    dtype = compute_dtype(dy, w)
    dy, w = lib.array(dy, dtype), lib.array(w, dtype)
    dx = lib.empty(tuple(x_shape), dtype)
    cin = x_shape[3]
    grid = (blocks(dx.size // cin, BM), blocks(cin, BN))
    lib.launch("conv.cu", "conv2d_backward_input", dtype, grid, THREADS,
               (dy, w, dx, *_geometry(lib, x_shape, dy.shape, w.shape, strides, pads, dilation)))
    return dx


def conv2d_backward_weight(lib, dy, x, w_shape, strides, pads, dilation):
    dtype = compute_dtype(dy, x)
    dy, x = lib.array(dy, dtype), lib.array(x, dtype)
    dw = lib.zeros(tuple(w_shape), dtype)            # the kernel adds its partial sums into dw
    pixels, cout = dy.size // dy.shape[3], w_shape[3]
    tiles = (blocks(dw.size // cout, BM), blocks(cout, BN))
    slices = blocks(pixels, BK)
    splits = min(slices, max(1, lib.limits.weight_grad_blocks // (tiles[0] * tiles[1])))
    chunk = blocks(slices, splits) * BK              # pixels per split, a multiple of BK
    grid = (*tiles, blocks(pixels, chunk))
    lib.launch("conv.cu", "conv2d_backward_weight", dtype, grid, THREADS,
               (x, dy, dw, *_geometry(lib, x.shape, dy.shape, w_shape, strides, pads, dilation), *lib.ints(chunk)))
    return dw
