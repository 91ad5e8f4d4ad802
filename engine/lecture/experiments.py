"""The lecture's experiments and demos as plain functions (NumPy only; nothing here imports matplotlib).

==========================  =====================================================================
function                    lecture cell
==========================  =====================================================================
``polynomial_product``      the opening: multiplying polynomials is a 1-D convolution (Toeplitz)
``cross_correlate2d``,      "convolution" of an image with a 3x3 filter; the classic hand-made
``EDGE_FILTERS``            edge / blur / sharpen filters
``grid_search``             the digits CNN grid search over eta (rows) and lambda (columns)
``extrapolate``,            ``test_rnn``: seed with the known points, then predict one step at a
``extrapolation_mse``       time, feeding each prediction back; the MSE over all points
==========================  =====================================================================
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["grid_search", "extrapolate", "extrapolation_mse", "polynomial_product", "cross_correlate2d",
           "EDGE_FILTERS", "NamedFilter"]


# --- the digits grid search ---------------------------------------------------------------------------

def _accuracy(result, where) -> float:
    """Accuracy from model.evaluate's answer: [loss, accuracy, ...] (the lecture's `[1]`) or a dict."""
    if isinstance(result, dict):
        if "accuracy" not in result:
            raise ValueError(f"evaluate on the {where} data returned no 'accuracy' "
                             f"(keys: {sorted(result)}); compile the model with metrics=['accuracy']")
        return float(result["accuracy"])
    if np.ndim(result) == 0 or len(result) < 2:
        raise ValueError(f"evaluate on the {where} data returned only the loss; build_model must compile the "
                         "model with metrics=['accuracy'] (the lecture reads evaluate(...)[1])")
    return float(result[1])


def grid_search(build_model, x_train, y_train, x_test, y_test, etas, lambdas, epochs, batch_size,
                on_cell=None) -> dict:
    """Train one model per (eta, lambda) pair and record its train and test accuracy.

    For cell (i, j): ``model = build_model(etas[i], lambdas[j])`` (a compiled model with
    metrics=['accuracy']), ``model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, verbose=0)``,
    then accuracy = ``model.evaluate(x, y)[1]`` on the training and on the test data, as the lecture does.
    A model that diverges (NaN loss) is kept: its accuracy is whatever argmax of its output gives,
    as in Keras. ``on_cell(i, j, train_acc, test_acc)`` is called after each cell (for progress output).

    Returns a dict: ``train_accuracy`` and ``test_accuracy`` (arrays of shape (len(etas), len(lambdas));
    rows index eta, columns index lambda, as in the lecture's heatmaps), ``etas`` and ``lambdas``.
    """
    etas = np.asarray(etas, dtype=float).ravel()
    lambdas = np.asarray(lambdas, dtype=float).ravel()
    if etas.size == 0 or lambdas.size == 0:
        raise ValueError("grid_search needs at least one eta and one lambda")
    if on_cell is not None and not callable(on_cell):
        raise TypeError("on_cell must be a function on_cell(i, j, train_acc, test_acc) or None")
    train_accuracy = np.full((etas.size, lambdas.size), np.nan)
    test_accuracy = np.full((etas.size, lambdas.size), np.nan)
    for i, eta in enumerate(etas):
        for j, lmbd in enumerate(lambdas):
            model = build_model(float(eta), float(lmbd))
            model.stop_on_divergence = False        # a diverged cell trains on, as in Keras (see the docstring)
            model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, verbose=0)
            train_accuracy[i, j] = _accuracy(model.evaluate(x_train, y_train, verbose=0), "training")
            test_accuracy[i, j] = _accuracy(model.evaluate(x_test, y_test, verbose=0), "test")
            if on_cell is not None:
                on_cell(i, j, train_accuracy[i, j], test_accuracy[i, j])
    return {"train_accuracy": train_accuracy, "test_accuracy": test_accuracy, "etas": etas, "lambdas": lambdas}


# --- recursive extrapolation (test_rnn) ---------------------------------------------------------------

def extrapolate(model, series, n_known, window) -> np.ndarray:
    """Extend a series by recursive one-step prediction, as the lecture's `test_rnn` intends.

    The result has len(series) values. The first `n_known` are copied from `series` (they are known);
    each later value k is ``model.predict(x)`` with x = the previous `window` values of the *result*,
    shaped (1, window, 1). So once past the known part, every prediction is fed back as the newest input:
    with window 2 the inputs are [[y_{n-2}], [y_{n-1}]], then [[y_{n-1}], [ŷ_n]], then [[ŷ_n], [ŷ_{n+1}]], ...
    (The lecture's code sets ``last = next`` instead of ``last = next[0]`` and so fails at the second
    step under current NumPy; this is the recursion it meant.) Only values up to n_known are read from
    `series`: the rest of it only sets the length.
    """
    values = np.asarray(series, dtype=np.float64)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise ValueError(f"series must be 1-D (or (n, 1)), got shape {np.shape(series)}")
    n_known, window = int(n_known), int(window)
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    if not window <= n_known <= len(values):
        raise ValueError(f"n_known must lie between window ({window}) and len(series) ({len(values)}); "
                         f"got {n_known}")
    out = np.empty(len(values), dtype=np.float64)
    out[:n_known] = values[:n_known]
    for k in range(n_known, len(values)):
        x = out[k - window:k].reshape(1, window, 1)
        prediction = np.asarray(model.predict(x), dtype=np.float64)
        if prediction.size != 1:
            raise ValueError(f"model.predict on one window must give one value, got shape {prediction.shape}")
        out[k] = prediction.reshape(-1)[0]
    return out


def extrapolation_mse(series, predicted) -> float:
    """Mean squared error over ALL points, as the lecture prints it (the known points add zero error)."""
    a = np.asarray(series, dtype=np.float64).ravel()
    b = np.asarray(predicted, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"series and predicted must have the same length, got {a.size} and {b.size}")
    return float(np.mean(np.square(a - b)))


# --- 1-D convolution: polynomial products -------------------------------------------------------------

def polynomial_product(a, b):
    """Multiply two polynomials given by their coefficients, lowest power first.

    With a(x) = sum_i a_i x^i and b(x) = sum_j b_j x^j, the product has coefficients

        c_k = sum_i a_i b_{k-i},        k = 0, ..., len(a) + len(b) - 2,

    which is exactly the (full) discrete convolution c = a * b: multiplying polynomials *is* a 1-D
    convolution, the lecture's starting point. Since c depends linearly on b, it can also be written
    as a matrix product c = T b, where T is the (len(a)+len(b)-1) x len(b) Toeplitz matrix of a
    (T[k, j] = a_{k-j}: each column is a shifted copy of a, constant along every diagonal). A
    convolutional layer is such a sparse, weight-shared matrix.

    Example: (1 + 2x)(3 + x) = 3 + 7x + 2x^2, i.e. polynomial_product([1, 2], [3, 1]) gives [3, 7, 2].

    Returns (c, T) with c = np.convolve(a, b) and T @ b == c.
    """
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.size == 0 or b.size == 0:
        raise ValueError("both polynomials need at least one coefficient")
    coefficients = np.convolve(a, b)
    toeplitz = np.zeros((a.size + b.size - 1, b.size))
    for j in range(b.size):
        toeplitz[j:j + a.size, j] = a
    return coefficients, toeplitz


# --- 2-D cross-correlation and hand-made filters ------------------------------------------------------

def _pads(padding, n, k):
    """(before, after) zero padding for one axis; 'same' follows TensorFlow (extra at the end)."""
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return 0, 0
        if mode == "same":
            return (k - 1) // 2, k - 1 - (k - 1) // 2
        if mode == "full":
            return k - 1, k - 1
    elif isinstance(padding, (int, np.integer)) and not isinstance(padding, bool) and padding >= 0:
        return int(padding), int(padding)
    raise ValueError(f"padding must be 'valid', 'same', 'full' or a non-negative int; got {padding!r}")


def cross_correlate2d(image, kernel, padding="valid") -> np.ndarray:
    """Plain NumPy 2-D cross-correlation (what deep-learning libraries call convolution):

        out[p, q] = sum_{i, j} image_padded[p + i, q + j] * kernel[i, j]

    `image` is (H, W), `kernel` (kh, kw) (or a NamedFilter from EDGE_FILTERS). Padding with zeros:
    "valid" (none; output (H-kh+1, W-kw+1)), "same" (output (H, W); for an even kernel the extra row/column
    goes at the end, the TensorFlow rule that engine.functional.conv2d uses), "full", or an int p on
    every side. (A true convolution flips the kernel: cross_correlate2d(image, kernel[::-1, ::-1]).)
    """
    kernel = getattr(kernel, "kernel", kernel)
    img = np.asarray(image, dtype=np.float64)
    ker = np.asarray(kernel, dtype=np.float64)
    if img.ndim != 2 or ker.ndim != 2:
        raise ValueError(f"image and kernel must both be 2-D; got shapes {img.shape} and {ker.shape}")
    (t, b), (l, r) = _pads(padding, img.shape[0], ker.shape[0]), _pads(padding, img.shape[1], ker.shape[1])
    padded = np.pad(img, ((t, b), (l, r)))
    if padded.shape[0] < ker.shape[0] or padded.shape[1] < ker.shape[1]:
        raise ValueError(f"a {ker.shape[0]}x{ker.shape[1]} kernel does not fit a {img.shape[0]}x{img.shape[1]} "
                         f"image with padding {padding!r}")
    windows = np.lib.stride_tricks.sliding_window_view(padded, ker.shape)
    return np.einsum("pqij,ij->pq", windows, ker)


class NamedFilter(NamedTuple):
    """A hand-made 3x3 filter and what it does."""
    kernel: np.ndarray
    description: str


def _frozen(rows) -> np.ndarray:
    array = np.array(rows, dtype=np.float64)
    array.setflags(write=False)
    return array


EDGE_FILTERS: dict[str, NamedFilter] = {
    "vertical_edges": NamedFilter(
        _frozen([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]),
        "Sobel x: responds to vertical edges (intensity changing from left to right)"),
    "horizontal_edges": NamedFilter(
        _frozen([[-1, -2, -1], [0, 0, 0], [1, 2, 1]]),
        "Sobel y: responds to horizontal edges (intensity changing from top to bottom)"),
    "laplacian": NamedFilter(
        _frozen([[0, 1, 0], [1, -4, 1], [0, 1, 0]]),
        "Laplacian: responds to edges in every direction, zero on flat and linear regions"),
    "sharpen": NamedFilter(
        _frozen([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
        "Sharpen: the image minus its Laplacian, boosting edges and fine detail"),
    "box_blur": NamedFilter(
        _frozen(np.full((3, 3), 1.0 / 9.0)),
        "Box blur: the mean of the 3x3 neighbourhood, smoothing noise and detail"),
}
"""Hand-made 3x3 filters: name -> NamedFilter(kernel, description); use with cross_correlate2d or as
Conv2D weights (kernel[:, :, None, None])."""
