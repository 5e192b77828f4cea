"""The listing page's example runs and prints what the page shows."""

from __future__ import annotations

import sys
from pathlib import Path

from docs._docs_support import block, output_after, run, shell_env

PAGE = "explanation/listing.md"


def test_walk_prefix_example(tmp_path: Path) -> None:
    script = tmp_path / "walk_prefix.py"
    script.write_text(block(PAGE, "walk_prefix.py"), encoding="utf-8")
    done = run([sys.executable, str(script)], shell_env({}), tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == output_after(PAGE, "walk_prefix.py")
