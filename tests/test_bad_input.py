"""Bad input, table by table: a specific exception in the library, one line and exit code 2 in the
CLI, or the correct result; nothing hangs (size limits and the derivation budget).  Files, the
cache and Dask have their own tables in test_files.py, test_cache.py and test_adapters_dask.py;
benchmarks/hostile.py runs a larger set as a user would, process by process."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import sympy as sp

import kernelalg
from kernelalg.cli import main
from kernelalg.errors import (
    CovarianceError,
    DerivationBudgetError,
    DerivationError,
    ExpressionError,
    InputError,
    KernelalgError,
    MemoryLimitError,
    NotIntegrableError,
    NumericalError,
    UnknownFunctionError,
)
from kernelalg.numeric import arrays
from kernelalg.numeric.kernels import Kernel, circle
from kernelalg.numeric.layermaps import CompiledExpectation, check_covariance
from kernelalg.symbolic.functions import Function, x
from tests.witness import functions as F
from tests.witness.deep import deep_kernels, witness_maps

BAD_FUNCTIONS = [
    ("nosuch", UnknownFunctionError),
    ("gaussian(sgima=1)", ExpressionError),  # misspelt parameter
    ("nosuch(k=2)", UnknownFunctionError),
    ("x +", ExpressionError),
    ("__import__('os').system('true')", ExpressionError),
    ("x.real", ExpressionError),
    ("lambda: 1", ExpressionError),
    ("[x for x in (1,)]", ExpressionError),
    ("sign(y)", ExpressionError),
    ("sign(x) + t", ExpressionError),
    ("", ExpressionError),
    ("exp(x**3)", NotIntegrableError),
    ("exp(x**2)", NotIntegrableError),
    ("1/x", NotIntegrableError),
    ("log(x)", NotIntegrableError),
    ("sqrt(-1)*x", ExpressionError),
    ("1/0", ExpressionError),
    ("1e309*x", ExpressionError),
    ("sign(sin(x))", DerivationError),  # infinitely many breakpoints
    ("DiracDelta(x, 1)", DerivationError),
    # sizes: refused before any work
    ("x**10**10", ExpressionError),
    ("10**10**10", ExpressionError),
    ("9**9**9*x", ExpressionError),
    ("2**-5000*x", ExpressionError),
    ("sin(" * 150 + "x" + ")" * 150, ExpressionError),
    ("*".join(["x"] * 1000), ExpressionError),
    ("erf(1e300*x)", ExpressionError),
    ("Heaviside(x - 1e-300)", ExpressionError),
    # catalog parameters
    ("gaussian(sigma=-1)", ExpressionError),
    ("gaussian(sigma=0)", ExpressionError),
    ("box(w=-1)", ExpressionError),
    ("laplace(k=-1)", ExpressionError),
    ("superspike(k=0)", ExpressionError),
    ("erf(m=0)", ExpressionError),
    ("atan(a=0)", ExpressionError),
    ("triangle(w=0)", ExpressionError),
    ("leaky_relu(alpha=1)", ExpressionError),
    ("snntorch.atan(a=0)", ExpressionError),
    ("erf(m=1e308)", ExpressionError),
    ("gaussian(sigma=1e-300)", ExpressionError),
    ("step(t=1e308)", ExpressionError),
    ("erf(m=1e400)", ExpressionError),
    ("gaussian(sigma=1, sigma=2)", ExpressionError),
]

#: SymPy expressions given directly (the API path that skips parsing)
BAD_OBJECTS = {
    "product of 2000 factors": lambda: sp.Mul(*[(1 + x / k) for k in range(1, 2001)], evaluate=False),
    "sin nested 150 deep": lambda: functools.reduce(lambda e, _: sp.sin(e), range(150), x),
    "sum of 500 steps": lambda: sp.Add(*[sp.Heaviside(x - sp.Rational(k, 50)) for k in range(500)]),
    "x**(10**10)": lambda: x ** (10**10),
    "complex": lambda: sp.I * x,
}


@pytest.mark.parametrize("name", BAD_OBJECTS)
def test_oversized_or_complex_expressions_are_refused(name):
    with pytest.raises(ExpressionError):
        kernelalg.derive(Function(name, BAD_OBJECTS[name]()))


#: objects that are not scalar SymPy expressions, given to Function
NOT_EXPRESSIONS = {
    "mutable matrix": lambda: sp.Matrix([x]),  # unhashable: the cached layer_maps raised TypeError
    "immutable matrix": lambda: sp.ImmutableMatrix([x]),  # an Expr to SymPy: was derived, then NotIntegrableError
    "list": lambda: [x],
    "string": lambda: "x",
    "equation": lambda: sp.Eq(x, 1),
}


@pytest.mark.parametrize("name", NOT_EXPRESSIONS)
def test_a_function_must_be_a_scalar_expression(name):
    with pytest.raises(ExpressionError, match="not an expression"):
        kernelalg.layer_maps(Function(name, NOT_EXPRESSIONS[name]()), "gaussian")


@pytest.mark.parametrize("spec", ["exp(exp(exp(exp(exp(x)))))", "x**x**x"])
def test_pathological_derivations_stop_at_the_budget(spec):
    with pytest.raises(DerivationBudgetError):
        kernelalg.derive(spec, "gaussian", budget=3, use_cache=False)


@pytest.mark.parametrize("spec,error", BAD_FUNCTIONS)
def test_bad_function_raises_a_specific_error(spec, error):
    with pytest.raises(error) as info:
        kernelalg.derive(spec)
    assert "\n" not in str(info.value) and str(info.value)


@pytest.mark.parametrize("spec,error", BAD_FUNCTIONS)
def test_bad_function_as_surrogate(spec, error):
    with pytest.raises(error):
        kernelalg.derive("sign", spec)


BAD_COVARIANCES = [
    (-1.0, 1.0, 0.0),  # negative variance
    (0.0, 1.0, 0.0),  # zero variance
    (1.0, 1.0, 1.001),  # |c| > sqrt(ab)
    (1.0, 4.0, -2.5),
    (np.nan, 1.0, 0.0),
    (1.0, np.inf, 0.0),
    (1.0, 1.0, np.nan),
]


@pytest.mark.parametrize("a,b,c", BAD_COVARIANCES)
def test_bad_covariance_raises(a, b, c):
    maps = kernelalg.layer_maps("sign", "gaussian")
    with pytest.raises(CovarianceError):
        maps.nngp(a, b, c)
    with pytest.raises(CovarianceError):
        maps.evaluate(a, b, c)


def test_mismatched_shapes_raise():
    with pytest.raises(CovarianceError):
        kernelalg.layer_maps("sign").nngp(np.ones(3), np.ones(4), np.zeros(3))


def test_rounding_past_the_edge_is_not_an_error():
    """c a few ulps past sqrt(ab) (rounding of a dot product) is clipped, not rejected."""
    value = kernelalg.layer_maps("sign").nngp(2.0, 2.0, 2.0 * (1 + 4e-16))
    assert value == pytest.approx(1.0, rel=1e-15)


CLI_BAD = [
    ["eval", "--phi", "nosuch", "--cov", "1,1,0"],
    ["eval", "--phi", "sign", "--psi", "exp(x**3)", "--cov", "1,1,0"],
    ["eval", "--phi", "__import__('os')", "--cov", "1,1,0"],
    ["eval", "--phi", "sign", "--cov", "-1,1,0"],
    ["eval", "--phi", "sign", "--cov", "1,1,2"],
    ["eval", "--phi", "sign", "--cov", "1,1,nan"],
    ["eval", "--phi", "sign", "--cov", "1,1"],
    ["eval", "--phi", "sign"],
    [],
    ["eval", "--phi", "sign", "--cov", "1,1,0", "--bogus"],
    ["eval", "--phi", "sign", "--cov", "one,1,0"],
    ["derive", "--phi", "sign(y)"],
    ["eval", "--phi", "gaussian(sigma=-1)", "--cov", "1,1,0"],
    ["eval", "--cov", "1e400,1,0"],
    ["kernel", "--circle", "8", "--depth", "1000000", "--out", "K.npz"],
    ["kernel", "--circle", "8", "--sigma-w", "1e200", "--out", "K.npz"],
    ["kernel", "--circle", str(10**12), "--out", "K.npz"],
    ["kernel", "--circle", "8", "--out", "no/such/folder/K.npz"],
    ["kernel", "--points", "missing.npy", "--out", "K.npz"],
    ["kernel", "--points", "scalar.npy", "--out", "K.npz"],
    ["kernel", "--circle", "3", "--points2", "scalar.npy", "--out", "K.npz"],
    ["generate", "-o", "no/such/folder/maps.py"],
    ["derive", "--report", "no/such/folder/r.md"],
    ["plot", "-o", "figure.xyz"],
    ["run", "--points", "8", "--out-dir", "a_file/out"],
    ["spiking", "deep", "--quick", "--dataset", "mnist", "no/such/folder"],
]


@pytest.mark.parametrize("argv", CLI_BAD, ids=[" ".join(a)[:60] for a in CLI_BAD])
def test_cli_bad_input_is_one_line_and_exit_2(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_file").write_text("x")
    np.save(tmp_path / "scalar.npy", np.float64(0.5))
    try:
        code = main(argv)
    except SystemExit as exit:  # usage errors from argparse
        code = exit.code
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("kernelalg: error: ") and "\n" not in err and "Traceback" not in err


BAD_POINTS = {
    "complex": np.array([[1.0 + 1j, 0.0], [0.0, 1.0]]),
    "bool": np.array([[True, False], [False, True]]),
    "datetime": np.array([["2020-01-01", "2020-01-02"]], dtype="datetime64[D]"),
    "strings": np.array([["1", "2"]]),
    "objects with text": np.array([[1.0, "a"]], dtype=object),
    "ragged": [[1.0, 2.0], [3.0]],
    "NaN": np.array([[np.nan, 0.0]]),
    "inf": np.array([[np.inf, 0.0]]),
    "3-D": np.ones((2, 2, 2)),
    "empty": np.ones((0, 2)),
    "None": None,
}


@pytest.mark.parametrize("name", BAD_POINTS)
def test_bad_points_are_refused_not_cast(name):
    with pytest.raises(InputError):
        Kernel("sign", "gaussian")(BAD_POINTS[name])


BAD_KERNELS = [{"depth": 0}, {"depth": True}, {"depth": 2.0}, {"depth": 10**6}, {"sigma_w": 1e200},
               {"sigma_w": -1.0}, {"sigma_w": "1"}, {"sigma_w": None}, {"sigma_w": 1j}, {"sigma_b": float("nan")},
               {"sigma_b": 1e200}]


@pytest.mark.parametrize("kwargs", BAD_KERNELS, ids=str)
def test_bad_kernel_settings(kwargs):
    with pytest.raises(InputError):
        Kernel("sign", "gaussian", **kwargs)


@pytest.mark.parametrize("kwargs", [{"outputs": ("bogus",)}, {"block_rows": 0}, {"block_rows": -3}, {"workers": 0},
                                    {"Y": np.ones((2, 3))}], ids=str)
def test_bad_kernel_calls(kwargs):
    with pytest.raises(InputError):
        Kernel("sign", "gaussian")(np.eye(2), **kwargs)


ROWS = np.array([[1.0, 0.0], [0.0, 0.0], [0.6, 0.8]])


def test_a_zero_row_needs_a_bias():
    with pytest.raises(InputError, match="row 1 .* zero"):
        Kernel("sign", "gaussian", depth=2)(ROWS)
    with pytest.raises(InputError, match="row 1"):
        Kernel("erf", depth=2).diagonal(ROWS)


def test_a_zero_row_with_a_bias_is_correct():
    got = Kernel("sign", "gaussian", depth=2, sigma_b=0.1)(ROWS, outputs=("nngp", "sgntk"))
    S, I = deep_kernels(witness_maps(F.sign(), F.gaussian()), ROWS, ROWS, 2, 1.0, 0.1)
    assert np.allclose(got.nngp, S, rtol=1e-12, atol=0) and np.allclose(got.sgntk, I, rtol=1e-12, atol=0)


def test_overflowing_variances_are_numerical_errors():
    with pytest.raises(NumericalError, match="variance"):
        Kernel("sign", "gaussian", sigma_w=1e6)(np.array([[1e150, 0.0], [0.0, 1.0]]))


def test_outputs_beyond_memory_are_refused_up_front(monkeypatch):
    monkeypatch.setattr(arrays, "available_memory", lambda: 8 << 30)
    with pytest.raises(MemoryLimitError, match="86.4 GB.*dask"):
        Kernel("sign", "gaussian")(circle(60000))
    with pytest.raises(MemoryLimitError, match="28.8 GB"):
        Kernel("sign", "gaussian")(circle(60000), outputs=("nngp",))
    assert Kernel("sign", "gaussian")(circle(60000), circle(3), outputs=("nngp",)).nngp.shape == (60000, 3)


def test_a_nan_from_a_map_is_an_error_not_a_value():
    result = kernelalg.layer_maps("sign", "gaussian").nngp.result
    broken = CompiledExpectation(result, lambda a, b, c: np.full(np.broadcast(a, b, c).shape, np.nan))
    with pytest.raises(NumericalError, match="nan at a = 1"):
        broken(np.ones(3), 1.0, 0.5)


def test_extreme_variances_are_still_covariances():
    """sqrt(ab) is formed without under- or overflow: (1e-300, 1e-300, 1e-300) is a valid covariance."""
    for v in (1e-300, 1e300):
        *_, c = check_covariance(v, v, -v)
        assert c == pytest.approx(-v, rel=4e-16)  # at most clipped by an ulp to sqrt(a) sqrt(b)


def test_complex_covariances_are_refused():
    with pytest.raises(CovarianceError):
        kernelalg.layer_maps("sign", "gaussian").nngp(1.0, 1.0, 0.5 + 1j)


def test_errors_share_the_library_base_class():
    for _, error in BAD_FUNCTIONS:
        assert issubclass(error, KernelalgError)
    assert issubclass(CovarianceError, ValueError)


def test_extreme_variances_without_a_closed_form_are_an_error():
    """tanh's maps are quadratures, which are not evaluated beyond the float64 range of their code."""
    with pytest.raises(NumericalError, match="closed form.*quadrature"):
        Kernel("tanh", depth=2)(np.array([[1.0, 0.0], [0.6, 0.8]]) * 1e-150)
