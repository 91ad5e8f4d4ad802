"""The lecture's data sets, loaded with NumPy only.

Every function here mirrors a cell of the lecture "Convolutional (CNN) and
Recurrent (RNN) Neural Networks" (CompPhysics/MLErasmus, day 9, Jan 2023):

=====================  ==================================================
function               lecture cell
=====================  ==================================================
``digits``             "Prerequisites: Collect and pre-process data" and
                       the ``train_test_split`` cell (sklearn digits CNN)
``noisy_sine``,        "A simple example" (SimpleRNN on a noisy sine):
``sine_series``,       ``x = np.sin(0.02*t) + 2*np.random.rand(N)``,
``window_series``,     ``convertToMatrix`` and the train/test split
``sine_windows``
``energies``           the 'VaryDimension' ``X_tot`` / ``y_tot`` arrays
                       (stored in ``data/energies.csv``)
``format_data``        "Formatting the Data" (``format_data``)
``load_mnist``         the GAN cell's ``mnist.load_data()``
``load_cifar10``       the CIFAR-10 cell's ``datasets.cifar10.load_data()``
=====================  ==================================================

The module imports only NumPy (scikit-learn is imported lazily inside
:func:`digits`).  MNIST and CIFAR-10 are read from files on disk, which
:mod:`engine.download` fetches into the data folder on first use; every
user mistake (missing file, bad format, wrong sizes) raises
:class:`DataError` saying what was expected.  No pickle is used anywhere.

Default data locations (``path=None``): the folder named by the
``NNLAB_DATA`` environment variable if it is set, else ``~/.nnlab/data``;
MNIST is looked for in ``<that>/mnist`` and CIFAR-10 in
``<that>/cifar-10-batches-bin``.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from engine import datachecks, files
from engine.datachecks import DataError

__all__ = [
    "DataError",
    "CIFAR10_CLASSES",
    "MNIST_FILES",
    "CIFAR10_TRAIN_FILES",
    "CIFAR10_TEST_FILE",
    "default_data_dir",
    "digits",
    "noisy_sine",
    "sine_series",
    "window_series",
    "sine_windows",
    "energies",
    "format_data",
    "read_idx",
    "write_idx",
    "load_mnist",
    "read_cifar10_batch",
    "write_cifar10_batch",
    "load_cifar10",
]


# ---------------------------------------------------------------------------
# Default locations
# ---------------------------------------------------------------------------

ENERGIES_CSV = Path(__file__).resolve().parent.parent / "data" / "energies.csv"


def default_data_dir() -> Path:
    """Return the root folder for downloaded data sets.

    ``$NNLAB_DATA`` if that environment variable is set and not empty,
    otherwise ``~/.nnlab/data``.  Read at call time, so changing the
    variable takes effect immediately.
    """
    env = os.environ.get("NNLAB_DATA", "").strip()
    if env:
        return Path(env).expanduser()
    return Path.home() / ".nnlab" / "data"


def _as_path(path) -> Path:
    return Path(os.fspath(path)).expanduser()


# ---------------------------------------------------------------------------
# sklearn digits (the digits CNN)
# ---------------------------------------------------------------------------

def digits(train_fraction=0.8, seed=0, one_hot=True):
    """The 8x8 digits, split as in the lecture's digits-CNN cells.

    Mirrors the cells "Prerequisites: Collect and pre-process data" and
    "Importing Keras and Tensorflow", which do::

        np.random.seed(0)
        digits = datasets.load_digits()
        inputs = digits.images[:, :, :, np.newaxis]
        random_indices = np.random.choice(np.arange(1797), size=5)  # images shown
        labels = to_categorical(digits.target)
        X_train, X_test, Y_train, Y_test = train_test_split(
            inputs, labels, train_size=0.8, test_size=1 - 0.8)

    The same random stream is reproduced without touching NumPy's global
    RNG: a private ``np.random.RandomState(seed)`` first makes the same
    ``choice(..., size=5)`` draw, then is passed to ``train_test_split`` as
    ``random_state``.  With the defaults this is exactly the lecture's split
    (1437 training and 360 test images).

    Parameters
    ----------
    train_fraction : float in (0, 1)
        ``train_size``; ``test_size`` is ``1 - train_fraction`` as in the lecture.
    seed : int
        The lecture uses ``np.random.seed(0)``.
    one_hot : bool
        True: labels one-hot, shape (N, 10), float32 (``to_categorical``).
        False: integer labels, shape (N,).

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        Images have shape (N, 8, 8, 1), dtype float32, and are NOT rescaled
        (values 0..16, as in the lecture).
    """
    try:
        ok = not isinstance(train_fraction, bool) and 0.0 < float(train_fraction) < 1.0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise DataError(f"train_fraction must be a number strictly between 0 and 1, got {train_fraction!r}")
    try:
        from sklearn import datasets as sk_datasets
        from sklearn.model_selection import train_test_split
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("digits() needs scikit-learn: pip install scikit-learn") from exc

    data = sk_datasets.load_digits()
    inputs = data.images[:, :, :, np.newaxis]  # (1797, 8, 8, 1), float64
    targets = np.asarray(data.target)
    if one_hot:
        labels = np.eye(10, dtype=np.float32)[targets]
    else:
        labels = targets

    rng = np.random.RandomState(seed)
    # The lecture draws five images to display before splitting; make the
    # same draw so that the split consumes the same random numbers.
    rng.choice(np.arange(len(inputs)), size=5)
    f = float(train_fraction)
    x_train, x_test, y_train, y_test = train_test_split(
        inputs, labels, train_size=f, test_size=1 - f, random_state=rng)
    return ((x_train.astype(np.float32), y_train),
            (x_test.astype(np.float32), y_test))


# ---------------------------------------------------------------------------
# Noisy sine (the SimpleRNN example)
# ---------------------------------------------------------------------------

def noisy_sine(n=1000, seed=0):
    """``sin(0.02 t) + 2 U[0, 1)`` for ``t = 0, ..., n-1`` (1-D float64, length n).

    Mirrors "A simple example": ``x = np.sin(0.02*t) + 2*np.random.rand(N)``.
    The lecture's noise is unseeded; here it comes from
    ``np.random.default_rng(seed).random(n)`` (a private PCG64 generator, so
    the global RNG is untouched).  ``seed=None`` gives fresh, unrepeatable
    noise like the lecture.
    """
    n = _positive_int(n, "n")
    t = np.arange(0, n)
    noise = np.random.default_rng(seed).random(n)
    return np.sin(0.02 * t) + 2 * noise


def sine_series(n=1000, seed=0):
    """``(t, x)``: the time axis ``np.arange(n)`` and :func:`noisy_sine` (for plotting).

    Mirrors the ``plt.plot(df)`` of "A simple example".  With the same
    ``n`` and ``seed``, ``x`` is the series that :func:`sine_windows` splits.
    """
    return np.arange(0, _positive_int(n, "n")), noisy_sine(n, seed)


def window_series(values, step):
    """Sliding windows: the lecture's ``convertToMatrix(data, step)``.

    For ``i in range(len(values) - step)``: ``X[i] = values[i:i+step]`` and
    ``Y[i] = values[i+step]``.  For a 1-D series X has shape
    (len-step, step) and Y has shape (len-step,).  Needs at least
    ``step + 1`` values.
    """
    step = _positive_int(step, "step")
    values = np.asarray(values)
    if values.ndim == 0:
        raise DataError("window_series needs a 1-D series, got a scalar")
    n = len(values) - step
    if n < 1:
        raise DataError(f"window_series needs at least step+1 = {step + 1} values, got {len(values)}")
    windows = np.lib.stride_tricks.sliding_window_view(values, step, axis=0)   # window axis last
    X = np.moveaxis(windows, -1, 1)[:n].copy()                                  # X[i] = values[i:i+step]
    Y = values[step:step + n].copy()
    return X, Y


def sine_windows(n=1000, train_size=800, step=4, seed=0):
    """The SimpleRNN example's training and test arrays, built as in the lecture.

    Mirrors "A simple example" (``N = 1000``, ``Tp = 800``, ``step = 4``)::

        train, test = values[0:Tp], values[Tp:N]
        test = np.append(test, np.repeat(test[-1], step))
        train = np.append(train, np.repeat(train[-1], step))
        trainX, trainY = convertToMatrix(train, step)
        testX, testY = convertToMatrix(test, step)
        trainX = np.reshape(trainX, (trainX.shape[0], 1, trainX.shape[1]))
        testX = np.reshape(testX, (testX.shape[0], 1, testX.shape[1]))

    Each sample is ONE time step with ``step`` features.  With the defaults:
    trainX (800, 1, 4), trainY (800,), testX (200, 1, 4), testY (200,).
    The series is :func:`noisy_sine` ``(n, seed)``.

    Returns
    -------
    (trainX, trainY), (testX, testY)
    """
    n = _positive_int(n, "n")
    step = _positive_int(step, "step")
    train_size = _positive_int(train_size, "train_size")
    if train_size >= n:
        raise DataError(f"train_size must be smaller than n so the test part is not empty "
                        f"(train_size={train_size}, n={n})")
    values = noisy_sine(n, seed)
    train, test = values[0:train_size], values[train_size:n]
    test = np.append(test, np.repeat(test[-1], step))
    train = np.append(train, np.repeat(train[-1], step))
    train_x, train_y = window_series(train, step)
    test_x, test_y = window_series(test, step)
    train_x = np.reshape(train_x, (train_x.shape[0], 1, train_x.shape[1]))
    test_x = np.reshape(test_x, (test_x.shape[0], 1, test_x.shape[1]))
    return (train_x, train_y), (test_x, test_y)


# ---------------------------------------------------------------------------
# 'VaryDimension' energies (the RNN extrapolation examples)
# ---------------------------------------------------------------------------

def energies(path=None):
    """``(x, y)``: the lecture's 'VaryDimension' series ``X_tot``, ``y_tot``.

    Mirrors ``datatype='VaryDimension'``, ``X_tot = np.arange(2, 42, 2)``
    and the 20-value ``y_tot`` array of the RNN extrapolation cells.  The
    values are read from a CSV file with header ``x,y`` (default: the
    repository's ``data/energies.csv``).  Both arrays are 1-D float64.
    The lecture trains on the first ``dim = 12`` points.
    """
    path = ENERGIES_CSV if path is None else _as_path(path)
    try:
        text = files.read_text(path, "the energies (a CSV file with header 'x,y')")
    except files.FileError as exc:
        raise DataError(str(exc)) from None
    lines = [ln.strip() for ln in text.splitlines()]      # errors name lines, never show what they hold
    lines = [ln for ln in lines if ln]
    if not lines or lines[0].replace(" ", "") != "x,y":
        raise DataError(f"{path}: the first line must be the header 'x,y'" + ("" if lines else " (the file is empty)"))
    if len(lines) < 2:
        raise DataError(f"{path}: no data rows after the header 'x,y'")
    xs, ys = [], []
    for lineno, line in enumerate(lines[1:], start=2):
        fields = line.split(",")
        if len(fields) != 2:
            raise DataError(f"{path}, line {lineno}: expected 2 comma-separated values, got {len(fields)}")
        try:
            x, y = float(fields[0]), float(fields[1])
        except ValueError:
            raise DataError(f"{path}, line {lineno}: expected two numbers") from None
        if not (np.isfinite(x) and np.isfinite(y)):
            raise DataError(f"{path}, line {lineno}: values must be finite (not NaN or inf)")
        xs.append(x)
        ys.append(y)
    return np.array(xs, dtype=np.float64), np.array(ys, dtype=np.float64)


def format_data(data, length_of_sequence=2):
    """The lecture's ``format_data``: turn a series into RNN samples.

    Mirrors "Formatting the Data".  Sample ``i`` (for
    ``i in range(len(data) - L)``) has input ``[[y_i], ..., [y_{i+L-1}]]``
    (shape (L, 1)) and target ``y_{i+L}``.

    Returns
    -------
    rnn_input : array of shape (n - L, L, 1)
    rnn_output : array of shape (n - L,)

    ``format_data(y_tot[:12], 2)`` gives shapes (10, 2, 1) and (10,).
    ``data`` may be 1-D or a single column of shape (n, 1).
    """
    L = _positive_int(length_of_sequence, "length_of_sequence")
    data = np.asarray(data)
    if data.ndim == 2 and data.shape[1] == 1:
        data = data[:, 0]
    if data.ndim != 1:
        raise DataError(f"format_data needs a 1-D series (or one column), got shape {data.shape}")
    if len(data) <= L:
        raise DataError(f"format_data needs more than length_of_sequence = {L} values, got {len(data)}")
    X, Y = [], []
    for i in range(len(data) - L):
        a = data[i:i + L]                 # the next L elements
        b = data[i + L]                   # the element that follows them
        X.append(np.reshape(a, (len(a), 1)))
        Y.append(b)
    return np.array(X), np.array(Y)


# ---------------------------------------------------------------------------
# MNIST (IDX files)
# ---------------------------------------------------------------------------

MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

# IDX type byte -> big-endian NumPy dtype.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_CODES = {dt.newbyteorder("="): code for code, dt in _IDX_DTYPES.items()}


def _read_bytes(path: Path) -> bytes:
    """Whole file contents (engine.files: never a FIFO or device); gunzipped when the name ends in ``.gz``."""
    try:
        raw = files.read_bytes(path, "a data file")
        return files.gunzip(raw, path, "a data file") if path.suffix == ".gz" else raw
    except files.FileError as exc:
        raise DataError(str(exc)) from None


def read_idx(path):
    """Read one IDX file (the MNIST format) into a NumPy array.

    The header is 4 magic bytes ``0, 0, type, ndim`` followed by ``ndim``
    big-endian uint32 sizes; the data follow, big-endian.  ``0x00000803``
    is a 3-D unsigned-byte array (images), ``0x00000801`` a 1-D one
    (labels).  A name ending in ``.gz`` is read with gzip.  The result has
    native byte order and is a writable copy.  Bad magic or a data size
    that disagrees with the header raise :class:`DataError` naming the file.
    """
    path = _as_path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise DataError(f"{path}: too short for an IDX file ({len(raw)} bytes)")
    zero0, zero1, code, ndim = raw[0], raw[1], raw[2], raw[3]
    magic = int.from_bytes(raw[:4], "big")
    if zero0 != 0 or zero1 != 0 or code not in _IDX_DTYPES or ndim == 0:
        raise DataError(f"{path}: bad IDX magic number 0x{magic:08X} (not an IDX file?)")
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise DataError(f"{path}: IDX header truncated (needs {header_len} bytes, file has {len(raw)})")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(raw) - header_len
    if actual != expected:
        what = "truncated" if actual < expected else "has extra bytes"
        raise DataError(f"{path}: IDX file {what}: header says shape {shape} "
                        f"({expected} data bytes) but the file has {actual}")
    data = np.frombuffer(raw, dtype=dtype, offset=header_len)
    return data.astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def write_idx(path, array):
    """Write ``array`` as an IDX file (gzip-compressed if the name ends in ``.gz``).

    Supported dtypes: uint8, int8, int16, int32, float32, float64.  Useful for
    tests and demos (e.g. a tiny MNIST look-alike).  Returns the path.
    """
    path = _as_path(path)
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in _IDX_CODES:
        raise DataError(f"write_idx: dtype {array.dtype} has no IDX type code "
                        f"(use uint8, int8, int16, int32, float32 or float64)")
    if array.ndim == 0 or array.ndim > 255:
        raise DataError(f"write_idx: array must have 1 to 255 dimensions, got {array.ndim}")
    code = _IDX_CODES[native]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + np.ascontiguousarray(array, dtype=_IDX_DTYPES[code]).tobytes()
    return files.write_file(path, gzip.compress(payload) if path.suffix == ".gz" else payload, "idx")


def _mnist_missing_message(folder: Path, missing) -> str:
    return (f"MNIST files not found in {folder}: expected {', '.join(MNIST_FILES)} "
            f"(each may also end in .gz, as distributed; missing: {', '.join(missing)}). "
            f"Put them there or pass path=...")


def _find_mnist_dir(path: Path) -> Path:
    """``path`` itself if it holds MNIST files, else ``path/mnist`` if that does."""
    def has_any(folder):
        return any((folder / n).is_file() or (folder / (n + ".gz")).is_file() for n in MNIST_FILES)
    if not has_any(path) and has_any(path / "mnist"):
        return path / "mnist"
    return path


def load_mnist(path=None, download=True, mirror=None):
    """MNIST from the four standard IDX files: the GAN cell's ``mnist.load_data()``.

    ``path`` is a folder holding ``train-images-idx3-ubyte``,
    ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and
    ``t10k-labels-idx1-ubyte``, each optionally ``.gz``-compressed (a parent
    folder holding ``mnist/`` also works).  ``None``: ``default_data_dir() / "mnist"``,
    downloaded there on first use (``download``, ``mirror``: :func:`engine.download.fetch`).

    Returns ``(x_train, y_train), (x_test, y_test)``: images uint8 of shape
    (N, 28, 28, 1), labels uint8 of shape (N,), unscaled (the lecture's GAN
    scales with ``(x - 127.5) / 127.5``; callers do that).
    """
    if path is None:       # imported here: engine.download imports this module
        from engine.download import fetch
        path = fetch("mnist", download=download, mirror=mirror)
    folder = _find_mnist_dir(_as_path(path))
    found, missing = {}, []
    for name in MNIST_FILES:
        for candidate in (folder / name, folder / (name + ".gz")):
            if candidate.is_file():
                found[name] = candidate
                break
        else:
            missing.append(name)
    if missing:
        raise DataError(_mnist_missing_message(folder, missing))

    def images(name):
        file = found[name]
        arr = read_idx(file)
        if arr.dtype != np.uint8 or arr.ndim != 3:
            raise DataError(f"{file}: expected an image file (magic 0x00000803, uint8 N x 28 x 28), "
                            f"got dtype {arr.dtype} shape {arr.shape}")
        if arr.shape[1:] != (28, 28):
            raise DataError(f"{file}: expected 28 x 28 images, got {arr.shape[1]} x {arr.shape[2]}")
        return arr.reshape(arr.shape + (1,))

    def labels(name):
        file = found[name]
        arr = read_idx(file)
        if arr.dtype != np.uint8 or arr.ndim != 1:
            raise DataError(f"{file}: expected a label file (magic 0x00000801, uint8 N), "
                            f"got dtype {arr.dtype} shape {arr.shape}")
        datachecks.check_labels(arr, 10, "labels", str(file))
        return arr

    x_train, y_train = images(MNIST_FILES[0]), labels(MNIST_FILES[1])
    x_test, y_test = images(MNIST_FILES[2]), labels(MNIST_FILES[3])
    datachecks.check_not_empty(x_train, "the training images", str(found[MNIST_FILES[0]]))
    for xs, ys, xi, yi in ((x_train, y_train, 0, 1), (x_test, y_test, 2, 3)):
        if len(xs) != len(ys):
            raise DataError(f"{found[MNIST_FILES[xi]]} has {len(xs)} images but "
                            f"{found[MNIST_FILES[yi]]} has {len(ys)} labels")
    return (x_train, y_train), (x_test, y_test)


# ---------------------------------------------------------------------------
# CIFAR-10 (binary version)
# ---------------------------------------------------------------------------

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
CIFAR10_TRAIN_FILES = tuple(f"data_batch_{k}.bin" for k in range(1, 6))
CIFAR10_TEST_FILE = "test_batch.bin"
_CIFAR_IMAGE_BYTES = 3 * 32 * 32
_CIFAR_RECORD_BYTES = 1 + _CIFAR_IMAGE_BYTES


def read_cifar10_batch(path):
    """Read one CIFAR-10 binary batch file.

    Each record is 1 label byte (0..9) followed by 3072 pixel bytes, channel
    major (1024 red, 1024 green, 1024 blue, each 32 rows of 32).  Returns
    ``(images, labels)``: uint8 (N, 32, 32, 3) (CHW transposed to HWC) and
    uint8 (N,).  A size that is not a whole number of records, or a label
    above 9, raises :class:`DataError`.
    """
    path = _as_path(path)
    raw = _read_bytes(path)
    if len(raw) == 0 or len(raw) % _CIFAR_RECORD_BYTES:
        raise DataError(f"{path}: size {len(raw)} bytes is not a whole number of "
                        f"{_CIFAR_RECORD_BYTES}-byte CIFAR-10 records (truncated, or not the binary version?)")
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, _CIFAR_RECORD_BYTES)
    labels = records[:, 0].copy()
    if labels.max() > 9:
        raise DataError(f"{path}: label byte {int(labels.max())} is out of range 0..9 "
                        f"(not a CIFAR-10 binary batch? CIFAR-100 has 2 label bytes)")
    images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()
    return images, labels


def write_cifar10_batch(path, images, labels):
    """Write images (N, 32, 32, 3) uint8 and labels (N,) in 0..9 as a CIFAR-10 binary batch.

    The inverse of :func:`read_cifar10_batch`; useful for tests and demos.
    Returns the path.
    """
    path = _as_path(path)
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim != 4 or images.shape[1:] != (32, 32, 3):
        raise DataError(f"write_cifar10_batch: images must have shape (N, 32, 32, 3), got {images.shape}")
    if labels.shape != (images.shape[0],):
        raise DataError(f"write_cifar10_batch: labels must have shape ({images.shape[0]},), got {labels.shape}")
    if images.size and (images.min() < 0 or images.max() > 255):
        raise DataError("write_cifar10_batch: pixel values must be in 0..255")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError("write_cifar10_batch: labels must be in 0..9")
    chw = images.astype(np.uint8).transpose(0, 3, 1, 2).reshape(len(images), -1)
    records = np.concatenate([labels.astype(np.uint8)[:, None], chw], axis=1)
    return files.write_file(path, records.tobytes(), "cifar10")


def _cifar_missing_message(folder: Path, missing) -> str:
    expected = ", ".join(CIFAR10_TRAIN_FILES + (CIFAR10_TEST_FILE,))
    return (f"CIFAR-10 binary files not found in {folder}: expected {expected} "
            f"(the 'CIFAR-10 binary version' archive cifar-10-binary.tar.gz, unpacked; "
            f"at least data_batch_1.bin and test_batch.bin; missing: {', '.join(missing)}). "
            f"Put them there or pass path=...")


def load_cifar10(path=None, download=True, mirror=None):
    """CIFAR-10 from the binary version: the lecture's ``datasets.cifar10.load_data()``.

    ``path`` is the ``cifar-10-batches-bin`` folder of the "CIFAR-10 binary version" archive, or a
    parent folder holding it; ``None`` means ``default_data_dir() / "cifar-10-batches-bin"``,
    downloaded there on first use (as in :func:`load_mnist`).  ``data_batch_1.bin`` and
    ``test_batch.bin`` are required; whichever of ``data_batch_2.bin`` .. ``data_batch_5.bin`` exist
    are appended in order.

    Only the binary version is supported: the "python version" is a set of
    pickles, and unpickling downloaded files can run arbitrary code, so this
    module deliberately never uses pickle.

    Returns ``(x_train, y_train), (x_test, y_test)``: images uint8
    (N, 32, 32, 3), labels uint8 (N,) indexing :data:`CIFAR10_CLASSES`.
    The lecture divides the pixels by 255.0; callers do that.
    """
    if path is None:       # imported here: engine.download imports this module
        from engine.download import fetch
        path = fetch("cifar10", download=download, mirror=mirror)
    folder = _as_path(path)
    if not (folder / CIFAR10_TRAIN_FILES[0]).is_file() and not (folder / CIFAR10_TEST_FILE).is_file():
        if (folder / "cifar-10-batches-bin").is_dir():
            folder = folder / "cifar-10-batches-bin"
    required = (CIFAR10_TRAIN_FILES[0], CIFAR10_TEST_FILE)
    missing = [name for name in required if not (folder / name).is_file()]
    if missing:
        raise DataError(_cifar_missing_message(folder, missing))

    train_parts = [read_cifar10_batch(folder / name)
                   for name in CIFAR10_TRAIN_FILES if (folder / name).is_file()]
    x_train = np.concatenate([p[0] for p in train_parts])
    y_train = np.concatenate([p[1] for p in train_parts])
    x_test, y_test = read_cifar10_batch(folder / CIFAR10_TEST_FILE)
    return (x_train, y_train), (x_test, y_test)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def _positive_int(value, name):
    """``value`` as an int >= 1, or DataError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise DataError(f"{name} must be a positive integer, got {value!r}")
    if value < 1:
        raise DataError(f"{name} must be a positive integer, got {value!r}")
    return int(value)
