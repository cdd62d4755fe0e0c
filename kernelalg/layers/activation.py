"""The elementwise nonlinearity phi, trained with the surrogate derivative psi (a per-layer pair).

Kernel map, applied to every pixel pair (p, q) of every input pair exactly as the MLP map to an
input pair, with a = S(x, p; x, p), b = S(y, q; y, q), c = S(x, p; y, q):

    S' = nngp(a, b, c) = E[phi(u) phi(v)]
    I' = sg(a, b, c) I = E[phi'(u) psi(v)] I      (phi' on the first input x, psi on the second y)
    T' = ntk(a, b, c) T = E[phi'(u) phi'(v)] T

so I(x, y) != I(y, x) in general, as for the MLP; Lambda always uses the NNGP S.  Tangents:
dS' = dnngp(a, b, c)[da, db, dc], dI' = (dsg[da, db, dc] + sum_theta dsg/dtheta) I + sg dI,
with the derived derivative maps (:mod:`kernelalg.numeric.mapderivs`).

Finite network: phi forward; backward multiplies by phi' (true Jacobian; the regular part, so
a jump contributes nothing almost everywhere) or by psi (surrogate Jacobian).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from kernelalg.layers.core import Layer
from kernelalg.layers.record import PSI_PREFIX, Record
from kernelalg.numeric.layermaps import CompiledMaps, layer_maps
from kernelalg.numeric.mapderivs import MapDerivatives, map_derivatives
from kernelalg.numeric.pointwise import Pointwise
from kernelalg.symbolic.catalog import parameters, with_parameter
from kernelalg.symbolic.functions import Function


@dataclass(frozen=True)
class Activation(Layer):
    """phi with surrogate derivative psi (default psi = phi')."""

    phi: str | Function
    psi: str | Function | None = None

    @cached_property
    def maps(self) -> CompiledMaps:
        return layer_maps(self.phi, self.psi)

    @cached_property
    def derivatives(self) -> MapDerivatives:
        return map_derivatives(self.phi, self.psi)

    @cached_property
    def functions(self) -> Pointwise:
        return Pointwise.of(self.phi, self.psi)

    def surrogate_parameters(self) -> dict[str, float]:
        """Catalog parameters of psi (none when psi = phi' or psi is a plain expression)."""
        return {} if self.psi is None else parameters(self.psi)

    def hyperparameters(self):
        return {PSI_PREFIX + name for name in self.surrogate_parameters()}

    def with_hyperparameters(self, values):
        psi = self.psi
        for name, value in values.items():
            if name.startswith(PSI_PREFIX) and name[len(PSI_PREFIX):] in self.surrogate_parameters():
                psi = with_parameter(psi, name[len(PSI_PREFIX):], value)
        return self if psi is self.psi else Activation(self.phi, psi)

    def kernel(self, record: Record, side) -> Record:
        record, a, b, da, db = side.covariances(record)
        request = record.request
        c = record.nngp
        names = ("nngp", "sg", "ntk") if request.ntk else ("nngp", "sg")
        values = self.maps.joint(names, a, b, c)
        nngp, sg = values[0], values[1]
        sgntk = None if record.sgntk is None or not request.sgntk else sg * record.sgntk
        ntk = None
        if request.ntk and record.ntk is not None:
            with np.errstate(invalid="ignore"):  # inf (diagonal of a jump activation) * 0
                ntk = values[2] * record.ntk
        d_nngp, d_sgntk = {}, {}
        if request.wrt:
            d_nngp, d_sgntk = self._tangents(record, a, b, c, da, db, sg)
        return Record(nngp, sgntk, ntk, record.spatial, request, d_nngp, d_sgntk)

    def _tangents(self, record: Record, a, b, c, da, db, sg):
        request = record.request
        nngp_partials = self.derivatives.partials("nngp", a, b, c)
        sg_partials = self.derivatives.partials("sg", a, b, c) if request.sgntk else None
        own = self.surrogate_parameters()
        d_nngp, d_sgntk = {}, {}
        for name in request.wrt:
            tangent = (da[name], db[name], record.d_nngp[name])
            moving = any(t is not None for t in tangent)
            zeros = [np.zeros(()) if t is None else t for t in tangent]
            d_nngp[name] = nngp_partials.apply(*zeros) if moving else None
            if not request.sgntk:
                continue
            factor = sg_partials.apply(*zeros) if moving else None
            if name.startswith(PSI_PREFIX) and name[len(PSI_PREFIX):] in own:
                theta = self.derivatives.sg_parameter(name[len(PSI_PREFIX):])(a, b, c)
                factor = theta if factor is None else factor + theta
            d_sgntk[name] = _product_rule(factor, record.sgntk, sg, record.d_sgntk[name])
        return d_nngp, d_sgntk

    # --- finite network ------------------------------------------------------------------

    def forward(self, params, z):
        return self.functions.phi(z), z

    def backward(self, params, h, delta, surrogate):
        return delta * (self.functions.psi(h) if surrogate else self.functions.dphi(h))


def _product_rule(dfactor, value, factor, dvalue):
    """d(factor * value) = dfactor * value + factor * dvalue, with None standing for zero."""
    out = None
    if dfactor is not None and value is not None:
        out = dfactor * value
    if dvalue is not None:
        out = factor * dvalue if out is None else out + factor * dvalue
    return out

