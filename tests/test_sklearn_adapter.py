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
    kernel = SGNTKKernel("erf(m=3)", "atan", 3, 1.2, 0.0)
    assert clone(kernel).get_params() == kernel.get_params()
    assert kernel.n_dims == 0 and not kernel.is_stationary()
    assert "SGNTKKernel" in repr(kernel)
