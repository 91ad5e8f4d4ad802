"""Every lecture model has Keras 3's parameter counts and summary (keras-semantics.md section 3)."""
import numpy as np
import pytest

from engine import layers, optimizers, regularizers
from engine.layers import (GRU, LSTM, BatchNormalization, Conv2D, Conv2DTranspose, Dense, Dropout, Flatten, Input,
                           LeakyReLU, MaxPooling2D, Reshape, SimpleRNN)
from engine.models import Model, Sequential

DIGITS_SUMMARY = """\
Model: "sequential"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━┓
┃ Layer (type)                         ┃ Output Shape                ┃         Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━┩
│ conv2d (Conv2D)                      │ (None, 8, 8, 10)            │             100 │
├──────────────────────────────────────┼─────────────────────────────┼─────────────────┤
│ max_pooling2d (MaxPooling2D)         │ (None, 4, 4, 10)            │               0 │
├──────────────────────────────────────┼─────────────────────────────┼─────────────────┤
│ flatten (Flatten)                    │ (None, 160)                 │               0 │
├──────────────────────────────────────┼─────────────────────────────┼─────────────────┤
│ dense (Dense)                        │ (None, 50)                  │           8,050 │
├──────────────────────────────────────┼─────────────────────────────┼─────────────────┤
│ dense_1 (Dense)                      │ (None, 10)                  │             510 │
└──────────────────────────────────────┴─────────────────────────────┴─────────────────┘
 Total params: 8,660 (33.83 KB)
 Trainable params: 8,660 (33.83 KB)
 Non-trainable params: 0 (0.00 B)"""


@pytest.fixture(autouse=True)
def fresh_names():
    layers.reset_names()  # Keras numbers names per session: start each test at "sequential", "dense"


def summary_text(model):
    lines = []
    model.summary(print_fn=lines.append)
    return lines[0]


def digits_cnn(padding="same", lmbd=1e-4):
    return Sequential([
        Conv2D(10, (3, 3), input_shape=(8, 8, 1), padding=padding, activation="relu",
               kernel_regularizer=regularizers.l2(lmbd)),
        MaxPooling2D(pool_size=(2, 2)),
        Flatten(),
        Dense(50, activation="relu", kernel_regularizer=regularizers.l2(lmbd)),
        Dense(10, activation="softmax", kernel_regularizer=regularizers.l2(lmbd)),
    ])


def test_digits_cnn_summary_is_keras_text():
    model = digits_cnn()
    assert model.count_params() == 8660
    assert summary_text(model) == DIGITS_SUMMARY


def test_digits_cnn_with_valid_padding_is_a_different_model():
    model = digits_cnn(padding="valid")
    assert [layer.output_shape for layer in model.layers] == [
        (None, 6, 6, 10), (None, 3, 3, 10), (None, 90), (None, 50), (None, 10)]
    assert model.count_params() == 5160


def test_cifar_cnn_counts_before_and_after_the_head():
    model = Sequential()
    model.add(Conv2D(32, (3, 3), activation="relu", input_shape=(32, 32, 3)))
    model.add(MaxPooling2D((2, 2)))
    model.add(Conv2D(64, (3, 3), activation="relu"))
    model.add(MaxPooling2D((2, 2)))
    model.add(Conv2D(64, (3, 3), activation="relu"))
    assert [layer.count_params() for layer in model.layers] == [896, 0, 18496, 0, 36928]
    assert model.count_params() == 56320
    assert " Total params: 56,320 (220.00 KB)" in summary_text(model)
    model.add(Flatten())
    model.add(Dense(64, activation="relu"))
    model.add(Dense(10))
    assert model.output_shape == (None, 10)
    assert model.layers[5].output_shape == (None, 1024)
    assert model.count_params() == 122570
    assert " Total params: 122,570 (478.79 KB)" in summary_text(model)


def sine_rnn():
    model = Sequential()
    model.add(SimpleRNN(units=32, input_shape=(1, 4), activation="relu"))
    model.add(Dense(8, activation="relu"))
    model.add(Dense(1))
    model.compile(loss="mean_squared_error", optimizer="rmsprop")
    return model


def test_sine_rnn_counts_and_optimizer_params_after_fit():
    model = sine_rnn()
    assert [layer.count_params() for layer in model.layers] == [1184, 264, 9]
    assert model.count_params() == 1457
    assert "Optimizer params" not in summary_text(model)
    model.fit(np.zeros((4, 1, 4)), np.zeros(4), epochs=1, verbose=0)
    text = summary_text(model)
    assert " Total params: 2,916 (11.39 KB)" in text
    assert " Optimizer params: 1,459 (5.70 KB)" in text


def functional(length, *hidden):
    inp = Input(batch_shape=(None, length, 1))
    x = inp
    for layer in hidden:
        x = layer(x)
    return Model(inputs=[inp], outputs=[Dense(1, name="dense")(x)])


@pytest.mark.parametrize("length", [1, 2])
def test_rnn_functional_model(length):
    model = functional(length, SimpleRNN(200, return_sequences=False, name="RNN"))
    assert model.count_params() == 40601
    text = summary_text(model)
    assert 'Model: "functional"' in text
    assert f"│ input_layer (InputLayer)             │ (None, {length}, 1)" in text
    assert "│ RNN (SimpleRNN)                      │ (None, 200)                 │          40,400 │" in text
    assert " Total params: 40,601 (158.60 KB)" in text


def test_rnn_2layers():
    model = functional(2, SimpleRNN(500, return_sequences=True, activation="sigmoid", name="RNN1"),
                       SimpleRNN(500, activation="sigmoid", name="RNN2"))
    assert [layer.count_params() for layer in model.layers] == [251000, 500500, 501]
    assert model.layers[0].output_shape == (None, 2, 500)
    assert model.count_params() == 752001
    assert " Total params: 752,001 (2.87 MB)" in summary_text(model)


def test_lstm_2layers():
    model = functional(2, LSTM(250, return_sequences=True, name="RNN", activation="tanh"), LSTM(250, name="RNN1"))
    assert [layer.count_params() for layer in model.layers] == [252000, 501000, 251]
    assert model.count_params() == 753251
    bias = model.layers[0].bias.numpy()
    assert np.all(bias[250:500] == 1) and np.all(bias[:250] == 0) and np.all(bias[500:] == 0)  # unit_forget_bias


def test_dnn2_gru2_with_integer_units():
    model = functional(2, Dense(250 // 2, activation="relu", name="dnn"), Dense(250 // 2, activation="relu", name="dnn1"),
                       GRU(250, return_sequences=True, name="RNN1"), GRU(250, name="RNN"))
    assert [layer.count_params() for layer in model.layers] == [250, 15750, 282750, 376500, 251]
    assert model.layers[0].output_shape == (None, 2, 125)
    assert model.layers[2].bias.shape == (2, 750)
    assert model.count_params() == 675501


def test_lecture_float_units_bug_is_a_clear_error():
    with pytest.raises(ValueError, match=r"units must be a positive integer, got 125.0.*//"):
        Dense(250 / 2)


def generator():
    model = Sequential()
    model.add(Dense(7 * 7 * 256, use_bias=False, input_shape=(100,)))
    model.add(BatchNormalization())
    model.add(LeakyReLU())
    model.add(Reshape((7, 7, 256)))
    model.add(Conv2DTranspose(128, (5, 5), strides=(1, 1), padding="same", use_bias=False))
    model.add(BatchNormalization())
    model.add(LeakyReLU())
    model.add(Conv2DTranspose(64, (5, 5), strides=(2, 2), padding="same", use_bias=False))
    model.add(BatchNormalization())
    model.add(LeakyReLU())
    model.add(Conv2DTranspose(1, (5, 5), strides=(2, 2), padding="same", use_bias=False, activation="tanh"))
    return model


def test_gan_generator():
    model = generator()
    shapes = [layer.output_shape for layer in model.layers]
    assert shapes[3] == (None, 7, 7, 256) and shapes[4] == (None, 7, 7, 128)
    assert shapes[7] == (None, 14, 14, 64) and shapes[10] == (None, 28, 28, 1)
    assert model.count_params() == 2330944
    assert sum(w.size for w in model.non_trainable_weights) == 25472
    text = summary_text(model)
    assert " Total params: 2,330,944 (8.89 MB)" in text
    assert " Trainable params: 2,305,472 (8.79 MB)" in text
    assert " Non-trainable params: 25,472 (99.50 KB)" in text
    assert "│ conv2d_transpose_1 (Conv2DTranspose)" in text
    assert "│ leaky_re_lu (LeakyReLU)" in text
    assert "│ batch_normalization                  │" in text  # too wide for the column: Rich wraps it, as in Keras
    assert "│ (BatchNormalization)                 │" in text


def test_gan_discriminator():
    model = Sequential([
        Conv2D(64, (5, 5), strides=(2, 2), padding="same", input_shape=[28, 28, 1]), LeakyReLU(), Dropout(0.3),
        Conv2D(128, (5, 5), strides=(2, 2), padding="same"), LeakyReLU(), Dropout(0.3),
        Flatten(), Dense(1),
    ])
    assert [layer.output_shape for layer in model.layers][::3] == [(None, 14, 14, 64), (None, 7, 7, 128), (None, 6272)]
    assert model.count_params() == 212865
    assert " Total params: 212,865 (831.50 KB)" in summary_text(model)


def test_auto_names_count_per_class():
    a, b, c = Dense(1), Dense(1), Conv2D(1, 1)
    assert (a.name, b.name, c.name) == ("dense", "dense_1", "conv2d")
    assert Sequential().name == "sequential" and Sequential().name == "sequential_1"


def test_adam_optimizer_params_in_summary():
    model = Sequential([Dense(3, input_shape=(2,))])
    model.compile(optimizer=optimizers.Adam(), loss="mse")
    model.fit(np.ones((2, 2)), np.ones((2, 3)), verbose=0)
    assert " Optimizer params: 20 (80.00 B)" in summary_text(model)  # 2 * 9 + 2
