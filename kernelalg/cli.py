"""Command line: thin argparse front end over the library.

Every command module exposes ``register(subparsers)`` which adds its parser and sets
``func`` (a callable taking the parsed namespace and returning an exit code).
Library errors (:class:`kernelalg.errors.KernelalgError`) become a one-line message
on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Sequence

from kernelalg.errors import KernelalgError
from kernelalg.numeric.allocator import tune_allocator

# Modules that contribute sub-commands, in the order they appear in --help.
COMMAND_MODULES = (
    "kernelalg.commands.run",
    "kernelalg.commands.symbolic",
    "kernelalg.commands.kernels",
    "kernelalg.commands.validate",
    "kernelalg.commands.plot",
    "kernelalg.commands.spiking",
)


class Parser(argparse.ArgumentParser):
    """argparse with usage errors on one line (exit code 2) like the library's errors."""

    def error(self, message: str):
        self.exit(2, f"kernelalg: error: {self.prog}: {message}\n")


def _attach_negative_values(argv: Sequence[str]) -> list[str]:
    """``--cov -1,1,0`` -> ``--cov=-1,1,0``: argparse would read the value as an option."""
    out: list[str] = []
    for arg in argv:
        if out and out[-1].startswith("--") and "=" not in out[-1] and arg[:1] == "-" and arg[1:2].isdigit():
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"kernelalg: warning: {message}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="kernelalg",
        description="Derive, generate and validate the SG-NTK kernels of binary and spiking networks.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(_attach_negative_values(sys.argv[1:] if argv is None else argv))
    if not getattr(args, "func", None):
        parser.print_help()
        print("kernelalg: error: a command is required (listed above)", file=sys.stderr)
        return 2
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning
            return int(args.func(args) or 0)
    except KernelalgError as exc:
        print(f"kernelalg: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kernelalg: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into head & co.
        sys.stderr.close()
        return 0


def run() -> None:
    """The ``kernelalg`` command: its process is its own, so the C heap is tuned for the kernels
    (:func:`kernelalg.tune_allocator`) before :func:`main` runs."""
    tune_allocator()
    raise SystemExit(main())


if __name__ == "__main__":
    run()
