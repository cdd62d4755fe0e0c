"""The derivation cache: derived keys, integrity checks, and every way a cache can be broken
(truncated, garbage, swapped, altered, wrong types, folders in place of files, unusable
locations, a full disk, concurrent writers) ending in correct results."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kernelalg import cache
from kernelalg.codegen.module import plain_module
from kernelalg.errors import CacheWarning
from kernelalg.numeric.layermaps import JOINT, TITLES, _header
from kernelalg.symbolic.derive import derive

# sign with the standard Gaussian surrogate at a = b = 1, c = 1/2 (textbook closed forms)
EXPECTED = {"nngp": 1 / 3, "sg": 1 / (math.pi * math.sqrt(1.75)), "surrogate": 1 / (2 * math.pi * math.sqrt(3.75))}
MARKER = "kernelalg-tampered-code-ran"


def evaluate(monkeypatch) -> dict:
    """The three maps at (1, 1, 1/2), derived and generated through the cache of this process's
    KERNELALG_CACHE (generated modules already imported are forgotten first)."""
    for name in [n for n in sys.modules if n.startswith("kernelalg_generated_")]:
        monkeypatch.delitem(sys.modules, name)
    maps = derive("sign", "gaussian")
    module = plain_module(dict(maps.items()), TITLES, _header(maps), JOINT)
    alone = plain_module({"sg": maps.sg}, {"sg": "sg alone"}, "A second module (entries to swap).")
    values = {name: float(getattr(module, name)(1.0, 1.0, 0.5)) for name in EXPECTED}
    return values if float(alone.sg(1.0, 1.0, 0.5)) == values["sg"] else {}


def correct(values: dict) -> bool:
    return bool(values) and all(abs(values[k] - v) <= 1e-15 for k, v in EXPECTED.items())


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    folder = tmp_path_factory.mktemp("template-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KERNELALG_CACHE", str(folder))
        assert correct(evaluate(mp))
    return folder


@pytest.fixture
def filled(template, tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    shutil.copytree(template, folder)
    monkeypatch.setenv("KERNELALG_CACHE", str(folder))
    return folder


def _each(fn):
    return lambda files: [fn(p) for p in files]


def _swap(files):
    texts = [p.read_bytes() for p in files]
    for p, t in zip(files, texts[1:] + texts[:1]):
        p.write_bytes(t)


def _to_folder(p: Path):
    p.unlink()
    (p / "inner").mkdir(parents=True)


def _link(target: str):
    def fn(p: Path):
        p.unlink()
        p.symlink_to(target)
    return fn


def _inject(p: Path):
    p.write_text(p.read_text() + f"\nopen({str(p.parent / MARKER)!r}, 'w').write('ran')\n")


def _restamp(p: Path):
    """Wrong types under a valid hash: the checks after the hash must catch them."""
    cache.store("derivations", p.stem, ".json", json.dumps({"expr": 5, "route": 3, "diverges": "yes"}))


TAMPERING = {
    "truncated": _each(lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])),
    "empty": _each(lambda p: p.write_bytes(b"")),
    "binary garbage": _each(lambda p: p.write_bytes(bytes(range(256)) * 3)),
    "swapped between keys": _swap,
    "altered": _each(lambda p: p.write_text(re.sub(r'"expr": "[^"]*"', '"expr": "Integer(7)"', p.read_text())
                                            .replace("    return ", "    return 7 + "))),
    "folders in place of files": _each(_to_folder),
    "links to /dev/zero": _each(_link("/dev/zero")),
    "links to another file": _each(_link("/etc/hostname")),
}


@pytest.mark.parametrize("kind", ["derivations", "modules"])
@pytest.mark.parametrize("name", TAMPERING)
def test_tampered_entries_are_detected_and_replaced(filled, monkeypatch, kind, name):
    entries = sorted((filled / kind).iterdir())
    before = [p.read_bytes() for p in entries]
    TAMPERING[name](entries)
    assert [p.read_bytes() if p.is_file() else None for p in entries] != before
    assert correct(evaluate(monkeypatch))
    repaired = sorted((filled / kind).iterdir())
    assert [p.name for p in repaired] == [p.name for p in entries]
    assert all(p.is_file() and not p.is_symlink() for p in repaired)
    assert correct(evaluate(monkeypatch))  # from the repaired entries


def test_injected_code_is_never_run(filled, monkeypatch):
    _each(_inject)(sorted((filled / "modules").iterdir()))
    assert correct(evaluate(monkeypatch))
    assert not (filled / "modules" / MARKER).exists()


def test_wrong_types_under_a_valid_hash_are_discarded(filled, monkeypatch):
    _each(_restamp)(sorted((filled / "derivations").iterdir()))
    assert correct(evaluate(monkeypatch))


@pytest.mark.parametrize("where", ["location is a file", "subfolders are files"])
def test_unusable_location_warns_and_computes(tmp_path, monkeypatch, where):
    folder = tmp_path / "cache"
    if where == "location is a file":
        folder.write_text("not a folder")
    else:
        folder.mkdir()
        for kind in ("derivations", "modules"):
            (folder / kind).write_text("not a folder")
    monkeypatch.setenv("KERNELALG_CACHE", str(folder))
    monkeypatch.setattr(cache, "_warned", set())
    with pytest.warns(CacheWarning, match="computing without it"):
        assert correct(evaluate(monkeypatch))


def test_read_only_cache_is_used_for_reading(filled, monkeypatch):
    for p in [filled, *filled.rglob("*")]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        assert correct(evaluate(monkeypatch))
    finally:
        for p in [filled, *filled.rglob("*")]:
            p.chmod(0o755)


RUN = textwrap.dedent("""
    import json, kernelalg
    print(json.dumps(kernelalg.layer_maps("sign", "gaussian").evaluate(1.0, 1.0, 0.5)))
""")


def test_full_disk_still_computes(tmp_path):
    code = "import resource\nresource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))\n" + RUN
    env = {**_env(), "KERNELALG_CACHE": str(tmp_path / "cache")}
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, env=env,
                         check=True, timeout=600)
    assert correct(json.loads(out.stdout))


def test_concurrent_writers_into_an_empty_cache(tmp_path):
    env = {**_env(), "KERNELALG_CACHE": str(tmp_path / "cache")}
    procs = [subprocess.Popen([sys.executable, "-c", RUN], stdout=subprocess.PIPE, text=True, env=env)
             for _ in range(3)]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert all(correct(json.loads(out)) for out in outputs)
    again = subprocess.run([sys.executable, "-c", RUN], capture_output=True, text=True, env=env, check=True)
    assert correct(json.loads(again.stdout))
    assert not [p for p in (tmp_path / "cache").rglob(".*")]  # no temporary files left


def _env() -> dict:
    import os
    root = str(Path(__file__).resolve().parent.parent)
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}


def test_keys_follow_the_code_that_produced_the_entries(tmp_path):
    package = Path(cache.__file__).resolve().parent
    copy = tmp_path / "kernelalg"
    for name in cache.SOURCES:
        source = package / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            copy.mkdir(exist_ok=True)
            shutil.copy(source, copy / name)
    assert cache.code_fingerprint(copy) == cache.fingerprint()
    engine = copy / "symbolic" / "expectation" / "engine.py"
    engine.write_text(engine.read_text() + "\n# an edit\n")
    assert cache.code_fingerprint(copy) != cache.fingerprint()
    assert cache.key("a", "b") != cache.key("a", "c") and cache.key("a", "b") == cache.key("a", "b")


def test_results_cut_short_by_a_time_limit_are_marked_and_cached(tmp_path):
    """With a 1 ms limit on each SymPy integral (derived in a fresh single-threaded process) and the
    reduction formulas switched off, so that SymPy integrates in c, the Price route of erf is cut
    short: the route says so, and the result is cached like any other (the next call reads it,
    with its note, instead of deriving again)."""
    code = textwrap.dedent("""
        import json, os
        from kernelalg.symbolic.expectation import engine
        engine.INTEGRATE_SECONDS = 0.001
        engine.algebraic_integral = lambda expr, var, lo, hi: None
        from kernelalg.symbolic.derive import LIMIT_NOTE, expectation
        result = expectation("erf", "erf", budget=0)
        from kernelalg.symbolic import derive
        derive.expect = None  # a second derivation would fail: the cache must answer
        again = expectation("erf", "erf", budget=0)
        limited = [step for step in result.route if step.startswith(LIMIT_NOTE)]
        print(json.dumps({"limited": limited, "status": result.status, "same": again == result}))
    """)
    env = {**_env(), "KERNELALG_CACHE": str(tmp_path / "cache")}
    out = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                                    check=True, timeout=600).stdout)
    assert out["limited"] == ["time limit: a SymPy integration was stopped after 0.001 s, so a closed form may have "
                              "been missed"]
    assert out["status"] != "closed form" and out["same"]
