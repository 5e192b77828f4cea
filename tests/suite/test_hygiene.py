"""The suite's own hygiene: every test can fail, no assert is always true, the layout holds.

A test function that holds no ``assert``, no ``pytest.raises``/``warns``/``fail`` and calls
no helper that asserts passes whatever the code under test does (unless that code raises):
it is a defect. :func:`find_uncheckable_tests` finds them with ``ast``; the test below
fails on any not in :data:`ALLOWED`, each entry with its reason.

A helper asserts when its body (nested functions included) holds one of those, or calls a
helper that does. Calls are resolved as Python would: a name to the function of the same
module or to the one imported from a module under ``tests/``; ``module.name`` likewise;
``obj.method`` to a method of a class under ``tests/`` (by name). Calls of ``.assert_*``
methods (``unittest.mock``, aioresponses' ``assert_called_with``) count as asserts.

An ``assert`` whose condition cannot be false (``x in (True, False)``, ``x or True``,
``isinstance(x, object)``, ``len(x) >= 0``, ``x == x``, a truthy constant) is the same
defect in one line: :func:`find_always_true_asserts` finds those.

And the layout holds (tests/README.md): no test file loose at the top of ``tests/``, and
nothing in ``tests/unit`` that opens a socket or starts a server.

``python tests/suite/test_hygiene.py`` lists the findings.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]

#: ``path::test`` -> why it checks nothing itself and is still a test.
ALLOWED: dict[str, str] = {}

_CHECKING_CALLS = {"raises", "warns", "fail", "deprecated_call"}
_FunctionDef = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass
class _Module:
    path: Path
    tree: ast.Module
    functions: dict[str, _FunctionDef] = field(default_factory=dict)
    #: local name -> (module path, name) of ``from module import name``
    imported: dict[str, tuple[Path, str]] = field(default_factory=dict)
    #: local name -> module path of ``import module`` / ``from . import module``
    modules: dict[str, Path] = field(default_factory=dict)


def _find_module(name: str, level: int, here: Path) -> Path | None:
    """The file under ``tests/`` that ``import name`` from ``here`` means, if any."""
    parts = name.split(".") if name else []
    roots = [here.parent] if level else [here.parent, TESTS]
    for root in roots:
        for _ in range(max(level - 1, 0)):
            root = root.parent
        candidate = root.joinpath(*parts).with_suffix(".py") if parts else None
        if candidate is not None and candidate.is_file():
            return candidate
    return None


def _load() -> dict[Path, _Module]:
    modules: dict[Path, _Module] = {}
    for path in sorted(TESTS.rglob("*.py")):
        if "__pycache__" not in path.parts:
            tree = ast.parse(path.read_text(encoding="utf-8"))
            modules[path] = _Module(path, tree, {f.name: f for f in _top_functions(tree)})
    for module in modules.values():
        for node in ast.walk(module.tree):
            if isinstance(node, ast.ImportFrom):
                source = _find_module(node.module or "", node.level, module.path)
                for alias in node.names:
                    local = alias.asname or alias.name
                    if source is not None:
                        module.imported[local] = (source, alias.name)
                    else:  # ``from . import _harness``
                        sub = _find_module(
                            ".".join(filter(None, [node.module, alias.name])),
                            node.level, module.path)
                        if sub is not None:
                            module.modules[local] = sub
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    found = _find_module(alias.name, 0, module.path)
                    if found is not None:
                        module.modules[alias.asname or alias.name] = found
    return modules


def _top_functions(tree: ast.Module) -> Iterator[_FunctionDef]:
    for node in tree.body:
        if isinstance(node, _FunctionDef):
            yield node


def _methods(tree: ast.Module) -> Iterator[_FunctionDef]:
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            yield from (n for n in node.body if isinstance(n, _FunctionDef))


def _checks_directly(node: ast.AST) -> bool:
    """``node`` holds an ``assert``, a ``pytest.raises``-like call or an ``.assert_*`` call."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Assert):
            return True
        if isinstance(sub, ast.Call):
            func = sub.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name in _CHECKING_CALLS or name.startswith("assert_"):
                return True
    return False


class _Checker:
    def __init__(self) -> None:
        self.modules = _load()
        # Keys: (path, name) of a function; (None, name) of a method of some class.
        self.asserting: set[tuple[Path | None, str]] = set()
        bodies: dict[tuple[Path | None, str], tuple[_Module, _FunctionDef]] = {}
        for module in self.modules.values():
            for f in module.functions.values():
                bodies[(module.path, f.name)] = (module, f)
            for f in _methods(module.tree):
                bodies.setdefault((None, f.name), (module, f))
                if _checks_directly(f):  # any class's method of that name
                    bodies[(None, f.name)] = (module, f)
        self.asserting = {key for key, (_, f) in bodies.items() if _checks_directly(f)}
        grown = True
        while grown:  # a helper calling an asserting helper asserts
            more = {key for key, (module, f) in bodies.items()
                    if key not in self.asserting and self._calls_asserting(module, f)}
            self.asserting |= more
            grown = bool(more)

    def _callee(self, module: _Module, call: ast.Call) -> tuple[Path | None, str] | None:
        func = call.func
        if isinstance(func, ast.Name):
            if func.id in module.functions:
                return (module.path, func.id)
            return module.imported.get(func.id)
        if isinstance(func, ast.Attribute):
            owner = func.value
            if isinstance(owner, ast.Name) and owner.id in module.modules:
                return (module.modules[owner.id], func.attr)
            return (None, func.attr)
        return None

    def _calls_asserting(self, module: _Module, f: _FunctionDef) -> bool:
        return any(self._callee(module, sub) in self.asserting
                   for sub in ast.walk(f) if isinstance(sub, ast.Call))

    def uncheckable(self) -> list[str]:
        found = []
        for module in self.modules.values():
            if not module.path.name.startswith("test_"):
                continue
            tests = [*module.functions.values(), *_methods(module.tree)]
            for f in tests:
                if f.name.startswith("test") and not (
                    _checks_directly(f) or self._calls_asserting(module, f)
                ):
                    found.append(f"{module.path.relative_to(TESTS).as_posix()}::{f.name}")
        return found


def _always_true(test: ast.expr) -> bool:
    """An assert's condition that holds whatever the code does (the common shapes)."""
    if isinstance(test, ast.Constant):
        return bool(test.value)
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.Or):
        return any(_always_true(v) for v in test.values)
    if isinstance(test, ast.Call) and getattr(test.func, "id", "") == "isinstance":
        return len(test.args) == 2 and getattr(test.args[1], "id", "") == "object"
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        op, right = test.ops[0], test.comparators[0]
        if isinstance(op, ast.In) and isinstance(right, ast.Tuple | ast.List | ast.Set):
            # ``x in (True, False)``
            return {getattr(e, "value", None) for e in right.elts} >= {True, False}
        if isinstance(op, ast.Eq | ast.Is | ast.GtE | ast.LtE):
            if ast.dump(test.left) == ast.dump(right):  # ``x == x``
                return True
            # ``len(x) >= 0``
            return (isinstance(op, ast.GtE) and getattr(right, "value", None) == 0
                    and getattr(getattr(test.left, "func", None), "id", "") == "len")
    return False


def find_always_true_asserts() -> list[str]:
    """``path:line`` of every ``assert`` whose condition cannot be false."""
    return [f"{module.path.relative_to(TESTS).as_posix()}:{node.lineno}"
            for module in _load().values() for node in ast.walk(module.tree)
            if isinstance(node, ast.Assert) and _always_true(node.test)]


def find_uncheckable_tests() -> list[str]:
    """``path::test`` of every test function that checks nothing."""
    return _Checker().uncheckable()


def test_every_test_can_fail() -> None:
    found = set(find_uncheckable_tests())
    assert sorted(found - set(ALLOWED)) == []
    assert sorted(set(ALLOWED) - found) == [], "allowed but no longer found: remove them"


def test_no_assert_is_always_true() -> None:
    assert find_always_true_asserts() == []


#: Names that open sockets or start servers: none of them in tests/unit.
_SOCKETS = {"Emulator", "TestServer", "start_server", "open_connection", "create_connection",
            "voxkv_emulator", "voxkv_client", "socket"}


def test_test_files_live_in_folders_named_for_what_they_test() -> None:
    assert sorted(p.name for p in TESTS.glob("test_*.py")) == [], "see tests/README.md"


def test_unit_tests_open_no_socket() -> None:
    found = sorted(
        f"{path.relative_to(TESTS)}:{node.lineno} {name}"
        for path in sorted((TESTS / "unit").glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        for name in [getattr(node, "id", None) or getattr(node, "attr", None)
                     or getattr(node, "arg", None)]
        if name in _SOCKETS
    )
    assert found == [], "end-to-end tests go in tests/e2e (tests/README.md)"


def test_the_checker_tells_a_test_without_assert() -> None:
    tree = ast.parse("def test_x():\n    f()\n\ndef test_y():\n    assert f()\n")
    assert [f.name for f in _top_functions(tree) if not _checks_directly(f)] == ["test_x"]


@pytest.mark.parametrize(("condition", "always"), [
    ("x in (True, False)", True), ("x or True", True), ("isinstance(x, object)", True),
    ("len(x) >= 0", True), ("f(x) == f(x)", True), ("'text'", True),
    ("x in (True, None)", False), ("x or y", False), ("isinstance(x, int)", False),
    ("len(x) >= 1", False), ("f(x) == f(y)", False), ("x is True", False),
])
def test_the_checker_tells_an_always_true_assert(condition: str, always: bool) -> None:
    test = ast.parse(f"assert {condition}").body[0]
    assert isinstance(test, ast.Assert)
    assert _always_true(test.test) is always


if __name__ == "__main__":
    print("\n".join([*find_uncheckable_tests(), *find_always_true_asserts()]))
    sys.exit(0)
