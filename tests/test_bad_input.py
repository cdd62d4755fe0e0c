"""Bad input: a specific exception in the library, one line and exit code 2 in the CLI."""

from __future__ import annotations

import numpy as np
import pytest

import kernelalg
from kernelalg.cli import main
from kernelalg.errors import (CovarianceError, ExpressionError, KernelalgError, NotIntegrableError,
                              UnknownFunctionError)

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
]


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
    ["eval", "--phi", "sign", "--cov", "1,1,0", "--bogus"],
    ["eval", "--phi", "sign", "--cov", "one,1,0"],
    ["derive", "--phi", "sign(y)"],
]


@pytest.mark.parametrize("argv", CLI_BAD, ids=[" ".join(a) for a in CLI_BAD])
def test_cli_bad_input_is_one_line_and_exit_2(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as exit:  # usage errors from argparse
        code = exit.code
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("kernelalg: error: ") and "\n" not in err and "Traceback" not in err


def test_errors_share_the_library_base_class():
    for _, error in BAD_FUNCTIONS:
        assert issubclass(error, KernelalgError)
    assert issubclass(CovarianceError, ValueError)
