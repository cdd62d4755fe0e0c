"""On-disk cache shared by the derivation and code-generation layers.

Entries are keyed by a SHA-256 of the package version, a layer revision and the canonical
text of the inputs, and written atomically (temporary file + ``os.replace``), so concurrent
processes never read a half-written entry.  The folder is ``$KERNELALG_CACHE`` or
``~/.cache/kernelalg``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from kernelalg import __version__


def cache_dir() -> Path:
    root = os.environ.get("KERNELALG_CACHE") or Path.home() / ".cache" / "kernelalg"
    return Path(root)


def key(*parts: str) -> str:
    """Hex digest identifying an entry: version plus the canonical inputs."""
    return hashlib.sha256(json.dumps([__version__, *parts]).encode()).hexdigest()[:32]


def path_for(kind: str, digest: str, suffix: str) -> Path:
    return cache_dir() / kind / f"{digest}{suffix}"


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see either the old or the complete new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
