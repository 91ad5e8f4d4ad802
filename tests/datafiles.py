"""Small generated data files in the layouts nnlab reads (no download): shared by the tests that run
scripts and help examples needing MNIST or CIFAR-10."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from engine import datasets


def write_small_datasets(root: Path, train: int = 64, test: int = 32) -> Path:
    """root/cifar-10-batches-bin (data_batch_1.bin, test_batch.bin) and root/mnist (the four IDX files),
    `train` and `test` random images each; returns root (for NNLAB_DATA)."""
    rng = np.random.default_rng(0)
    cifar = root / "cifar-10-batches-bin"
    cifar.mkdir(parents=True)
    datasets.write_cifar10_batch(cifar / "data_batch_1.bin",
                                 rng.integers(0, 256, (train, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, train))
    datasets.write_cifar10_batch(cifar / "test_batch.bin",
                                 rng.integers(0, 256, (test, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, test))
    mnist = root / "mnist"
    mnist.mkdir()
    for prefix, n in (("train", train), ("t10k", test)):
        datasets.write_idx(mnist / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        datasets.write_idx(mnist / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n).astype(np.uint8))
    return root
