"""Gram matrices as blocked Dask arrays (optional extra ``dask``), for inputs beyond one
machine's memory.

Each block is a band of full-width rows computed by :meth:`Kernel.rows` or
:meth:`kernelalg.layers.Network.rows` (the same generated layer maps and exact diagonal as the
dense path, so the numbers are identical).  The local
threaded scheduler is used by default; pass a ``dask.distributed`` client to run on a
cluster (a Kernel travels without its compiled maps, which each worker reloads from the cache).
``to_disk`` streams the blocks into a Zarr array or a ``.npy`` file, atomically.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kernelalg.errors import InputError, OutputError
from kernelalg.files import replacing
from kernelalg.layers.network import Network
from kernelalg.numeric.chain import check_count
from kernelalg.numeric.kernels import OUTPUTS, Kernel, as_inputs, as_points

try:
    import dask
    import dask.array as da
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("distributed Gram matrices need dask: pip install 'kernelalg[dask]'") from exc

#: default rows per block: about 2**22 elements (32 MiB of float64) per block
BLOCK_ELEMENTS = 2**22


def gram(kernel: Kernel | Network, X, Y=None, output: str = "sgntk", rows: int | None = None) -> da.Array:
    """K(X, Y) for one output ("nngp", "sgntk" or "ntk") as a lazy Dask array of row bands.

    ``kernel``: an MLP :class:`Kernel` with inputs (N, d), or a :mod:`kernelalg.layers` network
    with inputs (N, *spatial, C) and a flat output; the default band height keeps a band's
    pixel-pair arrays near BLOCK_ELEMENTS entries."""
    if output not in OUTPUTS:
        raise InputError(f"unknown kernel output {output!r}; choose from {OUTPUTS}")
    check_count("rows", rows)
    check = as_inputs if isinstance(kernel, Network) else as_points
    X = check(X, "X")
    same = Y is None
    Y = X if same else check(Y, "Y")
    if X.shape[1:] != Y.shape[1:]:
        raise InputError(f"X and Y must have the same shape per input, got {X.shape[1:]} and {Y.shape[1:]}")
    pixels = kernel.pixels(X.shape[1:-1]) if isinstance(kernel, Network) else 1
    rows = rows or max(1, BLOCK_ELEMENTS // (Y.shape[0] * pixels * pixels))
    bands = da.from_array(X, chunks=(rows, *X.shape[1:]))
    Y_shared = dask.delayed(Y, pure=True)  # one copy of Y in the graph

    def band(block: np.ndarray, Y: np.ndarray, block_info=None) -> np.ndarray:
        start = block_info[0]["array-location"][0][0]
        return getattr(kernel.rows(block, Y, start if same else None, (output,)), output)

    return da.map_blocks(band, bands, Y_shared, dtype=float, chunks=(bands.chunks[0], (Y.shape[0],)),
                         drop_axis=list(range(2, X.ndim)), meta=np.empty((0, 0)))


class NpyRegions:
    """A ``.npy`` file as a Dask store target: each block opens the file, writes its region and
    flushes, so blocks computed in other processes (a distributed cluster) land in the file."""

    def __init__(self, path: Path, shape: tuple[int, ...]):
        self.path, self.shape, self.dtype, self.ndim = str(path), shape, np.dtype(float), len(shape)
        np.lib.format.open_memmap(self.path, mode="w+", dtype=float, shape=shape).flush()

    def __setitem__(self, region, values) -> None:
        target = np.load(self.path, mmap_mode="r+")
        target[region] = values
        target.flush()


def to_disk(array: da.Array, path: str | Path, client=None, overwrite: bool = False) -> Path:
    """Compute ``array`` block by block into ``path`` (``.zarr``: a Zarr store; ``.npy``: a NumPy
    file), so that only a few blocks are in memory at a time.  The data go to a temporary file
    (folder) next to ``path``, renamed when complete; an existing ``path`` is replaced only with
    ``overwrite``."""
    path = Path(path)
    if path.suffix not in (".zarr", ".npy"):
        raise OutputError(f"cannot write {path}: to_disk writes .zarr stores and .npy files")
    with replacing(path, overwrite, folder=path.suffix == ".zarr") as tmp:
        if path.suffix == ".zarr":
            target = da.to_zarr(array, str(tmp), overwrite=True, compute=False)
        else:
            target = da.store(array, NpyRegions(tmp, array.shape), lock=False, compute=False)
        if client is not None:
            client.compute(target).result()
        else:
            dask.compute(target)
    return path
