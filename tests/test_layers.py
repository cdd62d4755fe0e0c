"""kernelalg.layers: kernels of conv/pool/residual networks, the finite networks they describe, blocking."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernelalg import layers as L
from kernelalg.errors import CovarianceError, InputError, NumericalError
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
    test_kernels (layers.mlp runs the chain: identical).  There, maps without a closed form,
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
