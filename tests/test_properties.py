"""Hypothesis properties of the layer maps (docs/maths.md section 6) over catalog families."""

from __future__ import annotations

import mpmath as mp
import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

import kernelalg
from tests.witness.cases import ACTIVATION_FAMILIES, SURROGATE_FAMILIES
from tests.witness.gaussian import product_of_means


def members(families) -> list[tuple[str, object]]:
    """(spec, witness refs) for every family member and parameter value."""
    return [(spec.format(p=p), build(p)) for spec, build, values in families for p in values]


activations = st.sampled_from(members(ACTIVATION_FAMILIES))
surrogates = st.sampled_from(members(SURROGATE_FAMILIES))
#: pair-drawing tests derive a new pair per example (cold: up to seconds): fewer examples
pairs = settings(max_examples=8)
variances = st.floats(1e-3, 1e3).map(float)
rhos = st.floats(-0.999, 0.999)


@st.composite
def covariances(draw, n=1):
    a = np.array([draw(st.floats(-3, 3)) for _ in range(n)])
    b = np.array([draw(st.floats(-3, 3)) for _ in range(n)])
    r = np.array([draw(rhos) for _ in range(n)])
    a, b = 10.0**a, 10.0**b
    return a, b, r * np.sqrt(a * b)


def close(x, y, rtol=1e-9, atol=1e-300):
    return np.allclose(x, y, rtol=rtol, atol=atol)


@pairs
@given(activations, surrogates, covariances(4))
def test_swap_symmetry_of_the_symmetric_maps(act, sur, cov):
    """nngp and surrogate maps, E[f(u) f(v)], are symmetric under (a, c, b) -> (b, c, a): to 1e-9
    for closed forms, 1e-7 for quadrature fallbacks (their stated accuracy), and 1e-14 of the
    Cauchy-Schwarz bound sqrt(E f(u)^2 E f(v)^2) where the value vanishes."""
    maps = kernelalg.layer_maps(act[0], sur[0])
    a, b, c = cov
    for fn in (maps.nngp, maps.surrogate):
        rtol = 1e-9 if fn.result.closed_form else 1e-7
        scale = np.sqrt(np.abs(fn(a, a, a) * fn(b, b, b)))
        assert (np.abs(fn(a, b, c) - fn(b, a, c)) <= rtol * np.abs(fn(a, b, c)) + 1e-14 * scale).all()


@settings(max_examples=8)
@given(st.sampled_from([("sign", "gaussian"), ("erf(m=0.5)", "laplace(k=2.0)"), ("identity", "multi_gaussian")]),
       covariances(4))
@example(("erf(m=0.5)", "laplace(k=2.0)"), (np.ones(4), np.ones(4), np.zeros(4)))  # a vanishing value
def test_swap_symmetry(pair, cov):
    """E[f(u) g(v)](a, b, c) = E[g(u) f(v)](b, a, c), two separate derivations (pairs whose
    plain expectations, not layer maps, derive in about a second).  The two orders may take
    different routes (a closed form one way, a reduced integral over the other variable), so they
    agree to the relative accuracy the less accurate of them states (1e-9 closed form, 1e-7
    fallback), plus 1e-14 of the Cauchy-Schwarz bound sqrt(E f(u)^2 E g(v)^2) where the value
    vanishes (E[erf(u/2) laplace(v)] is 0 by parity: one order's rule gives exactly 0, the other
    -1.4e-17 at a = b = 1, c = 0)."""
    phi, psi = pair
    a, b, c = cov
    forward, backward = kernelalg.expectation(phi, psi), kernelalg.expectation(psi, phi)
    rtol = 1e-9 if forward.result.closed_form and backward.result.closed_form else 1e-7
    scale = np.sqrt(np.abs(kernelalg.expectation(phi, phi)(a, a, a) * kernelalg.expectation(psi, psi)(b, b, b)))
    value = forward(a, b, c)
    assert (np.abs(value - backward(b, a, c)) <= rtol * np.abs(value) + 1e-14 * scale).all()


@pairs
@given(activations, surrogates, variances, variances)
def test_factorisation_at_zero_covariance(act, sur, a, b):
    """E[phi(u) psi(v)] at c = 0 equals E[phi] E[psi] of the independent witness (1e-7: fallbacks)."""
    (phi, (phi_ref, _)), (psi, psi_ref) = act, sur
    got = float(kernelalg.expectation(phi, psi)(a, b, 0.0))
    want = float(product_of_means(phi_ref, psi_ref, a, b))
    assert abs(got - want) <= 1e-7 * abs(want) + 1e-12


@pairs
@given(activations, surrogates, covariances(4))
def test_cauchy_schwarz(act, sur, cov):
    """E[f(u) f(v)]^2 <= E[f(u)^2] E[f(v)^2] for the nngp and surrogate maps, up to float64
    rounding: 1e-15 of the larger second moment (a closed form of O(1) terms that nearly cancel,
    e.g. two steps with one variance tiny, carries that absolute rounding)."""
    maps = kernelalg.layer_maps(act[0], sur[0])
    a, b, c = cov
    for fn in (maps.nngp, maps.surrogate):
        fa, fb = fn(a, a, a), fn(b, b, b)
        rounding = 1e-15 * np.maximum(fa, fb)
        assert (np.abs(fn(a, b, c)) <= np.sqrt(fa * fb * (1 + 1e-9)) + rounding).all()


@pairs
@given(activations, st.integers(2, 12), st.integers(1, 4), st.floats(0.0, 1.0), st.integers(0, 2**32 - 1))
def test_nngp_gram_is_psd(act, n, d, bias, seed):
    x = np.random.default_rng(seed).normal(size=(n, d)) * np.exp(np.random.default_rng(seed + 1).normal(size=(n, 1)))
    cov = x @ x.T / d + bias + 1e-3 * np.eye(n)
    diag = np.diag(cov)
    gram = kernelalg.layer_maps(act[0]).nngp(diag[:, None], diag[None, :], cov)
    assert np.allclose(gram, gram.T, rtol=1e-12, atol=0)
    eig = np.linalg.eigvalsh((gram + gram.T) / 2)
    assert eig.min() >= -1e-9 * max(eig.max(), 1e-300)


@given(st.sampled_from(["erf(m=0.5)", "erf(m=3)", "tanh(k=2)", "relu", "sign", "step(t=0.3)"]), covariances(4))
def test_sg_equals_ntk_when_psi_is_phi_prime(phi, cov):
    maps = kernelalg.layer_maps(phi)
    a, b, c = cov
    assert close(maps.sg(a, b, c), maps.ntk(a, b, c))


@pairs
@given(surrogates, covariances(4))
def test_two_heavisides_minus_one_is_sign(sur, cov):
    a, b, c = cov
    sign = kernelalg.layer_maps("sign", sur[0])
    steps = kernelalg.layer_maps("2*Heaviside(x) - 1", sur[0])
    for name in ("nngp", "sg", "surrogate"):
        assert close(getattr(sign, name)(a, b, c), getattr(steps, name)(a, b, c)), name


@pairs
@given(activations, surrogates, variances, variances)
def test_limits_at_full_correlation(act, sur, a, b):
    """The maps are continuous up to |rho| = 1 where finite: c -> sqrt(ab) approaches the edge value
    (at rho = 1 - 1e-14: non-smooth functions approach like sqrt(1 - rho))."""
    maps = kernelalg.layer_maps(act[0], sur[0])
    edge = np.sqrt(a * b)
    for fn in (maps.nngp, maps.surrogate):
        at, near = fn(a, b, edge), fn(a, b, edge * (1 - 1e-14))
        assert abs(at - near) <= 1e-5 * abs(at) + 1e-12


def test_witness_factorisation_is_not_vacuous():
    """Guard: the factorisation witness does see a wrong value (sign has zero mean, step does not)."""
    from tests.witness import functions as F
    assert float(product_of_means(F.step(0.0)[0], F.step(0.0)[0], 1.0, 1.0)) == mp.mpf(0.25)
