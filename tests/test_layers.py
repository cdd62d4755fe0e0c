"""kernelalg.layers: kernels of conv/pool/residual networks, the finite networks they describe,
blocking, hyperparameter gradients through the recursion against central differences, and the
kernels against neural-tangents' analytic kernels (psi = phi').

neural-tangents runs in its own Python (``$KERNELALG_NT_PYTHON`` or the peers' venv) in a
subprocess, with float64; those tests skip when it is absent.  With psi = phi' the SG-NTK is the
ordinary NTK, which neural-tangents computes.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernelalg import layers as L
from kernelalg.errors import CovarianceError, DerivationError, InputError, NumericalError
from kernelalg.numeric.kernels import Kernel

SW, SB = 1.2, 0.3


def conv_net(phi, psi=None, out=1):
    """Conv, activation, a residual block, pooling, a strided VALID conv, flatten, readout."""
    return L.serial(L.Conv((3, 3), sigma_w=SW, sigma_b=SB), L.Activation(phi, psi),
                    L.Residual(L.Conv((3, 2), sigma_w=1.1, sigma_b=0.2), L.Activation(phi, psi),
                               L.Conv((3, 3), sigma_w=0.9, sigma_b=0.1)),
                    L.AvgPool((2, 2), (1, 1), "SAME"), L.Conv((2, 2), (2, 2), "VALID", sigma_w=1.0, sigma_b=0.2),
                    L.Activation(phi, psi), L.Flatten(), L.Dense(out=out, sigma_w=1.3, sigma_b=0.1))


def images(seed, n, shape=(5, 4, 2)):
    return np.random.default_rng(seed).normal(size=(n, *shape))


def test_mlp_is_the_fast_chain_and_agrees_with_the_general_recursion():
    """Kernel, layers.mlp and a hand-built Dense/Activation chain run the same fast path (identical
    numbers); the general pixel-pair recursion (inputs with one pixel) agrees to rounding."""
    X, Y = images(0, 4, (3,)), images(1, 3, (3,))
    for phi, psi in (("sign", "gaussian"), ("erf", None), ("relu", None)):
        layers = [L.Dense(sigma_w=SW, sigma_b=SB)]
        for sw in (1.1, 0.9):
            layers += [L.Activation(phi, psi), L.Dense(sigma_w=sw, sigma_b=SB)]
        net = L.serial(*layers)
        outputs = ("nngp", "sgntk") if phi == "sign" else ("nngp", "sgntk", "ntk")
        fast = net(X, Y, outputs=outputs)
        general = net(X[:, None, :], Y[:, None, :], outputs=outputs)  # one pixel: the general path
        for name in outputs:
            assert np.allclose(getattr(general, name)[:, :, 0, 0], getattr(fast, name), rtol=1e-12, atol=1e-15)
        kernel, same = Kernel(phi, psi, 2, SW, SB), L.mlp(phi, psi, 2, SW, SB)
        for name in outputs:
            assert np.array_equal(getattr(kernel(X, Y, outputs=outputs), name), getattr(same(X, Y, outputs=outputs), name))
            assert np.array_equal(getattr(kernel(X, outputs=outputs), name), getattr(same(X, outputs=outputs), name))


def test_extreme_norms_in_the_general_recursion():
    """Norms 1e-150 and 1e150 (variances 1e-300, 1e300, beyond the float64 range of the generated
    code): the general pixel-pair recursion takes the maps from their closed forms in mpmath like
    the chain and agrees with Kernel, whose values are checked against the textbook recursion in
    test_numeric_kernels (layers.mlp runs the chain: identical).  There, maps without a closed form,
    overflowing variances and hyperparameter derivatives are NumericalErrors."""
    unit = np.array([[1.0, 0.0], [0.6, 0.8], [-0.28, 0.96]])
    for scale in (1e-150, 1e150):
        X = unit * scale
        for phi, psi in (("sign", "gaussian"), ("relu", None)):
            net = L.serial(L.Dense(sigma_w=SW), L.Activation(phi, psi), L.Dense(sigma_w=1.1),
                           L.Activation(phi, psi), L.Dense(sigma_w=0.9))
            general = net(X[:, None, :], outputs=("nngp", "sgntk"))
            fast = net(X, outputs=("nngp", "sgntk"))
            for name in ("nngp", "sgntk"):
                assert np.allclose(getattr(general, name)[:, :, 0, 0], getattr(fast, name), rtol=1e-12, atol=0)
            kernel, same = Kernel(phi, psi, 2, SW), L.mlp(phi, psi, 2, SW)
            assert np.array_equal(kernel(X).sgntk, same(X).sgntk)
    one_pixel = unit[:, None, :]
    with pytest.raises(NumericalError, match="closed form"):  # tanh's maps are quadratures
        L.serial(L.Dense(), L.Activation("tanh"), L.Dense())(one_pixel * 1e-150)
    with pytest.raises(NumericalError, match="infinite"):  # variance 1e312
        L.serial(L.Dense(sigma_w=1e6), L.Activation("sign", "gaussian"), L.Dense())(one_pixel * 1e150)
    with pytest.raises(NumericalError, match="hyperparameter derivatives"):
        L.mlp("sign", "gaussian", 1).value_and_gradient(one_pixel * 1e150)


def test_sgntk_is_asymmetric_with_a_surrogate_and_symmetric_without():
    X, Y = images(2, 3), images(3, 2)
    surrogate = conv_net("sign", "gaussian")
    I_xy = surrogate(X, Y, outputs=("sgntk",)).sgntk
    I_yx = surrogate(Y, X, outputs=("sgntk",)).sgntk
    assert not np.allclose(I_xy, I_yx.T, rtol=1e-3)
    smooth = conv_net("erf")
    assert np.allclose(smooth(X, Y).sgntk, smooth(Y, X).sgntk.T, rtol=1e-12)


def test_naive_ntk_of_sign_is_infinite_on_the_diagonal_only():
    net = L.serial(L.Conv((3,), sigma_b=0.1), L.Activation("sign", "gaussian"), L.GlobalAvgPool(), L.Dense())
    X = images(4, 3, (6, 1))
    result = net(X)
    assert np.isposinf(np.diag(result.ntk)).all()
    assert np.isfinite(result.ntk[~np.eye(3, dtype=bool)]).all() and np.isfinite(result.sgntk).all()


def test_blocks_threads_diagonal_and_rows_agree():
    X = images(5, 7)
    net = conv_net("sign", "triangle")
    full = net(X)
    for other in (net(X, block_elements=400, workers=1), net(X, block_elements=900, workers=2)):
        for name in ("nngp", "sgntk", "ntk"):
            a, b = getattr(full, name), getattr(other, name)
            assert np.array_equal(np.isinf(a), np.isinf(b))
            assert np.allclose(a[np.isfinite(a)], b[np.isfinite(b)], rtol=1e-13, atol=1e-15)
    diagonal = net.diagonal(X)
    assert np.allclose(diagonal.nngp, np.diag(full.nngp), rtol=1e-13)
    assert np.allclose(diagonal.sgntk, np.diag(full.sgntk), rtol=1e-13)
    band = net.rows(X[2:5], X, start=2, outputs=("sgntk",)).sgntk
    assert np.allclose(band, full.sgntk[2:5], rtol=1e-13)


def test_dask_gram_of_a_conv_network():
    pytest.importorskip("dask")
    from kernelalg.adapters.dask import gram
    X = images(6, 9, (4, 4, 1))
    net = L.serial(L.Conv((2, 2)), L.Activation("erf"), L.GlobalAvgPool(), L.Dense())
    lazy = gram(net, X, output="sgntk", rows=4)
    assert lazy.chunks[0] == (4, 4, 1)
    assert np.allclose(lazy.compute(), net(X).sgntk, rtol=1e-13)


@settings(max_examples=10)
@given(st.sampled_from([("sign", "gaussian"), ("erf", None), ("relu", None), ("step(t=0.3)", "gaussian")]),
       st.integers(2, 6), st.integers(0, 2**32 - 1))
def test_conv_nngp_gram_is_psd(pair, n, seed):
    X = images(seed, n, (4, 3, 1)) * np.exp(np.random.default_rng(seed).normal(size=(n, 1, 1, 1)))
    net = L.serial(L.Conv((2, 2), sigma_b=0.2), L.Activation(*pair), L.AvgPool((2, 2), (1, 1)),
                   L.Conv((2, 2), (1, 2), "VALID"), L.Activation(*pair), L.Flatten(), L.Dense())
    gram = net(X, outputs=("nngp",)).nngp
    assert np.allclose(gram, gram.T, rtol=1e-12, atol=1e-300)
    eig = np.linalg.eigvalsh(gram)
    assert eig.min() >= -1e-9 * eig.max()


def test_spatial_output_kernel_layout():
    """Without pooling the output kernel is (N, M, *p, *q); its diagonal pixel pairs are the
    covariances of the same pixel."""
    net = L.serial(L.Conv((3,), (2,), "VALID"), L.Activation("relu"))
    X = images(7, 2, (7, 3))
    K = net(X, outputs=("nngp",)).nngp
    assert K.shape == (2, 2, 3, 3)
    assert np.allclose(K[0, 1], K[1, 0].T)


# --- finite networks ---------------------------------------------------------------------

def _parameter_arrays(params) -> list[np.ndarray]:
    if isinstance(params, tuple):
        return list(params)
    return [a for p in params for a in _parameter_arrays(p)]


def _finite_differences(net, params, X, h=1e-6):
    columns = []
    for array in _parameter_arrays(params):
        for index in np.ndindex(array.shape):
            old = array[index]
            array[index] = old + h
            up = net.apply(params, X)[:, 0]
            array[index] = old - h
            down = net.apply(params, X)[:, 0]
            array[index] = old
            columns.append((up - down) / (2 * h))
    return np.stack(columns, axis=1)


def test_jacobian_is_the_finite_difference_jacobian_and_psi_equal_phi_prime_gives_it_again():
    net = conv_net("tanh")
    params = net.initialize((5, 4, 2), width=3, seed=0)
    X = images(8, 3)
    J = net.jacobian(params, X, surrogate=False)
    assert np.allclose(J, _finite_differences(net, params, X), atol=1e-8)
    assert np.array_equal(net.jacobian(params, X, surrogate=True), J)


def test_sign_network_true_jacobian_vanishes_before_the_last_activation():
    net = conv_net("sign", "gaussian")
    params = net.initialize((5, 4, 2), width=3, seed=1)
    X = images(9, 3)
    J, Jt = net.jacobian(params, X, surrogate=False), net.jacobian(params, X, surrogate=True)
    readout = params[-1][0].size + params[-1][1].size
    assert np.allclose(J, _finite_differences(net, params, X), atol=1e-8)
    assert np.abs(J[:, :-readout]).max() == 0 and np.abs(Jt[:, :-readout]).max() > 0.1
    assert np.allclose(J[:, -readout:], Jt[:, -readout:])


def test_empirical_kernel_is_the_product_of_the_two_jacobians():
    net = conv_net("erf(m=2)", "atan")
    params = net.initialize((5, 4, 2), width=4, seed=2)
    X, Y = images(10, 3), images(11, 2)
    J, Jt = net.jacobian(params, X, surrogate=False), net.jacobian(params, Y, surrogate=True)
    assert np.allclose(net.empirical_kernel(params, X, Y), J @ Jt.T, rtol=1e-12)


def test_wide_finite_conv_network_approaches_the_analytic_sgntk():
    net = L.serial(L.Conv((3,), sigma_b=0.2), L.Activation("erf", "gaussian(sigma=0.8)"), L.Conv((2,)),
                   L.Activation("erf", "gaussian(sigma=0.8)"), L.GlobalAvgPool(), L.Dense(out=1, sigma_b=0.1))
    X = images(12, 4, (6, 1))
    analytic = net(X, outputs=("sgntk",)).sgntk
    errors = [np.linalg.norm(net.empirical_kernel(net.initialize((6, 1), w, seed), X) - analytic)
              / np.linalg.norm(analytic) for w in (16, 1024) for seed in range(3)]
    assert np.mean(errors[3:]) < 0.1 < np.mean(errors[:3])


# --- bad input -----------------------------------------------------------------------------

def test_bad_layers_and_inputs():
    with pytest.raises(InputError):
        L.Conv((3, 0))
    with pytest.raises(InputError):
        L.Conv((3, 3), padding="FULL")
    with pytest.raises(InputError):
        L.Conv((3, 3), (1,))
    with pytest.raises(InputError):
        L.Dense(sigma_w=0.0)
    with pytest.raises(InputError):
        L.Sum((L.Identity(), L.Activation("erf")))  # neither branch ends with its own weights
    net = L.serial(L.Conv((3, 3), padding="VALID"), L.Activation("erf"), L.Flatten(), L.Dense())
    with pytest.raises(InputError):
        net(images(0, 2, (2, 5, 1)))  # a 3x3 VALID filter does not fit
    with pytest.raises(InputError):
        net(images(0, 2, (5, 1)))  # 1-D inputs for a 2-D filter
    with pytest.raises(InputError):
        net(images(0, 2), images(0, 2, (5, 4, 3)))
    with pytest.raises(InputError):
        net(np.full((2, 5, 5, 1), np.nan))
    with pytest.raises(InputError):
        net(images(0, 2), outputs=("nngp", "kernel"))
    with pytest.raises(InputError):
        net.value_and_gradient(images(0, 2), wrt=("psi.sigma",))
    with pytest.raises(InputError):
        net.initialize((5, 5, 1), width=0)
    with pytest.raises(CovarianceError):  # an all-zero patch without bias: a unit of variance 0
        net(np.pad(images(0, 2, (3, 3, 1)), ((0, 0), (3, 0), (0, 0), (0, 0))))


# --- kernel gradients through the recursion ------------------------------------------------

def uniform_conv_net(phi, psi, sw, sb):
    return L.serial(L.Conv((3, 3), sigma_w=sw, sigma_b=sb), L.Activation(phi, psi),
                    L.Residual(L.Conv((3, 2), sigma_w=sw, sigma_b=sb), L.Activation(phi, psi),
                               L.Conv((3, 3), sigma_w=sw, sigma_b=sb)),
                    L.AvgPool((2, 2), (1, 1), "SAME"), L.Conv((2, 2), (2, 2), "VALID", sigma_w=sw, sigma_b=sb),
                    L.Activation(phi, psi), L.Flatten(), L.Dense(out=1, sigma_w=sw, sigma_b=sb))


def _images():
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(3, 5, 4, 1)), rng.normal(size=(2, 5, 4, 1))
    X[:2, :2] = 0  # zero patches: pixel pairs with a = b = c (degenerate, like the diagonal)
    return X, Y


CASES = [("sign", "gaussian", {"sigma_w": 1.3, "sigma_b": 0.4, "psi.sigma": 0.7}),
         ("erf", None, {"sigma_w": 1.3, "sigma_b": 0.4}),
         ("relu", None, {"sigma_w": 0.9, "sigma_b": 0.2})]


def _net(phi, psi, values):
    psi = None if psi is None else f"{psi}(sigma={values['psi.sigma']})"
    return uniform_conv_net(phi, psi, values["sigma_w"], values["sigma_b"])


@pytest.mark.parametrize("phi,psi,values", CASES, ids=[c[0] for c in CASES])
def test_conv_gradients_against_central_differences(phi, psi, values):
    X, Y = _images()
    for other in (None, Y):
        _, grads = _net(phi, psi, values).value_and_gradient(X, other, wrt=tuple(values))
        for name in values:
            h = 1e-5
            up = _net(phi, psi, {**values, name: values[name] + h})(X, other, outputs=("nngp", "sgntk"))
            down = _net(phi, psi, {**values, name: values[name] - h})(X, other, outputs=("nngp", "sgntk"))
            for output in ("nngp", "sgntk"):
                fd = (getattr(up, output) - getattr(down, output)) / (2 * h)
                got = getattr(grads[name], output)
                assert np.abs(got - fd).max() <= 1e-7 * max(np.abs(fd).max(), 1.0), (name, output)


def test_mlp_gradient_with_a_reduced_integral_map():
    X = np.random.default_rng(4).normal(size=(4, 3))
    make = lambda sw, k: L.serial(L.Dense(sigma_w=sw, sigma_b=0.2), L.Activation("sign", f"superspike(k={k})"),
                                  L.Dense(sigma_w=sw, sigma_b=0.2), L.Activation("sign", f"superspike(k={k})"),
                                  L.Dense(sigma_w=sw, sigma_b=0.2))
    _, grads = make(1.1, 5.0).value_and_gradient(X, wrt=("sigma_w", "psi.k"), outputs=("sgntk",))
    h = 1e-5
    for name, (up, down) in {"sigma_w": (make(1.1 + h, 5.0), make(1.1 - h, 5.0)),
                             "psi.k": (make(1.1, 5.0 + h), make(1.1, 5.0 - h))}.items():
        fd = (up(X, outputs=("sgntk",)).sgntk - down(X, outputs=("sgntk",)).sgntk) / (2 * h)
        assert np.abs(grads[name].sgntk - fd).max() <= 1e-7 * np.abs(fd).max()


def test_collinear_inputs_without_bias_have_no_derivative():
    net = L.serial(L.Dense(), L.Activation("sign", "gaussian"), L.Dense())
    with pytest.raises(DerivationError):
        net.value_and_gradient(np.array([[1.0, 2.0], [2.0, 4.0]]), wrt=("sigma_w",))


# --- against neural-tangents ---------------------------------------------------------------

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
