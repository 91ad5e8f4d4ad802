"""2-D convolution (cross-correlation, NHWC) for the Numba backend: patch matrices multiplied by BLAS.

With the input zero-padded to x_pad (pads ((top, bottom), (left, right))), the forward pass is

    y[n,p,q,o] = b[o] + sum_{i,j,c} x_pad[n, p*sh + i*dh, q*sw + j*dw, c] * w[i,j,c,o].

Number the output pixels g = (n*Ho + p)*Wo + q and give each one a row of a *patch matrix* holding the
kh*kw*Cin input values its window reads, in the order (i, j, c) of the weights (im2col):

    cols[g, (i*kw + j)*Cin + c] = x_pad[n, p*sh + i*dh, q*sw + j*dw, c].

Then the convolution and both of its gradients are single matrix products, with W = w.reshape(K, Cout),
K = kh*kw*Cin, and y, dy seen as (N*Ho*Wo, Cout) matrices:

    y     = cols @ W (+ b)
    dW    = cols^T @ dy
    dcols = dy @ W^T,   dx = col2im(dcols): every patch entry sends its gradient back to the pixel it copied.

Why this is fast. A convolution does 2*K FLOPs per output value. A tuned GEMM (OpenBLAS, which Numba's np.dot
calls) runs at a large fraction of the machine's peak because it reuses every number it loads many times from
registers and cache; plain Numba loops cannot be blocked that way and run 10-50x slower. What is left for
Numba is copying (im2col, col2im), loops whose innermost index runs over the contiguous channels of NHWC.
On a 3x3, 64-channel layer the GEMMs take about 90% of the time.

How the work is split. The patch matrix of a whole batch is large (28800 x 576 floats = 66 MB for a 3x3,
64-channel layer on 32 images of 32x32), so it is built a chunk of rows at a time (about 1 MB, at least
512 rows: CHUNK_BYTES, MIN_CHUNK_ROWS), each chunk multiplied while it is still in the cache. Each thread
takes every T-th chunk (T threads) and reuses one buffer; inside a thread the copy and the GEMM run one
after the other, and BLAS is told to use one thread (``single_threaded_blas`` in blas.py). Letting BLAS
start its own threads between Numba's parallel loops is much slower (about 10x, measured): the two thread
pools fight over the same cores, each spinning while the other works.

col2im adds every patch entry back into the input pixel it was copied from. Neighbouring patch rows share
pixels, so the backward-input chunks hold whole images: no two threads ever add into the same pixel.
"""
from __future__ import annotations

import numpy as np
from numba import get_num_threads, njit, prange

from engine.backends.contract import compute_dtype
from engine.backends.numba_cpu import common  # noqa: F401  (settles Numba's cache folder first)
from engine.backends.numba_cpu.blas import single_threaded_blas
from engine.shapes import window_output_hw

# Patch-matrix bytes per chunk: half of one core's 2 MB L2 cache, so BLAS reads the chunk while it is still
# cached. Measured on the 3x3, 64-channel layer: 1-2 MB are equally fast, 4 MB about 10% slower.
CHUNK_BYTES = 1 << 20
# At least this many patch rows per chunk: with a large K (5x5 taps of 128 channels: K = 3200) the 1 MB rule
# gives 81-row chunks, and every chunk's GEMM streams the whole weight matrix (3 MB) for those few rows.
# Measured on the DCGAN's layers: 81 -> 512 rows made them 1.3-2x faster; 384-2048 are equally fast.
MIN_CHUNK_ROWS = 512
# Inputs with fewer channels than this are copied a kernel row (kw*Cin values) at a time (see _im2col).
# Measured: 26-30% faster patch copies for 1 and 3 channels, 20% slower for 64.
FEW_CHANNELS = 8


# ----------------------------------------------------------------------------- the Numba kernels
@njit(cache=True)
def _im2col(x, cols, g0, g1, out_h, out_w, kh, kw, sh, sw, dh, dw, top, left):
    """cols[g - g0, (i*kw + j)*Cin + c] = x_pad[n, p*sh + i*dh, q*sw + j*dw, c]
    for the output pixels g = (n*Ho + p)*Wo + q in [g0, g1).

    With few channels (the first layer: 1 or 3) a copy of Cin values is too short to vectorise; there, when
    a kernel row lies inside the image and dw = 1, its kw taps read kw*Cin consecutive values of x (one
    run of an image row), copied as one run."""
    n_images, h, wd, cin = x.shape
    image_rows = x.reshape(n_images, h, wd * cin)
    span = kw * cin
    n, p, q = g0 // (out_h * out_w), g0 // out_w % out_h, g0 % out_w
    for g in range(g0, g1):
        w0 = q * sw - left
        runs = cin < FEW_CHANNELS and dw == 1 and w0 >= 0 and w0 + kw <= wd
        for i in range(kh):
            hh = p * sh + i * dh - top
            if runs and 0 <= hh < h:
                src = image_rows[n, hh, w0 * cin:w0 * cin + span]
                dst = cols[g - g0, i * span:(i + 1) * span]
                for m in range(span):
                    dst[m] = src[m]
                continue
            for j in range(kw):
                ww = w0 + j * dw
                start = (i * kw + j) * cin
                if 0 <= hh < h and 0 <= ww < wd:
                    for c in range(cin):
                        cols[g - g0, start + c] = x[n, hh, ww, c]
                else:  # this tap reads padding
                    for c in range(cin):
                        cols[g - g0, start + c] = 0.0
        n, p, q = _next_pixel(n, p, q, out_h, out_w)


@njit(cache=True)
def _col2im(dcols, dx, n0, n1, out_h, out_w, kh, kw, sh, sw, dh, dw, top, left):
    """dx[n,h,w,c] = sum of the dcols[g - g0, (i*kw + j)*Cin + c] that im2col copied from x[n,h,w,c], for the images
    n0 <= n < n1 (g0 = n0*Ho*Wo): the loops of im2col (runs of kw*Cin values included) with the copy reversed
    into an addition."""
    n_images, h, wd, cin = dx.shape
    image_rows = dx.reshape(n_images, h, wd * cin)
    span = kw * cin
    dx[n0:n1] = 0.0
    n, p, q = n0, 0, 0
    for g in range(n0 * out_h * out_w, n1 * out_h * out_w):
        w0 = q * sw - left
        runs = cin < FEW_CHANNELS and dw == 1 and w0 >= 0 and w0 + kw <= wd
        for i in range(kh):
            hh = p * sh + i * dh - top
            if runs and 0 <= hh < h:
                src = dcols[g - n0 * out_h * out_w, i * span:(i + 1) * span]
                dst = image_rows[n, hh, w0 * cin:w0 * cin + span]
                for m in range(span):
                    dst[m] += src[m]
                continue
            for j in range(kw):
                ww = w0 + j * dw
                start = (i * kw + j) * cin
                if 0 <= hh < h and 0 <= ww < wd:
                    for c in range(cin):
                        dx[n, hh, ww, c] += dcols[g - n0 * out_h * out_w, start + c]
        n, p, q = _next_pixel(n, p, q, out_h, out_w)


@njit(cache=True)
def _next_pixel(n, p, q, out_h, out_w):
    """The output pixel after (n, p, q) in row-major order (like an odometer: no divisions in the loops above)."""
    q += 1
    if q == out_w:
        q, p = 0, p + 1
        if p == out_h:
            p, n = 0, n + 1
    return n, p, q


@njit(parallel=True, cache=True)
def _forward(x, wmat, b, y, out_h, out_w, kh, kw, sh, sw, dh, dw, top, left, chunk_rows, n_threads):
    """y = cols @ W (+ b) chunk by chunk; y is (N*Ho*Wo, Cout) and b is empty when there is no bias."""
    n_rows, n_chunks = y.shape[0], -(-y.shape[0] // chunk_rows)
    for t in prange(n_threads):
        cols = np.empty((chunk_rows, wmat.shape[0]), dtype=x.dtype)
        for chunk in range(t, n_chunks, n_threads):
            g0, g1 = chunk * chunk_rows, min((chunk + 1) * chunk_rows, n_rows)
            _im2col(x, cols, g0, g1, out_h, out_w, kh, kw, sh, sw, dh, dw, top, left)
            np.dot(cols[:g1 - g0], wmat, y[g0:g1])
            if b.size:
                for g in range(g0, g1):
                    for o in range(b.size):
                        y[g, o] += b[o]


@njit(parallel=True, cache=True)
def _backward_weight(dy, x, dwmat, out_h, out_w, kh, kw, sh, sw, dh, dw, top, left, chunk_rows, n_threads):
    """dW = sum over chunks of cols^T @ dy; dy is (N*Ho*Wo, Cout), dwmat (K, Cout) is overwritten."""
    n_rows, n_chunks = dy.shape[0], -(-dy.shape[0] // chunk_rows)
    partial = np.zeros((n_threads, dwmat.shape[0], dwmat.shape[1]), dtype=dwmat.dtype)  # one sum per thread
    for t in prange(n_threads):
        cols = np.empty((chunk_rows, dwmat.shape[0]), dtype=x.dtype)
        product = np.empty_like(dwmat)
        for chunk in range(t, n_chunks, n_threads):
            g0, g1 = chunk * chunk_rows, min((chunk + 1) * chunk_rows, n_rows)
            _im2col(x, cols, g0, g1, out_h, out_w, kh, kw, sh, sw, dh, dw, top, left)
            np.dot(cols[:g1 - g0].T, dy[g0:g1], product)
            for k in range(product.shape[0]):
                for o in range(product.shape[1]):
                    partial[t, k, o] += product[k, o]
    for k in range(dwmat.shape[0]):
        for o in range(dwmat.shape[1]):
            dwmat[k, o] = 0.0
            for t in range(n_threads):
                dwmat[k, o] += partial[t, k, o]


@njit(parallel=True, cache=True)
def _backward_input(dy, wmat, dx, out_h, out_w, kh, kw, sh, sw, dh, dw, top, left, chunk_images, n_threads):
    """dcols = dy @ W^T, then dx = col2im(dcols), a chunk of whole images at a time; dy is (N*Ho*Wo, Cout)."""
    n_images, rows_per_image = dx.shape[0], out_h * out_w
    n_chunks = -(-n_images // chunk_images)
    for t in prange(n_threads):
        dcols = np.empty((chunk_images * rows_per_image, wmat.shape[0]), dtype=dx.dtype)
        for chunk in range(t, n_chunks, n_threads):
            n0, n1 = chunk * chunk_images, min((chunk + 1) * chunk_images, n_images)
            np.dot(dy[n0 * rows_per_image:n1 * rows_per_image], wmat.T, dcols[:(n1 - n0) * rows_per_image])
            _col2im(dcols, dx, n0, n1, out_h, out_w, kh, kw, sh, sw, dh, dw, top, left)


# ----------------------------------------------------------------------------- the kernel contract
def _chunks(n_units, unit_rows, k, dtype):
    """Split n_units (patch rows, or whole images of unit_rows rows) into chunks of about CHUNK_BYTES of patch
    matrix, at least one per thread: returns (units per chunk, threads to use)."""
    n_threads = get_num_threads()
    wanted = max(CHUNK_BYTES // (unit_rows * k * np.dtype(dtype).itemsize), -(-MIN_CHUNK_ROWS // unit_rows))
    per_chunk = max(1, min(wanted, -(-n_units // n_threads)))
    return per_chunk, min(n_threads, -(-n_units // per_chunk))


def _geometry(strides, pads, dilation):
    """(sh, sw, dh, dw, top, left) as plain ints, the way the Numba kernels take them."""
    (sh, sw), ((top, _), (left, _)), (dh, dw) = strides, pads, dilation
    return int(sh), int(sw), int(dh), int(dw), int(top), int(left)


def conv2d_forward(x, w, b, strides, pads, dilation):
    """y[n,p,q,o] = b[o] + sum_{i,j,c} x_pad[n, p*sh+i*dh, q*sw+j*dw, c] * w[i,j,c,o]."""
    dtype = compute_dtype(x, w) if b is None else compute_dtype(x, w, b)
    kh, kw, cin, cout = w.shape
    out_h, out_w = window_output_hw(x.shape[1:3], (kh, kw), strides, pads, dilation)
    x = np.ascontiguousarray(x, dtype=dtype)
    wmat = np.ascontiguousarray(w, dtype=dtype).reshape(kh * kw * cin, cout)
    b = np.zeros(0, dtype) if b is None else np.ascontiguousarray(b, dtype=dtype)
    y = np.empty((x.shape[0], out_h, out_w, cout), dtype)
    with single_threaded_blas():
        _forward(x, wmat, b, y.reshape(-1, cout), out_h, out_w, kh, kw, *_geometry(strides, pads, dilation),
                 *_chunks(y.size // cout, 1, wmat.shape[0], dtype))
    return y


def conv2d_backward_input(dy, w, x_shape, strides, pads, dilation):
    """dx[n,h,w,c] = sum over the (p, q, i, j) with p*sh+i*dh-top = h and q*sw+j*dw-left = w
    of sum_o dy[n,p,q,o] * w[i,j,c,o]."""
    dtype = compute_dtype(dy, w)
    kh, kw, cin, cout = w.shape
    n, out_h, out_w = dy.shape[:3]
    dy = np.ascontiguousarray(dy, dtype=dtype)
    wmat = np.ascontiguousarray(w, dtype=dtype).reshape(kh * kw * cin, cout)
    dx = np.empty(tuple(x_shape), dtype)
    with single_threaded_blas():
        _backward_input(dy.reshape(-1, cout), wmat, dx, out_h, out_w, kh, kw, *_geometry(strides, pads, dilation),
                        *_chunks(n, out_h * out_w, wmat.shape[0], dtype))
    return dx


def conv2d_backward_weight(dy, x, w_shape, strides, pads, dilation):
    """dw[i,j,c,o] = sum_{n,p,q} x_pad[n, p*sh+i*dh, q*sw+j*dw, c] * dy[n,p,q,o]."""
    dtype = compute_dtype(dy, x)
    kh, kw, cin, cout = w_shape
    out_h, out_w = dy.shape[1:3]
    dy = np.ascontiguousarray(dy, dtype=dtype)
    x = np.ascontiguousarray(x, dtype=dtype)
    dw = np.empty(tuple(w_shape), dtype)
    with single_threaded_blas():
        _backward_weight(dy.reshape(-1, cout), x, dw.reshape(kh * kw * cin, cout), out_h, out_w, kh, kw,
                         *_geometry(strides, pads, dilation), *_chunks(dy.size // cout, 1, kh * kw * cin, dtype))
    return dw
