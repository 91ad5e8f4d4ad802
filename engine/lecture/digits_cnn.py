"""The lecture's first CNN: scikit-learn's 8x8 digits, Conv2D(10, 3x3, same) + MaxPool + Dense(50) + Dense(10),
L2 on the three kernels, SGD, 100 epochs of batch 100 (create_convolutional_neural_network_keras).

The lecture ran a grid over eta and lambda; with TF/Keras 2.11 `SGD(lr=eta)` silently kept the default
learning rate 0.01 (see the lecture-fidelity notes), so this single run uses eta = 0.01, lambda = 1e-4.

    python -m engine.lecture.digits_cnn [--epochs N] [--backend NAME] [--seed S]
"""
from __future__ import annotations

import argparse
import time

import engine
from engine import datasets, layers, optimizers, random, regularizers
from engine.models import Sequential


def create_convolutional_neural_network(input_shape, receptive_field, n_filters, n_neurons_connected,
                                        n_categories, eta, lmbd):
    model = Sequential()
    model.add(layers.Conv2D(n_filters, (receptive_field, receptive_field), input_shape=input_shape, padding="same",
                            activation="relu", kernel_regularizer=regularizers.l2(lmbd)))
    model.add(layers.MaxPooling2D(pool_size=(2, 2)))
    model.add(layers.Flatten())
    model.add(layers.Dense(n_neurons_connected, activation="relu", kernel_regularizer=regularizers.l2(lmbd)))
    model.add(layers.Dense(n_categories, activation="softmax", kernel_regularizer=regularizers.l2(lmbd)))
    sgd = optimizers.SGD(lr=eta)
    model.compile(loss="categorical_crossentropy", optimizer=sgd, metrics=["accuracy"])
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--backend", default="numpy", help=f"one of {', '.join(engine.available_backends())}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eta", type=float, default=0.01)
    parser.add_argument("--lmbd", type=float, default=1e-4)
    args = parser.parse_args(argv)
    try:
        engine.set_backend(args.backend)
    except engine.BackendUnavailable as exc:
        parser.error(str(exc))
    random.set_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = datasets.digits(train_fraction=0.8, seed=0)
    print(f"digits: {len(x_train)} training and {len(x_test)} test images of 8x8, backend {args.backend}")
    model = create_convolutional_neural_network(x_train.shape[1:4], 3, 10, 50, 10, args.eta, args.lmbd)
    model.summary()
    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=100, verbose=1)
    elapsed = time.perf_counter() - start
    train_loss, train_accuracy = model.evaluate(x_train, y_train)
    test_loss, test_accuracy = model.evaluate(x_test, y_test)
    print(f"trained {args.epochs} epochs in {elapsed:.1f}s")
    print(f"train accuracy {train_accuracy:.4f}  test accuracy {test_accuracy:.4f}  (test loss {test_loss:.4f})")


if __name__ == "__main__":
    main()
