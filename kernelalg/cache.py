"""On-disk cache of derivations and generated modules, keyed by what produced them.

The folder is ``$KERNELALG_CACHE`` or ``~/.cache/kernelalg``.  A key is the SHA-256 of the
package version, the SymPy, NumPy and mpmath versions, a fingerprint of the source files of the
engine, the code generator and the table builder (``kernelalg/symbolic``, ``kernelalg/codegen``,
``kernelalg/numeric/compiled`` and this module) and
the canonical text of the inputs, so any change of the code that produces an entry gives new keys.

Each entry is one text file whose last line records the SHA-256 of its key and content.  Entries
are written atomically (:func:`kernelalg.files.replacing`) and checked on every load: an entry that
is not a small regular file, cannot be read or decoded, is truncated, altered or belongs to
another key is deleted and the caller computes it again.  (This detects damage and misplaced
entries; it is no defence against someone who can write the cache folder and recompute hashes.)
A cache that cannot be used at all (missing and not creatable, read-only, full, not a folder)
never stops a computation: it is skipped, with one :class:`~kernelalg.errors.CacheWarning`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import stat
import warnings
from pathlib import Path

import mpmath
import numpy
import sympy

from kernelalg import __version__
from kernelalg.errors import CacheWarning
from kernelalg.files import replacing

_PACKAGE = Path(__file__).resolve().parent
SOURCES = ("symbolic", "codegen", "numeric/compiled", "cache.py")  # the code whose output is cached (package-relative)
MAX_ENTRY_BYTES = 64 << 20
_TRAILER = "# kernelalg-cache sha256 "
_warned: set[str] = set()  # cache folders already reported unusable


def cache_dir() -> Path:
    root = os.environ.get("KERNELALG_CACHE") or Path.home() / ".cache" / "kernelalg"
    return Path(root)


@functools.cache
def fingerprint() -> str:
    """The fingerprint of this installation's engine and code generator (computed once)."""
    return code_fingerprint(_PACKAGE)


def code_fingerprint(package: Path) -> str:
    """SHA-256 of the package, SymPy, NumPy and mpmath versions and of the SOURCES under ``package``."""
    digest = hashlib.sha256(json.dumps([__version__, sympy.__version__, numpy.__version__,
                                        mpmath.__version__]).encode())
    for name in SOURCES:
        root = package / name
        for path in sorted(root.rglob("*.py")) if root.is_dir() else [root]:
            digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def key(*parts: str) -> str:
    """Hex digest identifying an entry: the code fingerprint plus the canonical inputs."""
    return hashlib.sha256(json.dumps([fingerprint(), *parts]).encode()).hexdigest()[:32]


def path_for(kind: str, digest: str, suffix: str) -> Path:
    return cache_dir() / kind / f"{digest}{suffix}"


def _seal(digest: str, text: str) -> str:
    return hashlib.sha256(f"{digest}\0{text}".encode()).hexdigest()


def load(kind: str, digest: str, suffix: str) -> str | None:
    """The checked content of an entry, or None (absent, or damaged and now deleted)."""
    path = path_for(kind, digest, suffix)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return None
    except NotADirectoryError:  # the kind's folder is a file: store() reports it
        return None
    except OSError:  # a symbolic link, a folder, unreadable
        discard(path)
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_ENTRY_BYTES:
            raise ValueError("not a small regular file")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            text = fh.read(MAX_ENTRY_BYTES + 1).decode("utf-8")
        body, _, trailer = text.rstrip("\n").rpartition("\n")
        if trailer != _TRAILER + _seal(digest, body + "\n"):
            raise ValueError("content does not match its hash")
    except (OSError, ValueError):  # UnicodeDecodeError is a ValueError
        discard(path)
        return None
    finally:
        os.close(fd)
    return body + "\n"


def store(kind: str, digest: str, suffix: str, text: str) -> Path | None:
    """Write an entry (``text`` ends with a newline); its path, or None if the cache is unusable."""
    path = path_for(kind, digest, suffix)
    text = text if text.endswith("\n") else text + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir() and not path.is_symlink():
            discard(path)
        with replacing(path, overwrite=True) as tmp:
            tmp.write_text(f"{text}{_TRAILER}{_seal(digest, text)}\n", encoding="utf-8")
    except OSError as exc:  # includes OutputError
        root = str(cache_dir())
        if root not in _warned:
            _warned.add(root)
            warnings.warn(f"cannot write to the cache {root} ({exc}); computing without it", CacheWarning,
                          stacklevel=2)
        return None
    return path


def discard(path: Path) -> None:
    """Remove a damaged entry (a file, link or folder); failures are ignored (reported on store)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
        return
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass
