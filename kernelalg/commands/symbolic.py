"""Commands of the symbolic layer: derive, eval, catalog, generate."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import sympy as sp

from kernelalg.commands import add_force_argument
from kernelalg.errors import InputError
from kernelalg.files import check_target, write_text
from kernelalg.numeric.layermaps import generate_source, layer_maps
from kernelalg.reports import report
from kernelalg.symbolic.catalog import PRESETS, entries
from kernelalg.symbolic.derive import derive
from kernelalg.symbolic.maps import MAP_NAMES

PAIR_HELP = ("catalog name with keyword parameters (e.g. 'erf(m=3)', 'gaussian(sigma=0.5)', "
             "'snntorch.atan') or an expression in x (e.g. 'Heaviside(x - 1/2)')")


def add_pair_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--phi", default="sign", help=f"activation: {PAIR_HELP} (default: sign)")
    parser.add_argument("--psi", default=None, help="surrogate derivative, same syntax (default: phi')")


def parse_floats(text: str, count: int, name: str) -> list[float]:
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise InputError(f"{name} must be {count} comma-separated numbers, got {text!r}") from None
    if len(values) != count:
        raise InputError(f"{name} must be {count} comma-separated numbers, got {len(values)}")
    return values


def _derive(args) -> int:
    if args.report:
        path = Path(args.report)
        if path.suffix not in (".md", ".tex"):
            raise InputError(f"--report must end in .md or .tex, got {path.name!r}")
        check_target(path, args.force)
        write_text(path, report(args.phi, args.psi, path.suffix[1:]), args.force)
        print(f"derivation report -> {path}")
        return 0
    maps = derive(args.phi, args.psi)
    # maps without a closed form: their compiled status and measured bound (from the cached module)
    compiled = layer_maps(args.phi, args.psi) if not all(e.closed_form for _, e in maps.items()) else None
    status = {name: compiled.status(name) if compiled else e.status for name, e in maps.items()}
    bounds = {name: compiled.error_bound(name) if compiled else None for name, _ in maps.items()}
    if args.json:
        print(json.dumps({
            "phi": str(maps.phi.expr), "psi": str(maps.psi.expr),
            "maps": {name: {"expr": sp.sstr(e.expr), "latex": e.latex, "status": status[name],
                            "closed_form": e.closed_form, "route": list(e.route), "diverges": e.diverges,
                            "max_rel_error": bounds[name]}
                     for name, e in maps.items()},
        }, indent=2))
        return 0
    print(f"phi = {maps.phi.expr}    psi = {maps.psi.expr}    (u, v) ~ N(0, [[a, c], [c, b]])\n")
    for name, e in maps.items():
        print(f"{name}  [{status[name]}{'; infinite where c^2 = ab' if e.diverges else ''}]")
        print("  route: " + "\n         ".join(e.route))
        print("  " + sp.pretty(e.expr, use_unicode=True).replace("\n", "\n  "))
        print(f"  LaTeX: {e.latex}\n")
    return 0


def _eval(args) -> int:
    a, b, c = parse_floats(args.cov, 3, "--cov")
    maps = layer_maps(args.phi, args.psi)
    values = maps.evaluate(a, b, c)
    if args.json:
        values["status"] = {name: maps.status(name) for name in MAP_NAMES}
        values["max_rel_error"] = {name: maps.error_bound(name) for name in MAP_NAMES}
        print(json.dumps(values))
    else:
        for name in MAP_NAMES:
            value = values[name]
            shown = "inf (diverges: c^2 = ab)" if value is None else repr(value)
            print(f"{name:10s} {shown:26s} [{maps.status(name)}]")
    return 0


def _catalog(args) -> int:
    rows = [(e.name, e.kind, e.template, ", ".join(f"{k}={v:g}" for k, v in e.defaults),
             ", ".join(e.aliases)) for e in entries()]
    if args.json:
        print(json.dumps({"entries": [dict(zip(("name", "kind", "formula", "parameters", "aliases"), r)) for r in rows],
                          "presets": {k: {"entry": v[0], "parameters": v[1]} for k, v in PRESETS.items()}}, indent=2))
        return 0
    print(f"{'name':18s} {'kind':11s} {'formula':64s} parameters")
    for name, kind, formula, params, aliases in rows:
        print(f"{name:18s} {kind:11s} {formula:64s} {params}" + (f"   (alias: {aliases})" if aliases else ""))
    print("\nlibrary presets:")
    for name, (entry, params) in PRESETS.items():
        print(f"  {name:24s} = {entry}({', '.join(f'{k}={v:g}' for k, v in params.items())})")
    return 0


def _generate(args) -> int:
    if args.output != "-":
        check_target(args.output, args.force)
    text = generate_source(args.phi, args.psi)
    if args.output == "-":
        print(text, end="")
    else:
        write_text(args.output, text, args.force)
        print(f"wrote {args.output}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("derive", help="derive the four layer maps of an activation/surrogate pair")
    add_pair_arguments(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--report", metavar="FILE", help="write a derivation report (FILE.md or FILE.tex)")
    add_force_argument(p)
    p.set_defaults(func=_derive)

    p = sub.add_parser("eval", help="evaluate the four layer maps at one covariance")
    add_pair_arguments(p)
    p.add_argument("--cov", required=True, help="a,b,c of the covariance [[a, c], [c, b]]")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_eval)

    p = sub.add_parser("catalog", help="list the named activations, surrogates and library presets")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_catalog)

    p = sub.add_parser("generate", help="write the generated NumPy module of a pair's layer maps")
    add_pair_arguments(p)
    p.add_argument("-o", "--output", required=True, help="output .py file ('-' for stdout)")
    add_force_argument(p)
    p.set_defaults(func=_generate)
