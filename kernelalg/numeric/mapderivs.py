"""Compiled derivatives of the nngp and sg layer maps, for hyperparameter gradients of deep kernels.

For a tangent (da, db, dc) of the covariance [[a, c], [c, b]] the change of a map m is

    dm = m_a da + m_b db + m_c dc                  where c^2 < ab,
    dm = D'(a) da,  D(v) = m(v, v, +-v)            where a = b = +-c (the same unit, or its negative),

with the partials and D' derived symbolically (:mod:`kernelalg.symbolic.mapderivs`), generated
as NumPy code and cached like the maps themselves (derived in the worker process within the
derivation time budget, like the maps).  On the diagonal the partials of a jump
activation's maps are infinite while the tangent stays on the diagonal, where D' is finite.
Other degenerate entries (c^2 = ab with a != b: collinear inputs without bias) have no
derivative here and raise an error, and so do variances beyond the float64 range of the
generated code (a NumericalError; the kernels themselves are evaluated there in mpmath).  The derivative of sg in a surrogate parameter theta is a
new expectation derived by the engine: d/dtheta E[phi'(u) psi_theta(v)] = E[phi'(u) dpsi/dtheta(v)].
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType

import numpy as np

from kernelalg import cache
from kernelalg.codegen.module import plain_module
from kernelalg.errors import DerivationError, NumericalError
from kernelalg.numeric import widerange
from kernelalg.numeric.layermaps import CompiledExpectation, expectation, layer_maps
from kernelalg.symbolic import worker
from kernelalg.symbolic.catalog import parameter_derivative
from kernelalg.symbolic.derive import (
    cached,
    derivative_function,
    expectation_data,
    expectation_from,
)
from kernelalg.symbolic.expectation.result import Expectation
from kernelalg.symbolic.functions import Function
from kernelalg.symbolic.mapderivs import DIAGONALS, PARTIALS, TITLES

MAPS = ("nngp", "sg")
_DEGENERATE = 64 * np.finfo(float).eps  # |c| within this relative distance of sqrt(ab) counts as c^2 = ab


def _derivatives_from(data: dict) -> dict[str, Expectation | None]:
    if set(data) != {*PARTIALS, *DIAGONALS}:
        raise KeyError("not the derivatives of a map")
    return {k: None if v is None else expectation_from(v) for k, v in data.items()}


def _derived(name: str, result: Expectation) -> dict[str, Expectation | None]:
    """The derivatives of one map, from the cache or derived in the worker within the derivation
    budget; None for a diagonal form that has no derivation."""
    data = {"name": name, "map": expectation_data(result)}
    digest = cache.key("map derivatives", json.dumps(data))
    found = cached("derivatives", digest, _derivatives_from)
    if found is None:
        reply = worker.run("kernelalg.symbolic.mapderivs:derivatives_task", data, worker.Budget.of(),
                           f"the covariance derivatives of the {name} map")
        found = _derivatives_from(reply)
        cache.store("derivatives", digest, ".json", json.dumps(reply))
    return found


@dataclass(frozen=True)
class Partials:
    """Partial derivatives of one map at a block of covariances, ready to contract with tangents."""

    da: np.ndarray
    db: np.ndarray
    dc: np.ndarray
    on_diagonal: np.ndarray  # bool mask of entries with a = b = +-c
    diagonal: np.ndarray     # D'(a) there (0 elsewhere)

    def apply(self, da, db, dc) -> np.ndarray:
        """m_a da + m_b db + m_c dc off the diagonal, D'(a) da on it."""
        with np.errstate(invalid="ignore", over="ignore"):
            value = self.da * da + self.db * db + self.dc * dc
        if self.on_diagonal.any():
            value = np.where(self.on_diagonal, self.diagonal * da, value)
        return value


class MapDerivatives:
    """Derivatives of the nngp and sg maps of a pair (phi, psi), and sg's surrogate-parameter derivatives."""

    def __init__(self, phi: str | Function, psi: str | Function | None):
        self.maps = layer_maps(phi, psi)
        derived = {name: _derived(name, getattr(self.maps.derived, name)) for name in MAPS}
        self.available = {f"{name}_{k}" for name in MAPS for k, e in derived[name].items() if e is not None}
        funcs = {f"{name}_{k}": e for name in MAPS for k, e in derived[name].items() if e is not None}
        titles = {key: f"{TITLES[key.split('_', 1)[1]]} of the {key.split('_', 1)[0]} map" for key in funcs}
        joint = tuple(tuple(f"{name}_{k}" for k in PARTIALS) for name in MAPS)
        header = f"Covariance derivatives of the layer maps of phi = {self.maps.derived.phi.expr}, " \
                 f"psi = {self.maps.derived.psi.expr}."
        self.module: ModuleType = plain_module(funcs, titles, header, joint)

    def partials(self, name: str, a, b, c) -> Partials:
        """Partials of map ``name`` ("nngp" or "sg") at broadcastable a, b, c (a valid covariance)
        with variances inside the float64 range of the generated code (widerange.LOW..HIGH)."""
        if widerange.outside(np.asarray(a), np.asarray(b)) is not None:
            raise NumericalError(f"hyperparameter derivatives need variances within {widerange.LOW:.0e}.."
                                 f"{widerange.HIGH:.0e} (the float64 range of their generated code): rescale the "
                                 "inputs or sigma_w, sigma_b")
        with np.errstate(all="ignore"):
            da, db, dc = getattr(self.module, "_".join(f"{name}_{k}" for k in PARTIALS))(a, b, c)
            root = np.sqrt(a * b)
            degenerate = np.abs(c) >= root * (1 - _DEGENERATE)
        diagonal = np.zeros(degenerate.shape)
        if degenerate.any():
            A, B, C = (np.broadcast_to(v, degenerate.shape)[degenerate] for v in (a, b, c))
            if (np.abs(A - B) > _DEGENERATE * A).any():
                raise DerivationError("hyperparameter derivative at perfectly correlated units of different "
                                      "variances (collinear inputs without bias) is not supported")
            values = np.empty(A.shape)
            for key, sign in DIAGONALS.items():
                side = np.sign(C) == sign
                if side.any():
                    values[side] = self._diagonal(name, key)(A[side], A[side], A[side])
            diagonal[degenerate] = values
        bad = ~degenerate & ~(np.isfinite(da) & np.isfinite(db) & np.isfinite(dc))
        if bad.any():
            raise DerivationError(f"derivative of the {name} map is not finite at a covariance with c^2 < ab")
        return Partials(da, db, dc, degenerate, diagonal)

    def _diagonal(self, name: str, key: str):
        function = f"{name}_{key}"
        if function not in self.available:
            sign = "+" if key == "diag" else "-"
            raise DerivationError(f"the {name} map of this pair has no derived diagonal form m(a, a, {sign}a)")
        return getattr(self.module, function)

    def sg_parameter(self, param: str) -> CompiledExpectation:
        """d sg / d theta = E[phi'(u) dpsi/dtheta(v)] for the surrogate parameter ``param``."""
        return _sg_parameter(self.maps.derived.phi, self.maps.derived.psi, param)


@lru_cache(maxsize=64)
def _sg_parameter(phi: Function, psi: Function, param: str) -> CompiledExpectation:
    return expectation(derivative_function(phi), parameter_derivative(psi, param))


@lru_cache(maxsize=64)
def map_derivatives(phi: str | Function, psi: str | Function | None = None) -> MapDerivatives:
    """Derive (cached), generate (cached) and load the covariance derivatives of a pair's maps."""
    return MapDerivatives(phi, psi)
