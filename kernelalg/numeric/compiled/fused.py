"""The closed-form formulas of a generated module compiled into one elementwise pass (Numba).

A generated module evaluates a map's formula with NumPy, ``_formula_<name>(a, b, c)``: one pass
over the block, and one temporary array, per operation (about ten for relu's maps).  Where the
formula of a joint function (those the kernel recursion evaluates on blocks) is plain arithmetic
of a, b, c with numpy.sqrt, numpy.pi and the helpers that have scalar versions in
:mod:`kernelalg.numeric.compiled.loops` (_det2, _det_sum, _angle, _arctan, _near_edge with its
series, _shaped), the same text is compiled as a function of one entry and looped over the block
once (:func:`fused_formulas`; :func:`kernelalg.numeric.compiled.accelerate` substitutes them into
the modules the library loads).  The single maps (evaluated on vectors of variances and on single
covariances) and other formulas keep NumPy.

Each entry gets the same operations in the same order as from NumPy with the library's compiled
helpers, so the values agree bit for bit.  Integer powers x**k are taken as x**float(k), NumPy's
power (the C library's pow), but for x**2, a square in both; the printer writes x**3 as x**2*x, as
a pow in the loop keeps the compiler from vectorising it.  For the same reason an edge series, and
the exact ab - c^2 of _det2 near the edge, are evaluated only at the entries that need them
(:func:`_marked`).

The compiled text is stored in the cache (kind ``fused``) so that Numba caches its machine code
next to it: a formula is compiled on its first call on FUSED_MIN entries or more (1-5 s per
joint function), later processes load it.  Smaller calls keep NumPy: they gain little, and a kernel of a
few hundred points should not wait for a compiler.
"""

from __future__ import annotations

import ast
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from kernelalg import cache

#: Names a fused formula may use besides its arguments and locals: the helpers with scalar
#: versions (bound to them in the compiled text), numpy for NUMPY_NAMES, and the edge series.
HELPERS = {"_det2": "det2_value", "_det_sum": "det_sum_value", "_angle": "angle_value", "_arctan": "_atan",
           "_near_edge": "near_edge_value", "_shaped": "shaped_value"}
#: the helpers' variants in a marked formula (see _marked)
_MARKS = {"_near_edge": "_near_edge_marked", "_det2": "_det2_marked", "_det_sum": "_det_sum_marked"}
_IMPORTS = {**HELPERS, **{marked: marked[1:] for marked in _MARKS.values()}}
NUMPY_NAMES = {"sqrt", "pi"}
SERIES = "_edge_series_"
TABLE = "_table1"
FUSED_MIN = 1 << 14  # entries from which a call runs the compiled pass (a 128 x 128 block)
_NODES = (ast.FunctionDef, ast.arguments, ast.arg, ast.Expr, ast.Constant, ast.Assign, ast.Return, ast.Tuple,
          ast.Name, ast.Load, ast.Store, ast.BinOp, ast.UnaryOp, ast.Call, ast.Attribute, ast.Add, ast.Sub,
          ast.Mult, ast.Div, ast.Pow, ast.USub, ast.UAdd)
_HEADER = '''"""The closed-form formulas of {module}, compiled (kernelalg.numeric.compiled.fused)."""

import numba
import numpy

from kernelalg.numeric.compiled.loops import {imports}
from kernelalg.numeric.compiled.loops import table1_again, table1_row

_scalar = numba.njit(inline="always", error_model="numpy")
'''
_KERNEL = '''
@numba.njit(cache=CACHE, nogil=True, error_model="numpy")
def _kernel{name}(a, b, c, {outs}{tables}):
    """{name} at every entry, by rows (each row's tables first, if the formula reads any): a (n, 1)
    and b (1, m) with c (n, m), or all three (n, m)."""
{buffers}    if a.shape[1] == 1 and b.shape[0] == 1:
        for i in range(c.shape[0]):
            ai = a[i, 0]
{outer}    else:
        for i in range(c.shape[0]):
{general}'''
MARKED = "_marked"  # prefix of a formula's variant with NaN in place of its edge series
ARGUMENTS = "_arguments"  # prefix of the part of a formula with tables that computes their arguments


class _FloatPowers(ast.NodeTransformer):
    """x**k with an integer literal k other than 2 as x**float(k): Numba multiplies out integer
    powers, NumPy calls pow (and squares), as Numba does for a float exponent."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        if (isinstance(node.op, ast.Pow) and isinstance(node.right, ast.Constant) and type(node.right.value) is int
                and node.right.value != 2):
            node.right = ast.Constant(float(node.right.value))
        return node


def _tree(function: Callable) -> ast.FunctionDef | None:
    """The syntax tree of a generated function, or None if its text is not at hand."""
    try:
        return ast.parse(inspect.getsource(function)).body[0]
    except (OSError, TypeError):
        return None


def _compilable(tree: ast.FunctionDef | None, allowed: set[str]) -> bool:
    """Whether ``tree`` reads no global names but ``allowed``, stays within _NODES and NUMPY_NAMES,
    and has no integer beyond int64 (Numba cannot type it; NumPy takes it as a float)."""
    if tree is None:
        return False
    nodes = list(ast.walk(tree))
    local = {arg.arg for arg in tree.args.args}
    local |= {n.id for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    return (all(isinstance(n, _NODES) for n in nodes)
            and all(-2**63 <= n.value < 2**63 for n in nodes if isinstance(n, ast.Constant) and type(n.value) is int)
            and all(isinstance(n.value, ast.Name) and n.value.id == "numpy" and n.attr in NUMPY_NAMES
                    for n in nodes if isinstance(n, ast.Attribute))
            and {n.id for n in nodes if isinstance(n, ast.Name)} - local <= allowed)


@dataclass(frozen=True)
class _Staged:
    """A formula split at its tables: ``arguments(a, b, c)`` returns the tables' arguments, in the
    order of ``tables`` (their names, one per call); ``formula(a, b, c, mean0, ...)`` the rest,
    given the tables' values.  Without tables, arguments is None and formula is the formula."""

    arguments: ast.FunctionDef | None
    formula: ast.FunctionDef
    tables: tuple[str, ...]


def _staged(tree: ast.FunctionDef | None) -> _Staged | None:
    """The formula split at its table calls, each of which must be a statement ``name =
    _table1(_TABLE_k, argument)`` whose argument does not depend on any table's value (None if
    one is not)."""
    if tree is None:
        return None
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == TABLE]
    staged = [s for s in tree.body if isinstance(s, ast.Assign) and isinstance(s.value, ast.Call) and s.value in calls]
    if not calls:
        return _Staged(None, tree, ())
    if len(staged) != len(calls):
        return None
    tainted: set[str] = set()  # names that depend on a table's value
    plain = []
    for statement in tree.body:
        names = {n.id for n in ast.walk(statement.value) if isinstance(n, ast.Name)} if hasattr(statement, "value") else set()
        targets = {n.id for t in getattr(statement, "targets", ()) for n in ast.walk(t) if isinstance(n, ast.Name)}
        if statement in staged:
            call = statement.value
            if (len(statement.targets) != 1 or not isinstance(statement.targets[0], ast.Name) or len(call.args) != 2
                    or call.keywords or not isinstance(call.args[0], ast.Name) or names & tainted):
                return None
            tainted.add(statement.targets[0].id)
        elif names & tainted:
            tainted |= targets
        elif isinstance(statement, ast.Assign):
            plain.append(statement)
    arguments = ast.FunctionDef(ARGUMENTS + tree.name, tree.args,
                                [*plain, ast.Return(ast.Tuple([s.value.args[1] for s in staged], ast.Load()))], [])
    means = [ast.arg(s.targets[0].id) for s in staged]
    formula = ast.FunctionDef(tree.name, ast.arguments([], [*tree.args.args, *means], None, [], [], None, []),
                              [s for s in tree.body if s not in staged], [])
    arguments, formula = (ast.parse(ast.unparse(ast.fix_missing_locations(f))).body[0] for f in (arguments, formula))
    return _Staged(arguments, formula, tuple(s.value.args[0].id for s in staged))


def _fusable(module: ModuleType) -> tuple[dict[str, ast.FunctionDef], dict[str, _Staged]]:
    """The module's edge series and formulas of joint functions that can be compiled, by name (a
    formula only with every series it calls), the formulas split at their tables."""
    single = {f"_formula_{name}" for name in getattr(module, "MAPS", ())}
    trees = {name: _tree(fn) for name, fn in vars(module).items()
             if name.startswith(("_formula_", SERIES)) and name not in single and inspect.isfunction(fn)}
    allowed = {"numpy", *HELPERS}
    series = {name: tree for name, tree in trees.items() if name.startswith(SERIES) and _compilable(tree, allowed)}
    formulas = {}
    for name, tree in trees.items():
        staged = _staged(tree) if name.startswith("_formula_") else None
        if staged is not None and all(_compilable(part, allowed | set(series))
                                      for part in (staged.arguments or staged.formula, staged.formula)):
            formulas[name] = staged
    return series, formulas


def _outputs(tree: ast.FunctionDef) -> int:
    """The number of values the formula returns (a tuple)."""
    (ret,) = [n for n in tree.body if isinstance(n, ast.Return)]
    return len(ret.value.elts)


def _scalar(tree: ast.FunctionDef) -> str:
    return "\n@_scalar\n" + ast.unparse(_FloatPowers().visit(tree)) + "\n"


def fused_source(module: ModuleType) -> tuple[str, dict[str, tuple[int, tuple[str, ...]]]] | None:
    """The compiled text of the module's fusable formulas, and their number of outputs and the
    tables each kernel takes (their names, in order), by name (None when there are none)."""
    series, formulas = _fusable(module)
    if not formulas:
        return None
    imports = ", ".join(f"{value} as {name}" for name, value in _IMPORTS.items())
    parts = [_HEADER.format(module=module.__name__, imports=imports)]
    parts += [_scalar(series[name]) for name in sorted(series)]
    made = {}
    for name, staged in sorted(formulas.items()):
        count, tables = _outputs(staged.formula), tuple(dict.fromkeys(staged.tables))
        parts += [_scalar(staged.formula)] + ([] if staged.arguments is None else [_scalar(staged.arguments)])
        marked = _marked(staged.formula)
        if marked is not None:
            parts.append(_scalar(marked))
        means = "".join(f", mean{k}[j]" for k in range(len(staged.tables)))
        rows = {key: _row_loops(name, count, marked is not None, args + means, _table_rows(name, staged, tables, args))
                for key, args in (("outer", "ai, b[0, j], c[i, j]"), ("general", "a[i, j], b[i, j], c[i, j]"))}
        buffers = ""
        if tables:
            width = [v for k in range(len(staged.tables)) for v in (f"arg{k}", f"mean{k}")]
            buffers = "".join(f"    {v} = numpy.empty(c.shape[1])\n" for v in [*width, "spare_in", "spare_out"])
            buffers += "    spare_index = numpy.empty(c.shape[1], numpy.intp)\n"
        parts.append(_KERNEL.format(name=name, outs=", ".join(f"out{k}" for k in range(count)), buffers=buffers,
                                    tables="".join(f", table{k}" for k in range(len(tables))), **rows))
        made[name] = (count, tables)
    return "".join(parts), made


def _table_rows(name: str, staged: _Staged, tables: tuple[str, ...], args: str) -> str:
    """The lines of a kernel with tables (its parameters table0, ... in the order of ``tables``)
    that compute row i's table values: their arguments in one loop, each table in the compiled
    four-lane loop (a repeated table only where its argument differs from the first call's)."""
    if staged.arguments is None:
        return ""
    count = len(staged.tables)
    targets = ", ".join(f"arg{k}[j]" for k in range(count)) + ","
    lines = [f"            for j in range(c.shape[1]):\n                {targets} = {ARGUMENTS}{name}({args})\n"]
    for k, table in enumerate(staged.tables):
        first, parameter = staged.tables.index(table), f"table{tables.index(table)}"
        if first == k:
            lines.append(f"            table1_row(arg{k}, mean{k}, {parameter})\n")
        else:
            lines.append(f"            table1_again(arg{k}, mean{k}, arg{first}, mean{first}, spare_in, spare_out, "
                         f"spare_index, {parameter})\n")
    return "".join(lines)


def _marked(tree: ast.FunctionDef) -> ast.FunctionDef | None:
    """The formula's variant that calls the helpers' marked variants (_MARKS) in place of
    _near_edge, _det2 and _det_sum (None without any of them): NaN where an edge series is due or
    ab - c^2 needs its products' rounding errors restored, so that the loop over a row has neither
    the series nor that branch in it (both would be evaluated at every entry) and is vectorised;
    the kernel evaluates those entries again with the formula itself.  A marked entry comes out
    NaN in some output: the formulas are arithmetic, which carries a NaN, and so are their helpers
    (_near_edge_marked marks a NaN angle too)."""
    tree = ast.parse(ast.unparse(tree)).body[0]  # a copy
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
             and n.func.id in _MARKS]
    if not calls:
        return None
    for call in calls:
        call.func.id = _MARKS[call.func.id]
    tree.name = MARKED + tree.name
    return tree


def _row_loops(name: str, count: int, marked: bool, args: str, tables: str) -> str:
    """The loops of a kernel over row i: the lines that compute its tables' values, then the
    formula at each entry, or its marked variant and then the formula at the entries whose
    outputs' sum came out NaN (a NaN in any output; or infinities of both signs, where the formula
    gives the same values again)."""
    targets = ", ".join(f"out{k}[i, j]" for k in range(count)) + ","
    loop = "            for j in range(c.shape[1]):\n"
    if not marked:
        return f"{tables}{loop}                {targets} = {name}({args})\n"
    total = " + ".join(f"out{k}[i, j]" for k in range(count))
    return (f"{tables}{loop}                {targets} = {MARKED}{name}({args})\n"
            f"{loop}                total = {total}\n                if total != total:\n"
            f"                    {targets} = {name}({args})\n")


def _blocks(a, b, c) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], tuple[int, ...]]:
    """(a, b, c) as contiguous, writable 2-D float arrays for the kernels (a column and a row
    against a block as they are, else all three broadcast and flattened into one row), and the
    shape of the result.  Writable: Numba types a read-only array (a broadcast view, an array
    marked so) differently, and would compile each kernel again for it (seconds)."""
    a, b, c = (np.asarray(v, dtype=float) for v in (a, b, c))
    shape = np.broadcast_shapes(a.shape, b.shape, c.shape)
    if not (len(shape) == 2 and a.shape == (shape[0], 1) and b.shape == (1, shape[1]) and c.shape == shape):
        a, b, c = (v if v.shape == shape else np.broadcast_to(v, shape) for v in (a, b, c))
        a, b, c = (v.reshape(1, -1) for v in (a, b, c))
    return tuple(np.require(v, requirements=("C", "W")) for v in (a, b, c)), shape


@dataclass(frozen=True)
class Fused:
    """A compiled ``_formula_<name>(a, b, c)``: the tuple of the maps' values over broadcast arrays
    (from ``numpy``, the module's own formula, below FUSED_MIN entries: the same values)."""

    kernel: Callable
    outputs: int
    numpy: Callable
    tables: tuple = ()  # the tables the kernel reads, as loops.table1_row takes them

    def __call__(self, a, b, c) -> tuple[np.ndarray, ...]:
        if np.broadcast(a, b, c).size < FUSED_MIN:
            return self.numpy(a, b, c)
        (a, b, c), shape = _blocks(a, b, c)
        outs = tuple(np.empty(c.shape) for _ in range(self.outputs))
        self.kernel(a, b, c, *outs, *self.tables)
        return tuple(out.reshape(shape) for out in outs)


def fused_formulas(module: ModuleType) -> dict[str, Fused]:
    """Compiled versions of the module's fusable ``_formula_<name>`` functions, by name (compiled
    on first call, or loaded from Numba's cache next to the stored text)."""
    made = fused_source(module)
    if made is None:
        return {}
    text, formulas = made
    digest = cache.key("fused", text)
    stored = cache.load("fused", digest, ".py") is not None
    path = cache.path_for("fused", digest, ".py") if stored else cache.store("fused", digest, ".py", text)
    name = f"kernelalg_fused_{digest}"  # a module in sys.modules: Numba's cached code refers to it by name
    compiled = sys.modules.get(name)
    if compiled is None:
        compiled = ModuleType(name)
        compiled.__file__, compiled.CACHE = str(path) if path else f"<{name}>", path is not None
        exec(compile(text, compiled.__file__, "exec"), compiled.__dict__)  # noqa: S102 (our own generated code)
        sys.modules[name] = compiled
    return {name: Fused(getattr(compiled, f"_kernel{name}"), count, getattr(module, name),
                        tuple(_table_argument(getattr(module, table)) for table in tables))
            for name, (count, tables) in formulas.items()}


def _table_argument(table: tuple) -> tuple:
    """A generated module's table (e_lo, split, coefficients, log, ends) with the types the kernels
    are compiled for."""
    e_lo, split, coef, log, ends = table
    return int(e_lo), int(split), np.ascontiguousarray(coef, dtype=float), bool(log), tuple(float(v) for v in ends)
