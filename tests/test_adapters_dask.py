"""The Dask path: identical numbers to the dense path, on the threaded scheduler and on a
LocalCluster of worker processes (also with a Kernel already used here), written to disk
atomically and without replacing existing files unless asked."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")
zarr = pytest.importorskip("zarr")

from kernelalg.adapters.dask import gram, to_disk  # noqa: E402
from kernelalg.errors import InputError, OutputError  # noqa: E402
from kernelalg.numeric.kernels import Kernel  # noqa: E402

X = np.random.default_rng(0).normal(size=(257, 3))
Y = np.random.default_rng(1).normal(size=(61, 3)) * 2
KERNEL = Kernel("sign", "gaussian", depth=2, sigma_w=1.2, sigma_b=0.1)


@pytest.mark.parametrize("output", ["nngp", "sgntk", "ntk"])
def test_threaded_dask_equals_dense(output):
    dense = KERNEL(X)
    assert np.array_equal(gram(KERNEL, X, output=output, rows=50).compute(), getattr(dense, output))
    assert np.array_equal(gram(KERNEL, X, Y, output=output, rows=33).compute(), getattr(KERNEL(X, Y), output))


@pytest.fixture(scope="module")
def client():
    """Two worker processes: the Kernel (already used in this process) travels by pickling."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        yield client


def test_local_cluster_after_local_use_equals_dense(client):
    dense = KERNEL(X).sgntk  # the Kernel has compiled its maps here before it is sent
    assert np.array_equal(client.compute(gram(KERNEL, X, output="sgntk", rows=40)).result(), dense)
    assert np.array_equal(client.compute(gram(KERNEL, X, Y, output="nngp", rows=40)).result(), KERNEL(X, Y).nngp)


@pytest.mark.parametrize("suffix", [".npy", ".zarr"])
@pytest.mark.parametrize("distributed_", [False, True], ids=["threads", "cluster"])
def test_to_disk_writes_the_matrix(tmp_path, request, suffix, distributed_):
    client = request.getfixturevalue("client") if distributed_ else None
    path = to_disk(gram(KERNEL, X, Y, output="nngp", rows=64), tmp_path / f"nngp{suffix}", client=client)
    stored = np.load(path) if suffix == ".npy" else zarr.open(str(path), mode="r")[:]
    assert np.array_equal(stored, KERNEL(X, Y).nngp)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary files left


@pytest.mark.parametrize("suffix", [".npy", ".zarr"])
def test_to_disk_replaces_only_when_asked(tmp_path, suffix):
    path = tmp_path / f"K{suffix}"
    to_disk(gram(KERNEL, X, output="nngp", rows=64), path)
    with pytest.raises(OutputError, match="exists"):
        to_disk(gram(KERNEL, X, output="sgntk", rows=64), path)
    to_disk(gram(KERNEL, X, output="sgntk", rows=64), path, overwrite=True)
    stored = np.load(path) if suffix == ".npy" else zarr.open(str(path), mode="r")[:]
    assert np.array_equal(stored, KERNEL(X).sgntk)


def test_bad_to_disk_and_gram_arguments(tmp_path):
    with pytest.raises(OutputError, match=".zarr stores and .npy"):
        to_disk(gram(KERNEL, X), tmp_path / "K.csv")
    with pytest.raises(OutputError, match="does not exist"):
        to_disk(gram(KERNEL, X), tmp_path / "no" / "K.npy")
    for kwargs in ({"output": "bogus"}, {"rows": 0}):
        with pytest.raises(InputError):
            gram(KERNEL, X, **kwargs)


def test_a_used_kernel_pickles_without_its_compiled_maps():
    KERNEL(X[:2])
    copy = pickle.loads(pickle.dumps(KERNEL))
    assert "maps" not in copy.__dict__ and copy == KERNEL
    assert np.array_equal(copy(X, Y).sgntk, KERNEL(X, Y).sgntk)


def test_outputs_do_not_depend_on_which_are_requested():
    full = KERNEL(X, Y)
    for name in ("nngp", "sgntk", "ntk"):
        assert np.array_equal(getattr(KERNEL(X, Y, outputs=(name,)), name), getattr(full, name))
