"""The SG-NTK and NNGP of a pair as a scikit-learn kernel (optional extra ``sklearn``).

Usable in ``GaussianProcessRegressor``, ``KernelRidge`` and, through its Gram matrix, in
``SVC(kernel="precomputed")``.  The kernel has no tunable hyperparameters (phi, psi, depth and
the sigmas define it).  ``output="sgntk"`` is symmetric only on inputs of equal norm (e.g. the
sphere); estimators that factorise the Gram matrix need that or ``output="nngp"``.
"""

from __future__ import annotations

import numpy as np

from kernelalg.errors import InputError
from kernelalg.numeric.kernels import Kernel

try:
    from sklearn.gaussian_process.kernels import Kernel as _SKKernel
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("the scikit-learn adapter needs scikit-learn: pip install 'kernelalg[sklearn]'") from exc

OUTPUTS = ("sgntk", "nngp")


class SGNTKKernel(_SKKernel):
    """K(X, Y) = I(L+1)(X, Y) (``output="sgntk"``) or S(L+1)(X, Y) (``output="nngp"``)."""

    def __init__(self, phi: str = "sign", psi: str | None = "gaussian", depth: int = 2, sigma_w: float = 1.0,
                 sigma_b: float = 0.1, output: str = "sgntk"):
        self.phi = phi
        self.psi = psi
        self.depth = depth
        self.sigma_w = sigma_w
        self.sigma_b = sigma_b
        self.output = output

    def _kernel(self) -> Kernel:
        if self.output not in OUTPUTS:
            raise InputError(f"output must be one of {OUTPUTS}, got {self.output!r}")
        return Kernel(self.phi, self.psi, self.depth, self.sigma_w, self.sigma_b)

    def __call__(self, X, Y=None, eval_gradient=False):
        result = getattr(self._kernel()(X, Y, outputs=(self.output,)), self.output)
        if eval_gradient:
            if Y is not None:
                raise ValueError("gradient can only be evaluated when Y is None")
            return result, np.empty((result.shape[0], result.shape[0], 0))  # no hyperparameters
        return result

    def diag(self, X):
        return getattr(self._kernel().diagonal(X, outputs=(self.output,)), self.output)

    def is_stationary(self):
        return False

    @property
    def requires_vector_input(self):
        return True
