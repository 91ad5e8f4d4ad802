"""2-D convolution (cross-correlation, NHWC) as a loop over the kernel taps.

With the input zero-padded to x_pad (pads ((top, bottom), (left, right))), the forward pass is

    y[n,p,q,o] = b[o] + sum_{i,j,c} x_pad[n, p*sh + i*dh, q*sw + j*dw, c] * w[i,j,c,o]

for p < Ho = (H + top + bottom - ((kh-1)*dh + 1)) // sh + 1 (and likewise q < Wo).

Fix one kernel tap (i, j): the pixels it reads for every (p, q) form the strided slice
x_pad[:, i*dh : i*dh + sh*(Ho-1) + 1 : sh, j*dw : j*dw + sw*(Wo-1) + 1 : sw, :], an (N, Ho, Wo, Cin) array.
So the convolution is kh*kw ordinary matrix products, one per tap, added together:

    y += x_pad[tap(i, j)] @ w[i, j]                       (N,Ho,Wo,Cin) @ (Cin,Cout)

and both gradients follow from that one line:

    dx_pad[tap(i, j)] += dy @ w[i, j].T                   (scatter-add, then crop the pads away)
    dw[i, j]           = sum_{n,p,q} x_pad[tap(i, j)]^T dy
"""
from __future__ import annotations

import numpy as np

from engine.shapes import window_output_hw


def pad_hw(x, pads, value=0.0):
    """Pad the H and W axes of an NHWC array: pads = ((top, bottom), (left, right))."""
    return np.pad(x, ((0, 0), tuple(pads[0]), tuple(pads[1]), (0, 0)), constant_values=value)


def tap(i, j, out_hw, strides, dilation=(1, 1)):
    """Index of the padded-input pixels that kernel tap (i, j) reads: x_pad[tap][n,p,q,c] = x_pad[n, p*sh+i*dh, q*sw+j*dw, c]."""
    (ho, wo), (sh, sw), (dh, dw) = out_hw, strides, dilation
    rows = slice(i * dh, i * dh + sh * (ho - 1) + 1, sh)
    cols = slice(j * dw, j * dw + sw * (wo - 1) + 1, sw)
    return np.s_[:, rows, cols, :]


def conv2d_forward(x, w, b, strides, pads, dilation):
    """y[n,p,q,o] = b[o] + sum_{i,j,c} x_pad[n, p*sh+i*dh, q*sw+j*dw, c] * w[i,j,c,o]."""
    kh, kw, _, cout = w.shape
    out_hw = window_output_hw(x.shape[1:3], (kh, kw), strides, pads, dilation)
    x_pad = pad_hw(x, pads)
    y = np.zeros((x.shape[0], *out_hw, cout), dtype=np.result_type(x, w))
    for i in range(kh):
        for j in range(kw):
            y += x_pad[tap(i, j, out_hw, strides, dilation)] @ w[i, j]
    if b is not None:
        y += b
    return y


def conv2d_backward_input(dy, w, x_shape, strides, pads, dilation):
    """dx = d<y, dy>/dx: every tap sends dy @ w[i,j].T back to the pixels it read.

    dx_pad[n, p*sh+i*dh, q*sw+j*dw, c] += sum_o dy[n,p,q,o] * w[i,j,c,o]; then dx = dx_pad without the pads.
    Pixels no window reads (a leftover row/column when (H + pads - k_eff) % sh != 0) keep a zero gradient.
    """
    kh, kw = w.shape[:2]
    out_hw = dy.shape[1:3]
    (top, bottom), (left, right) = pads
    n, h, wd, cin = x_shape
    dx_pad = np.zeros((n, top + h + bottom, left + wd + right, cin), dtype=np.result_type(dy, w))
    for i in range(kh):
        for j in range(kw):
            # Within one tap the pixels read are distinct, so a plain += on the strided view is exact.
            dx_pad[tap(i, j, out_hw, strides, dilation)] += dy @ w[i, j].T
    return dx_pad[:, top:top + h, left:left + wd, :]


def conv2d_backward_weight(dy, x, w_shape, strides, pads, dilation):
    """dw[i,j,c,o] = sum_{n,p,q} x_pad[n, p*sh+i*dh, q*sw+j*dw, c] * dy[n,p,q,o]."""
    kh, kw = w_shape[:2]
    out_hw = dy.shape[1:3]
    x_pad = pad_hw(x, pads)
    dw = np.zeros(w_shape, dtype=np.result_type(dy, x))
    dy_rows = dy.reshape(-1, dy.shape[-1])  # (N*Ho*Wo, Cout): one row per output pixel
    for i in range(kh):
        for j in range(kw):
            # dw[i,j,c,o] = sum over output pixels of x_pad[tap](pixel, c) * dy(pixel, o): one matmul
            dw[i, j] = x_pad[tap(i, j, out_hw, strides, dilation)].reshape(-1, x.shape[-1]).T @ dy_rows
    return dw
