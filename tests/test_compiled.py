"""Compiled maps without a closed form: tables, their measured bounds, standalone modules, and
deep kernels of fallback pairs against the independent layer-by-layer mpmath recursion.

With a cold cache each pair's table is built once (about 10 s); CI uses sign with
snntorch.fast_sigmoid (superspike(k=25), also used by other tests); the other pairs run with
``--runslow``.
"""

from __future__ import annotations

import ast
from functools import cache
from types import FunctionType, ModuleType

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernelalg.codegen import runtime, tableruntime
from kernelalg.numeric import layermaps
from kernelalg.numeric.compiled import TARGET, accelerate, fused
from kernelalg.numeric.compiled.fused import Fused
from kernelalg.numeric.kernels import Kernel
from kernelalg.numeric.layermaps import generate_source, layer_maps
from tests.witness import functions as F
from tests.witness.deep import deep_kernels, witness_maps
from tests.witness.gaussian import expectation

JUMP_PAIRS = {"snntorch.fast_sigmoid": F.superspike(25.0), "norse.super": F.superspike(100.0),
              "snntorch.sigmoid": F.logistic(25.0)}
PSIS = ["snntorch.fast_sigmoid", *(pytest.param(p, marks=pytest.mark.slow) for p in ("norse.super", "snntorch.sigmoid"))]
# hard corners: tiny and huge variances, unequal ones, |rho| up to 1 - 1e-9 (V = (ab - c^2)/a
# from 1e-13 to 1e4)
CORNERS = [(1.0, 1.0, 0.3), (1e-4, 1e-4, -0.7), (1e4, 1e4, 1 - 1e-9), (1e-4, 1e4, -(1 - 1e-9)),
           (1e4, 1e-4, 0.95), (2.0, 0.5, 0.0)]
X = np.array([[1.0, 0.0], [0.3, -2.0], [-0.5, 0.4]])  # unequal norms: I(x, y) != I(y, x)
Y = np.array([[0.8, 0.6], [2.0, 1.0]])
SW, SB = 1.3, 0.2


@pytest.mark.parametrize("psi", PSIS)
def test_jump_sg_is_tabulated_to_its_stated_bound(psi):
    """sg = closed prefactor x tabulated 1-D mean: status names the table and its measured bound,
    and the values match the conditioning witness (mpmath) at the hard corners."""
    maps = layer_maps("sign", psi)
    status, bound = maps.status("sg"), maps.error_bound("sg")
    assert status.startswith("reduced integral, tabulated, max rel. error") and "vs mpmath" in status
    assert bound is not None and bound <= TARGET
    _, dsign = F.sign()
    for a, b, rho in CORNERS:
        c = rho * (a * b) ** 0.5
        want = float(expectation(dsign, JUMP_PAIRS[psi], a, b, c))
        assert float(maps.sg(a, b, c)) == pytest.approx(want, rel=max(bound, 1e-13) * 10)


def test_standalone_module_needs_no_kernelalg_and_matches_the_library():
    text = generate_source("sign", "snntorch.fast_sigmoid")
    assert "kernelalg." not in "".join(line for line in text.splitlines() if "import" in line)
    namespace: dict = {}
    exec(compile(text, "<standalone>", "exec"), namespace)  # noqa: S102
    assert "tabulated, max rel. error" in namespace["STATUS"]["sg"]
    assert namespace["ERROR_BOUNDS"]["sg"] <= TARGET and namespace["ERROR_BOUNDS"]["nngp"] is None
    assert "tabulated" in namespace["sg"].__doc__
    maps = layer_maps("sign", "snntorch.fast_sigmoid")
    a, b = np.array([1.0, 1e-4, 1e4, 3.0]), np.array([2.0, 1e4, 1e-4, 3.0])
    c = np.array([0.5, -0.999999, 0.3, 1.0]) * np.sqrt(a * b)
    # the library evaluates the same table by a compiled loop (when Numba is present): a few ulps
    np.testing.assert_allclose(namespace["sg"](a, b, c), maps.sg(a, b, c), rtol=1e-14)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1080.0, 1030.0), min_size=1, max_size=20))
def test_numpy_and_compiled_table_helpers_agree(log2v):
    """The NumPy helper of generated modules and the compiled one agree bit for bit over the whole
    range of floats (the same operations in the same order; the compiled loop reads frexp's
    mantissa and exponent off the bits of normal numbers): the power-law ends, 0, subnormal
    numbers, infinity and NaN."""
    table = layer_maps("sign", "snntorch.fast_sigmoid").module._TABLE_0
    with np.errstate(over="ignore"):
        v = np.concatenate([np.exp2(log2v), [0.0, -0.0, 1e-310, 5e-324, np.inf, np.nan]])
    want = tableruntime._table1(table, v)
    assert np.all(np.isfinite(want[:-1])) and np.all(want[:-1] >= 0) and np.isnan(want[-1])
    loops = pytest.importorskip("kernelalg.numeric.compiled.loops")  # needs numba
    assert np.array_equal(loops.table1(table, v), want, equal_nan=True)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-300.0, 300.0), min_size=3, max_size=30), st.floats(-1.0, 1.0), st.floats(-17.0, -1.0))
def test_numpy_and_compiled_closed_form_helpers_agree(log10v, rho, log10gap):
    """The compiled elementwise helpers that replace the NumPy ones of generated modules: ab - c^2
    (also within a few ulps of the edge) and its product form bit for bit, the angles within an
    ulp, on huge, tiny, signed-zero and infinite arguments too."""
    loops = pytest.importorskip("kernelalg.numeric.compiled.loops")  # needs numba
    v = 10.0 ** np.array(log10v)
    a, b = v[:, None], v[None, :]
    near = np.copysign(1 - 10.0**log10gap, rho)
    with np.errstate(all="ignore"):
        for r in (rho, near, 1.0, -1.0):
            c = r * np.sqrt(a) * np.sqrt(b)
            assert np.array_equal(loops.det2(a, b, c), runtime._det2(a, b, c), equal_nan=True)
            assert np.array_equal(loops.det_product(a, b, 3.0, 4.0, c), runtime._det_product(a, b, 3.0, 4.0, c),
                                  equal_nan=True)
        x = np.concatenate([np.array(log10v) * rho, v, -v, [0.0, -0.0, np.inf, -np.inf, 5e-324]])
        for got, want in ((loops.arctan(x), runtime._arctan(x)), (loops.angle(v, x[:v.size]), runtime._angle(v, x[:v.size])),
                          (loops.angle(np.abs(x), -x), runtime._angle(np.abs(x), -x))):
            number = ~np.isnan(want)
            assert np.array_equal(np.isnan(got), ~number) and np.array_equal(np.signbit(got[number]), np.signbit(want[number]))
            assert np.all(np.abs(got[number] - want[number]) <= np.spacing(np.abs(want[number])))


def test_cached_module_is_not_recompiled(monkeypatch):
    """A cached module (with its tables and bounds) is loaded, not rebuilt or re-certified."""
    layer_maps("sign", "snntorch.fast_sigmoid")
    layermaps._compiled.cache_clear()

    def fail(*args):
        raise AssertionError("recompiled a cached module")

    monkeypatch.setattr(layermaps, "module_text", fail)
    assert layer_maps("sign", "snntorch.fast_sigmoid").error_bound("sg") <= TARGET


@pytest.mark.parametrize("psi", PSIS)
@pytest.mark.parametrize("depth", [2, pytest.param(3, marks=pytest.mark.slow)])
def test_deep_kernels_of_fallback_pairs_against_the_mpmath_recursion(psi, depth):
    kernel = Kernel("sign", psi, depth=depth, sigma_w=SW, sigma_b=SB)
    S, I = deep_kernels(witness_maps(F.sign(), JUMP_PAIRS[psi]), X, Y, depth, SW, SB)
    got = kernel(X, Y, outputs=("nngp", "sgntk"))
    assert np.max(np.abs(got.nngp - S) / np.abs(S)) < 1e-10
    assert np.max(np.abs(got.sgntk - I) / np.abs(I)) < 1e-10


#: Pairs whose formulas the library compiles into one pass (kernelalg.numeric.compiled.fused): closed
#: forms, and sign with fast_sigmoid, whose sg reads a table.
FUSED = [("relu", None), ("sign", "gaussian"), ("erf", None), ("sign", "snntorch.fast_sigmoid")]


@cache
def _numpy_module(phi: str, psi: str | None) -> ModuleType:
    """The pair's generated module with the library's compiled helpers but its formulas in NumPy
    (its text is not registered with linecache, so accelerate finds no formula to compile)."""
    module = ModuleType("numpy_formulas")
    exec(compile(generate_source(phi, psi), "<numpy formulas>", "exec"), module.__dict__)  # noqa: S102
    return accelerate(module)


@pytest.mark.parametrize("phi,psi", FUSED)
@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-8.0, 8.0), min_size=1, max_size=5), st.lists(st.floats(-1.0, 1.0), min_size=1, max_size=8),
       st.floats(-17.0, -1.0))
def test_fused_formulas_equal_the_numpy_formulas_bit_for_bit(phi, psi, log10v, rho, log10gap):
    """The joint functions' formulas are compiled, and give NumPy's values bit for bit, on a block (column of variances
    against a row) and on broadcast, flat and scalar arguments: at interior, near-edge (1 - |rho|
    down to 1e-17, where _det2 restores the products' errors and relu's series takes over) and
    edge covariances, at variances 1e-8 .. 1e8, also equal ones (where a formula with tables takes
    sg with a and b exchanged from sg)."""
    numpy_formulas = _numpy_module(phi, psi)
    library = layer_maps(phi, psi).module
    names = [name for name, value in vars(library).items() if isinstance(value, Fused)]
    assert set(names) == {"_formula_nngp_sg", "_formula_nngp_sg_ntk", "_formula_nngp_sg_sg_swapped"}
    a = 10.0 ** np.array(log10v)[:, None]
    r = np.concatenate([rho, np.copysign(1 - 10.0**log10gap, rho), [1.0, -1.0, 0.0]])
    b = np.resize(np.concatenate([a[::-1].T * 3.0, a.T], axis=1), (1, r.size))
    c = r * np.sqrt(a) * np.sqrt(b)
    A, B, C = np.broadcast_arrays(a, b, c)
    with pytest.MonkeyPatch.context() as patch, np.errstate(all="ignore"):
        patch.setattr(fused, "FUSED_MIN", 0)  # every call compiled, however small
        for name in names:
            assert isinstance(getattr(numpy_formulas, name), FunctionType)
            for args in ((a, b, c), (A, B, C), (A.ravel(), B.ravel(), C.ravel()), (a[0, 0], b[0, 0], c[0, 0])):
                got, want = getattr(library, name)(*args), getattr(numpy_formulas, name)(*args)
                assert len(got) == len(want)
                for g, w in zip(got, want):
                    assert g.shape == np.shape(w) and np.array_equal(g, w, equal_nan=True), (name, args)
            assert len(getattr(library, name).kernel.signatures) == 1  # read-only views compiled no other kernel


def test_formulas_split_at_their_tables():
    """A formula whose tables are statements of their own is split into the tables' arguments and
    the rest; a table inside an expression, or one whose argument needs another table's value,
    keeps the formula in NumPy."""
    split = fused._staged(ast.parse("def f(a, b, c):\n    t = a*b - c\n    m0 = _table1(_TABLE_0, t/a)\n"
                                    "    u = m0*2\n    m1 = _table1(_TABLE_0, t/b)\n    return u, m1*t").body[0])
    assert ast.unparse(split.arguments).splitlines()[1:] == ["    t = a * b - c", "    return (t / a, t / b)"]
    assert ast.unparse(split.formula).splitlines() == ["def f(a, b, c, m0, m1):", "    t = a * b - c", "    u = m0 * 2",
                                                       "    return (u, m1 * t)"]
    assert split.tables == ("_TABLE_0", "_TABLE_0")
    for text in ("def f(a, b, c):\n    return 2*_table1(_TABLE_0, a),",
                 "def f(a, b, c):\n    m0 = _table1(_TABLE_0, a)\n    m1 = _table1(_TABLE_1, m0*b)\n    return m0, m1"):
        assert fused._staged(ast.parse(text).body[0]) is None


def test_calls_below_fused_min_entries_keep_numpy():
    """A call on fewer than FUSED_MIN entries is the module's NumPy formula (no compiler waits for
    a small kernel); from FUSED_MIN entries on, the compiled pass."""

    def compiled(*args):
        raise AssertionError("compiled")

    numpy_formula = _numpy_module("relu", None)._formula_nngp_sg
    formula = Fused(compiled, 2, numpy_formula)
    small = np.ones((1, fused.FUSED_MIN - 1))
    assert all(np.array_equal(g, w) for g, w in zip(formula(small, small, small / 2), numpy_formula(small, small, small / 2)))
    with pytest.raises(AssertionError, match="compiled"):
        formula(1.0, 1.0, np.full(fused.FUSED_MIN, 0.5))


def test_formulas_with_other_functions_stay_in_numpy():
    """sin's maps have exponentials (NumPy's own vectorised exp, which the compiled loop would not
    match bit for bit): its formulas keep NumPy."""
    library = layer_maps("sin").module
    assert isinstance(library._formula_nngp_sg, FunctionType)
    assert not any(isinstance(value, Fused) for value in vars(library).values())


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(-12.0, 12.0), st.floats(-12.0, 12.0), st.floats(-1.0, 1.0)), min_size=1, max_size=12))
def test_det_sum_of_an_entry_does_not_depend_on_the_block(entries):
    """_det_sum (erf's (1 + 2a)(1 + 2b) - 4c^2) takes the product form or _det2 entry by entry:
    a block mixing tiny and huge variances gives every entry its value alone (which the compiled
    formulas compute entry by entry)."""
    a, b = (10.0 ** np.array([e[i] for e in entries]) for i in (0, 1))
    c = np.array([e[2] for e in entries]) * np.sqrt(a) * np.sqrt(b)
    block = runtime._det_sum(a, b, c, 4, 2, 2, 1)
    alone = [runtime._det_sum(a[i:i + 1], b[i:i + 1], c[i:i + 1], 4, 2, 2, 1)[0] for i in range(a.size)]
    assert np.array_equal(block, alone)
    exact = 4 * runtime._det2(a, b, c) + (2 * a + 2 * b + 1)
    np.testing.assert_allclose(block, exact, rtol=1002 * np.finfo(float).eps)
