"""SG-NTK regression and the trained-network Gaussian process (docs/maths.md section 5)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from kernelalg.errors import InputError, SingularKernelError
from kernelalg.numeric.inference import predict
from kernelalg.numeric.kernels import Kernel, circle


@pytest.fixture(scope="module")
def setup():
    X = circle(15)
    Y = np.sin(2 * np.arctan2(X[:, 1], X[:, 0]))
    rng = np.random.default_rng(0)
    T = rng.normal(size=(7, 2)) * np.array([1.0, 0.7])  # points of different norms: asymmetric kernel
    return Kernel("sign", "gaussian", depth=2, sigma_b=0.1), X, Y, T


def test_mean_interpolates_training_targets_at_infinite_time(setup):
    kernel, X, Y, _ = setup
    result = predict(kernel, X, Y, X)
    np.testing.assert_allclose(result.mean[:, 0], Y, atol=1e-9)
    np.testing.assert_allclose(result.std, 0, atol=1e-6)


def test_against_explicit_formula(setup):
    """A = k K^-1 (I - exp(-eta K t)) written with an explicit inverse, on a small problem."""
    kernel, X, Y, T = setup
    t, eta = 3.0, 0.5
    K = kernel(X).sgntk
    k = kernel(T, X).sgntk
    S_tt, S_tX, S_Xt, S_XX = kernel(T).nngp, kernel(T, X).nngp, kernel(X, T).nngp, K * 0 + kernel(X).nngp
    A = k @ np.linalg.inv(K) @ (np.eye(len(X)) - scipy.linalg.expm(-eta * t * K))
    cov = S_tt - A @ S_Xt - S_tX @ A.T + A @ S_XX @ A.T
    result = predict(kernel, X, Y, T, t=t, eta=eta)
    np.testing.assert_allclose(result.mean[:, 0], A @ Y, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(result.cov, (cov + cov.T) / 2, rtol=1e-7, atol=1e-9)


def test_finite_time_tends_to_infinite_time(setup):
    kernel, X, Y, T = setup
    late, limit = predict(kernel, X, Y, T, t=1e4), predict(kernel, X, Y, T)
    early = predict(kernel, X, Y, T, t=0.0)
    np.testing.assert_allclose(late.mean, limit.mean, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(early.mean, 0, atol=1e-12)  # untrained: mean output 0


def test_kernel_is_asymmetric_off_the_sphere(setup):
    kernel, _, _, T = setup
    K = kernel(T).sgntk
    assert not np.allclose(K, K.T, rtol=1e-6)


def test_singular_train_kernel_is_reported(setup):
    kernel, X, Y, T = setup
    X2 = np.vstack([X, X[:1]])
    with pytest.raises(SingularKernelError):
        predict(kernel, X2, np.append(Y, Y[0]), T)


def test_bad_targets(setup):
    kernel, X, Y, T = setup
    with pytest.raises(InputError):
        predict(kernel, X, Y[:-1], T)
    with pytest.raises(InputError):
        predict(kernel, X, np.where(np.arange(len(Y)) == 0, np.nan, Y), T)
    with pytest.raises(InputError):
        predict(kernel, X, Y, T, eta=-1.0)


def test_an_infinite_train_kernel_names_its_cause(setup):
    """sign without a surrogate: psi = phi' is a delta and the SG-NTK diverges on the diagonal."""
    _, X, Y, T = setup
    with pytest.raises(SingularKernelError, match="infinite.*surrogate"):
        predict(Kernel("sign", None), X, Y, T)


def test_gp_mean_interpolates_training_targets():
    X = circle(15)
    Y = np.cos(3 * np.arctan2(X[:, 1], X[:, 0]))
    gp = predict(Kernel("sign", "gaussian", depth=2, sigma_b=0.1), X, Y, X)
    assert np.allclose(gp.mean[:, 0], Y, atol=1e-9)
    assert np.allclose(gp.std, 0, atol=1e-5)
