"""Tables that replace unevaluated Gaussian means in generated modules, and their source.

A table is built by :mod:`kernelalg.numeric.compiled` and printed here as module constants;
the generated code evaluates it with the helpers of :mod:`kernelalg.codegen.tableruntime`.
:class:`Table1` holds G(V) = E[g(sqrt(V) z)] over the whole range V >= 0, as Chebyshev series
of the mantissa of V on its octaves, continued by its power laws at 0 and infinity.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np


def pack(array: np.ndarray) -> str:
    """Base64 text of the little-endian float64 bytes of ``array`` (exact, deterministic)."""
    return base64.b64encode(np.ascontiguousarray(array, dtype="<f8").tobytes()).decode("ascii")


def _wrapped(text: str, width: int = 96) -> str:
    return "(\n" + "\n".join(f'    "{text[i:i + width]}"' for i in range(0, len(text), width)) + "\n)"


def array_source(array: np.ndarray) -> str:
    return f"_unpack({_wrapped(pack(array))}, {tuple(array.shape)!r})"


@dataclass(frozen=True)
class Table1:
    """Chebyshev coefficients ``coef[i, k]`` of G (or log G when ``log``) on the cells of the
    octaves 2**(e - 1) <= V < 2**e, e = e_lo, e_lo + 1, ...: each octave is cut into ``split``
    equal cells of the mantissa m = V / 2**e in [1/2, 1), cell i = (e - e_lo) split + s holding
    the series in t = 4 split m - 2 split - 2 s - 1 in [-1, 1); ``ends`` = (V_lo, G(V_lo), p_lo,
    V_hi, G(V_hi), p_hi): the power laws G_end (V / V_end)**p beyond the cells."""

    e_lo: int
    split: int
    coef: np.ndarray
    log: bool
    ends: tuple[float, float, float, float, float, float]

    @property
    def description(self) -> str:
        cells, degree = self.coef.shape
        v_lo, _, p_lo, v_hi, _, p_hi = self.ends
        form = "log E" if self.log else "E"
        return (f"{form} as Chebyshev series of degree {degree - 1} on {cells // self.split} octaves of V "
                f"({v_lo:.1e} <= V < {v_hi:.1e}), {self.split} cells each, power laws V**{p_lo:g} and "
                f"V**{p_hi:g} beyond")

    def source(self, name: str) -> str:
        ends = tuple(float(v) for v in self.ends)
        return f"{name} = ({self.e_lo!r}, {self.split!r}, {array_source(self.coef)}, {self.log!r}, {ends!r})\n"

    def call(self, name: str, mu: str, var: str, exact: str) -> str:
        return f"_table1({name}, {var})"
