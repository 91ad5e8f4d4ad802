"""Training through the Python API: Keras's fit semantics, errors that say what is wrong, and the digits CNN."""
import numpy as np
import pytest

import engine
from engine import datasets, layers, optimizers, random, regularizers
from engine.layers import Dense, Input, ShapeError, SimpleRNN
from engine.models import Model, ModelError, Sequential
from engine.tools.gradcheck import check_gradients
from engine.training import Callback


@pytest.fixture(autouse=True)
def seeded():
    random.set_seed(0)
    layers.reset_names()


def digits_cnn(eta=0.01, lmbd=1e-4):
    model = Sequential([
        layers.Conv2D(10, (3, 3), input_shape=(8, 8, 1), padding="same", activation="relu",
                      kernel_regularizer=regularizers.l2(lmbd)),
        layers.MaxPooling2D((2, 2)),
        layers.Flatten(),
        layers.Dense(50, activation="relu", kernel_regularizer=regularizers.l2(lmbd)),
        layers.Dense(10, activation="softmax", kernel_regularizer=regularizers.l2(lmbd)),
    ])
    model.compile(optimizer=optimizers.SGD(lr=eta), loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def test_digits_cnn_reaches_95_percent_on_the_held_out_fifth():
    (x_train, y_train), (x_test, y_test) = datasets.digits()
    model = digits_cnn()
    history = model.fit(x_train, y_train, epochs=100, batch_size=100, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    loss, accuracy = model.evaluate(x_test, y_test)
    assert accuracy >= 0.95


def tiny_regression(units=3):
    model = Sequential([Dense(units, activation="tanh", input_shape=(2,)), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_history_keys_epochs_and_validation_split_takes_the_last_samples():
    x = np.arange(20, dtype=float).reshape(10, 2) / 20
    y = x.sum(axis=1)
    model = tiny_regression()
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    seen = []

    class Record(Callback):
        def on_batch_end(self, batch, logs=None):
            seen.append(batch)

    history = model.fit(x, y, epochs=3, batch_size=4, validation_split=0.05, verbose=0, callbacks=[Record()])
    assert list(history.history) == ["loss", "mae", "val_loss", "val_mae"]
    assert history.epoch == [0, 1, 2]
    assert seen == [0, 1, 2] * 3  # floor(10 * 0.95) = 9 training samples: batches of 4, 4, 1
    val_loss, _ = model.evaluate(x[9:], y[9:])
    assert history.history["val_loss"][-1] == pytest.approx(val_loss)


def test_epoch_loss_is_the_batch_size_weighted_mean_before_each_update():
    x = np.linspace(-1, 1, 10).reshape(5, 2)
    y = np.array([1.0, 0.0, 1.0, 0.5, 0.2])
    model = tiny_regression()
    before = model.get_weights()
    history = model.fit(x, y, epochs=1, batch_size=3, shuffle=False, verbose=0)
    model.set_weights(before)
    first = model.evaluate(x[:3], y[:3], batch_size=3)
    model.train_step(model.prepare_inputs(x[:3]), model.prepare_targets(y[:3]))
    second = model.evaluate(x[3:], y[3:])
    assert history.history["loss"][0] == pytest.approx((3 * first + 2 * second) / 5, rel=1e-6)


def test_l2_penalty_is_added_to_loss_and_gradient():
    model = Sequential([Dense(2, use_bias=False, kernel_initializer="ones", kernel_regularizer=regularizers.l2(0.5),
                              input_shape=(3,))])
    model.compile(optimizer=optimizers.SGD(learning_rate=0.1), loss="mse")
    assert model.evaluate(np.zeros((4, 3)), np.zeros((4, 2))) == pytest.approx(3.0)  # 0.5 * sum(ones(3, 2))
    model.fit(np.zeros((4, 3)), np.zeros((4, 2)), epochs=1, verbose=0)
    np.testing.assert_allclose(model.get_weights()[0], np.full((3, 2), 1 - 0.1 * 2 * 0.5 * 1), rtol=1e-6)


def test_fused_softmax_loss_equals_the_probability_formula():
    x = np.random.default_rng(1).normal(size=(6, 4))
    y = np.eye(3)[[0, 1, 2, 0, 1, 2]]
    model = Sequential([Dense(3, activation="softmax", input_shape=(4,))])
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    probs = model.predict(x)
    expected = -np.mean(np.sum(y * np.log(probs), axis=1))
    assert model.evaluate(x, y) == pytest.approx(expected, rel=1e-5)


def test_sparse_labels_and_binary_accuracy_are_resolved_from_shapes():
    x = np.random.default_rng(2).normal(size=(8, 3))
    model = Sequential([Dense(4, input_shape=(3,))])
    model.compile(optimizer="adam", loss=engine.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    labels = np.array([0, 1, 2, 3, 0, 1, 2, 3])
    loss, accuracy = model.evaluate(x, labels)
    assert accuracy == pytest.approx(np.mean(model.predict(x).argmax(1) == labels))
    binary = Sequential([Dense(1, activation="sigmoid", input_shape=(3,))])
    binary.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    y = np.array([0, 1, 1, 0, 1, 0, 0, 1], dtype=float)
    _, accuracy = binary.evaluate(x, y)
    assert accuracy == pytest.approx(np.mean((binary.predict(x)[:, 0] > 0.5) == y))


def test_stop_training_after_a_batch_keeps_finished_epochs():
    model = tiny_regression()

    class StopInSecondEpoch(Callback):
        def on_batch_end(self, batch, logs=None):
            if len(self.model.history.epoch) == 1 and batch == 0:
                self.model.stop_training = True

    history = model.fit(np.ones((8, 2)), np.ones(8), epochs=5, batch_size=2, verbose=0,
                        callbacks=[StopInSecondEpoch()])
    assert history.epoch == [0] and history.stopped_early
    assert model.history is history


def test_keyboard_interrupt_keeps_model_and_history():
    model = tiny_regression()

    class Interrupt(Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        model.fit(np.ones((4, 2)), np.ones(4), epochs=5, verbose=0, callbacks=[Interrupt()])
    assert model.history.epoch == [0, 1]
    assert len(model.history.history["loss"]) == 2
    model.predict(np.ones((1, 2)))  # the model is still usable


def test_clear_errors_for_user_mistakes():
    model = Sequential([Dense(2, input_shape=(3,))])
    with pytest.raises(ModelError, match="not compiled"):
        model.fit(np.ones((2, 3)), np.ones((2, 2)), verbose=0)
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ShapeError, match=r"expects input shape \(None, 3\), got data of shape \(None, 4\)"):
        model.fit(np.ones((2, 4)), np.ones((2, 2)), verbose=0)
    with pytest.raises(ValueError, match="x has 2 samples but y has 3"):
        model.fit(np.ones((2, 3)), np.ones((3, 2)), verbose=0)
    with pytest.raises(ValueError, match="validation_split=0.6 leaves no samples"):
        model.fit(np.ones((2, 3)), np.ones((2, 2)), validation_split=0.6, verbose=0)
    with pytest.raises(ValueError, match="unknown loss 'crossentropy'"):
        model.compile(optimizer="sgd", loss="crossentropy")
    with pytest.raises(ValueError, match="unknown metric"):
        model.compile(optimizer="sgd", loss="mse", metrics=["precision@k"])
    with pytest.raises(ValueError, match="unknown optimizer|adamw"):
        model.compile(optimizer="adamw", loss="mse")


def test_a_layer_that_does_not_fit_fails_when_added_naming_layer_and_shapes():
    model = Sequential([layers.Conv2D(4, 3, input_shape=(8, 8, 1))])
    with pytest.raises(ShapeError, match=r"layer 'simple_rnn' \(SimpleRNN\) cannot take input shape \(None, 6, 6, 4\)"):
        model.add(SimpleRNN(3))
    with pytest.raises(ShapeError, match=r"'conv2d_1' \(Conv2D\).*\(None, 6, 6, 4\).*does not fit"):
        model.add(layers.Conv2D(4, 7))
    model.add(layers.Flatten())
    assert model.output_shape == (None, 144)


def test_functional_model_adds_a_missing_last_axis_like_keras():
    inp = Input(batch_shape=(None, 1, 1))
    model = Model(inputs=[inp], outputs=[Dense(1)(SimpleRNN(4)(inp))])
    model.compile(optimizer="adam", loss="mse")
    x = np.arange(12, dtype=float).reshape(12, 1) / 12
    history = model.fit(x, x * 2, epochs=2, validation_split=0.05, verbose=0)
    assert len(history.history["val_loss"]) == 2
    assert model.predict(x).shape == (12, 1)


def test_sequential_accepts_an_input_first_and_builds_lazily_otherwise():
    with_input = Sequential([Input(shape=(3,)), Dense(2)])
    assert with_input.output_shape == (None, 2) and with_input.count_params() == 8
    lazy = Sequential([Dense(2)])
    with pytest.raises(ModelError, match="not built"):
        lazy.count_params()
    assert lazy.predict(np.ones((5, 7))).shape == (5, 2)
    assert lazy.count_params() == 16


def test_save_and_load_weights_round_trip_without_pickle(tmp_path):
    model = digits_cnn()
    path = tmp_path / "digits.npz"
    model.save_weights(path)
    x = datasets.digits()[1][0][:5]
    expected = model.predict(x)
    random.set_seed(1)
    other = digits_cnn()
    assert not np.allclose(other.predict(x), expected)
    other.load_weights(path)
    np.testing.assert_allclose(other.predict(x), expected, rtol=1e-6)
    with np.load(path, allow_pickle=False) as archive:
        assert archive.files[0] == "000.conv2d/kernel"


def test_load_weights_into_a_different_model_is_a_clear_error(tmp_path):
    path = tmp_path / "w.npz"
    Sequential([Dense(2, input_shape=(3,))]).save_weights(path)
    with pytest.raises(ModelError, match=r"has shape \(4, 2\), got \(3, 2\)"):
        Sequential([Dense(2, input_shape=(4,))]).load_weights(path)
    with pytest.raises(ModelError, match="cannot read weights"):
        Sequential([Dense(2, input_shape=(4,))]).load_weights(tmp_path / "missing.npz")


def test_batch_norm_layer_trains_with_batch_stats_and_predicts_with_moving_ones():
    bn = layers.BatchNormalization()
    x = np.random.default_rng(3).normal(2.0, 3.0, size=(16, 4)).astype(np.float32)
    y = bn(x, training=True).numpy()
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.01 * x.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), 0.99 + 0.01 * x.var(axis=0), rtol=1e-5)
    inference = bn(x, training=False).numpy()
    expected = (x - bn.moving_mean.numpy()) / np.sqrt(bn.moving_variance.numpy() + 1e-3)
    np.testing.assert_allclose(inference, expected, rtol=1e-5)


def test_dropout_layer_only_acts_while_training():
    drop = layers.Dropout(0.3, seed=1)
    x = np.ones((200, 50), dtype=np.float32)
    np.testing.assert_array_equal(drop(x).numpy(), x)
    y = drop(x, training=True).numpy()
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.7)}
    assert abs((y == 0).mean() - 0.3) < 0.02


@pytest.mark.parametrize("make", [
    lambda: layers.Conv2D(3, (3, 2), strides=2, padding="same", activation="tanh", dtype="float64"),
    lambda: layers.Conv2DTranspose(2, 3, strides=2, padding="same", activation="sigmoid", dtype="float64"),
    lambda: layers.SimpleRNN(3, return_sequences=True, dtype="float64"),
    lambda: layers.LSTM(3, dtype="float64"),
    lambda: layers.GRU(3, return_sequences=True, dtype="float64"),
    lambda: layers.Dense(3, activation="softmax", dtype="float64"),
], ids=["conv2d", "conv2d_transpose", "simple_rnn", "lstm", "gru", "dense"])
def test_layer_gradients_with_respect_to_input_and_every_weight(make):
    layer = make()
    shape = (2, 4, 5) if isinstance(layer, (layers.SimpleRNN, layers.Dense)) else (2, 5, 4, 2)
    x = np.random.default_rng(4).normal(size=shape)
    layer(x)  # build
    weights = [w.numpy() for w in layer.weights]

    attributes = [next(name for name, value in vars(layer).items() if value is w) for w in layer.weights]

    def run(x_t, *ws):  # the layer computes with the tensors under test in place of its own weights
        for name, w in zip(attributes, ws):
            setattr(layer, name, w)
        return layer(x_t)

    check_gradients(run, [x, *weights], tol=1e-6)


def test_targets_that_do_not_fit_the_output_name_both_shapes():
    model = Sequential([layers.Conv2D(10, 3, padding="same", input_shape=(8, 8, 1))])
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    with pytest.raises(ValueError, match=r"targets have shape \(4, 10\) but the model's output has shape \(4, 8, 8, 10\)"):
        model.fit(np.ones((4, 8, 8, 1)), np.eye(10)[:4], verbose=0)
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="mean_squared_error: the targets have shape"):
        model.evaluate(np.ones((4, 8, 8, 1)), np.ones((4, 3)))
