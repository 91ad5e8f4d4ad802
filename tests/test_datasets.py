"""Tests for engine.datasets: the lecture's data, and the MNIST / CIFAR-10 file loaders."""

import os
from pathlib import Path

import numpy as np
import pytest

from engine import datasets as ds
from engine.datasets import DataError


# ---------------------------------------------------------------------------
# digits
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def digit_split():
    return ds.digits()


def test_digits_shapes_dtypes_and_range(digit_split):
    (x_train, y_train), (x_test, y_test) = digit_split
    assert x_train.shape == (1437, 8, 8, 1) and x_test.shape == (360, 8, 8, 1)
    assert x_train.dtype == np.float32 and x_test.dtype == np.float32
    assert y_train.shape == (1437, 10) and y_test.shape == (360, 10)
    assert y_train.dtype == np.float32
    # not rescaled: raw 0..16 pixel counts
    both = np.concatenate([x_train, x_test])
    assert both.min() == 0.0 and both.max() == 16.0
    assert np.array_equal(both, np.round(both))
    # one-hot rows
    for y in (y_train, y_test):
        assert set(np.unique(y)) == {0.0, 1.0}
        assert np.all(y.sum(axis=1) == 1.0)


def test_digits_integer_labels_match_one_hot(digit_split):
    (x_train, y_train), (x_test, y_test) = digit_split
    (xi_train, yi_train), (xi_test, yi_test) = ds.digits(one_hot=False)
    assert yi_train.shape == (1437,) and yi_test.shape == (360,)
    assert np.issubdtype(yi_train.dtype, np.integer)
    assert np.array_equal(xi_train, x_train) and np.array_equal(xi_test, x_test)
    assert np.array_equal(np.argmax(y_train, axis=1), yi_train)
    assert np.array_equal(np.argmax(y_test, axis=1), yi_test)


def test_digits_equals_lecture_split_and_leaves_global_rng_alone(digit_split):
    from sklearn import datasets as sk_datasets
    from sklearn.model_selection import train_test_split

    saved = np.random.get_state()
    try:
        # The lecture's own code, on the global RNG.
        np.random.seed(0)
        digits = sk_datasets.load_digits()
        inputs = digits.images[:, :, :, np.newaxis]
        labels = digits.target
        indices = np.arange(len(inputs))
        np.random.choice(indices, size=5)
        labels = np.eye(10)[labels]  # to_categorical
        train_size = 0.8
        test_size = 1 - train_size
        X_train, X_test, Y_train, Y_test = train_test_split(
            inputs, labels, train_size=train_size, test_size=test_size)

        # digits() must not consume or reset the global stream.
        np.random.seed(123)
        before = np.random.get_state()
        ds.digits()
        after = np.random.get_state()
        assert before[0] == after[0] and np.array_equal(before[1], after[1]) and before[2:] == after[2:]
    finally:
        np.random.set_state(saved)

    (x_train, y_train), (x_test, y_test) = digit_split
    assert np.array_equal(x_train, X_train.astype(np.float32))
    assert np.array_equal(x_test, X_test.astype(np.float32))
    assert np.array_equal(y_train, Y_train.astype(np.float32))
    assert np.array_equal(y_test, Y_test.astype(np.float32))


def test_digits_other_seed_differs_and_bad_fraction(digit_split):
    (x_train, _), _ = digit_split
    (x_other, _), _ = ds.digits(seed=1)
    assert not np.array_equal(x_train, x_other)
    for bad in (0, 1, 1.5, -0.1, "a", True):
        with pytest.raises(DataError):
            ds.digits(train_fraction=bad)


# ---------------------------------------------------------------------------
# noisy sine and windowing
# ---------------------------------------------------------------------------

def test_noisy_sine_definition_and_seed():
    x = ds.noisy_sine(1000, seed=3)
    assert x.shape == (1000,) and x.dtype == np.float64
    t = np.arange(1000)
    noise = (x - np.sin(0.02 * t)) / 2
    assert np.allclose(noise, np.random.default_rng(3).random(1000))
    assert noise.min() >= 0 and noise.max() < 1
    assert np.array_equal(x, ds.noisy_sine(1000, seed=3))
    assert not np.array_equal(x, ds.noisy_sine(1000, seed=4))
    t2, x2 = ds.sine_series(1000, seed=3)
    assert np.array_equal(t2, t) and np.array_equal(x2, x)


def test_window_series_semantics():
    v = np.arange(10.0)
    X, Y = ds.window_series(v, 3)
    assert X.shape == (7, 3) and Y.shape == (7,)
    for i in range(7):
        assert np.array_equal(X[i], v[i:i + 3]) and Y[i] == v[i + 3]
    with pytest.raises(DataError):
        ds.window_series(np.arange(3.0), 3)
    with pytest.raises(DataError):
        ds.window_series(v, 0)


def test_sine_windows_matches_lecture():
    (train_x, train_y), (test_x, test_y) = ds.sine_windows(seed=7)
    assert train_x.shape == (800, 1, 4) and train_y.shape == (800,)
    assert test_x.shape == (200, 1, 4) and test_y.shape == (200,)

    values = ds.noisy_sine(1000, seed=7)
    train = np.append(values[:800], np.repeat(values[799], 4))
    test = np.append(values[800:], np.repeat(values[999], 4))
    for X, Y, part in ((train_x, train_y, train), (test_x, test_y, test)):
        for i in (0, 1, 100, len(Y) - 5, len(Y) - 1):
            assert np.array_equal(X[i, 0], part[i:i + 4])
            assert Y[i] == part[i + 4]
    # the tail repeats the last value of each part
    assert train_y[-1] == values[799] and np.all(train_x[-1, 0] == values[799])
    assert test_y[-1] == values[999]
    assert train_y[795] == values[799]   # first target past the real data
    with pytest.raises(DataError):
        ds.sine_windows(n=100, train_size=100)


# ---------------------------------------------------------------------------
# energies and format_data
# ---------------------------------------------------------------------------

def test_energies_values():
    x, y = ds.energies()
    assert x.shape == (20,) and y.shape == (20,)
    assert x.dtype == np.float64 and y.dtype == np.float64
    assert np.array_equal(x, np.arange(2, 42, 2).astype(float))
    assert y[0] == -0.03077640549
    assert y[11] == -0.8702784034
    assert y[-1] == -1.70653767
    assert np.all(np.diff(y) < 0)


def test_format_data_lecture_shapes_and_content():
    _, y = ds.energies()
    rnn_input, rnn_output = ds.format_data(y[:12], 2)
    assert rnn_input.shape == (10, 2, 1) and rnn_output.shape == (10,)
    for i in range(10):
        assert np.array_equal(rnn_input[i], [[y[i]], [y[i + 1]]])
        assert rnn_output[i] == y[i + 2]
    assert np.array_equal(rnn_input[9, :, 0], [y[9], y[10]])
    assert rnn_output[9] == -0.8702784034
    # a column vector works too; L=3
    a, b = ds.format_data(y[:12].reshape(12, 1), length_of_sequence=3)
    assert a.shape == (9, 3, 1) and b.shape == (9,)
    with pytest.raises(DataError):
        ds.format_data(y[:2], 2)


def test_energies_bad_files(tmp_path):
    with pytest.raises(DataError, match="not found"):
        ds.energies(tmp_path / "nope.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="header"):
        ds.energies(bad)
    bad.write_text("x,y\n1,2,3\n")
    with pytest.raises(DataError, match="line 2"):
        ds.energies(bad)
    bad.write_text("x,y\n1,zz\n")
    with pytest.raises(DataError):
        ds.energies(bad)
    good = tmp_path / "good.csv"
    good.write_text("x,y\n1,-0.5\n2,-1.25\n")
    x, y = ds.energies(good)
    assert np.array_equal(x, [1.0, 2.0]) and np.array_equal(y, [-0.5, -1.25])


# ---------------------------------------------------------------------------
# MNIST (IDX)
# ---------------------------------------------------------------------------

def _fake_mnist(folder, n_train=10, n_test=4, gz=False, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, arr in arrays.items():
        ds.write_idx(folder / (name + (".gz" if gz else "")), arr)
    return arrays


def test_idx_header_layout(tmp_path):
    arr = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    p = ds.write_idx(tmp_path / "a-idx3-ubyte", arr)
    raw = p.read_bytes()
    assert raw[:4] == b"\x00\x00\x08\x03"
    assert raw[4:16] == b"\x00\x00\x00\x02" b"\x00\x00\x00\x02" b"\x00\x00\x00\x03"
    assert raw[16:] == arr.tobytes()
    back = ds.read_idx(p)
    assert back.dtype == np.uint8 and np.array_equal(back, arr)
    back[0, 0, 0] = 99  # writable
    # multi-byte types are big-endian on disk and native in memory
    f = np.array([1.5, -2.25], dtype=np.float32)
    q = ds.write_idx(tmp_path / "f.idx", f)
    assert q.read_bytes()[:4] == b"\x00\x00\x0d\x01"
    assert q.read_bytes()[8:] == f.astype(">f4").tobytes()
    assert np.array_equal(ds.read_idx(q), f) and ds.read_idx(q).dtype == np.float32


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_round_trip(tmp_path, gz):
    arrays = _fake_mnist(tmp_path / "mnist", gz=gz)
    (x_train, y_train), (x_test, y_test) = ds.load_mnist(tmp_path / "mnist")
    assert x_train.shape == (10, 28, 28, 1) and x_train.dtype == np.uint8
    assert y_train.shape == (10,) and y_train.dtype == np.uint8
    assert x_test.shape == (4, 28, 28, 1) and y_test.shape == (4,)
    assert np.array_equal(x_train[..., 0], arrays["train-images-idx3-ubyte"])
    assert np.array_equal(y_train, arrays["train-labels-idx1-ubyte"])
    assert np.array_equal(x_test[..., 0], arrays["t10k-images-idx3-ubyte"])
    assert np.array_equal(y_test, arrays["t10k-labels-idx1-ubyte"])
    # a parent folder holding mnist/ works too
    (x2, _), _ = ds.load_mnist(tmp_path)
    assert np.array_equal(x2, x_train)


def test_load_mnist_default_path_from_env(tmp_path, monkeypatch):
    arrays = _fake_mnist(tmp_path / "mnist")
    monkeypatch.setenv("NNLAB_DATA", str(tmp_path))
    assert ds.default_data_dir() == tmp_path
    (_, y_train), _ = ds.load_mnist()
    assert np.array_equal(y_train, arrays["train-labels-idx1-ubyte"])
    monkeypatch.delenv("NNLAB_DATA")
    assert ds.default_data_dir() == Path.home() / ".nnlab" / "data"


def test_load_mnist_missing_dir_names_files(tmp_path):
    with pytest.raises(DataError) as info:
        ds.load_mnist(tmp_path / "nowhere")
    msg = str(info.value)
    for name in ds.MNIST_FILES:
        assert name in msg
    assert str(tmp_path / "nowhere") in msg and "path=" in msg


def test_load_mnist_one_file_missing(tmp_path):
    _fake_mnist(tmp_path)
    os.remove(tmp_path / "t10k-labels-idx1-ubyte")
    with pytest.raises(DataError, match="missing: t10k-labels-idx1-ubyte"):
        ds.load_mnist(tmp_path)


def test_mnist_bad_magic(tmp_path):
    _fake_mnist(tmp_path)
    p = tmp_path / "train-images-idx3-ubyte"
    raw = bytearray(p.read_bytes())
    raw[0:4] = b"\x12\x34\x08\x03"
    p.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="train-images-idx3-ubyte.*magic"):
        ds.load_mnist(tmp_path)


def test_mnist_labels_in_image_slot(tmp_path):
    _fake_mnist(tmp_path)
    ds.write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros(10, dtype=np.uint8))
    with pytest.raises(DataError, match="0x00000803"):
        ds.load_mnist(tmp_path)


def test_mnist_truncated_and_count_mismatch(tmp_path):
    _fake_mnist(tmp_path)
    p = tmp_path / "t10k-images-idx3-ubyte"
    p.write_bytes(p.read_bytes()[:-5])
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.*truncated"):
        ds.load_mnist(tmp_path)
    _fake_mnist(tmp_path)
    ds.write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(3, dtype=np.uint8))
    with pytest.raises(DataError, match="4 images.*3 labels"):
        ds.load_mnist(tmp_path)


def test_mnist_corrupt_gzip(tmp_path):
    _fake_mnist(tmp_path, gz=True)
    p = tmp_path / "train-labels-idx1-ubyte.gz"
    p.write_bytes(p.read_bytes()[:10])
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz"):
        ds.load_mnist(tmp_path)
    q = tmp_path / "x.gz"
    q.write_bytes(b"not gzip at all")
    with pytest.raises(DataError):
        ds.read_idx(q)


# ---------------------------------------------------------------------------
# CIFAR-10 (binary version)
# ---------------------------------------------------------------------------

def _fake_cifar(folder, batches=(1, 2), n_train=5, n_test=4, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    train = []
    for k in batches:
        imgs = rng.integers(0, 256, (n_train, 32, 32, 3), dtype=np.uint8)
        labs = rng.integers(0, 10, n_train, dtype=np.uint8)
        ds.write_cifar10_batch(folder / f"data_batch_{k}.bin", imgs, labs)
        train.append((imgs, labs))
    test_imgs = rng.integers(0, 256, (n_test, 32, 32, 3), dtype=np.uint8)
    test_labs = rng.integers(0, 10, n_test, dtype=np.uint8)
    ds.write_cifar10_batch(folder / "test_batch.bin", test_imgs, test_labs)
    return train, (test_imgs, test_labs)


def test_cifar_record_layout(tmp_path):
    img = np.zeros((1, 32, 32, 3), dtype=np.uint8)
    img[0, 0, 1, 0] = 11   # red, row 0, col 1
    img[0, 2, 0, 1] = 22   # green, row 2, col 0
    img[0, 31, 31, 2] = 33  # blue, last pixel
    p = ds.write_cifar10_batch(tmp_path / "b.bin", img, np.array([7]))
    raw = p.read_bytes()
    assert len(raw) == 3073 and raw[0] == 7
    assert raw[1 + 1] == 11
    assert raw[1 + 1024 + 2 * 32] == 22
    assert raw[3072] == 33
    images, labels = ds.read_cifar10_batch(p)
    assert np.array_equal(images, img) and np.array_equal(labels, [7])


def test_load_cifar10_round_trip(tmp_path):
    train, (test_imgs, test_labs) = _fake_cifar(tmp_path / "cifar-10-batches-bin", batches=(1, 2))
    (x_train, y_train), (x_test, y_test) = ds.load_cifar10(tmp_path / "cifar-10-batches-bin")
    assert x_train.shape == (10, 32, 32, 3) and x_train.dtype == np.uint8
    assert y_train.shape == (10,) and y_train.dtype == np.uint8
    assert np.array_equal(x_train, np.concatenate([train[0][0], train[1][0]]))
    assert np.array_equal(y_train, np.concatenate([train[0][1], train[1][1]]))
    assert np.array_equal(x_test, test_imgs) and np.array_equal(y_test, test_labs)
    # the parent folder works too, and so does the env default
    (x2, _), _ = ds.load_cifar10(tmp_path)
    assert np.array_equal(x2, x_train)


def test_load_cifar10_env_default(tmp_path, monkeypatch):
    _fake_cifar(tmp_path / "cifar-10-batches-bin", batches=(1,))
    monkeypatch.setenv("NNLAB_DATA", str(tmp_path))
    (x_train, _), (x_test, _) = ds.load_cifar10()
    assert x_train.shape == (5, 32, 32, 3) and x_test.shape == (4, 32, 32, 3)


def test_cifar_classes():
    assert len(ds.CIFAR10_CLASSES) == 10
    assert ds.CIFAR10_CLASSES[0] == "airplane" and ds.CIFAR10_CLASSES[9] == "truck"


def test_cifar_truncated_file(tmp_path):
    _fake_cifar(tmp_path, batches=(1,))
    p = tmp_path / "test_batch.bin"
    p.write_bytes(p.read_bytes()[:-1])
    with pytest.raises(DataError, match="test_batch.bin.*3073"):
        ds.load_cifar10(tmp_path)


def test_cifar_bad_label(tmp_path):
    _fake_cifar(tmp_path, batches=(1,))
    p = tmp_path / "data_batch_1.bin"
    raw = bytearray(p.read_bytes())
    raw[0] = 42
    p.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="out of range"):
        ds.load_cifar10(tmp_path)


def test_cifar_missing_dir_names_files(tmp_path):
    with pytest.raises(DataError) as info:
        ds.load_cifar10(tmp_path / "nowhere")
    msg = str(info.value)
    for name in ("data_batch_1.bin", "data_batch_5.bin", "test_batch.bin", "binary version", "path="):
        assert name in msg
    assert str(tmp_path / "nowhere") in msg


def test_cifar_missing_test_batch(tmp_path):
    _fake_cifar(tmp_path, batches=(1,))
    os.remove(tmp_path / "test_batch.bin")
    with pytest.raises(DataError, match="missing: test_batch.bin"):
        ds.load_cifar10(tmp_path)


def test_write_cifar_rejects_bad_shapes(tmp_path):
    with pytest.raises(DataError):
        ds.write_cifar10_batch(tmp_path / "x.bin", np.zeros((2, 3, 32, 32), np.uint8), np.zeros(2))
    with pytest.raises(DataError):
        ds.write_cifar10_batch(tmp_path / "x.bin", np.zeros((2, 32, 32, 3), np.uint8), np.zeros(3))


def test_no_pickle_in_module():
    import inspect
    src = inspect.getsource(ds)
    assert "import pickle" not in src and "pickle.load" not in src
