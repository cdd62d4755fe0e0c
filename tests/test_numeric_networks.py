"""Finite networks: empirical SG-NTK, quasi-Jacobians, SGL training."""

from __future__ import annotations

import numpy as np
import pytest

from kernelalg.errors import InputError
from kernelalg.numeric.kernels import Kernel, circle
from kernelalg.numeric.networks import Network
from kernelalg.numeric.pointwise import Pointwise


def test_empirical_sgntk_of_a_wide_erf_network_matches_the_analytic_one():
    X = circle(6) * np.array([1.0, 1.5])  # an ellipse: points of different norms
    net = Network(2, (4096, 4096), Pointwise.of("erf", "gaussian(sigma=0.8)"), 1.0, 0.1)
    empirical = net.empirical_kernel(net.init(1, seed=3), X)[0]
    analytic = Kernel("erf", "gaussian(sigma=0.8)", depth=2, sigma_w=1.0, sigma_b=0.1)(X).sgntk
    assert np.linalg.norm(empirical - analytic) / np.linalg.norm(analytic) < 0.05


def _flat(grads):
    """Per-sample gradients as (E, N, P): per layer W (row-major) then b."""
    return np.concatenate([np.concatenate([dW.reshape(dW.shape[0], dW.shape[1], -1), db], axis=-1)
                           for dW, db in grads], axis=-1)


def _finite_differences(net, params, X, h=1e-6):
    """Central differences of f(X) with respect to every parameter, shape (E, N, P)."""
    columns = []
    for W, b in params:
        for array in (W, b):
            for index in np.ndindex(array.shape[1:]):
                old = array[(0, *index)]
                array[(0, *index)] = old + h
                up = net.output(params, X)
                array[(0, *index)] = old - h
                down = net.output(params, X)
                array[(0, *index)] = old
                columns.append((up - down) / (2 * h))
    return np.stack(columns, axis=-1)


def test_smooth_quasi_jacobian_with_psi_equal_phi_prime_is_the_jacobian():
    net = Network(3, (5, 4), Pointwise.of("tanh"), 1.2, 0.3)
    params = net.init(1, seed=0)
    X = np.random.default_rng(1).normal(size=(4, 3))
    fd = _finite_differences(net, params, X)
    assert np.allclose(_flat(net.gradients(params, X, surrogate=True)), fd, atol=1e-8)
    assert np.allclose(_flat(net.gradients(params, X, surrogate=False)), fd, atol=1e-8)


def test_sign_network_jacobians():
    """The true Jacobian of a sign network is its finite-difference Jacobian (only the output layer
    moves f); the quasi-Jacobian agrees there and is non-zero in the hidden layers."""
    net = Network(2, (6, 5), Pointwise.of("sign", "gaussian"), 1.0, 0.2)
    params = net.init(1, seed=2)
    X = np.random.default_rng(3).normal(size=(5, 2))
    fd = _finite_differences(net, params, X)
    true = _flat(net.gradients(params, X, surrogate=False))
    quasi = _flat(net.gradients(params, X, surrogate=True))
    assert np.allclose(true, fd, atol=1e-8)
    last = 5 + 1  # output layer: W (1 x 5) and b (1)
    assert np.allclose(quasi[..., -last:], fd[..., -last:], atol=1e-8)
    assert np.abs(quasi[..., :-last]).max() > 0.1 and np.abs(fd[..., :-last]).max() == 0


def test_empirical_kernel_is_the_gradient_product():
    net = Network(2, (7, 6), Pointwise.of("erf(m=2)", "atan"), 1.1, 0.2)
    params = net.init(2, seed=5)
    X, Y = np.random.default_rng(0).normal(size=(3, 2)), np.random.default_rng(1).normal(size=(4, 2))
    J = _flat(net.gradients(params, X, surrogate=False))
    Jt = _flat(net.gradients(params, Y, surrogate=True))
    assert np.allclose(net.empirical_kernel(params, X, Y), J @ Jt.transpose(0, 2, 1), rtol=1e-12)


def test_sgl_training_reduces_the_loss_and_is_reproducible():
    X = circle(15)
    Y = np.sin(2 * np.arctan2(X[:, 1], X[:, 0]))
    net = Network(2, (128, 128), Pointwise.of("sign", "gaussian"), 1.0, 0.1)
    params = net.init(3, seed=7)
    trained, loss = net.train(params, X, Y, steps=300, lr=0.05)
    assert (loss[-1] < 0.1 * loss[0]).all()
    again, loss2 = net.train(net.init(3, seed=7), X, Y, steps=300, lr=0.05)
    assert np.array_equal(loss, loss2) and np.array_equal(trained[0][0], again[0][0])
    assert not np.array_equal(params[0][0], trained[0][0])  # the initial parameters are untouched copies


def test_bad_network_input():
    net = Network(2, (4,), Pointwise.of("sign", "gaussian"))
    with pytest.raises(InputError):
        net.output(net.init(), np.ones((3, 3)))
    with pytest.raises(InputError):
        net.train(net.init(), np.ones((3, 2)), np.ones(2), 1, 0.1)
    with pytest.raises(InputError):
        Pointwise.of("sign")  # psi = phi' is a delta: a surrogate is needed
