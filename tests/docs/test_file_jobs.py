"""docs/how-to/file-jobs.md: its shell walk-through and its Python example run as they are."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "how-to" / "file-jobs.md"
TEXT = PAGE.read_text(encoding="utf-8")
[WALK] = re.findall(r"```bash\n(# An emulator.*?)```", TEXT, re.S)
PYTHON = re.findall(r"```python\n(.*?)```", TEXT, re.S)


def test_the_walk_through_runs(tmp_path: Path) -> None:
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    done = subprocess.run(["bash", "-c", "set -u\n" + WALK], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "voxkv import: 3 written, 0 failed, 1 rejected" in done.stderr
    assert "exit 1" in done.stdout
    assert '"status": "ok"' in done.stdout
    assert "0 written, 1 deleted, 4 unchanged" in done.stderr
    assert done.stdout.rstrip().endswith("}")
    assert '"written": 0, "write_failed": 0, "deleted": 0' in done.stdout


@pytest.mark.parametrize("code", PYTHON, ids=[f"example{i}" for i in range(len(PYTHON))])
def test_the_python_example_runs(tmp_path: Path, code: str) -> None:
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    done = subprocess.run([sys.executable, "-W", "error::ResourceWarning", str(script)],
                          capture_output=True, text=True, timeout=90, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "crashed; 600 items recorded as done" in done.stdout
    assert "resumed: 600 skipped, 400 sent" in done.stdout
