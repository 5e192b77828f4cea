"""docs/explanation/concurrency.md: every example runs and prints what the page shows."""

from __future__ import annotations

from pathlib import Path

import pytest

from ._pages import run_script, titles

PAGE = "explanation/concurrency.md"


def test_the_page_has_its_examples() -> None:
    assert titles(PAGE) == ["pool_caps.py", "processes.py", "pool_per_worker.py"]


@pytest.mark.parametrize("title", titles(PAGE))
def test_example(tmp_path: Path, title: str) -> None:
    run_script(PAGE, title, tmp_path)
