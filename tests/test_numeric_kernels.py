"""Deep kernels against the independent layer-by-layer mpmath reference, and their properties."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernelalg.errors import InputError
from kernelalg.numeric.kernels import Kernel, circle
from kernelalg.numeric.layermaps import generate_source
from tests.witness import functions as F
from tests.witness.deep import deep_kernels, gauss_hermite, hermite_maps, witness_maps

# points of different norms, so that the asymmetric cases I(x, y) != I(y, x) occur
X = np.array([[1.0, 0.0], [0.3, -2.0], [-0.5, 0.4]])
Y = np.array([[0.8, 0.6], [2.0, 1.0]])
SW, SB = 1.3, 0.2


def rel_err(got, want):
    return np.max(np.abs(got - want) / np.abs(want))


def _williams(m):
    """Textbook erf(m x) maps (Williams 1997): arcsine formula and its derivative kernel."""
    def maps(name, a, b, c):
        a, b, c = m * m * a, m * m * b, m * m * c
        if name == "nngp":
            return 2 / mp.pi * mp.asin(2 * c / mp.sqrt((1 + 2 * a) * (1 + 2 * b)))
        return 4 * m * m / mp.pi / mp.sqrt((1 + 2 * a) * (1 + 2 * b) - 4 * c * c)
    return maps


def _sin_maps(name, a, b, c):
    """E[sin u sin v] = exp(-(a+b)/2) sinh c and E[cos u cos v] = exp(-(a+b)/2) cosh c."""
    return mp.exp(-(a + b) / 2) * (mp.sinh(c) if name == "nngp" else mp.cosh(c))


def _gelu_maps(name, a, b, c):
    """GELU: the published NNGP (Tsuchida et al. 2021); the derivative map by an 80-point
    Gauss-Hermite product rule of Phi(x) + x phi(x)."""
    if name == "nngp":
        P = (1 + a) * (1 + b)
        K = P - c * c
        return c / 4 + c * mp.asin(c / mp.sqrt(P)) / (2 * mp.pi) + (a * b * K + c * c) / (2 * mp.pi * P * mp.sqrt(K))
    dgelu = lambda x: mp.ncdf(x) + x * mp.npdf(x)  # noqa: E731
    return gauss_hermite(dgelu, dgelu, a, b, c, 80)


SMOOTH = [  # psi = phi': the SG-NTK is the standard NTK
    ("erf", _williams(1), 1e-10),
    ("erf(m=2)", _williams(2), 1e-10),
    ("sin", _sin_maps, 1e-10),
    ("rbf(gamma=0.5)", lambda name, a, b, c: mp.exp(-(a + b) / 2 + c), 1e-10),  # sqrt(2) sin(x + pi/4)
    ("gelu", _gelu_maps, 1e-10),
    # tanh has no closed form: fallback quadrature (1e-7) against a 200-point Gauss-Hermite rule
    ("tanh", hermite_maps(mp.tanh, lambda x: 1 / mp.cosh(x) ** 2, lambda x: 1 / mp.cosh(x) ** 2), 1e-7),
]


@pytest.mark.parametrize("phi,maps,tol", SMOOTH, ids=[s[0] for s in SMOOTH])
def test_smooth_sgntk_is_the_ntk_against_mpmath(phi, maps, tol):
    kernel = Kernel(phi, None, depth=2, sigma_w=SW, sigma_b=SB)
    # the Gauss-Hermite references (tanh: 40000 points per map, GELU's derivative map: 6400) on fewer pairs
    x, y = (X[1:], Y[1:]) if phi in ("tanh", "gelu") else (X, Y)
    got = kernel(x, y)
    S, I, T = deep_kernels(maps, x, y, 2, SW, SB, naive=True)
    assert rel_err(got.nngp, S) < tol
    assert rel_err(got.sgntk, I) < tol
    assert rel_err(got.ntk, T) < tol
    assert np.allclose(kernel(y, x).sgntk.T, got.sgntk, rtol=1e-13)  # psi = phi': symmetric


@pytest.mark.parametrize("gamma", [0.5, 1.0, 2.0])
@pytest.mark.parametrize("depth", [1, 3])
def test_rbf_network_to_rounding_against_the_rbf_kernel_recursion(gamma, depth):
    """neural-tangents' Rbf layer sqrt(2) sin(sqrt(2 gamma) x + pi/4): its maps are the RBF kernel
    exp(-gamma (a + b - 2c)) and 2 gamma times it; the network kernels to 1e-15 (a quadrature
    fallback was off by 5e-7 here)."""
    maps = lambda name, a, b, c: (1 if name == "nngp" else 2 * gamma) * mp.exp(-gamma * (a + b - 2 * c))  # noqa: E731
    S, I = deep_kernels(maps, X, Y, depth, SW, SB)
    got = Kernel(f"rbf(gamma={gamma})", None, depth=depth, sigma_w=SW, sigma_b=SB)(X, Y, outputs=("nngp", "sgntk"))
    assert rel_err(got.nngp, S) < 1e-15 and rel_err(got.sgntk, I) < 1e-15


def _arc_cosine(a, b, c):
    """Textbook ReLU maps (Cho & Saul): E[relu relu] and E[H H]."""
    rho = max(-1, min(1, c / mp.sqrt(a * b)))
    theta = mp.acos(rho)
    return (mp.sqrt(a * b) * (mp.sin(theta) + (mp.pi - theta) * mp.cos(theta)) / (2 * mp.pi),
            (mp.pi - theta) / (2 * mp.pi))


def test_relu_against_the_arc_cosine_recursion():
    maps = lambda name, a, b, c: _arc_cosine(a, b, c)[0 if name == "nngp" else 1]  # noqa: E731
    S, I, T = deep_kernels(maps, X, Y, 3, SW, SB, naive=True)
    got = Kernel("relu", None, depth=3, sigma_w=SW, sigma_b=SB)(X, Y)
    assert rel_err(got.nngp, S) < 1e-10 and rel_err(got.sgntk, I) < 1e-10 and rel_err(got.ntk, T) < 1e-10


SIGN_SURROGATES = {
    "gaussian(sigma=0.5)": F.gaussian(0.5),
    "laplace(k=2, amp=2)": F.laplace(2.0, 2.0),
    "triangle": F.triangle(),
    "box(w=0.5)": F.box(0.5),
    "multi_gaussian": F.multi_gaussian(),
    "atan": F.atan(2.0),
}


@pytest.mark.parametrize("psi", SIGN_SURROGATES)
def test_sign_sgntk_with_closed_form_surrogates(psi):
    kernel = Kernel("sign", psi, depth=2, sigma_w=SW, sigma_b=SB)
    got = kernel(X, Y, outputs=("nngp", "sgntk"))
    S, I = deep_kernels(witness_maps(F.sign(), SIGN_SURROGATES[psi]), X, Y, 2, SW, SB)
    assert rel_err(got.nngp, S) < 1e-10
    assert rel_err(got.sgntk, I) < 1e-10
    # off the sphere I(x, y) != I(y, x): the reversed computation matches the reference too
    _, I_reversed = deep_kernels(witness_maps(F.sign(), SIGN_SURROGATES[psi]), Y, X, 2, SW, SB)
    assert rel_err(kernel(Y, X, outputs=("sgntk",)).sgntk, I_reversed) < 1e-10
    assert not np.allclose(I_reversed.T, I, rtol=1e-3)


def test_sign_nngp_is_the_arcsine_recursion():
    maps = lambda name, a, b, c: 2 / mp.pi * mp.asin(c / mp.sqrt(a * b))  # noqa: E731
    S, _ = deep_kernels(maps, X, Y, 4, SW, SB)
    assert rel_err(Kernel("sign", "gaussian", depth=4, sigma_w=SW, sigma_b=SB)(X, Y).nngp, S) < 1e-12


def test_sign_naive_ntk_diverges_on_the_diagonal_only():
    result = Kernel("sign", "gaussian", depth=2)(circle(5))  # no antipodal pairs (rho = -1 diverges too)
    assert np.isposinf(np.diag(result.ntk)).all()
    assert np.isfinite(result.ntk[~np.eye(5, dtype=bool)]).all()
    assert np.isfinite(result.sgntk).all()


# --- properties -------------------------------------------------------------------------

ACTIVATIONS = ["sign", "erf", "erf(m=5)", "relu", "step(t=0.3)", "tanh"]


@settings(max_examples=15)
@given(st.sampled_from(ACTIVATIONS), st.integers(1, 4), st.integers(2, 10), st.integers(1, 3),
       st.integers(0, 2**32 - 1))
def test_nngp_gram_is_psd(phi, depth, n, d, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * np.exp(rng.normal(size=(n, 1)))
    gram = Kernel(phi, "gaussian", depth=depth, sigma_w=1.2, sigma_b=0.3)(x, outputs=("nngp",)).nngp
    eig = np.linalg.eigvalsh((gram + gram.T) / 2)
    assert np.allclose(gram, gram.T, rtol=1e-12, atol=1e-300)
    assert eig.min() >= -1e-9 * eig.max()


@settings(max_examples=15)
@given(st.sampled_from(["sign", "erf(m=3)", "step"]), st.sampled_from(["gaussian", "triangle", "atan"]),
       st.integers(2, 8), st.integers(2, 4), st.floats(0.2, 5.0), st.integers(0, 2**32 - 1))
def test_sgntk_is_symmetric_on_the_sphere(phi, psi, n, d, radius, seed):
    x = np.random.default_rng(seed).normal(size=(n, d))
    x *= radius / np.linalg.norm(x, axis=1, keepdims=True)
    I = Kernel(phi, psi, depth=2)(x, outputs=("sgntk",)).sgntk
    assert np.allclose(I, I.T, rtol=1e-12, atol=0)


@pytest.mark.parametrize("psi", ["gaussian", pytest.param("triangle", marks=pytest.mark.slow)])
@settings(max_examples=10)
@given(st.integers(2, 6), st.integers(0, 2**32 - 1))
def test_erf_m_sgntk_approaches_sign(psi, n, seed):
    x = np.random.default_rng(seed).normal(size=(n, 3))
    sign = Kernel("sign", psi, depth=2)(x, outputs=("sgntk",)).sgntk
    dist = [np.abs(Kernel(f"erf(m={m})", psi, depth=2)(x, outputs=("sgntk",)).sgntk - sign).max() / np.abs(sign).max()
            for m in (3, 30, 300, 3000)]
    assert all(d2 < d1 for d1, d2 in zip(dist, dist[1:])) and dist[-1] < 1e-2


def test_naive_ntk_of_erf_m_diagonal_grows_like_m():
    x = circle(5)
    ntk = {m: Kernel(f"erf(m={m})", None, depth=1)(x, outputs=("ntk",)).ntk for m in (100, 1000, 10000)}
    diag_ratio = np.diag(ntk[10000]) / np.diag(ntk[1000])
    assert np.allclose(diag_ratio, 10, rtol=0.05)
    off = ~np.eye(5, dtype=bool)
    assert np.abs(ntk[10000][off] - ntk[1000][off]).max() < np.abs(ntk[1000][off] - ntk[100][off]).max()
    assert np.abs(ntk[10000][off] - ntk[1000][off]).max() / np.abs(ntk[10000][off]).max() < 0.05


# --- modes, blocking, standalone code, bad input -----------------------------------------

def test_diagonal_mode_and_blocking_agree():
    """Blocks change only the BLAS rounding of the input products (a few ulps)."""
    x = np.random.default_rng(0).normal(size=(37, 3))
    kernel = Kernel("sign", "gaussian", depth=3, sigma_w=1.1, sigma_b=0.1)
    full = kernel(x)
    for other in (kernel(x, block_rows=1, workers=1), kernel(x, block_rows=5, workers=2)):
        for name in ("nngp", "sgntk", "ntk"):
            assert np.allclose(getattr(full, name), getattr(other, name), rtol=1e-13, atol=1e-15)
    diag = kernel.diagonal(x)
    assert np.array_equal(diag.nngp, np.diag(full.nngp)) and np.allclose(diag.sgntk, np.diag(full.sgntk), rtol=1e-14)


@pytest.mark.parametrize("phi,psi", [("sign", "gaussian"), ("erf", None), ("relu", "triangle")])
def test_upper_triangle_equals_the_full_computation(phi, psi):
    """K(X, X) from its upper triangle (and the swapped SG recursion) equals the general path,
    which computes every entry, to float64 rounding; symmetric outputs are exactly symmetric."""
    x = np.random.default_rng(3).normal(size=(23, 3)) * np.exp(np.random.default_rng(4).normal(size=(23, 1)))
    kernel = Kernel(phi, psi, depth=2, sigma_w=1.1, sigma_b=0.1)
    same, full = kernel(x, block_rows=4), kernel(x, x.copy())
    for name in ("nngp", "sgntk", "ntk"):
        assert np.allclose(getattr(same, name), getattr(full, name), rtol=1e-12, atol=0), name
    assert np.array_equal(same.nngp, same.nngp.T) and np.array_equal(same.ntk, same.ntk.T)
    assert np.array_equal(same.sgntk, same.sgntk.T) == (psi is None)


def test_generated_module_in_a_fresh_interpreter(tmp_path):
    """python -I (no site packages path of the checkout, no kernelalg import) on the written module."""
    path = tmp_path / "maps.py"
    path.write_text(generate_source("sign", "gaussian(sigma=0.5)"))
    script = ("import sys, json, importlib.util; spec = importlib.util.spec_from_file_location('maps', sys.argv[1]);"
              "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m);"
              "assert 'kernelalg' not in sys.modules;"
              "print(json.dumps([float(getattr(m, n)(1.5, 0.7, -0.6)) for n in ('nngp', 'sg', 'ntk', 'surrogate')]))")
    out = subprocess.run([sys.executable, "-I", "-c", script, str(path)], capture_output=True, text=True, check=True)
    from kernelalg import layer_maps
    lib = layer_maps("sign", "gaussian(sigma=0.5)")
    want = [float(getattr(lib, n)(1.5, 0.7, -0.6)) for n in ("nngp", "sg", "ntk", "surrogate")]
    assert np.allclose(eval(out.stdout), want, rtol=1e-15, atol=0)  # noqa: S307 (our own JSON list)


@pytest.mark.parametrize("bad", [np.array([[np.nan, 1.0]]), np.zeros((0, 2)), np.ones((2, 2, 2)), [[1, "a"]]])
def test_bad_points(bad):
    with pytest.raises(InputError):
        Kernel("sign", "gaussian")(bad)


def test_bad_kernel_parameters():
    for kwargs in ({"depth": 0}, {"sigma_w": -1.0}, {"sigma_b": np.nan}, {"depth": 1.5}):
        with pytest.raises(InputError):
            Kernel("sign", "gaussian", **kwargs)
    with pytest.raises(InputError):
        Kernel("sign", "gaussian")(np.ones((2, 2)), np.ones((2, 3)))


NT_PYTHON = Path.home() / ".cache" / "kernelalg-peers" / "ntenv" / "bin" / "python"
_NT_SCRIPT = """
import json, sys
import jax
jax.config.update("jax_enable_x64", True)
import numpy as np
from neural_tangents import stax
job = json.load(sys.stdin)
out = {}
for name, act in (("sin", stax.Sin()), ("gelu", stax.Gelu()), ("rbf", stax.Rbf(1.0))):
    dense = lambda: stax.Dense(1, W_std=job["sw"], b_std=job["sb"])
    _, _, kernel_fn = stax.serial(dense(), act, dense(), act, dense())
    k = kernel_fn(np.array(job["x"]), np.array(job["y"]), ("nngp", "ntk"))
    out[name] = [np.asarray(k[0]).tolist(), np.asarray(k[1]).tolist()]
print(json.dumps(out))
"""


@pytest.mark.skipif(not NT_PYTHON.exists(), reason="neural-tangents venv (optional) not installed")
def test_new_closed_forms_agree_with_neural_tangents():
    """Depth-2 NNGP and NTK of sin, GELU and neural-tangents' Rbf against neural-tangents'
    analytic kernels (float64), independent code."""
    job = {"x": X.tolist(), "y": Y.tolist(), "sw": SW, "sb": SB}
    done = subprocess.run([str(NT_PYTHON), "-c", _NT_SCRIPT], input=json.dumps(job), capture_output=True,
                          text=True, check=True, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    nt = json.loads(done.stdout.strip().splitlines()[-1])
    for name in ("sin", "gelu", "rbf"):
        got = Kernel(name, None, depth=2, sigma_w=SW, sigma_b=SB)(X, Y, outputs=("nngp", "sgntk"))
        assert rel_err(got.nngp, np.array(nt[name][0])) < 1e-12, name
        assert rel_err(got.sgntk, np.array(nt[name][1])) < 1e-12, name


def test_kernels_leave_the_process_allocator_alone():
    """tune_allocator changes malloc settings of the whole process: it is opt-in, never called by
    the kernels themselves (nor by cli.main, which the tests call in this process)."""
    from kernelalg.numeric import allocator

    Kernel("sign", "gaussian", depth=2)(X, Y)
    Kernel("sign", "gaussian").rows(X[:3], Y)
    assert allocator.tune_allocator.cache_info().currsize == 0


def _arcsine_gaussian(name, a, b, c):
    """Textbook sign maps with the standard normal density as surrogate: arcsine kernel and
    E[2 delta(u) N(v; 0, 1)] = 1/(pi sqrt(ab + a - c^2))."""
    if name == "nngp":
        return 2 / mp.pi * mp.asin(c / mp.sqrt(a * b))
    return 1 / (mp.pi * mp.sqrt(a * b + a - c * c))


UNIT = np.array([[1.0, 0.0], [0.6, 0.8], [-0.28, 0.96]])
EXTREME = [  # (phi, psi, textbook maps, points): norms far outside the float64 range of a*b
    ("sign", "gaussian", _arcsine_gaussian),
    ("erf", None, _williams(1)),
    ("relu", None, lambda name, a, b, c: _arc_cosine(a, b, c)[0 if name == "nngp" else 1]),
]


@pytest.mark.parametrize("scale", [1e-150, 1e150])
@pytest.mark.parametrize("phi,psi,maps", EXTREME, ids=[e[0] for e in EXTREME])
def test_inputs_of_extreme_norm_against_the_textbook_recursion(phi, psi, maps, scale):
    """Norms 1e-150 and 1e150 (variances 1e-300, 1e300): a*b under- or overflows in float64; the
    kernels still match the mpmath recursion to 1e-12 (relu: its values scale like the norm^2)."""
    points = UNIT * scale
    S, I = deep_kernels(_digits(maps, 700), points, points, 2, 1.0, 0.0)
    got = Kernel(phi, psi, depth=2)(points, outputs=("nngp", "sgntk"))
    assert rel_err(got.nngp, S) < 1e-12 and rel_err(got.sgntk, I) < 1e-12


def _digits(maps, dps: int):
    """The maps evaluated at dps digits: at variances 1e300, ab + a - c^2 needs 600 of them."""
    def precise(name, a, b, c):
        with mp.workdps(dps):
            return +maps(name, a, b, c)
    return precise


EDGE_POINTS = np.array([  # pairs near and on the edge |rho| = 1
    [1.0, 0.0], [-1.3, 1.3e-9],              # angle pi - 1e-9, unequal norms: 1 + rho = 5e-19
    [0.6, 0.8], [-0.6, -0.8 + 3e-3],         # pi - 3e-3: float64 suffices
    [0.6 - 3e-4, 0.8], [np.cos(1e-4), np.sin(1e-4)],  # pi - 3.7e-4 from row 3, 1e-4 from row 0
    [-0.6, -0.8], [1.0, 0.0],                # exact mirror of row 2, duplicate of row 0
])


@pytest.mark.parametrize("depth,sb", [(2, 0.0), (3, 0.1)])
@pytest.mark.parametrize("phi,psi,maps", EXTREME, ids=[e[0] for e in EXTREME])
def test_near_antipodal_pairs_against_the_textbook_recursion(phi, psi, maps, depth, sb):
    """Pairs down to angle pi - 1e-9 (1 + rho = 5e-19, below the rounding of a float64 covariance)
    and 1e-4 from parallel, mirrored and repeated rows: relative 1e-12 against the mpmath
    recursion from the exact input products, in both argument orders of the SG-NTK."""
    S, I = deep_kernels(maps, EDGE_POINTS, EDGE_POINTS, depth, 1.0, sb, dps=60)
    got = Kernel(phi, psi, depth=depth, sigma_b=sb)(EDGE_POINTS, outputs=("nngp", "sgntk"))
    assert rel_err(got.nngp, S) < 1e-12 and rel_err(got.sgntk, I) < 1e-12
    Y = EDGE_POINTS[::-1].copy()  # the rows path (X is not Y)
    got = Kernel(phi, psi, depth=depth, sigma_b=sb)(EDGE_POINTS, Y, outputs=("nngp", "sgntk"))
    assert rel_err(got.nngp, S[:, ::-1]) < 1e-12 and rel_err(got.sgntk, I[:, ::-1]) < 1e-12
