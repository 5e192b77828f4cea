"""The typing test: ``mypy --strict`` over ``tests/typing/api.py``, and a check that it bites.

Marked ``typing``: ``pytest -m typing`` runs just these, ``-m "not typing"`` skips them.
mypy runs from the repository root, so it uses the ``[tool.mypy]`` settings of
``pyproject.toml`` and shares the ``.mypy_cache`` of ``mypy --strict voxkv_async``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.typing

ROOT = Path(__file__).resolve().parents[2]
API = Path(__file__).resolve().parent / "api.py"


def mypy_strict(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-color-output", *map(str, files)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_public_api_passes_mypy_strict() -> None:
    done = mypy_strict(API)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_wrong_type_fails(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.py"
    wrong.write_text(
        "from typing import assert_type\n"
        "from voxkv_async import KeyValueItem, VoxKV\n\n"
        "async def f(kv: VoxKV) -> None:\n"
        "    assert_type(await kv.get('k'), KeyValueItem)  # it is KeyValueItem | None\n",
        encoding="utf-8",
    )
    done = mypy_strict(wrong)
    assert done.returncode == 1, done.stdout + done.stderr
    assert 'Expression is of type "KeyValueItem | None", not "KeyValueItem"' in done.stdout
