"""Nested and reduced means summed by Mehler's expansion (kernelalg.codegen.hermiteruntime).

Each map the generated code sums as a Hermite series (with its product rule near |rho| = 1 and
its tables in the angle) is checked against the same module's graded Gauss-Legendre rule with
every entry left to the rule (a separate code path: no series, no table); the mpmath witness of
tanh's maps is in tests/test_closed_forms.py.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import sympy as sp
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.integrate import quad

from kernelalg.codegen import hermiteruntime as runtime
from kernelalg.codegen.hermite import mehler_pair
from kernelalg.errors import InputError
from kernelalg.numeric.compiled import _rule_only, loops
from kernelalg.numeric.kernels import Kernel, circle
from kernelalg.numeric.layermaps import generate_source, layer_maps
from kernelalg.symbolic.expectation.result import a, b, c
from kernelalg.symbolic.special import GaussianMean

FS = "snntorch.fast_sigmoid"
VARIANCES = ((1.0, 1.0), (0.5, 2.0), (3.0, 0.3))
RHOS = (0.2, -0.6, 0.95, -(1 - 1e-6), 1.0)


def _by_rule(module, name, av, bv, cv):
    """The map with every Hermite-series mean left to the module's rule."""
    series = module._hermite_mean
    module._hermite_mean = _rule_only
    try:
        return getattr(module, name)(av, bv, cv)
    finally:
        module._hermite_mean = series


def _grid():
    rows = [(va, vb, rho * np.sqrt(va * vb)) for va, vb in VARIANCES for rho in RHOS]
    return (np.array(col) for col in zip(*rows))


@pytest.mark.parametrize("phi,name", [("tanh", "nngp"), ("tanh", "sg"), ("x/(1 + exp(-x))", "nngp"),
                                      ("log(1 + exp(x))", "ntk")])
def test_series_and_product_rule_match_the_graded_rule(phi, name):
    maps = layer_maps(phi, FS)
    assert "Hermite series" in maps.module.STATUS[name]
    av, bv, cv = _grid()
    for x, y in ((av, bv), (bv, av)):  # also the swapped variances (sg with a and b exchanged)
        got = getattr(maps.module, name)(x, y, cv)
        want = _by_rule(maps.module, name, x, y, cv)
        assert np.all(np.abs(got - want) <= 1e-12 * np.abs(want)), np.abs(got - want) / np.abs(want)


def test_product_rule_takes_more_inner_nodes_where_the_first_do_not_resolve(monkeypatch):
    """sech^2 at variance 62 against the fast sigmoid at variance 4.2, rho = 0.990 (neither series
    converges within HERMITE_LONG terms there): the inner mean, sech^2 smoothed over sd 1.1, is
    not resolved by 32 Gauss-Hermite nodes against 48 but is by 192 against 256, and the product
    rule's value equals the graded rule's."""
    module = layer_maps("tanh", FS).module
    sa, sb, rho = np.array([7.863]), np.array([2.052]), np.array([1 - 0.00968214])
    value, done = module._hermite_product(module._HERMITE_1, sa, sb, rho)
    want = _by_rule(module, "sg", sa**2, sb**2, rho * sa * sb)
    assert done[0] and abs(value[0] - want[0]) <= 1e-12 * abs(want[0])
    monkeypatch.setattr(module, "HERMITE_INNER", module.HERMITE_INNER[:1])
    assert not module._hermite_product(module._HERMITE_1, sa, sb, rho)[1][0]


def test_table_in_the_angle_equals_the_entrywise_evaluation(monkeypatch):
    """Points on a circle (one variance): the table's values equal the entrywise ones."""
    module = layer_maps("tanh", FS).module
    X = circle(64)
    rho = np.clip(X @ X.T, -1, 1)
    a_ = np.ones((64, 1))
    tabulated = module.sg(a_, a_.T, rho)
    monkeypatch.setattr(module, "HERMITE_TABLE_MIN", 10**12)
    entrywise = module.sg(a_, a_.T, rho)
    assert np.max(np.abs(tabulated - entrywise) / np.abs(entrywise)) < 1e-13


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(1, 40), rho_scale=st.floats(0.0, 1.0),
       terms=st.sampled_from([1, 5, 24, 64, 160]), stepping=st.sampled_from([(0, 1), (0, 2), (1, 2)]),
       layout=st.sampled_from(["scattered", "rows", "columns"]), width=st.integers(1, 300))
@example(seed=0, size=40, rho_scale=1.0, terms=64, stepping=(0, 1), layout="scattered", width=1)  # sums past the packed terms
@example(seed=1, size=3, rho_scale=1.0, terms=64, stepping=(0, 1), layout="rows", width=300)  # runs longer than the lanes
def test_numpy_and_compiled_series_sums_agree(seed, size, rho_scale, terms, stepping, layout, width):
    """The compiled partial sums are NumPy's bit for bit, stopping at the same term (rows
    reached through a row index, as in the coefficient store; one row broken: infinite tail):
    for entries in no order and for the rows and the columns of a block (runs of consecutive
    rows of one side, summed side by side, longer than loops.HERMITE_LANES too), also where
    they stop past the first loops.HERMITE_NEAR terms, read from the packed columns."""
    rng = np.random.default_rng(seed)

    def side(count, decay, residual=1e-3):
        alpha = rng.standard_normal((count, terms)) * decay ** np.arange(terms)
        tail = np.sqrt(np.cumsum((alpha * alpha)[:, ::-1], axis=1)[:, ::-1])
        tail[rng.integers(0, count)] = np.inf
        return alpha, tail, rng.uniform(0, residual, count), rng.uniform(0.5, 2, count), rng.permutation(count)

    if layout == "scattered":
        side_a, side_b = side(3, 0.7), side(2, 0.6)
        ia, ib = rng.integers(0, 3, size), rng.integers(0, 2, size)
    else:  # a block of size x width entries, by rows or by columns (some sums stop past the packed terms)
        side_a, side_b = side(size, 0.75, 1e-12), side(width, 0.7, 1e-12)
        ia, ib = np.repeat(np.arange(size), width), np.tile(np.arange(width), size)
        if layout == "columns":
            side_a, side_b, ia, ib = side_b, side_a, ib, ia
    rho = rng.uniform(-1, 1, ia.size) * rho_scale
    out, done = runtime._hermite_sum(side_a, side_b, ia, ib, rho, *stepping)
    out_c, done_c = loops.hermite_sum(side_a, side_b, ia, ib, rho, *stepping, tol=runtime.HERMITE_TOL,
                                      floor=runtime.HERMITE_FLOOR)
    assert np.array_equal(done, done_c)
    assert np.array_equal(out[done], out_c[done])
    assert not done[np.isinf(side_a[1][side_a[4][ia], 0]) | np.isinf(side_b[1][side_b[4][ib], 0])].any()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(1, 6), terms=st.sampled_from([1, 2, 3, 8, 33]))
def test_numpy_and_compiled_tails_agree(seed, rows, terms):
    """The compiled tails are NumPy's bit for bit (a non-finite coefficient included), and they are
    the roots of the sums of the squares beyond n, over all m and over n's parity."""
    rng = np.random.default_rng(seed)
    alpha = rng.standard_normal((rows, terms)) * rng.uniform(0.3, 1.0) ** np.arange(terms)
    if rows > 1:
        alpha[rng.integers(0, rows), rng.integers(0, terms)] = rng.choice([np.inf, np.nan])
    want, got = runtime._hermite_tails(alpha), loops.hermite_tails(alpha)
    assert all(np.array_equal(w, g, equal_nan=True) for w, g in zip(want, got))
    k, n = rng.integers(0, rows), rng.integers(0, terms)
    tail, tail_class, total = want
    assert np.isclose(tail[k, n] ** 2, np.sum(alpha[k, n + 1:] ** 2), rtol=1e-14, atol=0, equal_nan=True)
    assert np.isclose(tail_class[k, n] ** 2, np.sum(alpha[k, n + 2::2] ** 2), rtol=1e-14, atol=0, equal_nan=True)
    assert np.isclose(total[k], np.sum(alpha[k] ** 2), rtol=1e-14, atol=0, equal_nan=True)


@given(x=st.floats(0.0, 1.0), k=st.integers(1, 2048))
def test_power_by_squaring(x, k):
    """x^k by repeated squaring: within k ulps of the correctly rounded power; arrays as scalars,
    and the compiled sums' squarings over lanes (the far part of their bounds) bit for bit."""
    got = runtime._hermite_power(x, k)
    assert got == pytest.approx(x**k, rel=4 * k * np.finfo(float).eps, abs=1e-300)
    assert runtime._hermite_power(np.array([x]), k)[0] == got
    lanes = np.array([x, x / 3, 0.5])
    loops._hermite_powers(lanes, np.empty(3), 2, k)  # the first two lanes only
    assert lanes[0] == got and lanes[1] == runtime._hermite_power(x / 3, k) and lanes[2] == 0.5


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(1, 60))
def test_numpy_and_compiled_tables_in_the_angle_agree(seed, size):
    """The compiled table lookup is NumPy's, bit for bit, also at rho = +-1 and in every cell."""
    rng = np.random.default_rng(seed)
    coef = rng.standard_normal((runtime._H_CELLS, runtime._H_DEGREE + 1))
    rho = np.concatenate([rng.uniform(-1, 1, size), [-1.0, 1.0, 0.0]])
    want = runtime._hermite_theta(coef, rho)
    assert np.array_equal(loops.hermite_theta(coef, rho, runtime._H_CELLS), want)


def test_table_positions_kept_only_for_equal_correlations():
    """The compiled lookup keeps the arc cosines of the correlations it saw last: the next table
    at equal correlations reads them (NumPy's values bit for bit), and correlations changed in
    place (the same array) or of another shape are computed anew."""
    rng = np.random.default_rng(7)
    tables = rng.standard_normal((2, runtime._H_CELLS, runtime._H_DEGREE + 1))
    rho = rng.uniform(-1, 1, 41)
    for coef in tables:
        assert np.array_equal(loops.hermite_theta(coef, rho, runtime._H_CELLS), runtime._hermite_theta(coef, rho))
    rho[::3] = -rho[::3]
    assert np.array_equal(loops.hermite_theta(tables[0], rho, runtime._H_CELLS), runtime._hermite_theta(tables[0], rho))
    assert np.array_equal(loops.hermite_theta(tables[1], rho[:40], runtime._H_CELLS),
                          runtime._hermite_theta(tables[1], rho[:40]))


def test_pairs_found_and_refused():
    """tanh's nested nngp mean is E[tanh(u) tanh(v)]; a mean whose integrand has a kink away
    from 0, or a reduced mean whose conditional mean does not give a function back, is left to the rule."""
    y, x = sp.symbols("y x", real=True)
    nested = GaussianMean(0, a, sp.Lambda(y, sp.tanh(y) * GaussianMean(c * y / a, (a * b - c**2) / a,
                                                                        sp.Lambda(x, sp.tanh(x)))))
    pair = mehler_pair(nested)
    assert pair is not None and not pair.swapped and sp.simplify(pair.f - pair.g) == 0
    shifted = GaussianMean(0, a, sp.Lambda(y, sp.exp(-sp.Abs(y - 2)) * GaussianMean(c * y / a, (a * b - c**2) / a,
                                                                                    sp.Lambda(x, sp.tanh(x)))))
    assert mehler_pair(shifted) is None
    wrong = GaussianMean(0, b, sp.Lambda(y, sp.exp(-y**2) * sp.exp(-c * y**2 / b)))
    assert mehler_pair(wrong) is None


def test_standalone_module_sums_the_same_series_without_kernelalg():
    text = generate_source("tanh", FS)
    assert "kernelalg." not in "".join(line for line in text.splitlines() if "import" in line)
    namespace: dict = {}
    exec(compile(text, "<standalone>", "exec"), namespace)  # noqa: S102
    assert "Hermite series" in namespace["STATUS"]["sg"] and "Mehler" in namespace["sg"].__doc__
    av, bv, cv = _grid()
    # NumPy's loop against the library's compiled one: the same operations in the same order
    np.testing.assert_allclose(namespace["sg"](av, bv, cv), layer_maps("tanh", FS).sg(av, bv, cv), rtol=1e-15)


def test_entries_needing_more_terms_are_summed_with_the_long_series(monkeypatch):
    """tanh's sg map (sech^2 with fast_sigmoid's kink) at |rho| near 1 and variance 1..2:
    the 256-term series has not converged, the HERMITE_LONG one has (no product rule needed),
    and it matches the rule."""
    module = layer_maps("tanh", FS).module
    used = []
    series = module._hermite_series

    def recorded(pair, sa, sb, rho, ia, ib, terms):
        out, done = series(pair, sa, sb, rho, ia, ib, terms)
        used.append((terms, int(done.sum()), done.size))
        return out, done

    monkeypatch.setattr(module, "_hermite_series", recorded)
    monkeypatch.setattr(module, "_hermite_product", lambda pair, sa, sb, rho: pytest.fail("product rule used"))
    rho = np.array([0.97, -0.98, 0.99])
    av, bv = np.array([1.0, 2.0, 1.5]), np.array([1.0, 1.2, 0.8])  # sech^2's coefficients decay slowly at large a
    cv = rho * np.sqrt(av * bv)
    got = module.sg(av, bv, cv)
    assert used[0] == (runtime.HERMITE_TERMS, 0, 3) and used[1] == (runtime.HERMITE_LONG, 3, 3), used
    want = _by_rule(module, "sg", av, bv, cv)
    assert np.all(np.abs(got - want) <= 1e-12 * np.abs(want)), np.abs(got - want) / np.abs(want)


def test_coefficients_kept_per_value_equal_a_fresh_computation(monkeypatch):
    """Rows come back for each requested standard deviation (repeats, any order, NaN) equal to
    a computation of that value alone, also across the store's growth and its reset when full."""
    module = layer_maps("tanh", FS).module
    side = module._HERMITE_1[1]  # the surrogate: even, with a kink
    assert side[3] == 1
    monkeypatch.setattr(module, "_H_COEFFICIENTS", {})
    monkeypatch.setattr(module, "HERMITE_CACHE_SIZE", 100 * module.HERMITE_TERMS)
    rng = np.random.default_rng(3)
    pool = np.concatenate([rng.uniform(0.1, 5.0, 150), [np.nan]])
    for size in (5, 40, 70, 3, 90):  # grows, then is reset (90 new values do not fit beside the rest)
        sd = rng.choice(pool, size)
        alpha, tail, tail_class, residual, energy, rows = module._hermite_coefficients(side, sd)
        for k in rng.choice(size, 4):
            fresh = module._hermite_coefficients_of(side, sd[k:k + 1], module.HERMITE_TERMS)
            kept = (alpha[rows[k]], tail[rows[k]], tail_class[rows[k]], residual[rows[k]], energy[rows[k]])
            scale = abs(fresh[4][0])  # sqrt(E[f^2]): rounding differs with the batch's size
            for have, want, unit in zip(kept, fresh, (scale,) * 5):
                np.testing.assert_allclose(have, want[0], rtol=1e-13, atol=1e-15 * unit)
    store = module._H_COEFFICIENTS[(side, module.HERMITE_TERMS)]
    assert store[0] <= 100


def test_coefficients_computed_by_threads_at_once_equal_a_fresh_computation(monkeypatch):
    """Threads compute the rows of their values at the same time (outside the store's lock) and add
    them while others read and while the store starts again when full: every call gets, for each
    of its values, the row a computation of that value alone gives."""
    module = layer_maps("tanh", FS).module
    side = module._HERMITE_1[1]
    compute = module._hermite_coefficients_of
    monkeypatch.setattr(module, "_H_COEFFICIENTS", {})
    monkeypatch.setattr(module, "HERMITE_CACHE_SIZE", 60 * module.HERMITE_TERMS)
    monkeypatch.setattr(module, "_hermite_coefficients_of", lambda *args: (time.sleep(0.002), compute(*args))[1])
    stored, merges = module._hermite_stored, []

    def recorded(store, seen, *args):
        merged = stored(store, seen, *args)
        merges.append((store is not seen, merged[0] < (0 if store is None else store[0])))
        return merged

    monkeypatch.setattr(module, "_hermite_stored", recorded)
    rng = np.random.default_rng(5)
    pool = rng.uniform(0.1, 5.0, 90)
    fresh = dict(zip(pool.tolist(), zip(*compute(side, pool, module.HERMITE_TERMS))))
    requests = [rng.choice(pool, int(rng.integers(1, 40))) for _ in range(60)]
    with ThreadPoolExecutor(4) as threads:
        answers = list(threads.map(lambda sd: module._hermite_coefficients(side, sd), requests))
    for sd, (*arrays, rows) in zip(requests, answers):
        for value, row in zip(sd.tolist(), rows):
            scale = fresh[value][4]  # sqrt(E[f^2])
            for have, want in zip((v[row] for v in arrays), fresh[value]):
                np.testing.assert_allclose(have, want, rtol=1e-13, atol=1e-15 * scale)
    changed, reset = (any(column) for column in zip(*merges))
    assert changed and reset, "no store changed by another thread meanwhile, or none begun again"


@pytest.mark.parametrize("spec, index, parity", [("tanh", 0, -1), ("tanh", 1, 1), ("log(1 + exp(x))", 0, 0)])
def test_coefficients_by_parity_equal_those_of_all_nodes(spec, index, parity):
    """The parity the generator proves (tanh odd, its derivative and the fast sigmoid even,
    softplus neither), and coefficients computed with it equal those computed from f at every
    node (parity 0) to rounding, the other parity's exactly 0; the tails over each parity."""
    module = layer_maps(spec, FS).module
    pair = getattr(module, f"_HERMITE_{index}")
    sides = [side for side in pair if side[3] == parity]
    assert sides, [side[3] for side in pair]
    sd = np.array([0.05, 0.7, 1.0, 3.0, 40.0])
    with_parity = module._hermite_coefficients_of(sides[0], sd, module.HERMITE_TERMS)
    without = module._hermite_coefficients_of((*sides[0][:3], 0), sd, module.HERMITE_TERMS)
    scale = with_parity[4][:, None]
    np.testing.assert_allclose(with_parity[0], without[0], rtol=0, atol=1e-15 * scale.max())
    np.testing.assert_allclose(with_parity[4], without[4], rtol=1e-14)
    alpha, tail, tail_class = without[:3]  # the tail splits into the two parities' tails
    np.testing.assert_allclose(tail[:, :-1] ** 2, tail_class[:, :-1] ** 2 + alpha[:, 1:] ** 2 + tail_class[:, 1:] ** 2,
                               rtol=1e-12, atol=1e-300)
    if parity:
        assert not with_parity[0][:, (0 if parity == -1 else 1)::2].any()


@pytest.mark.parametrize("phi", ["tanh", "log(1 + exp(x))"])  # odd; neither even nor odd
def test_edge_of_one_function_equals_its_mean_square(phi):
    """The NNGP's pair (f with itself) at rho = +-1: E[f(sa Z) f(+-sa Z)] (f evaluated once where
    the two arguments are equal) equals adaptive quadrature to 1e-12, and at unequal deviations
    too."""
    module = layer_maps(phi, FS).module
    pair = module._HERMITE_0
    assert pair[0] == pair[1]
    f = pair[0][0]
    sa = np.array([0.3, 1.0, 2.0, 7.0, 1.5])
    sb = np.array([0.3, -1.0, 2.0, -7.0, 0.5])
    got = module._hermite_edge(pair, sa, sb)
    for k in range(sa.size):
        density = lambda t, k=k: float(f(sa[k] * t) * f(sb[k] * t)) * np.exp(-t * t / 2) / np.sqrt(2 * np.pi)
        want = quad(density, -np.inf, np.inf, epsabs=0, epsrel=1e-13, limit=200)[0]
        assert abs(got[k] - want) <= 1e-12 * abs(want), (phi, k, got[k], want)


def test_means_on_the_edge_kept_per_entry(monkeypatch):
    """At rho = +-1 the map is a mean of one variable: each entry on its own nodes (equal alone
    or among others to rounding), kept for the next call (returned as stored), and equal to the
    mean E[f(sa Z) g(sb Z)] by adaptive quadrature to 1e-12."""
    module = layer_maps("tanh", FS).module
    monkeypatch.setattr(module, "_H_EDGES", {})
    pair = module._HERMITE_1  # tanh' with the fast sigmoid
    sa = np.array([0.3, 1.0, 2.0, 7.0])
    sb = np.array([1.0, -0.5, 3.0, -2.0])
    together = module._hermite_edge(pair, sa, sb)
    assert len(module._H_EDGES[pair]) == 4
    for k in range(4):
        alone = module._hermite_edge(pair, sa[k:k + 1], sb[k:k + 1])
        assert alone[0] == together[k]  # kept
        module._H_EDGES[pair].clear()
        fresh = module._hermite_edge(pair, sa[k:k + 1], sb[k:k + 1])
        np.testing.assert_allclose(fresh, together[k:k + 1], rtol=1e-15)
    f, g = pair[0][0], pair[1][0]
    for k in range(4):  # both even: twice the integral over z > 0, where g is smooth
        density = lambda t, k=k: float(f(sa[k] * t) * g(sb[k] * t)) * np.exp(-t * t / 2) * np.sqrt(2 / np.pi)
        want = quad(density, 0, np.inf, epsabs=0, epsrel=1e-13, limit=200)[0]
        assert together[k] == pytest.approx(want, rel=1e-12)


def test_diagonal_in_chunks_on_threads_equals_one_thread():
    """With two workers the diagonal (the variances and the maps' coefficients per variance) is
    computed in chunks of rows on two threads: the kernel equals the one-thread kernel to
    rounding (a row's coefficients depend on the others only through the matrix products'
    rounding), and a bad row in the second chunk is named by its index among all rows."""
    X = np.random.default_rng(8).normal(size=(600, 4))
    kernel = Kernel("tanh", FS, depth=2, sigma_w=1.2, sigma_b=0.1)
    for name in ("_H_COEFFICIENTS", "_H_EDGES"):
        getattr(kernel.maps.module, name).clear()
    two = kernel(X, outputs=("nngp", "sgntk"), workers=2)
    for name in ("_H_COEFFICIENTS", "_H_EDGES"):
        getattr(kernel.maps.module, name).clear()
    one = kernel(X, outputs=("nngp", "sgntk"), workers=1)
    for name in ("nngp", "sgntk"):
        scale = np.sqrt(np.outer(np.diag(one.nngp), np.diag(one.nngp)))  # entries may vanish by cancellation
        assert np.max(np.abs(getattr(two, name) - getattr(one, name)) / scale) < 1e-14, name
    X[450] = 0.0
    with pytest.raises(InputError, match="row 450 of the points is zero"):
        Kernel("tanh", FS, depth=2, sigma_b=0.0)(X, workers=2)
