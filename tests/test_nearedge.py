"""Near-edge treatment of the deep kernels (kernelalg.numeric.nearedge): exact gaps, settled
pairs, recomputed pairs, and the outputs left in float64 where a map has no closed form."""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernelalg.numeric import nearedge
from kernelalg.numeric.kernels import Kernel, circle
from tests.test_numeric_kernels import EDGE_POINTS, EXTREME, rel_err
from tests.witness.deep import deep_kernels


def _mp_gap(x, y, w, beta):
    """1 - c^2/(ab) of S1 = w <x, y> + beta from exact products, at 80 digits."""
    with mp.workdps(80):
        def dot(p, q):
            return mp.mpf(w) * mp.fsum(mp.mpf(float(s)) * mp.mpf(float(t)) for s, t in zip(p, q)) + mp.mpf(beta)
        a, b, c = dot(x, x), dot(y, y), dot(x, y)
        return (a * b - c * c) / (a * b)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-2, 2).filter(lambda v: abs(v) > 1e-6), min_size=1, max_size=20), st.integers(0, 2**31),
       st.floats(-16, -2), st.sampled_from([1.0, -1.0, 2.5, -0.3]), st.sampled_from([0.0, 0.1]))
def test_double_double_gaps_against_mpmath(x, seed, log_offset, scale, beta):
    """The double-double gap of a pair y = scale x + offset agrees with exact products to 1e-10
    relative plus 1e-30 (float64 alone keeps no digit of it below 1e-16)."""
    x = np.array(x)
    noise = np.random.default_rng(seed).standard_normal(x.size)
    y = scale * x + 10.0**log_offset * np.linalg.norm(x) * noise
    X, Y = x[None, :], y[None, :]
    w = 1.3 / x.size
    got = nearedge.relative_gaps(X, Y, w, beta)[0]
    assert abs(got - _mp_gap(x, y, w, beta)) <= 1e-10 * abs(got) + 1e-30


def test_antipodal_circle_points_are_settled_without_mpmath(monkeypatch):
    """Antipodal points of a circle (rho = -1 up to the rounding of cos and sin) and repeated
    rows are put on the edge: no entry goes to the mpmath path, and the kernel equals the mpmath
    recursion there to 1e-12."""
    def refuse(*args, **kwargs):
        raise AssertionError("a settled pair went to the mpmath recursion")

    monkeypatch.setattr(nearedge, "recompute", refuse)
    X = np.concatenate([circle(64), circle(64)[:3]])
    phi, psi, maps = EXTREME[0]
    got = Kernel(phi, psi, depth=2)(X, outputs=("nngp", "sgntk"))
    rows = [0, 5, 32, 37, 64]  # 32 and 37 are antipodal to 0 and 5; 64 repeats row 0
    S, I = deep_kernels(maps, X[rows], X[rows], 2, 1.0, 0.0, dps=60)
    assert rel_err(got.nngp[np.ix_(rows, rows)], S) < 1e-12
    assert rel_err(got.sgntk[np.ix_(rows, rows)], I) < 1e-12


def test_only_closed_outputs_are_recomputed():
    """sign + fast sigmoid: the NNGP (arcsine, closed) is recomputed at a near-antipodal pair, the
    SG-NTK (tabulated sg) keeps its float64 value; tanh (no closed map) is left to float64 and
    finite."""
    phi, psi, maps = EXTREME[0]
    S, _ = deep_kernels(maps, EDGE_POINTS[:2], EDGE_POINTS[:2], 2, 1.0, 0.0, dps=60)
    got = Kernel("sign", "snntorch.fast_sigmoid", depth=2)(EDGE_POINTS[:2], outputs=("nngp", "sgntk"))
    assert rel_err(got.nngp, S) < 1e-12 and np.isfinite(got.sgntk).all()
    chain = Kernel("sign", "snntorch.fast_sigmoid", depth=2).chain
    assert nearedge.refinable(chain.steps, ("nngp", "sgntk", "ntk")) == ("nngp", "ntk")
    assert np.isfinite(Kernel("tanh", depth=2)(EDGE_POINTS[:2]).sgntk).all()


@pytest.mark.parametrize("start", [0, 3])
def test_row_bands_equal_the_dense_kernel_near_the_edge(start):
    """Row bands (the unit of distributed computation) carry the same near-edge values as the
    dense kernel, bit for bit."""
    kernel = Kernel("sign", "gaussian", depth=2)
    dense = kernel(EDGE_POINTS)
    band = kernel.rows(EDGE_POINTS[start:start + 4], EDGE_POINTS, start=start)
    for name in ("nngp", "sgntk", "ntk"):
        assert np.array_equal(getattr(band, name), getattr(dense, name)[start:start + 4])


def test_threads_agree_with_one_thread_near_the_edge():
    """Blocks on two threads recompute their near-edge entries in turn (mpmath's precision is
    global to the process): the same numbers as one thread, bit for bit."""
    angles = np.pi * np.array([0.0, 1e-9, 2e-9, 1.0, 1.0 + 1e-9, 0.5, 0.5 - 1e-9, 1.5])
    X = np.stack([np.cos(angles), np.sin(angles)], axis=1) * np.linspace(1.0, 1.7, angles.size)[:, None]
    kernel = Kernel("sign", "gaussian", depth=2)
    one, two = kernel(X, workers=1, block_rows=1), kernel(X, workers=2, block_rows=1)
    for name in ("nngp", "sgntk", "ntk"):
        assert np.array_equal(getattr(one, name), getattr(two, name))
