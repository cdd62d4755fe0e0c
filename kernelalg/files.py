"""Files on disk: input arrays read with clear errors, outputs written atomically.

Every output of the library and the command line (kernel matrices, reports, generated modules,
figures, JSON summaries, cache entries, Dask arrays) is written through :func:`replacing`: the
content goes to a temporary file (or folder) next to the target and is renamed onto it only once
complete, so an interrupted write leaves the previous state, never a truncated file.  An existing
target is replaced only when asked (``overwrite=True``, ``--force`` on the command line); without
it the final rename is a hard link that fails if the target appeared meanwhile.  A missing parent
folder, an unwritable folder or a full disk is an :class:`OutputError`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from kernelalg.errors import InputError, OutputError


def check_target(path: str | Path, overwrite: bool = False, folder: bool = False) -> Path:
    """``path`` as a Path if it can be written: its parent folder exists and accepts new files
    (tried, so that a read-only folder or file system is refused before any work) and it is not an
    existing file (or folder, with ``folder=True``) unless ``overwrite``; otherwise an OutputError."""
    if not str(path).strip():
        raise OutputError("empty output path")
    path = Path(path)
    if not path.parent.is_dir():
        state = "is not a folder" if path.parent.exists() else "does not exist"
        raise OutputError(f"cannot write {path}: {path.parent} {state}")
    if path.is_dir() != folder and path.exists():
        kind = "a folder" if path.is_dir() else "a file"
        raise OutputError(f"cannot write {path}: it is {kind}")
    if path.exists() and not overwrite:
        raise OutputError(f"{path} exists; pass overwrite=True (command line: --force) to replace it")
    _remove(_temporary(path, folder=False))
    return path


def _temporary(path: Path, folder: bool) -> Path:
    """A new empty file (or folder) beside ``path``, with its suffix; an OutputError if the folder
    does not accept one."""
    try:
        if folder:
            return Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
        os.close(fd)
        return Path(name)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None


@contextmanager
def replacing(path: str | Path, overwrite: bool = False, folder: bool = False) -> Iterator[Path]:
    """Yield a temporary path (a file, or a folder with ``folder=True``) in the target's folder,
    with the target's suffix; when the block completes, move it onto ``path``."""
    path = check_target(path, overwrite, folder)
    tmp = _temporary(path, folder)
    try:
        yield tmp
        _commit(tmp, path, overwrite)
    except OSError as exc:
        _remove(tmp)
        if isinstance(exc, OutputError):
            raise
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        _remove(tmp)
        raise


def _commit(tmp: Path, path: Path, overwrite: bool) -> None:
    """Move ``tmp`` onto ``path``: a rename when replacing is allowed, else a no-clobber link."""
    if tmp.is_dir():
        if path.exists():
            if not overwrite:
                raise OutputError(f"{path} exists; pass overwrite=True (command line: --force) to replace it")
            trash = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".old"))
            os.replace(path, trash / path.name)
            os.replace(tmp, path)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, path)
        return
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise OutputError(f"{path} exists; pass overwrite=True (command line: --force) to replace it") from None
    except OSError:  # no hard links on this file system
        if path.exists():
            raise OutputError(f"{path} exists; pass overwrite=True (command line: --force) to replace it") from None
        os.replace(tmp, path)
        return
    tmp.unlink()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def write_text(path: str | Path, text: str, overwrite: bool = False) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with replacing(path, overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def save_arrays(path: str | Path, overwrite: bool = False, **arrays: np.ndarray) -> Path:
    """Write named arrays to an ``.npz`` archive at ``path`` (the name is kept as given)."""
    with replacing(path, overwrite) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    return Path(path)


def output_folder(path: str | Path) -> Path:
    """Create the folder ``path`` (and its parents) for outputs; an OutputError if impossible."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder {path}: {exc.strerror or exc}") from None
    return path


def read_array(path: str | Path, what: str = "array") -> np.ndarray:
    """The array stored in the ``.npy`` file ``path`` (no pickled objects); an InputError if the
    file is missing, not a regular file, not a single .npy array, or damaged."""
    path = Path(path)
    if not path.is_file():
        reason = "does not exist" if not path.exists() else "is not a regular file"
        raise InputError(f"cannot read {what} from {path}: it {reason}")
    try:
        with open(path, "rb") as fh:
            data = np.load(fh, allow_pickle=False)
            if isinstance(data, np.lib.npyio.NpzFile):
                data.close()
                raise InputError(f"{path} is an .npz archive; {what} must be a .npy file holding one array")
    except InputError:
        raise
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(f"cannot read {what} from {path}: {exc}") from None
    return data
