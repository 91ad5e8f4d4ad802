"""engine.lecture.experiments: the grid search, the lecture's recursive extrapolation, polynomial products as
convolutions, and the NumPy 2-D cross-correlation with its hand-made filters."""
import numpy as np
import pytest

from engine import functional, layers, optimizers, random, regularizers
from engine.models import Sequential
from engine.lecture.experiments import (EDGE_FILTERS, cross_correlate2d, extrapolate, extrapolation_mse,
                                      grid_search, polynomial_product)


# --- grid search --------------------------------------------------------------------------------------

def test_grid_search_fills_both_matrices_and_reports_every_cell():
    random.set_seed(0)
    layers.reset_names()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4)).astype(np.float32)
    labels = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0).astype(int)
    y = np.eye(3, dtype=np.float32)[labels]
    built = []

    def build(eta, lmbd):
        built.append((eta, lmbd))
        model = Sequential([layers.Dense(3, activation="softmax", input_shape=(4,),
                                         kernel_regularizer=regularizers.l2(lmbd))])
        model.compile(optimizer=optimizers.SGD(learning_rate=eta), loss="categorical_crossentropy",
                      metrics=["accuracy"])
        return model

    cells = []
    result = grid_search(build, x[:30], y[:30], x[30:], y[30:], etas=[1e-3, 1e-1], lambdas=[1e-4, 1e-2],
                         epochs=2, batch_size=10, on_cell=lambda *args: cells.append(args))
    assert built == [(1e-3, 1e-4), (1e-3, 1e-2), (1e-1, 1e-4), (1e-1, 1e-2)]  # rows eta, columns lambda
    for key in ("train_accuracy", "test_accuracy"):
        assert result[key].shape == (2, 2)
        assert np.all((result[key] >= 0) & (result[key] <= 1))
    assert [(i, j) for i, j, _, _ in cells] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    i, j, train_acc, test_acc = cells[2]
    assert train_acc == result["train_accuracy"][1, 0] and test_acc == result["test_accuracy"][1, 0]
    np.testing.assert_array_equal(result["etas"], [1e-3, 1e-1])
    np.testing.assert_array_equal(result["lambdas"], [1e-4, 1e-2])


def test_grid_search_reads_the_lecture_index_1_and_demands_an_accuracy_metric():
    class Stub:
        def __init__(self, eta, lmbd, answer):
            self.eta, self.lmbd, self.answer = eta, lmbd, answer

        def fit(self, x, y, epochs, batch_size, verbose):
            assert verbose == 0 and epochs == 3 and batch_size == 5

        def evaluate(self, x, y, verbose=0):
            return self.answer(self, x)

    result = grid_search(lambda e, l: Stub(e, l, lambda s, x: [np.nan, s.eta + s.lmbd + len(x) / 100]),
                         np.zeros(10), None, np.zeros(20), None, [0.1, 0.2], [0.01], epochs=3, batch_size=5)
    np.testing.assert_allclose(result["train_accuracy"], [[0.21], [0.31]])
    np.testing.assert_allclose(result["test_accuracy"], [[0.31], [0.41]])
    with pytest.raises(ValueError, match="accuracy"):
        grid_search(lambda e, l: Stub(e, l, lambda s, x: 0.5), np.zeros(2), None, np.zeros(2), None,
                    [0.1], [0.1], epochs=3, batch_size=5)


# --- recursive extrapolation --------------------------------------------------------------------------

class MeanModel:
    """A stand-in for a trained RNN: predicts the mean of its input window; records what it was given."""

    def __init__(self):
        self.inputs = []

    def predict(self, x):
        self.inputs.append(np.array(x))
        return np.array([[x.mean()]])


def test_extrapolate_feeds_each_prediction_back_as_the_newest_input():
    series = np.array([1.0, 3.0, 5.0, 100.0, 100.0, 100.0])
    model = MeanModel()
    out = extrapolate(model, series, n_known=3, window=2)
    # known: 1, 3, 5; then mean(3, 5) = 4; mean(5, 4) = 4.5; mean(4, 4.5) = 4.25
    np.testing.assert_array_equal(out, [1.0, 3.0, 5.0, 4.0, 4.5, 4.25])
    assert len(model.inputs) == 3
    assert all(x.shape == (1, 2, 1) for x in model.inputs)
    np.testing.assert_array_equal(model.inputs[0].ravel(), [3.0, 5.0])   # [[y_{n-2}], [y_{n-1}]]
    np.testing.assert_array_equal(model.inputs[1].ravel(), [5.0, 4.0])   # [[y_{k-1}], [ŷ_k]]
    np.testing.assert_array_equal(model.inputs[2].ravel(), [4.0, 4.5])   # only predictions now
    assert extrapolation_mse(series, out) == pytest.approx(((96.0 ** 2) + (95.5 ** 2) + (95.75 ** 2)) / 6)


def test_extrapolate_keeps_the_known_values_and_checks_its_arguments():
    series = np.linspace(-0.03, -1.7, 20)
    out = extrapolate(MeanModel(), series, n_known=12, window=3)
    assert out.shape == (20,)
    np.testing.assert_array_equal(out[:12], series[:12])
    np.testing.assert_array_equal(extrapolate(MeanModel(), series, n_known=20, window=2), series)
    with pytest.raises(ValueError, match="n_known"):
        extrapolate(MeanModel(), series, n_known=1, window=2)
    with pytest.raises(ValueError, match="same length"):
        extrapolation_mse(series, series[:-1])


# --- polynomial products as convolutions --------------------------------------------------------------

def test_polynomial_product_is_a_convolution_and_a_toeplitz_product():
    c, T = polynomial_product([1, 2], [3, 1])  # (1 + 2x)(3 + x) = 3 + 7x + 2x^2
    np.testing.assert_array_equal(c, [3, 7, 2])
    np.testing.assert_array_equal(T, [[1, 0], [2, 1], [0, 2]])
    np.testing.assert_array_equal(T @ np.array([3, 1]), c)

    rng = np.random.default_rng(3)
    a, b = rng.normal(size=4), rng.normal(size=6)
    c, T = polynomial_product(a, b)
    assert T.shape == (9, 6)
    np.testing.assert_allclose(T @ b, c)
    np.testing.assert_allclose(c, np.polynomial.polynomial.polymul(a, b))
    for k in range(-8, 6):  # constant along every diagonal
        assert np.ptp(np.diagonal(T, k)) == 0


# --- 2-D cross-correlation ----------------------------------------------------------------------------

@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("kernel_shape", [(3, 3), (2, 4)])
def test_cross_correlate2d_equals_engine_conv2d(padding, kernel_shape):
    rng = np.random.default_rng(4)
    image, kernel = rng.normal(size=(7, 9)), rng.normal(size=kernel_shape)
    ours = cross_correlate2d(image, kernel, padding)
    engine_out = functional.conv2d(image[None, :, :, None], kernel[:, :, None, None], padding=padding).numpy()
    assert ours.shape == engine_out.shape[1:3]
    np.testing.assert_allclose(ours, engine_out[0, :, :, 0], rtol=1e-5, atol=1e-5)


def test_cross_correlate2d_by_hand_and_other_paddings():
    image = np.arange(9.0).reshape(3, 3)
    kernel = np.array([[1.0, 0.0], [0.0, -1.0]])
    np.testing.assert_array_equal(cross_correlate2d(image, kernel), [[-4, -4], [-4, -4]])
    assert cross_correlate2d(image, kernel, "full").shape == (4, 4)
    assert cross_correlate2d(image, kernel, 1).shape == (4, 4)
    with pytest.raises(ValueError, match="padding"):
        cross_correlate2d(image, kernel, "reflect")
    with pytest.raises(ValueError, match="does not fit"):
        cross_correlate2d(image, np.ones((4, 4)))


def test_edge_filters_respond_to_the_right_edges():
    assert set(EDGE_FILTERS) == {"vertical_edges", "horizontal_edges", "laplacian", "sharpen", "box_blur"}
    for f in EDGE_FILTERS.values():
        assert f.kernel.shape == (3, 3) and f.description
        assert not f.kernel.flags.writeable
    vertical_edge = np.zeros((8, 8))
    vertical_edge[:, 4:] = 1.0  # dark left half, bright right half
    horizontal_edge = vertical_edge.T.copy()
    sobel_x, sobel_y = EDGE_FILTERS["vertical_edges"], EDGE_FILTERS["horizontal_edges"]
    assert np.abs(cross_correlate2d(vertical_edge, sobel_x)).max() == pytest.approx(4.0)
    assert np.abs(cross_correlate2d(horizontal_edge, sobel_x)).max() == 0.0
    assert np.abs(cross_correlate2d(horizontal_edge, sobel_y)).max() == pytest.approx(4.0)
    assert np.abs(cross_correlate2d(vertical_edge, sobel_y)).max() == 0.0
    response = cross_correlate2d(vertical_edge, sobel_x)
    assert np.all(response[:, 2:4] == 4.0) and np.all(response[:, [0, 1, 4, 5]] == 0.0)  # only at the edge
    flat = np.full((5, 5), 2.0)
    assert np.all(cross_correlate2d(flat, EDGE_FILTERS["laplacian"]) == 0.0)
    np.testing.assert_allclose(cross_correlate2d(flat, EDGE_FILTERS["box_blur"]), 2.0)
    np.testing.assert_allclose(cross_correlate2d(flat, EDGE_FILTERS["sharpen"].kernel), 2.0)
