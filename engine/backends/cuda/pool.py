"""Launch code for kernels/pool.cu: max and average pooling (NHWC), one thread per element."""
from __future__ import annotations

from engine.backends.contract import compute_dtype
from engine.backends.cuda.library import blocks
from engine.shapes import window_output_hw

THREADS = 256


def _geometry(lib, x_shape, pool, strides, pads):
    """The output shape, and the int parameters of every pool kernel: N, H, W, C, Ho, Wo, ph, pw, sh, sw, top, left."""
    ho, wo = window_output_hw(x_shape[1:3], pool, strides, pads, what="window")
    return (x_shape[0], ho, wo, x_shape[3]), lib.ints(*x_shape, ho, wo, *pool, *strides, pads[0][0], pads[1][0])


def _launch(lib, kernel, dtype, elements, args):
    lib.launch("pool.cu", kernel, dtype, (blocks(elements, THREADS),), (THREADS,), args)


def max_pool2d_forward(lib, x, pool, strides, pads):
    """Returns (y, cache); cache holds the winning cell of each window (argmax, int32, as i*pw + j)."""
    x = lib.array(x, compute_dtype(x))
    out_shape, geometry = _geometry(lib, x.shape, pool, strides, pads)
    y, argmax = lib.empty(out_shape, x.dtype), lib.empty(out_shape, "int32")
    _launch(lib, "max_pool2d_forward", x.dtype, y.size, (x, y, argmax, *geometry))
    cache = {"x_shape": x.shape, "pool": tuple(pool), "strides": tuple(strides), "pads": pads, "argmax": argmax}
    return y, cache


def max_pool2d_backward(lib, dy, cache):
    dy = lib.array(dy, compute_dtype(dy))
    dx = lib.empty(cache["x_shape"], dy.dtype)
    _, geometry = _geometry(lib, cache["x_shape"], cache["pool"], cache["strides"], cache["pads"])
    _launch(lib, "max_pool2d_backward", dy.dtype, dx.size, (dy, cache["argmax"], dx, *geometry))
    return dx


def avg_pool2d_forward(lib, x, pool, strides, pads):
    x = lib.array(x, compute_dtype(x))
    out_shape, geometry = _geometry(lib, x.shape, pool, strides, pads)
    y = lib.empty(out_shape, x.dtype)
    _launch(lib, "avg_pool2d_forward", x.dtype, y.size, (x, y, *geometry))
    return y


def avg_pool2d_backward(lib, dy, x_shape, pool, strides, pads):
    dy = lib.array(dy, compute_dtype(dy))
    dx = lib.empty(tuple(x_shape), dy.dtype)
    _, geometry = _geometry(lib, x_shape, pool, strides, pads)
    _launch(lib, "avg_pool2d_backward", dy.dtype, dx.size, (dy, dx, *geometry))
    return dx
