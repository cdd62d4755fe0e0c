"""``kernelalg plot``: compare layer maps and deep kernels of several pairs in one figure."""

from __future__ import annotations

from kernelalg.commands import add_force_argument
from kernelalg.errors import InputError
from kernelalg.plots import compare


def _pair(text: str) -> tuple[str, str | None]:
    phi, sep, psi = text.partition(":")
    if not phi.strip():
        raise InputError(f"--pair must be PHI or PHI:PSI, got {text!r}")
    return phi.strip(), (psi.strip() or None) if sep else None


def _plot(args) -> int:
    pairs = [_pair(p) for p in args.pair] or [("sign", "gaussian"), ("sign", "atan"), ("sign", "superspike(k=5)"),
                                              ("sign", "triangle")]
    path = compare(pairs, args.out, args.depth, args.sigma_w, args.sigma_b, overwrite=args.force)
    print(f"figure -> {path}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("plot", help="plot layer maps against rho and deep kernels on the circle for several pairs")
    p.add_argument("--pair", action="append", default=[], metavar="PHI[:PSI]",
                   help="a pair, e.g. 'sign:gaussian' (repeatable; default: sign with four surrogates)")
    p.add_argument("--depth", type=int, default=2, help="hidden layers (default: 2)")
    p.add_argument("--sigma-w", type=float, default=1.0)
    p.add_argument("--sigma-b", type=float, default=0.1)
    p.add_argument("-o", "--out", default="kernelalg-comparison.png", help="output file (.png or .svg)")
    add_force_argument(p)
    p.set_defaults(func=_plot)
