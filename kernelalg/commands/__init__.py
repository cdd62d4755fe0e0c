"""Sub-commands of the ``kernelalg`` command line (:mod:`kernelalg.cli`) and their output options:
outputs are checked before the work starts and replace existing files only with ``--force``."""

from __future__ import annotations

from pathlib import Path

from kernelalg.files import check_target, output_folder


def add_force_argument(parser) -> None:
    parser.add_argument("--force", action="store_true", help="replace output files that already exist")


def prepare_outputs(folder: str | Path, names: list[str], force: bool) -> list[Path]:
    """Create the output folder and check that each named file in it may be written."""
    out = output_folder(folder)
    return [check_target(out / name, force) for name in names]
