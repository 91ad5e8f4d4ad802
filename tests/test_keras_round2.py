"""The last Keras differences (issue 11): the string activation "leaky_relu" has Keras's slope 0.2 (the
LeakyReLU layer keeps 0.3), and BatchNormalization(center=False / scale=False) creates no beta / gamma."""
import io

import numpy as np
import pytest

from engine import layers
from engine.layers import Activation, BatchNormalization, Conv2D, Dense, LeakyReLU
from engine.models import Sequential

X = np.array([[-2.0, -0.5, 0.0, 1.5]], dtype=np.float32)


@pytest.fixture(autouse=True)
def fresh_names():
    layers.reset_names()


def test_string_leaky_relu_uses_keras_slope_0_2():
    # keras.activations.leaky_relu(x) has negative_slope=0.2
    expected = np.where(X > 0, X, 0.2 * X)
    np.testing.assert_allclose(Activation("leaky_relu")(X).numpy(), expected, rtol=1e-6)
    dense = Dense(4, activation="leaky_relu", kernel_initializer=lambda shape, **_: np.eye(4, dtype=np.float32),
                  use_bias=False)
    np.testing.assert_allclose(dense(X).numpy(), expected, rtol=1e-6)


def test_conv_string_leaky_relu_uses_0_2():
    image = np.full((1, 1, 1, 1), -1.0, dtype=np.float32)
    conv = Conv2D(1, 1, activation="leaky_relu", kernel_initializer="ones", use_bias=False)
    np.testing.assert_allclose(conv(image).numpy().ravel(), [-0.2], rtol=1e-6)


def test_leaky_relu_layer_keeps_0_3():
    np.testing.assert_allclose(LeakyReLU()(X).numpy(), np.where(X > 0, X, 0.3 * X), rtol=1e-6)


def test_nn_option_leaky_relu_uses_0_2():
    from shell.interpreter import Session
    from shell.output import Output
    session = Session(Output(io.StringIO()))
    assert session.execute_source("model m input=(4,)\n  activation leaky_relu\n  dense 4 activation=leaky_relu\n"
                                  "end\n", "t.nn")
    model = session.models["m"].model
    model.layers[1].kernel.data[...] = np.eye(4, dtype=np.float32)
    model.layers[1].bias.data[...] = 0
    # two string leaky_relus in a row: 0.2 * 0.2 on negatives
    np.testing.assert_allclose(model.predict(X, verbose=0), np.where(X > 0, X, 0.04 * X), rtol=1e-5)


@pytest.mark.parametrize("center, scale, names", [
    (False, True, ["gamma", "moving_mean", "moving_variance"]),
    (True, False, ["beta", "moving_mean", "moving_variance"]),
    (False, False, ["moving_mean", "moving_variance"]),
    (True, True, ["gamma", "beta", "moving_mean", "moving_variance"]),
])
def test_batchnorm_center_scale_create_only_their_weights(center, scale, names):
    model = Sequential([Dense(3, input_shape=(4,)), BatchNormalization(center=center, scale=scale)])
    bn = model.layers[1]
    assert [w.name for w in bn.weights] == names
    assert bn.count_params() == 3 * len(names)
    assert len(bn.trainable_weights) == center + scale
    lines = []
    model.summary(print_fn=lines.append)
    assert f"Total params: {15 + 3 * len(names)}" in lines[0]
    assert "Non-trainable params: 6 " in lines[0]


def test_batchnorm_without_center_and_scale_trains_saves_and_loads(tmp_path):
    x = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)
    model = Sequential([Dense(3, input_shape=(4,)), BatchNormalization(center=False, scale=False), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, x[:, :1], epochs=1, batch_size=8, verbose=0)
    bn_out = model.layers[1](model.layers[0](x)).numpy()   # inference: moving statistics, no gamma/beta
    mean, var = model.layers[1].moving_mean.numpy(), model.layers[1].moving_variance.numpy()
    np.testing.assert_allclose(bn_out, (model.layers[0](x).numpy() - mean) / np.sqrt(var + 1e-3), rtol=1e-5)
    model.save_weights(tmp_path / "w.npz")
    assert len(np.load(tmp_path / "w.npz").files) == 2 + 2 + 2   # two Dense (kernel, bias) + moving stats
    again = Sequential([Dense(3, input_shape=(4,)), BatchNormalization(center=False, scale=False), Dense(1)])
    again.load_weights(tmp_path / "w.npz")
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_nn_batchnorm_center_and_scale_options():
    from shell.interpreter import Session
    from shell.output import Output
    session = Session(Output(io.StringIO()))
    assert session.execute_source("model g input=(8,)\n  dense 4\n  batchnorm center=false\n"
                                  "  batchnorm scale=false center=false\nend\n", "t.nn")
    bn, bn_1 = session.models["g"].model.layers[1:]
    assert [w.name for w in bn.weights] == ["gamma", "moving_mean", "moving_variance"]
    assert [w.name for w in bn_1.weights] == ["moving_mean", "moving_variance"]
    assert session.models["g"].model.count_params() == 36 + 12 + 8
