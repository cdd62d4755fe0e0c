"""Named activations and surrogate derivatives, and the defaults of common SNN/BNN libraries.

Each entry is only a SymPy expression in ``x`` with named parameters; nothing about its
Gaussian expectations is stored here (the engine derives those).  A function is named by a
spec string: a catalog name with optional keyword parameters (``"erf(m=3)"``), a preset
(``"snntorch.atan"``), or any expression in ``x`` (``"erf(3*x)"``).
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass

import sympy as sp

from kernelalg.errors import ExpressionError, UnknownFunctionError
from kernelalg.symbolic.functions import NUMBER_RANGE, Function, parse, validate

ACTIVATION = "activation"
SURROGATE = "surrogate"


@dataclass(frozen=True)
class Range:
    """An interval of allowed parameter values, open unless a bound is marked closed."""

    low: float = -math.inf
    high: float = math.inf
    low_closed: bool = False

    def __contains__(self, value: float) -> bool:
        return (self.low <= value if self.low_closed else self.low < value) and value < self.high

    def __str__(self) -> str:
        return f"{'[' if self.low_closed else '('}{self.low:g}, {self.high:g})"


POSITIVE = Range(0.0)


@dataclass(frozen=True)
class Entry:
    """A catalog entry: ``template`` is an expression in x and the parameter names of ``defaults``;
    ``ranges`` restricts parameters (scales and steepnesses must be positive)."""

    name: str
    kind: str
    template: str
    defaults: tuple[tuple[str, float], ...] = ()
    aliases: tuple[str, ...] = ()
    note: str = ""
    ranges: tuple[tuple[str, Range], ...] = ()

    def expression(self, params: dict[str, float]) -> sp.Expr:
        """The entry's SymPy expression with its parameters substituted (exact rationals)."""
        names = dict(self.defaults)
        unknown = set(params) - set(names)
        if unknown:
            raise ExpressionError(f"{self.name} has no parameter {', '.join(sorted(unknown))}; "
                                  f"its parameters are {', '.join(names) or 'none'}")
        names.update(params)
        for name, value in names.items():
            self._check(name, value)
        return parse(self.template, {k: _exact(v) for k, v in names.items()})

    def parameter_derivative(self, params: dict[str, float], name: str) -> sp.Expr:
        """d/d(name) of the entry's expression, at the parameter values ``params`` (defaults filled in)."""
        values = {**dict(self.defaults), **params}
        if name not in values:
            raise ExpressionError(f"{self.name} has no parameter {name}; its parameters are "
                                  f"{', '.join(values) or 'none'}")
        symbol = sp.Symbol(f"_{name}", real=True)
        expr = parse(self.template, {**{k: _exact(v) for k, v in values.items()}, name: symbol}, (symbol,))
        return sp.diff(expr, symbol).subs(symbol, _exact(values[name]))

    def _check(self, name: str, value: float) -> None:
        low, high = NUMBER_RANGE
        if not math.isfinite(value) or (value != 0 and not low <= abs(value) <= high):
            raise ExpressionError(f"{self.name}: parameter {name} = {value:g} must be 0 or of magnitude "
                                  f"{low:g}..{high:g}")
        allowed = dict(self.ranges).get(name)
        if allowed is not None and value not in allowed:
            raise ExpressionError(f"{self.name}: parameter {name} = {value:g} must lie in {allowed}")


def _exact(value: float) -> sp.Expr:
    """A parameter value as an exact SymPy number (0.5 -> 1/2, 25 -> 25)."""
    return sp.Rational(repr(float(value))) if not float(value).is_integer() else sp.Integer(int(value))


GAUSS = "exp(-(x - {m})**2/(2*{s}**2))/({s}*sqrt(2*pi))"

# Notes "F1" .. "F13" name the surrogate families of docs/surrogates.md section 3.
ENTRIES: tuple[Entry, ...] = (
    Entry("sign", ACTIVATION, "sign(x)", note="binary network, output +-1"),
    Entry("step", ACTIVATION, "Heaviside(x - t)", (("t", 0),), ("heaviside",),
          "spiking network: spike when x > t"),
    Entry("erf", ACTIVATION, "erf(m*x)", (("m", 1),), ("erf_m",), "smooth approximation of sign",
          (("m", POSITIVE),)),
    Entry("tanh", ACTIVATION, "tanh(k*x)", (("k", 1),), ranges=(("k", POSITIVE),)),
    Entry("relu", ACTIVATION, "Max(0, x)"),
    Entry("leaky_relu", ACTIVATION, "Max(x, alpha*x)", (("alpha", 0.01),), note="0 <= alpha < 1",
          ranges=(("alpha", Range(0.0, 1.0, low_closed=True)),)),
    Entry("identity", ACTIVATION, "x", aliases=("linear",)),
    Entry("gelu", ACTIVATION, "x*(1 + erf(x/sqrt(2)))/2", note="x Phi(x), Phi the standard normal CDF"),
    Entry("sin", ACTIVATION, "sin(k*x)", (("k", 1),), note="k: frequency"),
    Entry("cos", ACTIVATION, "cos(k*x)", (("k", 1),), note="k: frequency"),
    Entry("rbf", ACTIVATION, "sqrt(2)*sin(sqrt(2*gamma)*x + pi/4)", (("gamma", 1),),
          note="random Fourier features of the RBF kernel exp(-gamma |x - y|^2) (neural-tangents' "
               "stax.Rbf(gamma)); gamma = 1/2 is sqrt(2) sin(x + pi/4)", ranges=(("gamma", POSITIVE),)),
    Entry("gaussian", SURROGATE, "amp*" + GAUSS.format(m="mu", s="sigma"),
          (("sigma", 1), ("amp", 1), ("mu", 0)), ("erf_surrogate",), "F5", (("sigma", POSITIVE),)),
    Entry("superspike", SURROGATE, "amp/(1 + k*Abs(x))**2", (("k", 25), ("amp", 1)),
          ("fast_sigmoid",), "F1 inverse square", (("k", POSITIVE),)),
    Entry("atan", SURROGATE, "amp*(a/2)/(1 + (pi*a*x/2)**2)", (("a", 2), ("amp", 1)),
          ("arctan", "lorentzian"), "F3 Lorentzian", (("a", POSITIVE),)),
    Entry("logistic", SURROGATE, "k/(4*cosh(k*x/2)**2)", (("k", 4),),
          ("sigmoid",), "F4 logistic derivative", (("k", POSITIVE),)),
    Entry("triangle", SURROGATE, "amp*Max(0, 1 - Abs(x)/w)", (("w", 1), ("amp", 1)),
          note="F8", ranges=(("w", POSITIVE),)),
    Entry("box", SURROGATE, "amp*Heaviside(w - Abs(x))", (("w", 1), ("amp", 1)), ("rect",),
          "F9 rectangle", (("w", POSITIVE),)),
    Entry("laplace", SURROGATE, "amp*exp(-k*Abs(x))", (("k", 1), ("amp", 1)), ("exponential",),
          "F7", (("k", POSITIVE),)),
    Entry("multi_gaussian", SURROGATE,
          "amp*((1 + h)*" + GAUSS.format(m="0", s="sigma") + " - h*" + GAUSS.format(m="sigma", s="(r*sigma)")
          + " - h*" + GAUSS.format(m="(-sigma)", s="(r*sigma)") + ")",
          (("sigma", 0.5), ("h", 0.15), ("r", 6), ("amp", 1)), note="F6 (Yin et al. 2021)",
          ranges=(("sigma", POSITIVE), ("r", POSITIVE), ("h", Range(0.0, low_closed=True)))),
    Entry("straight_through", SURROGATE, "amp + 0*x", (("amp", 1),), ("ste",), "F10 constant"),
)

#: Library defaults: preset name -> (catalog name, parameters).  See docs/surrogates.md section 9.
PRESETS: dict[str, tuple[str, dict[str, float]]] = {
    "snntorch.atan": ("atan", {"a": 2}),
    "snntorch.fast_sigmoid": ("superspike", {"k": 25}),
    "snntorch.sigmoid": ("logistic", {"k": 25}),
    "snntorch.ste": ("straight_through", {}),
    "norse.super": ("superspike", {"k": 100}),
    "norse.triangle": ("triangle", {"amp": 100}),
    "spytorch.superspike": ("superspike", {"k": 100}),
    "stork.superspike": ("superspike", {"k": 20}),
    "spyx.superspike": ("superspike", {"k": 25}),
    "brainpy.inv_square": ("superspike", {"k": 100}),
    "spikingjelly.sigmoid": ("logistic", {"k": 4}),
    "spikingjelly.atan": ("atan", {"a": 2}),
    "spikingjelly.erf": ("gaussian", {"sigma": 0.35355339059327373}),
    "spikingjelly.rect": ("box", {"w": 0.5}),
    "spikingjelly.piecewise_exp": ("laplace", {"k": 1, "amp": 0.5}),
    "sinabs.exponential": ("laplace", {"k": 2, "amp": 2}),
    "sinabs.gaussian": ("gaussian", {"sigma": 0.5}),
    "sinabs.multi_gaussian": ("multi_gaussian", {}),
    "bellec.triangle": ("triangle", {"amp": 0.3}),
    "larq.ste_sign": ("box", {"w": 1}),
    "larq.approx_sign": ("triangle", {"amp": 2}),
}

_BY_NAME = {name: e for e in ENTRIES for name in (e.name, *e.aliases)}
_CATALOG_CALL = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(?:\((.*)\))?\s*$", re.S)


def _keyword_params(text: str) -> dict[str, float] | None:
    """Parse ``k=25, amp=1`` into a dict, or None if ``text`` is not keyword-only numbers."""
    if not text.strip():
        return {}
    try:
        call = ast.parse(f"f({text})", mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(call, ast.Call) or call.args or not call.keywords:
        return None
    params: dict[str, float] = {}
    for kw in call.keywords:
        value = kw.value
        sign = 1.0
        if isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.USub):
            sign, value = -1.0, value.operand
        if not (isinstance(value, ast.Constant) and type(value.value) in (int, float)):
            raise ExpressionError(f"parameter {kw.arg} must be a number, got {ast.unparse(kw.value)!r}")
        if kw.arg is None or kw.arg in params:
            raise ExpressionError(f"parameter {kw.arg or '**'} given more than once in {text!r}")
        params[kw.arg] = sign * float(value.value)
    return params


def resolve(spec: str | Function) -> Function:
    """Turn a spec (catalog name with keyword parameters, preset, or expression) into a Function."""
    if isinstance(spec, Function):
        validate(spec.expr, spec.name)
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise ExpressionError("a function spec must be a non-empty string")
    match = _CATALOG_CALL.match(spec)
    if match:
        name, arg_text = match.group(1), match.group(2)
        params = _keyword_params(arg_text) if arg_text is not None else {}
        if params is not None and (name in _BY_NAME or name in PRESETS):
            return _from_catalog(name, params)
        if params is not None and (arg_text is None or params):
            if name not in ("x", "pi", "E") and not (arg_text is None and "." in name):
                raise UnknownFunctionError(
                    f"unknown function {name!r}; run 'kernelalg catalog' for the names, "
                    "or give an expression in x")
    return Function(spec.strip(), parse(spec))


def _from_catalog(name: str, params: dict[str, float]) -> Function:
    if name in PRESETS:
        base, preset_params = PRESETS[name]
        merged = {**preset_params, **params}
        return Function(name, _BY_NAME[base].expression(merged), tuple(sorted(merged.items())))
    entry = _BY_NAME[name]
    merged = {**dict(entry.defaults), **params}
    label = entry.name + (f"({', '.join(f'{k}={v:g}' for k, v in params.items())})" if params else "")
    return Function(label, entry.expression(params), tuple(sorted(merged.items())))


def entries(kind: str | None = None) -> tuple[Entry, ...]:
    """Catalog entries, optionally of one kind (``"activation"`` or ``"surrogate"``)."""
    return tuple(e for e in ENTRIES if kind is None or e.kind == kind)


def _entry_of(fn: Function) -> tuple[Entry, dict[str, float]]:
    """The catalog entry of a function made from a catalog name or preset, and its parameter values."""
    match = _CATALOG_CALL.match(fn.name)
    base = match.group(1) if match else ""
    base = PRESETS[base][0] if base in PRESETS else base
    if base not in _BY_NAME or not fn.params:
        raise ExpressionError(f"{fn.name} is not a catalog function with parameters")
    return _BY_NAME[base], dict(fn.params)


def parameters(spec: str | Function) -> dict[str, float]:
    """Parameter values of a catalog function or preset (empty for plain expressions)."""
    return dict(resolve(spec).params)


def with_parameter(spec: str | Function, name: str, value: float) -> Function:
    """The catalog function ``spec`` with parameter ``name`` set to ``value``."""
    entry, values = _entry_of(resolve(spec))
    if name not in values:
        raise ExpressionError(f"{entry.name} has no parameter {name}; its parameters are {', '.join(values)}")
    return _from_catalog(entry.name, {**values, name: value})


def parameter_derivative(spec: str | Function, name: str) -> Function:
    """d spec / d name as a function of x (e.g. the derivative of a surrogate in its width)."""
    fn = resolve(spec)
    entry, values = _entry_of(fn)
    return Function(f"d{fn.name}/d{name}", entry.parameter_derivative(values, name))
