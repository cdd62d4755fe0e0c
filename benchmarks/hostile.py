"""Hostile-user harness: bad expressions, inputs, files, cache tampering, big inputs and Dask runs,
each through the command line or the library in its own process with a timeout.

Every case states what a correct program does: reject the input with a clear error (the CLI's
one-line ``kernelalg: error: ...`` with exit code 2, a ``KernelalgError`` in the library),
return the right result (checked against an independent reference: closed forms computed
here in mpmath or the repository's mpmath witness), or either.  Outcomes are tallied per
category:

    clear error | correct result | traceback (or crash) | hang (timeout) | wrong result, exit 0
    | valid input rejected

    python benchmarks/hostile.py [--root PATH] [--jobs 2] [--timeout 60] [--slow-timeout 900]
                                 [--only CATEGORY] [--match TEXT] [--json FILE] [--rerun FILE]

``--root`` is the source tree under test (default: this repository), so that the same cases can
be run against another checkout.  Each case runs with a fresh HOME and a cache folder of its own
category (cache cases: of their own), all under a temporary folder; nothing is written
elsewhere.  Cases that should end in an error get the derivation budget
``KERNELALG_DERIVE_SECONDS=20`` and count as hanging after ``--timeout`` seconds; cases with a
result to compute keep the default budget and get ``--slow-timeout``.  ``--rerun FILE`` runs
again, with ``--slow-timeout``, the cases that hung in an earlier run (its ``--json``) although
they have a result to compute, and prints the merged table: on a busy machine a cold derivation
can outlast a short timeout.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import mpmath as mp
import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
COV = (1.0, 1.5, 0.4)
COLUMNS = ("clear error", "correct result", "traceback", "hang", "wrong result, exit 0", "valid input rejected")
MEMORY_LIMIT = 12 << 30  # address-space limit of every case: a runaway allocation fails instead of swapping


@dataclass
class Case:
    category: str
    name: str
    argv: list[str] | None = None  # command line (after "kernelalg"); "{dir}" is the case's folder
    code: str | None = None  # library snippet run with DIR (the case's folder); may set ok = bool
    expect: str = "error"  # "error", "ok" or "either"
    check: Callable[[Path, str], bool] | None = None  # CLI success: correct? (folder, stdout)
    setup: Callable[[Path, Path], None] | None = None  # (folder, cache folder) before the run
    env: dict = field(default_factory=dict)
    own_cache: bool = False
    fsize_limit: int | None = None
    timeout: float | None = None


# --------------------------------------------------------------------------- references
DPS = 1500  # enough for ab - c^2 of inputs of norm 1e300 and more


def ref_sign_gaussian(a, b, c):
    """nngp, sg of phi = sign, psi = N(0, 1) density (arcsine kernel, delta conditioning)."""
    with mp.workdps(DPS):
        a, b, c = mp.mpf(a), mp.mpf(b), mp.mpf(c)
        return +(2 / mp.pi * mp.asin(c / mp.sqrt(a * b))), +(1 / (mp.pi * mp.sqrt(a * b + a - c * c)))


def ref_erf(a, b, c):
    """nngp, sg (= ntk) of phi = erf(x), psi = phi'."""
    with mp.workdps(DPS):
        a, b, c = mp.mpf(a), mp.mpf(b), mp.mpf(c)
        return (+(2 / mp.pi * mp.asin(2 * c / mp.sqrt((1 + 2 * a) * (1 + 2 * b)))),
                +(4 / (mp.pi * mp.sqrt((1 + 2 * a) * (1 + 2 * b) - 4 * c * c))))


def deep_reference(X, Y, depth=2, sw=1.0, sb=0.0, pair="sign"):
    """S and I (NNGP, SG-NTK) of the network output at 40 digits, from the closed forms above."""
    with mp.workdps(DPS):
        return _deep(X, Y, depth, sw, sb, ref_sign_gaussian if pair == "sign" else ref_erf)


def _deep(X, Y, depth, sw, sb, maps):
    X = [[mp.mpf(float(v)) for v in row] for row in np.asarray(X, dtype=float)]
    Y = X if Y is None else [[mp.mpf(float(v)) for v in row] for row in np.asarray(Y, dtype=float)]
    sw2, sb2, n0 = mp.mpf(sw) ** 2, mp.mpf(sb) ** 2, len(X[0])
    dot = lambda p, q: sw2 * mp.fsum(s * t for s, t in zip(p, q)) / n0 + sb2  # noqa: E731
    S, I = np.empty((len(X), len(Y))), np.empty((len(X), len(Y)))
    for i, x in enumerate(X):
        for j, y in enumerate(Y):
            a, b, c = dot(x, x), dot(y, y), dot(x, y)
            s = c
            for _ in range(depth):
                nngp, sg = maps(a, b, c)
                s = sw2 * nngp + sb2 + sw2 * sg * s
                a, b, c = sw2 * maps(a, a, a)[0] + sb2, sw2 * maps(b, b, b)[0] + sb2, sw2 * nngp + sb2
            S[i, j], I[i, j] = float(c), float(s)
    return S, I


def close(x, y, rel=1e-10) -> bool:
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    return x.shape == y.shape and bool(np.all(np.isfinite(x))) and bool(
        np.all(np.abs(x - y) <= rel * np.maximum(np.abs(y), 1e-300)))


_WITNESS: dict = {}


def witness(key: str, build) -> float:
    """E[f(u) f(v)] at COV for a function described by the repository's witness (tests/witness:
    a callable with its kinks and steep features), by nested adaptive quadrature in float64
    (scipy) in standardised variables, split at the features; memoised."""
    if key not in _WITNESS:
        from scipy.integrate import quad

        f = build()
        a, b, c = COV
        ra, s = math.sqrt(a), math.sqrt((a * b - c * c) / a)
        value = lambda t: float(f.value(t))  # noqa: E731
        pdf = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731

        def splits(mu: float, sd: float) -> list[float]:
            out = {float((centre + k * width - mu) / sd) for centre, width in f.features for k in (-10, -3, -1, 0, 1, 3, 10)}
            return sorted(p for p in out if -12 < p < 12) or None

        def inner(z1: float) -> float:
            mu = c / ra * z1
            return quad(lambda z2: value(mu + s * z2) * pdf(z2), -12, 12, points=splits(mu, s), limit=400,
                        epsabs=1e-14, epsrel=1e-11)[0]

        _WITNESS[key] = quad(lambda z1: value(ra * z1) * pdf(z1) * inner(z1), -12, 12, points=splits(0.0, ra),
                             limit=400, epsabs=1e-13, epsrel=1e-10)[0]
    return _WITNESS[key]


# --------------------------------------------------------------------------- expressions
def _F():
    sys.path.insert(0, str(REPO))
    from tests.witness import functions
    return functions


def _ref_regular(fn, kinks=(), scales=()):
    def build():
        from tests.witness.gaussian import Ref
        return Ref(fn, kinks=kinks, scales=scales)
    return build


ACT, SUR = "phi", "psi"
# (spec, role, expect, witness builder of the function or None)
EXPRESSIONS = [
    # code execution and unsupported syntax
    ("__import__('os').system('touch {dir}/PWNED')", ACT, "error", None),
    ("().__class__.__bases__[0].__subclasses__()", ACT, "error", None),
    ("x.real", ACT, "error", None), ("lambda: 1", ACT, "error", None), ("[x for x in (1,)]", ACT, "error", None),
    ("{x: 1}", ACT, "error", None), ("f'{x}'", ACT, "error", None), ("(y := x)", ACT, "error", None),
    ("x if x else 1", ACT, "error", None), ("open('/etc/passwd')", ACT, "error", None),
    ("eval('x')", ACT, "error", None), ("getattr(x, 'evalf')", ACT, "error", None), ("x[0]", ACT, "error", None),
    ("x(1)", ACT, "error", None), ("sin(x=1)", ACT, "error", None), ("sin(*[x])", ACT, "error", None),
    ("globals()", ACT, "error", None), ("__builtins__", ACT, "error", None), ("Symbol('y')", ACT, "error", None),
    ("x +", ACT, "error", None), ("", ACT, "error", None), ("   ", ACT, "error", None), ("x)", ACT, "error", None),
    ("'abc'", ACT, "error", None), ("None", ACT, "error", None), ("...", ACT, "error", None),
    ("1j*x", ACT, "error", None), ("x @ x", ACT, "error", None), ("x // 2", ACT, "error", None),
    ("x % 2", ACT, "error", None), ("~x", ACT, "error", None), ("not x", ACT, "error", None),
    ("x == 1", ACT, "error", None), ("1 < x < 2", ACT, "error", None), ("x > 0", ACT, "error", None),
    ("True", ACT, "error", None), ("sign(y)", ACT, "error", None), ("sign(x) + t", ACT, "error", None),
    ("pi(x)", ACT, "error", None), ("E(x)", ACT, "error", None), ("Heaviside()", ACT, "error", None),
    ("sin(x, x)", ACT, "error", None), ("Max()", ACT, "error", None), ("x\x01", ACT, "error", None),
    ("é*x", ACT, "error", None), ("+".join(["x"] * 1200), ACT, "error", None),
    # not real, not finite, not integrable, not decomposable
    ("sqrt(-1)*x", ACT, "error", None), ("log(-1)*x", ACT, "error", None), ("1/0", ACT, "error", None),
    ("0**-1", ACT, "error", None), ("x/0", ACT, "error", None), ("log(0)", ACT, "error", None),
    ("exp(x**3)", ACT, "error", None), ("exp(x**2)", ACT, "error", None), ("1/x", ACT, "error", None),
    ("log(x)", ACT, "error", None), ("1/(x - 1)", ACT, "error", None), ("x**-2", ACT, "error", None),
    ("tan(x)", ACT, "error", None), ("1/sin(x)", ACT, "error", None), ("exp(exp(x))", ACT, "error", None),
    ("sign(sin(x))", ACT, "error", None), ("Heaviside(sin(x))", ACT, "error", None),
    ("Abs(sin(1/x))", ACT, "error", None), ("DiracDelta(x)**2", SUR, "error", None),
    ("DiracDelta(x, 1)", SUR, "error", None), ("DiracDelta(sin(x))", SUR, "error", None),
    ("sqrt(x)", ACT, "error", None), ("x**0.5", ACT, "error", None), ("x**x", ACT, "error", None),
    # pathological sizes: a size limit or the derivation budget must stop them
    ("x**10**10", ACT, "error", None), ("10**10**10", ACT, "error", None), ("9**9**9*x", ACT, "error", None),
    ("exp(exp(exp(exp(exp(x)))))", ACT, "error", None), ("x**x**x", ACT, "error", None),
    ("sin(" * 150 + "x" + ")" * 150, ACT, "error", None), ("(" * 200 + "x" + ")" * 200, ACT, "either", None),
    ("-" * 1000 + "x", ACT, "either", None), ("*".join(["x"] * 1000), ACT, "error", None),
    ("*".join(f"Heaviside(x-{k})" for k in range(1, 80)), ACT, "either", None),
    ("+".join(f"Heaviside(x-{k}/7)" for k in range(1, 60)), ACT, "either", None),
    ("x**400", ACT, "either", None), ("(1 + x)**60", ACT, "either", None),
    ("1e309*x", ACT, "error", None), ("10**400*x", ACT, "either", None), ("2**-5000*x", ACT, "either", None),
    ("erf(1e300*x)", ACT, "either", None), ("Heaviside(x - 1e300)", ACT, "either", None),
    ("Heaviside(x - 1e-300)", ACT, "either", None),
    ("Heaviside(x**5 - x - 1)", ACT, "either", None),
    # catalog parameters
    ("gaussian(sigma=-1)", SUR, "error", None), ("gaussian(sigma=0)", SUR, "error", None),
    ("box(w=-1)", SUR, "error", None), ("box(w=0)", SUR, "error", None), ("laplace(k=-1)", SUR, "error", None),
    ("laplace(k=0)", SUR, "error", None), ("superspike(k=0)", SUR, "error", None),
    ("superspike(k=-1)", SUR, "error", None), ("erf(m=0)", ACT, "error", None), ("atan(a=0)", SUR, "error", None),
    ("atan(a=-2)", SUR, "error", None), ("triangle(w=0)", SUR, "error", None), ("triangle(w=-1)", SUR, "error", None),
    ("logistic(k=0)", SUR, "error", None), ("tanh(k=0)", ACT, "error", None),
    ("leaky_relu(alpha=2)", ACT, "error", None), ("leaky_relu(alpha=-1)", ACT, "error", None),
    ("multi_gaussian(r=0)", SUR, "error", None), ("multi_gaussian(sigma=0)", SUR, "error", None),
    ("erf(m=1e308)", ACT, "either", None), ("gaussian(sigma=1e-300)", SUR, "either", None),
    ("step(t=1e308)", ACT, "either", None), ("step(t=-1e308)", ACT, "either", None),
    ("erf(m=1e400)", ACT, "error", None), ("gaussian(sigma=1e-400)", SUR, "error", None),
    ("gaussian(sigma=nan)", SUR, "error", None), ("gaussian(sigma='a')", SUR, "error", None),
    ("gaussian(1)", SUR, "error", None), ("gaussian(sigma=1, sigma=2)", SUR, "error", None),
    ("gaussian(sigma=1)(x)", SUR, "error", None), ("snntorch.atan(a=0)", SUR, "error", None),
    ("snntorch.nosuch", SUR, "error", None), ("nosuch(k=2)", SUR, "error", None), ("nosuch", SUR, "error", None),
    ("erf(m=True)", ACT, "error", None), ("gaussian(sgima=1)", SUR, "error", None),
    # valid input: the right numbers
    ("sign", ACT, "ok", lambda: _F().sign()[0]), ("step(t=0.5)", ACT, "ok", lambda: _F().step(0.5)[0]),
    ("erf(m=3)", ACT, "ok", lambda: _F().erf(3.0)[0]), ("relu", ACT, "ok", lambda: _F().relu()[0]),
    ("tanh", ACT, "ok", lambda: _F().tanh()[0]), ("identity", ACT, "ok", lambda: _F().identity()[0]),
    ("gaussian", SUR, "ok", lambda: _F().gaussian()), ("superspike", SUR, "ok", lambda: _F().superspike()),
    ("atan", SUR, "ok", lambda: _F().atan()), ("logistic", SUR, "ok", lambda: _F().logistic()),
    ("triangle", SUR, "ok", lambda: _F().triangle()), ("box", SUR, "ok", lambda: _F().box()),
    ("laplace", SUR, "ok", lambda: _F().laplace()), ("multi_gaussian", SUR, "ok", lambda: _F().multi_gaussian()),
    ("gaussian(sigma=0.5)", SUR, "ok", lambda: _F().gaussian(0.5)),
    ("snntorch.atan", SUR, "ok", lambda: _F().atan(2.0)), ("norse.super", SUR, "ok", lambda: _F().superspike(100.0)),
    ("Heaviside(x - 1/2)", ACT, "ok", lambda: _F().step(0.5)[0]),
    ("1/(1 + 2*Abs(x))**2", SUR, "ok", lambda: _F().superspike(2.0)),
    ("erf(3*x)", ACT, "ok", lambda: _F().erf(3.0)[0]),
    ("Max(0, 1 - Abs(x))", SUR, "ok", lambda: _F().triangle()),
    ("exp(-x**2/2)", SUR, "ok", _ref_regular(lambda x: mp.exp(-x * x / 2))),
    ("x**2", ACT, "ok", _ref_regular(lambda x: x * x)), ("x**3", ACT, "ok", _ref_regular(lambda x: x ** 3)),
    ("Abs(x)", ACT, "ok", _ref_regular(abs, kinks=(0,))),
    ("Max(x, 0)**2", ACT, "ok", _ref_regular(lambda x: max(x, 0) ** 2, kinks=(0,))),
    ("Max(Min(x, 1), -1)", ACT, "ok", _ref_regular(lambda x: max(min(x, 1), -1), kinks=(-1, 1))),
    ("sin(x)", ACT, "ok", _ref_regular(mp.sin)), ("x*exp(-x**2)", SUR, "ok", _ref_regular(lambda x: x * mp.exp(-x * x))),
    ("1/(1 + x**2)", SUR, "ok", _ref_regular(lambda x: 1 / (1 + x * x))),
    ("exp(-Abs(x))", SUR, "ok", _ref_regular(lambda x: mp.exp(-abs(x)), kinks=(0,))),
    ("\uff58", ACT, "ok", _ref_regular(lambda x: x)), ("  sign(x)  ", ACT, "ok", lambda: _F().sign()[0]),
    ("x^2", ACT, "ok", _ref_regular(lambda x: x * x)),
    ("Piecewise((1, x > 0), (-1, True))", ACT, "ok", lambda: _F().sign()[0]),
    ("Heaviside(x**2 - 1)", ACT, "ok", _ref_regular(lambda x: 1 if abs(x) > 1 else 0, kinks=(-1, 1))),
]


def _eval_argv(spec: str, role: str) -> list[str]:
    pair = ["--phi", spec, "--psi", "gaussian"] if role == ACT else ["--phi", "sign", "--psi", spec]
    return ["eval", *pair, "--cov", ",".join(map(str, COV)), "--json"]


def expression_check(index: int):
    """Correct value of nngp (activation) or surrogate (surrogate) against the witness; without a
    witness, the four maps' values finite (or null where a map diverges; ``eval --json`` also
    reports each map's status and error bound)."""
    spec, role, _, build = EXPRESSIONS[index]
    key = "nngp" if role == ACT else "surrogate"

    def check(values: dict) -> bool:
        if build is None:
            return all(values[k] is None or np.isfinite(values[k]) for k in ("nngp", "sg", "ntk", "surrogate"))
        got = values.get(key)
        want = witness(f"{spec}/{role}", build)
        return got is not None and abs(got - want) <= 1e-6 * abs(want) + 1e-12
    return check


def expression_cases() -> list[Case]:
    cases = []
    for i, (spec, role, expect, _build) in enumerate(EXPRESSIONS):
        value_ok = expression_check(i)
        label = spec if len(spec) < 60 else spec[:40] + f"...({len(spec)} chars)"
        cases.append(Case("expressions", f"cli eval {role}={label}", argv=_eval_argv(spec, role), expect=expect,
                          check=lambda d, out, ok=value_ok: ok(json.loads(out)) and not (d / "PWNED").exists()))
        call = f"kernelalg.layer_maps({spec!r}, 'gaussian')" if role == ACT else f"kernelalg.layer_maps('sign', {spec!r})"
        cases.append(Case("expressions", f"api layer_maps {role}={label}",
                          code=f"import kernelalg\nvalues = {call}.evaluate(*{COV!r})\n"
                               f"ok = REF.expression_check({i})(values)", expect=expect))
        cases.append(Case("expressions", f"cli derive --phi {label}" if role == ACT else f"cli derive --psi {label}",
                          argv=["derive", "--json", "--phi" if role == ACT else "--psi", spec], expect=expect,
                          check=lambda d, out: "maps" in json.loads(out) and not (d / "PWNED").exists()))
    built = {
        "product of 2000 factors": "sp.Mul(*[(1 + x / k) for k in range(1, 2001)], evaluate=False)",
        "product of 2000 factors (evaluated)": "sp.Mul(*[(1 + x / k) for k in range(1, 2001)])",
        "sin nested 150 deep": "functools.reduce(lambda e, _: sp.sin(e), range(150), x)",
        "exp nested 5 deep": "functools.reduce(lambda e, _: sp.exp(e), range(5), x)",
        "sum of 500 steps": "sp.Add(*[sp.Heaviside(x - sp.Rational(k, 50)) for k in range(500)])",
        "x**(10**10)": "x**(10**10)",
        "not an expression": "sp.Matrix([x])",
        "complex": "sp.I * x",
        "free symbol y": "x + sp.Symbol('y')",
    }
    for name, build_code in built.items():
        code = ("import functools\nimport sympy as sp\nimport kernelalg\n"
                "from kernelalg.symbolic.functions import Function, x\n"
                f"fn = Function('user', {build_code})\n"
                "values = kernelalg.layer_maps(fn, 'gaussian').evaluate(1.0, 1.5, 0.4)\n"
                "ok = all(v is None or math.isfinite(v) for k, v in values.items() if k != 'diverges')")
        cases.append(Case("expressions", f"api Function: {name}", code=code, expect="error"))
    return cases


# --------------------------------------------------------------------------- numeric inputs, files, paths
def _save(name: str, array):
    return lambda d, cache: np.save(d / name, array, allow_pickle=True)


def _write(name: str, data: bytes):
    return lambda d, cache: (d / name).write_bytes(data)


def _chmod(name: str, mode: int, make_dir: bool = True):
    def setup(d, cache):
        p = d / name
        if make_dir:
            p.mkdir(exist_ok=True)
        else:
            p.write_text("x")
        p.chmod(mode)
    return setup


def _npz_ok(keys, shape):
    def check(d: Path, out: str, path="K.npz") -> bool:
        with np.load(d / path) as f:
            return all(k in f and f[k].shape == shape and np.isfinite(f[k]).all() for k in keys)
    return check


def _file_ok(path: str, contains: str = ""):
    return lambda d, out: (d / path).is_file() and contains in (d / path).read_text(errors="replace")


def _untouched(path: str, content: str):
    return lambda d, out: (d / path).read_text() == content


def _both(*setups):
    def setup(d, cache):
        for s in setups:
            s(d, cache)
    return setup


def _idx(images: np.ndarray, labels: np.ndarray, gz=False, corrupt=None):
    def encode(a: np.ndarray, code: int) -> bytes:
        return bytes([0, 0, code, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + a.astype(">u1").tobytes()

    def setup(d, cache):
        folder = d / "mnist"
        folder.mkdir()
        for name, data in (("train-images-idx3-ubyte", encode(images, 0x08)),
                           ("train-labels-idx1-ubyte", encode(labels, 0x08)),
                           ("t10k-images-idx3-ubyte", encode(images, 0x08)),
                           ("t10k-labels-idx1-ubyte", encode(labels, 0x08))):
            if corrupt and corrupt[0] in name:
                data = corrupt[1](data)
            if gz:
                (folder / f"{name}.gz").write_bytes(gzip.compress(data) if not (corrupt and corrupt[0] == "gz")
                                                    else gzip.compress(data)[:-12] + b"garbage!!!!!")
            else:
                (folder / name).write_bytes(data)
    return setup


def file_cases() -> list[Case]:
    cases: list[Case] = []
    K = ["kernel", "--phi", "sign", "--psi", "gaussian", "--depth", "2"]
    pts = np.random.default_rng(0).normal(size=(5, 3))

    def kernel_points(name, setup, expect="error", check=None, extra=()):
        cases.append(Case("files", f"kernel --points {name}", argv=[*K, "--points", "{dir}/p.npy", "--out",
                                                                    "{dir}/K.npz", *extra],
                          setup=setup, expect=expect, check=check))

    kernel_points("zero-byte .npy", _write("p.npy", b""))
    kernel_points("scalar .npy", _save("p.npy", np.float64(0.5)))
    kernel_points("bad header .npy", _write("p.npy", b"\x93NUMPY\x01\x00garbage header here\n" + b"\0" * 40))
    kernel_points("text file", _write("p.npy", b"1,2,3\n4,5,6\n"))
    kernel_points("truncated .npy", lambda d, c: (np.save(d / "full.npy", pts), (d / "p.npy").write_bytes(
        (d / "full.npy").read_bytes()[:-20])))
    kernel_points(".npz as points", lambda d, c: (np.savez(d / "x.npz", X=pts), os.replace(d / "x.npz", d / "p.npy")))
    kernel_points("pickled object array", _save("p.npy", np.array([{"a": 1}, None], dtype=object)))
    kernel_points("complex", _save("p.npy", pts + 1j))
    kernel_points("bool", _save("p.npy", pts > 0))
    kernel_points("datetime", _save("p.npy", np.array(["2020-01-01", "2021-01-01"], dtype="datetime64[D]")))
    kernel_points("timedelta", _save("p.npy", np.arange(4).astype("timedelta64[s]").reshape(2, 2)))
    kernel_points("strings", _save("p.npy", np.array([["1", "2"], ["3", "4"]])))
    kernel_points("3-D array", _save("p.npy", np.ones((2, 2, 2))))
    kernel_points("empty (0, 2)", _save("p.npy", np.ones((0, 2))))
    kernel_points("empty (5, 0)", _save("p.npy", np.ones((5, 0))))
    kernel_points("NaN", _save("p.npy", np.array([[1.0, np.nan], [0.0, 1.0]])))
    kernel_points("inf", _save("p.npy", np.array([[1.0, np.inf], [0.0, 1.0]])))
    kernel_points("structured", _save("p.npy", np.zeros(3, dtype=[("a", float), ("b", float)])))
    kernel_points("a directory", lambda d, c: (d / "p.npy").mkdir())
    kernel_points("missing", lambda d, c: None)
    kernel_points("unreadable", lambda d, c: (np.save(d / "p.npy", pts), (d / "p.npy").chmod(0)))
    kernel_points("1-D array (N points of dimension 1)", _save("p.npy", np.array([-1, -0.5, 0.5, 1, 2.0])), "ok",
                  _npz_ok(("nngp", "sgntk"), (5, 5)))
    kernel_points("integers", _save("p.npy", np.arange(6).reshape(3, 2)), "ok", _npz_ok(("nngp", "sgntk"), (3, 3)))
    kernel_points("float32", _save("p.npy", pts.astype(np.float32)), "ok", _npz_ok(("nngp", "sgntk"), (5, 5)))
    kernel_points("float16", _save("p.npy", pts.astype(np.float16)), "ok", _npz_ok(("nngp", "sgntk"), (5, 5)))
    cases.append(Case("files", "kernel --points /dev/zero", argv=[*K, "--points", "/dev/zero", "--out", "{dir}/K.npz"]))
    cases.append(Case("files", "kernel --points2 other dimension",
                      argv=[*K, "--points", "{dir}/p.npy", "--points2", "{dir}/q.npy", "--out", "{dir}/K.npz"],
                      setup=_both(_save("p.npy", pts), _save("q.npy", np.ones((2, 4))))))
    # output paths
    circle = [*K, "--circle", "8"]
    cases += [
        Case("files", "kernel --out missing parent", argv=[*circle, "--out", "{dir}/no/such/K.npz"]),
        Case("files", "kernel --out unwritable folder", argv=[*circle, "--out", "{dir}/ro/K.npz"],
             setup=_chmod("ro", 0o555)),
        Case("files", "kernel --out is a folder", argv=[*circle, "--out", "{dir}/sub"],
             setup=lambda d, c: (d / "sub").mkdir()),
        Case("files", "kernel --out existing file (no --force)", argv=[*circle, "--out", "{dir}/K.npz"],
             setup=_write("K.npz", b"precious"), check=_untouched("K.npz", "precious")),
        Case("files", "kernel --out existing file --force", argv=[*circle, "--out", "{dir}/K.npz", "--force"],
             setup=_write("K.npz", b"old"), expect="ok", check=_npz_ok(("nngp", "sgntk"), (8, 8))),  # ntk: inf
        Case("files", "kernel --out /dev/full", argv=[*circle, "--out", "/dev/full"]),
        Case("files", "kernel --out ''", argv=[*circle, "--out", ""]),
        Case("files", "kernel --out without suffix", argv=[*circle, "--out", "{dir}/K"], expect="ok",
             check=lambda d, out: (d / "K").is_file() or (d / "K.npz").is_file()),
        Case("files", "kernel --out under a file", argv=[*circle, "--out", "{dir}/f/K.npz"], setup=_write("f", b"x")),
        Case("files", "derive --report missing parent", argv=["derive", "--report", "{dir}/no/r.md"]),
        Case("files", "derive --report unwritable", argv=["derive", "--report", "{dir}/ro/r.md"],
             setup=_chmod("ro", 0o555)),
        Case("files", "derive --report bad suffix", argv=["derive", "--report", "{dir}/r.txt"]),
        Case("files", "derive --report is a folder", argv=["derive", "--report", "{dir}/r.md"],
             setup=lambda d, c: (d / "r.md").mkdir()),
        Case("files", "derive --report existing file", argv=["derive", "--report", "{dir}/r.md"],
             setup=_write("r.md", b"precious"), check=_untouched("r.md", "precious")),
        Case("files", "derive --report .tex", argv=["derive", "--report", "{dir}/r.tex"], expect="ok",
             check=_file_ok("r.tex", "\\begin{document}")),
        Case("files", "generate -o missing parent", argv=["generate", "-o", "{dir}/no/m.py"]),
        Case("files", "generate -o unwritable", argv=["generate", "-o", "{dir}/ro/m.py"], setup=_chmod("ro", 0o555)),
        Case("files", "generate -o existing file", argv=["generate", "-o", "{dir}/m.py"],
             setup=_write("m.py", b"precious"), check=_untouched("m.py", "precious")),
        Case("files", "generate -o is a folder", argv=["generate", "-o", "{dir}/m.py"],
             setup=lambda d, c: (d / "m.py").mkdir()),
        Case("files", "generate -o /dev/full", argv=["generate", "-o", "/dev/full"]),
        Case("files", "generate -o -", argv=["generate", "-o", "-"], expect="ok", check=lambda d, out: "def sg(" in out),
        Case("files", "plot -o missing parent", argv=["plot", "--pair", "sign:gaussian", "-o", "{dir}/no/p.png"]),
        Case("files", "plot -o bad format", argv=["plot", "--pair", "sign:gaussian", "-o", "{dir}/p.xyz"]),
        Case("files", "plot -o unwritable", argv=["plot", "--pair", "sign:gaussian", "-o", "{dir}/ro/p.png"],
             setup=_chmod("ro", 0o555)),
        Case("files", "plot -o existing file", argv=["plot", "--pair", "sign:gaussian", "-o", "{dir}/p.png"],
             setup=_write("p.png", b"precious"), check=_untouched("p.png", "precious")),
        Case("files", "plot --pair ':'", argv=["plot", "--pair", ":", "-o", "{dir}/p.png"]),
        Case("files", "plot --pair bad function", argv=["plot", "--pair", "sign:nosuch", "-o", "{dir}/p.png"]),
        Case("files", "run --out-dir under a file", argv=["run", "--points", "8", "--out-dir", "{dir}/f/out"],
             setup=_write("f", b"x")),
        Case("files", "run --out-dir unwritable", argv=["run", "--points", "8", "--out-dir", "{dir}/ro/out"],
             setup=_chmod("ro", 0o555)),
        Case("files", "run --out-dir is a file", argv=["run", "--points", "8", "--out-dir", "{dir}/f"],
             setup=_write("f", b"x")),
        Case("files", "run twice into one folder (no --force)",
             argv=["run", "--points", "8", "--out-dir", "{dir}/out"],
             setup=lambda d, c: ((d / "out").mkdir(), (d / "out" / "summary.json").write_text("precious")),
             check=_untouched("out/summary.json", "precious")),
        Case("files", "validate --out-dir unwritable", argv=["validate", "--out-dir", "{dir}/ro/v"],
             setup=_chmod("ro", 0o555)),
        Case("files", "validate --out-dir under a file", argv=["validate", "--out-dir", "{dir}/f/v"],
             setup=_write("f", b"x")),
        Case("files", "spiking concept --out-dir unwritable",
             argv=["spiking", "concept", "--quick", "--out-dir", "{dir}/ro/c"], setup=_chmod("ro", 0o555)),
        Case("files", "spiking single --out-dir under a file",
             argv=["spiking", "single", "--quick", "--out-dir", "{dir}/f/s"], setup=_write("f", b"x")),
    ]
    # data sets (IDX files)
    images = np.random.default_rng(0).integers(0, 256, size=(20, 28, 28))
    labels = np.arange(20) % 10
    deep = ["spiking", "deep", "--quick", "--no-figures", "--epochs", "1", "--seeds", "1",
            "--out-dir", "{dir}/out", "--dataset", "mnist", "{dir}/mnist"]
    for name, setup in {
        "corrupt gzip": _idx(images, labels, gz=True, corrupt=("gz", None)),
        "bad magic": _idx(images, labels, corrupt=("images", lambda b: b"\x01\x02" + b[2:])),
        "labels out of range": _idx(images, labels + 200),
        "wrong dimension count": _idx(images, labels, corrupt=("labels", lambda b: b[:3] + b"\x09" + b[4:])),
        "truncated images": _idx(images, labels, corrupt=("images", lambda b: b[:-100])),
        "header only": _idx(images, labels, corrupt=("images", lambda b: b[:4])),
        "empty file": _idx(images, labels, corrupt=("images", lambda b: b"")),
        "empty data set": _idx(images[:0], labels[:0]),
        "image/label count mismatch": _idx(images, labels[:7]),
        "images 2-D": _idx(images.reshape(20, 784), labels),
        "missing folder": lambda d, c: None,
    }.items():
        cases.append(Case("files", f"spiking deep mnist: {name}", argv=deep, setup=setup))
    cases.append(Case("files", "spiking deep --dataset nosuch", argv=deep[:-3] + ["nosuch"]))
    cases.append(Case("files", "spiking deep --dataset mnist (no path)", argv=deep[:-1]))
    # predict
    P = ["predict", "--psi", "gaussian", "--train", "{dir}/X.npy", "--targets", "{dir}/y.npy", "--test", "{dir}/T.npy", "--out",
         "{dir}/pred.npz"]
    X, y, T = pts, np.sin(pts[:, 0]), np.random.default_rng(1).normal(size=(4, 3))

    def pred(name, Xa=X, ya=y, Ta=T, extra=(), expect="error", check=None):
        cases.append(Case("files", f"predict {name}", argv=[*P, *extra], expect=expect, check=check,
                          setup=_both(_save("X.npy", Xa), _save("y.npy", ya), _save("T.npy", Ta))))

    pred("targets of the wrong length", ya=y[:3])
    pred("NaN targets", ya=np.where(np.arange(5) == 2, np.nan, y))
    pred("complex targets", ya=y + 1j)
    pred("test points of another dimension", Ta=np.ones((2, 4)))
    pred("duplicate training points", Xa=np.vstack([X[:2], X[:2]]), ya=y[:4])
    pred("--time -1", extra=("--time", "-1"))
    pred("--time abc", extra=("--time", "abc"))
    pred("--lr 0", extra=("--lr", "0"))
    pred("--lr nan", extra=("--lr", "nan"))
    pred("valid", expect="ok", check=lambda d, out, p="pred.npz": np.isfinite(np.load(d / p)["mean"]).all())
    # numbers on the command line
    for cov in ("1,1,0.3,4", "inf,1,0", "1e400,1,0", "0x10,1,0", "1,1,", ",,", "1;1;0"):
        cases.append(Case("files", f"eval --cov {cov}", argv=["eval", "--cov", cov]))
    cases.append(Case("files", "eval --cov 1_0,1,0 (Python number syntax)", argv=["eval", "--cov", "1_0,1,0", "--json"],
                      expect="either", check=lambda d, out: abs(json.loads(out)["nngp"]) <= 1))
    for extra in (["--depth", "0"], ["--depth", "-1"], ["--depth", "1000000"], ["--depth", str(10**20)],
                  ["--depth", "2.5"], ["--sigma-w", "1e200"], ["--sigma-w", "-1"], ["--sigma-w", "nan"],
                  ["--sigma-w", "inf"], ["--sigma-w", "0"], ["--sigma-b", "1e200"], ["--sigma-b", "-1"],
                  ["--circle", "0"], ["--circle", "-5"], ["--circle", str(10**12)], ["--circle", "60000"]):
        argv = [*K, *(["--circle", "8"] if "--circle" not in extra else []), *extra, "--out", "{dir}/K.npz"]
        cases.append(Case("files", "kernel " + " ".join(extra), argv=argv))
    for extra in (["--w", "nan"], ["--T", "-1"], ["--T", "0"], ["--t-in", "inf"], ["--model", "nosuch"],
                  ["--w", "1e308"]):
        options = {"--w": "2.8", "--t-in": "0.5", "--T": "4", **dict(zip(extra[::2], extra[1::2]))}
        argv = ["spiking", "spike-time", *(part for item in options.items() for part in item)]
        cases.append(Case("files", "spiking spike-time " + " ".join(extra), argv=argv, expect="either",
                          check=lambda d, out: "nan" not in out.lower()))
    cases += [Case("files", "no command", argv=[], expect="error"),
              Case("files", "unknown command", argv=["nosuch"]),
              Case("files", "unknown option", argv=["eval", "--cov", "1,1,0", "--nosuch"])]
    return cases


# --------------------------------------------------------------------------- cache
CACHE_EVAL = ["eval", "--phi", "sign", "--psi", "gaussian", "--cov", "1,1,0.5", "--json"]
CACHE_API = ("import kernelalg\nfrom kernelalg.numeric.kernels import Kernel\n"
             "values = kernelalg.layer_maps('sign', 'gaussian').evaluate(1.0, 1.0, 0.5)\n"
             "X = np.array([[1.0, 0.0], [0.6, 0.8], [-0.3, 0.2]])\n"
             "K = Kernel('sign', 'gaussian', depth=2)(X)\n"
             "S, I = REF.deep_reference(X, None)\n"
             "ok = CACHE_CHECK(values) and REF.close(K.nngp, S, 1e-12) and REF.close(K.sgntk, I, 1e-12)")


def cache_values_ok(values: dict) -> bool:
    nngp, sg = ref_sign_gaussian(1, 1, 0.5)
    surrogate = 1 / (2 * mp.pi * mp.sqrt(mp.mpf("3.75")))
    return (abs(values["nngp"] - float(nngp)) < 1e-14 and abs(values["sg"] - float(sg)) < 1e-14
            and abs(values["surrogate"] - float(surrogate)) < 1e-14)


_TEMPLATE: dict = {}
_TEMPLATE_LOCK = threading.Lock()


def template_cache(root: Path, env: dict) -> Path:
    """A cache filled by the code under test (derivations and modules of sign/gaussian), made once."""
    with _TEMPLATE_LOCK:
        if "path" not in _TEMPLATE:
            path = Path(tempfile.mkdtemp(prefix="hostile-template-"))
            code = ("import kernelalg, numpy\nfrom kernelalg.numeric.kernels import Kernel\n"
                    "kernelalg.layer_maps('sign', 'gaussian').evaluate(1.0, 1.0, 0.5)\n"
                    "Kernel('sign', 'gaussian', depth=2)(numpy.eye(2))\n")
            subprocess.run([sys.executable, "-c", code], env={**env, "KERNELALG_CACHE": str(path)}, check=True,
                           timeout=600)
            _TEMPLATE["path"] = path
        return _TEMPLATE["path"]


def _entries(cache: Path, kind: str) -> list[Path]:
    return sorted(p for p in (cache / kind).iterdir() if not p.name.startswith(".")) if (cache / kind).is_dir() else []


def tamper(kind: str, how: Callable[[Path, list[Path]], None]):
    def setup(d, cache):
        shutil.copytree(_TEMPLATE["path"], cache, dirs_exist_ok=True)
        how(cache, _entries(cache, kind))
    return setup


def _each(fn):
    return lambda cache, files: [fn(p) for p in files]


def _swap(cache, files):
    if len(files) >= 2:
        texts = [p.read_bytes() for p in files]
        for p, t in zip(files, texts[1:] + texts[:1]):
            p.write_bytes(t)


def _to_dir(p: Path):
    p.unlink()
    p.mkdir()
    (p / "inner").write_text("x")


def _replace_text(old: str, new: str):
    return _each(lambda p: p.write_text(p.read_text().replace(old, new)))


def _wrong_types(p: Path):
    p.write_text(json.dumps({"expr": 5, "route": 3, "diverges": "yes"}))


def _symlink(target: str):
    def fn(p: Path):
        p.unlink()
        p.symlink_to(target)
    return fn


def _readonly(cache: Path, files):
    for p in [cache, *cache.rglob("*")]:
        p.chmod(0o555 if p.is_dir() else 0o444)


def cache_cases() -> list[Case]:
    marker = "open(__import__('os').path.join(__import__('os').environ['HOME'], 'PWNED'), 'w').write('x')\n"
    tampers = {
        "derivations truncated": tamper("derivations", _each(lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]))),
        "derivations empty": tamper("derivations", _each(lambda p: p.write_bytes(b""))),
        "derivations binary garbage": tamper("derivations", _each(lambda p: p.write_bytes(os.urandom(300)))),
        "derivations swapped (wrong content)": tamper("derivations", _swap),
        "derivations wrong numbers (2 -> 3)": tamper("derivations", _replace_text("Integer(2)", "Integer(3)")),
        "derivations wrong types": tamper("derivations", _each(_wrong_types)),
        "derivations are folders": tamper("derivations", _each(_to_dir)),
        "derivations -> /dev/zero": tamper("derivations", _each(_symlink("/dev/zero"))),
        "derivations -> /etc/passwd": tamper("derivations", _each(_symlink("/etc/passwd"))),
        "derivations unreadable": tamper("derivations", _each(lambda p: p.chmod(0))),
        "modules truncated": tamper("modules", _each(lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]))),
        "modules empty": tamper("modules", _each(lambda p: p.write_bytes(b""))),
        "modules binary garbage": tamper("modules", _each(lambda p: p.write_bytes(os.urandom(300)))),
        "modules swapped": tamper("modules", _swap),
        "modules wrong numbers (arcsin -> arccos)": tamper("modules", _replace_text("arcsin", "arccos")),
        "modules code injected": tamper("modules", _each(lambda p: p.write_text(p.read_text() + "\n" + marker))),
        "modules raise at import": tamper("modules", _each(lambda p: p.write_text("raise SystemExit(3)\n" + p.read_text()))),
        "modules are folders": tamper("modules", _each(_to_dir)),
        "modules unreadable": tamper("modules", _each(lambda p: p.chmod(0))),
        "read-only cache with entries": tamper("derivations", _readonly),
        "read-only empty cache": lambda d, cache: (cache.mkdir(exist_ok=True), cache.chmod(0o555)),
        "cache location is a file": lambda d, cache: (shutil.rmtree(cache, ignore_errors=True), cache.write_text("x")),
        "cache subfolder is a file": lambda d, cache: (cache.mkdir(exist_ok=True), (cache / "derivations").write_text("x"),
                                                        (cache / "modules").write_text("x")),
        "cache parent missing and read-only": lambda d, cache: (shutil.rmtree(cache, ignore_errors=True),
                                                                cache.parent.chmod(0o555)),
    }
    cases = []
    for name, setup in tampers.items():
        ok_cli = lambda d, out: cache_values_ok(json.loads(out)) and not (d / "PWNED").exists()  # noqa: E731
        cases.append(Case("cache", f"cli eval: {name}", argv=CACHE_EVAL, expect="ok", setup=setup, check=ok_cli,
                          own_cache=True))
        cases.append(Case("cache", f"api: {name}", code=CACHE_API + "\nok = ok and not (DIR / 'PWNED').exists()",
                          expect="ok", setup=setup, own_cache=True))
    cases.append(Case("cache", "cli eval: disk full (file size limit 2 kB)", argv=CACHE_EVAL, expect="ok",
                      check=lambda d, out: cache_values_ok(json.loads(out)), own_cache=True, fsize_limit=2048))
    cases.append(Case("cache", "api: disk full (file size limit 2 kB)", code=CACHE_API, expect="ok", own_cache=True,
                      fsize_limit=2048))
    concurrent = textwrap.dedent("""
        import subprocess, sys, json
        argv = [sys.executable, "-m", "kernelalg", *ARGV]
        procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
        outs = [p.communicate() for p in procs]
        again = subprocess.run(argv, capture_output=True, text=True)
        ok = all(p.returncode == 0 for p in procs) and again.returncode == 0 and all(
            CACHE_CHECK(json.loads(o)) for o, _ in outs) and CACHE_CHECK(json.loads(again.stdout))
    """).replace("ARGV", repr(CACHE_EVAL))
    cases.append(Case("cache", "4 concurrent writers into an empty cache, then a reader", code=concurrent, expect="ok",
                      own_cache=True))
    cases.append(Case("cache", "4 concurrent writers, tampered entries", code=concurrent, expect="ok", own_cache=True,
                      setup=tamper("derivations", _each(lambda p: p.write_bytes(b"{")))))
    cases.append(Case("cache", "KERNELALG_CACHE empty (default location in HOME)", argv=CACHE_EVAL, expect="ok",
                      env={"KERNELALG_CACHE": ""}, check=lambda d, out: cache_values_ok(json.loads(out))))
    return cases


# --------------------------------------------------------------------------- big inputs, numeric edge cases (API)
def edge_cases() -> list[Case]:
    def kernel_case(name, X, expect="ok", sb=0.0, pair="sign", extra="", Y=None, tol=1e-12, limit=None):
        """``limit``: reference points (the zero row as the limit of a vanishing one)."""
        psi = "'gaussian'" if pair == "sign" else "None"
        phi = "'sign'" if pair == "sign" else "'erf'"
        code = (f"from kernelalg.numeric.kernels import Kernel\nX = {X}\nY = {Y}\n"
                f"K = Kernel({phi}, {psi}, depth=2, sigma_b={sb})(X, Y{extra})\n"
                f"S, I = REF.deep_reference({limit or 'X'}, Y, 2, 1.0, {sb}, {pair!r})\n"
                f"ok = REF.close(K.nngp, S, {tol}) and REF.close(K.sgntk, I, {tol})")
        return Case("edge", name, code=code, expect=expect)

    unit = "np.array([[1.0, 0.0], [0.6, 0.8], [-0.28, 0.96]])"
    cases = []
    for pair in ("sign", "erf"):
        for scale in ("1e-150", "1e150", "1e-300", "1e300", "1e-310"):
            cases.append(kernel_case(f"{pair}: inputs of norm {scale}", f"{unit} * {scale}", "either", pair=pair))
        # sign: no limit (the value depends on the direction of approach); erf: continuous
        cases.append(kernel_case(f"{pair}: a zero row, sigma_b = 0",
                                 "np.array([[1.0, 0.0], [0.0, 0.0], [0.6, 0.8]])", "error" if pair == "sign" else "either",
                                 pair=pair, limit="np.array([[1.0, 0.0], [0.0, 1e-200], [0.6, 0.8]])"))
        cases.append(kernel_case(f"{pair}: a zero row, sigma_b = 0.1",
                                 "np.array([[1.0, 0.0], [0.0, 0.0], [0.6, 0.8]])", "ok", sb=0.1, pair=pair))
        cases.append(kernel_case(f"{pair}: near-antipodal pair", "np.array([[1.0, 0.0], [-1.0, 1e-9]])", "either",
                                 pair=pair))
        cases.append(kernel_case(f"{pair}: mixed norms 1e-100 and 1e100",
                                 "np.array([[1e-100, 0.0], [0.0, 1e100]])", "either", pair=pair))
        cases.append(kernel_case(f"{pair}: unit inputs (control)", unit, "ok", pair=pair))
    cases += [
        kernel_case("list input", "[[1.0, 0.0], [0.6, 0.8]]", "ok"),
        kernel_case("integer input", "np.array([[1, 0], [0, 2]])", "ok"),
        kernel_case("dimension 20000, 2 points", "np.random.default_rng(0).normal(size=(2, 20000))", "ok", tol=1e-9),
        kernel_case("X and Y", unit, "ok", Y="np.array([[0.3, -0.4]])"),
    ]
    bad_inputs = {
        "complex input": "np.array([[1.0 + 1j, 0.0], [0.0, 1.0]])",
        "bool input": "np.array([[True, False], [False, True]])",
        "datetime input": "np.array([['2020-01-01', '2020-01-02']], dtype='datetime64[D]')",
        "object array of strings": "np.array([['1', 'a'], ['2', 'b']], dtype=object)",
        "ragged list": "[[1.0, 2.0], [3.0]]",
        "NaN input": "np.array([[np.nan, 0.0]])",
        "inf input": "np.array([[np.inf, 0.0]])",
        "3-D input": "np.ones((2, 2, 2))",
        "empty input": "np.ones((0, 2))",
        "None": "None",
        "a string": "'abc'",
    }
    for name, X in bad_inputs.items():
        cases.append(Case("edge", f"Kernel on {name}",
                          code=f"from kernelalg.numeric.kernels import Kernel\nK = Kernel('sign', 'gaussian')({X})"))
    bad_kernels = {
        "depth=0": "depth=0", "depth=True": "depth=True", "depth=2.0": "depth=2.0", "depth=10**6": "depth=10**6",
        "depth=10**30": "depth=10**30", "sigma_w=1e200": "sigma_w=1e200", "sigma_w=-1": "sigma_w=-1",
        "sigma_w='1'": "sigma_w='1'", "sigma_w=None": "sigma_w=None", "sigma_b=nan": "sigma_b=float('nan')",
        "sigma_b=1e200": "sigma_b=1e200", "sigma_w=1j": "sigma_w=1j",
    }
    for name, kw in bad_kernels.items():
        cases.append(Case("edge", f"Kernel({name})",
                          code=f"from kernelalg.numeric.kernels import Kernel\nK = Kernel('sign', 'gaussian', {kw})"
                               f"(np.eye(2))"))
    calls = {
        "outputs=('bogus',)": "outputs=('bogus',)", "block_rows=0": "block_rows=0", "block_rows=-3": "block_rows=-3",
        "workers=0": "workers=0", "workers=-1": "workers=-1", "Y of another dimension": "np.ones((2, 3))",
    }
    for name, arg in calls.items():
        expect = "either" if name.startswith("workers") else "error"
        cases.append(Case("edge", f"Kernel call {name}",
                          code=f"from kernelalg.numeric.kernels import Kernel\nX = np.eye(2)\n"
                               f"K = Kernel('sign', 'gaussian')(X, {arg})\nS, I = REF.deep_reference(X, None, 1)\n"
                               f"ok = REF.close(K.nngp, S, 1e-12)", expect=expect))
    cases += [
        Case("edge", "Kernel on N = 60000 points (needs 86 GB)",
             code="from kernelalg.numeric.kernels import Kernel, circle\nKernel('sign', 'gaussian')(circle(60000))"),
        Case("edge", "Kernel on N = 60000 points, nngp only",
             code="from kernelalg.numeric.kernels import Kernel, circle\n"
                  "Kernel('sign', 'gaussian')(circle(60000), outputs=('nngp',))"),
        Case("edge", "Kernel on 60000 x 100 (fits)",
             code="from kernelalg.numeric.kernels import Kernel, circle\nX = circle(60000)\n"
                  "K = Kernel('sign', 'gaussian', depth=2)(X, X[:100], outputs=('nngp',))\n"
                  "S, I = REF.deep_reference(X[:5], X[:3])\nok = REF.close(K.nngp[:5, :3], S, 1e-12)", expect="ok"),
        Case("edge", "diagonal of a zero row, sigma_b = 0",
             code="from kernelalg.numeric.kernels import Kernel\nd = Kernel('sign', 'gaussian').diagonal(np.zeros((1, 2)))\n"
                  "ok = np.isfinite(d.nngp).all() and np.isfinite(d.sgntk).all()", expect="either"),
        Case("edge", "layer map at complex covariance",
             code="import kernelalg\nkernelalg.layer_maps('sign', 'gaussian').nngp(1.0, 1.0, 0.5 + 1j)"),
        Case("edge", "layer map at a = 1e-300",
             code="import kernelalg\nv = kernelalg.layer_maps('sign', 'gaussian').evaluate(1e-300, 1.0, 0.0)\n"
                  "ok = all(v[k] is not None and np.isfinite(v[k]) for k in ('nngp', 'sg', 'surrogate'))",
             expect="either"),
        Case("edge", "predict with complex targets",
             code="from kernelalg.numeric.kernels import Kernel\nfrom kernelalg.numeric.inference import predict\n"
                  "predict(Kernel('sign', 'gaussian'), np.eye(3), np.ones(3) + 1j, np.eye(3))"),
        Case("edge", "predict with eta=0",
             code="from kernelalg.numeric.kernels import Kernel\nfrom kernelalg.numeric.inference import predict\n"
                  "predict(Kernel('sign', 'gaussian'), np.eye(3), np.ones(3), np.eye(3), eta=0)"),
        Case("edge", "predict on duplicate training points",
             code="from kernelalg.numeric.kernels import Kernel\nfrom kernelalg.numeric.inference import predict\n"
                  "predict(Kernel('sign', 'gaussian'), np.ones((3, 2)), np.ones(3), np.eye(2))"),
    ]
    return cases


# --------------------------------------------------------------------------- Dask
DASK_PRE = ("import distributed\nfrom kernelalg.adapters.dask import gram, to_disk\n"
            "from kernelalg.numeric.kernels import Kernel\n"
            "X = np.random.default_rng(0).normal(size=(60, 3))\n"
            "kernel = Kernel('sign', 'gaussian', depth=2, sigma_b=0.1)\n"
            "dense = kernel(X).sgntk\n")
CLUSTER = ("cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, "
           "dashboard_address=None)\nclient = distributed.Client(cluster)\n")


def dask_cases() -> list[Case]:
    def case(name, body, expect="ok", timeout=None):
        return Case("dask", name, code=DASK_PRE + body, expect=expect, timeout=timeout)

    return [
        case("threaded scheduler equals dense", "ok = np.array_equal(gram(kernel, X, rows=16).compute(), dense)"),
        case("LocalCluster after local use", CLUSTER + "ok = np.array_equal(client.compute(gram(kernel, X, rows=16))"
             ".result(), dense)", timeout=120),
        case("LocalCluster with a fresh Kernel", CLUSTER + "fresh = Kernel('sign', 'gaussian', depth=2, sigma_b=0.1)\n"
             "ok = np.array_equal(client.compute(gram(fresh, X, rows=16)).result(), dense)", timeout=120),
        case("LocalCluster, X and Y", CLUSTER + "Y = X[:7] * 2\n"
             "ok = np.array_equal(client.compute(gram(kernel, X, Y, rows=16)).result(), kernel(X, Y).sgntk)",
             timeout=120),
        case("to_disk .npy with a client", CLUSTER + "to_disk(gram(kernel, X, rows=16), DIR / 'K.npy', client=client)\n"
             "ok = np.array_equal(np.load(DIR / 'K.npy'), dense)", timeout=120),
        case("to_disk .zarr with a client", CLUSTER + "import zarr\n"
             "to_disk(gram(kernel, X, rows=16), DIR / 'K.zarr', client=client)\n"
             "ok = np.array_equal(zarr.open(str(DIR / 'K.zarr'), mode='r')[:], dense)", timeout=120),
        case("to_disk .npy threaded", "to_disk(gram(kernel, X, rows=16), DIR / 'K.npy')\n"
             "ok = np.array_equal(np.load(DIR / 'K.npy'), dense)"),
        case("to_disk onto an existing file", "(DIR / 'K.npy').write_text('precious')\n"
             "try:\n    to_disk(gram(kernel, X, rows=16), DIR / 'K.npy')\n"
             "finally:\n    assert (DIR / 'K.npy').read_text() == 'precious', 'overwritten'", expect="error"),
        case("to_disk overwrite=True", "(DIR / 'K.npy').write_text('old')\n"
             "to_disk(gram(kernel, X, rows=16), DIR / 'K.npy', overwrite=True)\n"
             "ok = np.array_equal(np.load(DIR / 'K.npy'), dense)"),
        case("to_disk onto an existing .zarr", "import zarr\n(DIR / 'K.zarr').mkdir()\n(DIR / 'K.zarr' / 'keep').write_text('x')\n"
             "try:\n    to_disk(gram(kernel, X, rows=16), DIR / 'K.zarr')\n"
             "finally:\n    assert (DIR / 'K.zarr' / 'keep').exists(), 'overwritten'", expect="error"),
        case("to_disk missing parent", "to_disk(gram(kernel, X, rows=16), DIR / 'no' / 'K.npy')", expect="error"),
        case("to_disk unwritable folder", "(DIR / 'ro').mkdir()\n(DIR / 'ro').chmod(0o555)\n"
             "to_disk(gram(kernel, X, rows=16), DIR / 'ro' / 'K.npy')", expect="error"),
        case("to_disk unknown suffix", "to_disk(gram(kernel, X, rows=16), DIR / 'K.csv')", expect="error"),
        case("gram with an unknown output", "gram(kernel, X, output='bogus').compute()", expect="error"),
        case("gram with NaN points", "gram(kernel, np.full((3, 3), np.nan)).compute()", expect="error"),
        case("gram rows=0", "ok = np.array_equal(gram(kernel, X, rows=0).compute(), dense)", expect="either"),
        case("a worker killed mid-computation", CLUSTER + textwrap.dedent("""
            import os, signal, threading, time
            big = np.random.default_rng(1).normal(size=(3000, 3))
            future = client.compute(gram(kernel, big, rows=20))
            pids = list(client.run(os.getpid).values())
            time.sleep(0.5)
            os.kill(pids[0], signal.SIGKILL)
            ok = np.array_equal(future.result(), kernel(big).sgntk)
        """), timeout=150),
    ]


# --------------------------------------------------------------------------- running
DRIVER = textwrap.dedent("""
    import json, math, sys, traceback
    from pathlib import Path
    import numpy as np
    import hostile as REF
    DIR = Path(sys.argv[2])
    namespace = {"np": np, "math": math, "REF": REF, "DIR": DIR, "CACHE_CHECK": REF.cache_values_ok}
    try:
        exec(sys.argv[1], namespace)
        status = "ok" if namespace.get("ok", True) else "wrong"
        message = ""
    except Exception as exc:
        from kernelalg.errors import KernelalgError
        status = "error" if isinstance(exc, KernelalgError) else "traceback"
        message = f"{type(exc).__name__}: {exc}"[:300]
        if status == "traceback":
            traceback.print_exc()
    print("HOSTILE " + json.dumps({"status": status, "message": message}), flush=True)
    sys.stdout.flush()
    import os
    os._exit(0)
""")


def _limits(fsize: int | None):
    def apply():
        os.setsid()
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    return apply


def run_case(case: Case, index: int, root: Path, work: Path, timeout: float, slow_timeout: float) -> dict:
    folder = work / f"case{index:04d}"
    folder.mkdir()
    cache = folder / "cache" if case.own_cache else work / f"cache-{case.category}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERNELALG")}
    env.update({"PYTHONPATH": f"{root}{os.pathsep}{HERE}", "KERNELALG_CACHE": str(cache), "HOME": str(folder),
                "MPLBACKEND": "Agg", "PYTHONWARNINGS": "ignore"})
    if case.expect == "error":  # a short derivation budget, well inside the timeout
        env["KERNELALG_DERIVE_SECONDS"] = "20"
    env.update(case.env)
    if case.own_cache and case.setup is not None:
        template_cache(root, env)
    if case.setup is not None:
        case.setup(folder, cache)
    if case.argv is not None:
        cmd = [sys.executable, "-m", "kernelalg", *(a.replace("{dir}", str(folder)) for a in case.argv)]
    else:
        cmd = [sys.executable, "-c", DRIVER, case.code.replace("{dir}", str(folder)), str(folder)]
    if os.geteuid() == 0 and shutil.which("setpriv"):  # root: drop the right to ignore file permissions
        cmd = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-all", "--", *cmd]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_limits(case.fsize_limit))
    try:
        out, err = proc.communicate(timeout=case.timeout or (timeout if case.expect == "error" else slow_timeout))
        hang = False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        out, err = proc.communicate()
        hang = True
    seconds = time.perf_counter() - start
    outcome, detail = classify(case, hang, proc.returncode, out, err, folder)
    for p in [folder, *folder.rglob("*")]:  # let the clean-up remove read-only folders
        try:
            if p.is_dir() and not p.is_symlink():
                p.chmod(0o755)
        except OSError:
            pass
    cache.parent.chmod(0o755) if cache.parent.exists() else None
    return {"category": case.category, "name": case.name, "expect": case.expect, "outcome": outcome,
            "detail": detail, "seconds": round(seconds, 2)}


def classify(case: Case, hang: bool, code: int, out: str, err: str, folder: Path) -> tuple[str, str]:
    if hang:
        return "hang", ""
    if case.argv is not None:
        lines = [line for line in err.strip().splitlines() if line.strip()]
        if code == 2 and len(lines) == 1 and lines[0].startswith("kernelalg: error: "):
            status, detail = "error", lines[0]
        elif code == 0:
            try:
                status = "ok" if case.check is None or case.check(folder, out) else "wrong"
            except Exception as exc:  # unreadable output: not the right result
                status = "wrong"
                err = f"check failed: {type(exc).__name__}: {exc}"
            detail = err.strip()[-300:]
        else:
            status, detail = "traceback", f"exit {code}: " + (err.strip().splitlines() or [""])[-1][:300]
    else:
        tail = [line for line in out.splitlines() if line.startswith("HOSTILE ")]
        if not tail:
            status, detail = "traceback", f"crashed (exit {code}): " + (err.strip().splitlines() or [""])[-1][:300]
        else:
            result = json.loads(tail[-1][len("HOSTILE "):])
            status, detail = result["status"], result["message"]
            if status == "traceback":
                detail = detail or (err.strip().splitlines() or [""])[-1][:300]
    if status == "error":
        return ("clear error" if case.expect != "ok" else "valid input rejected"), detail
    if status == "ok":
        return ("correct result" if case.expect != "error" else "wrong result, exit 0"), detail
    if status == "wrong":
        return "wrong result, exit 0", detail
    return "traceback", detail


CATEGORIES = {
    "expressions": ("expressions (CLI and API)", expression_cases),
    "files": ("numeric inputs, files, output paths", file_cases),
    "cache": ("cache (tampering, unwritable, full, concurrent)", cache_cases),
    "edge": ("big inputs and numeric edge cases (API)", edge_cases),
    "dask": ("Dask adapter", dask_cases),
}


def table(results: list[dict]) -> str:
    lines = ["| category | tried | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 2) + "|"]
    for key, (title, _) in CATEGORIES.items():
        rows = [r for r in results if r["category"] == key]
        if not rows:
            continue
        counts = Counter(r["outcome"] for r in rows)
        lines.append(f"| {title} | {len(rows)} | " + " | ".join(str(counts[c]) for c in COLUMNS) + " |")
    counts = Counter(r["outcome"] for r in results)
    lines.append(f"| total | {len(results)} | " + " | ".join(str(counts[c]) for c in COLUMNS) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(REPO), help="source tree under test")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds before a case that should end in an error counts as a hang")
    parser.add_argument("--slow-timeout", type=float, default=900.0,
                        help="the same for cases with a result to compute (cold derivations take a while)")
    parser.add_argument("--only", action="append", choices=tuple(CATEGORIES), help="run only these categories")
    parser.add_argument("--match", default="", help="run only cases whose name contains this text")
    parser.add_argument("--json", help="write every case's outcome to this file")
    parser.add_argument("--rerun", help="results of an earlier run: rerun its hangs of cases with a result")
    args = parser.parse_args()
    cases = [c for key, (_, make) in CATEGORIES.items() if not args.only or key in args.only for c in make()
             if args.match in c.name]
    earlier = json.loads(Path(args.rerun).read_text()) if args.rerun else []
    if earlier:
        again = {(r["category"], r["name"]) for r in earlier if r["outcome"] == "hang" and r["expect"] != "error"}
        cases = [c for c in cases if (c.category, c.name) in again]
    root = Path(args.root).resolve()
    work = Path(tempfile.mkdtemp(prefix="hostile-"))
    print(f"{len(cases)} cases against {root} ({args.jobs} at a time, timeouts {args.timeout:g} s / "
          f"{args.slow_timeout:g} s); work in {work}", flush=True)
    done = []

    def one(item):
        i, case = item
        result = run_case(case, i, root, work, args.timeout, args.slow_timeout)
        done.append(result)
        if result["outcome"] not in ("clear error", "correct result"):
            print(f"  [{result['outcome']}] {case.category}: {case.name}  {result['detail'][:160]}", flush=True)
        return result

    start = time.perf_counter()
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(one, enumerate(cases)))
    if earlier:
        redone = {(r["category"], r["name"]): r for r in results}
        results = [redone.get((r["category"], r["name"]), r) for r in earlier]
    print(f"\n{time.perf_counter() - start:.0f} s\n\n" + table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    shutil.rmtree(work, ignore_errors=True)
    if "path" in _TEMPLATE:
        shutil.rmtree(_TEMPLATE["path"], ignore_errors=True)


if __name__ == "__main__":
    main()
