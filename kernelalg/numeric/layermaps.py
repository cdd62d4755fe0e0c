"""Compiled layer maps: derived expressions -> generated module -> validated array functions.

This is the numeric face of the engine: after the first call (derivation and code generation,
both cached on disk) evaluating a map costs only the generated NumPy code.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType

import numpy as np

from kernelalg.codegen.module import cached_source, load, module_key
from kernelalg.errors import CovarianceError
from kernelalg.numeric.compiled import REVISION, accelerate, module_text
from kernelalg.symbolic.derive import MAP_NAMES, LayerMaps, derive
from kernelalg.symbolic.derive import expectation as derive_expectation
from kernelalg.symbolic.expectation.result import Expectation
from kernelalg.symbolic.functions import Function

TITLES = {
    "nngp": "E[phi(u) phi(v)]: the NNGP layer map",
    "sg": "E[phi'(u) psi(v)]: the mixed derivative map of the SG-NTK",
    "ntk": "E[phi'(u) phi'(v)]: the derivative map of the naive NTK",
    "surrogate": "E[psi(u) psi(v)]: the surrogate derivative map",
}
#: Maps evaluated together by the kernel recursion, generated as joint functions.
JOINT = (("nngp", "sg"), ("nngp", "sg", "ntk"))
_ROUNDING = 16 * np.finfo(float).eps  # relative excess of c^2 over ab that counts as rounding


def check_covariance(a, b, c) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Broadcast and validate (a, b, c); clip c to +-sqrt(ab) only where rounding pushed it past."""
    try:
        a, b, c = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (a, b, c)))
    except (TypeError, ValueError) as exc:
        raise CovarianceError(f"a, b, c must be numbers or broadcastable arrays: {exc}") from None
    if not (np.isfinite(a).all() and np.isfinite(b).all() and np.isfinite(c).all()):
        raise CovarianceError("covariance entries must be finite (got NaN or inf)")
    if (a <= 0).any() or (b <= 0).any():
        raise CovarianceError("variances a and b must be positive")
    bound = np.sqrt(a * b)
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
        return evaluate_valid(self.function, self.result.diverges, a, b, c)


def evaluate_valid(function, diverges, a: np.ndarray, b: np.ndarray, c: np.ndarray):
    """Evaluate a generated map (or joint maps, then ``diverges`` is a tuple) on a valid covariance.

    Entries that come out non-finite are evaluated again with c clipped to +-sqrt(ab) (rounding
    can push |c| past it).  Where the closed form still reads 0/0 or inf * 0 on the diagonal
    c^2 = ab, the value is its continuous limit, taken from just inside (c shrunk by 8 ulps).
    A map flagged ``diverges`` (a product of deltas) is +inf where that limit grows like
    (ab - c^2)^(-1/2) (c shrunk by 8 versus 64 ulps), i.e. where the delta locations lie on
    the degenerate support.
    """
    single = isinstance(diverges, bool)
    flags = (diverges,) if single else tuple(diverges)
    eps = np.finfo(float).eps

    def run(*args):
        return [function(*args)] if single else list(function(*args))

    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        outs = run(a, b, c)
        if all(np.isfinite(np.add.reduce(o, axis=None)) for o in outs):  # one cheap pass each
            return outs[0] if single else tuple(outs)
        bad = [~np.isfinite(o) for o in outs]
        anywhere = np.logical_or.reduce(bad)
        A, B, C = (np.broadcast_to(v, anywhere.shape)[anywhere] for v in (a, b, c))
        root = np.sqrt(A * B)
        C = np.clip(C, -root, root)
        edge, near, nearer = run(A, B, C), run(A, B, C * (1 - 8 * eps)), run(A, B, C * (1 - 64 * eps))
        for i, flag in enumerate(flags):
            limit = np.where(near[i] > 1.5 * nearer[i], np.inf, near[i]) if flag else near[i]
            fix = np.where(np.isfinite(edge[i]), edge[i], limit)
            outs[i] = np.array(outs[i], dtype=float)
            outs[i][anywhere] = np.where(bad[i][anywhere], fix, outs[i][anywhere])
    return outs[0] if single else tuple(outs)


class CompiledMaps:
    """The four layer maps of a pair as validated vectorised functions of (a, b, c)."""

    def __init__(self, derived: LayerMaps, module: ModuleType):
        self.derived = derived
        self.module = module
        for name in MAP_NAMES:
            setattr(self, name, CompiledExpectation(getattr(derived, name), getattr(module, name)))

    def status(self, name: str) -> str:
        """The map's status with how it is evaluated and its measured error bound."""
        return self.module.STATUS[name]

    def error_bound(self, name: str) -> float | None:
        """Measured max. relative error of a map without a closed form (None for closed forms)."""
        return self.module.ERROR_BOUNDS[name]

    def joint(self, names: tuple[str, ...], a, b, c) -> tuple[np.ndarray, ...]:
        """Several maps at once on a valid covariance (a generated joint function of JOINT)."""
        function = getattr(self.module, "_".join(names))
        values = evaluate_valid(function, tuple(getattr(self.derived, n).diverges for n in names), a, b, c)
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
    digest = module_key(maps, header, joint, REVISION)
    return accelerate(load(digest, lambda: module_text(maps, titles, header, joint)))


def generate_source(phi: str | Function, psi: str | Function | None = None) -> str:
    """Source text of the self-contained NumPy module of the pair's four layer maps (the cached
    module the library itself loads)."""
    derived = derive(phi, psi)
    maps, header = dict(derived.items()), _header(derived)
    _load(maps, TITLES, header, JOINT)
    return cached_source(module_key(maps, header, JOINT, REVISION))


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
