"""The public surface: ``voxkv_async.__all__`` is exactly what the reference documents.

As httpx's ``tests/test_exported_members.py`` does for httpx: a name the package exposes
but does not export, one exported but not documented (or documented but gone), or one
without a docstring for the generated reference, fails here. The reference pages
(``docs/reference/*.md``) document a public name with a ``::: voxkv_async.NAME`` line.
"""

from __future__ import annotations
import __future__

import ast
import importlib.util
import inspect
import re
from pathlib import Path
from types import ModuleType

import pytest

import voxkv_async
import voxkv_async.emulator

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "reference"
PACKAGE = Path(voxkv_async.__file__).resolve().parent
DIRECTIVE = re.compile(r"^::: voxkv_async\.(\w+)[ \t]*$", re.MULTILINE)
#: Names starting with an underscore that are public all the same.
PUBLIC_DUNDERS = frozenset({"__version__"})


def documented_names() -> dict[str, list[str]]:
    """Every ``::: voxkv_async.NAME`` of the reference pages, with the pages naming it."""
    found: dict[str, list[str]] = {}
    for page in sorted(REFERENCE.glob("*.md")):
        for name in DIRECTIVE.findall(page.read_text(encoding="utf-8")):
            if importlib.util.find_spec(f"voxkv_async.{name}") is None:  # not a submodule
                found.setdefault(name, []).append(page.name)
    return found


def public_looking_names() -> set[str]:
    """What ``import voxkv_async`` exposes that a user would take for public."""
    return {
        name
        for name, value in vars(voxkv_async).items()
        if (not name.startswith("_") or name in PUBLIC_DUNDERS)
        and not isinstance(value, ModuleType | __future__._Feature)
    }


def test_reference_pages_exist() -> None:
    assert sorted(p.name for p in REFERENCE.glob("*.md")), f"no reference pages in {REFERENCE}"


def test_all_is_exactly_the_documented_names() -> None:
    documented = documented_names()
    exported = set(voxkv_async.__all__)
    assert not exported - set(documented), (
        f"exported but not documented: {sorted(exported - set(documented))}; add a line "
        "'::: voxkv_async.NAME' to the right page of docs/reference/"
    )
    assert not set(documented) - exported, (
        f"documented but not in __all__: {sorted(set(documented) - exported)}"
    )


def test_each_name_is_documented_once() -> None:
    twice = {name: pages for name, pages in documented_names().items() if len(pages) > 1}
    assert not twice, f"documented on more than one page: {twice}"


def test_all_has_no_duplicates() -> None:
    assert len(voxkv_async.__all__) == len(set(voxkv_async.__all__))


def test_nothing_public_looking_is_left_out_of_all() -> None:
    missing = public_looking_names() - set(voxkv_async.__all__)
    assert not missing, f"public-looking but not in __all__: {sorted(missing)}"


@pytest.mark.parametrize("name", voxkv_async.__all__)
def test_exported_name_resolves(name: str) -> None:
    assert hasattr(voxkv_async, name), f"voxkv_async.__all__ names {name!r}, which is not there"


def test_star_import_gives_every_exported_name() -> None:
    namespace: dict[str, object] = {}
    exec("from voxkv_async import *", namespace)
    assert set(voxkv_async.__all__) <= set(namespace)


@pytest.mark.parametrize("name", voxkv_async.__all__)
def test_exported_name_has_a_docstring(name: str) -> None:
    obj = getattr(voxkv_async, name)
    if inspect.isclass(obj) or inspect.isfunction(obj):
        doc = vars(obj).get("__doc__") if inspect.isclass(obj) else obj.__doc__
        assert (doc or "").strip(), f"{name} has no docstring of its own"
        assert obj.__module__.startswith("voxkv_async"), f"{name} comes from {obj.__module__}"
    else:
        # A constant or a type alias: its docstring is the string literal right after
        # its assignment, which is what mkdocstrings renders.
        doc = attribute_docstring(PACKAGE / "__init__.py", name)
        assert (doc or "").strip(), (
            f"{name} needs a docstring: a string literal on the line after its assignment"
        )


@pytest.mark.parametrize("name", voxkv_async.emulator.__all__)
def test_emulator_name_has_a_docstring(name: str) -> None:
    """``::: voxkv_async.emulator`` renders the emulator's public names: each needs a docstring."""
    obj = getattr(voxkv_async.emulator, name)
    if inspect.isclass(obj) or inspect.isfunction(obj):
        assert (obj.__doc__ or "").strip(), f"emulator.{name} has no docstring"
    else:
        doc = attribute_docstring(PACKAGE / "emulator" / "__init__.py", name)
        assert (doc or "").strip(), f"emulator.{name} needs a docstring after its assignment"


# --- attribute docstrings, read from the source the way griffe reads them -----------------


def attribute_docstring(module_path: Path, name: str, depth: int = 0) -> str | None:
    """The docstring of module attribute ``name``, following ``from .x import y as name``."""
    assert depth < 10, f"import chain too long for {name}"
    tree = ast.parse(module_path.read_text(encoding="utf-8"))
    for body in _module_level_bodies(tree.body):
        for index, node in enumerate(body):
            if name in _assigned_names(node):
                follower = body[index + 1] if index + 1 < len(body) else None
                if (
                    isinstance(follower, ast.Expr)
                    and isinstance(follower.value, ast.Constant)
                    and isinstance(follower.value.value, str)
                ):
                    return follower.value.value
                return None
            if isinstance(node, ast.ImportFrom) and node.level > 0:
                for alias in node.names:
                    if (alias.asname or alias.name) == name:
                        source = _relative_module(module_path, node.level, node.module or "")
                        return attribute_docstring(source, alias.name, depth + 1)
    return None


def _module_level_bodies(body: list[ast.stmt]) -> list[list[ast.stmt]]:
    """The module's statement lists, those inside module-level ``try``/``if`` included."""
    bodies = [body]
    for node in body:
        if isinstance(node, ast.Try):
            for inner in (node.body, *(h.body for h in node.handlers), node.orelse):
                bodies.extend(_module_level_bodies(inner))
        elif isinstance(node, ast.If):
            bodies.extend(_module_level_bodies(node.body) + _module_level_bodies(node.orelse))
    return bodies


def _assigned_names(node: ast.stmt) -> set[str]:
    if isinstance(node, ast.Assign):
        return {t.id for t in node.targets if isinstance(t, ast.Name)}
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return {node.target.id}
    return set()


def _relative_module(module_path: Path, level: int, dotted: str) -> Path:
    base = module_path.parent
    for _ in range(level - 1):
        base = base.parent
    target = base.joinpath(*dotted.split(".")) if dotted else base
    package_init = target / "__init__.py"
    return package_init if package_init.exists() else target.with_suffix(".py")


def test_attribute_docstring_reader(tmp_path: Path) -> None:
    """The reader above finds what griffe finds: the literal after an assignment."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "_consts.py").write_text(
        'A = 1\n"""The docstring of A."""\n\n#: a comment is not a docstring\nB = 2\n'
        'try:\n    C: int = 3\n    """The docstring of C."""\nexcept ImportError:\n    C = 4\n'
    )
    (package / "__init__.py").write_text(
        'from ._consts import A, B\nfrom ._consts import C as D\n\nclass E:\n    """E."""\n'
    )
    init = package / "__init__.py"
    assert attribute_docstring(init, "A") == "The docstring of A."
    assert attribute_docstring(init, "B") is None
    assert attribute_docstring(init, "D") == "The docstring of C."
    assert attribute_docstring(init, "E") is None  # a class, not an attribute
    assert attribute_docstring(init, "F") is None
