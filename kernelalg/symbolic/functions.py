"""One-variable functions: safe parsing of SymPy expressions in ``x`` and the Function type.

A user expression is parsed by Python's ``ast`` module and the tree is translated node by
node into SymPy objects from the whitelist :data:`ALLOWED`.  Nothing is ever passed to
``eval``: attribute access, subscripts, lambdas, imports and unknown names are rejected.

Size limits keep derivations finite (every function, parsed or given as a SymPy expression, is
checked): at most :data:`MAX_NODES` nodes and :data:`MAX_DEPTH` levels of nesting, numeric
exponents up to :data:`MAX_EXPONENT` in magnitude, and numbers of magnitude 0 or within
:data:`NUMBER_RANGE` (beyond it the float64 code of the layer maps over- or underflows).
Anything that still takes too long is stopped by the derivation's time budget
(:mod:`kernelalg.symbolic.worker`).
"""

from __future__ import annotations

import ast
import operator
from dataclasses import dataclass, field

import sympy as sp

from kernelalg.errors import ExpressionError

x = sp.Symbol("x", real=True)

#: Functions and constants a user expression may use.
ALLOWED: dict[str, object] = {
    "x": x,
    "pi": sp.pi, "E": sp.E,
    "sign": sp.sign, "Heaviside": sp.Heaviside, "DiracDelta": sp.DiracDelta,
    "Abs": sp.Abs, "abs": sp.Abs, "Max": sp.Max, "Min": sp.Min, "max": sp.Max, "min": sp.Min,
    "Piecewise": sp.Piecewise,
    "exp": sp.exp, "log": sp.log, "sqrt": sp.sqrt,
    "erf": sp.erf, "erfc": sp.erfc,
    "tanh": sp.tanh, "sinh": sp.sinh, "cosh": sp.cosh, "sech": sp.sech,
    "sin": sp.sin, "cos": sp.cos, "atan": sp.atan, "arctan": sp.atan,
}

_MAX_LENGTH = 2000
MAX_NODES = 500
MAX_DEPTH = 24
MAX_EXPONENT = 64
NUMBER_RANGE = (1e-12, 1e12)
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.Pow: operator.pow}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_COMPARE = {ast.Lt: sp.Lt, ast.LtE: sp.Le, ast.Gt: sp.Gt, ast.GtE: sp.Ge}
_BOOL = {ast.And: sp.And, ast.Or: sp.Or}


def _build(node: ast.AST, text: str, names: dict[str, object]) -> object:
    """Translate one whitelisted AST node into a SymPy object (names: the allowed namespace)."""
    if isinstance(node, ast.Expression):
        return _build(node.body, text, names)
    if isinstance(node, ast.Constant) and type(node.value) is bool:
        return sp.true if node.value else sp.false
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return sp.Rational(repr(node.value)) if isinstance(node.value, float) else sp.Integer(node.value)
    if isinstance(node, ast.Name):
        if node.id not in names:
            raise ExpressionError(f"unknown name {node.id!r} in {text!r} (the variable is x)")
        return names[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _build(node.left, text, names), _build(node.right, text, names)
        if isinstance(node.op, ast.Pow):
            _check_exponent(right, text)
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_build(node.operand, text, names))
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
        return _COMPARE[type(node.ops[0])](_build(node.left, text, names), _build(node.comparators[0], text, names))
    if isinstance(node, ast.BoolOp) and type(node.op) in _BOOL:
        return _BOOL[type(node.op)](*(_build(v, text, names) for v in node.values))
    if isinstance(node, ast.Tuple):
        return tuple(_build(e, text, names) for e in node.elts)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        func = _build(node.func, text, names)
        if not callable(func):
            raise ExpressionError(f"{node.func.id!r} is not a function in {text!r}")
        return func(*(_build(arg, text, names) for arg in node.args))
    raise ExpressionError(f"unsupported syntax ({type(node).__name__}) in {text!r}")


def _check_exponent(exponent: object, text: str) -> None:
    """Numeric exponents beyond MAX_EXPONENT are refused before SymPy expands them."""
    if isinstance(exponent, sp.Number) and abs(exponent) > MAX_EXPONENT:
        raise ExpressionError(f"exponent {_short(exponent)} in {text!r} exceeds the limit of {MAX_EXPONENT}")


def _short(number: sp.Number) -> str:
    return sp.sstr(sp.Float(number, 3)) if len(str(number)) > 12 else str(number)


def parse(text: str, params: dict[str, sp.Expr] | None = None, free: tuple[sp.Symbol, ...] = ()) -> sp.Expr:
    """Parse ``text`` into a real SymPy expression in ``x`` (whitelisted AST, no eval).

    ``params`` maps extra names (catalog parameters) to the values substituted for them;
    ``free``: symbols besides x the result may contain (a parameter kept symbolic).
    """
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("empty expression")
    if len(text) > _MAX_LENGTH:
        raise ExpressionError(f"expression longer than {_MAX_LENGTH} characters")
    shown = text if len(text) <= 80 else text[:60] + f"...({len(text)} characters)"
    try:
        tree = ast.parse(text.strip().replace("^", "**"), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"cannot parse expression {shown!r}: {exc.msg}") from None
    except (RecursionError, MemoryError):
        raise ExpressionError(f"expression {shown!r} is nested too deeply") from None
    try:
        expr = _build(tree, shown, {**ALLOWED, **(params or {})})
    except ExpressionError:
        raise
    except RecursionError:
        raise ExpressionError(f"expression {shown!r} is nested too deeply") from None
    except (TypeError, ValueError, ZeroDivisionError, OverflowError, sp.SympifyError) as exc:
        raise ExpressionError(f"cannot build expression {shown!r}: {exc}") from None
    return validate(expr, shown, free)


def validate(expr: object, text: str = "", free: tuple[sp.Symbol, ...] = ()) -> sp.Expr:
    """Check that ``expr`` is a real-valued SymPy expression whose only free symbols are x and ``free``."""
    label = text or str(expr)
    label = label if len(label) <= 80 else label[:60] + "..."
    _require_scalar(expr, label)
    extra = expr.free_symbols - {x, *free}
    if extra:
        names = ", ".join(sorted(str(s) for s in extra))
        raise ExpressionError(f"expression {label!r} has free symbols other than x: {names}")
    if expr.has(sp.I) or expr.has(sp.zoo) or expr.has(sp.nan):
        raise ExpressionError(f"expression {label!r} is not real-valued")
    _check_size(expr, label)
    return expr


def _require_scalar(expr: object, label: str) -> None:
    """A scalar SymPy expression (a matrix is an Expr in SymPy, but not a function of x)."""
    if not isinstance(expr, sp.Expr) or expr.is_Matrix:
        raise ExpressionError(f"{label!r} is not an expression")


def _check_size(expr: sp.Expr, label: str) -> None:
    """The size limits of the module docstring."""
    nodes, stack = 0, [(expr, 1)]
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES or depth > MAX_DEPTH:
            what = f"more than {MAX_NODES} nodes" if nodes > MAX_NODES else f"nesting deeper than {MAX_DEPTH} levels"
            raise ExpressionError(f"expression {label!r} is too large ({what})")
        if node.is_Pow:
            _check_exponent(node.exp, label)
        if node.is_Number and node != 0 and not NUMBER_RANGE[0] <= abs(node) <= NUMBER_RANGE[1]:
            raise ExpressionError(f"the number {_short(node)} in {label!r} is outside the supported magnitudes "
                                  f"{NUMBER_RANGE[0]:g}..{NUMBER_RANGE[1]:g}")
        stack.extend((arg, depth + 1) for arg in node.args)


@dataclass(frozen=True)
class Function:
    """A named one-variable function ``expr(x)``: an activation or a surrogate derivative."""

    name: str
    expr: sp.Expr
    params: tuple[tuple[str, float], ...] = field(default=())

    def __post_init__(self) -> None:
        _require_scalar(self.expr, self.name)  # so that a Function can be hashed and keyed; validate() does the rest

    def __str__(self) -> str:
        return self.name

    @property
    def key(self) -> str:
        """Canonical text of the expression, used to key caches."""
        return sp.srepr(self.expr)
