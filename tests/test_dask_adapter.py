"""The Dask path: identical numbers to the dense path, on a LocalCluster, and written to disk."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")
zarr = pytest.importorskip("zarr")

from kernelalg.adapters.dask import gram, to_disk  # noqa: E402
from kernelalg.numeric.kernels import Kernel  # noqa: E402

X = np.random.default_rng(0).normal(size=(257, 3))
Y = np.random.default_rng(1).normal(size=(61, 3)) * 2
KERNEL = Kernel("sign", "gaussian", depth=2, sigma_w=1.2, sigma_b=0.1)


@pytest.mark.parametrize("output", ["nngp", "sgntk", "ntk"])
def test_threaded_dask_equals_dense(output):
    dense = KERNEL(X)
    assert np.array_equal(gram(KERNEL, X, output=output, rows=50).compute(), getattr(dense, output))
    assert np.array_equal(gram(KERNEL, X, Y, output=output, rows=33).compute(), getattr(KERNEL(X, Y), output))


def test_local_cluster_with_two_workers_equals_dense(tmp_path):
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        result = client.compute(gram(KERNEL, X, output="sgntk", rows=40)).result()
        path = to_disk(gram(KERNEL, X, output="sgntk", rows=40), tmp_path / "sgntk.zarr", client=client)
    dense = KERNEL(X).sgntk
    assert np.array_equal(result, dense)
    assert np.array_equal(zarr.open(str(path), mode="r")[:], dense)


def test_memory_map_output(tmp_path):
    path = to_disk(gram(KERNEL, X, Y, output="nngp", rows=64), tmp_path / "nngp.npy")
    assert np.array_equal(np.load(path, mmap_mode="r"), KERNEL(X, Y).nngp)


def test_outputs_do_not_depend_on_which_are_requested():
    full = KERNEL(X, Y)
    for name in ("nngp", "sgntk", "ntk"):
        assert np.array_equal(getattr(KERNEL(X, Y, outputs=(name,)), name), getattr(full, name))
