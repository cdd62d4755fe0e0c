"""Blocked evaluation of a layer network's kernels: memory bounded by a budget, not by N^2 pixels^2.

Two passes.  (1) Each input with itself, in blocks of inputs: the per-pixel variances at every
activation are kept (N x pixels numbers per activation), and the last layer gives the kernel
diagonal.  (2) Blocks of input pairs (rows of X x columns of Y), each small enough that its
pixel-pair arrays (rows x columns x pixels^2 entries) stay within the budget, are mapped
through the layers with the kept variances and written into the output; blocks run on a
thread pool (NumPy releases the GIL).  Peak memory is the outputs plus a few blocks.
"""

from __future__ import annotations

import numpy as np

from kernelalg.layers.core import Layer
from kernelalg.layers.record import CrossSide, Record, Request, SelfSide, Variances
from kernelalg.layers.spatial import channel_gram
from kernelalg.numeric.chain import OUTPUTS, run_blocks

#: entries of one pixel-pair work array of a block (8 MiB of float64)
BLOCK_ELEMENTS = 1 << 20


def _self_cov(X: np.ndarray) -> np.ndarray:
    """<x_p, x_q> / C for each input: (n, *spatial, *spatial)."""
    n, spatial, C = X.shape[0], X.shape[1:-1], X.shape[-1]
    flat = X.reshape(n, -1, C)
    return (flat @ flat.transpose(0, 2, 1) / C).reshape(n, *spatial, *spatial)


def _cross_cov(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """<x_p, y_q> / C: (n, m, *spatial, *spatial)."""
    return channel_gram(X, Y) / X.shape[-1]


def _rows(total: int, per_row: int, budget: int) -> int:
    return max(1, min(total, budget // max(per_row, 1)))


def _concatenate(parts: list[list[Variances]]) -> list[Variances]:
    out = []
    for pieces in zip(*parts):
        value = np.concatenate([p.value for p in pieces])
        tangents = {k: None if pieces[0].tangents[k] is None else np.concatenate([p.tangents[k] for p in pieces])
                    for k in pieces[0].tangents}
        out.append(Variances(value, tangents))
    return out


def _slice(kept: list[Variances], rows: slice) -> list[Variances]:
    return [Variances(v.value[rows], {k: None if t is None else t[rows] for k, t in v.tangents.items()}) for v in kept]


def self_pass(net: Layer, X: np.ndarray, request: Request, budget: int = BLOCK_ELEMENTS):
    """Kept variances of every activation and the last record's kernels, for each input with itself."""
    spatial = X.shape[1:-1]
    pixels = net.pixels(spatial)
    rows = _rows(X.shape[0], pixels * pixels, budget)
    kept, finals = [], []
    for start in range(0, X.shape[0], rows):
        side = SelfSide()
        out = net.kernel(Record.inputs(_self_cov(X[start:start + rows]), spatial, request), side)
        kept.append(side.kept)
        finals.append(out)
    final = {name: _join([getattr(r, name) for r in finals]) for name in OUTPUTS}
    return _concatenate(kept), {k: np.zeros(final["nngp"].shape) if v is None else v for k, v in final.items()}


def _join(parts):
    return None if parts[0] is None else np.concatenate(parts)


def _zero_if_none(value):
    """A kernel that no parameter reaches (None in a record) is zero."""
    return 0.0 if value is None else value


def cross_pass(net: Layer, X: np.ndarray, Y: np.ndarray, request: Request, kept_x, kept_y, same_offset: int | None,
               outputs: dict[str, np.ndarray], gradients: dict[str, dict[str, np.ndarray]], workers: int = 2,
               budget: int = BLOCK_ELEMENTS) -> None:
    """Kernels of all pairs (rows of X, rows of Y), written into ``outputs`` and ``gradients``.

    ``same_offset``: X is Y[same_offset:same_offset + len(X)] (entries of equal inputs are exact)."""
    pixels = net.pixels(X.shape[1:-1])
    cols = _rows(Y.shape[0], pixels * pixels, budget)
    rows = _rows(X.shape[0], cols * pixels * pixels, budget)
    blocks = [(r, c) for r in range(0, X.shape[0], rows) for c in range(0, Y.shape[0], cols)]

    def block(corner: tuple[int, int]) -> None:
        r0, c0 = corner
        r, c = slice(r0, min(r0 + rows, X.shape[0])), slice(c0, min(c0 + cols, Y.shape[0]))
        same = None
        if same_offset is not None:
            k = np.arange(max(r.start + same_offset, c.start), min(r.stop + same_offset, c.stop))
            same = (k - same_offset - r.start, k - c.start)
        side = CrossSide(_slice(kept_x, r), _slice(kept_y, c), same)
        out = net.kernel(Record.inputs(_cross_cov(X[r], Y[c]), X.shape[1:-1], request), side)
        for name, target in outputs.items():
            target[r, c] = _zero_if_none(getattr(out, name))
        for name, targets in gradients.items():
            for output, target in targets.items():
                target[r, c] = _zero_if_none(getattr(out, f"d_{output}")[name])

    run_blocks(block, blocks, workers)
