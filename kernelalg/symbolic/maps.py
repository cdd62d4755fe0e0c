"""The four layer maps of an activation phi with surrogate derivative psi, specified once.

Each map is E[f(u) g(v)] over (u, v) ~ N(0, [[a, c], [c, b]]) with f and g among phi, its
distributional derivative phi' and psi:

    nngp      = E[phi(u) phi(v)]      sg        = E[phi'(u) psi(v)]
    ntk       = E[phi'(u) phi'(v)]    surrogate = E[psi(u) psi(v)]

Derivation, validation, code generation, reports and the CLI read the maps from :data:`MAPS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, TypeVar

Side = Literal["phi", "dphi", "psi"]  # which function enters one side: phi, phi' or psi
T = TypeVar("T")

_TEXT = {"phi": "phi", "dphi": "phi'", "psi": "psi"}
_LATEX = {"phi": r"\phi", "dphi": r"\phi'", "psi": r"\psi"}


@dataclass(frozen=True)
class MapSpec:
    """The layer map ``name`` = E[left(u) right(v)]; ``role`` says what the kernels use it for."""

    name: str
    left: Side
    right: Side
    role: str

    @property
    def expectation(self) -> str:
        """The map as plain text, e.g. ``E[phi'(u) psi(v)]``."""
        return f"E[{_TEXT[self.left]}(u) {_TEXT[self.right]}(v)]"

    @property
    def latex(self) -> str:
        r"""The map in LaTeX, e.g. ``E[\phi'(u)\psi(v)]``."""
        return f"E[{_LATEX[self.left]}(u){_LATEX[self.right]}(v)]"

    @property
    def title(self) -> str:
        """One line for the generated function's docstring: the expectation and the role."""
        return f"{self.expectation}: {self.role}"

    def functions(self, sides: Mapping[str, T]) -> tuple[T, T]:
        """(f, g) of E[f(u) g(v)], picked from ``sides`` = {"phi": ..., "dphi": ..., "psi": ...}."""
        return sides[self.left], sides[self.right]


MAPS: tuple[MapSpec, ...] = (
    MapSpec("nngp", "phi", "phi", "the NNGP layer map"),
    MapSpec("sg", "dphi", "psi", "the mixed derivative map of the SG-NTK"),
    MapSpec("ntk", "dphi", "dphi", "the derivative map of the naive NTK"),
    MapSpec("surrogate", "psi", "psi", "the surrogate derivative map"),
)
MAP_NAMES: tuple[str, ...] = tuple(m.name for m in MAPS)
