"""Derivation of the closed-form event maps of spiking neuron models from their ODEs.

Each model is given by its ODE in SymPy; this module *derives* (dsolve, substitution,
integration) the flow between events, the time to the next spike for every case, the input
and reset rules, and returns them as :class:`Formula` records for the code generator.

* **QIF** with exponential synaptic current, tau_m = tau = 2 tau_s:
  ``tau V' = V (V - 1) + I``, ``(tau/2) I' = -I``.  With ``V = e W(s)``, ``e = exp(-t/tau)``,
  ``s = 1 - e`` the voltage equation becomes the Riccati equation ``W'(s) = W^2 + I0``, which
  dsolve integrates per sign of I0; the spike (blow-up of W) happens at
  ``s* = int_V^oo dw / (w^2 + I0)`` if ``s* < 1``.
* **Theta neuron** ``tau V' = V (V - 1) + I0`` (I0 > 1/4) with delta-pulse input: its phase
  ``Phi(V) = tau int_-oo^V dw / (w^2 - w + I0)`` advances at rate one; a kick w maps
  ``phi -> H(phi, w) = Phi(Phi^-1(phi) + w)``.  The same phase with ``I0 = 1/4 + softplus``
  gives the QIF pseudodynamics after the trial end.
* **LIF** with exponential current: ``tau V' = -V + I``, spike at the first ``V = V_th``.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

# state and parameters, as they appear in the generated functions' signatures
V, I, dt = sp.symbols("V I dt", real=True)
tau = sp.Symbol("tau", positive=True)
phi, w, drive, vth = sp.Symbol("phi", real=True), sp.Symbol("w", real=True), sp.Symbol("drive", positive=True), \
    sp.Symbol("vth", positive=True)

_t = sp.Symbol("t", nonnegative=True)
_s = sp.Symbol("s", nonnegative=True)
_x = sp.Symbol("x", real=True)
_r = sp.Symbol("r", positive=True)
_V, _I, _W = sp.Function("V"), sp.Function("I"), sp.Function("W")


@dataclass(frozen=True)
class Formula:
    """A derived closed form ``name(args) = expr``, its validity and how it was obtained.

    ``wrt``: the arguments whose partial derivatives are generated alongside.
    """

    name: str
    expr: sp.Expr
    args: tuple[sp.Symbol, ...]
    wrt: tuple[sp.Symbol, ...]
    valid: str
    route: tuple[str, ...]


@dataclass(frozen=True)
class NeuronModel:
    """A neuron model: its ODEs and the formulas derived from them."""

    name: str
    odes: tuple[sp.Eq, ...]
    formulas: tuple[Formula, ...]

    def formula(self, name: str) -> Formula:
        return next(f for f in self.formulas if f.name == name)


def _decaying_current() -> tuple[sp.Eq, sp.Expr, Formula]:
    """``(tau/2) I' = -I``, its solution from I(0) = I, and that solution as the formula
    ``current(I, dt, tau)`` (with partials in I and dt)."""
    ode = sp.Eq(tau / 2 * _I(_t).diff(_t), -_I(_t))
    solution = sp.dsolve(ode, _I(_t), ics={_I(0): I}).rhs
    formula = Formula("current", solution.subs(_t, dt), (I, dt, tau), (I, dt), "all",
                      (f"dsolve (tau/2) I' = -I, I(0) = I: I(t) = {sp.sstr(solution)}",))
    return ode, solution, formula


def _riccati_coefficient(ode_V: sp.Eq, current: sp.Expr) -> sp.Expr:
    """Substitute V = e W(s) (e = exp(-t/tau), s = 1 - e) into the voltage ODE and solve for
    W'(s): returns the right-hand side as a function of W (symbol ``_x``)."""
    e = sp.exp(-_t / tau)
    expr = (ode_V.lhs - ode_V.rhs).subs(_I(_t), current).subs(_V(_t), e * _W(1 - e)).doit()
    slope = sp.Symbol("slope")
    expr = expr.subs({d: slope for d in (*expr.atoms(sp.Subs), *expr.atoms(sp.Derivative))}).subs(_W(1 - e), _x)
    (rhs,) = sp.solve(expr, slope)
    return sp.expand(rhs)


def _solve_riccati(rhs: sp.Expr) -> sp.Expr:
    """dsolve W' = rhs(W), W(0) = V; a general solution's constant is fixed by the initial value."""
    ode = sp.Eq(_W(_s).diff(_s), rhs.subs(_x, _W(_s)))
    try:
        return sp.dsolve(ode, _W(_s), ics={_W(0): V}).rhs
    except (ValueError, NotImplementedError):
        general = sp.dsolve(ode, _W(_s)).rhs
        (const,) = [c for c in general.free_symbols if c.name.startswith("C")]
        k = sp.Symbol("k")
        closed = general.subs(sp.exp(2 * const * _r), k)
        (kv,) = sp.solve(sp.Eq(closed.subs(_s, 0), V), k)
        return closed.subs(k, kv)


def qif() -> NeuronModel:
    """QIF neuron with exponentially decaying synaptic current (tau_m = 2 tau_s)."""
    ode_I, current, current_formula = _decaying_current()
    ode_V = sp.Eq(tau * _V(_t).diff(_t), _V(_t) * (_V(_t) - 1) + _I(_t))
    riccati = _riccati_coefficient(ode_V, current)  # x**2 + I
    e = sp.exp(-dt / tau)
    cases = {"pos": (_r**2, sp.sqrt(I), "I > 0"), "zero": (0, None, "I == 0"), "neg": (-_r**2, sp.sqrt(-I), "I < 0")}
    formulas = [current_formula]
    base = ("dsolve (tau/2) I' = -I: I(t) = I exp(-2 t/tau)",
            "substitute V = e W(s), e = exp(-t/tau), s = 1 - e: W'(s) = " + sp.sstr(riccati))
    for case, (i0, r_of_I, valid) in cases.items():
        rhs = riccati.subs(I, i0)
        W = _solve_riccati(rhs)
        flow = (e * W.subs(_s, 1 - e)).subs(_r, r_of_I) if r_of_I is not None else e * W.subs(_s, 1 - e)
        formulas.append(Formula(f"flow_{case}", sp.simplify(flow), (V, I, dt, tau), (V, I, dt), valid,
                                base + (f"dsolve W' = {sp.sstr(rhs)}, W(0) = V: W = {sp.sstr(W)}",)))
        # blow-up of W before s = 1
        lower = {"pos": "", "zero": " (needs V > 0)", "neg": " (needs V > r)"}[case]
        s_star = sp.integrate(1 / rhs, (_x, V, sp.oo), conds="none")
        s_star = s_star.subs(_r, r_of_I) if r_of_I is not None else s_star
        s_star = sp.simplify(s_star)
        formulas.append(Formula(f"sstar_{case}", s_star, (V, I), (V, I), valid + lower,
                                base + (f"W blows up at s* = int_V^oo dx/({sp.sstr(rhs)}) = {sp.sstr(s_star)}",
                                        "a spike iff s* < 1")))
        formulas.append(Formula(f"tspike_{case}", sp.simplify(-tau * sp.log(1 - s_star)), (V, I, tau), (V, I),
                                valid + lower + " and s* < 1", ("dt* = -tau log(1 - s*)",)))
    formulas += _qif_limits_at_zero(riccati)
    return NeuronModel("qif", (ode_V, ode_I), tuple(formulas))


def _qif_limits_at_zero(riccati: sp.Expr) -> list[Formula]:
    """dV/dI and dt*/dI at I = 0 as the continuous limits: the variational equation
    Z' = 2 W0 Z + 1 along the I = 0 solution, and d/dI of the blow-up integral."""
    W0 = _solve_riccati(riccati.subs(I, 0))
    ode = sp.Eq(_W(_s).diff(_s), (sp.diff(riccati, _x).subs(_x, W0) * _W(_s) + sp.diff(riccati, I)))
    Z = sp.simplify(sp.dsolve(ode, _W(_s), ics={_W(0): 0}).rhs)
    e = sp.exp(-dt / tau)
    dflow = sp.simplify(e * Z.subs(_s, 1 - e))
    ds = sp.integrate(sp.diff(1 / riccati, I).subs(I, 0), (_x, V, sp.oo), conds="none")
    s0 = sp.integrate(1 / riccati.subs(I, 0), (_x, V, sp.oo), conds="none")
    dts = sp.simplify(tau * ds / (1 - s0))
    route = ("differentiate the Riccati equation in I at I = 0: Z' = 2 W0 Z + 1, Z(0) = 0",)
    return [Formula("dflow_dI_zero", dflow, (V, dt, tau), (), "I == 0", route + (f"dsolve: Z = {sp.sstr(Z)}",)),
            Formula("dtspike_dI_zero", dts, (V, tau), (), "I == 0 and V > 1",
                    (f"ds*/dI = int_V^oo d/dI (1/(x^2 + I)) dx = {sp.sstr(ds)}", "dt*/dI = tau ds*/dI / (1 - s*)"))]


def _phase(I0: sp.Expr) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """Phase Phi(V) = tau int_-oo^V dx/(x^2 - x + I0), period and inverse, for I0 > 1/4."""
    rho = sp.Symbol("rho", positive=True)
    rhs = _x**2 - _x + rho**2 + sp.Rational(1, 4)
    Phi = sp.simplify(tau * sp.integrate(1 / rhs, (_x, -sp.oo, V)))
    period = sp.simplify(tau * sp.integrate(1 / rhs, (_x, -sp.oo, sp.oo)))
    (inverse,) = sp.solve(sp.Eq(Phi, phi), V)
    back = {rho: sp.sqrt(I0 - sp.Rational(1, 4))}
    return Phi.subs(back), period.subs(back), inverse.subs(back)


def theta() -> NeuronModel:
    """Theta neuron: QIF with constant drive I0 > 1/4 and delta-pulse input (V jumps by w)."""
    ode = sp.Eq(tau * _V(_t).diff(_t), _V(_t) * (_V(_t) - 1) + drive)
    Phi, period, inverse = _phase(drive)
    route = (f"Phi(V) = tau int_-oo^V dx/(x^2 - x + drive) = {sp.sstr(Phi)}", "solve Phi(V) = phi for V")
    H = Phi.subs(V, inverse + w)
    return NeuronModel("theta", (ode,), (
        Formula("phase", Phi, (V, drive, tau), (V, drive), "drive > 1/4", route[:1]),
        Formula("period", period, (drive, tau), (drive,), "drive > 1/4", ("Phi(+oo)",)),
        Formula("inverse", inverse, (phi, drive, tau), (phi,), "0 < phi < period", route),
        Formula("transfer", sp.simplify(H), (phi, w, drive, tau), (phi, w), "0 < phi < period",
                route + ("H(phi, w) = Phi(Phi^-1(phi) + w)",)),
    ))


def qif_pseudo() -> NeuronModel:
    """QIF pseudodynamics after the trial end: the theta phase with drive 1/4 + softplus(I)."""
    alpha = sp.Symbol("alpha", positive=True)
    softplus = alpha * sp.log(1 + sp.exp(I / alpha))
    Phi, period, _ = _phase(sp.Rational(1, 4) + softplus)
    route = ("tau V' = V (V - 1) + 1/4 + softplus_alpha(I)", f"phase = theta phase at drive 1/4 + {sp.sstr(softplus)}")
    return NeuronModel("qif_pseudo", (), (
        Formula("pseudo_phase", Phi, (V, I, alpha, tau), (V, I), "all V, I", route),
        Formula("pseudo_period", period, (I, alpha, tau), (I,), "all I", route),
    ))


def lif() -> NeuronModel:
    """Current-based LIF with exponential current (tau_m = 2 tau_s), threshold vth, reset 0."""
    ode_I, current, current_formula = _decaying_current()
    ode_V = sp.Eq(tau * _V(_t).diff(_t), -_V(_t) + _I(_t))
    flow = sp.dsolve(ode_V.subs(_I(_t), current), _V(_t), ics={_V(0): V}).rhs.subs(_t, dt)
    y = sp.Symbol("y", positive=True)  # y = exp(-dt/tau)
    roots = sp.solve(sp.Eq(sp.expand(flow.subs(sp.exp(-dt / tau), y).subs(sp.exp(-2 * dt / tau), y**2)), vth), y)
    # the first crossing in time is the larger root in y (y decreases in time); for I > 0 that is
    # the root with +sqrt
    larger = max(roots, key=lambda root: root.subs({V: 0, I: 5, vth: 1}))
    route = ("dsolve the linear ODEs", f"solve V(dt) = vth for y = exp(-dt/tau): y in {sp.sstr(roots)}",
             "first crossing: the larger root")
    valid = "I > 0, discriminant > 0, 0 < y* < 1"
    return NeuronModel("lif", (ode_V, ode_I), (
        current_formula,
        Formula("flow", sp.simplify(flow), (V, I, dt, tau), (V, I, dt), "all", route[:1]),
        Formula("ystar", larger, (V, I, vth), (V, I), valid, route),
        Formula("tspike", -tau * sp.log(larger), (V, I, vth, tau), (V, I), valid, route + ("dt* = -tau log(y*)",)),
    ))


MODELS = {"qif": qif, "theta": theta, "qif_pseudo": qif_pseudo, "lif": lif}
