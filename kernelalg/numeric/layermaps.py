"""Compiled layer maps: derived expressions -> generated module -> validated array functions.

This is the numeric face of the engine: after the first call (derivation and code generation,
both cached on disk) evaluating a map costs only the generated NumPy code.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from types import ModuleType

import numpy as np

from kernelalg.codegen import runtime
from kernelalg.codegen.module import SWAPPED, cached_text, load, module_key
from kernelalg.errors import CovarianceError, NumericalError
from kernelalg.numeric import widerange
from kernelalg.numeric.arrays import first_bad, real_array
from kernelalg.numeric.compiled import Bound, accelerate, module_text, rule_bound
from kernelalg.symbolic.derive import LayerMaps, derive
from kernelalg.symbolic.derive import expectation as derive_expectation
from kernelalg.symbolic.expectation.result import Expectation
from kernelalg.symbolic.functions import Function
from kernelalg.symbolic.maps import MAP_NAMES, MAPS

TITLES = {m.name: m.title for m in MAPS}  # the generated functions' docstring titles
#: Maps evaluated together by the kernel recursion, generated as joint functions; sg_swapped
#: is sg with a and b exchanged (the SG-NTK of the swapped pairs, when sg is asymmetric).
JOINT = (("nngp", "sg"), ("nngp", "sg", "ntk"), ("nngp", "sg", "sg" + SWAPPED))
TABULATED = "tables and bounds"  # the builder of the library's modules (module_key)
_ROUNDING = 16 * np.finfo(float).eps  # relative excess of c^2 over ab that counts as rounding


def check_covariance(a, b, c) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Broadcast and validate (a, b, c); clip c to +-sqrt(ab) only where rounding pushed it past."""
    try:
        a, b, c = np.broadcast_arrays(*(real_array(v, name) for v, name in ((a, "a"), (b, "b"), (c, "c"))))
    except ValueError as exc:
        raise CovarianceError(f"a, b, c must be numbers or broadcastable arrays: {exc}") from None
    if not (np.isfinite(a).all() and np.isfinite(b).all() and np.isfinite(c).all()):
        raise CovarianceError("covariance entries must be finite (got NaN or inf)")
    if (a <= 0).any() or (b <= 0).any():
        raise CovarianceError("variances a and b must be positive")
    bound = runtime._root_ab(a, b)
    excess = np.abs(c) - bound
    if (excess > _ROUNDING * bound).any():
        i = np.unravel_index(np.argmax(excess / bound), c.shape)
        raise CovarianceError(f"|c| > sqrt(ab): not a covariance (a={a[i]:g}, b={b[i]:g}, c={c[i]:g})")
    return a, b, np.clip(c, -bound, bound)


@dataclass(frozen=True)
class CompiledExpectation:
    """A derived expectation with its generated vectorised function."""

    result: Expectation
    function: object  # the generated f(a, b, c)

    def __call__(self, a, b, c) -> np.ndarray:
        a, b, c = check_covariance(a, b, c)
        values = evaluate_valid(self.function, self.result, a, b, c)
        index = first_bad(values, self.result.diverges)
        if index is not None:
            raise NumericalError(f"the map came out {values[index]} at a = {a[index]:g}, b = {b[index]:g}, "
                                 f"c = {c[index]:g}: outside the range its float64 code can evaluate")
        return values


def evaluate_valid(function, results: Expectation | tuple[Expectation, ...], a, b, c):
    """Evaluate a generated map (or joint maps, then ``results`` is a tuple) on a valid covariance.

    The generated function evaluates the edge c^2 = ab itself (its formula's limit from inside
    where the formula reads 0/0 or inf * 0 there; see :func:`kernelalg.codegen.runtime._on_edge`).
    Entries with a variance beyond the float64 range of the generated code are taken from the
    closed form in mpmath (:mod:`kernelalg.numeric.widerange`).
    """
    single = isinstance(results, Expectation)
    outs = [function(a, b, c)] if single else list(function(a, b, c))
    wide = widerange.outside(np.asarray(a), np.asarray(b))
    if wide is not None:
        for i, result in enumerate((results,) if single else results):
            mask = np.broadcast_to(wide, outs[i].shape)
            A, B, C = (np.broadcast_to(v, mask.shape)[mask] for v in (a, b, c))
            outs[i] = np.array(outs[i], dtype=float)
            outs[i][mask] = widerange.values(result, A, B, C)
    return outs[0] if single else tuple(outs)


class CompiledMaps:
    """The four layer maps of a pair as validated vectorised functions of (a, b, c)."""

    def __init__(self, derived: LayerMaps, module: ModuleType):
        self.derived = derived
        self.module = module
        self._results: dict[tuple[str, ...], tuple[Expectation, ...]] = {}
        for name in MAP_NAMES:
            setattr(self, name, CompiledExpectation(getattr(derived, name), getattr(module, name)))

    @cached_property
    def sg_symmetric(self) -> bool:
        """sg(a, b, c) = sg(b, a, c) as written (psi = phi', or both even in the same way)."""
        return self.derived.sg.swapped().expr == self.derived.sg.expr

    def _bound(self, name: str) -> Bound | None:
        """The bound of a map the module evaluates by its rule (measured on first request)."""
        if getattr(self.derived, name).closed_form or self.module.ERROR_BOUNDS[name] is not None:
            return None
        return rule_bound(self.module, name)

    def status(self, name: str) -> str:
        """The map's status with how it is evaluated and its measured error bound."""
        bound = self._bound(name)
        return self.module.STATUS[name] + ("" if bound is None else f", {bound.text()}")

    def error_bound(self, name: str) -> float | None:
        """Measured max. relative error of a map without a closed form (None for closed forms)."""
        bound = self._bound(name)
        return self.module.ERROR_BOUNDS[name] if bound is None else bound.value

    def expectations(self, names: tuple[str, ...]) -> tuple[Expectation, ...]:
        """The derived maps ``names`` (a name ending in _swapped: the map with a and b exchanged);
        formed once per tuple (the kernel recursion asks for them in every block)."""
        if names not in self._results:
            derived = tuple(getattr(self.derived, n.removesuffix(SWAPPED)) for n in names)
            self._results[names] = tuple(d.swapped() if n.endswith(SWAPPED) else d for n, d in zip(names, derived))
        return self._results[names]

    def joint(self, names: tuple[str, ...], a, b, c) -> tuple[np.ndarray, ...]:
        """Several maps at once on a valid covariance (a generated joint function of JOINT)."""
        function = getattr(self.module, "_".join(names))
        values = evaluate_valid(function, self.expectations(names), a, b, c)
        # maps with equal formulas come back as one shared array: callers update them in place
        return tuple(v.copy() if any(v is u for u in values[:i]) else v for i, v in enumerate(values))

    def evaluate(self, a: float, b: float, c: float) -> dict:
        """Scalar values of the four maps; a divergent value is None and listed in ``diverges``."""
        values: dict = {}
        diverges = []
        for name in MAP_NAMES:
            value = float(getattr(self, name)(a, b, c))
            if np.isinf(value):
                diverges.append(name)
                value = None
            values[name] = value
        values["diverges"] = diverges
        return values


def _header(derived: LayerMaps) -> str:
    return f"Layer maps of phi = {derived.phi.expr} with surrogate psi = {derived.psi.expr}."


def _load(maps: dict[str, Expectation], titles: dict[str, str], header: str,
          joint: tuple[tuple[str, ...], ...] = ()) -> ModuleType:
    """The generated module (tables and bounds compiled on first use, then cached)."""
    digest = module_key(maps, header, joint, TABULATED)
    return accelerate(load(digest, lambda: module_text(maps, titles, header, joint)))


def generate_source(phi: str | Function, psi: str | Function | None = None) -> str:
    """Source text of the self-contained NumPy module of the pair's four layer maps (the cached
    module the library itself loads)."""
    derived = derive(phi, psi)
    maps, header = dict(derived.items()), _header(derived)
    return cached_text(module_key(maps, header, JOINT, TABULATED), lambda: module_text(maps, TITLES, header, JOINT))[0]


@lru_cache(maxsize=64)
def _compiled(phi: str | Function, psi: str | Function | None) -> CompiledMaps:
    derived = derive(phi, psi)
    return CompiledMaps(derived, _load(dict(derived.items()), TITLES, _header(derived), JOINT))


def layer_maps(phi: str | Function, psi: str | Function | None = None) -> CompiledMaps:
    """Derive (cached), generate (cached) and load the layer maps of ``phi`` / ``psi``."""
    return _compiled(phi, psi)


@lru_cache(maxsize=64)
def expectation(f: str | Function, g: str | Function) -> CompiledExpectation:
    """E[f(u) g(v)] as a validated vectorised function of (a, b, c)."""
    result = derive_expectation(f, g)
    module = _load({"expectation": result}, {"expectation": "E[f(u) g(v)]"}, f"E[f(u) g(v)] for f = {f}, g = {g}.")
    return CompiledExpectation(result, module.expectation)
