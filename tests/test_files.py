"""Users' files are safe (issue 9), the engine side: one atomic way to write, all-or-nothing loads,
checkpoints that resume exactly, and divergence that stops with the last finite weights."""
from __future__ import annotations

import os
import random as pyrandom
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import engine
from engine import files, layers, optimizers, random
from engine.files import FileError
from engine.models import ModelError, Sequential, TrainingDiverged
from engine.training import Callback

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def seeded():
    random.set_seed(0)
    layers.reset_names()


def small_model(optimizer="adam", dropout=True, seed=1):
    random.set_seed(seed)
    stack = [layers.Dense(8, input_shape=(4,), activation="relu")]
    if dropout:
        stack.append(layers.Dropout(0.25))
    stack += [layers.BatchNormalization(), layers.Dense(3, activation="softmax")]
    model = Sequential(stack)
    model.compile(optimizer=optimizers.get(optimizer), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def small_data(n=96):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 4)).astype(np.float32), rng.integers(0, 3, n)


# --------------------------------------------------------------------------------------------------
# One way to write a file
# --------------------------------------------------------------------------------------------------

def test_write_file_replaces_atomically_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "t.csv"
    files.write_text(target, "a\n", "table")
    files.write_text(target, "b\n", "table")
    assert target.read_text() == "b\n"
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "t.csv"
    target.write_text("old\n")

    def half_then_fail(handle):
        handle.write(b"new, half")
        raise RuntimeError("disk full")
    with pytest.raises(RuntimeError):
        files.write_file(target, half_then_fail, "table")
    assert target.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["t.csv"]


@pytest.mark.parametrize("kind, name", [("weights", "w.txt"), ("weights", ".bashrc"), ("session", "s.sh"),
                                        ("plot", "p.exe"), ("table", "t.py"), ("checkpoint", "c.nn"),
                                        ("session", "profile"), ("plot", "x.png.sh")])
def test_write_file_refuses_a_foreign_suffix(tmp_path, kind, name):
    with pytest.raises(FileError, match=rf"cannot write .*{name}: a .* must have a name ending in"):
        files.write_text(tmp_path / name, "x", kind)
    assert not (tmp_path / name).exists()


def test_write_file_refuses_symlinks_specials_folders_and_unasked_overwrites(tmp_path):
    victim = tmp_path / "victim.csv"
    victim.write_text("precious\n")
    link = tmp_path / "link.csv"
    link.symlink_to(victim)
    with pytest.raises(FileError, match="symbolic link"):
        files.write_text(link, "evil\n", "table")
    assert victim.read_text() == "precious\n" and link.is_symlink()
    os.mkfifo(tmp_path / "pipe.csv")
    with pytest.raises(FileError, match=r"named pipe \(FIFO\), not a file"):
        files.write_text(tmp_path / "pipe.csv", "x", "table")
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(FileError, match="a folder, not a file"):
        files.write_text(tmp_path / "dir.csv", "x", "table")
    with pytest.raises(files.OverwriteRefused, match="already exists"):
        files.write_text(victim, "x", "table", overwrite=False)
    assert victim.read_text() == "precious\n"
    with pytest.raises(FileError, match="the folder .*new does not exist"):
        files.write_text(tmp_path / "new" / "t.csv", "x", "table")
    files.write_text(tmp_path / "new" / "t.csv", "x", "table", create_folders=True)
    with pytest.raises(FileError, match="control characters"):
        files.write_text(tmp_path / "a\nb.csv", "x", "table")


KILL_CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    from engine import layers
    from engine.models import Sequential
    model = Sequential([layers.Dense(512, input_shape=(512,)), layers.Dense(512)])
    path, version = sys.argv[1], 0
    while True:
        version += 1
        model.set_weights([np.full(w.shape, version, np.float32) for w in model.weights])
        model.save_weights(path)
        if version == 1:
            print("saved", flush=True)
""")


def test_kill_9_during_save_weights_leaves_the_old_or_the_complete_new_file(tmp_path):
    """A process killed at random moments while saving (kill -9, 24 times) always leaves a weights file that
    loads whole and holds one version of every array: the old one or the complete new one."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    model = Sequential([layers.Dense(512, input_shape=(512,)), layers.Dense(512)])
    rng = pyrandom.Random(9)
    trials, versions = 24, []
    for batch in range(trials // 4):             # four children at a time keep the test short
        children = []
        for k in range(4):
            path = tmp_path / f"w{batch}_{k}.npz"
            child = subprocess.Popen([sys.executable, "-c", KILL_CHILD, str(path)], env=env, cwd=ROOT,
                                     stdout=subprocess.PIPE, text=True)
            children.append((child, path))
        for child, path in children:
            assert child.stdout.readline().strip() == "saved"
            time.sleep(rng.uniform(0.0, 0.25))
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
            child.stdout.close()
            model.load_weights(path)           # complete and readable: raises otherwise
            arrays = model.get_weights()
            version = arrays[0].flat[0]
            assert version >= 1 and all(np.all(a == version) for a in arrays), "a mix of two saves"
            versions.append(int(version))
    assert len(versions) == trials
    assert len(set(versions)) > 1, "the kills never landed after a second save"


# --------------------------------------------------------------------------------------------------
# Loads are all or nothing
# --------------------------------------------------------------------------------------------------

def test_set_weights_copies_and_checks_everything_before_assigning():
    model = small_model()
    mine = [np.ones(w.shape, np.float32) for w in model.weights]
    model.set_weights(mine)
    x, y = small_data()
    model.fit(x, y, epochs=1, verbose=0)
    assert all(np.all(a == 1) for a in mine), "fit changed the caller's arrays"
    before = model.get_weights()
    bad = [np.zeros(w.shape, np.float32) for w in model.weights]
    bad[-1] = np.zeros((7,), np.float32)
    with pytest.raises(ModelError, match="has shape"):
        model.set_weights(bad)
    bad[-1] = np.full(model.weights[-1].shape, np.nan, np.float32)
    with pytest.raises(ModelError, match="NaN or infinite"):
        model.set_weights(bad)
    bad[-1] = np.zeros(model.weights[-1].shape, np.complex64)
    with pytest.raises(ModelError, match="takes real numbers, got an array of complex64"):
        model.set_weights(bad)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)     # nothing was assigned by the failed calls


def test_a_model_with_more_than_1000_arrays_reloads_in_order(tmp_path):
    model = Sequential([layers.Dense(1, input_shape=(1,))] + [layers.Dense(1) for _ in range(520)])
    arrays = [np.full(w.shape, i, np.float32) for i, w in enumerate(model.weights)]
    model.set_weights(arrays)
    assert len(arrays) > 1000
    model.save_weights(tmp_path / "deep.npz")
    model.set_weights([np.zeros(w.shape, np.float32) for w in model.weights])
    model.load_weights(tmp_path / "deep.npz")
    for i, a in enumerate(model.get_weights()):
        assert np.all(a == i)


def test_a_load_that_fails_on_the_second_array_changes_nothing(tmp_path):
    model = small_model(dropout=False)
    before = model.get_weights()
    arrays = {f"{i:03d}.l/{w.name}": np.ones(w.shape, np.float32) for i, w in enumerate(model.weights)}
    arrays["001.l/bias"] = np.ones((99,), np.float32)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ModelError, match=r"has shape \(8,\), got \(99,\) in .*bad.npz"):
        model.load_weights(tmp_path / "bad.npz")
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_positional_savez_files_load_in_numeric_order(tmp_path):
    model = small_model(dropout=False)
    arrays = [np.full(w.shape, i, np.float32) for i, w in enumerate(model.weights)]
    np.savez(tmp_path / "pos.npz", *arrays)
    model.load_weights(tmp_path / "pos.npz")
    assert [float(a.flat[0]) for a in model.get_weights()] == list(range(len(arrays)))


# --------------------------------------------------------------------------------------------------
# Checkpoints and resume
# --------------------------------------------------------------------------------------------------

class StopAfter(Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            self.model.stop_training = True


@pytest.mark.parametrize("optimizer, backend", [("adam", "numpy"), ("rmsprop", "numpy"), ("sgd", "numpy"),
                                                ("adam", "numba")])
def test_resume_equals_the_uninterrupted_run(tmp_path, optimizer, backend):
    if backend not in engine.available_backends():
        pytest.skip(f"{backend} is not available here")
    with engine.use_backend(backend):
        resume_equals_the_uninterrupted_run(tmp_path, optimizer)


def resume_equals_the_uninterrupted_run(tmp_path, optimizer):
    x, y = small_data()
    whole = small_model(optimizer)
    expected = whole.fit(x, y, epochs=6, batch_size=16, validation_split=0.25, verbose=0)
    checkpoint = tmp_path / "run.npz"
    stopped = small_model(optimizer)
    stopped.fit(x, y, epochs=6, batch_size=16, validation_split=0.25, verbose=0, checkpoint=checkpoint,
                callbacks=[StopAfter(2)])
    random.set_seed(123)                          # a fresh process: another seed, other initial weights
    resumed = small_model(optimizer, seed=77)
    history = resumed.fit(x, y, epochs=6, batch_size=16, validation_split=0.25, verbose=0, resume=checkpoint)
    assert history.history == expected.history and history.epoch == list(range(6))
    for a, b in zip(whole.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert resumed.optimizer.iterations == whole.optimizer.iterations


def test_checkpoint_is_written_every_epoch_and_resume_checks_the_settings(tmp_path):
    x, y = small_data()
    checkpoint = tmp_path / "c.npz"
    model = small_model()
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, checkpoint=checkpoint)
    with pytest.raises(ModelError, match="batch_size=16, this one has batch_size=32"):
        small_model().fit(x, y, epochs=3, batch_size=32, verbose=0, resume=checkpoint)
    other = Sequential([layers.Dense(3, input_shape=(4,), activation="softmax")])
    other.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(ModelError, match="has 2 weight arrays, got 8"):
        other.fit(x, y, epochs=3, batch_size=16, verbose=0, resume=checkpoint)
    sgd = small_model("sgd")
    with pytest.raises(ModelError, match="adam optimizer; this model is compiled with SGD"):
        sgd.fit(x, y, epochs=3, batch_size=16, verbose=0, resume=checkpoint)
    history = small_model().fit(x, y, epochs=2, batch_size=16, verbose=0, resume=checkpoint)
    assert len(history.epoch) == 2               # nothing left to train: the checkpoint's history


# --------------------------------------------------------------------------------------------------
# Divergence
# --------------------------------------------------------------------------------------------------

class PoisonAt(Callback):
    """Makes the next batch's loss NaN by putting a NaN into the inputs the model sees (NaN injection)."""

    def __init__(self, epoch, batch, x):
        self.target, self.x, self.epoch = (epoch, batch), x, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.target:
            self.model.layers[0].kernel.data[0, 0] = np.nan


def test_nan_loss_stops_training_and_restores_the_last_finite_weights(recwarn):
    x, y = small_data()
    model = small_model(dropout=False)
    snapshots = []

    class Keep(Callback):
        def on_batch_end(self, batch, logs=None):
            snapshots.append(self.model.get_weights())
    with pytest.raises(TrainingDiverged, match=r"loss became nan in epoch 2/5 at batch 4/6; the model keeps its "
                                               r"weights from before batch 3 \(the last finite ones\)") as caught:
        model.fit(x, y, epochs=5, batch_size=16, verbose=0, callbacks=[Keep(), PoisonAt(1, 2, x)])
    assert (caught.value.epoch, caught.value.batch) == (2, 4)
    assert len(model.history.epoch) == 1 and model.history.stopped_early
    weights = model.get_weights()
    assert all(np.isfinite(w).all() for w in weights)
    # the weights from before batch 3 of epoch 2: those after batch 2 (the 6 + 2nd callback snapshot)
    for a, b in zip(weights, snapshots[6 + 1]):
        np.testing.assert_array_equal(a, b)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_an_overflowing_learning_rate_stops_with_finite_weights_and_no_warnings(recwarn):
    x, y = small_data()
    model = small_model("sgd", dropout=False)
    model.optimizer.learning_rate = 1e12
    with pytest.raises(TrainingDiverged, match="epoch 1/3 at batch"):
        model.fit(x * 1e6, y, epochs=3, batch_size=16, verbose=0)
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
    model.stop_on_divergence = False             # the lecture's grid: train on, as Keras does
    model.set_weights([np.ones(w.shape, np.float32) for w in model.weights])
    model.fit(x * 1e6, y, epochs=1, batch_size=16, verbose=0)


# --------------------------------------------------------------------------------------------------
# Data checks and memory bounds
# --------------------------------------------------------------------------------------------------

def test_fit_refuses_nan_data_and_labels_outside_the_class_range():
    x, y = small_data()
    model = small_model()
    bad = x.copy()
    bad[5, 1] = np.nan
    bad[9, 0] = np.inf
    with pytest.raises(ValueError, match=r"x holds 2 NaN or infinite values \(the first in sample 5\)"):
        model.fit(bad, y, verbose=0)
    labels = y.copy()
    labels[3] = 200
    with pytest.raises(ValueError, match=r"1 of the labels is outside the class range 0..2 "
                                         r"\(the first is number 3, 200\)"):
        model.fit(x, labels, verbose=0)
    with pytest.raises(ValueError, match="y must hold real numbers, got complex numbers"):
        model.fit(x, y.astype(complex), verbose=0)


def test_a_layer_larger_than_memory_is_refused_before_allocating():
    from engine.resources import ResourceError
    with pytest.raises(ResourceError, match=r"layer 'dense' \(Dense\) with its kernel of shape \(64, 100000000000\).* "
                                            r"needs .* more than the .* available here; use fewer units"):
        Sequential([layers.Dense(10 ** 11, input_shape=(64,))])


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_the_same_seed_and_thread_count_repeat_a_run_bit_for_bit(backend):
    """README, "Your files": determinism. A small CNN (conv, pooling, batch norm, dropout, dense) trained twice
    with the same seed, backend and thread count gives the same bits."""
    if backend not in engine.available_backends():
        pytest.skip(f"{backend} is not available here")
    x = np.random.default_rng(0).random((64, 8, 8, 1)).astype(np.float32)
    y = np.random.default_rng(1).integers(0, 10, 64)

    def train():
        random.set_seed(3)
        model = Sequential([layers.Conv2D(4, 3, input_shape=(8, 8, 1), activation="relu"), layers.MaxPooling2D(),
                            layers.BatchNormalization(), layers.Dropout(0.3), layers.Flatten(),
                            layers.Dense(10, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        history = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
        return history.history["loss"], model.get_weights()
    with engine.use_backend(backend):
        (loss_a, weights_a), (loss_b, weights_b) = train(), train()
    assert loss_a == loss_b
    for a, b in zip(weights_a, weights_b):
        np.testing.assert_array_equal(a, b)
