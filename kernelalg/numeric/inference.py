"""Prediction of infinitely wide networks trained by SGL (docs/maths.md section 5).

With K = I(X, X) (train x train SG-NTK, not symmetric), k(x) = I(x, X), S the NNGP and
learning rate eta, the network output after training time t is Gaussian over initialisations:

    A(x)      = k(x) K^-1 (Id - exp(-eta K t))          (t = inf: k(x) K^-1)
    mean(x)   = A(x) Y
    cov(x, x') = S(x, x') - A(x) S(X, x') - S(x, X) A(x')^T + A(x) S(X, X) A(x')^T

K is never inverted: ``A^T`` solves ``K^T A^T = (k (Id - exp(-eta K t)))^T`` (K and its matrix
exponential commute).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

from kernelalg.errors import InputError, SingularKernelError
from kernelalg.numeric.arrays import real_array
from kernelalg.numeric.kernels import Kernel, as_points

_CONDITION_LIMIT = 1e14


@dataclass(frozen=True)
class Prediction:
    """Mean (M, k), covariance (M, M) and standard deviation (M,) of the trained network's output."""

    mean: np.ndarray
    cov: np.ndarray

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(np.clip(np.diag(self.cov), 0.0, None))


def _targets(Y, n: int) -> np.ndarray:
    Y = real_array(Y, "targets")
    if Y.ndim == 1:
        Y = Y[:, None]
    if Y.ndim != 2 or Y.shape[0] != n:
        raise InputError(f"targets must have {n} rows (one per training point), got shape {Y.shape}")
    if not np.isfinite(Y).all():
        raise InputError("targets contain NaN or inf")
    return Y


def _solve_right(K: np.ndarray, B: np.ndarray) -> np.ndarray:
    """B K^-1 for a square, possibly non-symmetric K; SingularKernelError if K is singular or infinite."""
    if not np.isfinite(K).all():
        raise SingularKernelError("the train kernel is infinite (the SG-NTK diverges where psi = phi' is a delta, "
                                  "as for jump activations without a surrogate); choose a surrogate psi")
    cond = np.linalg.cond(K)
    if not np.isfinite(cond) or cond > _CONDITION_LIMIT:
        raise SingularKernelError(
            f"the train kernel is singular (condition number {cond:.3g}); remove duplicate training "
            "points or add sigma_b")
    return scipy.linalg.solve(K.T, B.T).T


def gain(K: np.ndarray, k: np.ndarray, eta: float, t: float) -> np.ndarray:
    """A = k K^-1 (Id - exp(-eta K t)), with A = k K^-1 at t = inf."""
    if not (eta > 0 and np.isfinite(eta)):
        raise InputError(f"learning rate must be positive and finite, got {eta}")
    if not t >= 0:
        raise InputError(f"training time must be >= 0 (or inf), got {t}")
    A = _solve_right(K, k)
    if np.isinf(t):
        if (np.linalg.eigvals(K).real <= 0).any():
            raise SingularKernelError("the train kernel has eigenvalues with non-positive real part: "
                                      "training does not converge as t -> inf")
        return A
    return A @ (np.eye(K.shape[0]) - scipy.linalg.expm(-eta * t * K))


def predict(kernel: Kernel, X_train, Y_train, X_test, t: float = np.inf, eta: float = 1.0) -> Prediction:
    """Gaussian output distribution of the infinitely wide network trained by SGL for time t."""
    X_train, X_test = as_points(X_train, "training points"), as_points(X_test, "test points")
    if X_train.shape[1] != X_test.shape[1]:
        raise InputError(f"training and test points have {X_train.shape[1]} and {X_test.shape[1]} columns")
    Y = _targets(Y_train, X_train.shape[0])
    train = kernel(X_train, outputs=("nngp", "sgntk"))
    cross = kernel(X_test, X_train, outputs=("nngp", "sgntk"))
    test = kernel(X_test, outputs=("nngp",))
    A = gain(train.sgntk, cross.sgntk, eta, t)
    S_tX = cross.nngp                     # S(x, X)
    S_Xt = kernel(X_train, X_test, outputs=("nngp",)).nngp  # S(X, x')
    cov = test.nngp - A @ S_Xt - S_tX @ A.T + A @ train.nngp @ A.T
    return Prediction(A @ Y, (cov + cov.T) / 2)
