"""Output sizes and padding rules for convolution and pooling, exactly as Keras/TensorFlow compute them.

All functions work on one spatial axis at a time; callers apply them to height and width.
Padding is always returned as explicit ``(before, after)`` pairs so that kernels never see a string.
"""
from __future__ import annotations

import math

#: the padding modes a layer accepts by name (an int or explicit pairs are accepted where documented)
PADDINGS = ("valid", "same")


def effective_kernel(k: int, dilation: int = 1) -> int:
    """Size a dilated kernel covers: k_eff = (k - 1) * d + 1."""
    return (k - 1) * dilation + 1


def same_padding(n: int, k: int, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow 'same' padding for one axis.

    out = ceil(n / s); pad_total = max((out - 1) * s + k_eff - n, 0);
    the extra row/column (odd pad_total) goes at the end (bottom/right).
    """
    out = math.ceil(n / stride)
    total = max((out - 1) * stride + effective_kernel(k, dilation) - n, 0)
    before = total // 2
    return before, total - before


def conv_output_size(n: int, k: int, stride: int, pads: tuple[int, int], dilation: int = 1) -> int:
    """floor((n + pad_before + pad_after - k_eff) / s) + 1."""
    return (n + pads[0] + pads[1] - effective_kernel(k, dilation)) // stride + 1


def pair(value, name: str = "value") -> tuple[int, int]:
    """Accept an int or a 2-sequence of ints (Keras style) and return a 2-tuple."""
    if isinstance(value, (int,)) and not isinstance(value, bool):
        return int(value), int(value)
    try:
        a, b = value
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}") from None
    return int(a), int(b)


def resolve_padding(padding, in_hw, kernel_hw, strides, dilation=(1, 1)):
    """Turn any accepted padding spelling into ((top, bottom), (left, right)).

    Accepted: "valid", "same", an int p (p on every side), or explicit ((top, bottom), (left, right)).
    """
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return (0, 0), (0, 0)
        if mode == "same":
            return tuple(same_padding(n, k, s, d) for n, k, s, d in zip(in_hw, kernel_hw, strides, dilation))
        raise ValueError(f"padding must be 'valid', 'same', an int or ((top, bottom), (left, right)); got {padding!r}")
    if isinstance(padding, int) and not isinstance(padding, bool):
        if padding < 0:
            raise ValueError(f"padding must not be negative, got {padding}")
        return (padding, padding), (padding, padding)
    try:
        (t, b), (l, r) = padding
        pads = (int(t), int(b)), (int(l), int(r))
    except (TypeError, ValueError):
        raise ValueError(
            f"padding must be 'valid', 'same', an int or ((top, bottom), (left, right)); got {padding!r}") from None
    if min(pads[0] + pads[1]) < 0:
        raise ValueError(f"padding must not be negative, got {padding!r}")
    return pads


def conv2d_output_hw(in_hw, kernel_hw, strides, pads, dilation=(1, 1)):
    """(H_out, W_out) of a 2-D convolution or pooling with explicit pads."""
    return tuple(conv_output_size(n, k, s, p, d) for n, k, s, p, d in zip(in_hw, kernel_hw, strides, pads, dilation))


def window_output_hw(in_hw, window_hw, strides, pads, dilation=(1, 1), what="kernel"):
    """(H_out, W_out) of a convolution or pooling window, or ValueError when the (dilated) window does not
    fit the padded input (an output side below 1)."""
    out = conv2d_output_hw(in_hw, window_hw, strides, pads, dilation)
    if min(out) < 1:
        raise ValueError(f"a {window_hw[0]}x{window_hw[1]} {what} does not fit an input of {in_hw[0]}x{in_hw[1]} "
                         f"with padding {tuple(pads)}" + ("" if tuple(dilation) == (1, 1) else f" and dilation "
                                                          f"{tuple(dilation)}") + f" (output would be {out[0]}x{out[1]})")
    return out


def format_shape(shape) -> str:
    """A shape as Keras prints it: (None, 8, 8, 10), with None for the batch axis and (5,) for one axis."""
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def conv_transpose_output_size(n: int, k: int, stride: int, padding: str) -> int:
    """Keras Conv2DTranspose size without output_padding: same -> n*s; valid -> (n-1)*s + max(k, s)."""
    if padding == "same":
        return n * stride
    if padding == "valid":
        return (n - 1) * stride + max(k, stride)
    raise ValueError(f"conv2d_transpose padding must be 'valid' or 'same', got {padding!r}")


def conv_transpose_pads(out: int, k: int, stride: int, padding: str) -> tuple[int, int]:
    """Pads of the forward convolution whose adjoint is this transposed convolution.

    A transposed conv producing size `out` is the input-gradient of a conv that maps `out` -> n.
    For 'same' that conv uses the TF 'same' padding of `out` (the crop Keras applies, e.g. (1, 2) for k=5, s=2);
    for 'valid' it uses none.
    """
    return same_padding(out, k, stride) if padding == "same" else (0, 0)
