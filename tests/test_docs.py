"""The repository is self-contained: nothing in it points to documents or paths outside it, and
every pointer into ``docs/`` resolves (the file exists, and a cited section is a numbered heading
of that file), as does every relative link of a Markdown file."""

from __future__ import annotations

import os
import re
import subprocess
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
#: Folders that are never part of the repository's content (build output, environments, caches).
SKIP_DIRS = {".git", "__pycache__", ".pytest_cache", ".hypothesis", "build", "dist", ".venv", ".ci-venv",
             "kernelalg-output"}

# The patterns are split so that this file does not contain the strings it forbids.
FORBIDDEN = (
    (re.compile(r"\b(?:MATH|SPIKING|SURROGATES|ARCHITECTURE)" + r"\.md\b"), "a document that is not in the repository"),
    (re.compile(r"\bshared" + "/"), "a folder outside the repository"),
    (re.compile(r"(?<![\w.~-])/(?:work|home|Users)/"), "an absolute path on a particular machine"),
)
PARENT_PATH = re.compile(r"(?:\.\./)+[\w./-]*")
DOCS_PATH = re.compile(r"(?<![\w/.-])docs/[\w./-]*\w")
_NUMBER = r"\d+(?:\.\d+)*"
SECTION_REF = re.compile(
    rf"(?:(?P<file>(?:docs/)?[\w-]+\.md)\)?,?\s+)?\bsections?\s+"
    rf"(?P<nums>{_NUMBER}(?:(?:,\s*|\s+and\s+|\s+to\s+){_NUMBER})*)")
MD_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$", re.MULTILINE)


def repository_files() -> list[Path]:
    """Tracked and new (not ignored) files from git; without git, a walk of the tree."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                             capture_output=True, check=True, timeout=60).stdout.decode()
        names = sorted({n for n in out.split("\0") if n})
    except (OSError, subprocess.SubprocessError):
        names = []
        for folder, dirs, files in os.walk(ROOT):
            dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info")]
            names += [os.path.relpath(os.path.join(folder, f), ROOT) for f in files]
    return [ROOT / n for n in names if (ROOT / n).is_file()]


@lru_cache(maxsize=1)
def text_files() -> dict[Path, str]:
    """Every repository file that is UTF-8 text, with its content."""
    texts = {}
    for path in repository_files():
        data = path.read_bytes()
        if b"\0" in data:
            continue
        try:
            texts[path] = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
    return texts


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def sections(path: Path) -> set[str]:
    """Numbers of the numbered headings of a Markdown file ("3", "3.5", "3.5.1")."""
    found = set()
    for _, title in HEADING.findall(path.read_text(encoding="utf-8")):
        match = re.match(rf"({_NUMBER})\.?(?:\s|:|$)", title)
        if match:
            found.add(match.group(1))
    return found


def anchors(path: Path) -> set[str]:
    return {slug(title) for _, title in HEADING.findall(path.read_text(encoding="utf-8"))}


def outside_references(path: Path, text: str) -> list[str]:
    """Problems: references to documents, folders or paths outside the repository."""
    problems = []
    for pattern, what in FORBIDDEN:
        for m in pattern.finditer(text):
            problems.append(f"{_rel(path)}:{_line(text, m.start())}: {m.group(0)!r} is {what}")
    for m in PARENT_PATH.finditer(text):
        target = (path.parent / m.group(0)).resolve()
        if not target.is_relative_to(ROOT) or not target.exists():
            problems.append(f"{_rel(path)}:{_line(text, m.start())}: {m.group(0)!r} leaves the repository "
                            "or does not exist")
    return problems


def docs_pointers(path: Path, text: str) -> tuple[list[str], int]:
    """Problems with pointers into docs/ (paths and cited sections), and how many were checked."""
    problems, checked = [], 0
    for m in DOCS_PATH.finditer(text):
        checked += 1
        if not (ROOT / m.group(0)).exists():
            problems.append(f"{_rel(path)}:{_line(text, m.start())}: {m.group(0)} does not exist")
    in_docs = path.parent == DOCS and path.suffix == ".md"
    for m in SECTION_REF.finditer(text):
        name = m.group("file")
        if name is None and not in_docs:
            continue  # "section" in a code comment without a document: not a pointer
        target = path if name is None else (ROOT / name if name.startswith("docs/") else path.parent / name)
        where = f"{_rel(path)}:{_line(text, m.start())}"
        if not target.exists():
            problems.append(f"{where}: {name} does not exist (a pointer reads docs/<name>.md section <n>)")
            continue
        checked += 1
        for number in re.findall(_NUMBER, m.group("nums")):
            if number not in sections(target):
                problems.append(f"{where}: {_rel(target)} has no section {number}")
    return problems, checked


def without_code(text: str) -> str:
    """Markdown text with fenced and indented code blocks and inline code blanked out (line
    numbers kept), so that formulas such as E[f g](c) are not read as links."""
    def blank(m: re.Match) -> str:
        return re.sub(r"[^\n]", " ", m.group(0))

    text = re.sub(r"^```.*?^```", blank, text, flags=re.MULTILINE | re.DOTALL)
    text = re.sub(r"^(?: {4}|\t).*$", blank, text, flags=re.MULTILINE)
    return re.sub(r"`[^`\n]*`", blank, text)


def markdown_links(path: Path, text: str) -> tuple[list[str], int]:
    """Problems with the relative link targets (and anchors) of a Markdown file, and the count."""
    problems, checked = [], 0
    for m in MD_LINK.finditer(without_code(text)):
        target = m.group(1)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        checked += 1
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        where = f"{_rel(path)}:{_line(text, m.start())}"
        if not resolved.is_relative_to(ROOT) or not resolved.exists():
            problems.append(f"{where}: link target {target} does not exist in the repository")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            problems.append(f"{where}: {_rel(resolved)} has no heading with anchor #{anchor}")
    return problems, checked


def test_the_scan_sees_the_repository():
    """Guard against a vacuous pass: the scan covers the package, the tests and the docs."""
    files = {_rel(p) for p in text_files()}
    assert len(files) >= 60, f"only {len(files)} text files found under {ROOT}"
    for sentinel in ("README.md", "docs/README.md", "docs/maths.md", "docs/derivation.md", "docs/spiking.md",
                     "docs/surrogates.md", "kernelalg/symbolic/catalog.py", "tests/test_docs.py"):
        assert sentinel in files, sentinel


def test_nothing_points_outside_the_repository():
    problems = [p for path, text in text_files().items() for p in outside_references(path, text)]
    assert not problems, "\n".join(problems)


def _scan(check, suffix: str | None = None) -> tuple[list[str], int]:
    """Run ``check(path, text) -> (problems, count)`` over the text files (of one suffix)."""
    problems, checked = [], 0
    for path, text in text_files().items():
        if suffix is None or path.suffix == suffix:
            found, n = check(path, text)
            problems += found
            checked += n
    return problems, checked


def test_pointers_into_docs_resolve():
    problems, checked = _scan(docs_pointers)
    assert checked >= 40, f"only {checked} pointers into docs/ found: the pattern no longer matches them"
    assert not problems, "\n".join(problems)


def test_markdown_links_resolve():
    problems, checked = _scan(markdown_links, ".md")
    assert checked >= 10, f"only {checked} relative Markdown links found"
    assert not problems, "\n".join(problems)


def test_readme_links_the_documentation():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert re.search(r"^## Documentation\s*$", readme, re.MULTILINE), "README has no Documentation section"
    for name in ("docs/README.md", "docs/maths.md", "docs/derivation.md", "docs/spiking.md", "docs/surrogates.md"):
        assert f"]({name})" in readme, f"README does not link {name}"


@pytest.mark.parametrize("text,problem", [
    ("see " + "SPIKING" + ".md 4.1", "not in the repository"),
    ("notation of " + "shared" + "/notes", "outside the repository"),
    ("from /work" + "/somewhere/file", "particular machine"),
    ("open('.." + "/.." + "/elsewhere.txt')", "leaves the repository"),
])
def test_the_outside_checks_catch_a_bad_reference(text, problem):
    found = outside_references(ROOT / "kernelalg" / "example.py", text)
    assert found and problem in found[0]


# (split strings: this file is scanned too)
@pytest.mark.parametrize("text,problem", [
    ("(docs/maths.md " + "section 99)", "has no section 99"),
    ("(docs/maths.md " + "sections 2 and 98)", "has no section 98"),
    ("see docs/" + "nowhere.md", "does not exist"),
    ("see maths.md " + "section 2", "does not exist"),  # a pointer from code must name docs/
])
def test_the_pointer_checks_catch_a_bad_pointer(text, problem):
    found, _ = docs_pointers(ROOT / "kernelalg" / "example.py", text)
    assert found and problem in found[0]


def test_the_link_check_catches_a_bad_link():
    up = ".." + "/"
    found, n = markdown_links(DOCS / "example.md", f"[a](maths.md#no-such-heading) [b](missing.md) [c]({up}{up}x.md)")
    assert n == 3 and len(found) == 3
    good, _ = markdown_links(DOCS / "example.md", f"[a](maths.md#{slug('1. Networks and surrogate gradient learning')})")
    assert not good
