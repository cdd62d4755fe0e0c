"""The SG-NTK and NNGP of a network as a scikit-learn kernel (optional extra ``sklearn``), with
tunable hyperparameters.

Usable in ``GaussianProcessRegressor``, ``KernelRidge`` and, through its Gram matrix, in
``SVC(kernel="precomputed")``.  The network is the MLP of ``phi``, ``psi``, ``depth``, or any
:mod:`kernelalg.layers` network given as ``network`` (rows of X reshaped to ``input_shape``).
Hyperparameters, fitted by ``GaussianProcessRegressor`` through the derived gradients of the
kernel (:meth:`kernelalg.layers.Network.value_and_gradient`):

* ``sigma_w`` and ``sigma_b``, shared by all Dense/Conv layers (bounds ``"fixed"`` to freeze);
* ``psi_value``: the value of the surrogate's catalog parameter ``psi_parameter`` (e.g.
  ``psi_parameter="sigma"`` for the Gaussian's width), if one is named.

``output="sgntk"`` is symmetric only on inputs of equal norm (e.g. the sphere); estimators that
factorise the Gram matrix need that or ``output="nngp"``.
"""

from __future__ import annotations

import numpy as np

from kernelalg.errors import InputError
from kernelalg.layers import Network, mlp
from kernelalg.layers.record import PSI_PREFIX

try:
    from sklearn.gaussian_process.kernels import Hyperparameter
    from sklearn.gaussian_process.kernels import Kernel as _SKKernel
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("the scikit-learn adapter needs scikit-learn: pip install 'kernelalg[sklearn]'") from exc

OUTPUTS = ("sgntk", "nngp")


class SGNTKKernel(_SKKernel):
    """K(X, Y) = I(X, Y) (``output="sgntk"``) or S(X, Y) (``output="nngp"``) of the network output."""

    def __init__(self, phi: str = "sign", psi: str | None = "gaussian", depth: int = 2, sigma_w: float = 1.0,
                 sigma_b: float = 0.1, output: str = "sgntk", sigma_w_bounds=(1e-2, 1e2), sigma_b_bounds=(1e-5, 1e2),
                 psi_parameter: str | None = None, psi_value: float | None = None, psi_value_bounds=(1e-3, 1e3),
                 network: Network | None = None, input_shape: tuple[int, ...] | None = None):
        self.phi = phi
        self.psi = psi
        self.depth = depth
        self.sigma_w = sigma_w
        self.sigma_b = sigma_b
        self.output = output
        self.sigma_w_bounds = sigma_w_bounds
        self.sigma_b_bounds = sigma_b_bounds
        self.psi_parameter = psi_parameter
        self.psi_value = psi_value
        self.psi_value_bounds = psi_value_bounds
        self.network = network
        self.input_shape = input_shape

    @property
    def hyperparameter_sigma_w(self):
        return Hyperparameter("sigma_w", "numeric", self.sigma_w_bounds)

    @property
    def hyperparameter_sigma_b(self):
        return Hyperparameter("sigma_b", "numeric", self.sigma_b_bounds)

    @property
    def hyperparameter_psi_value(self):
        return Hyperparameter("psi_value", "numeric", "fixed" if self.psi_parameter is None else self.psi_value_bounds)

    def _values(self) -> dict[str, float]:
        """Hyperparameter name of the layers API -> value."""
        values = {"sigma_w": self.sigma_w, "sigma_b": self.sigma_b}
        if self.psi_parameter is not None:
            if self.psi_value is None:
                raise InputError(f"psi_value must be given with psi_parameter={self.psi_parameter!r}")
            values[PSI_PREFIX + self.psi_parameter] = self.psi_value
        return values

    def _network(self) -> Network:
        if self.output not in OUTPUTS:
            raise InputError(f"output must be one of {OUTPUTS}, got {self.output!r}")
        base = self.network if self.network is not None else mlp(self.phi, self.psi, self.depth)
        return base.with_hyperparameters(self._values())

    def _inputs(self, X):
        X = np.asarray(X, dtype=float)
        return X if self.input_shape is None else X.reshape(X.shape[0], *self.input_shape)

    def __call__(self, X, Y=None, eval_gradient=False):
        net = self._network()
        X = self._inputs(X)
        if not eval_gradient:
            return getattr(net(X, None if Y is None else self._inputs(Y), outputs=(self.output,)), self.output)
        if Y is not None:
            raise ValueError("gradient can only be evaluated when Y is None")
        layer_names = dict(zip(("sigma_w", "sigma_b", "psi_value"), self._values()))
        free = [h.name for h in self.hyperparameters if not h.fixed]  # the order of theta
        value, grads = net.value_and_gradient(X, wrt=tuple(layer_names[n] for n in free), outputs=(self.output,))
        # theta = log(value): dK/dtheta = value * dK/dvalue
        columns = [getattr(self, n) * getattr(grads[layer_names[n]], self.output) for n in free]
        gradient = np.stack(columns, axis=-1) if columns else np.empty((X.shape[0], X.shape[0], 0))
        return getattr(value, self.output), gradient

    def diag(self, X):
        return getattr(self._network().diagonal(self._inputs(X), outputs=(self.output,)), self.output)

    def is_stationary(self):
        return False

    @property
    def requires_vector_input(self):
        return True
