"""Generation of self-contained NumPy modules for derived expectations, and their cache.

A generated module imports only numpy and scipy.special.  It has one vectorised function per
map, ``f(a, b, c)`` over broadcastable arrays of a valid covariance, whose docstring carries
the derived formula, its status and route; common subexpressions are shared (SymPy's cse);
expressions are first put in their float64-careful form (:mod:`kernelalg.codegen.rewrite`).
Maps without a closed form call a graded Gauss-Legendre quadrature rule whose helpers are
copied from :mod:`kernelalg.codegen.runtime`.
"""

from __future__ import annotations

import inspect
import sys
import textwrap
from types import ModuleType

import sympy as sp

from kernelalg import __version__, cache
from kernelalg.codegen import runtime
from kernelalg.codegen.printer import source
from kernelalg.codegen.rewrite import Erfc, Erfcx, ExpErfc, careful
from kernelalg.symbolic.expectation.result import Expectation
from kernelalg.symbolic.piecewise import breakpoints_of
from kernelalg.symbolic.special import GaussianMean

SWAPPED = "_swapped"  # suffix of a joint function's map name: the map with a and b exchanged
_x = sp.Symbol("x", real=True)


def _top_means(expr: sp.Expr) -> list[GaussianMean]:
    """The GaussianMeans of expr that are not inside another one's integrand."""
    found: set[GaussianMean] = set()

    def visit(node: sp.Basic) -> None:
        if isinstance(node, GaussianMean):
            found.add(node)
            return
        for arg in node.args:
            visit(arg)

    visit(expr)
    return sorted(found, key=sp.srepr)


def _all_means(expr: sp.Expr) -> list[GaussianMean]:
    """Every GaussianMean in expr, including those nested in integrands, innermost first."""
    found: list[GaussianMean] = []
    for gm in _top_means(expr):
        for inner in _all_means(gm.integrand.expr):
            if inner not in found:
                found.append(inner)
        if gm not in found:
            found.append(gm)
    return found


def _erf_roots(body: sp.Expr, var: sp.Symbol) -> list[sp.Expr]:
    """Where an error function's argument, linear in ``var``, vanishes: the image of a
    breakpoint under a conditional mean that was integrated in closed form."""
    roots = []
    for fn in body.atoms(sp.erf, sp.erfc, Erfc, Erfcx, ExpErfc):
        num = sp.fraction(sp.together(fn.args[-1]))[0]
        poly = sp.Poly(num, var) if num.has(var) and num.is_polynomial(var) else None
        if poly is not None and poly.degree() == 1:
            k1, k0 = poly.all_coeffs()
            roots.append(sp.simplify(-k0 / k1))
    return roots


def _centers(body: sp.Expr, var: sp.Symbol) -> list[sp.Expr]:
    """Points where the integrand in ``var`` changes scale: its breakpoints, 0, the roots of
    error-function arguments, and the images t/k of inner breakpoints t for inner means
    centred at k var."""
    points = [sp.S.Zero, *(t for t in breakpoints_of(body.subs(var, _x))), *_erf_roots(body, var)]
    for inner in _top_means(body):
        slope = sp.diff(inner.mu, var)
        if slope != 0 and not inner.mu.subs(var, 0):
            points += [t / slope for t in breakpoints_of(inner.integrand.expr) if t != 0]
    unique: list[sp.Expr] = []
    for p in points:
        if p not in unique:
            unique.append(p)
    return unique


def _integrand_source(name: str, gm: GaussianMean, names: dict[GaussianMean, str]) -> str:
    (var,) = gm.integrand.variables
    body = gm.integrand.expr
    centers = ", ".join(f"lambda a, b, c: {source(t, names)}" for t in _centers(body, var))
    return (f"def {name}({var}, a, b, c):\n"
            f'    """Integrand g(x) = {sp.sstr(body)}."""\n'
            f"    return {source(body, names)}\n\n\n"
            f"{name}_CENTERS = ({centers},)\n")


_ARRAYS = "    a, b, c = (numpy.asarray(v, dtype=float) for v in (a, b, c))\n"


def _body(exprs: list[sp.Expr], names: dict[GaussianMean, str]) -> tuple[list[str], list[str]]:
    """Assignment lines and result expressions for ``exprs``, common subexpressions shared."""
    means = []
    for expr in exprs:
        means += [gm for gm in _top_means(expr) if gm not in means]
    placeholders = {gm: sp.Symbol(f"mean{i}") for i, gm in enumerate(means)}
    lines = [f"    {sym} = {source(gm, names)}" for gm, sym in placeholders.items()]
    # each expression is reduced on its own (so a map's arithmetic, hence its rounding, is the
    # same alone and in a joint function); identical subexpressions are then shared, also those
    # an earlier expression's reduction named (``known``: its raw form -> its variable)
    shared: dict[sp.Expr, sp.Symbol] = {}
    known: dict[sp.Expr, sp.Symbol] = {}
    raw: dict[sp.Symbol, sp.Expr] = {}
    fresh = sp.numbered_symbols("t")
    results = []
    for expr in exprs:
        replacements, (reduced,) = sp.cse([expr.xreplace(placeholders).xreplace(known)],
                                          symbols=sp.numbered_symbols("_local"), optimizations="basic")
        renamed: dict[sp.Symbol, sp.Symbol] = {}
        for sym, value in replacements:
            value = value.xreplace(renamed)
            if value not in shared:
                shared[value] = next(fresh)
                raw[shared[value]] = value.xreplace(raw)
                known[raw[shared[value]]] = shared[value]
                lines.append(f"    {shared[value]} = {source(value, names)}")
            renamed[sym] = shared[value]
        results.append(reduced.xreplace(renamed))
    calls: dict[sp.Expr, sp.Expr] = {}
    for call in _shared_calls(results):  # innermost first
        sym = next(fresh)
        lines.append(f"    {sym} = {source(call.xreplace(calls), names)}")
        calls[call] = sym
        if call.is_Pow:  # y/sqrt(x) prints as a division: with the root shared it is y/r, the same arithmetic
            calls[sp.Pow(call.base, -sp.S.Half)] = 1 / sym
    return lines, [f"_shaped({source(r.xreplace(calls), names)}, a, b, c)" for r in results]


def _shared_calls(exprs: list[sp.Expr]) -> list[sp.Expr]:
    """Function calls and square roots that occur in more than one expression, innermost first
    (replacing such a subtree by a variable does not change any arithmetic; x**(-1/2) counts as
    the root sqrt(x): it prints as a division y/sqrt(x), which stays y/r with r = sqrt(x))."""
    seen: dict[sp.Expr, int] = {}
    for expr in exprs:
        nodes = set(sp.preorder_traversal(expr))
        for node in {sp.sqrt(n.base) if n.is_Pow and n.exp == -sp.S.Half else n for n in nodes}:
            if isinstance(node, sp.Function) or (node.is_Pow and node.exp == sp.S.Half):
                seen[node] = seen.get(node, 0) + 1
    return sorted((node for node, count in seen.items() if count > 1),
                  key=lambda node: (sp.count_ops(node), sp.default_sort_key(node)))


def _function_source(name: str, e: Expectation, expr: sp.Expr, title: str,
                     names: dict[GaussianMean, str]) -> str:
    """One map as a function; ``expr`` is the careful form of ``e.expr``."""
    lines, (result,) = _body([expr], names)
    doc = textwrap.indent("\n".join([
        f"{title}",
        "",
        f"Formula: {sp.sstr(e.expr)}",
        f"Status:  {e.status}" + ("; infinite where c**2 == a*b" if e.diverges else ""),
        "Route:   " + "; ".join(e.route),
    ]), "    ")
    return (f"def {name}(a, b, c):\n    \"\"\"\n{doc}\n    \"\"\"\n" + _ARRAYS
            + "".join(line + "\n" for line in lines) + f"    return {result}\n")


def _joint_source(keys: tuple[str, ...], prepared: dict[str, sp.Expr], names: dict[GaussianMean, str]) -> str:
    """One function returning several maps at once, sharing their common subexpressions."""
    lines, results = _body([prepared[k] for k in keys], names)
    fname = "_".join(keys)
    return (f"def {fname}(a, b, c):\n"
            f'    """({", ".join(keys)}) at once; see the single-map functions for the formulas."""\n'
            + _ARRAYS + "".join(line + "\n" for line in lines) + f"    return {', '.join(results)}\n")


def module_source(maps: dict[str, Expectation], titles: dict[str, str], header: str,
                  joint: tuple[tuple[str, ...], ...] = ()) -> str:
    """Source text of a module with one function per entry of ``maps`` and one per ``joint``
    tuple of map names (e.g. ``("nngp", "sg")`` gives ``nngp_sg(a, b, c)``); a name with the
    suffix ``_swapped`` is that map with a and b exchanged (the pair (v, u) at (a, b, c))."""
    prepared = {k: careful(e.expr) for k, e in maps.items()}
    prepared.update({k: careful(maps[k.removesuffix(SWAPPED)].swapped().expr)
                     for keys in joint for k in keys if k.endswith(SWAPPED)})
    means: list[GaussianMean] = []
    for expr in prepared.values():
        for gm in _all_means(expr):
            if gm not in means:
                means.append(gm)
    names = {gm: f"_integrand_{i}" for i, gm in enumerate(means)}
    runtime_src = inspect.getsource(runtime).split('import numpy\n', 1)[1].strip()
    parts = [
        f'"""{header}\n\nGenerated by kernelalg {__version__}; do not edit.\n'
        "Every function takes broadcastable float arrays a, b, c of a valid covariance\n"
        '[[a, c], [c, b]] (a, b > 0, c**2 <= a*b) and returns E[f(u) g(v)] elementwise.\n"""',
        "import numpy\nimport scipy.special",
        f"MAPS = {tuple(maps)!r}\nSTATUS = {({k: e.status for k, e in maps.items()})!r}\n"
        f"DIVERGES = {({k: e.diverges for k, e in maps.items()})!r}",
        "# --- numerical helpers (kernelalg.codegen.runtime) ---\n\n" + runtime_src,
    ]
    parts += [_integrand_source(names[gm], gm, names) for gm in means]
    parts += [_function_source(k, e, prepared[k], titles[k], names) for k, e in maps.items()]
    parts += [_joint_source(keys, prepared, names) for keys in joint]
    return "\n\n\n".join(parts) + "\n"


def load(maps: dict[str, Expectation], titles: dict[str, str], header: str,
         joint: tuple[tuple[str, ...], ...] = ()) -> ModuleType:
    """The generated module for ``maps``: its source from the cache (checked) or generated and
    stored, executed from that verified text (never re-read from disk)."""
    digest = cache.key("module", header, repr(joint), *(f"{k}={sp.srepr(e.expr)}" for k, e in maps.items()))
    name = f"kernelalg_generated_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    text = cache.load("modules", digest, ".py")
    path = cache.path_for("modules", digest, ".py")
    if text is None:
        text = module_source(maps, titles, header, joint)
        path = cache.store("modules", digest, ".py", text)
    module = ModuleType(name)
    module.__file__ = str(path) if path is not None else f"<{name}>"
    exec(compile(text, module.__file__, "exec"), module.__dict__)  # our own generated code
    sys.modules[name] = module
    return module
