"""The tests stand alone: a fresh clone runs them with nothing beside it.

Nothing the build, the tests, the audit or the benchmarks use may point outside the
repository (the seed text the Dutch article is checked against lives in tests/data/);
a test module gets what it shares from support.py and fixtures from conftest.py,
never by importing another test module; and no test changes ``sys.path``."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from support import ROOT

TESTS = ROOT / "tests"
#: Where a path out of the repository would break a fresh clone at build, test or run time.
SCANNED = [
    *(ROOT / file for file in ("Makefile", "pyproject.toml", "mkdocs.yml")),
    *(ROOT / folder for folder in ("tests", "bench", "audit", ".ci", "hooks", "kennisbank")),
]
SKIPPED_FOLDERS = {"node_modules", "__pycache__", ".pytest_cache"}
#: The folder beside the checkout that the seed text used to be read from, written as a
#: path or joined from parts (``ROOT.parent / "shared" / "seeds"``).
OUTSIDE = re.compile(rb"\.\./shared|shared/seeds|/work/shared|[\"']shared[\"']")


def _files() -> list[Path]:
    files = []
    for path in SCANNED:
        if path.is_file():
            files.append(path)
        else:
            files += [p for p in path.rglob("*") if p.is_file() and not SKIPPED_FOLDERS & set(p.relative_to(ROOT).parts)]
    # This file names the patterns it looks for.
    return sorted(p for p in files if p != Path(__file__).resolve())


def _modules() -> list[Path]:
    return sorted(TESTS.glob("*.py"))


def _imported(tree: ast.AST) -> set[str]:
    """The top-level names of every module imported anywhere in ``tree`` (functions too)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_scan_sees_the_tests_the_scripts_and_the_makefile():
    seen = {p.relative_to(ROOT).as_posix() for p in _files()}
    assert {"Makefile", ".ci/run", "tests/conftest.py", "audit/run.py", "bench/receiver.py", "hooks/articles.py", "kennisbank/cli.py"} <= seen


def test_nothing_reads_from_a_folder_beside_the_repository():
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.decode(errors='replace').strip()}"
        for path in _files()
        for number, line in enumerate(path.read_bytes().splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert found == [], "the repository must carry what it uses (the seed is tests/data/):\n" + "\n".join(found)


def test_the_seed_text_is_in_the_repository():
    from support import SEED

    assert SEED.is_relative_to(TESTS / "data") and SEED.is_file()


@pytest.mark.parametrize("module", _modules(), ids=lambda p: p.name)
def test_no_test_module_imports_another_test_module_or_conftest(module):
    imported = _imported(ast.parse(module.read_text(encoding="utf-8"), str(module)))
    wrong = sorted(name for name in imported if name.startswith("test_") or name == "conftest")
    assert wrong == [], f"{module.name} imports {wrong}: share constants and functions through support.py, fixtures through conftest.py"


@pytest.mark.parametrize("module", _modules(), ids=lambda p: p.name)
def test_no_test_changes_the_import_path(module):
    tree = ast.parse(module.read_text(encoding="utf-8"), str(module))
    found = [
        node.lineno
        for node in ast.walk(tree)
        if (isinstance(node, ast.Attribute) and node.attr == "path" and isinstance(node.value, ast.Name) and node.value.id == "sys")
        or (isinstance(node, ast.ImportFrom) and node.module == "sys" and any(alias.name == "path" for alias in node.names))
    ]
    assert found == [], f"{module.name} changes sys.path at lines {found}: import from support.py or local_server.py instead"


def test_where_things_live_names_every_module_in_its_folders_row():
    """README's "Where things live" is one table that matches the tree (issue 21): every module of
    hooks/, kennisbank/ and each room of kennisbank/server/ is named in its folder's row."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Where things live", 1)[1]
    rows = dict(re.findall(r"^\| `([^`]+)/` \| (.*) \|$", section, re.MULTILINE))
    assert section.count("| path | what |") == 1, "one table, not two"
    folders = ["hooks", "kennisbank", "kennisbank/server", *(f"kennisbank/server/{room}" for room in ("web", "intake", "outbox", "dashboard", "db"))]
    missing = []
    for folder in folders:
        assert folder in rows, f"README.md: no row for {folder}/ in Where things live"
        for module in sorted((ROOT / folder).glob("*.py")):
            if module.name != "__init__.py" and f"`{module.name}`" not in rows[folder]:
                missing.append(f"{folder}/{module.name}")
    assert missing == [], "README.md, Where things live: name these in their folder's row: " + ", ".join(missing)
