"""The scikit-learn adapter: GaussianProcessRegressor, KernelRidge and SVC agree with kernelalg."""

from __future__ import annotations

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.gaussian_process import GaussianProcessRegressor  # noqa: E402
from sklearn.kernel_ridge import KernelRidge  # noqa: E402
from sklearn.svm import SVC  # noqa: E402

from kernelalg.adapters.sklearn import SGNTKKernel  # noqa: E402
from kernelalg.numeric.inference import predict  # noqa: E402
from kernelalg.numeric.kernels import Kernel  # noqa: E402


def _circle(theta):
    return np.stack([np.cos(theta), np.sin(theta)], axis=1)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    train = np.sort(rng.uniform(0, 2 * np.pi, 15))
    test = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    return _circle(train), np.sin(2 * train), _circle(test)


def test_kernel_ridge_matches_kernelalg_predict_at_infinite_time(data):
    X, y, T = data
    model = KernelRidge(alpha=1e-12, kernel=SGNTKKernel("sign", "gaussian", 2, 1.0, 0.1)).fit(X, y)
    want = predict(Kernel("sign", "gaussian", 2, 1.0, 0.1), X, y, T).mean[:, 0]
    assert np.allclose(model.predict(T), want, atol=1e-7)


def test_gaussian_process_with_the_nngp(data):
    X, y, T = data
    kernel = SGNTKKernel("erf", None, 2, 1.0, 0.1, output="nngp")
    gp = GaussianProcessRegressor(kernel=kernel, alpha=1e-10, optimizer=None).fit(X, y)
    S = Kernel("erf", None, 2, 1.0, 0.1)
    want = S(T, X, outputs=("nngp",)).nngp @ np.linalg.solve(S(X, outputs=("nngp",)).nngp + 1e-10 * np.eye(15), y)
    assert np.allclose(gp.predict(T), want, atol=1e-6)
    assert np.allclose(kernel.diag(T), np.diag(kernel(T)))


def test_svc_with_the_precomputed_gram(data):
    X, y, T = data
    labels = (y > 0).astype(int)
    kernel = SGNTKKernel("sign", "triangle")
    svc = SVC(kernel="precomputed").fit(kernel(X), labels)
    assert svc.score(kernel(X), labels) == 1.0
    assert svc.predict(kernel(T, X)).shape == (40,)


def test_parameters_round_trip_like_any_sklearn_kernel():
    kernel = SGNTKKernel("erf(m=3)", "atan", 3, 1.2, 0.1)
    assert clone(kernel).get_params() == kernel.get_params()
    assert kernel.n_dims == 2 and not kernel.is_stationary()
    assert [h.name for h in kernel.hyperparameters if not h.fixed] == ["sigma_b", "sigma_w"]
    assert "SGNTKKernel" in repr(kernel)
    fixed = SGNTKKernel("erf", None, 2, 1.0, 0.0, sigma_b_bounds="fixed")
    assert fixed.n_dims == 1
    tuned = SGNTKKernel("sign", "gaussian(sigma=0.5)", psi_parameter="sigma", psi_value=0.5)
    assert tuned.n_dims == 3 and np.allclose(np.exp(tuned.theta), [0.5, 0.1, 1.0])


@pytest.mark.parametrize("output", ["nngp", "sgntk"])
def test_gradient_against_central_differences_in_theta(output):
    X = np.random.default_rng(1).normal(size=(6, 3))
    kernel = SGNTKKernel("sign", "gaussian(sigma=0.6)", 2, 1.3, 0.4, output=output, psi_parameter="sigma",
                         psi_value=0.6)
    K, gradient = kernel(X, eval_gradient=True)
    assert np.allclose(K, kernel(X)) and gradient.shape == (6, 6, 3)
    h = 1e-6
    for i in range(3):
        step = np.zeros(3)
        step[i] = h
        up, down = kernel.clone_with_theta(kernel.theta + step), kernel.clone_with_theta(kernel.theta - step)
        fd = (up(X) - down(X)) / (2 * h)
        assert np.abs(gradient[..., i] - fd).max() <= 1e-7 * np.abs(fd).max()


def test_gaussian_process_fits_sigma_w_and_sigma_b():
    """Targets drawn from the NNGP of a sign network (sigma_w = 1.5, sigma_b = 0.5) plus noise;
    the marginal likelihood, maximised from (0.8, 0.1) with the derived gradients, recovers them."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3)) * np.exp(0.3 * rng.normal(size=(60, 1)))
    noise = 1e-2
    K = SGNTKKernel("sign", "gaussian", 2, 1.5, 0.5, output="nngp")(X)
    y = np.linalg.cholesky(K + noise * np.eye(60)) @ rng.normal(size=(60, 20))  # 20 independent draws
    start = SGNTKKernel("sign", "gaussian", 2, 0.8, 0.1, output="nngp")
    gp = GaussianProcessRegressor(kernel=start, alpha=noise).fit(X, y)
    fitted = gp.kernel_.get_params()
    assert abs(fitted["sigma_w"] - 1.5) < 0.1 and abs(fitted["sigma_b"] - 0.5) < 0.1
    assert gp.log_marginal_likelihood_value_ > gp.log_marginal_likelihood(start.theta)


def test_a_layers_network_with_image_rows():
    from kernelalg import layers as L
    net = L.serial(L.Conv((2, 2)), L.Activation("erf"), L.GlobalAvgPool(), L.Dense())
    images = np.random.default_rng(2).normal(size=(5, 3, 3, 1))
    kernel = SGNTKKernel(network=net, input_shape=(3, 3, 1), sigma_w=1.2, sigma_b=0.2, output="nngp")
    want = net.with_hyperparameters({"sigma_w": 1.2, "sigma_b": 0.2})(images, outputs=("nngp",)).nngp
    assert np.allclose(kernel(images.reshape(5, -1)), want, rtol=1e-14)
    assert kernel(images.reshape(5, -1), eval_gradient=True)[1].shape == (5, 5, 2)
