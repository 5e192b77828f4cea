"""docs/reference/emulator.md: its first example runs as a script and prints what it shows."""

from __future__ import annotations

from pathlib import Path

from ._pages import run_script, titles

PAGE = "reference/emulator.md"


def test_first_example(tmp_path: Path) -> None:
    assert titles(PAGE) == ["emulator_first.py"]
    run_script(PAGE, "emulator_first.py", tmp_path)
