"""Every test function checks something: an ``assert``, an expected exception, or a helper that asserts.

A test that only calls code passes whatever the code returns; this finds one before a reviewer
must. A short AST check of the test files rather than a plugin: none of the well-kept pytest
plugins (pytest-checkdocs, flake8-pytest-style) fails a test for having no assertion.

A test counts as checking when its body holds, at any depth:
- an ``assert`` statement;
- ``pytest.raises``, ``pytest.fail``, ``pytest.warns`` or ``pytest.skip`` with a reason (a test that
  cannot run here says so rather than passing);
- a call of a function that itself asserts: one defined in the same test file, or in the
  shared helpers (``support.py``, ``local_server.py``), followed through up to three calls;
- Playwright's ``expect(...)``.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
HELPERS = ("support.py", "local_server.py", "conftest.py")
CHECKING_ATTRIBUTES = {"raises", "fail", "warns", "skip"}


def _functions(tree: ast.AST) -> dict[str, ast.AST]:
    return {node.name: node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}


def _called(node: ast.AST) -> set[str]:
    names = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            if isinstance(sub.func, ast.Name):
                names.add(sub.func.id)
            elif isinstance(sub.func, ast.Attribute):
                names.add(sub.func.attr)
    return names


def _checks_itself(node: ast.AST) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Assert | ast.Raise):
            return True
        if isinstance(sub, ast.Attribute) and sub.attr in CHECKING_ATTRIBUTES and isinstance(sub.value, ast.Name) and sub.value.id == "pytest":
            return True
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id == "expect":
            return True
    return False


def _checks(node: ast.AST, known: dict[str, ast.AST], depth: int = 3) -> bool:
    if _checks_itself(node):
        return True
    if depth == 0:
        return False
    return any(_checks(known[name], known, depth - 1) for name in _called(node) & known.keys() if known[name] is not node)


def unchecked_tests(folder: Path = TESTS) -> list[str]:
    """``file:line name`` of every test function in ``folder`` that checks nothing."""
    shared: dict[str, ast.AST] = {}
    for name in HELPERS:
        if (folder / name).is_file():
            shared |= _functions(ast.parse((folder / name).read_text(encoding="utf-8")))
    found = []
    for path in sorted(folder.glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        known = shared | _functions(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_") and not _checks(node, known):
                found.append(f"{path.name}:{node.lineno} {node.name}")
    return found


def test_every_test_function_asserts_or_expects_an_exception():
    found = unchecked_tests()
    assert found == [], "these tests check nothing (no assert, no pytest.raises, no helper that asserts): give each a check of its outcome\n" + "\n".join(found)


def test_the_check_finds_a_test_that_only_calls(tmp_path):
    (tmp_path / "test_example.py").write_text(
        "def helper():\n    assert True\n\n"
        "def test_calls_only():\n    print('ran')\n\n"
        "def test_uses_helper():\n    helper()\n\n"
        "def test_asserts():\n    assert 1\n",
        encoding="utf-8",
    )
    assert unchecked_tests(tmp_path) == ["test_example.py:4 test_calls_only"]
