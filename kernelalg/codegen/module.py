"""Generation of self-contained NumPy modules for derived expectations, and their cache.

A generated module imports only numpy, scipy.special and the standard library.  It has one vectorised function per
map, ``f(a, b, c)`` over broadcastable arrays of a valid covariance, whose docstring carries
the derived formula, its status and route, and which evaluates the edge c^2 = ab itself (the
formula in ``_formula_<name>``, called by :func:`kernelalg.codegen.runtime._on_edge` with the
module's ``DIVERGES`` flags); common subexpressions are shared (SymPy's cse);
expressions are first put in their float64-careful form (:mod:`kernelalg.codegen.rewrite`).
Gaussian means without a closed form are evaluated from tables (:mod:`kernelalg.codegen.tables`,
built by :mod:`kernelalg.numeric.compiled`) where given, else by a
graded Gauss-Legendre rule; the helpers are copied from :mod:`kernelalg.codegen.runtime` and
:mod:`kernelalg.codegen.tableruntime`.  Each such map carries its status with the measured
error bound (``STATUS``, ``ERROR_BOUNDS``).
"""

from __future__ import annotations

import inspect
import linecache
import sys
import textwrap
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from types import ModuleType

import numpy as np
import sympy as sp

from kernelalg import __version__, cache
from kernelalg.codegen import hermiteruntime, runtime, tableruntime
from kernelalg.codegen.edges import NearEdge, near_edge
from kernelalg.codegen.features import features
from kernelalg.codegen.hermite import mehler_pair
from kernelalg.codegen.printer import Names, source
from kernelalg.codegen.rewrite import Erfc, Erfcx, ExpErfc, fold_constants
from kernelalg.symbolic.expectation.result import Expectation, a, b, c
from kernelalg.symbolic.special import GaussianMean

SWAPPED = "_swapped"  # suffix of a joint function's map name: the map with a and b exchanged
MEHLER = ("Hermite series sum_n rho^n alpha_n(a) beta_n(b) (Mehler's expansion) where its Cauchy-Schwarz tail "
          "bound is met, else graded Gauss-Legendre quadrature")


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


def _erf_features(body: sp.Expr, var: sp.Symbol) -> list[tuple[sp.Expr, sp.Expr]]:
    """(root, width) of every error function whose argument is linear in ``var``: the image of
    a breakpoint under a conditional mean that was integrated in closed form; the width is the
    inverse slope of the argument."""
    found = []
    for fn in body.atoms(sp.erf, sp.erfc, Erfc, Erfcx, ExpErfc):
        arg = fn.args[-1]
        slope = sp.simplify(sp.diff(arg, var))
        if slope != 0 and not slope.has(var):
            found.append((sp.simplify(var - arg / slope), 1 / sp.Abs(slope)))
    return found


def _split_factors(body: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """body = F * H with F the factors free of a, b, c (a function of the variable only)."""
    free, rest = [], []
    for factor in sp.Mul.make_args(body):
        (rest if factor.has(a, b, c) else free).append(factor)
    return sp.Mul(*free), sp.Mul(*rest)


@lru_cache(maxsize=256)
def _features(body: sp.Expr, var: sp.Symbol) -> tuple[list[tuple[sp.Expr, sp.Expr]], sp.Expr]:
    """Feature centers (location, width) and far scale of an integrand in ``var``, as
    expressions in a, b, c: those of its factor free of a, b, c (numeric probe), the roots of
    linear error-function arguments, and the images t/k of the features t of inner means
    centred at k var, widened by the inner standard deviation."""
    own, rest = _split_factors(body)
    probe = features(own, var)
    centers: list[tuple[sp.Expr, sp.Expr]] = [(sp.Float(t, 17), sp.Float(w, 17)) for t, w in probe.centers]
    far = sp.Float(probe.far) if probe.far != float("inf") else sp.oo
    centers += _erf_features(rest, var)
    for inner in _top_means(rest):
        slope = sp.diff(inner.mu, var)
        if slope == 0 or inner.mu.subs(var, 0) != 0:
            continue
        (inner_var,) = inner.integrand.variables
        sub = features(inner.integrand.expr, inner_var)
        spread = sp.sqrt(inner.var)
        centers += [(sp.Float(t, 17) / slope, width / sp.Abs(slope))
                    for t, w in sub.centers for width in sub.image_widths(t, sp.Float(w, 17), spread)]
        if sub.far != float("inf"):
            far = sp.Min(far, (sp.Float(sub.far, 17) + spread) / sp.Abs(slope))
    if not centers:
        centers.append((sp.S.Zero, sp.S.One))
    unique: list[tuple[sp.Expr, sp.Expr]] = []
    for pair in centers:
        if pair not in unique:
            unique.append(pair)
    return unique, far


def _series_source(name: str, edge: NearEdge) -> str:
    """The function of a map's series at an edge (see :mod:`kernelalg.codegen.edges`)."""
    sigma, series = int(edge.args[3]), edge.args[4]
    return (f"def {name}(a, b, t):\n"
            f'    """The map near the edge rho = {sigma:+d}: its series (Horner form) in the angle\n'
            f'    t = acos({"-" if sigma < 0 else ""}rho) to the edge, used where t < {float(edge.args[2])}."""\n'
            f"    return {source(fold_constants(series.expr))}\n")


def _integrand_source(name: str, gm: GaussianMean, names: dict[GaussianMean, str]) -> str:
    (var,) = gm.integrand.variables
    body = gm.integrand.expr
    centers, far = _features(body, var)
    pairs = ", ".join(f"(lambda a, b, c: {source(t, names)}, lambda a, b, c: {source(w, names)})" for t, w in centers)
    return (f"def {name}({var}, a, b, c):\n"
            f'    """Integrand g(x) = {sp.sstr(body)}."""\n'
            f"    return {source(body, names)}\n\n\n"
            f"{name}_FEATURES = (({pairs},), lambda a, b, c: {source(far, names)})\n")




def _body(exprs: list[sp.Expr], names: Names) -> tuple[list[str], list[str]]:
    """Assignment lines and result expressions for ``exprs``, common subexpressions shared
    (also with the arguments of tabulated means, e.g. the conditional variance's ab - c^2)."""
    exprs = [expr.replace(lambda e: isinstance(e, NearEdge),
                          lambda e: NearEdge(*e.args[:4], sp.Symbol(names.series[e.args[4]]))) for expr in exprs]
    means = []
    for expr in exprs:
        means += [gm for gm in _top_means(expr) if gm not in means]
    placeholders = {gm: sp.Symbol(f"mean{i}") for i, gm in enumerate(means)}
    assignments: list[tuple[sp.Symbol, sp.Expr | None, str]] = []  # (symbol, expression, or its text)
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
                assignments.append((shared[value], value, ""))
            renamed[sym] = shared[value]
        results.append(reduced.xreplace(renamed))
    tabulated = [gm for gm in means if gm in names.tables]
    calls: dict[sp.Expr, sp.Expr] = {}
    for call in _shared_calls(results + [gm.var for gm in tabulated]):  # innermost first
        sym = next(fresh)
        assignments.append((sym, call.xreplace(calls), ""))
        calls[call] = sym
        if call.is_Pow:  # y/sqrt(x) prints as a division: with the root shared it is y/r, the same arithmetic
            calls[sp.Pow(call.base, -sp.S.Half)] = 1 / sym
    for gm, sym in placeholders.items():
        if gm in names.tables:
            table, spec = names.tables[gm]
            var = gm.var.xreplace(calls)
            assignments.append((sym, var, spec.call(table, source(gm.mu, names), source(var, names), None)))
        else:
            assignments.append((sym, None, source(gm, names)))
    lines = [f"    {sym} = {text or source(value, names)}" for sym, value, text in _in_order(assignments)]
    return lines, [f"_shaped({source(r.xreplace(calls), names)}, a, b, c)" for r in results]


def _in_order(assignments: list) -> list:
    """The assignments ordered so that each comes after those whose symbols it uses (stable)."""
    defined = {sym for sym, _, _ in assignments}
    done: set = set()
    ordered: list = []
    pending = list(assignments)
    while pending:
        for item in pending:
            sym, value, _ = item
            needs = (value.free_symbols if value is not None else set()) & defined
            if needs <= done:
                ordered.append(item)
                done.add(sym)
                pending.remove(item)
                break
    return ordered


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


def _formula_source(name: str, results: list[str], lines: list[str]) -> str:
    """The function ``_formula_<name>`` returning the maps' values as a tuple (float arrays of
    a covariance; no edge handling)."""
    tail = ", ".join(results) + ("," if len(results) == 1 else "")
    return (f"def _formula_{name}(a, b, c):\n"
            '    """The formulas as written, on float arrays (the edge: see _on_edge)."""\n'
            + "".join(line + "\n" for line in lines) + f"    return {tail}\n")


def _public_source(name: str, keys: tuple[str, ...], doc: str) -> str:
    """The function ``<name>`` of the maps ``keys``: their formula with the edge handling of
    :func:`kernelalg.codegen.runtime._on_edge`, flagged by the module's DIVERGES."""
    flags = ", ".join(f"DIVERGES[{k.removesuffix(SWAPPED)!r}]" for k in keys) + ("," if len(keys) == 1 else "")
    call = f"_on_edge(_formula_{name}, ({flags}), a, b, c)"
    return (f"def {name}(a, b, c):\n{doc}\n"
            + f"    return {call}{'[0]' if len(keys) == 1 else ''}\n")


def _function_source(name: str, e: Expectation, expr: sp.Expr, title: str,
                     names: dict[GaussianMean, str], status: str, evaluation: list[str]) -> str:
    """One map as a function; ``expr`` is the careful form of ``e.expr``."""
    lines, results = _body([expr], names)
    doc = textwrap.indent("\n".join([
        f"{title}",
        "",
        f"Formula: {sp.sstr(e.expr)}",
        f"Status:  {status}" + ("; infinite where c**2 == a*b" if e.diverges else ""),
        "Route:   " + "; ".join(e.route),
        *(f"Means:   {line}" for line in evaluation),
    ]), "    ")
    return _formula_source(name, results, lines) + "\n\n" + _public_source(name, (name,), f'    """\n{doc}\n    """')


def _joint_source(keys: tuple[str, ...], prepared: dict[str, sp.Expr], names: dict[GaussianMean, str]) -> str:
    """One function returning several maps at once, sharing their common subexpressions."""
    lines, results = _body([prepared[k] for k in keys], names)
    fname = "_".join(keys)
    doc = f'    """({", ".join(keys)}) at once; see the single-map functions for the formulas."""'
    return _formula_source(fname, results, lines) + "\n\n" + _public_source(fname, keys, doc)


def _needed_means(prepared: dict[str, sp.Expr], tables: dict) -> list[GaussianMean]:
    """The means evaluated by quadrature (all but the tabulated ones), innermost first."""
    found: list[GaussianMean] = []

    def visit(expr: sp.Expr) -> None:
        for gm in _top_means(expr):
            if gm in tables:
                continue
            visit(gm.integrand.expr)
            if gm not in found:
                found.append(gm)

    for expr in prepared.values():
        visit(expr)
    return found


def _how(gm: GaussianMean, tables: dict, hermite: dict) -> str:
    if gm in tables:
        return tables[gm].description
    if gm in hermite:
        return MEHLER
    return "graded Gauss-Legendre quadrature"


def _evaluation(expr: sp.Expr, tables: dict, hermite: dict) -> list[str]:
    """How the map's top-level means are evaluated, for its docstring."""
    lines = []
    for gm in _top_means(expr):
        how = _how(gm, tables, hermite)
        lines.append(f"E[{sp.sstr(gm.integrand.expr)}] over N({sp.sstr(gm.mu)}, {sp.sstr(gm.var)}): {how}")
    return lines


def compiled_status(e: Expectation, tables: dict, expr: sp.Expr, bound, hermite: dict | None = None) -> str:
    """The status of a map with how its means are evaluated and its measured error bound
    (``bound.text()``; None before it is measured)."""
    if e.closed_form:
        return e.status
    means = _top_means(expr)
    tabulated = [gm in tables for gm in means]
    how = "tabulated" if all(tabulated) else "partly tabulated" if any(tabulated) else "graded Gauss-Legendre"
    if means and all(gm in (hermite or {}) for gm in means):
        how = "Hermite series (graded Gauss-Legendre where it converges too slowly)"
    return f"{e.status}, {how}" + ("" if bound is None else f", {bound.text()}")


def hermite_means(prepared: dict[str, sp.Expr], tables: dict) -> dict:
    """The top-level nested means summed by Mehler's expansion, with their helper names and pairs
    (:mod:`kernelalg.codegen.hermite`); equal pairs share one helper."""
    found: dict = {}
    labels: dict = {}
    for expr in prepared.values():
        for gm in _top_means(expr):
            if gm in tables or gm in found:
                continue
            pair = mehler_pair(gm)
            if pair is not None:
                key = (pair.f, pair.g)
                labels.setdefault(key, f"_HERMITE_{len(labels)}")
                found[gm] = (labels[key], pair)
    return found


def _literal(bounds: dict[str, float | None]) -> str:
    """Python text of a dict of floats (or None) that also reads back inf and nan."""
    def number(v: float | None) -> str:
        return repr(v) if v is None or np.isfinite(v) else f'float("{v}")'
    return "{" + ", ".join(f"{k!r}: {number(v)}" for k, v in bounds.items()) + "}"


def prepared_forms(maps: dict[str, Expectation], joint: tuple[tuple[str, ...], ...] = ()) -> dict[str, sp.Expr]:
    """The float64-careful form of every map, and of every swapped map a joint function names
    (suffix ``_swapped``: the map with a and b exchanged, the pair (v, u) at (a, b, c))."""
    prepared = {k: near_edge(e.expr) for k, e in maps.items()}
    prepared.update({k: near_edge(maps[k.removesuffix(SWAPPED)].swapped().expr)
                     for keys in joint for k in keys if k.endswith(SWAPPED)})
    return prepared


def module_source(maps: dict[str, Expectation], titles: dict[str, str], header: str,
                  joint: tuple[tuple[str, ...], ...] = (), tables: dict | None = None,
                  bounds: dict | None = None) -> str:
    """Source text of a module with one function per entry of ``maps`` and one per ``joint``
    tuple of map names (e.g. ``("nngp", "sg")`` gives ``nngp_sg(a, b, c)``; see
    :func:`prepared_forms` for swapped maps).

    ``tables`` maps Gaussian means of the careful forms of the expressions to their tables (means
    with the same integrand share one table); ``bounds`` holds the measured error bound (with a
    ``value`` and a ``text()``) of each map without a closed form."""
    tables, bounds = tables or {}, bounds or {}
    prepared = prepared_forms(maps, joint)
    means = _needed_means(prepared, tables)
    names = {gm: f"_integrand_{i}" for i, gm in enumerate(means)}
    labels: dict[sp.Lambda, str] = {}
    for gm in tables:
        labels.setdefault(gm.integrand, f"_TABLE_{len(labels)}")
    table_names = {gm: (labels[gm.integrand], spec) for gm, spec in tables.items()}
    series: dict[sp.Lambda, str] = {}
    near_edges: list[NearEdge] = []
    for expr in prepared.values():
        for edge in sorted(expr.atoms(NearEdge), key=sp.default_sort_key):
            if edge.args[4] not in series:
                series[edge.args[4]] = f"_edge_series_{len(series)}"
                near_edges.append(edge)
    hermite = hermite_means(prepared, tables)
    printing = Names(names, table_names, series, hermite)
    status = {k: compiled_status(e, tables, prepared[k], bounds.get(k), hermite) for k, e in maps.items()}
    runtime_src = inspect.getsource(runtime).split('import numpy\n', 1)[1].strip()
    parts = [
        f'"""{header}\n\nGenerated by kernelalg {__version__}; do not edit.\n'
        "Every function takes broadcastable float arrays a, b, c of a valid covariance\n"
        "[[a, c], [c, b]] (a, b > 0, c**2 <= a*b) and returns E[f(u) g(v)] elementwise.\n"
        "On the edge c**2 = a*b a value is the formula's own where finite, else its limit\n"
        "from inside (+inf where a map flagged in DIVERGES grows without bound); see _on_edge.\n"
        "The formulas are evaluated in float64, whose products such as a*b under- or overflow\n"
        "for variances outside about 2**-100 .. 2**100: there the values may be inaccurate,\n"
        "infinite or NaN (the kernelalg library evaluates closed forms there in mpmath).\n"
        'Inputs are not validated (the library does that).\n"""',
        "".join(f"import {name}\n" for name, used in (("base64", tables), ("threading", hermite)) if used)
        + ("\n" if tables or hermite else "") + "import numpy\nimport scipy.special",
        f"MAPS = {tuple(maps)!r}\nSTATUS = {status!r}\n"
        f"ERROR_BOUNDS = {_literal({k: bounds[k].value if k in bounds else None for k in maps})}\n"
        f"DIVERGES = {({k: e.diverges for k, e in maps.items()})!r}",
        "# --- numerical helpers (kernelalg.codegen.runtime) ---\n\n" + runtime_src,
    ]
    if tables:
        table_src = inspect.getsource(tableruntime).split(tableruntime.COPIED_FROM, 1)[1].strip()
        parts.append("# --- tables (kernelalg.codegen.tableruntime) ---\n\n" + table_src)
        specs = {name: spec for name, spec in table_names.values()}
        parts += [spec.source(name) for name, spec in specs.items()]
    if hermite:
        hermite_src = inspect.getsource(hermiteruntime).split(hermiteruntime.COPIED_FROM, 1)[1].strip()
        parts.append("# --- Mehler's expansion (kernelalg.codegen.hermiteruntime) ---\n\n" + hermite_src)
        pairs = {name: pair for name, pair in hermite.values()}
        parts += [pair.source(name) for name, pair in pairs.items()]
    parts += [_integrand_source(names[gm], gm, printing) for gm in means]
    parts += [_series_source(series[edge.args[4]], edge) for edge in near_edges]
    parts += [_function_source(k, e, prepared[k], titles[k], printing, status[k],
                               _evaluation(prepared[k], tables, hermite)) for k, e in maps.items()]
    parts += [_joint_source(keys, prepared, printing) for keys in joint]
    return "\n\n\n".join(parts) + "\n"


def module_key(maps: dict[str, Expectation], header: str, joint: tuple[tuple[str, ...], ...] = (),
               builder: str = "plain") -> str:
    """Cache key of the generated module of ``maps`` made by ``builder`` ("plain": every mean by
    the rule; or a name for what a builder adds, e.g. tables).  The code fingerprint in every key
    covers the generator, the helpers copied into modules and the table builder."""
    return cache.key("module", builder, header, repr(joint), *(f"{k}={sp.srepr(e.expr)}" for k, e in maps.items()))


def cached_text(digest: str, make_source: Callable[[], str]) -> tuple[str, Path | None]:
    """The text of the generated module keyed by ``digest`` and its cache path: from the cache
    (checked) or made by ``make_source()`` and stored (path None if the cache cannot be used)."""
    text = cache.load("modules", digest, ".py")
    if text is not None:
        return text, cache.path_for("modules", digest, ".py")
    text = make_source()
    return text, cache.store("modules", digest, ".py", text)


def plain_module(maps: dict[str, Expectation], titles: dict[str, str], header: str,
                 joint: tuple[tuple[str, ...], ...] = ()) -> ModuleType:
    """The generated module of ``maps`` without tables (every mean by the graded rule)."""
    return load(module_key(maps, header, joint), lambda: module_source(maps, titles, header, joint))


def load(digest: str, make_source: Callable[[], str]) -> ModuleType:
    """The generated module keyed by ``digest``, executed from its checked text (never re-read
    from disk: tracebacks and ``inspect`` read that text too, registered with linecache); see
    :func:`cached_text`."""
    name = f"kernelalg_generated_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    text, path = cached_text(digest, make_source)
    module = ModuleType(name)
    module.__file__ = str(path) if path is not None else f"<{name}>"
    linecache.cache[module.__file__] = (len(text), None, text.splitlines(True), module.__file__)
    exec(compile(text, module.__file__, "exec"), module.__dict__)  # our own generated code
    sys.modules[name] = module
    return module
