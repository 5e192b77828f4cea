"""MkDocs hook: render the docstrings' Sphinx roles as code, linked where possible.

The docstrings are Google style but name other objects the Sphinx way
(``:class:`Emulator```, ``:meth:`BulkReport.raise_for_errors```,
``:class:`~voxkv_async.ProtocolError```). mkdocstrings leaves those as text, so
``:class:`` would show on the page. This hook, run on each page's HTML, turns each
one into an optional cross-reference (mkdocs-autorefs links it when the object is
documented on some page, and leaves plain code otherwise, never a warning), and drops
the ``::`` that introduces a reST literal block.
"""

from __future__ import annotations

import ast
import html
import re
from functools import cache
from pathlib import Path
from typing import Any

_ROLE = re.compile(
    r":(?:class|meth|attr|data|func|exc|mod|obj):<code>(?P<tilde>~?)(?P<target>[\w.]+)"
    r"(?P<call>\(\))?</code>"
)
_LONE_LITERAL_INTRO = re.compile(r"<p>::</p>\s*")
_LITERAL_INTRO = re.compile(r"::</p>")
_NAMESPACES = ("voxkv_async", "voxkv_async.emulator")
_ROOT = Path(__file__).resolve().parents[2]


@cache
def _public_names() -> dict[str, str]:
    """Short public name -> full dotted path, for the package and its emulator.

    Read from the ``__all__`` lists in the source (as griffe reads the code, without
    importing it).
    """
    names: dict[str, str] = {}
    for module_name in _NAMESPACES:
        init = _ROOT.joinpath(*module_name.split("."), "__init__.py")
        for name in _dunder_all(init):
            names.setdefault(name, f"{module_name}.{name}")
    return names


def _dunder_all(path: Path) -> list[str]:
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
            and isinstance(node.value, ast.List | ast.Tuple)
        ):
            return [e.value for e in node.value.elts if isinstance(e, ast.Constant)]
    return []


def _identifier(target: str) -> str | None:
    if target.startswith("voxkv_async."):
        return target
    head, _, rest = target.partition(".")
    full = _public_names().get(head)
    if full is None:
        return None
    return f"{full}.{rest}" if rest else full


def _replace(match: re.Match[str]) -> str:
    target = match["target"]
    shown = target.rsplit(".", 1)[-1] if match["tilde"] else target
    title = f"<code>{html.escape(shown)}{match['call'] or ''}</code>"
    identifier = _identifier(target)
    if identifier is None:
        return title
    return f'<autoref identifier="{html.escape(identifier)}" optional>{title}</autoref>'


def on_page_content(html_text: str, **kwargs: Any) -> str:
    html_text = _ROLE.sub(_replace, html_text)
    html_text = _LONE_LITERAL_INTRO.sub("", html_text)
    return _LITERAL_INTRO.sub(":</p>", html_text)
