"""Conv, pooling and residual kernels against neural-tangents' analytic kernels (psi = phi').

neural-tangents runs in its own Python (``$KERNELALG_NT_PYTHON`` or the peers' venv) in a
subprocess, with float64; the tests skip when it is absent.  With psi = phi' the SG-NTK is the
ordinary NTK, which neural-tangents computes.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from kernelalg import layers as L

NT_PYTHON = Path(os.environ.get("KERNELALG_NT_PYTHON", Path.home() / ".cache/kernelalg-peers/ntenv/bin/python"))
SCRIPT = Path(__file__).parent / "peers" / "nt_stax.py"
ACTIVATIONS = {"erf": "erf", "relu": "relu"}

ARCHITECTURES = {
    "conv-erf-strides-gap": [["conv", [3, 3], [1, 1], "SAME", 1.3, 0.2], ["act", "erf"],
                             ["conv", [3, 2], [2, 1], "VALID", 1.1, 0.1], ["act", "erf"], ["gap"], ["dense", 1.2, 0.3]],
    "conv-relu-pool-flatten": [["conv", [3, 3], [1, 1], "SAME", 1.3, 0.2], ["act", "relu"],
                               ["avgpool", [2, 2], [1, 2], "SAME"], ["conv", [2, 2], [1, 1], "VALID", 1.0, 0.0],
                               ["act", "relu"], ["flatten"], ["dense", 1.2, 0.3]],
    "residual": [["conv", [3, 3], [1, 1], "SAME", 1.3, 0.2],
                 ["residual", [["act", "relu"], ["conv", [3, 3], [1, 1], "SAME", 1.1, 0.1]]],
                 ["act", "erf"], ["avgpool", [2, 2], [2, 2], "VALID"], ["flatten"], ["dense", 1.2, 0.3]],
    "conv1d": [["conv", [3], [1], "SAME", 1.3, 0.2], ["act", "erf"], ["conv", [2], [2], "VALID", 1.1, 0.1],
               ["act", "relu"], ["gap"], ["dense", 1.2, 0.3]],
    "spatial-output": [["conv", [2, 3], [1, 1], "SAME", 1.2, 0.1], ["act", "erf"], ["avgpool", [2, 2], [1, 1], "VALID"],
                       ["conv", [2, 2], [1, 1], "SAME", 0.9, 0.4]],
}


def build(arch) -> L.Network:
    layers = []
    for kind, *args in arch:
        if kind == "conv":
            filter_shape, strides, padding, sw, sb = args
            layers.append(L.Conv(tuple(filter_shape), tuple(strides), padding, sigma_w=sw, sigma_b=sb))
        elif kind == "dense":
            layers.append(L.Dense(sigma_w=args[0], sigma_b=args[1]))
        elif kind == "act":
            layers.append(L.Activation(ACTIVATIONS[args[0]]))
        elif kind == "avgpool":
            layers.append(L.AvgPool(tuple(args[0]), tuple(args[1]), args[2]))
        elif kind == "gap":
            layers.append(L.GlobalAvgPool())
        elif kind == "flatten":
            layers.append(L.Flatten())
        elif kind == "residual":
            layers.append(L.Residual(*build(args[0]).layers))
    return L.serial(*layers)


def _inputs(name):
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    shape = (7, 2) if name == "conv1d" else (6, 5, 2)
    return rng.normal(size=(3, *shape)), rng.normal(size=(2, *shape))


def _interleaved(k: np.ndarray, nd: int) -> np.ndarray:
    """Our (N, M, *p, *q) layout in neural-tangents' (N, M, p1, q1, p2, q2, ...)."""
    order = [0, 1] + [i for d in range(nd) for i in (2 + d, 2 + nd + d)]
    return k.transpose(order)


@pytest.fixture(scope="module")
def reference():
    if not NT_PYTHON.exists():
        pytest.skip(f"neural-tangents' Python not found at {NT_PYTHON}")
    jobs, keys = [], []
    for name, arch in ARCHITECTURES.items():
        X, Y = _inputs(name)
        for pair, (x1, x2) in {"cross": (X, Y), "self": (X, None)}.items():
            jobs.append({"arch": arch, "x1": x1.tolist(), "x2": None if x2 is None else x2.tolist()})
            keys.append((name, pair))
    run = subprocess.run([str(NT_PYTHON), str(SCRIPT)], input=json.dumps({"jobs": jobs}), capture_output=True,
                         text=True, timeout=900, check=False)
    if run.returncode != 0:
        pytest.skip(f"neural-tangents failed to run: {run.stderr.strip().splitlines()[-1:]}")
    results = json.loads(run.stdout)["results"]
    return {key: (np.array(r["nngp"]), np.array(r["ntk"])) for key, r in zip(keys, results)}


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_kernels_equal_neural_tangents(reference, name):
    net = build(ARCHITECTURES[name])
    X, Y = _inputs(name)
    for pair, (x1, x2) in {"cross": (X, Y), "self": (X, None)}.items():
        got = net(x1, x2, outputs=("nngp", "sgntk"))
        # on the diagonal of a self kernel (same input, same pixel), neural-tangents evaluates
        # relu's derivative map arccos(c / sqrt(ab)) at a correlation rounded off 1 (it computes
        # variances and covariances apart), an error of ~1e-9 from the square-root singularity;
        # ours is exact there (c = a = b bit for bit)
        diagonal = np.zeros(got.nngp.shape, dtype=bool)
        if pair == "self":
            n, pixels = len(x1), int(np.prod(got.nngp.shape[2:2 + (got.nngp.ndim - 2) // 2]))
            flat = diagonal.reshape(n, n, pixels, pixels)
            flat[np.arange(n)[:, None], np.arange(n)[:, None], np.arange(pixels), np.arange(pixels)] = True
        out_nd = (got.nngp.ndim - 2) // 2
        nngp, ntk, diagonal = (_interleaved(v, out_nd) for v in (got.nngp, got.sgntk, diagonal))
        want_nngp, want_ntk = reference[(name, pair)]
        assert np.abs(nngp - want_nngp).max() <= 1e-10 * np.abs(want_nngp).max()
        assert np.abs(ntk - want_ntk)[~diagonal].max() <= 1e-10 * np.abs(want_ntk).max()
        assert np.abs(ntk - want_ntk).max() <= 1e-8 * np.abs(want_ntk).max()
