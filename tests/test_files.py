"""Outputs are written atomically and never over an existing file unless asked; input arrays are
read with clear errors (kernelalg.files)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from kernelalg import files
from kernelalg.errors import InputError, OutputError


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_write_replace_and_refuse(tmp_path):
    path = tmp_path / "out.txt"
    files.write_text(path, "first")
    with pytest.raises(OutputError, match="exists"):
        files.write_text(path, "second")
    assert path.read_text() == "first"
    files.write_text(path, "second", overwrite=True)
    assert path.read_text() == "second" and _leftovers(tmp_path) == []


def test_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "K.npz"
    path.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with files.replacing(path, overwrite=True) as tmp:
            tmp.write_bytes(b"partial")
            raise KeyboardInterrupt
    assert path.read_bytes() == b"old" and _leftovers(tmp_path) == []
    with pytest.raises(KeyboardInterrupt):
        with files.replacing(tmp_path / "new.npz") as tmp:
            tmp.write_bytes(b"partial")
            raise KeyboardInterrupt
    assert not (tmp_path / "new.npz").exists() and _leftovers(tmp_path) == []


def test_a_file_that_appears_meanwhile_is_not_replaced(tmp_path):
    path = tmp_path / "race.txt"
    with pytest.raises(OutputError, match="exists"):
        with files.replacing(path) as tmp:
            tmp.write_text("mine")
            path.write_text("theirs")
    assert path.read_text() == "theirs" and _leftovers(tmp_path) == []


def test_folders_are_replaced_whole(tmp_path):
    store = tmp_path / "K.zarr"
    with files.replacing(store, folder=True) as tmp:
        (tmp / "a").write_text("1")
    with pytest.raises(OutputError, match="exists"):
        with files.replacing(store, folder=True) as tmp:
            (tmp / "b").write_text("2")
    with files.replacing(store, overwrite=True, folder=True) as tmp:
        (tmp / "b").write_text("2")
    assert sorted(p.name for p in store.iterdir()) == ["b"] and _leftovers(tmp_path) == []


BAD_TARGETS = [
    ("no/such/folder/out.txt", "does not exist"),
    ("a_file/out.txt", "is not a folder"),
    ("a_folder", "is a folder"),
    ("", "empty output path"),
]


@pytest.mark.parametrize("name,message", BAD_TARGETS)
def test_bad_targets_are_clear_errors(tmp_path, name, message):
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "a_folder").mkdir()
    with pytest.raises(OutputError, match=message):
        files.write_text(tmp_path / name if name else "", "text", overwrite=True)


def test_unwritable_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        if os.access(folder, os.W_OK):  # root ignores permissions: covered by benchmarks/hostile.py
            pytest.skip("running with the right to ignore file permissions")
        with pytest.raises(OutputError, match="cannot write"):
            files.write_text(folder / "out.txt", "text")
    finally:
        folder.chmod(0o755)


def test_full_disk_is_a_clear_error(tmp_path):
    """A write beyond the file size limit fails like a full disk: OutputError, no partial file."""
    code = ("import resource, sys\nresource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))\n"
            "from kernelalg import files\nfrom kernelalg.errors import OutputError\n"
            "try:\n    files.write_text(sys.argv[1], 'x' * 100000)\nexcept OutputError as exc:\n    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "big.txt")], capture_output=True, text=True,
                         check=True).stdout
    assert "cannot write" in out and not (tmp_path / "big.txt").exists() and _leftovers(tmp_path) == []


def _npy(tmp_path, array):
    np.save(tmp_path / "a.npy", array)
    return (tmp_path / "a.npy").read_bytes()


BAD_ARRAYS = {
    "empty file": lambda p: b"",
    "text": lambda p: b"1,2\n3,4\n",
    "bad header": lambda p: b"\x93NUMPY\x01\x00garbage header\n" + b"\0" * 40,
    "truncated": lambda p: _npy(p, np.ones((50, 3)))[:-100],
    "pickled objects": lambda p: (np.save(p / "o.npy", np.array([{}, None], dtype=object), allow_pickle=True),
                                  (p / "o.npy").read_bytes())[1],
    "npz archive": lambda p: (np.savez(p / "z.npz", X=np.ones(3)), (p / "z.npz").read_bytes())[1],
}


@pytest.mark.parametrize("name", BAD_ARRAYS)
def test_damaged_arrays_are_input_errors(tmp_path, name):
    path = tmp_path / "points.npy"
    path.write_bytes(BAD_ARRAYS[name](tmp_path))
    with pytest.raises(InputError, match=str(path)):
        files.read_array(path, "--points")


@pytest.mark.parametrize("target", ["missing.npy", "folder", "/dev/zero"])
def test_missing_and_irregular_files_are_input_errors(tmp_path, target):
    (tmp_path / "folder").mkdir()
    with pytest.raises(InputError, match="does not exist|not a regular file"):
        files.read_array(tmp_path / target, "--points")


def test_read_array_round_trip(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(6.0).reshape(3, 2))
    assert np.array_equal(files.read_array(tmp_path / "a.npy"), np.arange(6.0).reshape(3, 2))


OUTPUT_COMMANDS = {
    "kernel --out": (["kernel", "--circle", "6", "--out", "out.npz"], "out.npz"),
    "predict --out": (["predict", "--psi", "gaussian", "--train", "X.npy", "--targets", "y.npy", "--test", "X.npy", "--out", "out.npz"],
                      "out.npz"),
    "derive --report": (["derive", "--report", "out.md"], "out.md"),
    "generate -o": (["generate", "-o", "out.py"], "out.py"),
    "plot -o": (["plot", "--pair", "sign:gaussian", "-o", "out.png"], "out.png"),
}


def _inputs_in(folder, monkeypatch):
    """Work in ``folder``, with the X.npy and y.npy that OUTPUT_COMMANDS read."""
    monkeypatch.chdir(folder)
    np.save("X.npy", np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]]))
    np.save("y.npy", np.array([1.0, -1.0, 0.5]))


#: a report cross-checks every map by nested mpmath quadrature (about a minute): with --runslow;
#: its output goes through the same files.check_target and atomic write as the others
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "derive --report" else n
                                  for n in OUTPUT_COMMANDS])
def test_commands_refuse_to_overwrite_without_force(name, tmp_path, monkeypatch, capsys):
    from kernelalg.cli import main

    argv, target = OUTPUT_COMMANDS[name]
    _inputs_in(tmp_path, monkeypatch)
    (tmp_path / target).write_bytes(b"precious")
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("kernelalg: error: ") and "--force" in err and "\n" not in err
    assert (tmp_path / target).read_bytes() == b"precious"
    assert main([*argv, "--force"]) == 0
    assert (tmp_path / target).read_bytes() != b"precious" and _leftovers(tmp_path) == []


#: folders in which nobody, root included, can create a file (Linux pseudo file systems)
CLOSED_FOLDERS = [folder for folder in ("/sys", "/proc") if os.path.isdir(folder)]


@pytest.mark.parametrize("folder", CLOSED_FOLDERS)
def test_a_folder_that_accepts_no_files_is_refused_by_the_check(folder):
    """check_target tries to create a file there, so the refusal comes before any work."""
    with pytest.raises(OutputError, match="cannot write"):
        files.check_target(os.path.join(folder, "kernelalg-out.txt"))


@pytest.mark.skipif(not CLOSED_FOLDERS, reason="no pseudo file system to write into")
@pytest.mark.parametrize("name", OUTPUT_COMMANDS)
def test_commands_refuse_an_unwritable_output_before_computing(name, tmp_path, monkeypatch, capsys):
    """One line and exit 2, with nothing computed first (the plot's progress line would be a second line)."""
    from kernelalg.cli import main

    argv, target = OUTPUT_COMMANDS[name]
    _inputs_in(tmp_path, monkeypatch)
    closed = os.path.join(CLOSED_FOLDERS[0], f"kernelalg-{target}")
    assert main([closed if a == target else a for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"kernelalg: error: cannot write {closed}") and "\n" not in err
